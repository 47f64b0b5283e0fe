"""Benchmarks run end to end (tiny configs or a few steps; speeds are not asserted)."""

import pytest

from pic_tf.bench import modes
from pic_tf.bench import train_speed


@pytest.mark.slow   # builds and times two trainers
def test_train_speed_prints_a_ratio_table():
  lines = []
  rows = train_speed.train_speed('tiny', batch_size=2, steps=3, warmup=1,
                           variants=(('float32', False, True), ('mixed_bfloat16', False, False)),
                           log=lines.append)
  assert [(r['precision'], r['deterministic']) for r in rows] == [('float32', True),
                                                                   ('mixed_bfloat16', False)]
  for row in rows:   # the figure is the median of the timed steps
    assert len(row['step_seconds']) == 3
    assert row['seconds_per_step'] == sorted(row['step_seconds'])[1]
    assert row['images_per_second'] == 2 / row['seconds_per_step']
  # The printed ratio is the second variant's images/s over the first's.
  ratio = rows[1]['images_per_second'] / rows[0]['images_per_second']
  assert lines[-3].split()[-1] == '1.00x' and lines[-2].split()[-1] == f'{ratio:.2f}x'
  # ... and then what a checkpoint of the first variant costs.
  assert lines[-1].startswith('checkpoint: ') and lines[-1].endswith('training waits meanwhile')
  assert rows[0]['checkpoint']['seconds'] > 0 and rows[0]['checkpoint']['megabytes'] > 0


def test_run_names_the_machine_first(monkeypatch):
  monkeypatch.setattr(train_speed, 'train_speed', lambda **kwargs: [{'ok': True}])
  lines = []
  assert modes.run('train_speed', log=lines.append) == [{'ok': True}]
  assert lines[0].startswith('machine: ') and 'bfloat16' in lines[0]


def test_no_retracing_warning_in_the_tables(monkeypatch, caplog):
  """Each variant traces its own model once; TensorFlow's retracing notice stays out."""
  import tensorflow as tf   # pylint: disable=import-outside-toplevel

  def variants(**kwargs):
    for size in range(1, 9):   # eight functions of one Python method, traced once each
      tf.function(lambda x: x + 1)(tf.zeros([size]))
    return []

  variants()
  assert 'triggered tf.function retracing' in caplog.text   # what TensorFlow says
  caplog.clear()
  monkeypatch.setattr(train_speed, 'train_speed', variants)
  modes.run('train_speed', log=lambda line: None)
  assert 'retracing' not in caplog.text
