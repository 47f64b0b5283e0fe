"""Progress lines: rate, ETA, few lines in logs."""

import io

from pic_tf import progress


def test_counts_are_said_in_the_singular_for_one():
  assert progress.count(1, 'test image') == '1 test image'
  assert progress.count(0, 'image') == '0 images'
  assert progress.count(64, 'test image') == '64 test images'


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


def test_rate_leaves_out_the_first_measurement_and_is_smooth():
  meter = progress.RateMeter(warmup=1, time_constant=60.0)
  assert meter.rate is None and meter.eta(10) is None
  meter.add(10, 50.0)           # tracing: 10 units in 50 s
  assert meter.rate is None
  for _ in range(20):
    meter.add(10, 1.0)          # steady: 10 units/s
  assert abs(meter.rate - 10.0) < 1e-9
  assert abs(meter.eta(100) - 10.0) < 1e-9
  meter.add(10, 3.0)            # one slow step (a checkpoint) moves the rate a little
  assert 8.5 < meter.rate < 10.0


def test_slow_first_update_does_not_inflate_the_eta(monkeypatch):
  clock = [0.0]
  monkeypatch.setattr(progress.time, 'time', lambda: clock[0])
  stream = io.StringIO()
  bar = progress.Progress(100, 'steps', 'step', stream=stream, min_interval=0)
  clock[0] = 30.0               # the first step traces for 30 s
  bar.update(1)
  assert 'ETA ?' in stream.getvalue().splitlines()[-1]
  for _ in range(9):
    clock[0] += 0.5
    bar.update(1)
  line = stream.getvalue().splitlines()[-1]
  assert '2.0 step/s' in line and 'ETA 45s' in line   # 90 steps at 2/s, not 90 * 3.45 s
