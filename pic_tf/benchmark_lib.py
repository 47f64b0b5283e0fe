"""Benchmarks (modes of ``bin/benchmark``): measured side by side in one run, printed
as tables and ratios. Never pass/fail tests.
"""

import json
import os
import platform
import time

import numpy as np
import tensorflow as tf

from pic_tf import configs
from pic_tf import convert
from pic_tf import data
from pic_tf import fileutil
from pic_tf import parity
from pic_tf import train_lib



def machine_description():
  """One line naming the CPU, core count and TensorFlow version."""
  cpu = platform.processor() or platform.machine()
  try:
    with open('/proc/cpuinfo') as f:
      for line in f:
        if line.startswith('model name'):
          cpu = line.split(':', 1)[1].strip()
          break
  except OSError:
    pass
  gpus = tf.config.list_physical_devices('GPU')
  return (f'{cpu}, {os.cpu_count()} cores, {len(gpus)} GPU(s), TensorFlow {tf.__version__}, '
          f'{platform.system()}')


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
  base = configs.override(configs.get_config(config_name), [f'train.batch_size={batch_size}'])
  inputs = _random_inputs(base, batch_size)
  log(f'training speed, {config_name} paper config, batch {batch_size}, {steps} timed steps '
      f'after {warmup} warm-up steps')
  log(f'machine: {machine_description()}')
  rows = []
  for precision, jit, deterministic in variants:
    config = configs.override(base, [f'train.precision={precision}',
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


def learning_curve(reference_json, data_dir=None, steps=None, seed=0, log=print):
  """Runs the original's stochastic learning-curve protocol and prints it beside the original.

  The paper's CIFAR-10 config at batch 16 (one replica), dropout 0.5, batch flips,
  default initialisation, random batches; mean train bpd per 25 steps and test bpd of
  the raw and EMA weights on the first ``ntest`` test images every 100 steps.

  Args:
    reference_json: ``learning_curve_cifar_c160_l4_b16.json`` of the original.
    data_dir: tensorflow-datasets directory with CIFAR-10.
    steps: override the protocol's number of steps (for a quick look).
    seed: our run's seed.

  Returns:
    ``{'train': [...], 'eval': [...], 'inside_band': bool}``.
  """
  with open(reference_json) as f:
    ref = json.load(f)
  proto = ref['config']
  steps = steps or proto['steps']
  config = configs.override(configs.cifar10(), [
      f'model.nr_channels={proto["C"]}', f'model.nr_resnet={proto["L"]}',
      f'model.dropout={proto["dropout"]}', f'train.batch_size={proto["B"]}',
      f'train.learning_rate={proto["lr0"]}', f'train.lr_decay={proto["lr_decay"]}',
      f'train.polyak_decay={proto["polyak"]}', f'train.seed={seed}', 'train.flip=batch'])
  log(f'learning curve: cifar10 paper config at batch {proto["B"]}, {steps} steps, seed {seed}')
  log(f'machine: {machine_description()}')
  trainer = train_lib.Trainer(config)
  trainer.initialize()
  train_ds, _ = data.train_dataset(config, data_dir, download=False)
  test_ds, _ = data.eval_dataset(config, 100, proto['ntest'], data_dir, download=False)
  seeds = sorted(ref['seeds'])
  ours_train, ours_eval = [], []

  def evaluate(step):
    raw = trainer.evaluate(test_ds, use_ema=False)['bpd']
    ema = trainer.evaluate(test_ds, use_ema=True)['bpd']
    ours_eval.append({'step': step, 'raw': raw, 'ema': ema})
    theirs = '  '.join(
        f'seed {s}: raw {_at(ref["seeds"][s]["eval"], step, "raw"):.3f} '
        f'ema {_at(ref["seeds"][s]["eval"], step, "ema"):.3f}' for s in seeds)
    log(f'step {step:4d} test  ours: raw {raw:.3f} ema {ema:.3f}   original {theirs}')

  evaluate(0)
  iterator = iter(train_ds)
  window, window_aux = [], []
  start = time.time()
  for step in range(1, steps + 1):
    bpd, aux = trainer.train_step(next(iterator))
    window.append(float(bpd))
    window_aux.append(float(aux))
    if step % 25 == 0:
      ours_train.append({'step': step, 'bpd': float(np.mean(window)),
                         'bpd_embedding': float(np.mean(window_aux))})
      theirs = '  '.join(f'seed {s}: {_at(ref["seeds"][s]["train_bpd"], step, "bpd"):.3f}'
                         for s in seeds)
      log(f'step {step:4d} train ours: {np.mean(window):.3f} (aux {np.mean(window_aux):.3f})   '
          f'original {theirs}   [{time.time() - start:.0f}s]')
      window, window_aux = [], []
    if step % 100 == 0:
      evaluate(step)
  inside = True
  log('raw test bpd against the band of the original\'s seeds, widened by 0.1:')
  for row in ours_eval:
    if row['step'] < 100:
      continue
    values = [_at(ref['seeds'][s]['eval'], row['step'], 'raw') for s in seeds]
    low, high = min(values) - 0.1, max(values) + 0.1
    ok = low <= row['raw'] <= high
    inside &= ok
    log(f'  step {row["step"]:4d}: ours {row["raw"]:.3f}  band [{low:.3f}, {high:.3f}]  '
        f'{"inside" if ok else "OUTSIDE"}')
  log(f'all inside: {inside}')
  return {'train': ours_train, 'eval': ours_eval, 'inside_band': inside}


def training_parity(reference_dir, data_dir=None, steps=None, perturb_seed=None, log=print,
                    test_examples=None):
  """Runs the deterministic parity protocol and prints it beside the original.

  With ``perturb_seed`` the starting weights are multiplied by ``1 + 1e-6 N(0, 1)``
  first, as the original's ``float_noise`` run: how far this implementation drifts
  from itself shows what the comparison with the original can mean.

  Args:
    reference_dir: the original's reference folder.
    data_dir: tensorflow-datasets directory with CIFAR-10.
    steps: train this many steps (default: the protocol's 200).
    perturb_seed: None, or the seed of the 1e-6 perturbation.
    log: where the lines go.
    test_examples: test images per evaluation (default: the protocol's ``ntest``;
      fewer only to try the harness quickly).

  Returns:
    ``{'steps': [{step, bpd, aux_bpd}], 'eval': [{step, raw, ema}], 'norm_ratios':
    {'raw': [min, median, max], 'ema': [...]}}``; the ratios (our L2 norm of every
    variable over the original's) only after the protocol's full run.
  """
  ref, config, trainer, step = parity.protocol(reference_dir, data_dir)
  cfg = ref['config']
  steps = steps or cfg['steps']
  if perturb_seed is not None:
    parity.perturb(trainer, perturb_seed, list(ref['final_weight_l2']))
  log(f'training parity: cifar_c32_l2 from the original\'s checkpoint, {steps} recorded '
      f'batches of {cfg["batch"]}, dropout off, no flips'
      + ('' if perturb_seed is None else f', start weights * (1 + 1e-6 N(0,1)), seed {perturb_seed}'))
  log(f'machine: {machine_description()}')
  test_ds, _ = data.eval_dataset(config, 100, test_examples or cfg['ntest'], data_dir,
                                 download=False)
  theirs = {row['step']: row for row in ref['eval']}
  perturbed = {row['step']: row for row in ref['float_noise']['eval_perturbed']}
  eval_steps = sorted({s for s in theirs if 0 < s <= steps} | {steps})
  rows, evals = [], []
  for k in range(1, steps + 1):
    bpd, aux = (float(v) for v in step(k))
    rows.append({'step': k, 'bpd': bpd, 'aux_bpd': aux})
    if k <= 5 or k % 25 == 0:
      orig = ref['steps'][k - 1]
      log(f'step {k:4d} train bpd ours {bpd:.5f} original {orig["bpd"]:.5f} '
          f'({bpd - orig["bpd"]:+.1e})   aux ours {aux:.4f} original '
          f'{orig["bpd_embedding"]:.4f}')
    if k in eval_steps:
      raw = trainer.evaluate(test_ds, use_ema=False)['bpd']
      ema = trainer.evaluate(test_ds, use_ema=True)['bpd']
      evals.append({'step': k, 'raw': raw, 'ema': ema})
      line = f'step {k:4d} test  ours: raw {raw:.4f} ema {ema:.4f}'
      if k in theirs:
        line += (f'   original: raw {theirs[k]["raw"]:.4f} ema {theirs[k]["ema"]:.4f} '
                 f'(diff {raw - theirs[k]["raw"]:+.4f} / {ema - theirs[k]["ema"]:+.4f})')
      if k in perturbed:
        line += (f'   original perturbed: raw {perturbed[k]["raw"]:.4f} '
                 f'ema {perturbed[k]["ema"]:.4f}')
      log(line)
  ratios = {}
  if steps == cfg['steps']:
    names = convert.original_name_map(trainer.model)
    ratios['raw'] = [float(np.linalg.norm(v.numpy())) / ref['final_weight_l2'][n]
                     for n, v in names.items()]
    with trainer.ema.swapped():
      ratios['ema'] = [float(np.linalg.norm(v.numpy())) / ref['final_ema_weight_l2'][n]
                       for n, v in names.items()]
    ratios = {k: [min(v), float(np.median(v)), max(v)] for k, v in ratios.items()}
    for key, (low, mid, high) in ratios.items():
      log(f'{key} weights: L2 norm ours / original per variable: min {low:.4f} '
          f'median {mid:.4f} max {high:.4f}')
  return {'steps': rows, 'eval': evals, 'norm_ratios': ratios}


def _at(rows, step, key):
  for row in rows:
    if row['step'] == step:
      return row[key]
  return float('nan')


def sample_speed(cases=(('cifar10', 16), ('imagenet', 4)), naive_rows=None, log=print):
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

  Returns:
    list of dicts ``{config, batch, naive_s_per_image, cached_s_per_image, speedup,
    pixel_loop_speedup, one_photo_speedup}``: ``pixel_loop_speedup`` without the
    embedding's time, ``one_photo_speedup`` for ``batch`` samples of one photo.
  """
  from pic_tf import cached_sampling, networks, sampling  # pylint: disable=import-outside-toplevel
  log(f'sampling speed (seconds per image), machine: {machine_description()}')
  rows = []
  for name, batch in cases:
    config = configs.get_config(name).model
    model = networks.build_model(config)
    h = config.chroma_size
    gray = tf.random.stateless_uniform([batch, config.image_size, config.image_size, 1],
                                       seed=[1, 2], minval=-1.0)
    results = {}
    for label, sampler in (('cached', cached_sampling.CachedSampler(model)),
                           ('naive', sampling.Sampler(model))):
      embedding, lum = sampler._embed_fn(gray)   # pylint: disable=protected-access
      canvas = tf.zeros([batch, h, h, 3])
      chroma = tf.zeros([batch, h, h, 2])
      seed, temperature = tf.constant([1, 1]), tf.constant(1.0)
      state = sampler._initial_state(canvas, embedding)   # pylint: disable=protected-access
      timed = h if label == 'cached' or naive_rows is None else min(naive_rows, h)
      run = lambda end, s=sampler, st=state, e=embedding, l=lum: s._row_fn(  # pylint: disable=protected-access
          canvas, chroma, e, l, tf.constant(0), tf.constant(end), seed, temperature, st)[1].numpy()
      run(1)   # trace and warm up
      start = time.perf_counter()
      run(timed)
      seconds = (time.perf_counter() - start) * h / timed
      # The embedding is computed once per image by both samplers; add it.
      start = time.perf_counter()
      sampler._embed_fn(gray)[0].numpy()   # pylint: disable=protected-access
      embed_seconds = time.perf_counter() - start
      one_photo = gray[:1]
      sampler._embed_fn(one_photo)[0].numpy()   # pylint: disable=protected-access  (trace)
      start = time.perf_counter()
      sampler._embed_fn(one_photo)[0].numpy()   # pylint: disable=protected-access
      results[label + '_one_photo'] = (seconds + time.perf_counter() - start) / batch
      results[label] = (seconds + embed_seconds) / batch
      results[label + '_pixels'] = seconds / batch
      seconds += embed_seconds
      note = '' if timed == h else f' (timed {timed} of {h} rows, scaled)'
      log(f'  {name:<9} batch {batch:3d}  {label:<6} {seconds / batch:9.3f} s/image{note}')
    rows.append({'config': name, 'batch': batch, 'naive_s_per_image': results['naive'],
                 'cached_s_per_image': results['cached'],
                 'speedup': results['naive'] / results['cached'],
                 'pixel_loop_speedup': results['naive_pixels'] / results['cached_pixels'],
                 'one_photo_speedup': results['naive_one_photo'] / results['cached_one_photo']})
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
  return rows


def training_parity_ensemble(reference_dir, data_dir=None, runs=6, first_seed=100,
                             output_json=None, steps=None, log=print):
  """Runs of ours under the original's 1e-6 perturbation, compared with its ensemble.

  Each run is the deterministic protocol from weights perturbed with its own seed
  (:func:`pic_tf.parity.perturb`; seeds ``first_seed, first_seed + 1, ...``, skipping
  those already in ``output_json``). Runs are appended to ``output_json`` as each
  finishes, so an ensemble can be built over several invocations; the comparison
  uses every run in the file.

  Args:
    reference_dir: the original's reference folder.
    data_dir: tensorflow-datasets directory with CIFAR-10.
    runs: new runs to add.
    first_seed: the first perturbation seed to try.
    output_json: where the runs are kept (None: only in memory).
    steps: shorter runs, to try the command (the comparison needs the full 200).
    log: where the lines go.

  Returns:
    ``{'runs': [...], 'comparison': [...]}`` (:func:`pic_tf.parity.compare_ensembles`).
  """
  theirs = parity.load_reference(reference_dir, parity.ENSEMBLE_JSON)['runs']
  ours = []
  if output_json and os.path.exists(output_json):
    with open(output_json) as f:
      ours = json.load(f)['runs']
  log(f'training parity ensemble: {len(ours)} run(s) of ours in {output_json}, adding '
      f'{runs}; the original: {len(theirs)} runs')
  log(f'machine: {machine_description()}')
  seed = first_seed
  for _ in range(runs):
    while any(r['perturbation_seed'] == seed for r in ours):
      seed += 1
    start = time.time()
    ours.append(parity.run(reference_dir, data_dir, perturb_seed=seed, steps=steps, log=log))
    log(f'run with seed {seed} took {time.time() - start:.0f} s')
    if output_json:
      fileutil.write_json({'protocol': 'pic_tf.parity.run, perturbed as the original\'s '
                                       'ensemble', 'runs': ours}, output_json)
  comparison = parity.compare_ensembles(ours, theirs)
  log(parity.format_comparison(comparison))
  return {'runs': ours, 'comparison': comparison}
