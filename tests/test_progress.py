"""Progress lines: rate, ETA, few lines in logs."""

import io

from pic_tf import progress


def test_format_duration():
  assert progress.format_duration(7) == '7s'
  assert progress.format_duration(65) == '1m05s'
  assert progress.format_duration(3725) == '1h02m'
  assert progress.format_duration(float('inf')) == '?'
  assert progress.format_duration(None) == '?'


def test_log_output_is_throttled_and_complete():
  stream = io.StringIO()
  bar = progress.Progress(100, 'rows', 'row', stream=stream, min_interval=3600)
  for _ in range(100):
    bar.update(1, '  bpd 3.1')
  lines = stream.getvalue().splitlines()
  assert len(lines) == 2                       # the first update and the end
  assert '100/100 row' in lines[-1] and 'row/s' in lines[-1] and 'ETA 0s' in lines[-1]
  assert lines[-1].endswith('bpd 3.1')
