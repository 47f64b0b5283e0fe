"""The sampler benchmark: the speed arithmetic (fake clock) and the order of its rounds."""

import itertools


from pic_tf.bench import sampling_speed
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
  paths = list(sampling_speed.EXACT + sampling_speed.FAST)
  assert calls[::3] == paths + paths[::-1] + paths
