"""Fine-tuning the shipped demo model on a folder of photos, as a user runs it: bin/train
--init_from in a subprocess from a scratch directory, paths relative."""

import json
import os
import pathlib
import signal
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from pic_tf import storage
from pic_tf.storage import loading
from pic_tf.storage import Source
from pic_tf.storage import workdir as workdir_lib

import helpers

REPO = pathlib.Path(__file__).resolve().parents[2]
FINETUNE = ['--init_from=' + storage.DEMO_MODEL, '--dataset=folder:photos', '--batch_size=2',
            '--precision=float32', '--set=train.checkpoint_every=2',
            '--set=train.keep_checkpoints=10', '--set=train.log_every=1',
            '--set=train.eval_examples=2']


def _photos(folder, count=16):
  folder.mkdir()
  rng = np.random.default_rng(0)
  for i in range(count):
    sky, ground = rng.integers(0, 256, size=(2, 3))
    image = np.concatenate([np.full((12, 40, 3), sky), np.full((14, 40, 3), ground)])
    Image.fromarray(image.astype(np.uint8)).save(folder / f'{i:02d}.png')


def _train(scratch, *args):
  return subprocess.run([sys.executable, str(REPO / 'bin' / 'train'), *args], cwd=scratch,
                        capture_output=True, text=True, check=False, timeout=600)


@pytest.fixture(scope='module')
def scratch(tmp_path_factory):
  scratch = tmp_path_factory.mktemp('scratch')
  _photos(scratch / 'photos')
  return scratch


def test_finetuning_the_demo_model_starts_from_its_weights_and_resumes(scratch):
  workdir = scratch / 'runs' / 'ft'
  command = [sys.executable, str(REPO / 'bin' / 'train'), *FINETUNE, '--workdir=runs/ft',
             '--num_steps=8']
  process = subprocess.Popen(command, cwd=scratch, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
  said = []
  for line in process.stderr:
    said.append(line)
    if line.startswith('step 5/'):
      process.kill()   # no clean-up of any kind, as a preempted machine
      break
  process.wait(timeout=60)
  print(''.join(said))
  assert any(line.startswith(f'starting from demo {storage.DEMO_MODEL}/ckpt-7000 (its step '
                             "7000): its weights become the model's and the EMA's")
             for line in said), said
  # The start is ckpt-0: the demo model's weights, raw and averaged.
  demo = loading.load(Source(storage.DEMO_MODEL), ema=False)
  start = loading.load(Source(str(workdir / 'ckpt-0')), ema=False)
  assert start.step == 0
  for ours, theirs in zip(start.model.weights, demo.model.weights, strict=True):
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
  for ours, theirs in zip(start.ema.averages, demo.ema.averages, strict=True):
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
  recorded = json.loads((workdir / 'config.json').read_text())
  assert recorded['init_from'] == storage.DEMO_MODEL
  assert recorded['model'] == json.loads(
      (pathlib.Path(storage.DEMO_MODEL) / 'config.json').read_text())['model']
  assert recorded['dataset'] == f'folder:{scratch / "photos"}'

  # Killed at step 5: the same command resumes from the workdir, not from the source.
  killed_at = max(int(p.name[5:-6]) for p in workdir.glob('ckpt-*.index'))
  result = _train(scratch, *FINETUNE, '--workdir=runs/ft', '--num_steps=8')
  assert result.returncode == 0, result.stderr[-3000:]
  assert f'resumed from {workdir}/ckpt-{killed_at} at step {killed_at}' in result.stderr
  assert 'starting from' not in result.stderr
  assert workdir_lib.read_checkpoint(str(workdir)).step == 8


def test_finetuning_refuses_a_change_of_the_model_naming_the_field(scratch):
  result = _train(scratch, *FINETUNE, '--workdir=runs/other', '--num_steps=2',
                  '--set=model.nr_channels=32')
  lines = [line for line in result.stderr.splitlines() if line.startswith('error:')]
  assert result.returncode == 1 and len(lines) == 1, result.stderr[-2000:]
  assert lines[0].startswith('error: model.nr_channels (80 -> 32): fine-tuning keeps the '
                             f'model of {storage.DEMO_MODEL}'), lines
  result = _train(scratch, *FINETUNE, '--workdir=runs/other', '--num_steps=2', '--config=tiny')
  assert result.returncode == 1 and result.stderr.strip().splitlines()[-1] == (
      f'error: --config has no effect with --init_from a demo, whose config.json fixes the '
      'model'), result.stderr[-2000:]
  assert not (scratch / 'runs' / 'other' / 'config.json').exists()


@pytest.mark.slow   # three fine-tuning runs
def test_a_killed_and_resumed_finetuning_ends_with_the_weights_of_an_uninterrupted_one(
    scratch):
  """The fault suite's promise for a fine-tuned run: bit for bit on the CPU."""
  whole = _train(scratch, *FINETUNE, '--workdir=runs/whole', '--num_steps=6')
  assert whole.returncode == 0, whole.stderr[-3000:]
  command = [sys.executable, str(REPO / 'bin' / 'train'), *FINETUNE, '--workdir=runs/cut',
             '--num_steps=6']
  process = subprocess.Popen(command, cwd=scratch, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
  for line in process.stderr:
    if line.startswith('step 3/'):
      os.kill(process.pid, signal.SIGKILL)
      break
  process.wait(timeout=60)
  resumed = _train(scratch, *FINETUNE, '--workdir=runs/cut', '--num_steps=6')
  assert resumed.returncode == 0 and 'resumed from' in resumed.stderr, resumed.stderr[-3000:]
  runs = scratch / 'runs'
  helpers.assert_same_newest_checkpoint(runs / 'whole', runs / 'cut', 6)
