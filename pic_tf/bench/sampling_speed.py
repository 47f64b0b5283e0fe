"""The sampler benchmark (``bin/benchmark --mode=sample_speed``): the speed of every
sampling path side by side in one run. Benchmarks print; they are never pass/fail tests.
"""

import time

import numpy as np
import tensorflow as tf

from pic_tf import progress
from pic_tf import configs
from pic_tf.model import networks
from pic_tf.model import precision as precision_lib
from pic_tf import sampling


# The paths timed: the two samplers in float32 (exact), and the opt-in fast paths of the
# cached one: XLA pixel loop, bfloat16 model, both.
EXACT = (sampling.CACHED, sampling.NAIVE)
FAST = ('xla', 'bf16', 'xla_bf16')
VARIANT_NAMES = {'xla': 'XLA (--jit)', 'bf16': 'mixed bfloat16 (--precision)',
                 'xla_bf16': 'XLA + mixed bfloat16'}


def sample_speed(cases=((configs.CIFAR10, 16), (configs.IMAGENET, 4)), naive_rows=None,
                 log=progress.result, clock=time.perf_counter, xla=True, repeats=3):
  """Seconds per image of the naive and the cached sampler, side by side.

  Random weights (speed does not depend on them). Every path is traced first, then
  timed in ``repeats`` rounds over all paths, and its median counts. The cached sampler
  is timed over the whole image; the naive one over ``naive_rows`` chroma rows (default:
  all) and scaled to the whole image -- exact, since every pixel costs the naive sampler
  the same full network pass.

  Two uses are reported: a batch of distinct photos (one embedding per sample), and
  the batch as that many samples of one photo, as ``bin/colorize --num_samples``
  draws them (one embedding shared by all samples; timed on one photo).

  Args:
    cases: ``(config name, batch)`` pairs.
    naive_rows: rows timed for the naive sampler (None: all rows).
    log: where the lines go.
    clock: seconds now (a test passes a fake one).
    xla: also time the opt-in paths of :data:`FAST` (XLA, mixed bfloat16, both).
    repeats: rounds of timings over all paths (the naive one too).

  Returns:
    list of dicts ``{config, batch, naive_s_per_image, cached_s_per_image, speedup,
    pixel_loop_speedup, one_photo_speedup}``: ``pixel_loop_speedup`` without the
    embedding's time, ``one_photo_speedup`` for ``batch`` samples of one photo.
  """
  log('sampling speed (seconds per image)')
  rows = []
  for name, batch in cases:
    config = configs.get_config(name).model
    models = {precision_lib.FLOAT32: networks.build_model(config)}
    if xla:   # random weights: speed does not depend on them
      models[precision_lib.MIXED_BFLOAT16] = networks.build_model(
          config, precision_lib.MIXED_BFLOAT16)
    gray = tf.random.stateless_uniform([batch, config.image_size, config.image_size, 1],
                                       seed=[1, 2], minval=-1.0)
    labels = EXACT + FAST if xla else EXACT
    paths = {label: _timed_work(models[precision_lib.MIXED_BFLOAT16 if 'bf16' in label else
                                       precision_lib.FLOAT32],
                                label, gray, naive_rows) for label in labels}
    spans = {label: {part: [] for part in paths[label][1]} for label in labels}
    # Rounds over all paths, every other one in reverse order: the VM's speed drifts over
    # minutes, so each path's median covers the same stretch of time as the others'.
    for turn in range(repeats):
      for label in labels if turn % 2 == 0 else labels[::-1]:
        for part, work in paths[label][1].items():
          start = clock()
          work()
          spans[label][part].append(clock() - start)
    h = config.chroma_size
    results = {}
    for label, (timed, _) in paths.items():
      seconds, embed_seconds, one_embed = (
          float(np.median(spans[label][part])) for part in ('rows', 'embed', 'one_photo'))
      seconds *= h / timed
      # The embedding is computed once per image by both samplers; add it.
      results[label + '_one_photo'] = (seconds + one_embed) / batch
      results[label] = (seconds + embed_seconds) / batch
      results[label + '_pixels'] = seconds / batch
      results[label + '_embedding'] = embed_seconds / batch
      note = '' if timed == h else f' (timed {timed} of {h} rows, scaled)'
      log(f'  {name:<9} batch {batch:3d}  {label:<8} {results[label]:9.3f} s/image{note}')
    naive, cached = results[sampling.NAIVE], results[sampling.CACHED]
    rows.append({'config': name, 'batch': batch, 'naive_s_per_image': naive,
                 'cached_s_per_image': cached, 'speedup': naive / cached,
                 'pixel_loop_speedup': results['naive_pixels'] / results['cached_pixels'],
                 'one_photo_speedup': results['naive_one_photo'] / results['cached_one_photo']})
    rows[-1]['cached_embedding_s_per_image'] = results['cached_embedding']
    for label in FAST if xla else ():
      rows[-1].update({f'{label}_s_per_image': results[label],
                       f'{label}_speedup': naive / results[label],
                       f'{label}_pixel_loop_speedup': (results['naive_pixels'] /
                                                       results[label + '_pixels']),
                       f'{label}_embedding_s_per_image': results[label + '_embedding']})
  log(f'{"config":<10}{"batch":>6}{"naive s/img":>13}{"cached s/img":>14}{"speedup":>9}'
      f'{"pixel loop only":>17}{"samples of 1 photo":>20}')
  for row in rows:
    log(f'{row["config"]:<10}{row["batch"]:>6}{row["naive_s_per_image"]:>13.3f}'
        f'{row["cached_s_per_image"]:>14.3f}{row["speedup"]:>8.1f}x'
        f'{row["pixel_loop_speedup"]:>16.1f}x{row["one_photo_speedup"]:>19.1f}x')
  log('(speedup: a batch of distinct photos, whole sampling incl. the embedding g^w, which '
      'both samplers compute once per photo; pixel loop only: without it; samples of 1 '
      'photo: the batch is that many samples of one photo sharing one embedding, as '
      'bin/colorize --num_samples draws them)')
  for row in rows:
    log(f'{row["config"]} b{row["batch"]}, cached sampler, float32 (default): '
        f'{row["cached_s_per_image"]:.3f} s/image (embedding '
        f'{row["cached_embedding_s_per_image"]:.3f})')
    for label in FAST if xla else ():
      log(f'{row["config"]} b{row["batch"]}, cached sampler, {VARIANT_NAMES[label]}: '
          f'{row[label + "_s_per_image"]:.3f} s/image (embedding '
          f'{row[label + "_embedding_s_per_image"]:.3f}), {row[label + "_speedup"]:.1f}x naive '
          f'(pixel loop {row[label + "_pixel_loop_speedup"]:.1f}x), '
          f'{row["cached_s_per_image"] / row[label + "_s_per_image"]:.2f}x float32')
  return rows


def _timed_work(model, label, gray, naive_rows):
  """One path's sampler, traced and warmed up.

  Returns:
    ``(rows timed, {part: work})``: the pixel loop over the timed rows, the embedding of
    the batch, and the embedding of one photo.
  """
  sampler = sampling.make_sampler(model, sampling.NAIVE if label == sampling.NAIVE else
                                  sampling.CACHED, jit='xla' in label)
  batch, h = int(gray.shape[0]), model.config.chroma_size
  embedding, lum = sampler.embed(gray)
  canvas, chroma = tf.zeros([batch, h, h, 3]), tf.zeros([batch, h, h, 2])
  seed, temperature = tf.constant([1, 1]), tf.constant(1.0)
  state = sampler.initial_state(canvas, embedding)
  timed = h if label != sampling.NAIVE or naive_rows is None else min(naive_rows, h)
  run = lambda end: sampler.sample_rows(canvas, chroma, embedding, lum, tf.constant(0),
                                        tf.constant(end), seed, temperature, state)[1].numpy()
  run(h if 'xla' in label else 1)   # trace (XLA: compile) and warm up
  work = {'rows': lambda: run(timed),
          'embed': lambda: sampler.embed(gray)[0].numpy(),
          'one_photo': lambda: sampler.embed(gray[:1])[0].numpy()}
  for part in ('embed', 'one_photo'):
    work[part]()   # trace
  return timed, work
