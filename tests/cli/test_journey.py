"""The main journey as a user walks it: every program a subprocess started from a scratch
directory, every path relative and typed as BUILD.md types it (``runs/photos``,
``photos``, ``serving``), nothing prepared but a folder of photos.

train -> eval -> Ctrl-C and rerun (resume) -> eval of one checkpoint -> colorize
--checkpoint -> export -> colorize --saved_model -> pic_tf.load('runs/...') -> export
--format=weights -> train on with --workdir alone. Each step exits 0 and leaves its
output where BUILD.md says.
"""

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import numpy as np
from PIL import Image

REPO = pathlib.Path(__file__).resolve().parents[2]
TRAIN = ['--dataset=folder:photos', '--config=tiny', '--workdir=runs/photos']


def _photos(folder, count=24):
  """``count`` small colour photos (a sky over grass, each its own colours and size)."""
  folder.mkdir()
  rng = np.random.default_rng(0)
  for i in range(count):
    height, width = rng.integers(24, 48, size=2)
    y = np.linspace(0, 1, height)[:, None, None]
    sky, ground = rng.integers(0, 256, size=(2, 3))
    image = np.where(y < rng.uniform(0.3, 0.7), sky, ground) * np.ones((1, width, 1))
    image += rng.normal(0, 8, image.shape)
    Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(folder / f'{i:02d}.png')


def _run(scratch, program, *args):
  """``bin/<program> args`` from ``scratch``; asserts exit 0 and returns the result."""
  start = time.time()
  result = subprocess.run([sys.executable, str(REPO / 'bin' / program), *args], cwd=scratch,
                          capture_output=True, text=True, check=False, timeout=600)
  print(f'$ bin/{program} {" ".join(args)}  -> {result.returncode} '
        f'({time.time() - start:.1f} s)')
  assert result.returncode == 0, result.stderr[-3000:]
  return result


def test_train_eval_resume_colorize_export_load_on_relative_paths(tmp_path):
  scratch = tmp_path / 'scratch'
  scratch.mkdir()
  _photos(scratch / 'photos')
  workdir = scratch / 'runs' / 'photos'

  _run(scratch, 'train', *TRAIN, '--num_steps=10')
  assert (workdir / 'config.json').is_file() and (workdir / 'ckpt-10.index').is_file()

  result = _run(scratch, 'eval', '--checkpoint=runs/photos')
  assert json.loads((workdir / 'eval.json').read_text())['step'] == 10, result.stderr
  # Standard output holds the results table alone.
  assert result.stdout.splitlines()[0].startswith('bits/dim on '), result.stdout
  assert len(result.stdout.splitlines()) == 5, result.stdout

  # Ctrl-C between checkpoints: the step in progress finishes and is checkpointed; then
  # the same command again.
  command = [sys.executable, str(REPO / 'bin' / 'train'), *TRAIN, '--num_steps=300']
  # The run's lines are on standard error, its results (none) on standard output.
  process = subprocess.Popen(command, cwd=scratch, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
  for line in process.stderr:
    if line.startswith('step ') and int(line.split()[1].split('/')[0]) >= 25:
      process.send_signal(signal.SIGINT)
      break
  rest = process.stderr.read()
  assert process.wait(timeout=120) == 130, rest[-2000:]
  assert process.stdout.read() == ''
  interrupted_at = max(int(p.name[5:-6]) for p in workdir.glob('ckpt-*.index'))
  assert 25 <= interrupted_at < 300 and interrupted_at % 10, interrupted_at
  assert rest.strip().splitlines()[-1] == (
      f'interrupted: SIGINT at step {interrupted_at}: checkpoint {workdir}/ckpt-'
      f'{interrupted_at} written; run the same command again to resume from it')
  result = _run(scratch, 'train', *TRAIN, '--num_steps=300')
  assert f'at step {interrupted_at}' in result.stderr, result.stderr
  assert (workdir / 'ckpt-300.index').is_file()

  result = _run(scratch, 'eval', '--checkpoint=runs/photos/ckpt-300')
  assert json.loads((workdir / 'eval.json').read_text())['step'] == 300, result.stdout

  _run(scratch, 'colorize', '--checkpoint=runs/photos', '--input=photos/03.png',
       '--num_samples=2', '--output_dir=out')
  assert sorted(p.name for p in (scratch / 'out').iterdir()) == [
      '03.png_grid.png', '03.png_sample0.png', '03.png_sample1.png']

  _run(scratch, 'export', '--checkpoint=runs/photos', '--export_dir=serving')
  assert (scratch / 'serving' / '1' / 'saved_model.pb').is_file()

  _run(scratch, 'colorize', '--saved_model=serving', '--input=photos/03.png',
       '--num_samples=1', '--output_dir=served')
  assert (scratch / 'served' / '03.png_sample0.png').is_file()

  script = ("import pic_tf; pic = pic_tf.load('runs/photos'); "
            "print(pic.step, pic.colorize(pic_tf.example_images(1), num_samples=1).shape)")
  result = subprocess.run([sys.executable, '-c', script], cwd=scratch, capture_output=True,
                          text=True, check=False, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  assert result.stdout.split()[0] == '300'

  result = _run(scratch, 'export', '--checkpoint=runs/photos', '--format=weights',
                '--export_dir=weights')
  assert (scratch / 'weights' / 'config.json').is_file()
  assert (scratch / 'weights' / 'ckpt-300.index').is_file()
  # It names the checkpoint where it is.
  named = [word for word in (result.stdout + result.stderr).split() if 'ckpt-300' in word]
  assert named and all(os.path.exists(os.path.join(scratch, w.strip('.,:')) + '.index')
                       for w in named), result.stdout + result.stderr

  # Trained further with the workdir alone: its config.json gives the config.
  result = _run(scratch, 'train', '--workdir=runs/photos/', '--num_steps=305')
  assert f'resumed from {workdir}/ckpt-300 at step 300' in result.stderr, result.stderr
  assert 'training tiny on folder:' in result.stderr
  assert (workdir / 'ckpt-305.index').is_file()
