"""Sampler benchmarks: the speed arithmetic (fake clock) and the fast paths' metric check."""

import itertools

import pytest

from pic_tf.bench import sampling_speed
from pic_tf.errors import ConfigError
from pic_tf import eval_lib
from pic_tf.model import networks


def test_sample_speed_scales_the_naive_rows_and_adds_the_embedding():
  """With a clock that advances 1 s per reading, every timed span is 1 s.

  tiny: 4 chroma rows, batch 2. Naive: 2 of 4 rows timed -> 2 s for the pixel loop;
  cached: all rows -> 1 s; each adds a 1 s embedding. Per image: naive (2 + 1) / 2,
  cached (1 + 1) / 2; the pixel loop alone: 2 / 1.
  """
  lines = []
  ticks = itertools.count()
  rows = sampling_speed.sample_speed(cases=(('tiny', 2),), naive_rows=2, log=lines.append,
                                    clock=lambda: float(next(ticks)), xla=False)
  assert rows[0]['naive_s_per_image'] == 1.5 and rows[0]['cached_s_per_image'] == 1.0
  assert rows[0]['speedup'] == 1.5 and rows[0]['pixel_loop_speedup'] == 2.0
  assert rows[0]['one_photo_speedup'] == 1.5
  assert any('(timed 2 of 4 rows, scaled)' in line for line in lines)
  assert lines[-3].strip().startswith('tiny') and 'xla_speedup' not in rows[0]
  assert lines[-1].endswith('float32 (default): 1.000 s/image (embedding 0.500)')


def test_sample_speed_times_all_paths_in_alternating_rounds(monkeypatch):
  """Each path is timed once per round, every other round in reverse order, so that the
  VM's drift over minutes falls on all paths alike (stubbed work records the order)."""
  calls = []

  def stub(model, label, gray, naive_rows):
    return 1, {part: lambda label=label: calls.append(label)
               for part in ('rows', 'embed', 'one_photo')}
  monkeypatch.setattr(sampling_speed, '_timed_work', stub)
  monkeypatch.setattr(networks, 'build_model', lambda config, precision=None: None)
  sampling_speed.sample_speed(cases=(('tiny', 2),), log=lambda line: None, repeats=3)
  paths = list(sampling_speed.VARIANTS)
  assert calls[::3] == paths + paths[::-1] + paths


def test_fast_path_metrics_flags_a_path_outside_the_seed_spread(monkeypatch):
  """Stubbed metrics: exact seeds spread around 0.30; the bf16 path is far off."""
  def stub(model, images, sample_options):
    bf16 = model.pixelcnn.compute_dtype == 'bfloat16' and not sample_options.jit
    value = (0.9 if bf16 or sample_options.temperature != 1.0 else
             0.30 + 0.01 * (sample_options.seed % 3))
    return {'pic': {m: value for m in sampling_speed.METRICS}}
  monkeypatch.setattr(eval_lib, 'sample_metrics', stub)
  lines = []
  results = sampling_speed.fast_path_metrics(num_images=4, seeds=4, log=lines.append)
  assert {(path, metric) for path, metric, *_ in results['outside']} == {
      ('bf16', m) for m in sampling_speed.METRICS}
  assert results['control_outside'] == list(sampling_speed.METRICS)
  assert lines[-2].startswith('outside (!)')
  with pytest.raises(ConfigError, match='at least 2 seeds'):
    sampling_speed.fast_path_metrics(seeds=1)


@pytest.mark.slow
def test_fast_paths_keep_the_sample_metrics_within_the_seed_spread():
  """(c) of the equivalence checks: bin/eval --samples metrics of XLA, bfloat16 and both
  on the shipped demo model lie inside the exact path's 99% prediction interval over
  six seeds (Bonferroni over 3 paths x 3 metrics). A coarse check: at this size even
  temperature 0 stays inside (the chi-square test in test_xla_sampling is the sensitive
  one); what it catches is a path whose colours are off, as the stubbed test above."""
  results = sampling_speed.fast_path_metrics(num_images=64, seeds=6)
  assert len(results['exact']) == 6
  assert results['outside'] == []


@pytest.mark.slow
def test_with_512_cifar10_images_the_metric_check_tells_distributions_apart(tfds_dir):
  """The same check on 512 CIFAR-10 test images (shared data; skipped without it): the
  fast paths stay inside, and the control at temperature 0.5 falls outside."""
  results = sampling_speed.fast_path_metrics(seeds=6, data_dir=str(tfds_dir))
  assert results['outside'] == []
  assert results['control_outside']
