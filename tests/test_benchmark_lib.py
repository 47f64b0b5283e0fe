"""Benchmarks run end to end (tiny configs or a few steps; speeds are not asserted)."""

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


def test_run_names_the_machine_first(monkeypatch):
  monkeypatch.setattr(benchmark_lib, 'train_speed', lambda **kwargs: [{'ok': True}])
  lines = []
  assert benchmark_lib.run('train_speed', log=lines.append) == [{'ok': True}]
  assert lines[0].startswith('machine: ') and 'bfloat16' in lines[0]
