"""Training beside the original's recorded runs (``python tests/parity/run.py --mode=...``).

``learning_curve``: the original's stochastic protocol (paper CIFAR-10 config, batch
16, 400 steps) beside its two seeds. ``training_parity``: the deterministic protocol
(:mod:`parity_protocol`) step by step beside the original. ``training_parity_ensemble``:
runs under the original's 1e-6 perturbation, compared with its ensemble by two-sample
tests. Printed, never pass/fail (the slow tests in ``test_training_parity.py`` are).
"""

import json
import os
import time

import numpy as np

import parity_protocol as parity
from pic_tf import configs
from pic_tf.data import datasets
from pic_tf.errors import ConfigError
from pic_tf.storage import original_checkpoints
from pic_tf.storage import fileutil
from pic_tf.training import plan as plan_lib
from pic_tf.training import trainer as trainer_lib


def learning_curve(reference_dir, data_dir=None, steps=None, seed=0, log=print):
  """Runs the original's stochastic learning-curve protocol and prints it beside the original.

  The paper's CIFAR-10 config at batch 16 (one replica), dropout 0.5, batch flips,
  default initialisation, random batches; mean train bpd per 25 steps and test bpd of
  the raw and EMA weights on the first ``ntest`` test images every 100 steps.

  Args:
    reference_dir: the original's reference folder (with
      ``learning_curve_cifar_c160_l4_b16.json``).
    data_dir: tensorflow-datasets directory with CIFAR-10.
    steps: override the protocol's number of steps (for a quick look).
    seed: our run's seed.

  Returns:
    ``{'train': [...], 'eval': [...], 'inside_band': bool}``.
  """
  ref = parity.load_reference(reference_dir, parity.LEARNING_CURVE_JSON)
  proto = ref['config']
  steps = steps or proto['steps']
  config = configs.override(configs.cifar10(), [
      f'model.nr_channels={proto["C"]}', f'model.nr_resnet={proto["L"]}',
      f'model.dropout={proto["dropout"]}', f'train.batch_size={proto["B"]}',
      f'train.learning_rate={proto["lr0"]}', f'train.lr_decay={proto["lr_decay"]}',
      f'train.polyak_decay={proto["polyak"]}', f'train.seed={seed}', 'train.flip=batch'])
  log(f'learning curve: cifar10 paper config at batch {proto["B"]}, {steps} steps, seed {seed}')
  trainer = trainer_lib.Trainer(plan_lib.choose(config).config)
  trainer.initialize()
  train_ds, _ = datasets.train_dataset(config, data_dir, download=False)
  test_ds, _ = datasets.eval_dataset(config, 100, proto['ntest'], data_dir, download=False)
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
                    test_examples=None, ema_order=None):
  """Runs the deterministic parity protocol and prints it beside the original.

  The original's figures are those of its unperturbed run in ``ema_order``
  (:func:`parity_protocol.ensemble`), with the range of its perturbed runs beside them.
  With ``perturb_seed`` our starting weights are multiplied by ``1 + 1e-6 N(0, 1)``
  first, as the original's perturbed runs: how far this implementation drifts from
  itself shows what the comparison with the original can mean.

  Args:
    reference_dir: the original's reference folder.
    data_dir: tensorflow-datasets directory with CIFAR-10.
    steps: train this many steps (default: the protocol's 200).
    perturb_seed: None, or the seed of the 1e-6 perturbation.
    log: where the lines go.
    test_examples: test images per evaluation (default: the protocol's ``ntest``;
      fewer only to try the harness quickly).
    ema_order: ``train.ema_order`` of our run and of the original's runs compared
      (default: the config's, the original's main.py order).

  Returns:
    ``{'steps': [{step, bpd, aux_bpd}], 'eval': [{step, raw, ema}], 'norm_ratios':
    {'raw': [min, median, max], 'ema': [...]}}``; the ratios (our L2 norm of every
    variable over the original's unperturbed run's) only after the protocol's full run.
  """
  ema_order = ema_order or configs.TrainConfig().ema_order
  ref, config, trainer, step = parity.protocol(reference_dir, data_dir,
                                               [f'train.ema_order={ema_order}'])
  cfg = ref['config']
  steps = steps or cfg['steps']
  if perturb_seed is not None:
    parity.perturb(trainer, perturb_seed, list(ref['final_weight_l2']))
  log(f'training parity: cifar_c32_l2 from the original\'s checkpoint, {steps} recorded '
      f'batches of {cfg["batch"]}, dropout off, no flips, EMA order {ema_order}'
      + ('' if perturb_seed is None else f', start weights * (1 + 1e-6 N(0,1)), seed {perturb_seed}'))
  test_ds, _ = datasets.eval_dataset(config, 100, test_examples or cfg['ntest'], data_dir,
                                 download=False)
  runs = parity.ensemble(reference_dir, ema_order)
  original = [r for r in runs if r['perturbation_seed'] is None][0]
  theirs = {row['step']: row for row in original['eval']}
  perturbed = [{row['step']: row for row in r['eval']} for r in runs
               if r['perturbation_seed'] is not None]
  eval_steps = sorted({s for s in theirs if 0 < s <= steps} | {steps})
  rows, evals = [], []
  for k in range(1, steps + 1):
    bpd, aux = (float(v) for v in step(k))
    rows.append({'step': k, 'bpd': bpd, 'aux_bpd': aux})
    if k <= 5 or k % 25 == 0:
      orig = original['steps'][k - 1]
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
      others = [p[k] for p in perturbed if k in p]
      if others:
        line += (f'   original perturbed ({len(others)}): raw '
                 f'{min(o["raw"] for o in others):.4f}-{max(o["raw"] for o in others):.4f} '
                 f'ema {min(o["ema"] for o in others):.4f}-{max(o["ema"] for o in others):.4f}')
      log(line)
  ratios = {}
  if steps == cfg['steps']:
    names = original_checkpoints.original_name_map(trainer.model)
    ratios['raw'] = [float(np.linalg.norm(v.numpy())) / original['final_weight_l2'][n]
                     for n, v in names.items()]
    with trainer.ema.swapped():
      ratios['ema'] = [float(np.linalg.norm(v.numpy())) / original['final_ema_weight_l2'][n]
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


def training_parity_ensemble(reference_dir, data_dir=None, runs=6, first_seed=100,
                             output_json=None, steps=None, ema_order=None, log=print):
  """Runs of ours under the original's 1e-6 perturbation, compared with its ensemble.

  Each run is the deterministic protocol from weights perturbed with its own seed
  (:func:`parity_protocol.perturb`; seeds ``first_seed, first_seed + 1, ...``, skipping
  those already in ``output_json``). Runs are appended to ``output_json`` as each
  finishes, so an ensemble can be built over several invocations; the comparison
  uses every run in the file, against the original's runs of the same EMA order.

  Args:
    reference_dir: the original's reference folder.
    data_dir: tensorflow-datasets directory with CIFAR-10.
    runs: new runs to add.
    first_seed: the first perturbation seed to try.
    output_json: where the runs are kept (None: only in memory).
    steps: shorter runs, to try the command (the comparison needs the full 200).
    ema_order: ``train.ema_order`` of our runs and of the original's ensemble
      (default: the config's, the original's main.py order).
    log: where the lines go.

  Returns:
    ``{'runs': [...], 'comparison': [...]}`` (:func:`parity_protocol.compare_ensembles`).

  Raises:
    ConfigError: ``output_json`` holds runs of the other EMA order.
  """
  ema_order = ema_order or configs.TrainConfig().ema_order
  theirs = parity.ensemble(reference_dir, ema_order)
  ours = []
  if output_json and os.path.exists(output_json):
    with open(output_json) as f:
      kept = json.load(f)
    if kept.get('ema_order', 'after_update') != ema_order:
      raise ConfigError(f'{output_json} holds runs with EMA order '
                        f'{kept.get("ema_order", "after_update")}, not {ema_order}: give '
                        'another --output_json')
    ours = kept['runs']
  log(f'training parity ensemble, EMA order {ema_order}: {len(ours)} run(s) of ours in '
      f'{output_json}, adding {runs}; the original: {len(theirs)} runs')
  seed = first_seed
  for _ in range(runs):
    while any(r['perturbation_seed'] == seed for r in ours):
      seed += 1
    start = time.time()
    ours.append(parity.run(reference_dir, data_dir, perturb_seed=seed, steps=steps,
                           overrides=[f'train.ema_order={ema_order}'], log=log))
    log(f'run with seed {seed} took {time.time() - start:.0f} s')
    if output_json:
      fileutil.write_json({'protocol': 'parity_protocol.run, perturbed as the original\'s '
                                       'ensemble', 'ema_order': ema_order, 'runs': ours},
                          output_json)
  comparison = parity.compare_ensembles(ours, theirs)
  log(parity.format_comparison(comparison))
  return {'runs': ours, 'comparison': comparison}
