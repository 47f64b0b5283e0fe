"""The sample metrics of the opt-in fast paths (XLA, bfloat16) against the exact path's
seed-to-seed spread: a statistical check that they sample the same distribution.

  python tests/parity/run.py --mode=fast_path_metrics --runs=6
"""

import numpy as np

from pic_tf.data import datasets
from pic_tf.errors import ConfigError
from pic_tf import eval_lib
from pic_tf.sampling import SampleOptions
from pic_tf import storage
from pic_tf.storage import loading
from pic_tf.storage import Source

import parity_stats as stats

# The opt-in paths as (precision, jit), checked against the exact path's seed spread.
FAST_PATHS = {'xla': ('float32', True), 'bf16': ('mixed_bfloat16', False),
              'xla_bf16': ('mixed_bfloat16', True)}
METRICS = ('saturation', 'colorfulness', 'diversity')


def fast_path_metrics(checkpoint=None, num_images=None, samples_per_image=2, seeds=6,
                      alpha=0.01, control_temperature=0.5, data_dir=None, log=print):
  """``bin/eval --samples`` metrics of each opt-in fast path against the exact path's
  seed-to-seed spread.

  The exact sampler (float32, no XLA) runs with ``seeds`` seeds; each fast path of
  :data:`FAST_PATHS` with one further seed. A fast path sampling the same distribution
  lies inside the exact runs' prediction interval (:func:`parity_stats.prediction_interval`)
  for every metric; all checks together fail by chance with probability ``alpha``. A
  control, the exact path at ``control_temperature`` (another distribution), shows
  whether the intervals are narrow enough to tell distributions apart.

  Args:
    checkpoint: a workdir (default: the demo model shipped with the package).
    num_images: the first N CIFAR-10 test images (default: the 64 shipped with the
      package, or 512 with ``data_dir``: more images narrow the seed spread).
    data_dir: a tensorflow-datasets directory holding CIFAR-10 (default: the 64 test
      images shipped with the package).

  Returns:
    dict ``{'exact': [metrics per seed], '<path>': {metric: value}, 'outside':
    [(path, metric, value, low, high)], 'control': {metric: value}, 'control_outside':
    [metric]}`` (empty ``outside``: every path inside).
  """
  if seeds < 2:
    raise ConfigError(f'the exact path needs at least 2 seeds for a spread, not {seeds}')
  checkpoint = checkpoint or storage.DEMO_MODEL
  models = {p: loading.load(Source(checkpoint, precision=p)).model
            for p in ('float32', 'mixed_bfloat16')}
  size = models['float32'].config.image_size
  dataset = 'cifar10' if data_dir else 'cifar10_bundled'
  images, _ = datasets.load_images(dataset, 'test', size, data_dir)
  images = next(iter(images.batch(num_images or (512 if data_dir else 64)))).numpy()
  log(f'sample metrics of {len(images)} {dataset} test images x {samples_per_image} '
      f'samples ({checkpoint}): exact path with {seeds} seeds, each fast path with one more')

  def measure(precision, jit, seed, temperature=1.0):
    sample_options = SampleOptions(samples_per_image, temperature, seed, jit=jit)
    return eval_lib.sample_metrics(models[precision], images, sample_options)['pic']

  results = {'exact': [measure('float32', False, seed) for seed in range(seeds)]}
  for name, (precision, jit) in FAST_PATHS.items():
    results[name] = measure(precision, jit, seeds)
  results['control'] = measure('float32', False, seeds, control_temperature)
  comparisons = len(FAST_PATHS) * len(METRICS)
  results['outside'], results['control_outside'] = [], []
  log(f'{"metric":<14}{"exact mean":>11}{"sd":>8}{"interval":>20}' +
      ''.join(f'{name:>10}' for name in FAST_PATHS) + f'{f"T={control_temperature}":>10}')
  for metric in METRICS:
    values = [run[metric] for run in results['exact']]
    low, high = stats.prediction_interval(values, alpha, comparisons)
    cells = ''
    for name in (*FAST_PATHS, 'control'):
      value = results[name][metric]
      inside = low <= value <= high
      cells += f'{value:>9.4f}{" " if inside else "!"}'
      if not inside and name == 'control':
        results['control_outside'].append(metric)
      elif not inside:
        results['outside'].append((name, metric, value, low, high))
    log(f'{metric:<14}{np.mean(values):>11.4f}{np.std(values, ddof=1):>8.4f}'
        f'{f"[{low:.4f}, {high:.4f}]":>20}{cells}')
  log('every fast path inside the exact path\'s seed spread' if not results['outside'] else
      f'outside (!): {results["outside"]}')
  log(f'control (exact path at temperature {control_temperature}) outside on: '
      f'{", ".join(results["control_outside"]) or "none (the intervals cannot tell it apart)"}')
  return results
