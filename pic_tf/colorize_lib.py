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

from pic_tf.data import datasets
from pic_tf.data import image_io
from pic_tf.errors import ImageError
from pic_tf.errors import PicError
from pic_tf import export_lib
from pic_tf import options as options_lib
from pic_tf import progress as progress_lib
from pic_tf.sampling import fullres
from pic_tf.sampling import pipeline
from pic_tf.storage import checkpoints
from pic_tf.storage import fileutil

GRID_CELL_MIN = 128    # dataset grids upscale small images to at least this height
GRID_CELL_MAX = 512    # photo grids downscale taller cells
NATIVE_SIZE = {'cifar10': 32, 'cifar10_bundled': 32, 'imagenet2012': 128}   # for SavedModels


class SavedModelColorizer:
  """Colourises with an exported SavedModel (``bin/export``), without pic_tf's model code.

  Args:
    path: the version directory (``export_dir/1``) or the base directory (the newest
      version is used).
  """

  def __init__(self, path):
    loaded = export_lib.load_saved_model(path)
    self._loaded = loaded   # keeps the variables alive
    self._colorize = loaded.signatures['serving_default']
    self.progress_steps = 1
    self.image_size = None

  def colorize(self, images, num_samples, temperature, seed, progress=None):
    """uint8 ``[N, H, W, C]`` -> uint8 ``[N, num_samples, H, W, 3]``, as
    :meth:`pic_tf.sampling.pipeline.Colorizer.colorize`."""
    out = self._colorize(images=tf.constant(images, tf.uint8),
                         num_samples=tf.constant(num_samples, tf.int32),
                         temperature=tf.constant(temperature, tf.float32),
                         seed=tf.constant(seed, tf.int64))['colorizations'].numpy()
    if progress is not None:
      progress.update(1)
    return out


def load_colorizer(source, sample_options=options_lib.SampleOptions(), log=None):
  """A :class:`pic_tf.sampling.pipeline.Colorizer` with the EMA weights of ``source``
  (a :class:`pic_tf.options.Source`), with ``sample_options``' sampler and jit."""
  model = checkpoints.load_source(source, log=log).model
  return pipeline.Colorizer(model, sample_options.sampler, sample_options.jit)


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


def colorize_files(colorizer, patterns, output_dir, sample_options=options_lib.SampleOptions(),
                   log=print):
  """Colourises every image named by ``patterns`` and writes PNGs to ``output_dir``.

  Each input is read, colourised and written on its own; a failing input is reported
  and the others are still processed.

  Args:
    colorizer: a :class:`pic_tf.sampling.pipeline.Colorizer` or :class:`SavedModelColorizer`.
    patterns: files, globs or folders.
    output_dir: where ``<name>_sample<k>.png`` and ``<name>_grid.png`` go.
    sample_options: a :class:`pic_tf.options.SampleOptions` (samples per input,
      temperature, seed: with the same seed an input gets the same colourisations).
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
      samples = np.asarray(colorizer.colorize(image[None], sample_options.num_samples,
                                              sample_options.temperature, (sample_options.seed, 0), bar))[0]
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


def colorize_dataset(colorizer, selection, output_dir, sample_options=options_lib.SampleOptions(),
                     log=print):
  """Colourises the first images of a dataset split into one grid PNG.

  Rows are images; columns are gray input | samples | original, as the paper's
  figures. Each sample is also written as its own PNG.

  Args:
    colorizer: as :func:`colorize_files`.
    selection: a :class:`pic_tf.options.Selection` (its ``dataset`` is required).
    output_dir: where the PNGs go.
    sample_options: a :class:`pic_tf.options.SampleOptions`.
    log: where messages go.

  Returns:
    The grid's path.
  """
  dataset, split = selection.dataset, selection.split
  size = colorizer.image_size or NATIVE_SIZE.get(dataset, 128)
  images, count = datasets.load_images(dataset, split, size, selection.data_dir,
                                       selection.download)
  images = next(iter(images.batch(selection.num_images or count))).numpy()
  name = dataset.replace(':', '_').replace('/', '_')
  log(f'colourising {len(images)} of {count} {dataset} {split} images, '
      f'{sample_options.num_samples} samples each')
  bar = progress_lib.Progress(colorizer.progress_steps, 'sampling', 'row')
  samples = np.asarray(colorizer.colorize(images, sample_options.num_samples, sample_options.temperature,
                                          (sample_options.seed, 0), bar))
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


def run(output_dir, *, source=None, saved_model=None, inputs=(), selection=None,
        sample_options=options_lib.SampleOptions(), log=stderr_log):
  """``bin/colorize``: colourises ``inputs`` (files, globs, folders) or a dataset's images.

  Args:
    output_dir: where the PNGs go.
    source: the model, a :class:`pic_tf.options.Source` (default: the demo
      model shipped with the package).
    saved_model: a ``bin/export`` directory to sample with instead of ``source``.
    inputs: files, globs or folders.
    selection: a :class:`pic_tf.options.Selection` to colourise instead of ``inputs``.
    sample_options: a :class:`pic_tf.options.SampleOptions`.
    log: where messages go.

  Returns:
    The number of inputs that failed (0 for a dataset, which fails as a whole).
  """
  if saved_model:
    colorizer = SavedModelColorizer(saved_model)
  else:
    source = source or options_lib.Source()
    if source.path is None:
      log(f'using the demo model shipped with pic_tf ({checkpoints.DEMO_MODEL}; see BUILD.md)')
    colorizer = load_colorizer(source, sample_options, log)
  if selection is not None:
    colorize_dataset(colorizer, selection, output_dir, sample_options)
    return 0
  errors = colorize_files(colorizer, inputs, output_dir, sample_options, log=log)
  if errors:
    log(f'{len(errors)} input(s) failed')
  return len(errors)
