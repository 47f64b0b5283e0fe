"""Input pipelines: tfds CIFAR-10, folders of photos, flips, deterministic order, errors."""

import os
import pathlib
import shutil

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from pic_tf import configs
from pic_tf.data import datasets
from pic_tf.data import image_io
from pic_tf.data import preprocess
from pic_tf.errors import DatasetError

TESTDATA = pathlib.Path(__file__).resolve().parents[2] / 'testdata'


def _write_images(folder, count, size=(20, 14), seed=0):
  rng = np.random.default_rng(seed)
  os.makedirs(folder, exist_ok=True)
  paths = []
  for i in range(count):
    image = rng.integers(0, 256, size=size + (3,), dtype=np.uint8)
    sub = os.path.join(folder, f'sub{i % 3}')
    os.makedirs(sub, exist_ok=True)
    path = os.path.join(sub, f'img{i:03d}.png' if i % 2 else f'img{i:03d}.jpg')
    encoded = tf.io.encode_png(image) if i % 2 else tf.io.encode_jpeg(image)
    tf.io.write_file(path, encoded)
    paths.append(path)
  return paths


def _tiny(dataset, **train):
  cfg = configs.override(configs.tiny(), [f'dataset={dataset}'] +
                        [f'train.{k}={v}' for k, v in train.items()])
  return cfg


def test_cifar10_from_offline_tfds(tfds_dir):
  images, count = datasets.load_images('cifar10', 'test', 32, str(tfds_dir), download=False)
  assert count == 10_000
  first = next(iter(images))
  assert first.shape == (32, 32, 3) and first.dtype == tf.uint8
  # CIFAR-10 is used as it is: no resizing at 32x32.
  raw = next(iter(__import__('tensorflow_datasets').load(
      'cifar10', split='test', data_dir=str(tfds_dir), download=False, shuffle_files=False)))
  np.testing.assert_array_equal(first, raw['image'])


def test_missing_dataset_offline_is_one_clear_error(tmp_path):
  with pytest.raises(DatasetError, match='not prepared in .* downloads are off'):
    datasets.load_images('cifar10', 'train', 32, str(tmp_path), download=False)
  with pytest.raises(DatasetError, match='ILSVRC2012_img_train.tar'):
    datasets.load_images('imagenet2012', 'test', 128, str(tmp_path))
  with pytest.raises(DatasetError, match='unknown dataset'):
    datasets.load_images('mnist', 'train', 32, str(tmp_path))


def test_folder_dataset_split_and_resize(tmp_path):
  paths = _write_images(str(tmp_path / 'photos'), 40)
  train = datasets.folder_files(str(tmp_path / 'photos'), 'train')
  test = datasets.folder_files(str(tmp_path / 'photos'), 'test')
  assert sorted(train + test) == sorted(paths) and not set(train) & set(test)
  assert test, 'expected a few test images among 40'
  # Deterministic and stable when photos are added.
  _write_images(str(tmp_path / 'photos' / 'more'), 10, seed=1)
  assert set(test) <= set(datasets.folder_files(str(tmp_path / 'photos'), 'test'))
  images, count = datasets.load_images(f'folder:{tmp_path / "photos"}', 'train', 8)
  batch = next(iter(images.batch(64)))
  assert batch.shape == (count, 8, 8, 3) and batch.dtype == tf.uint8


def test_folder_errors(tmp_path):
  with pytest.raises(DatasetError, match='does not exist'):
    datasets.load_images(f'folder:{tmp_path / "nope"}', 'train', 8)
  os.makedirs(tmp_path / 'empty')
  with pytest.raises(DatasetError, match='no images'):
    datasets.load_images(f'folder:{tmp_path / "empty"}', 'train', 8)
  folder = tmp_path / 'broken'
  _write_images(str(folder), 30)
  (folder / 'notes.jpg').write_text('this is not an image')
  good = (folder / 'sub1' / 'img001.png').read_bytes()
  (folder / 'truncated.png').write_bytes(good[:len(good) // 2])
  bad = [str(folder / 'notes.jpg'), str(folder / 'truncated.png')]
  why = {bad[0]: 'not an image file', bad[1]: 'cannot decode the image'}
  for split in ('train', 'test'):
    files = datasets.folder_files(str(folder), split)
    expected = [f for f in bad if f in files]
    if expected:
      with pytest.raises(DatasetError, match='cannot be read') as info:
        datasets.load_images(f'folder:{folder}', split, 8)
      for f in expected:
        assert f'{f}: {why[f]}' in str(info.value)


def _scene(seed, gray=False, size=(48, 64)):
  """A smooth colour photo (sky over grass), or its gray version."""
  rng = np.random.default_rng(seed)
  y = np.linspace(0, 1, size[0])[:, None, None]
  sky, ground = rng.integers(0, 256, size=(2, 3))
  image = np.where(y < 0.5, sky, ground) * np.ones((1, size[1], 1)) + rng.normal(0, 3, size + (3,))
  image = np.clip(image, 0, 255).astype(np.uint8)
  return np.repeat(image.mean(-1, keepdims=True).astype(np.uint8), 3, -1) if gray else image


def test_gray_photos_are_told_apart_from_colour_ones(tmp_path):
  gray, colour = _scene(0, gray=True), _scene(0)
  Image.fromarray(gray).save(tmp_path / 'gray.jpg', quality=75)   # JPEG's chroma noise
  jpeg = np.asarray(Image.open(tmp_path / 'gray.jpg'))
  logo = gray.copy()
  logo[:2, :10] = [255, 0, 0]   # 20 red pixels of 3072: a watermark, not colour
  sepia = np.clip(gray * np.array([1.0, 0.85, 0.65]), 0, 255).astype(np.uint8)
  assert [datasets.is_gray(i) for i in (gray, jpeg, logo)] == [True] * 3
  assert [datasets.is_gray(i) for i in (colour, sepia)] == [False] * 2


def test_a_folder_of_gray_photos_is_refused_before_training(tmp_path):
  """More than half gray: refused, counted, before training; a few among colour ones
  are fine."""
  folder = tmp_path / 'gray'
  folder.mkdir()
  for i in range(24):
    Image.fromarray(_scene(i, gray=True)).convert('L').save(folder / f'{i:02d}.png')
  train = datasets.folder_files(str(folder), 'train')
  with pytest.raises(DatasetError, match=f'{len(train)} of the {len(train)} training photos '
                     f'under {folder} are gray') as info:
    datasets.load_images(f'folder:{folder}', 'train', 8)
  assert 'more than 50% gray' in str(info.value)
  datasets.load_images(f'folder:{folder}', 'test', 8)   # scoring gray photos is allowed
  mixed = tmp_path / 'mixed'
  mixed.mkdir()
  for i in range(24):
    Image.fromarray(_scene(i, gray=i % 8 == 0)).save(mixed / f'{i:02d}.png')
  _, count = datasets.load_images(f'folder:{mixed}', 'train', 8)
  assert count == len(datasets.folder_files(str(mixed), 'train'))


def test_every_format_bin_colorize_reads_is_a_training_photo(tmp_path):
  """PNG, JPEG, TIFF, WebP and BMP photos train side by side, read as bin/colorize reads."""
  folder = tmp_path / 'mixed'
  (folder / 'sub').mkdir(parents=True)
  rng = np.random.default_rng(3)
  kinds = ('png', 'jpg', 'tif', 'webp', 'bmp', 'TIFF')
  written = {}
  for i in range(36):
    pixels = rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8)
    path = folder / ('sub' if i % 2 else '') / f'{i:02d}.{kinds[i % len(kinds)]}'
    options = {'.webp': {'lossless': True}, '.jpg': {'quality': 100, 'subsampling': 0}}
    Image.fromarray(pixels).save(path, **options.get(path.suffix, {}))
    written[str(path)] = pixels
  (folder / 'notes.txt').write_text('not a photo, not read')
  files = datasets.folder_files(str(folder), 'train') + datasets.folder_files(str(folder), 'test')
  assert sorted(files) == sorted(written)
  for split in ('train', 'test'):
    chosen = datasets.folder_files(str(folder), split)
    images, count = datasets.load_images(f'folder:{folder}', split, 8)
    assert count == len(chosen)
    for path, image in zip(chosen, images):
      if path.endswith('.jpg'):   # lossy: close to what was written
        assert np.abs(image.numpy().astype(int) - written[path]).max() <= 8
      else:                       # lossless: exactly what was written
        np.testing.assert_array_equal(image, written[path], err_msg=path)


def test_resize_is_whole_image_bicubic():
  image = np.zeros((40, 20, 3), np.uint8)
  image[:, :10] = 255
  out = preprocess.resize_image(image, 16).numpy()
  assert out.shape == (16, 16, 3)
  assert out[:, :6].min() > 240 and out[:, 10:].max() < 15   # left half stays left: no crop
  same = np.arange(8 * 8 * 3, dtype=np.uint8).reshape(8, 8, 3)
  np.testing.assert_array_equal(preprocess.resize_image(same, 8), same)


def test_flips():
  images = tf.constant(np.arange(4 * 2 * 3 * 3, dtype=np.uint8).reshape(4, 2, 3, 3))
  flipped = images[:, :, ::-1]
  assert np.array_equal(datasets.flip_batch(images, 0, 5, 'none'), images)
  outcomes = set()
  for step in range(20):
    out = datasets.flip_batch(images, 0, step, 'batch').numpy()
    assert np.array_equal(out, images) or np.array_equal(out, flipped)   # all or nothing
    outcomes.add(np.array_equal(out, flipped))
    np.testing.assert_array_equal(out, datasets.flip_batch(images, 0, step, 'batch'))
  assert outcomes == {True, False}
  mixed = False
  for step in range(20):
    out = datasets.flip_batch(images, 0, step, 'image').numpy()
    per_image = [np.array_equal(out[i], flipped[i]) for i in range(4)]
    for i in range(4):
      assert np.array_equal(out[i], images[i]) or per_image[i]
    mixed |= len(set(per_image)) == 2
  assert mixed


def test_flip_happens_before_downsampling(tmp_path):
  """A flipped batch is subsampled after the flip: columns W-1, W-3, ... (the original)."""
  _write_images(str(tmp_path / 'p'), 40)
  plain, _ = datasets.train_dataset(_tiny(f'folder:{tmp_path / "p"}', batch_size=4, flip='none'))
  flips, _ = datasets.train_dataset(_tiny(f'folder:{tmp_path / "p"}', batch_size=4, flip='batch'))
  seen = set()
  for a, b in zip(plain.take(12), flips.take(12)):
    flipped = not np.array_equal(a['gray'], b['gray'])
    seen.add(flipped)
    if flipped:
      np.testing.assert_array_equal(b['gray'], a['gray'][:, :, ::-1])
      np.testing.assert_allclose(b['lab_down'][..., 0], a['gray'][:, ::2, ::-1, 0][:, :, ::2],
                                 atol=1e-6)
  assert seen == {True, False}


def test_train_order_is_a_function_of_seed_and_step(tmp_path):
  _write_images(str(tmp_path / 'p'), 60)
  cfg = _tiny(f'folder:{tmp_path / "p"}', batch_size=4, flip='image')
  full, per_epoch = datasets.train_dataset(cfg)
  batches = [b['canvas'].numpy() for b in full.take(per_epoch + 3)]
  resumed, _ = datasets.train_dataset(cfg, start_step=per_epoch - 2)
  for k, b in enumerate(resumed.take(5)):
    np.testing.assert_array_equal(b['canvas'], batches[per_epoch - 2 + k])
  # Epochs are permutations: every training image once per epoch.
  assert per_epoch == len(datasets.folder_files(str(tmp_path / 'p'), 'train')) // 4
  other_seed, _ = datasets.train_dataset(_tiny(f'folder:{tmp_path / "p"}', batch_size=4, seed=1))
  assert not np.array_equal(next(iter(other_seed))['canvas'], batches[0])


@pytest.mark.slow   # reads the whole CIFAR-10 training split
def test_epoch_is_a_permutation(tfds_dir):
  cfg = configs.override(configs.cifar10(), ['train.flip=none', 'train.batch_size=1000'])
  ds, per_epoch = datasets.train_dataset(cfg, str(tfds_dir), download=False)
  assert per_epoch == 50
  keys = {g.tobytes() for b in ds.take(5) for g in b['gray'].numpy()}
  assert len(keys) >= 4995   # 5000 different images (CIFAR-10 has a few duplicates)


def test_eval_dataset(tfds_dir):
  ds, count = datasets.eval_dataset(configs.cifar10(), 64, 100, str(tfds_dir), download=False)
  sizes = [b['gray'].shape[0] for b in ds]
  assert count == 100 and sizes == [64, 36]
  first = next(iter(ds))
  assert first['gray'].shape == (64, 32, 32, 1) and first['lab_down'].shape == (64, 16, 16, 3)


def test_bundled_cifar10_test_images_need_no_download(tmp_path):
  images, count = datasets.load_images('cifar10_bundled', 'test', 32, str(tmp_path / 'empty'),
                                   download=False)
  images = np.stack(list(images.as_numpy_iterator()))
  assert count == 64 and images.shape == (64, 32, 32, 3) and images.dtype == np.uint8
  assert len({im.tobytes() for im in images}) == 64 and images.std() > 30
  with pytest.raises(DatasetError, match='holds only the first 64 CIFAR-10 test images'):
    datasets.load_images('cifar10_bundled', 'train', 32)


def test_bundled_images_are_the_first_cifar10_test_images(tfds_dir):
  bundled, _ = datasets.load_images('cifar10_bundled', 'test', 32)
  tfds_images, _ = datasets.load_images('cifar10', 'test', 32, str(tfds_dir), download=False)
  np.testing.assert_array_equal(np.stack(list(bundled.as_numpy_iterator())),
                                next(iter(tfds_images.batch(64))).numpy())


def test_download_path_imports_resolve_up_to_the_network(tmp_path, monkeypatch):
  """tfds's CIFAR-10 download_and_prepare, with the network replaced at the HTTP adapter.

  Every import on the download path must resolve (tensorflow-datasets 4.9.10 imports
  importlib_resources there but declares it only for Python < 3.9); the stub's error,
  not an ImportError, must come out, wrapped in pic_tf's one-line message.
  """
  import requests  # pylint: disable=import-outside-toplevel

  class NetworkStub(Exception):
    pass

  def send(self, request, **kwargs):  # pylint: disable=unused-argument
    if request.method == 'HEAD':   # pic_tf's reachability check: the host answers
      response = requests.Response()
      response.status_code, response.url, response.request = 200, request.url, request
      return response
    raise NetworkStub(f'network stub reached for {request.url}')

  monkeypatch.setattr(requests.adapters.HTTPAdapter, 'send', send)
  with pytest.raises(DatasetError) as info:
    datasets.load_images('cifar10', 'test', 32, str(tmp_path), download=True)
  message = str(info.value)
  print(message)
  assert 'network stub reached for https://www.cs.toronto.edu/' in message, message
  assert 'could not be downloaded' in message and 'point the data directory' in message
  assert not list(tmp_path.iterdir())   # the failed download left no half-made folders


def test_a_folder_decodes_in_tensorflow_what_it_can_and_gives_pillows_pixels(tmp_path):
  """JPEG, PNG and BMP decode in the tf.data graph; CMYK, EXIF-rotated, 16-bit, palette
  and alpha files go through Pillow. Either way each image equals bin/colorize's reading
  of the file (image_io.read_image) to the level."""
  names = ['scene.png', 'scene_500x375.jpg', 'cmyk.jpg', 'exif_rotated.jpg', 'rgba.png',
           'palette.png', 'gray.png', 'gray16.png', 'tiny_6x4.png']
  folder = tmp_path / 'photos'
  folder.mkdir()
  for name in names:
    shutil.copy(TESTDATA / name, folder / name)
  Image.open(TESTDATA / 'scene.png').convert('RGB').save(folder / 'scene.bmp')
  decodable = {name: image_io.tensorflow_decodes(str(folder / name))
               for name in os.listdir(folder)}
  assert decodable == {'scene.png': True, 'scene_500x375.jpg': True, 'cmyk.jpg': False,
                       'exif_rotated.jpg': False, 'rgba.png': False, 'palette.png': False,
                       'gray.png': True, 'gray16.png': False, 'tiny_6x4.png': True,
                       'scene.bmp': True}
  files = datasets.folder_files(str(folder), 'train')
  images, count = datasets.load_images(f'folder:{folder}', 'train', 16)
  assert count == len(files) == len(decodable)   # 10 photos: none in the test split
  for path, image in zip(files, images):
    expected = preprocess.resize_image(image_io.read_image(path)[0], 16)
    np.testing.assert_array_equal(image.numpy(), expected.numpy(), err_msg=path)
