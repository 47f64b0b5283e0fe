"""A preempted run (SIGTERM, as a cloud machine or a Kubernetes pod is stopped) finishes
its step, checkpoints it, exits 143, and the same command resumes it exactly."""

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

import helpers

REPO = pathlib.Path(__file__).resolve().parents[2]
TRAIN = ['--dataset=folder:photos', '--config=tiny', '--num_steps=40',
         '--set=train.checkpoint_every=100', '--set=train.log_every=1']


def _train(scratch, workdir):
  return [sys.executable, str(REPO / 'bin' / 'train'), *TRAIN, f'--workdir={workdir}']


def _sigterm_at_step_12(watched, target):
  """Sends SIGTERM to ``target`` once ``watched`` logs step 12 (on standard error);
  returns when it was sent and ``watched``'s lines, read to the end."""
  sent, lines = None, []
  for line in watched.stderr:
    lines.append(line.rstrip('\n'))
    if sent is None and line.startswith('step 12/'):
      target.send_signal(signal.SIGTERM)
      sent = time.time()
  return sent, lines


@pytest.mark.slow   # three training runs
def test_sigterm_checkpoints_the_step_and_the_rerun_ends_as_an_uninterrupted_run(tmp_path):
  photos = tmp_path / 'photos'
  photos.mkdir()
  rng = np.random.default_rng(0)
  for i in range(24):
    Image.fromarray(rng.integers(0, 256, (20, 28, 3), dtype=np.uint8)).save(photos / f'{i}.png')
  whole = subprocess.run(_train(tmp_path, 'runs/whole'), cwd=tmp_path, capture_output=True,
                         text=True, check=False)
  assert whole.returncode == 0, whole.stderr[-2000:]

  process = subprocess.Popen(_train(tmp_path, 'runs/cut'), cwd=tmp_path,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  sent, lines = _sigterm_at_step_12(process, process)
  status = process.wait(timeout=60)
  stopped_in = time.time() - sent
  last = lines[-1]
  print(f'\nSIGTERM -> exit {status} in {stopped_in:.1f} s: {last}')
  assert status == 128 + signal.SIGTERM and stopped_in < 10
  cut = tmp_path / 'runs' / 'cut'
  stopped_at = int(last.split(' at step ')[1].split(':')[0])
  assert 12 <= stopped_at < 40 and (cut / f'ckpt-{stopped_at}.index').is_file(), last
  assert last == (f'interrupted: SIGTERM at step {stopped_at}: checkpoint {cut}/ckpt-'
                  f'{stopped_at} written; run the same command again to resume from it')

  resumed = subprocess.run(_train(tmp_path, 'runs/cut'), cwd=tmp_path, capture_output=True,
                           text=True, check=False)
  assert resumed.returncode == 0, resumed.stderr[-2000:]
  assert f'resumed from {cut}/ckpt-{stopped_at} at step {stopped_at}' in resumed.stderr
  runs = tmp_path / 'runs'
  helpers.assert_same_newest_checkpoint(runs / 'whole', runs / 'cut', 40)


@pytest.mark.slow   # two pairs of worker processes
def test_the_workers_of_a_cluster_stop_after_the_same_step_whichever_is_signalled(tmp_path):
  """SIGTERM reaches worker 1 only (its machine is preempted): both workers stop after
  the same step, the chief checkpoints it, and the same commands resume the run."""
  helpers.colour_photos(str(tmp_path / 'photos'), 24)
  ports = helpers.free_ports(2)
  cluster = {'worker': [f'localhost:{p}' for p in ports]}

  def workers():
    procs = []
    for index in range(2):
      env = dict(os.environ, TF_CONFIG=json.dumps(
          {'cluster': cluster, 'task': {'type': 'worker', 'index': index}}))
      procs.append(subprocess.Popen(
          _train(tmp_path, 'runs/cluster') + ['--strategy=multi_worker', '--batch_size=4'],
          cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    return procs

  chief, other = workers()
  sent, chief_lines = _sigterm_at_step_12(chief, other)
  statuses = [p.wait(timeout=120) for p in (chief, other)]
  stopped_in = time.time() - sent
  lasts = [chief_lines[-1], other.stderr.read().strip().splitlines()[-1]]
  print(f'\nSIGTERM to worker 1 -> exits {statuses} in {stopped_in:.1f} s: {lasts}')
  assert statuses == [128 + signal.SIGTERM] * 2 and stopped_in < 30, lasts
  steps = [int(last.split(' at step ')[1].split(':')[0]) for last in lasts]
  assert steps[0] == steps[1] and 12 <= steps[0] < 40, lasts
  assert lasts[0].startswith(f"interrupted: another worker's stop at step {steps[0]}: "
                             f'checkpoint {tmp_path}/runs/cluster/ckpt-{steps[0]} written')
  assert lasts[1].startswith(f'interrupted: SIGTERM at step {steps[0]}: checkpoint step ')

  procs = workers()
  outputs = [p.communicate(timeout=300) for p in procs]
  for p, (out, err) in zip(procs, outputs):
    assert p.returncode == 0, out + err[-3000:]
  assert f'at step {steps[0]}' in outputs[0][1] and 'step 40/40' in outputs[0][1]
  assert (tmp_path / 'runs' / 'cluster' / 'ckpt-40.index').is_file()
