"""Training parity with the original code: its deterministic protocol, and ensembles of it.

The protocol (``training_parity_c32_l2.json`` in the original's reference folder):
the ``cifar_c32_l2`` checkpoint (32 channels, 2 blocks per stage) trained on recorded
CIFAR-10 batches of 16 (positions in the tfds train split, on-disk order) with
dropout off and no flips; the EMA starts equal to the checkpoint and each step
averages the weights it starts from, as the original's ``main.py``
(``train.ema_order``). Step ``k`` reports ``(bpd, aux_bpd)`` of its batch before the
update; test bpd of the raw and EMA weights on the first ``ntest`` test images at
steps 50, 100 and 200.

Training is chaotic: runs whose starting weights differ by one part in a million
(``w * (1 + 1e-6 N(0, 1))``, the original's own ``float_noise``) take different paths
(raw test bpd at step 50 differs by up to 0.5 between them) yet end close together.
So past the first steps one run is compared with the *distribution* of the
original's runs (:data:`ENSEMBLE_JSON`, one ensemble per EMA order), on the quantities of
:data:`QUANTITIES`: with two-sample tests for an ensemble of ours
(:func:`compare_ensembles`), or, for one run, with a prediction interval of the
original's runs (:func:`outside_band`).
"""

import functools
import json
import os

import numpy as np
import tensorflow as tf

import parity_stats as stats
from pic_tf import configs
from pic_tf.data import datasets
from pic_tf.data import preprocess
from pic_tf.storage import original_checkpoints
from pic_tf.training import plan as plan_lib
from pic_tf.training import trainer as trainer_lib

LEARNING_CURVE_JSON = 'learning_curve_cifar_c160_l4_b16.json'
PARITY_JSON = 'training_parity_c32_l2.json'
# The original's ensemble of each EMA order: ``before_update`` as its main.py trains,
# ``after_update`` as an earlier reference harness ran it (for the textbook option).
ENSEMBLE_JSON = {'before_update': 'training_parity_ensemble_mainpy_c32_l2.json',
                 'after_update': 'training_parity_ensemble_c32_l2.json'}
EVAL_STEPS = (50, 100, 200)
WINDOWS = ((1, 50), (51, 100), (101, 200))
# Steps whose train bpd is compared alone: before chaos sets in (from step 4 on the
# original's perturbed runs differ by 0.02-0.3; at steps 2 and 3 by 3e-5), where the
# Adam update is pinned down.
EARLY_STEPS = (2, 3)
# Compared quantities: test bpd (raw, EMA) at each eval step, the train bpd at the
# early steps and the mean train bpd over each window of steps.
QUANTITIES = tuple([f'{kind}@{s}' for s in EVAL_STEPS for kind in ('raw', 'ema')] +
                   [f'train@{s}' for s in EARLY_STEPS] +
                   [f'train {a}-{b}' for a, b in WINDOWS])


@functools.lru_cache(maxsize=1)
def cifar10_train_images(data_dir):
  """The whole CIFAR-10 train split, uint8 ``[50000, 32, 32, 3]`` (read once a process)."""
  images, count = datasets.load_images('cifar10', 'train', 32, data_dir, download=False)
  return datasets.load_all(images, count, 32)


def load_reference(reference_dir, name=PARITY_JSON):
  """A JSON of the original's reference folder, as a dict.

  Raises:
    FileNotFoundError: with a message naming the folder to pass.
  """
  path = os.path.join(reference_dir, name)
  if not os.path.exists(path):
    raise FileNotFoundError(f'{path} not found: point --reference_dir to the original\'s '
                            'reference outputs')
  with open(path) as f:
    return json.load(f)


def ensemble(reference_dir, ema_order=None):
  """The original's runs of the protocol in ``ema_order`` (default: the config's default).

  Returns:
    list of run records (``perturbation_seed``, ``steps``, ``eval``, ...).
  """
  ema_order = ema_order or configs.TrainConfig().ema_order
  return load_reference(reference_dir, ENSEMBLE_JSON[ema_order])['runs']


def protocol(reference_dir, data_dir=None, overrides=()):
  """The original's deterministic training-parity protocol, ready to run.

  Args:
    reference_dir: the original's reference folder (the JSON and ``cifar_c32_l2/``).
    data_dir: tensorflow-datasets directory with CIFAR-10.
    overrides: extra config overrides (e.g. to show that a changed setting misses).

  Returns:
    ``(reference, config, trainer, step)``: the JSON as a dict, the config, the
    trainer, and ``step(k)`` that trains on batch ``k`` (1-based, as the JSON) and
    returns ``(bpd, aux_bpd)`` before the update.
  """
  ref = load_reference(reference_dir)
  cfg = ref['config']
  config = configs.override(configs.cifar10(), [
      f'model.nr_channels={cfg["nr_channels"]}', f'model.nr_resnet={cfg["nr_resnet"]}',
      f'model.dropout={cfg["dropout"]}', 'train.flip=none', f'train.batch_size={cfg["batch"]}',
      f'train.learning_rate={cfg["lr0"]}', f'train.lr_decay={cfg["lr_decay"]}',
      f'train.polyak_decay={cfg["polyak"]}', *overrides])
  train_images = cifar10_train_images(data_dir)
  trainer = trainer_lib.Trainer(plan_lib.choose(config).config)
  original_checkpoints.load_original(os.path.join(reference_dir, 'cifar_c32_l2', 'model.ckpt'),
                        trainer.model)
  trainer.ema.reset()
  indices = np.array(ref['batch_indices'])
  batch = cfg['batch']

  def step(k):
    images_k = tf.gather(train_images, indices[batch * (k - 1):batch * k])
    return trainer.train_step(preprocess.model_inputs(images_k, config.model.downsample))

  return ref, config, trainer, step


def perturb(trainer, seed, variable_order):
  """Multiplies the start weights by ``1 + 1e-6 N(0, 1)`` exactly as the original's ensemble.

  ``numpy.random.RandomState(seed)``, one stream over all trainable variables in the
  original's order (``variable_order``: its variable names), the product in float64
  stored as float32; then the EMA restarts from the perturbed weights.
  """
  rng = np.random.RandomState(seed)   # pylint: disable=no-member
  by_name = original_checkpoints.original_name_map(trainer.model)
  for name in variable_order:
    var = by_name[name]
    value = var.numpy().astype(np.float64) * (1.0 + 1e-6 * rng.standard_normal(var.shape))
    var.assign(value.astype(np.float32))
  trainer.ema.reset()


def run(reference_dir, data_dir=None, perturb_seed=None, steps=None, overrides=(),
        test_examples=None, log=None, stop=None):
  """One run of the protocol, recorded as the ensemble JSON records the original's.

  Args:
    reference_dir: the original's reference folder.
    data_dir: tensorflow-datasets directory with CIFAR-10.
    perturb_seed: None, or the seed of the 1e-6 perturbation (:func:`perturb`).
    steps: train this many steps (default: the protocol's 200).
    overrides: as :func:`protocol` (e.g. to inject a bug).
    test_examples: test images per evaluation (default: the protocol's ``ntest``).
    log: optional callable for one line per eval step.
    stop: optional ``stop(record) -> bool``, asked after every step: True ends the
      run early (e.g. once a quantity is already outside the original's band).

  Returns:
    ``{'perturbation_seed', 'steps': [{step, bpd, bpd_embedding}], 'eval': [{step,
    raw, ema}]}``.
  """
  ref, config, trainer, step = protocol(reference_dir, data_dir, overrides)
  cfg = ref['config']
  steps = steps or cfg['steps']
  if perturb_seed is not None:
    perturb(trainer, perturb_seed, list(ref['final_weight_l2']))
  test_ds, _ = datasets.eval_dataset(config, 100, test_examples or cfg['ntest'], data_dir,
                                 download=False)
  rows, evals = [], []
  record = {'perturbation_seed': perturb_seed, 'steps': rows, 'eval': evals}
  for k in range(1, steps + 1):
    bpd, aux = (float(v) for v in step(k))
    rows.append({'step': k, 'bpd': bpd, 'bpd_embedding': aux})
    if k in EVAL_STEPS or k == steps:
      raw = trainer.evaluate(test_ds, use_ema=False)['bpd']
      ema = trainer.evaluate(test_ds, use_ema=True)['bpd']
      evals.append({'step': k, 'raw': raw, 'ema': ema})
      if log:
        log(f'  seed {perturb_seed} step {k:4d}: train bpd {bpd:.4f}  test raw {raw:.4f} '
            f'ema {ema:.4f}')
    if stop is not None and stop(record):
      break
  return record


def quantities(record):
  """``{quantity: value}`` of one run (a quantity the run did not record is left out)."""
  out = {}
  for row in record.get('eval', []):
    for kind in ('raw', 'ema'):
      out[f'{kind}@{row["step"]}'] = row[kind]
  by_step = {row['step']: row['bpd'] for row in record.get('steps', [])}
  for s in EARLY_STEPS:
    if s in by_step:
      out[f'train@{s}'] = by_step[s]
  for a, b in WINDOWS:
    window = [by_step.get(k) for k in range(a, b + 1)]
    if None not in window:
      out[f'train {a}-{b}'] = float(np.mean(window))
  return {q: out[q] for q in QUANTITIES if q in out}


def _samples(records):
  values = [quantities(r) for r in records]
  return {q: [v[q] for v in values if q in v] for q in QUANTITIES}


def compare_ensembles(ours, theirs):
  """Per quantity: both ensembles' mean, sd and size, and the two-sample p-values.

  Args:
    ours, theirs: lists of run records (:func:`run`, or the ensemble JSON's runs).

  Returns:
    list of ``{quantity, ours: [mean, sd, n], theirs: [...], welch_p, rank_p,
    spread_p}`` (p-values None where a sample has fewer than 2 runs).
  """
  a, b = _samples(ours), _samples(theirs)
  rows = []
  for q in QUANTITIES:
    row = {'quantity': q}
    for key, values in (('ours', a[q]), ('theirs', b[q])):
      sd = float(np.std(values, ddof=1)) if len(values) > 1 else float('nan')
      row[key] = [float(np.mean(values)) if values else float('nan'), sd, len(values)]
    enough = len(a[q]) > 1 and len(b[q]) > 1
    row.update(stats.compare(a[q], b[q]) if enough else
               {'welch_p': None, 'rank_p': None, 'spread_p': None})
    rows.append(row)
  return rows


def format_comparison(rows):
  """The rows of :func:`compare_ensembles` as a text table."""
  def p(value):
    return f'{"-":>9}' if value is None else f'{value:>9.3f}'

  lines = [f'{"quantity":<16}{"ours mean":>11}{"sd":>8}{"n":>4}{"orig mean":>11}{"sd":>8}'
           f'{"n":>4}{"Welch p":>9}{"rank p":>9}{"spread p":>9}']
  for row in rows:
    (m1, s1, n1), (m2, s2, n2) = row['ours'], row['theirs']
    lines.append(f'{row["quantity"]:<16}{m1:>11.4f}{s1:>8.4f}{n1:>4}{m2:>11.4f}{s2:>8.4f}'
                 f'{n2:>4}{p(row["welch_p"])}{p(row["rank_p"])}{p(row["spread_p"])}')
  return '\n'.join(lines)


def outside_band(record, theirs, alpha=0.01):
  """Quantities of one run outside the prediction interval of the original's runs.

  For a quantity with ``n`` original runs of mean ``m`` and sd ``s``, a new run from
  the same (normal) distribution lies within ``m +- t * s * sqrt(1 + 1/n)`` with
  probability ``1 - alpha / Q``, ``t`` the Student quantile with ``n - 1`` degrees of
  freedom and ``Q`` the number of quantities compared: a correct implementation
  fails on any of them with probability at most ``alpha`` (Bonferroni). The
  original's range widened by two of its sds is no such bound: with 4 runs a fifth
  from the same distribution falls outside it 6.9% of the time per quantity
  (simulated), so a correct run would often fail on one of nine.

  Args:
    record: one run (:func:`run`).
    theirs: the original's runs.
    alpha: allowed probability that a correct run fails.

  Returns:
    list of ``(quantity, value, low, high)`` for the quantities outside (empty: pass).
  """
  samples = _samples(theirs)
  # Q counts every comparable quantity, recorded yet or not: a partial run (early
  # stopping) is held to the same bands as a whole one.
  comparable = [q for q in QUANTITIES if len(samples[q]) > 1]
  failures = []
  for q, value in quantities(record).items():
    if q not in comparable:
      continue
    low, high = stats.prediction_interval(samples[q], alpha, len(comparable))
    if not low <= value <= high:
      failures.append((q, value, low, high))
  return failures
