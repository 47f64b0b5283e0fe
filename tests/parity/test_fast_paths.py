"""The fast paths' metric check: stubbed (it can fail) and on the demo model (slow)."""

import pytest

from pic_tf.errors import ConfigError
from pic_tf import eval_lib

import fast_paths


def test_fast_path_metrics_flags_a_path_outside_the_seed_spread(monkeypatch):
  """Stubbed metrics: exact seeds spread around 0.30; the bf16 path is far off."""
  def stub(model, images, sample_options):
    bf16 = model.pixelcnn.compute_dtype == 'bfloat16' and not sample_options.jit
    value = (0.9 if bf16 or sample_options.temperature != 1.0 else
             0.30 + 0.01 * (sample_options.seed % 3))
    return {'pic': {m: value for m in fast_paths.METRICS}}
  monkeypatch.setattr(eval_lib, 'sample_metrics', stub)
  lines = []
  results = fast_paths.fast_path_metrics(num_images=4, seeds=4, log=lines.append)
  assert {(path, metric) for path, metric, *_ in results['outside']} == {
      ('bf16', m) for m in fast_paths.METRICS}
  assert results['control_outside'] == list(fast_paths.METRICS)
  assert lines[-2].startswith('outside (!)')
  with pytest.raises(ConfigError, match='at least 2 seeds'):
    fast_paths.fast_path_metrics(seeds=1)


@pytest.mark.slow
def test_fast_paths_keep_the_sample_metrics_within_the_seed_spread():
  """(c) of the equivalence checks: bin/eval --samples metrics of XLA, bfloat16 and both
  on the shipped demo model lie inside the exact path's 99% prediction interval over
  six seeds (Bonferroni over 3 paths x 3 metrics). A coarse check: at this size even
  temperature 0 stays inside (the chi-square test in test_xla_sampling is the sensitive
  one); what it catches is a path whose colours are off, as the stubbed test above."""
  results = fast_paths.fast_path_metrics(num_images=64, seeds=6)
  assert len(results['exact']) == 6
  assert results['outside'] == []


@pytest.mark.slow
def test_with_512_cifar10_images_the_metric_check_tells_distributions_apart(tfds_dir):
  """The same check on 512 CIFAR-10 test images (shared data; skipped without it): the
  fast paths stay inside, and the control at temperature 0.5 falls outside."""
  results = fast_paths.fast_path_metrics(seeds=6, data_dir=str(tfds_dir))
  assert results['outside'] == []
  assert results['control_outside']
