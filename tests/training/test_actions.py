"""Each periodic action of the training loop on its own (no model: stand-ins)."""

import os
import types

import numpy as np
import pytest
from PIL import Image

from pic_tf import errors
from pic_tf.data import image_io
from pic_tf.training import actions as train_actions


class _Summaries:
  def __init__(self, workdir=None):
    self.written = []
    self.workdir, self.enabled = workdir, workdir is not None

  def scalars(self, name, step, **values):
    self.written.append((name, step, values))

  def image(self, name, step, tag, image):
    self.written.append((name, step, tag))


def _trainer(batch_size=4):
  config = types.SimpleNamespace(train=types.SimpleNamespace(batch_size=batch_size))
  return types.SimpleNamespace(config=config, learning_rate=1e-3)


def test_due():
  assert [s for s in range(1, 11) if train_actions.due(s, 4, 10)] == [4, 8, 10]
  assert [s for s in range(1, 11) if train_actions.due(s, 0, 10)] == [10]
  assert [s for s in range(1, 11) if train_actions.due(s, 0, 10, at_end=False)] == []


def test_log_action_logs_window_means_and_rates(monkeypatch):
  clock = {'now': 0.0}
  monkeypatch.setattr(train_actions.time, 'perf_counter', lambda: clock['now'])
  lines, summaries, results = [], _Summaries(), {}
  action = train_actions.LogAction(_trainer(), 2, summaries, lines.append, results)
  for step, (bpd, aux) in enumerate([(4.0, 5.0), (2.0, 3.0), (1.0, 1.0)], start=1):
    clock['now'] += 0.5   # a step of 4 images in 0.5 s; the first (traced) is not counted
    action.record(step, bpd, aux)
    action(step, 3)
  assert len(lines) == 2
  assert lines[0].startswith('step 2/3  bpd 3.0000  aux 4.0000  lr 1.000e-03')
  assert lines[1].startswith('step 3/3  bpd 1.0000  aux 1.0000') and '8.0 img/s' in lines[1]
  assert results == {'train_bpd': 1.0}
  assert [(n, s) for n, s, _ in summaries.written] == [('train', 2), ('train', 3)]


def test_log_action_stops_a_diverged_run_naming_the_last_checkpoint():
  action = train_actions.LogAction(_trainer(), 5, _Summaries(), print, {},
                                   last_checkpoint=lambda: '/run/ckpt-20')
  action.record(1, 3.0, 3.0)
  with pytest.raises(errors.TrainingDivergedError, match='at step 2.*ckpt-20'):
    action.record(2, float('nan'), 3.0)


def test_log_action_reads_the_losses_only_when_asked_and_catches_a_nan_among_them():
  """Steps not read yet are checked at the next read, each under its own step number."""
  action = train_actions.LogAction(_trainer(), 5, _Summaries(), print, {})
  action.record(1, 3.0, 3.0, read=False)
  action.record(2, float('inf'), 3.0, read=False)
  assert action.window == []
  with pytest.raises(errors.TrainingDivergedError, match='at step 2'):
    action.record(3, 2.0, 2.0, read=True)


def test_checkpoint_action_saves_every_period_and_at_the_end():
  saved = []
  manager = types.SimpleNamespace(save=lambda checkpoint_number: saved.append(checkpoint_number))
  action = train_actions.CheckpointAction(manager, 3)
  for step in range(1, 8):
    action(step, 7)
  assert saved == [3, 6, 7]


def _rows(trainer, images, seed):
  """Two rows of gray | sample | original, 8x8 each (as sample_rows gives them)."""
  return [[np.full((8, 8, 3), seed, np.uint8)] * 3] * 2


def test_sample_grid_action_is_off_at_zero(monkeypatch):
  drawn = []
  monkeypatch.setattr(train_actions, 'sample_rows',
                      lambda trainer, images, seed: drawn.append(seed) or _rows(0, 0, seed))
  summaries = _Summaries()
  for every, expected in ((0, []), (2, [2, 4, 5])):
    drawn.clear()
    action = train_actions.SampleGridAction(_trainer(), None, every, summaries)
    for step in range(1, 6):
      action(step, 5)
    assert drawn == expected


def test_sample_grids_go_to_tensorboard_and_to_the_workdir_as_pngs(monkeypatch, tmp_path):
  """The chief's grids are also PNG files, their cells enlarged to be looked at; another
  worker writes none."""
  monkeypatch.setattr(train_actions, 'sample_rows', _rows)
  summaries = _Summaries(str(tmp_path))
  train_actions.SampleGridAction(_trainer(), None, 2, summaries)(4, 5)
  assert summaries.written == [('eval', 4, 'samples_gray_pic_original')]
  assert os.listdir(tmp_path / 'samples') == ['step_0000004.png']
  png = np.asarray(Image.open(tmp_path / 'samples' / 'step_0000004.png'))
  cell = image_io.GRID_CELL_MIN   # 8 * 16
  assert png.shape == (2 * cell + 4, 3 * cell + 2 * 4, 3) and png[0, 0, 0] == 4
  train_actions.SampleGridAction(_trainer(), None, 2, _Summaries())(6, 7)   # not the chief
  assert os.listdir(tmp_path / 'samples') == ['step_0000004.png']


def test_eval_action_reports_ema_and_raw():
  calls = []

  def evaluate(dataset, use_ema, progress):
    calls.append(use_ema)
    return {'bpd': 3.0 if use_ema else 3.5, 'aux_bpd': 4.0, 'num_examples': 8}

  trainer = _trainer()
  trainer.evaluate = evaluate
  lines, results = [], {}
  action = train_actions.EvalAction(trainer, None, 8, 0, _Summaries(), lines.append, results)
  for step in range(1, 4):
    action(step, 3)
  assert calls == [True, False]   # only at the end when eval_every is 0
  assert lines == ['step 3: test bpd 3.0000 (EMA), 3.5000 (raw), aux 4.0000 on 8 images']
  assert results == {'test_bpd_ema': 3.0, 'test_bpd_raw': 3.5, 'test_aux_bpd_raw': 4.0,
                     'test_examples': 8}
