"""The training step as an accelerator meets it: compiled whole, and never waited on
between reads of the losses."""

import time

import numpy as np
import pytest
import tensorflow as tf

from pic_tf import configs
from pic_tf.data import preprocess
from pic_tf.training import plan as plan_lib
from pic_tf.training import trainer as trainer_lib
import helpers


def _batches(config, count, seed=0):
  rng = np.random.RandomState(seed)
  size = config.model.image_size
  return [preprocess.model_inputs(
      tf.constant(rng.randint(0, 256, [config.train.batch_size, size, size, 3]), tf.uint8),
      config.model.downsample) for _ in range(count)]


def test_the_compiled_whole_step_equals_the_uncompiled_step_after_20_steps():
  """Forward, backward, Adam and both EMA orders in one XLA function: the weights, the
  averages and the step after 20 steps equal the uncompiled step's up to float rounding
  (measured here: at most 1.4e-5 apart). Dropout is off: XLA draws other random numbers
  than TensorFlow's kernels for the same stateless seed, so with dropout the compiled
  step is equal in distribution, not in numbers."""
  config = configs.override(configs.tiny(), ['model.dropout=0.0'])
  batches = _batches(config, 20)
  trained = {}
  for jit in (False, True):
    trainer = trainer_lib.Trainer(plan_lib.choose(config).config, jit=jit)
    trainer.initialize()
    for batch in batches:
      bpd, aux = trainer.train_step(batch)
    trained[jit] = trainer, float(bpd), float(aux)
  (plain, bpd, aux), (compiled, bpd_jit, aux_jit) = trained[False], trained[True]
  assert int(compiled.step.numpy()) == int(plain.step.numpy()) == 20
  assert bpd_jit == pytest.approx(bpd, abs=1e-4) and aux_jit == pytest.approx(aux, abs=1e-4)
  moved = 0.0
  for name, a, b in [('weights', plain.model.trainable_variables,
                      compiled.model.trainable_variables),
                     ('averages', plain.ema.averages, compiled.ema.averages)]:
    for x, y in zip(a, b):
      np.testing.assert_allclose(y.numpy(), x.numpy(), rtol=1e-3, atol=1e-4, err_msg=name)
  for x, start in zip(plain.model.trainable_variables, plain.ema.averages):
    moved = max(moved, float(np.max(np.abs(x.numpy() - start.numpy()))))
  assert moved > 1e-3   # the steps did change the weights (apart from their average)


class _SlowLoss:
  """A loss a slow device is still computing: reading its value waits until it is ready."""

  def __init__(self, tensor, ready_at, reads, step):
    self.tensor, self.ready_at, self.reads, self.step = tensor, ready_at, reads, step

  def value(self):
    self.reads.append(self.step)
    time.sleep(max(0.0, self.ready_at - time.perf_counter()))
    return self.tensor

  def __float__(self):
    return float(self.value())

  def numpy(self):
    return self.value().numpy()


tf.register_tensor_conversion_function(
    _SlowLoss, lambda loss, dtype=None, name=None, as_ref=False: tf.convert_to_tensor(
        loss.value(), dtype=dtype))


def test_the_loop_queues_steps_without_waiting_for_the_device(monkeypatch, tmp_path):
  """Each step takes 0.3 s on a fake device whose losses are ready only then. The loop
  reads them at the traced first step, every train.log_every (10) steps and at the
  end, so the steps between reads are queued at the host's pace: waiting per step would
  take 0.3 s for each."""
  seconds_per_step = 0.3
  issued, reads, device = [], [], {'free_at': 0.0}
  real_step = trainer_lib.Trainer.train_step

  def slow_step(self, inputs):
    bpd, aux = real_step(self, inputs)
    now = time.perf_counter()
    issued.append(now)
    device['free_at'] = max(now, device['free_at']) + seconds_per_step
    step = len(issued)
    return (_SlowLoss(bpd, device['free_at'], reads, step),
            _SlowLoss(aux, device['free_at'], reads, step))

  monkeypatch.setattr(trainer_lib.Trainer, 'train_step', slow_step)
  photos = helpers.colour_photos(str(tmp_path / 'photos'), count=24)
  config = configs.override(configs.tiny(), [
      f'dataset=folder:{photos}', 'train.num_steps=20', 'train.log_every=10',
      'train.checkpoint_every=10', 'model.image_size=16'])
  lines = []
  results = trainer_lib.train(config, str(tmp_path / 'run'), log=lines.append)
  assert results['step'] == 20 and np.isfinite(results['train_bpd'])
  assert sorted(set(reads)) == list(range(1, 21))   # every step's losses checked ...
  # ... in three reads: after the traced step 1, at step 10 (log, checkpoint), at step 20
  assert max(reads[:2]) == 1 and len(reads) == 40
  queued = issued[9] - issued[1]   # steps 2 to 10 were issued within ...
  assert queued < 3 * seconds_per_step, (queued, lines)   # ... waiting would take >= 2.4 s
  assert [line.split()[1] for line in lines if line.startswith('step ')][:2] == ['10/20', '20/20']
