"""Training's speed (``bin/benchmark --mode=train_speed``): images/s of the paper config's
training step for precision x XLA x determinism variants, side by side, and what one
checkpoint costs.
"""

import glob
import os
import tempfile
import time

import numpy as np

from pic_tf import progress
from pic_tf import configs
from pic_tf.data import preprocess
from pic_tf.model import precision as precision_lib
from pic_tf.storage import workdir as workdir_lib
from pic_tf.training import plan as plan_lib
from pic_tf.training import trainer as trainer_lib


def _random_inputs(config, batch_size, seed=0):
  size = config.model.image_size
  images = np.random.default_rng(seed).integers(0, 256, size=(batch_size, size, size, 3),
                                                dtype=np.uint8)
  return preprocess.model_inputs(images, config.model.downsample)


def train_speed(config_name=configs.CIFAR10, batch_size=16, steps=10, warmup=2,
                variants=((precision_lib.FLOAT32, False, True),
                          (precision_lib.MIXED_BFLOAT16, False, True),
                          (precision_lib.FLOAT32, True, True),
                          (precision_lib.MIXED_BFLOAT16, True, True),
                          (precision_lib.FLOAT32, False, False),
                          (precision_lib.MIXED_BFLOAT16, False, False)),
                log=progress.result):
  """Training images/s of a paper config for precision x XLA x determinism variants.

  Every variant builds its own trainer; ``warmup`` untimed rounds (tracing,
  compilation) and then ``steps`` timed rounds run one step of each variant in turn, so that a
  drift of the machine's speed hits all variants alike, and each variant's figure is
  its median step. All on one fixed random batch. The last two default variants are the
  non-deterministic ones (``train.deterministic=false``: TensorFlow's graph optimiser
  on), for the cost of bit-reproducibility; every step runs under its own variant's
  setting (:meth:`pic_tf.training.trainer.Trainer.train_step` applies it).

  Args:
    variants: ``(precision, jit, deterministic)`` tuples; the first is the 1.00x row.

  Returns:
    list of dicts ``{precision, jit, deterministic, images_per_second,
    seconds_per_step, step_seconds}`` (``step_seconds``: every timed step).
  """
  base = configs.get_config(config_name, [f'train.batch_size={batch_size}'])
  inputs = _random_inputs(base, batch_size)
  log(f'training speed, config {config_name}, batch {batch_size}, '
      f'{progress.count(steps, "timed step")} per variant (interleaved) after '
      f'{progress.count(warmup, "warm-up step")}')
  trainers = []
  for precision, jit, deterministic in variants:
    config = configs.override(base, [f'train.precision={precision}',
                                     f'train.deterministic={deterministic}'])
    trainer = trainer_lib.Trainer(plan_lib.choose(config).config, jit=jit)
    trainer.initialize()
    trainers.append(trainer)
  times = [[] for _ in variants]
  # Warm-up rounds interleave like the timed ones: a step that follows another variant's
  # determinism setting traces anew the first time, and is then cached.
  for round_ in range(warmup + steps):
    for trainer, variant_times in zip(trainers, times):
      start = time.perf_counter()
      float(trainer.train_step(inputs)[0])
      if round_ >= warmup:
        variant_times.append(time.perf_counter() - start)
  rows = []
  for (precision, jit, deterministic), step_seconds in zip(variants, times):
    seconds = float(np.median(step_seconds))
    rows.append({'precision': precision, 'jit': jit, 'deterministic': deterministic,
                 'seconds_per_step': seconds, 'images_per_second': batch_size / seconds,
                 'step_seconds': step_seconds})
    log(f'  {precision:<15} XLA {"on " if jit else "off"}  deterministic '
        f'{"yes" if deterministic else "no "}  {seconds:7.3f} s/step (median; '
        f'{min(step_seconds):.3f}-{max(step_seconds):.3f})  '
        f'{batch_size / seconds:7.2f} img/s')
  reference = rows[0]['images_per_second']
  log(f'{"precision":<16}{"XLA":<6}{"determ.":<9}{"img/s":>9}{"ratio":>8}')
  for row in rows:
    log(f'{row["precision"]:<16}{"on" if row["jit"] else "off":<6}'
        f'{"yes" if row["deterministic"] else "no":<9}'
        f'{row["images_per_second"]:>9.2f}{row["images_per_second"] / reference:>7.2f}x')
  rows[0]['checkpoint'] = checkpoint_cost(trainers[0], log=log)
  return rows


def checkpoint_cost(trainer, saves=3, log=progress.result):
  """Seconds a checkpoint of ``trainer`` (model, EMA, optimizer, step) blocks training:
  the median of ``saves`` saves into a temporary workdir. Returns ``{seconds, megabytes}``."""
  with tempfile.TemporaryDirectory() as workdir:
    manager = workdir_lib.checkpoint_manager(trainer.checkpoint, workdir, max_to_keep=1,
                                             step_counter=trainer.step)
    seconds = []
    for number in range(1, saves + 1):
      start = time.perf_counter()
      path = manager.save(checkpoint_number=number)
      seconds.append(time.perf_counter() - start)
    megabytes = sum(os.path.getsize(p) for p in glob.glob(path + '.*')) / 1e6
  median = float(np.median(seconds))
  log(f'checkpoint: {megabytes:.0f} MB written in {median:.2f} s (median of {saves}), '
      'training waits meanwhile')
  return {'seconds': median, 'megabytes': megabytes}
