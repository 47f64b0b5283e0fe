"""Images/s of the training input pipeline per CPU core (``bin/benchmark --mode=input_speed``),
and how many cores keep one GPU fed at the paper's CIFAR-10 config.

Two pipelines, each timed on one core (a tf.data thread pool of one thread) and on all:

- ``cifar10``: the paper config's training batches (:func:`pic_tf.data.datasets.train_dataset`:
  CIFAR-10 held in memory, gathered, flipped, converted to Lab and downsampled);
- ``photos``: a folder of 500x375 JPEG photos (ImageNet's typical size) decoded and
  resized, as every epoch of a folder over ``CACHE_BYTES`` does, written for the
  occasion into a temporary folder.
"""

import os
import tempfile
import time

import numpy as np
import tensorflow as tf

from pic_tf import progress
from pic_tf import configs
from pic_tf import data
from pic_tf.data import datasets
from pic_tf.model import devices

# One GPU's appetite at the paper's CIFAR-10 config: the paper's 9.5 GPU-hours for 150
# epochs of 50,000 images.
PAPER_GPU_IMAGES_PER_SECOND = 150 * 50_000 / (9.5 * 3600)
PHOTO_SIZE = (375, 500)   # height, width


def _with_threads(dataset, threads):
  options = tf.data.Options()
  options.threading.private_threadpool_size = threads
  options.threading.max_intra_op_parallelism = 1
  return dataset.with_options(options)


def _rate(dataset, images_per_element, elements, warmup=3):
  """Images/s of ``elements`` elements after ``warmup`` (the first fills buffers)."""
  iterator = iter(dataset)
  for _ in range(warmup):
    next(iterator)
  start = time.perf_counter()
  for _ in range(elements):
    next(iterator)
  return images_per_element * elements / (time.perf_counter() - start)


def _write_photos(folder, count, seed=0):
  """``count`` smooth colour JPEG photos of :data:`PHOTO_SIZE` with noise."""
  rng = np.random.default_rng(seed)
  height, width = PHOTO_SIZE
  yy, xx = np.mgrid[0:height, 0:width]
  for i in range(count):
    base = rng.uniform(0, 255, size=(3, 3))
    image = (base[0] + (base[1] - base[0]) * (yy / height)[..., None] +
             30 * np.sin(xx / rng.uniform(5, 40))[..., None])
    image = np.clip(image + rng.normal(0, 6, size=image.shape), 0, 255).astype(np.uint8)
    tf.io.write_file(os.path.join(folder, f'{i:04d}.jpg'), tf.io.encode_jpeg(image, quality=90))


def run(data_dir=None, photos=200, batches=40, log=progress.result):
  """Times both pipelines on one core and on all; logs a table and the cores per GPU.

  Args:
    data_dir: tensorflow-datasets directory holding CIFAR-10 (downloaded if missing).
    photos: photos in the temporary folder.
    batches: timed batches of 64 (CIFAR-10) per measurement.

  Returns:
    list of dicts ``{pipeline, threads, images_per_second}``.
  """
  cores = devices.cpu_cores()
  config = configs.cifar10()
  log(f'input pipeline speed: {batches} batches of {config.train.batch_size} CIFAR-10 '
      f'images (paper config), {photos} JPEG photos of {PHOTO_SIZE[1]}x{PHOTO_SIZE[0]}; '
      f'1 and {cores} cores')
  cifar, _ = datasets.train_dataset(config, data_dir)
  rows = []
  with tempfile.TemporaryDirectory() as folder:
    _write_photos(folder, photos)
    images, count = datasets.load_images(f'folder:{folder}', 'train', config.model.image_size)
    for threads in sorted({1, cores}):
      rows.append({'pipeline': data.CIFAR10, 'threads': threads, 'images_per_second': _rate(
          _with_threads(cifar, threads), config.train.batch_size, batches)})
      rows.append({'pipeline': 'photos', 'threads': threads, 'images_per_second': _rate(
          _with_threads(images.repeat(), threads), 1, 2 * count)})
  log(f'{"pipeline":<10}{"cores":>6}{"img/s":>10}{"img/s per core":>16}')
  for row in rows:
    log(f'{row["pipeline"]:<10}{row["threads"]:>6}{row["images_per_second"]:>10.0f}'
        f'{row["images_per_second"] / row["threads"]:>16.0f}')
  for name in (data.CIFAR10, 'photos'):
    one = next(r for r in rows if r['pipeline'] == name and r['threads'] == 1)
    cores_needed = PAPER_GPU_IMAGES_PER_SECOND / one['images_per_second']
    log(f'{name}: one GPU at the paper config takes {PAPER_GPU_IMAGES_PER_SECOND:.0f} img/s '
        f'(9.5 GPU-hours for 150 epochs): {cores_needed:.2f} core(s) of this CPU feed it')
  return rows
