"""Benchmarks run end to end (tiny configs or a few steps; speeds are not asserted)."""

import itertools

from pic_tf import benchmark_lib


def test_train_speed_prints_a_ratio_table():
  lines = []
  rows = benchmark_lib.train_speed('tiny', batch_size=2, steps=1, warmup=1,
                                   variants=(('float32', False, True),
                                             ('mixed_bfloat16', False, False)),
                                   log=lines.append)
  assert [(r['precision'], r['deterministic']) for r in rows] == [('float32', True),
                                                                   ('mixed_bfloat16', False)]
  assert all(r['images_per_second'] > 0 for r in rows)
  assert lines[-2].strip().endswith('1.00x') and lines[-1].strip().endswith('x')


def test_sample_speed_scales_the_naive_rows_and_adds_the_embedding():
  """With a clock that advances 1 s per reading, every timed span is 1 s.

  tiny: 4 chroma rows, batch 2. Naive: 2 of 4 rows timed -> 2 s for the pixel loop;
  cached: all rows -> 1 s; each adds a 1 s embedding. Per image: naive (2 + 1) / 2,
  cached (1 + 1) / 2; the pixel loop alone: 2 / 1.
  """
  lines = []
  ticks = itertools.count()
  rows = benchmark_lib.sample_speed(cases=(('tiny', 2),), naive_rows=2, log=lines.append,
                                    clock=lambda: float(next(ticks)), xla=False)
  assert rows[0]['naive_s_per_image'] == 1.5 and rows[0]['cached_s_per_image'] == 1.0
  assert rows[0]['speedup'] == 1.5 and rows[0]['pixel_loop_speedup'] == 2.0
  assert rows[0]['one_photo_speedup'] == 1.5
  assert any('(timed 2 of 4 rows, scaled)' in line for line in lines)
  assert lines[-2].strip().startswith('tiny') and 'xla_speedup' not in rows[0]


def test_run_names_the_machine_first(monkeypatch):
  monkeypatch.setattr(benchmark_lib, 'train_speed', lambda **kwargs: [{'ok': True}])
  lines = []
  assert benchmark_lib.run('train_speed', log=lines.append) == [{'ok': True}]
  assert lines[0].startswith('machine: ') and 'bfloat16' in lines[0]
