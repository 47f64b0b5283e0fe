"""Input pipelines (tf.data end to end): CIFAR-10, ImageNet 2012 and folders of photos.

Every source yields uint8 RGB images ``[S, S, 3]`` at the config's image size
(:func:`pic_tf.data.preprocess.resize_image`); batches are then converted in-graph
into the model's inputs (:func:`pic_tf.data.preprocess.model_inputs`).

For datasets that fit in memory the training order is a pure function of
``(seed, step)``: each epoch is a permutation with its own seed and batches never
straddle epochs, so a run resumed at step k reads exactly the batches an
uninterrupted run would (:func:`train_dataset`). The random horizontal flip, also a
function of ``(seed, step)``, is applied to the full-resolution batch before
downsampling, as the original.
"""

import concurrent.futures
import os
import shutil
import zlib

import numpy as np
import tensorflow as tf

from pic_tf import data
from pic_tf.data import image_io
from pic_tf.data import preprocess
from pic_tf import errors
from pic_tf.errors import DatasetError
from pic_tf import progress

FOLDER_TEST_PERCENT = 10
CACHE_BYTES = 1 << 30   # training images are cached in memory below this size

# Where tfds looks for the ImageNet archives (it cannot download them itself).
IMAGENET_MANUAL = """\
ImageNet 2012 must be downloaded by hand (register at https://image-net.org) and
prepared once by tensorflow-datasets:
  1. put ILSVRC2012_img_train.tar and ILSVRC2012_img_val.tar into
     {data_dir}/downloads/manual/
  2. train on imagenet2012 with that data directory (the first run extracts and
     prepares them; this takes hours and ~300 GB of disk)."""

# Where the cifar10_bundled images are: inside the package.
BUNDLED_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                           'assets', 'cifar10_test')

# A dataset's download URL is asked once, without retries, before a download starts, so
# that an offline machine fails in seconds (tfds itself retries for minutes) and leaves
# nothing behind.
REACHABLE_TIMEOUT_S = 15


def default_data_dir():
  """``$TFDS_DATA_DIR`` or tensorflow-datasets' default (``~/tensorflow_datasets``)."""
  return os.environ.get('TFDS_DATA_DIR', os.path.expanduser('~/tensorflow_datasets'))


def _tfds_split(name, split, data_dir, download):
  """A tfds split's images (uint8, on-disk order), with one clear error if unavailable."""
  # Imported here: it takes seconds, and folder and bundled datasets never need it.
  import tensorflow_datasets as tfds  # pylint: disable=import-outside-toplevel
  data_dir = data_dir or default_data_dir()
  builder = tfds.builder(name, data_dir=data_dir)
  if not builder.is_prepared():
    if name == data.IMAGENET:
      manual = os.path.join(data_dir, 'downloads', 'manual')
      if not all(os.path.exists(os.path.join(manual, f)) for f in
                 ('ILSVRC2012_img_train.tar', 'ILSVRC2012_img_val.tar')):
        raise DatasetError(f'imagenet2012 is not prepared in {data_dir}.\n' +
                           IMAGENET_MANUAL.format(data_dir=data_dir))
    if not download:
      raise DatasetError(f'{name} is not prepared in {data_dir} and downloads are off: '
                         f'point the data directory to one holding a prepared {name}, or '
                         'allow the download')
    offline = (f'Offline, point the data directory to one with a prepared {name} '
               '(tensorflow_datasets layout).')
    problem = _unreachable(data.DATASETS[name].download_url)
    if problem:
      raise DatasetError(f'{name} is not in {data_dir} and cannot be downloaded: '
                         f'{problem}. {offline}')
    before = _entries(data_dir)
    try:
      builder.download_and_prepare()
    except BaseException as e:  # pylint: disable=broad-except
      _remove_new_entries(data_dir, before)   # no half-made dataset folders
      if not isinstance(e, Exception):
        raise   # Ctrl-C
      raise DatasetError(
          f'{name} is not in {data_dir} and could not be downloaded '
          f'({errors.first_line(e)[:200]}). {offline}') from None
  # No tfds auto-cache: callers read a split once (training loads it into memory),
  # and a cached split read partly (the first N examples) only warns and is discarded.
  ds = builder.as_dataset(split=split, shuffle_files=False,
                          read_config=tfds.ReadConfig(try_autocache=False))
  return ds.map(lambda ex: ex['image'], num_parallel_calls=tf.data.AUTOTUNE), \
      builder.info.splits[split].num_examples


def _unreachable(url):
  """None if ``url`` answers (or is None), else why not, in a few words."""
  if url is None:
    return None
  # Imported here: only a download needs it (tensorflow-datasets depends on it).
  import requests  # pylint: disable=import-outside-toplevel
  try:
    with requests.Session() as session:   # no retries: one answer, fast
      session.head(url, timeout=REACHABLE_TIMEOUT_S, allow_redirects=True)
  except Exception as e:  # pylint: disable=broad-except
    reason = errors.first_line(e)
    for marker in ('Name or service not known', 'Temporary failure in name resolution',
                   'timed out', 'Connection refused', 'Network is unreachable'):
      if marker in reason:
        reason = marker
    return f'{url.split("/")[2]} is unreachable ({reason[:160]})'
  return None


def _entries(data_dir):
  """What exists under a tfds directory, two levels deep (datasets, downloads); None if
  the directory does not exist."""
  if not os.path.isdir(data_dir):
    return None
  found = set()
  for name in os.listdir(data_dir):
    path = os.path.join(data_dir, name)
    found.add(path)
    if os.path.isdir(path):
      found.update(os.path.join(path, sub) for sub in os.listdir(path))
  return found


def _remove_new_entries(data_dir, before):
  """Removes what a failed download created under ``data_dir`` (``data_dir`` itself too
  if it did not exist: ``before`` is None)."""
  if before is None:
    shutil.rmtree(data_dir, ignore_errors=True)
    return
  for path in sorted((_entries(data_dir) or set()) - before):
    if os.path.isdir(path) and not os.path.islink(path):
      shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
      os.remove(path)


def folder_files(path, split):
  """Sorted image files of a folder tree for ``split``, split deterministically.

  Every format bin/colorize reads counts (``image_io.EXTENSIONS``). A file belongs to
  the test split when the CRC32 of its path relative to ``path`` falls in the lowest
  ``FOLDER_TEST_PERCENT`` percent: adding photos never moves existing ones between
  splits.
  """
  if not os.path.isdir(path):
    raise DatasetError(f'folder dataset {path} does not exist or is not a directory')
  files = image_io.images_under(path)
  if not files:
    raise DatasetError(f'no images ({", ".join(image_io.EXTENSIONS)}) found under {path}')

  def is_test(f):
    rel = os.path.relpath(f, path).encode('utf-8')
    return zlib.crc32(rel) % 100 < FOLDER_TEST_PERCENT

  chosen = [f for f in files if is_test(f) == (split == 'test')]
  if not chosen:
    raise DatasetError(f'the {split} split of {path} is empty '
                       f'({progress.count(len(files), "image")} in all); '
                       'add more images')
  return chosen


def _read_photo(path, tensorflow_decodes):
  """An image file of a dataset, uint8 ``[H, W, 3]``, as bin/colorize reads it: decoded
  in the graph where TensorFlow decodes it alike (:func:`image_io.tensorflow_decodes`),
  else by Pillow (``image_io``), which holds Python's lock."""
  image = tf.cond(
      tensorflow_decodes, lambda: _decode(tf.io.read_file(path)),
      lambda: tf.numpy_function(lambda p: image_io.read_image(p.decode('utf-8'))[0], [path],
                                tf.uint8, stateful=False))
  return tf.ensure_shape(image, [None, None, 3])


def _decode(encoded):
  """JPEG, PNG or BMP bytes -> uint8 ``[H, W, 3]``, the pixels Pillow gives (JPEG with the
  accurate integer DCT, as Pillow; TensorFlow's default, the fast one, is up to 5
  levels off)."""
  return tf.cond(
      tf.io.is_jpeg(encoded),
      lambda: tf.io.decode_jpeg(encoded, channels=3, dct_method='INTEGER_ACCURATE'),
      lambda: tf.io.decode_image(encoded, channels=3, expand_animations=False))


def _photos(files, decodable):
  """The dataset of uint8 images of ``files`` (in order); ``decodable``: whether
  TensorFlow decodes each (see :func:`_read_photo`)."""
  return tf.data.Dataset.from_tensor_slices((files, decodable)).map(
      _read_photo, num_parallel_calls=tf.data.AUTOTUNE)


# A photo is gray when fewer than GRAY_PIXELS of its pixels have channels further apart
# than GRAY_SPREAD levels (JPEG's chroma noise on a gray photo stays below both).
GRAY_SPREAD = 6
GRAY_PIXELS = 0.01
# Training on a folder is refused when more than this share of its photos are gray: such
# a run mostly learns to colour nothing. A few are fine (ImageNet, the paper's data,
# holds some gray photos).
MAX_GRAY_SHARE = 0.5


def is_gray(image):
  """Whether a uint8 ``[H, W, 3]`` image holds (nearly) no colour (:data:`GRAY_SPREAD`)."""
  spread = image.max(axis=-1).astype(np.int16) - image.min(axis=-1)
  return float(np.mean(spread > GRAY_SPREAD)) < GRAY_PIXELS


def check_images(files):
  """Decodes every file before training starts: a damaged photo must not stop a run
  hours in. Pillow decodes on a few threads (without Python's lock).

  Returns:
    ``(gray, decodable)``: the paths of the gray photos (:func:`is_gray`), and for each
    file whether TensorFlow decodes it (:func:`image_io.tensorflow_decodes`).

  Raises:
    DatasetError: naming every file that cannot be read, and why.
  """
  def read(path):
    try:
      return None, is_gray(image_io.read_image(path)[0]), image_io.tensorflow_decodes(path)
    except errors.ImageError as e:
      return str(e), False, False

  with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 1) as pool:
    found = list(pool.map(read, files))
  bad = [problem for problem, _, _ in found if problem]
  if bad:
    shown = '\n  '.join(bad[:10]) + (f'\n  ... and {len(bad) - 10} more' if len(bad) > 10 else '')
    raise DatasetError(f'{len(bad)} of {progress.count(len(files), "image")} cannot be read:'
                       f'\n  {shown}\n'
                       'Remove or repair them.')
  return ([path for path, (_, gray, _) in zip(files, found) if gray],
          [decodable for _, _, decodable in found])


def load_images(dataset, split, image_size, data_dir=None, download=True):
  """The uint8 images of a split, in a fixed order.

  Args:
    dataset: a name of :data:`pic_tf.data.DATASETS` or ``'folder:PATH'``.
    split: ``'train'`` or ``'test'`` (ImageNet's validation set is its test split).
    image_size: side the images are resized to (whole image, bicubic).
    data_dir: tensorflow-datasets directory.
    download: let tfds download a missing dataset (CIFAR-10 only).

  Returns:
    ``(tf.data.Dataset of uint8 [S, S, 3], number of examples)``.

  Raises:
    DatasetError: unknown or unavailable dataset, unreadable images.
  """
  if split not in ('train', 'test'):
    raise DatasetError(f'split must be train or test, got {split!r}')
  if data.is_folder(dataset):
    files = folder_files(data.folder_path(dataset), split)
    gray, decodable = check_images(files)
    if split == 'train' and len(gray) > MAX_GRAY_SHARE * len(files):
      raise DatasetError(
          f'{len(gray)} of the {len(files)} training photos under {data.folder_path(dataset)} '
          f'are gray (e.g. {gray[0]}): they hold no colour to learn, and a model trained on '
          f'more than {MAX_GRAY_SHARE:.0%} gray photos mostly learns to colour nothing. '
          'Train on colour photos (gray ones among them are fine)')
    ds = _photos(files, decodable)
    count = len(files)
  elif dataset == data.CIFAR10_BUNDLED:
    if split != 'test':
      raise DatasetError(f'{dataset} holds only the first 64 CIFAR-10 test images (shipped '
                         f'with pic_tf, for colourising and evaluation): use {data.CIFAR10} '
                         'for the train split')
    files = sorted(os.path.join(BUNDLED_DIR, f) for f in os.listdir(BUNDLED_DIR)
                   if f.endswith('.png'))
    ds = _photos(files, [image_io.tensorflow_decodes(f) for f in files])
    count = len(files)
  elif dataset in data.DATASETS:
    ds, count = _tfds_split(dataset, data.DATASETS[dataset].splits[split], data_dir,
                            download)
  else:
    raise DatasetError(f'unknown dataset {dataset!r}: use {data.NAMES_HELP}')
  ds = ds.map(lambda im: preprocess.resize_image(im, image_size),
              num_parallel_calls=tf.data.AUTOTUNE)
  return ds, count


def flip_batch(images, seed, step, mode):
  """Random horizontal flips of a uint8 batch ``[B, H, W, 3]``, a function of (seed, step).

  Args:
    mode: ``'batch'`` (one coin for the whole batch, the original), ``'image'``
      (one coin per image) or ``'none'``.
  """
  if mode == 'none':
    return images
  key = tf.stack([tf.cast(seed, tf.int64), tf.cast(step, tf.int64)])
  if mode == 'batch':
    coin = tf.random.stateless_uniform([], seed=key) < 0.5
    return tf.cond(coin, lambda: tf.reverse(images, [2]), lambda: images)
  coins = tf.random.stateless_uniform([tf.shape(images)[0]], seed=key) < 0.5
  return tf.where(coins[:, None, None, None], tf.reverse(images, [2]), images)


def steps_per_epoch(num_examples, batch_size):
  """Full batches per epoch (the last partial batch is dropped, as the original)."""
  return max(num_examples // batch_size, 1)


def load_all(images, count, size):
  """All images of a dataset as one uint8 tensor ``[N, S, S, 3]``."""
  return tf.concat([batch for batch in images.batch(4096)], axis=0) if count else \
      tf.zeros([0, size, size, 3], tf.uint8)


def train_dataset(config, data_dir=None, start_step=0, download=True):
  """Infinite training batches of preprocessed inputs, starting at ``start_step``.

  Datasets that fit in memory (``CACHE_BYTES``; CIFAR-10 takes 150 MB) are loaded
  once and every epoch is a full permutation seeded by ``(seed, epoch)``, as the
  original's ``np.random.permutation``: step k's batch is a pure function of
  ``(seed, k)``, so resuming is exact and costs nothing. Larger datasets (ImageNet)
  stream through a ``train.shuffle_buffer`` shuffle; a resumed run continues with a
  new order seeded by ``(seed, start_step)``.

  Args:
    config: a :class:`pic_tf.configs.Config`.
    data_dir: tensorflow-datasets directory.
    start_step: number of batches already consumed (resumption).
    download: allow tfds downloads.

  Returns:
    ``(dataset, steps_per_epoch)``; elements are the input dicts of
    :func:`pic_tf.data.preprocess.model_inputs`, the first one for step ``start_step``.
  """
  train = config.train
  size = config.model.image_size
  images, count = load_images(config.dataset, 'train', size, data_dir, download)
  per_epoch = steps_per_epoch(count, train.batch_size)
  if count * size * size * 3 <= CACHE_BYTES:
    all_images = load_all(images, count, size)
    if count < train.batch_size:   # tiny folders: repeat to fill one batch
      all_images = tf.tile(all_images, [-(-train.batch_size // count), 1, 1, 1])
    n = int(all_images.shape[0])

    def epoch(e):
      order = tf.random.experimental.stateless_shuffle(
          tf.range(n, dtype=tf.int64), seed=tf.stack([tf.cast(train.seed, tf.int64), e]))
      return tf.data.Dataset.from_tensor_slices(order).batch(
          train.batch_size, drop_remainder=True).take(per_epoch)

    first_epoch = start_step // per_epoch
    batches = tf.data.Dataset.range(first_epoch, 2**62).flat_map(epoch)
    batches = batches.skip(start_step - first_epoch * per_epoch)
    batches = batches.map(lambda idx: tf.gather(all_images, idx))
  else:
    shuffled = images.shuffle(train.shuffle_buffer, seed=train.seed * 1_000_003 + start_step)
    batches = shuffled.batch(train.batch_size, drop_remainder=True).repeat()
  ds = tf.data.Dataset.zip(tf.data.Dataset.range(start_step, 2**62), batches)

  def prepare(step, batch):
    batch = flip_batch(batch, train.seed, step, train.flip)
    return preprocess.model_inputs(batch, config.model.downsample)

  ds = ds.map(prepare, num_parallel_calls=tf.data.AUTOTUNE)
  return ds.prefetch(tf.data.AUTOTUNE), per_epoch


def eval_dataset(config, batch_size, num_examples=0, data_dir=None, download=True,
                 split='test'):
  """Batches of preprocessed test inputs (no flips), in the split's fixed order.

  Args:
    num_examples: the first ``num_examples`` examples only (0: the whole split).

  Returns:
    ``(dataset of input dicts, number of examples)``; the last batch may be smaller.
  """
  images, count = load_images(config.dataset, split, config.model.image_size, data_dir,
                              download)
  if num_examples:
    images = images.take(num_examples)
    count = min(count, num_examples)
  ds = images.batch(batch_size).map(
      lambda b: preprocess.model_inputs(b, config.model.downsample),
      num_parallel_calls=tf.data.AUTOTUNE)
  return ds.prefetch(tf.data.AUTOTUNE), count
