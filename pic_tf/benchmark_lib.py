"""Speed benchmarks (modes of ``bin/benchmark``): measured side by side in one run and
printed as tables and ratios, with the machine they ran on. Never pass/fail tests.

The modes that compare training with the original are in
:mod:`pic_tf.parity_benchmarks`; :func:`run` dispatches every mode.
"""

import tempfile
import time

import numpy as np
import tensorflow as tf

from pic_tf import checkpoints
from pic_tf import colorize_lib
from pic_tf import configs
from pic_tf import export_lib
from pic_tf import data
from pic_tf import fileutil
from pic_tf import hardware
from pic_tf import networks
from pic_tf import overrides as overrides_lib
from pic_tf import parity_benchmarks
from pic_tf import samplers
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

  Each variant builds its own trainer and runs ``warmup`` untimed steps (tracing,
  compilation) then ``steps`` timed ones on one fixed random batch. The last two
  default variants are the non-deterministic ones (``train.deterministic=false``:
  TensorFlow's graph optimiser on), for the cost of bit-reproducibility.

  Args:
    variants: ``(precision, jit, deterministic)`` tuples; the first is the 1.00x row.

  Returns:
    list of dicts ``{precision, jit, deterministic, images_per_second,
    seconds_per_step}``.
  """
  base = overrides_lib.apply(configs.get_config(config_name), [f'train.batch_size={batch_size}'])
  inputs = _random_inputs(base, batch_size)
  log(f'training speed, {config_name} paper config, batch {batch_size}, {steps} timed steps '
      f'after {warmup} warm-up steps')
  rows = []
  for precision, jit, deterministic in variants:
    config = overrides_lib.apply(base, [f'train.precision={precision}',
                                     f'train.deterministic={deterministic}'])
    trainer = train_lib.Trainer(config, jit=jit)
    trainer.initialize()
    for _ in range(warmup):
      float(trainer.train_step(inputs)[0])
    start = time.perf_counter()
    for _ in range(steps):
      float(trainer.train_step(inputs)[0])
    seconds = (time.perf_counter() - start) / steps
    rows.append({'precision': precision, 'jit': jit, 'deterministic': deterministic,
                 'seconds_per_step': seconds, 'images_per_second': batch_size / seconds})
    log(f'  {precision:<15} XLA {"on " if jit else "off"}  deterministic '
        f'{"yes" if deterministic else "no "}  {seconds:7.3f} s/step  '
        f'{batch_size / seconds:7.2f} img/s')
  reference = rows[0]['images_per_second']
  log(f'{"precision":<16}{"XLA":<6}{"determ.":<9}{"img/s":>9}{"ratio":>8}')
  for row in rows:
    log(f'{row["precision"]:<16}{"on" if row["jit"] else "off":<6}'
        f'{"yes" if row["deterministic"] else "no":<9}'
        f'{row["images_per_second"]:>9.2f}{row["images_per_second"] / reference:>7.2f}x')
  return rows


# The opt-in paths timed beside the exact ones: XLA row loop, bfloat16 model, both.
VARIANTS = ('cached', 'naive', 'xla', 'bf16', 'xla_bf16')
VARIANT_NAMES = {'xla': 'XLA (--jit)', 'bf16': 'mixed bfloat16 (--precision)',
                 'xla_bf16': 'XLA + mixed bfloat16'}


def sample_speed(cases=(('cifar10', 16), ('imagenet', 4)), naive_rows=None, log=print,
                 clock=time.perf_counter, xla=True):
  """Seconds per image of the naive and the cached sampler, side by side.

  Random weights (speed does not depend on them). Both samplers are traced first. The
  cached sampler is timed over the whole image; the naive one over ``naive_rows`` chroma
  rows (default: all) and scaled to the whole image -- exact, since every pixel costs
  the naive sampler the same full network pass.

  Two uses are reported: a batch of distinct photos (one embedding per sample), and
  the batch as that many samples of one photo, as ``bin/colorize --num_samples``
  draws them (one embedding shared by all samples; timed on one photo).

  Args:
    cases: ``(config name, batch)`` pairs.
    naive_rows: rows timed for the naive sampler (None: all rows).
    log: where the lines go.
    clock: seconds now (a test passes a fake one).
    xla: also time the opt-in paths of :data:`VARIANTS` (XLA, mixed bfloat16, both).

  Returns:
    list of dicts ``{config, batch, naive_s_per_image, cached_s_per_image, speedup,
    pixel_loop_speedup, one_photo_speedup}``: ``pixel_loop_speedup`` without the
    embedding's time, ``one_photo_speedup`` for ``batch`` samples of one photo.
  """
  log('sampling speed (seconds per image)')
  rows = []
  for name, batch in cases:
    config = configs.get_config(name).model
    models = {'float32': networks.build_model(config)}
    if xla:   # random weights: speed does not depend on them
      models['mixed_bfloat16'] = networks.build_model(config, 'mixed_bfloat16')
    h = config.chroma_size
    gray = tf.random.stateless_uniform([batch, config.image_size, config.image_size, 1],
                                       seed=[1, 2], minval=-1.0)
    results = {}
    for label in VARIANTS if xla else VARIANTS[:2]:
      model = models['mixed_bfloat16' if 'bf16' in label else 'float32']
      sampler = samplers.make_sampler(model, 'naive' if label == 'naive' else 'cached',
                                      jit='xla' in label)
      embedding, lum = sampler.embed(gray)
      canvas = tf.zeros([batch, h, h, 3])
      chroma = tf.zeros([batch, h, h, 2])
      seed, temperature = tf.constant([1, 1]), tf.constant(1.0)
      state = sampler.initial_state(canvas, embedding)
      timed = h if label != 'naive' or naive_rows is None else min(naive_rows, h)
      run = lambda end, s=sampler, st=state, e=embedding, l=lum: s.sample_rows(
          canvas, chroma, e, l, tf.constant(0), tf.constant(end), seed, temperature, st)[1].numpy()
      run(h if 'xla' in label else 1)   # trace (XLA: compile) and warm up
      start = clock()
      run(timed)
      seconds = (clock() - start) * h / timed
      # The embedding is computed once per image by both samplers; add it.
      start = clock()
      sampler.embed(gray)[0].numpy()
      embed_seconds = clock() - start
      one_photo = gray[:1]
      sampler.embed(one_photo)[0].numpy()   # trace
      start = clock()
      sampler.embed(one_photo)[0].numpy()
      results[label + '_one_photo'] = (seconds + clock() - start) / batch
      results[label] = (seconds + embed_seconds) / batch
      results[label + '_pixels'] = seconds / batch
      seconds += embed_seconds
      note = '' if timed == h else f' (timed {timed} of {h} rows, scaled)'
      log(f'  {name:<9} batch {batch:3d}  {label:<8} {seconds / batch:9.3f} s/image{note}')
    rows.append({'config': name, 'batch': batch, 'naive_s_per_image': results['naive'],
                 'cached_s_per_image': results['cached'],
                 'speedup': results['naive'] / results['cached'],
                 'pixel_loop_speedup': results['naive_pixels'] / results['cached_pixels'],
                 'one_photo_speedup': results['naive_one_photo'] / results['cached_one_photo']})
    for label in VARIANTS[2:] if xla else ():
      rows[-1].update({f'{label}_s_per_image': results[label],
                       f'{label}_speedup': results['naive'] / results[label],
                       f'{label}_pixel_loop_speedup': (results['naive_pixels'] /
                                                       results[label + '_pixels']),
                       f'{label}_embedding_s_per_image': (results[label] -
                                                          results[label + '_pixels'])})
  log(f'{"config":<10}{"batch":>6}{"naive s/img":>13}{"cached s/img":>14}{"speedup":>9}'
      f'{"pixel loop only":>17}{"samples of 1 photo":>20}{"vs original 7.0 s":>19}')
  for row in rows:
    versus = f'{7.0 / row["cached_s_per_image"]:.1f}x' if row['config'] == 'cifar10' else '-'
    log(f'{row["config"]:<10}{row["batch"]:>6}{row["naive_s_per_image"]:>13.3f}'
        f'{row["cached_s_per_image"]:>14.3f}{row["speedup"]:>8.1f}x'
        f'{row["pixel_loop_speedup"]:>16.1f}x{row["one_photo_speedup"]:>19.1f}x{versus:>19}')
  log('(speedup: a batch of distinct photos, whole sampling incl. the embedding g^w, which '
      'both samplers compute once per photo; pixel loop only: without it; samples of 1 '
      'photo: the batch is that many samples of one photo sharing one embedding, as '
      'bin/colorize --num_samples draws them)')
  for row in rows:
    for label in VARIANTS[2:] if xla else ():
      log(f'{row["config"]} b{row["batch"]}, cached sampler, {VARIANT_NAMES[label]}: '
          f'{row[label + "_s_per_image"]:.3f} s/image (embedding '
          f'{row[label + "_embedding_s_per_image"]:.3f}), {row[label + "_speedup"]:.1f}x naive '
          f'(pixel loop {row[label + "_pixel_loop_speedup"]:.1f}x), '
          f'{row["cached_s_per_image"] / row[label + "_s_per_image"]:.2f}x float32'
          + (f', {7.0 / row[label + "_s_per_image"]:.1f}x the original'
             if row['config'] == 'cifar10' else ''))
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


MODES = ('train_speed', 'sample_speed', 'serving_load', 'learning_curve', 'training_parity',
         'training_parity_ensemble')


def run(mode, reference_dir=None, data_dir=None, batch_size=16, steps=None, seed=0,
        perturb_seed=None, naive_rows=None, runs=6, first_seed=100, output_json=None,
        saved_model=None, requests=200, threads=8, log=print):
  """Runs one mode of ``bin/benchmark`` (:data:`MODES`) after a line describing the machine.

  Returns:
    The mode's results (written to ``output_json`` too, if given; the ensemble mode
    keeps its runs there itself).
  """
  log(f'machine: {hardware.machine_description()}')
  if mode == 'train_speed':
    results = train_speed(batch_size=batch_size, steps=steps or 10, log=log)
  elif mode == 'sample_speed':
    results = sample_speed(naive_rows=naive_rows, log=log)
  elif mode == 'serving_load':
    results = serving_load_of(saved_model, requests, threads, seed, log=log)
  elif mode == 'learning_curve':
    results = parity_benchmarks.learning_curve(reference_dir, data_dir, steps, seed, log=log)
  elif mode == 'training_parity':
    results = parity_benchmarks.training_parity(reference_dir, data_dir, steps, perturb_seed,
                                                log=log)
  elif mode == 'training_parity_ensemble':
    return parity_benchmarks.training_parity_ensemble(reference_dir, data_dir, runs,
                                                      first_seed, output_json, steps, log=log)
  else:
    raise ConfigError(f'unknown benchmark mode {mode!r}; choose one of {sorted(MODES)}')
  if output_json:
    fileutil.write_json(results, output_json)
  return results
