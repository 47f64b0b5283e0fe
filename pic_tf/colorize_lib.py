"""Colourising photos and dataset images, and writing them as PNGs (``bin/colorize``).

For each input: ``num_samples`` colourisations at the input's own resolution (the
sampled chroma upsampled and joined with the input's full-resolution L), one PNG
each, and a grid PNG ``gray | samples | original`` (original only for colour
inputs), like the paper's figures.
"""

import os
import sys

import numpy as np
import tensorflow as tf

from pic_tf import baseline
from pic_tf import checkpoints
from pic_tf import data
from pic_tf import fileutil
from pic_tf import fullres
from pic_tf import image_io
from pic_tf import progress as progress_lib
from pic_tf import samplers
from pic_tf.errors import ImageError
from pic_tf.errors import PicError

GRID_CELL_MIN = 128    # dataset grids upscale small images to at least this height
GRID_CELL_MAX = 512    # photo grids downscale taller cells
NATIVE_SIZE = {'cifar10': 32, 'cifar10_bundled': 32, 'imagenet2012': 128}   # for SavedModels
# The small CIFAR-10 model shipped inside the package (BUILD.md, "The shipped demo model").
DEFAULT_MODEL = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'assets',
                             'cifar10_demo')


class ModelColorizer:
  """Colourises uint8 images with an in-process model.

  Args:
    model: a :class:`pic_tf.networks.PICModel` holding the weights to sample with.
    sampler: ``'cached'`` (fast, the default) or ``'naive'`` (the original's loop);
      both draw the same samples.
  """

  def __init__(self, model, sampler='cached', jit=False):
    self.model = model
    self.config = model.config
    self.sampler = samplers.make_sampler(model, sampler, jit)

  @property
  def progress_steps(self):
    """Progress units of one :meth:`colorize` call: chroma rows."""
    return self.config.chroma_size

  @property
  def image_size(self):
    return self.config.image_size

  def colorize(self, images, num_samples, temperature, seed, progress=None):
    """uint8 ``[N, H, W, 3]`` -> uint8 ``[N, num_samples, H, W, 3]``."""
    gray = fullres.model_gray(images, self.config.image_size)
    chroma = self.sampler.sample(gray, num_samples, temperature, seed, progress)
    return fullres.compose_full_resolution(images, chroma).numpy()

  def baseline(self, images):
    """The g^w baseline (pixel-wise MAP): uint8 ``[N, 1, H, W, 3]``."""
    gray = fullres.model_gray(images, self.config.image_size)
    chroma = baseline.embedding_mode_colorization(self.model, gray)[:, None]
    return fullres.compose_full_resolution(images, chroma).numpy()


class SavedModelColorizer:
  """Colourises with an exported SavedModel (``bin/export``), without pic_tf's model code.

  Args:
    path: the version directory (``export_dir/1``) or the base directory (the newest
      version is used).
  """

  def __init__(self, path):
    loaded = checkpoints.load_saved_model(path)
    self._loaded = loaded   # keeps the variables alive
    self._colorize = loaded.signatures['serving_default']
    self.progress_steps = 1
    self.image_size = None

  def colorize(self, images, num_samples, temperature, seed, progress=None):
    out = self._colorize(images=tf.constant(images, tf.uint8),
                         num_samples=tf.constant(num_samples, tf.int32),
                         temperature=tf.constant(temperature, tf.float32),
                         seed=tf.constant(seed, tf.int64))['colorizations'].numpy()
    if progress is not None:
      progress.update(1)
    return out


def load_colorizer(checkpoint, config_name=None, overrides=(), sampler='cached', jit=False,
                   precision='float32', log=None):
  """A :class:`ModelColorizer` with the EMA weights of a workdir or an original checkpoint."""
  model = checkpoints.load(checkpoint, config_name, overrides, precision=precision,
                           log=log).model
  return ModelColorizer(model, sampler, jit)


def _gray_rgb(image):
  return fullres.gray_display(image[None])[0].numpy()


def _output_stems(files):
  stems, seen = [], {}
  for path in files:
    stem = os.path.splitext(os.path.basename(path))[0]
    count = seen.get(stem, 0)
    seen[stem] = count + 1
    stems.append(stem if count == 0 else f'{stem}_{count}')
  return stems


def colorize_files(colorizer, patterns, output_dir, num_samples=4, temperature=1.0, seed=0,
                   log=print):
  """Colourises every image named by ``patterns`` and writes PNGs to ``output_dir``.

  Each input is read, colourised and written on its own; a failing input is reported
  and the others are still processed.

  Args:
    colorizer: e.g. a :class:`ModelColorizer`.
    patterns: files, globs or folders.
    output_dir: where ``<name>_sample<k>.png`` and ``<name>_grid.png`` go.
    num_samples: colourisations per input.
    temperature: logistic noise scale.
    seed: int; with the same seed an input gets the same colourisations.
    log: where messages go.

  Returns:
    list of error messages (empty when every input succeeded).
  """
  files, errors = image_io.expand_inputs(patterns)
  for message in errors:
    log(f'error: {message}')
  fileutil.ensure_dir(output_dir, '--output_dir')
  for path, stem in zip(files, _output_stems(files)):
    try:
      image, is_color = image_io.read_image(path)
    except ImageError as e:
      errors.append(str(e))
      log(f'error: {e}')
      continue
    bar = progress_lib.Progress(colorizer.progress_steps, f'{os.path.basename(path)} '
                                f'{image.shape[1]}x{image.shape[0]}', 'row')
    try:
      samples = colorizer.colorize(image[None], num_samples, temperature, (seed, 0), bar)[0]
    except (tf.errors.OpError, PicError) as e:
      errors.append(f'{path}: {e}')
      log(f'error: {path}: {e}')
      continue
    written = []
    for k, sample in enumerate(samples):
      out = os.path.join(output_dir, f'{stem}_sample{k}.png')
      image_io.write_png(out, sample)
      written.append(out)
    cells = [_gray_rgb(image)] + list(samples) + ([image] if is_color else [])
    grid_path = os.path.join(output_dir, f'{stem}_grid.png')
    image_io.write_png(grid_path, image_io.grid([cells], max_cell_height=GRID_CELL_MAX))
    log(f'{path} -> {grid_path} and {len(written)} samples')
  return errors


def colorize_dataset(colorizer, dataset, split, num_images, output_dir, num_samples=4,
                     temperature=1.0, seed=0, data_dir=None, download=True, log=print):
  """Colourises the first ``num_images`` images of a dataset split into one grid PNG.

  Rows are images; columns are gray input | samples | original, as the paper's
  figures. Each sample is also written as its own PNG.

  Returns:
    The grid's path.
  """
  size = colorizer.image_size or NATIVE_SIZE.get(dataset, 128)
  images, count = data.load_images(dataset, split, size, data_dir, download)
  images = next(iter(images.batch(num_images))).numpy()
  name = dataset.replace(':', '_').replace('/', '_')
  log(f'colourising {len(images)} of {count} {dataset} {split} images, {num_samples} samples '
      'each')
  bar = progress_lib.Progress(colorizer.progress_steps, 'sampling', 'row')
  samples = colorizer.colorize(images, num_samples, temperature, (seed, 0), bar)
  fileutil.ensure_dir(output_dir, '--output_dir')
  scale = max(1, -(-GRID_CELL_MIN // images.shape[1]))
  rows = []
  for i, (image, image_samples) in enumerate(zip(images, samples)):
    for k, sample in enumerate(image_samples):
      image_io.write_png(os.path.join(output_dir, f'{name}_{split}_{i:04d}_sample{k}.png'),
                         sample)
    cells = [_gray_rgb(image)] + list(image_samples) + [image]
    rows.append([np.kron(c, np.ones((scale, scale, 1), np.uint8)) for c in cells])
  grid_path = os.path.join(output_dir, f'{name}_{split}_grid.png')
  image_io.write_png(grid_path, image_io.grid(rows, gap=4))
  log(f'wrote {grid_path}')
  return grid_path


def stderr_log(message):
  print(message, file=sys.stderr, flush=True)


def run(output_dir, inputs=(), dataset=None, checkpoint=None, saved_model=None,
        config_name=None, overrides=(), sampler='cached', split='test', num_images=16,
        num_samples=4, temperature=1.0, seed=0, data_dir=None, download=True, jit=False,
        precision='float32', log=stderr_log):
  """``bin/colorize``: colourises ``inputs`` (files, globs, folders) or a dataset's images.

  The model is a SavedModel (``saved_model``), a workdir or original checkpoint
  (``checkpoint``, ``config_name``, ``overrides``), or by default the demo model
  shipped with the package.

  Returns:
    The number of inputs that failed (0 for a dataset, which fails as a whole).
  """
  if saved_model:
    colorizer = SavedModelColorizer(saved_model)
  else:
    if not checkpoint:
      checkpoint = DEFAULT_MODEL
      log(f'using the demo model shipped with pic_tf ({checkpoint}; see BUILD.md)')
    colorizer = load_colorizer(checkpoint, config_name, overrides, sampler, jit, precision,
                               log)
  if dataset:
    colorize_dataset(colorizer, dataset, split, num_images, output_dir, num_samples,
                     temperature, seed, data_dir, download)
    return 0
  errors = colorize_files(colorizer, inputs, output_dir, num_samples, temperature, seed,
                          log=log)
  if errors:
    log(f'{len(errors)} input(s) failed')
  return len(errors)
