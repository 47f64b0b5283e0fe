"""Speed benchmarks (modes of ``bin/benchmark``): measured side by side in one run and
printed as tables and ratios, with the machine they ran on. Never pass/fail tests.

The modes that compare training with the original are in
:mod:`pic_tf.parity_benchmarks`, the samplers' speed and equivalence checks in
:mod:`pic_tf.sampling_benchmarks`; :func:`run` dispatches every mode.
"""

import tempfile
import time

import numpy as np

from pic_tf import checkpoints
from pic_tf import colorize_lib
from pic_tf import configs
from pic_tf import export_lib
from pic_tf import data
from pic_tf import fileutil
from pic_tf import hardware
from pic_tf import overrides as overrides_lib
from pic_tf import parity_benchmarks
from pic_tf import sampling_benchmarks
from pic_tf import serving_load
from pic_tf import train_lib
from pic_tf.errors import ConfigError


def _random_inputs(config, batch_size, seed=0):
  size = config.model.image_size
  images = np.random.default_rng(seed).integers(0, 256, size=(batch_size, size, size, 3),
                                                dtype=np.uint8)
  return data.preprocess_batch(images, config.model.downsample)


def train_speed(config_name='cifar10', batch_size=16, steps=10, warmup=2,
                variants=(('float32', False, True), ('mixed_bfloat16', False, True),
                          ('float32', True, True), ('mixed_bfloat16', True, True),
                          ('float32', False, False), ('mixed_bfloat16', False, False)),
                log=print):
  """Training images/s of a paper config for precision x XLA x determinism variants.

  Every variant builds its own trainer and runs ``warmup`` untimed steps (tracing,
  compilation); then ``steps`` rounds time one step of each variant in turn, so that a
  drift of the machine's speed hits all variants alike, and each variant's figure is
  its median step. All on one fixed random batch. The last two default variants are the
  non-deterministic ones (``train.deterministic=false``: TensorFlow's graph optimiser
  on), for the cost of bit-reproducibility; every step runs under its own variant's
  setting (:meth:`pic_tf.train_lib.Trainer.train_step` applies it).

  Args:
    variants: ``(precision, jit, deterministic)`` tuples; the first is the 1.00x row.

  Returns:
    list of dicts ``{precision, jit, deterministic, images_per_second,
    seconds_per_step, step_seconds}`` (``step_seconds``: every timed step).
  """
  base = overrides_lib.apply(configs.get_config(config_name), [f'train.batch_size={batch_size}'])
  inputs = _random_inputs(base, batch_size)
  log(f'training speed, {config_name} paper config, batch {batch_size}, {steps} timed steps '
      f'per variant (interleaved) after {warmup} warm-up steps')
  trainers = []
  for precision, jit, deterministic in variants:
    config = overrides_lib.apply(base, [f'train.precision={precision}',
                                     f'train.deterministic={deterministic}'])
    trainer = train_lib.Trainer(config, jit=jit)
    trainer.initialize()
    for _ in range(warmup):
      float(trainer.train_step(inputs)[0])
    trainers.append(trainer)
  times = [[] for _ in variants]
  for _ in range(steps):
    for trainer, variant_times in zip(trainers, times):
      start = time.perf_counter()
      float(trainer.train_step(inputs)[0])
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
  return rows


def serving_load_of(saved_model=None, requests=200, threads=8, seed=0, log=print):
  """:func:`pic_tf.serving_load.run` on ``saved_model``, by default the shipped demo model
  exported for the occasion into a temporary directory."""
  if saved_model:
    return serving_load.run(saved_model, requests, threads, seed, log=log)
  with tempfile.TemporaryDirectory() as tmp:
    log(f'exporting the shipped demo model ({colorize_lib.DEFAULT_MODEL}) to {tmp}')
    model = checkpoints.load(colorize_lib.DEFAULT_MODEL).model
    return serving_load.run(export_lib.export(model, tmp), requests, threads, seed, log=log)


MODES = ('train_speed', 'sample_speed', 'fast_path_metrics', 'serving_load', 'learning_curve',
         'training_parity', 'training_parity_ensemble')


def run(mode, *, reference_dir=None, data_dir=None, batch_size=16, steps=None, seed=0,
        perturb_seed=None, naive_rows=None, runs=6, first_seed=100, output_json=None,
        saved_model=None, requests=200, threads=8, ema_order=None, log=print):
  """Runs one mode of ``bin/benchmark`` (:data:`MODES`) after a line describing the machine.

  The keyword arguments are ``bin/benchmark``'s flags of the same names; each mode reads
  the ones its help names (``ema_order``: the parity modes of the deterministic
  protocol, default the config's).

  Returns:
    The mode's results (written to ``output_json`` too, if given; the ensemble mode
    keeps its runs there itself).
  """
  log(f'machine: {hardware.machine_description()}')
  if mode == 'train_speed':
    results = train_speed(batch_size=batch_size, steps=steps or 10, log=log)
  elif mode == 'sample_speed':
    results = sampling_benchmarks.sample_speed(naive_rows=naive_rows, log=log)
  elif mode == 'fast_path_metrics':
    results = sampling_benchmarks.fast_path_metrics(seeds=runs, data_dir=data_dir, log=log)
  elif mode == 'serving_load':
    results = serving_load_of(saved_model, requests, threads, seed, log=log)
  elif mode == 'learning_curve':
    results = parity_benchmarks.learning_curve(reference_dir, data_dir, steps, seed, log=log)
  elif mode == 'training_parity':
    results = parity_benchmarks.training_parity(reference_dir, data_dir, steps, perturb_seed,
                                                ema_order=ema_order, log=log)
  elif mode == 'training_parity_ensemble':
    return parity_benchmarks.training_parity_ensemble(
        reference_dir, data_dir, runs=runs, first_seed=first_seed, output_json=output_json,
        steps=steps, ema_order=ema_order, log=log)
  else:
    raise ConfigError(f'unknown benchmark mode {mode!r}; choose one of {sorted(MODES)}')
  if output_json:
    fileutil.write_json(results, output_json)
  return results
