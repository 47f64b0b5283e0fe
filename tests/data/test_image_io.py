"""Image files: awkward but valid formats are read, broken ones give one clear error."""

import os
import pathlib
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from pic_tf.data import image_io
from pic_tf.errors import ImageError
from pic_tf.storage import fileutil

TESTDATA = pathlib.Path(__file__).resolve().parents[2] / 'testdata'


@pytest.fixture(scope='module')
def scene():
  return np.asarray(Image.open(TESTDATA / 'scene.png').convert('RGB'))


@pytest.mark.parametrize('name,is_color', [
    ('scene.png', True), ('scene_500x375.jpg', True), ('cmyk.jpg', True),
    ('exif_rotated.jpg', True), ('rgba.png', True), ('palette.png', True),
    ('gray.png', False), ('gray16.png', False)])
def test_awkward_formats_are_read_upright_as_rgb(name, is_color, scene):
  image, color = image_io.read_image(str(TESTDATA / name))
  assert image.shape == (375, 500, 3) and image.dtype == np.uint8
  assert color == is_color
  if name in ('scene_500x375.jpg', 'cmyk.jpg', 'exif_rotated.jpg', 'palette.png'):
    # Same picture as the PNG, up to JPEG / palette loss (and upright after EXIF).
    assert np.abs(image.astype(int) - scene).mean() < 12


def test_sixteen_bit_gray_is_scaled_not_clipped():
  gray8, _ = image_io.read_image(str(TESTDATA / 'gray.png'))
  gray16, _ = image_io.read_image(str(TESTDATA / 'gray16.png'))
  np.testing.assert_array_equal(gray8, gray16)


@pytest.mark.parametrize('mode,values,expected', [
    ('F', [0.0, 0.5, 1.0], [0, 128, 255]),               # float TIFF: [0, 1]
    ('I;16', [0, 32768, 65535], [0, 128, 255]),          # 16-bit
    ('I', [0, 257, 65535], [0, 1, 255])])                # 32-bit integer: read as 16-bit
def test_high_bit_depth_images_become_the_right_gray_levels(tmp_path, mode, values, expected):
  dtype = {'F': np.float32, 'I;16': np.uint16, 'I': np.int32}[mode]
  path = str(tmp_path / ('image.png' if mode == 'I;16' else 'image.tif'))
  Image.fromarray(np.array([values] * 2, dtype)).save(path)
  assert Image.open(path).mode == mode
  image, is_color = image_io.read_image(path)
  np.testing.assert_array_equal(image[0, :, 0], expected)
  assert not is_color


@pytest.mark.parametrize('mode,values,match', [
    ('F', [0.0, 100.0], r'float values span \[0, 100\] \(mode F\), outside the \[0, 1\]'),
    ('F', [0.0, np.nan], 'float values'),
    ('I', [-5, 10], r'integer values span \[-5, 10\] \(mode I\)')])
def test_high_bit_depth_values_out_of_range_are_refused(tmp_path, mode, values, match):
  dtype = {'F': np.float32, 'I': np.int32}[mode]
  path = str(tmp_path / 'image.tif')
  Image.fromarray(np.array([values] * 2, dtype)).save(path)
  with pytest.raises(ImageError, match=match):
    image_io.read_image(path)


def test_alpha_is_composited_over_white(scene):
  image, _ = image_io.read_image(str(TESTDATA / 'rgba.png'))
  np.testing.assert_array_equal(image[:40, :40], 255)     # fully transparent corner
  assert np.abs(image[100:, 100:].astype(int) - scene[100:, 100:]).mean() < 40


@pytest.mark.parametrize('name,match', [('truncated.jpg', 'damaged or truncated'),
                                        ('not_an_image.png', 'not an image'),
                                        ('missing.png', 'no such file')])
def test_broken_files(name, match):
  with pytest.raises(ImageError, match=match):
    image_io.read_image(str(TESTDATA / name))


def test_files_that_would_hang_or_exhaust_memory_are_refused_unread(tmp_path):
  # A header claiming 10^10 pixels (Pillow's DecompressionBombError, made one line).
  chunk = lambda kind, data: (struct.pack('>I', len(data)) + kind + data +
                              struct.pack('>I', zlib.crc32(kind + data)))
  (tmp_path / 'bomb.png').write_bytes(
      b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', 100000, 100000, 8, 2, 0, 0, 0))
      + chunk(b'IEND', b''))
  with pytest.raises(ImageError, match='claims 100000x100000 pixels, more than the 89 '):
    image_io.read_image(str(tmp_path / 'bomb.png'))
  os.mkfifo(tmp_path / 'pipe.png')   # opening it would block forever
  with pytest.raises(ImageError, match='pipe.png: not a regular file'):
    image_io.read_image(str(tmp_path / 'pipe.png'))
  with pytest.raises(ImageError, match='is a folder'):
    image_io.read_image(str(tmp_path))


def test_expand_inputs(tmp_path):
  files, problems = image_io.expand_inputs([str(TESTDATA), str(TESTDATA / 'scene*.*'),
                                            str(tmp_path / 'none*.png'), str(tmp_path)])
  assert str(TESTDATA / 'scene.png') in files and len(files) == len(set(files))
  assert not any(f.endswith(('.md', '.py')) for f in files)
  assert len(problems) == 2


def _write_png(path, image):
  fileutil.write_bytes(image_io.encode_png(image), path)


def test_write_png_is_atomic_and_exact(tmp_path):
  image = np.random.default_rng(0).integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
  path = tmp_path / 'out' / 'x.png'
  _write_png(str(path), image)
  np.testing.assert_array_equal(np.asarray(Image.open(path)), image)
  assert os.listdir(tmp_path / 'out') == ['x.png']
  with pytest.raises(Exception):
    _write_png(str(tmp_path / 'out' / 'bad.png'), np.zeros((2, 2, 7)))
  assert os.listdir(tmp_path / 'out') == ['x.png']   # nothing half-written left


def test_write_png_gets_the_umask_mode_not_a_private_one(tmp_path):
  old = os.umask(0o022)
  try:
    _write_png(str(tmp_path / 'x.png'), np.zeros((2, 2, 3), np.uint8))
  finally:
    os.umask(old)
  assert (tmp_path / 'x.png').stat().st_mode & 0o777 == 0o644


def test_grid_layout():
  a = np.zeros((4, 6, 3), np.uint8)
  b = np.full((2, 3, 3), 9, np.uint8)
  out = image_io.grid([[a, b], [b]], gap=1, background=255)
  assert out.shape == (4 + 1 + 2, 6 + 1 + 3, 3)
  assert (out[0, 6] == 255).all() and (out[0, 7] == 9).all() and (out[5, 0] == 9).all()
  big = image_io.grid([[np.zeros((1000, 10, 3), np.uint8)]], max_cell_height=512)
  assert big.shape[0] <= 512
