"""bin/colorize: any photo in, PNGs at its resolution out; bad inputs reported, not fatal."""

import os
import pathlib
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from pic_tf import colorize_lib
from pic_tf import configs
from pic_tf.data import image_io
from pic_tf.model import color
from pic_tf.model import networks
from pic_tf.storage import Source
from pic_tf.sampling import SampleOptions
from pic_tf import storage
from pic_tf.storage import original_checkpoints
from pic_tf.storage import workdir as workdir_lib

REPO = pathlib.Path(__file__).resolve().parents[1]
TESTDATA = REPO / 'testdata'
SHARED_PHOTOS = REPO.parent / 'shared' / 'data' / 'imagenet_val_samples'


@pytest.fixture(scope='module')
def workdir(tmp_path_factory):
  path = tmp_path_factory.mktemp('tiny_workdir')
  model, ema = networks.build_model_and_ema(configs.tiny())
  rng = np.random.default_rng(0)
  for name, _, var in networks.named_variables(model):
    if not name.endswith('/V'):
      var.assign(rng.normal(1.0 if name.endswith('/g') else 0.0, 0.3, size=var.shape)
                 .astype(np.float32))
  # Small mixture outputs: muted colours, inside the sRGB gamut, so L can be checked.
  model.pixelcnn.conv_last.g.assign(np.full([80], 0.05, np.float32))
  bias = np.zeros([80], np.float32)
  bias[50:60] = bias[70:80] = -4.0     # log-scales of a' and b'
  model.pixelcnn.conv_last.b.assign(bias)
  ema.reset()
  workdir_lib.save_new_workdir(str(path), configs.tiny(), model, ema)
  return str(path)


def _colorize(args):
  cmd = [sys.executable, str(REPO / 'bin' / 'colorize')] + args
  return subprocess.run(cmd, capture_output=True, text=True, check=False)


def test_photos_in_every_format(workdir, tmp_path):
  out = tmp_path / 'out'
  inputs = ['scene_500x375.jpg', 'gray.png', 'gray16.png', 'rgba.png', 'palette.png',
            'cmyk.jpg', 'exif_rotated.jpg', 'tiny_6x4.png']
  result = _colorize([f'--checkpoint={workdir}', f'--output_dir={out}', '--num_samples=2',
                      '--seed=3'] + [f'--input={TESTDATA / name}' for name in inputs])
  assert result.returncode == 0, result.stderr[-3000:]
  for name in inputs:
    stem = name   # the extension stays in the results' names
    source, is_color = image_io.read_image(str(TESTDATA / name))
    for k in range(2):
      sample = np.asarray(Image.open(out / f'{stem}_sample{k}.png'))
      assert sample.shape == source.shape, name      # the input's size (500x375, 6x4)
      lum_in = color.rgb_to_lab(source).numpy()[..., 0]
      lum_out = color.rgb_to_lab(sample).numpy()[..., 0]
      # L is the input's (the original's uint8 truncation costs up to a level).
      assert np.percentile(np.abs(lum_in - lum_out), 99) <= 1.0, name
    grid = np.asarray(Image.open(out / f'{stem}_grid.png'))
    columns = 1 + 2 + (1 if is_color else 0)
    assert grid.shape[1] == columns * source.shape[1] + 2 * (columns - 1), name
  assert 'row/s' in result.stderr and 'ETA' in result.stderr
  assert not [f for f in os.listdir(out) if f.startswith('.tmp')]


def test_sixteen_bit_and_float_photos_keep_their_gray_levels(workdir, tmp_path):
  """A float TIFF in [0, 1] and a 16-bit PNG of mid gray come out mid gray, not black."""
  Image.fromarray(np.full((12, 16), 0.5, np.float32)).save(tmp_path / 'float.tif')
  Image.fromarray(np.full((12, 16), 32768, np.uint16)).save(tmp_path / 'deep.png')
  out = tmp_path / 'out'
  result = _colorize([f'--checkpoint={workdir}', f'--output_dir={out}', '--num_samples=1',
                      f'--input={tmp_path / "float.tif"}', f'--input={tmp_path / "deep.png"}'])
  assert result.returncode == 0, result.stderr[-3000:]
  for name in ('float.tif', 'deep.png'):
    sample = np.asarray(Image.open(out / f'{name}_sample0.png').convert('RGB'))
    lum = color.rgb_to_lab(sample[None]).numpy()[0, ..., 0]
    np.testing.assert_allclose(lum, 53.6, atol=1.0)   # L of sRGB gray 128


def test_same_seed_same_pictures_and_temperature(workdir, tmp_path):
  # In process, with one colorizer: bin/colorize passes --seed through unchanged.
  colorizer = colorize_lib.load_colorizer(Source(workdir))
  for name, seed in (('a', 1), ('b', 1), ('c', 2)):
    assert colorize_lib.colorize_files(colorizer, [str(TESTDATA / 'tiny_6x4.png')],
                                       str(tmp_path / name),
                                       SampleOptions(num_samples=2, seed=seed)) == []
  read = lambda d: np.asarray(Image.open(tmp_path / d / 'tiny_6x4.png_sample0.png'))
  np.testing.assert_array_equal(read('a'), read('b'))
  assert not np.array_equal(read('a'), read('c'))


@pytest.mark.slow   # tests/test_reliability.py covers bad inputs by default
def test_bad_inputs_are_reported_and_the_rest_is_processed(workdir, tmp_path):
  out = tmp_path / 'out'
  result = _colorize([f'--checkpoint={workdir}', f'--output_dir={out}', '--num_samples=1',
                      f'--input={TESTDATA / "missing.png"}', f'--input={TESTDATA / "truncated.jpg"}',
                      f'--input={TESTDATA / "not_an_image.png"}', f'--input={TESTDATA / "scene.png"}',
                      f'--input={tmp_path / "nothing" / "*.jpg"}'])
  assert result.returncode == 1
  err = result.stderr
  assert 'missing.png: no such file' in err
  assert 'truncated.jpg: cannot decode' in err
  assert 'not_an_image.png: not an image' in err
  assert 'no file matches' in err and '4 inputs failed' in err
  assert 'Traceback' not in err
  assert sorted(os.listdir(out)) == ['scene.png_grid.png', 'scene.png_sample0.png']


def test_checkpoint_of_another_config(tmp_path):
  model = networks.build_model(configs.tiny().model)
  names = original_checkpoints.original_name_map(model)
  prefix = str(tmp_path / 'model.ckpt')
  keys = sorted(names)
  tf.raw_ops.SaveV2(prefix=prefix, tensor_names=keys, shape_and_slices=[''] * len(keys),
                    tensors=[names[k] for k in keys])
  result = _colorize([f'--checkpoint={prefix}', '--config=cifar10', f'--output_dir={tmp_path}/o',
                      f'--input={TESTDATA / "scene.png"}'])
  assert result.returncode == 1
  assert 'does not fit the model' in result.stderr and 'Traceback' not in result.stderr
  assert not os.path.exists(tmp_path / 'o')
  # The right config loads it (in process: what bin/colorize then runs).
  errors = colorize_lib.colorize_files(colorize_lib.load_colorizer(Source(prefix, 'tiny')),
                                       [str(TESTDATA / 'tiny_6x4.png')], f'{tmp_path}/o',
                                       SampleOptions(num_samples=1), log=lambda m: None)
  assert errors == [] and os.path.exists(tmp_path / 'o' / 'tiny_6x4.png_sample0.png')


def test_very_large_photo(workdir, tmp_path):
  colorizer = colorize_lib.load_colorizer(Source(workdir))
  big = np.random.default_rng(0).integers(0, 256, size=(3000, 4000, 3), dtype=np.uint8)
  Image.fromarray(big).save(tmp_path / 'big.jpg', quality=80)
  errors = colorize_lib.colorize_files(colorizer, [str(tmp_path / 'big.jpg')],
                                       str(tmp_path / 'out'), SampleOptions(num_samples=1), log=lambda m: None)
  assert not errors
  assert Image.open(tmp_path / 'out' / 'big.jpg_sample0.png').size == (4000, 3000)
  assert Image.open(tmp_path / 'out' / 'big.jpg_grid.png').size[1] <= colorize_lib.GRID_CELL_MAX


def test_real_imagenet_photos_at_full_size(workdir, tmp_path):
  if not SHARED_PHOTOS.is_dir():
    pytest.skip(f'{SHARED_PHOTOS} not found')
  colorizer = colorize_lib.load_colorizer(Source(workdir))
  errors = colorize_lib.colorize_files(colorizer, [str(SHARED_PHOTOS)], str(tmp_path),
                                       SampleOptions(num_samples=1), log=lambda m: None)
  assert not errors
  photos = sorted(SHARED_PHOTOS.glob('*.JPEG'))
  for photo in photos:
    stem = photo.name
    assert Image.open(tmp_path / f'{stem}_sample0.png').size == Image.open(photo).size


@pytest.mark.slow   # README's command, tested in tests/test_cli.py, writes a dataset grid by default
def test_dataset_grid(workdir, tmp_path, tfds_dir):
  result = _colorize([f'--checkpoint={workdir}', '--dataset=cifar10', '--split=test',
                      '--num_images=3', '--num_samples=2', f'--data_dir={tfds_dir}',
                      '--nodownload', f'--output_dir={tmp_path}'])
  assert result.returncode == 0, result.stderr[-3000:]
  grid = np.asarray(Image.open(tmp_path / 'cifar10_test_grid.png'))
  cell = 8 * (image_io.GRID_CELL_MIN // 8)
  assert grid.shape == (3 * cell + 2 * 4, 4 * cell + 3 * 4, 3)   # gray | 2 samples | original
  assert len(list(tmp_path.glob('cifar10_test_*_sample*.png'))) == 6


def test_files_and_datasets_report_on_one_stream(workdir, tmp_path):
  """Both kinds of input report on standard error; standard output stays empty."""
  photos = tmp_path / 'photos'
  photos.mkdir()
  for name in ('tiny_6x4.png', 'gray.png'):
    shutil.copy(TESTDATA / name, photos / name)
  runs = {'files': [f'--input={photos}'],
          'dataset': [f'--dataset=folder:{photos}', '--split=train', '--num_images=2']}
  for kind, args in runs.items():
    result = _colorize([f'--checkpoint={workdir}', f'--output_dir={tmp_path / kind}',
                        '--num_samples=1'] + args)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout == '', kind
    assert str(tmp_path / kind) in result.stderr, kind   # where the results went


def test_shipped_demo_model_loads_and_is_small():
  files = list(pathlib.Path(storage.DEMO_MODEL).iterdir())
  assert sum(f.stat().st_size for f in files) <= 20 * 2**20
  colorizer = colorize_lib.load_colorizer(Source(storage.DEMO_MODEL))
  assert workdir_lib.load_config(storage.DEMO_MODEL).name == 'cifar10_demo'
  assert colorizer.image_size == 32
  image, _ = image_io.read_image(str(TESTDATA / 'scene_500x375.jpg'))
  out = colorizer.colorize(image[None], 1, 1.0, (0, 0))
  assert out.shape == (1, 1, 375, 500, 3)


def test_the_wheel_ships_the_demo_model_and_images_and_its_console_scripts_run(tmp_path):
  # Built from a copy: setuptools writes build/ and *.egg-info next to setup.py.
  source = tmp_path / 'source'
  shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
      '.git', '.venv', 'build', '*.egg-info', '__pycache__', '.pytest_cache'))
  result = subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation',
                           '-q', '-w', str(tmp_path), str(source)], capture_output=True,
                          text=True, check=False)
  assert result.returncode == 0, result.stderr[-2000:]
  import zipfile  # pylint: disable=import-outside-toplevel
  wheel = next(tmp_path.glob('pic_tf-*.whl'))
  names = zipfile.ZipFile(wheel).namelist()
  shipped = sorted(n for n in names if n.startswith('pic_tf/assets/cifar10_demo/'))
  expected = sorted('pic_tf/assets/cifar10_demo/' + f.name
                    for f in pathlib.Path(storage.DEMO_MODEL).iterdir())
  assert shipped == expected
  assert sum(n.startswith('pic_tf/assets/cifar10_test/') and n.endswith('.png')
             for n in names) == 64
  # The programs as modules; no copied scripts, and nothing of the parity harness.
  programs = ('train', 'eval', 'colorize', 'export', 'convert_original', 'benchmark')
  assert {f'pic_tf/cli/{p}.py' for p in programs} <= set(names)
  assert not [n for n in names if '_bin' in n or 'parity' in n or 'stats' in n or
              n.startswith('tests/')], names
  # PyPI's page (README as the long description) links nothing that only the repository has.
  metadata = zipfile.ZipFile(wheel).read(
      next(n for n in names if n.endswith('.dist-info/METADATA'))).decode()
  description = metadata.split('\n\n', 1)[1]
  assert 'pic-tf-colorize' in description or 'bin/colorize' in description
  assert not re.findall(r'\]\((?![a-z]+://)[^)]*\)', description), 'relative links'
  # Installed from the wheel alone (its dependencies are this environment's), the console
  # script runs bin/colorize as README's first command does, from the wheel's own copy.
  site = tmp_path / 'site'
  result = subprocess.run([sys.executable, '-m', 'pip', 'install', '--no-deps', '--no-index', '-q',
                           '--target', str(site), str(wheel)], capture_output=True, text=True,
                          check=False)
  assert result.returncode == 0, result.stderr[-2000:]
  env = dict(os.environ, PYTHONPATH=str(site))
  result = subprocess.run([str(site / 'bin' / 'pic-tf-colorize'), '--dataset=cifar10_bundled',
                           '--num_images=4', f'--output_dir={tmp_path / "x"}'],
                          capture_output=True, text=True, check=False, cwd=str(tmp_path), env=env)
  assert result.returncode == 0, result.stderr[-3000:]
  assert (tmp_path / 'x' / 'cifar10_bundled_test_grid.png').is_file()
  assert str(site / 'pic_tf' / 'assets' / 'cifar10_demo') in result.stderr
