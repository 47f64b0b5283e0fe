"""The memory of one request at a SavedModel's limits (each request in its own process)."""

import json
import signal
import subprocess

import pytest

from pic_tf import configs
from pic_tf import export_lib
from pic_tf import sampling
from pic_tf.errors import CheckpointError
from pic_tf.bench import request_memory
from pic_tf.model import networks


@pytest.mark.slow   # an export and four processes
def test_each_request_at_the_limits_is_measured_in_a_process_of_its_own(tmp_path):
  model, _ = networks.build_model_and_ema(configs.tiny())
  limits = sampling.RequestLimits(max_images=3, max_pixels=64 * 64, max_samples=2,
                                  max_output_pixels=2 * 64 * 64)
  export_lib.export(model, str(tmp_path), limits=limits)
  lines = []
  rows = request_memory.run(str(tmp_path), log=lines.append)   # the base directory
  assert [row['case'] for row in rows] == list(request_memory.CASES)
  assert [row['request'] for row in rows] == [
      '1 x 64x64, 2 samples', '1 x 64x64, 2 samples, JPEG bytes', '3 x 32x32, 2 samples',
      '3 x 52x52, 1 sample']
  for row in rows:
    assert 0 < row['peak_before_gb'] <= row['peak_after_gb']
  assert len(lines) == 1 + len(rows)


def test_a_base_directory_is_read_as_tf_serving_reads_it_and_a_dead_case_is_a_row(
    tmp_path, monkeypatch):
  """The processes get the newest version of bin/export's base directory; one killed
  (as the kernel kills a process out of memory) is reported and the others measured.
  The processes are stubbed where they are started."""
  version = tmp_path / 'serving' / '3'
  version.mkdir(parents=True)
  (version / 'saved_model.pb').write_bytes(b'')
  started = []

  def run(command, **kwargs):
    case, path = command[-2:]
    started.append(path)
    if case == 'most images':
      return subprocess.CompletedProcess(command, -signal.SIGKILL, '', 'allocating 9 GB\n')
    row = {'case': case, 'request': 'r', 'seconds': 1.0, 'peak_before_gb': 1.0,
           'peak_after_gb': 2.0}
    return subprocess.CompletedProcess(command, 0, json.dumps(row) + '\n', '')

  monkeypatch.setattr(request_memory.subprocess, 'run', run)
  lines = []
  rows = request_memory.run(str(tmp_path / 'serving'), log=lines.append)
  assert started == [str(version)] * len(request_memory.CASES)
  assert rows[-1] == {'case': 'most images', 'failed': 'killed by SIGKILL, most likely for '
                      'lack of memory: allocating 9 GB'}
  assert lines[-1] == 'most images             failed: ' + rows[-1]['failed']
  assert [row['peak_after_gb'] for row in rows[:-1]] == [2.0] * (len(rows) - 1)


def test_no_saved_model_is_one_clear_error_before_any_process(tmp_path, monkeypatch):
  monkeypatch.setattr(request_memory.subprocess, 'run', None)   # never reached
  with pytest.raises(CheckpointError, match='does not exist: pass a directory written by '
                     'bin/export'):
    request_memory.run(str(tmp_path / 'missing'))
