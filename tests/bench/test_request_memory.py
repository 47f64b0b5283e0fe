"""The memory of one request at a SavedModel's limits (each request in its own process)."""

import pytest

from pic_tf import configs
from pic_tf import export_lib
from pic_tf import sampling
from pic_tf.bench import request_memory
from pic_tf.model import networks


@pytest.mark.slow   # an export and four processes
def test_each_request_at_the_limits_is_measured_in_a_process_of_its_own(tmp_path):
  model, _ = networks.build_model_and_ema(configs.tiny())
  limits = sampling.RequestLimits(max_images=3, max_pixels=64 * 64, max_samples=2,
                                  max_output_pixels=2 * 64 * 64)
  path = export_lib.export(model, str(tmp_path), limits=limits)
  lines = []
  rows = request_memory.run(path, log=lines.append)
  assert [row['case'] for row in rows] == list(request_memory.CASES)
  assert [row['request'] for row in rows] == [
      '1 x 64x64, 2 samples', '1 x 64x64, 2 samples, JPEG bytes', '3 x 32x32, 2 samples',
      '3 x 52x52, 1 sample']
  for row in rows:
    assert 0 < row['peak_before_gb'] <= row['peak_after_gb']
  assert len(lines) == 1 + len(rows)
