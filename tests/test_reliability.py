"""Careless and hostile use, as a user meets it: every binary in its own process, real files.

One test per class of promise (BUILD.md, "Reliability"):
  bad values are refused before anything is written or built;
  a run that never trained leaves nothing that blocks the corrected command;
  one bad input file is one ``error: <file>: <why>`` line, and the others are done;
  output names are unique by construction, and earlier results are refused or
  replaced as a set, never mixed with new ones; no binary writes over a workdir's files;
  no traceback reaches a user, Ctrl-C included (status 130);
  offline dataset loading fails in seconds and leaves no half-made folder;
  memory stays bounded (peak RSS of a 12-megapixel photo and of 1000 images).
Where a message suggests a fix, the test runs the fix. The tests that run a binary more
than once, or for minutes, are marked slow.
"""

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

REPO = pathlib.Path(__file__).resolve().parents[1]
TESTDATA = REPO / 'testdata'


def _run(binary, args, env=None, timeout=600):
  return subprocess.run([sys.executable, str(REPO / 'bin' / binary)] + list(args),
                        capture_output=True, text=True, check=False, timeout=timeout,
                        env={**os.environ, **(env or {})})


def _errors(result):
  return [line for line in result.stderr.splitlines() if line.startswith('error: ')]


def _one_line(result, *words):
  """A refused command: status 1, one ``error:`` line holding ``words``, no traceback."""
  lines = _errors(result)
  print(f'  -> {lines[0] if lines else result.stderr[-800:]}')
  assert result.returncode == 1, result.stderr[-2000:]
  assert len(lines) == 1 and 'Traceback' not in result.stderr, result.stderr[-2000:]
  for word in words:
    assert word in lines[0], lines[0]
  return lines[0]


def _photo(path, size=(24, 16), seed=0):
  rng = np.random.default_rng(seed)
  Image.fromarray(rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)).save(path)
  return path


@pytest.mark.parametrize('binary,args,words', [
    ('colorize', ['--temperature=nan'], ['--temperature', 'nan']),
    ('colorize', ['--temperature=inf'], ['--temperature', 'inf']),
    ('colorize', ['--seed=9223372036854775808'], ['--seed', '2**63']),
    ('colorize', ['--seed=-1'], ['--seed']),
    ('train', ['--set=train.polyak_decay=2.0'], ['train.polyak_decay', '2.0']),
    ('train', ['--set=train.lr_decay=-1'], ['train.lr_decay', '-1']),
    ('train', ['--set=train.learning_rate=nan'], ['train.learning_rate', 'nan']),
    ('train', ['--seed=-1'], ['train.seed', '-1']),
    ('train', ['--dataset=mnist'], ['mnist']),
    ('eval', ['--output_json={out}'], ['--output_json', 'is a directory']),
])
def test_bad_values_are_refused_before_anything_is_written(binary, args, words, tmp_path):
  out = tmp_path / 'out'
  args = [a.format(out=tmp_path) for a in args]
  common = {'colorize': [f'--input={TESTDATA / "tiny_6x4.png"}', f'--output_dir={out}'],
            'train': ['--config=tiny', f'--workdir={out}'],
            'eval': [f'--checkpoint={REPO / "pic_tf" / "assets" / "cifar10_demo"}']}[binary]
  print(f'\n{binary} {" ".join(args)}:')
  _one_line(_run(binary, common + args), *words)
  assert not out.exists()
  assert sorted(os.listdir(tmp_path)) == []


@pytest.mark.slow
def test_eval_never_writes_over_a_workdir_file_and_its_advice_works(tmp_path):
  demo = REPO / 'pic_tf' / 'assets' / 'cifar10_demo'
  before = (demo / 'config.json').read_bytes()
  args = [f'--checkpoint={demo}', '--dataset=cifar10_bundled', '--num_examples=8',
          '--batch_size=8']
  _one_line(_run('eval', args + [f'--output_json={demo / "config.json"}']),
            'is a file of the workdir', 'Choose another file name')
  assert (demo / 'config.json').read_bytes() == before
  # What the directory refusal suggests: a file name inside it.
  line = _one_line(_run('eval', args + [f'--output_json={tmp_path}']), 'is a directory')
  suggested = line.split('e.g. ')[-1]
  result = _run('eval', args + [f'--output_json={suggested}'])
  assert result.returncode == 0, result.stderr[-2000:]
  assert os.path.isfile(suggested)


@pytest.mark.slow
def test_a_run_that_never_trained_does_not_block_the_corrected_command(tmp_path):
  photos = tmp_path / 'photos'
  photos.mkdir()
  for i in range(10):
    _photo(photos / f'{i}.png', (8, 8), seed=i)
  workdir = tmp_path / 'run'
  base = ['--config=tiny', f'--workdir={workdir}', '--num_steps=1', '--batch_size=4',
          '--set=train.eval_examples=1']
  # Fails on its data (a typo in the folder), after the strategy and the model exist.
  print('\nfirst run, wrong folder:')
  _one_line(_run('train', base + [f'--dataset=folder:{tmp_path}/fotos']), 'fotos')
  assert not workdir.exists()
  # A first run that wrote its config but no checkpoint (killed, diverged at step 1, ...)
  # does not bind the workdir either: the corrected command, another config, trains.
  # The corrected command, with another config too, trains (a config.json without a
  # checkpoint, left by a run killed or diverged before its first checkpoint, binds
  # nothing either: tests/storage/test_workdir.py).
  result = _run('train', base + [f'--dataset=folder:{photos}', '--set=model.nr_channels=8'])
  assert result.returncode == 0, result.stderr[-2000:]
  assert (workdir / 'config.json').exists()
  # With a checkpoint, another config is refused, and the advice (the same flags) works.
  print('another config over a checkpoint:')
  _one_line(_run('train', base + [f'--dataset=folder:{photos}']),
            'another config', 'model.nr_channels')
  assert _run('train', base + [f'--dataset=folder:{photos}', '--set=model.nr_channels=8']
              ).returncode == 0


@pytest.fixture(scope='module')
def photo_run(tmp_path_factory):
  """bin/colorize (shipped model) over a folder of good and bad files, with clashing names."""
  root = tmp_path_factory.mktemp('photos')
  photos = root / 'in'
  (photos / 'a').mkdir(parents=True)
  (photos / 'b').mkdir()
  for i, name in enumerate(['img.jpg', 'img.png', 'img_1.png', 'a/x.png', 'b/x.png']):
    _photo(photos / name, seed=i)
  (photos / 'bomb.png').write_bytes(helpers.png_claiming(100000, 100000))
  (photos / 'cut.jpg').write_bytes((TESTDATA / 'scene_500x375.jpg').read_bytes()[:3000])
  os.mkfifo(photos / 'pipe.png')
  out = root / 'out'
  result = _run('colorize', [f'--input={photos}', f'--output_dir={out}', '--num_samples=2'],
                timeout=300)
  return {'photos': photos, 'out': out, 'result': result}


def test_one_bad_file_is_one_line_and_the_others_are_done(photo_run):
  result, photos = photo_run['result'], photo_run['photos']
  print('\n' + '\n'.join(_errors(result)))
  assert result.returncode == 1 and 'Traceback' not in result.stderr
  errors = _errors(result)
  assert len(errors) == 3, result.stderr[-3000:]
  assert f'error: {photos}/bomb.png: its header claims 100000x100000 pixels' in errors[0]
  assert errors[1].startswith(f'error: {photos}/cut.jpg: cannot decode')
  assert errors[2] == f'error: {photos}/pipe.png: not a regular file'
  assert '3 inputs failed' in result.stderr
  for name in ['img.jpg', 'img.png', 'img_1.png', 'a/x.png', 'b/x.png']:
    assert f'{photos}/{name} ->' in result.stderr


def test_output_names_are_unique_by_construction(photo_run):
  out = photo_run['out']
  written = sorted(str(p.relative_to(out)) for p in out.rglob('*') if p.is_file())
  expected = sorted(f'{name}_{kind}.png' for name in
                    ['img.jpg', 'img.png', 'img_1.png', 'a/x.png', 'b/x.png']
                    for kind in ('sample0', 'sample1', 'grid'))
  assert written == expected
  grids = [np.asarray(Image.open(out / f'{n}_grid.png')) for n in ('img.jpg', 'img.png')]
  assert not np.array_equal(*grids)   # two inputs, two results


@pytest.mark.slow
def test_earlier_results_are_refused_or_replaced_as_a_set(tmp_path):
  out = tmp_path / 'out'
  first = [f'--input={_photo(tmp_path / "p.png")}', f'--input={_photo(tmp_path / "q.png")}',
           f'--output_dir={out}']
  assert _run('colorize', first + ['--num_samples=3']).returncode == 0
  before = {p.name: p.read_bytes() for p in out.iterdir()}
  print('\nagain into the same folder, fewer samples:')
  line = _one_line(_run('colorize', first[:1] + first[2:] + ['--num_samples=1']),
                   'already holds 8 result files', '--overwrite')
  assert {p.name: p.read_bytes() for p in out.iterdir()} == before
  assert '--overwrite' in line
  result = _run('colorize', first[:1] + first[2:] + ['--num_samples=1', '--overwrite'])
  assert result.returncode == 0, result.stderr[-2000:]
  # The earlier set is gone as a whole: no sample1, sample2 or q.png results beside the new.
  assert sorted(p.name for p in out.iterdir()) == ['p.png_grid.png', 'p.png_sample0.png']


@pytest.mark.slow
def test_a_full_disk_names_each_file_and_every_input_is_tried(tmp_path):
  photos = [_photo(tmp_path / f'{i}.png', (300, 200), seed=i) for i in range(3)]
  with helpers.small_filesystem(tmp_path / 'full', free_kb=60) as full:
    result = _run('colorize', [f'--input={p}' for p in photos] +
                  [f'--output_dir={full}/out', '--num_samples=2'])
    print('\n' + '\n'.join(_errors(result)))
    assert result.returncode == 1 and 'Traceback' not in result.stderr
    errors = _errors(result)
    assert len(errors) == 3, result.stderr[-2000:]
    for photo, line in zip(photos, errors):
      assert line.startswith(f'error: {photo}: cannot write {full}/out/{photo.name}_'), line
      assert 'No space left on device' in line and '.tmp-' not in line
    # Nothing committed: the output folder the run made is gone again.
    assert not pathlib.Path(f'{full}/out').exists()


@pytest.mark.slow   # a real SIGINT; tests/test_cli.py checks the handler by default
def test_ctrl_c_stops_with_one_line_status_130_and_nothing_half_written(tmp_path):
  photos = [_photo(tmp_path / f'{i:02d}.png', seed=i) for i in range(40)]
  out = tmp_path / 'out'
  process = subprocess.Popen(
      [sys.executable, str(REPO / 'bin' / 'colorize'), f'--input={tmp_path}',
       f'--output_dir={out}', '--num_samples=1'], stderr=subprocess.PIPE, text=True)
  for line in process.stderr:
    if ' -> ' in line:   # the first photo is done
      break
  process.send_signal(signal.SIGINT)
  rest = process.stderr.read()
  assert process.wait(timeout=60) == 130, rest
  assert rest.strip().splitlines()[-1] == 'interrupted' and 'Traceback' not in rest
  # Nothing committed, nothing left behind.
  assert not out.exists() or list(out.iterdir()) == []
  assert len(photos) == 40


SITE_OFFLINE = '''
import socket
def _offline(*args, **kwargs):
  raise socket.gaierror(socket.EAI_NONAME, 'Name or service not known')
socket.getaddrinfo = _offline
'''


def test_offline_dataset_loading_fails_fast_and_leaves_nothing(tmp_path):
  """Name resolution stubbed to fail, as on a machine without network."""
  site = tmp_path / 'site'
  site.mkdir()
  (site / 'sitecustomize.py').write_text(SITE_OFFLINE)
  data_dir = tmp_path / 'tensorflow_datasets'
  start = time.time()
  result = _run('colorize', ['--dataset=cifar10', f'--data_dir={data_dir}',
                             f'--output_dir={tmp_path}/out'],
                env={'PYTHONPATH': str(site)}, timeout=300)
  elapsed = time.time() - start
  print(f'\noffline, {elapsed:.0f} s:')
  _one_line(result, 'cifar10', 'unreachable', 'point the data directory')
  assert elapsed < 60
  assert not data_dir.exists() and not (tmp_path / 'out').exists()


def _peak_rss_mb(binary, args):
  """Peak resident memory of a binary's process, in MB (its own, not this process's)."""
  probe = ('import resource, subprocess, sys\n'
           'code = subprocess.run(sys.argv[1:]).returncode\n'
           'print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)\n'
           'sys.exit(code)')
  result = subprocess.run([sys.executable, '-c', probe, sys.executable,
                           str(REPO / 'bin' / binary)] + args,
                          capture_output=True, text=True, check=False, timeout=3000)
  assert result.returncode == 0, result.stderr[-2000:]
  return int(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_memory_is_bounded_for_a_large_photo_and_many_images(tmp_path, tfds_dir):
  big = np.random.default_rng(0).integers(0, 256, size=(3000, 4000, 3), dtype=np.uint8)
  Image.fromarray(big).save(tmp_path / 'big.jpg', quality=90)
  photo = _peak_rss_mb('colorize', [f'--input={tmp_path / "big.jpg"}', '--num_samples=4',
                                    f'--output_dir={tmp_path}/photo'])
  many = _peak_rss_mb('colorize', ['--dataset=cifar10', '--num_images=1000', '--num_samples=2',
                                   f'--data_dir={tfds_dir}', '--nodownload',
                                   f'--output_dir={tmp_path}/many'])
  print(f'\npeak RSS: 4000x3000 photo x 4 samples {photo} MB; 1000 CIFAR-10 images x 2 '
        f'samples {many} MB')
  assert photo < 2048 and many < 2048
  assert Image.open(tmp_path / 'photo' / 'big.jpg_sample3.png').size == (4000, 3000)
  assert len(list((tmp_path / 'many').glob('*_sample*.png'))) == 2000
