"""Colourising photos and dataset images, and writing them as PNGs (``bin/colorize``).

For each input: ``num_samples`` colourisations at the input's own resolution (the
sampled chroma upsampled and joined with the input's full-resolution L), one PNG
each, and a grid PNG ``gray | samples | original`` (original only for colour
inputs), like the paper's figures.
"""

import os

import numpy as np
import tensorflow as tf

from pic_tf import data
from pic_tf.data import datasets
from pic_tf.data import image_io
from pic_tf import errors as errors_lib
from pic_tf.errors import ImageError
from pic_tf import export_lib
from pic_tf import progress as progress_lib
from pic_tf.sampling import photos
from pic_tf import sampling
from pic_tf.sampling import SampleOptions
from pic_tf.sampling import pipeline
from pic_tf.storage import fileutil
from pic_tf import storage
from pic_tf.storage import loading
from pic_tf.storage import Source
from pic_tf.storage import result_folders

GRID_CELL_MAX = 512    # photo grids downscale taller cells
GRID_ROWS = 64         # dataset images per grid PNG


class SavedModelColorizer:
  """Colourises with an exported SavedModel (``bin/export``), without pic_tf's model code.

  Args:
    path: the version directory (``export_dir/1``) or the base directory (the newest
      complete version is used).
    log: told which version of a base directory is used, if not the newest.
  """

  def __init__(self, path, log=None):
    loaded = export_lib.load_saved_model(path, log=log)
    self._loaded = loaded   # keeps the variables alive
    self._colorize = loaded.signatures['serving_default']
    self.image_size = None
    # Exports before the limits signature allowed 64 samples and no other limit.
    limits = ({k: int(v) for k, v in loaded.signatures['limits']().items()}
              if 'limits' in loaded.signatures else {'max_samples': 64})
    self.limits = sampling.RequestLimits(**limits)

  def _batch(self, pixels):
    """(image, sample) pairs of ``pixels`` each that one call may ask for."""
    limits = self.limits
    return max(1, min(limits.max_images, limits.max_samples,
                      limits.max_output_pixels // max(1, pixels)))

  progress_unit = 'sample'

  def progress_steps(self, num_images=1, num_samples=1):
    """Units a ``progress`` of :meth:`colorize` counts: the colourisations."""
    return num_images * num_samples

  def colorize(self, images, num_samples, temperature, seed, progress=None):
    """uint8 ``[N, H, W, C]`` -> uint8 ``[N, num_samples, H, W, 3]``, as
    :meth:`pic_tf.sampling.pipeline.Colorizer.colorize` (call ``c`` uses ``seed + (0, c)``)."""

    def colorize_part(first, count, samples, call):
      out = self._colorize(images=tf.constant(images[first:first + count], tf.uint8),
                           num_samples=tf.constant(samples, tf.int32),
                           temperature=tf.constant(temperature, tf.float32),
                           seed=tf.constant([seed[0], seed[1] + call], tf.int64))
      if progress is not None:
        progress.update(count * samples)
      return out['colorizations']

    return pipeline.in_calls(colorize_part, len(images), num_samples,
                             self._batch(images.shape[1] * images.shape[2])).numpy()


def load_colorizer(source, sample_options=SampleOptions(), log=None):
  """A :class:`pic_tf.sampling.pipeline.Colorizer` with the EMA weights of ``source``
  (a :class:`pic_tf.storage.Source`), with ``sample_options``' sampler and jit."""
  model = loading.load(source, log=log).model
  return pipeline.Colorizer(model, sample_options.sampler, sample_options.jit)


def output_names(files):
  """Names of the inputs' results, unique by construction: each file's path relative to
  the inputs' common folder, extension kept (``img.jpg`` and ``img.png`` give
  ``img.jpg_*`` and ``img.png_*``; ``a/x.png`` and ``b/x.png`` go to ``a/`` and ``b/``)."""
  absolute = [os.path.abspath(f) for f in files]
  if not absolute:
    return []
  root = os.path.commonpath([os.path.dirname(a) for a in absolute])
  return [os.path.relpath(a, root) for a in absolute]


def _why(error):
  """One line for an input's failure; write failures name the result, not a temporary."""
  if isinstance(error, ImageError):
    return str(error).split(': ', 1)[-1]   # its message starts with the path
  text = fileutil.describe_write_failure(error)
  if text is None and isinstance(error, OSError):
    text = f'cannot write {error.filename or "a result"}: {error.strerror or error}'
  return text or f'{type(error).__name__}: {errors_lib.first_line(error)[:300]}'


def colorize_files(colorizer, patterns, output_dir, sample_options=SampleOptions(),
                   log=progress_lib.log):
  """Colourises every image named by ``patterns`` and writes PNGs to ``output_dir``.

  Each input is read, colourised and written on its own: one that fails (unreadable,
  damaged, too large, a disk that fills up) is reported as ``error: <file>: <why>`` and
  the next one is tried. The results are put in place as a set at the end
  (:class:`pic_tf.storage.result_folders.ResultSet`), replacing an earlier run's, unless no
  input succeeded; the caller checks first that replacing them was asked for
  (:func:`pic_tf.storage.result_folders.check`).

  Args:
    colorizer: a :class:`pic_tf.sampling.pipeline.Colorizer` or :class:`SavedModelColorizer`.
    patterns: files, globs or folders (earlier results inside ``output_dir`` are skipped).
    output_dir: where ``<name>_sample<k>.png`` and ``<name>_grid.png`` go (``<name>``:
      :func:`output_names`).
    sample_options: a :class:`pic_tf.sampling.SampleOptions` (samples per input,
      temperature, seed: with the same seed an input gets the same colourisations).
    log: where messages go.

  Returns:
    list of error messages (empty when every input succeeded).
  """
  files, errors = image_io.expand_inputs(patterns)
  files = [f for f in files if not result_folders.is_result(f, output_dir)]
  for message in errors:
    log(f'error: {message}')
  done = 0
  with result_folders.ResultSet(output_dir) as result_set:
    for path, name in zip(files, output_names(files)):
      written = []
      try:
        grid_path = _colorize_file(colorizer, path, name, result_set, sample_options, written)
      except (KeyboardInterrupt, SystemExit):
        raise
      except Exception as e:  # pylint: disable=broad-except
        result_set.discard(written)   # no partial results of a failed input
        message = f'{path}: {_why(e)}'
        errors.append(message)
        log(f'error: {message}')
        continue
      done += 1
      log(f'{path} -> {grid_path} and '
          + progress_lib.count(sample_options.num_samples, 'sample'))
    if done:
      result_set.commit()
  return errors


def _colorize_file(colorizer, path, name, result_set, sample_options, written):
  """Colourises one file into ``result_set``, listing in ``written`` the results it
  writes; returns the grid's final path."""
  image, is_color = image_io.read_image(path)
  num_samples = sample_options.num_samples
  bar = progress_lib.Progress(colorizer.progress_steps(1, num_samples),
                              f'{os.path.basename(path)} {image.shape[1]}x{image.shape[0]}',
                              colorizer.progress_unit)
  samples = np.asarray(colorizer.colorize(image[None], num_samples, sample_options.temperature,
                                          (sample_options.seed, 0), bar))[0]
  for k, sample in enumerate(samples):
    _write(result_set, f'{name}_sample{k}.png', sample, written)
  rows = photos.grid_rows(image[None], samples[None], with_originals=is_color)
  return _write(result_set, f'{name}_grid.png',
                image_io.grid(rows, max_cell_height=GRID_CELL_MAX), written)


def _write(result_set, name, image, written=None):
  """Writes result ``name`` (appended to ``written``); a failure names the result, not its
  temporary. Returns its final path."""
  if written is not None:
    written.append(name)
  try:
    fileutil.write_bytes(image_io.encode_png(image), result_set.path(name))
  except OSError as e:
    e.filename = result_set.final_path(name)
    raise
  return result_set.final_path(name)


def colorize_dataset(colorizer, selection, output_dir, sample_options=SampleOptions(),
                     log=progress_lib.log):
  """Colourises the first images of a dataset split into grid PNGs.

  Rows are images; columns are gray input | samples | original, as the paper's
  figures; each grid holds ``GRID_ROWS`` images (``<dataset>_<split>_grid.png``, then
  ``..._grid2.png``, ...). Each sample is also written as its own PNG. The results
  replace an earlier run's as a set (:class:`pic_tf.storage.result_folders.ResultSet`).

  Args:
    colorizer: as :func:`colorize_files`.
    selection: a :class:`pic_tf.data.Selection` (its ``dataset`` is required).
    output_dir: where the PNGs go.
    sample_options: a :class:`pic_tf.sampling.SampleOptions`.
    log: where messages go.

  Returns:
    The first grid's path.
  """
  dataset, split = selection.dataset, selection.split
  known = data.DATASETS.get(dataset)
  size = colorizer.image_size or (known.image_size if known else 128)
  images, count = datasets.load_images(dataset, split, size, selection.data_dir,
                                       selection.download)
  images = next(iter(images.batch(selection.num_images or count))).numpy()
  name = dataset.replace(':', '_').replace('/', '_')
  num_samples = sample_options.num_samples
  log(f'colourising {len(images)} of {count} {dataset} {split} images, '
      f'{progress_lib.count(num_samples, "sample")} each')
  bar = progress_lib.Progress(colorizer.progress_steps(len(images), num_samples), 'sampling',
                              colorizer.progress_unit)
  samples = np.asarray(colorizer.colorize(images, num_samples, sample_options.temperature,
                                          (sample_options.seed, 0), bar))
  rows = photos.grid_rows(images, samples)
  grids = []
  with result_folders.ResultSet(output_dir) as result_set:
    for i, image_samples in enumerate(samples):
      for k, sample in enumerate(image_samples):
        _write(result_set, f'{name}_{split}_{i:04d}_sample{k}.png', sample)
    for page, start in enumerate(range(0, len(images), GRID_ROWS)):
      grid_name = f'{name}_{split}_grid{page + 1 if page else ""}.png'
      grids.append(_write(result_set, grid_name, image_io.grid(
          rows[start:start + GRID_ROWS], gap=4, min_cell_height=image_io.GRID_CELL_MIN)))
    result_set.commit()
  more = progress_lib.count(len(grids) - 1, 'more grid')
  log(f'wrote {grids[0]}' + (f' and {more}' if len(grids) > 1 else ''))
  return grids[0]


def run(output_dir, *, source=None, saved_model=None, inputs=(), selection=None,
        sample_options=SampleOptions(), overwrite=False, log=progress_lib.log):
  """``bin/colorize``: colourises ``inputs`` (files, globs, folders) or a dataset's images.

  Args:
    output_dir: where the PNGs go.
    source: the model, a :class:`pic_tf.storage.Source` (default: the demo
      model shipped with the package).
    saved_model: a ``bin/export`` directory to sample with instead of ``source``.
    inputs: files, globs or folders.
    selection: a :class:`pic_tf.data.Selection` to colourise instead of ``inputs``.
    sample_options: a :class:`pic_tf.sampling.SampleOptions`.
    overwrite: replace the results of an earlier run in ``output_dir`` (without it, such
      a folder is refused before the model loads).
    log: where messages go.

  Returns:
    The number of inputs that failed (0 for a dataset, which fails as a whole).
  """
  result_folders.check(output_dir, overwrite)
  if saved_model:
    colorizer = SavedModelColorizer(saved_model, log)
  else:
    source = source or Source()
    if source.path is None:
      log(f'using the demo model shipped with pic_tf ({storage.DEMO_MODEL}), a small '
          'CIFAR-10 model')
    colorizer = load_colorizer(source, sample_options, log)
  if selection is not None:
    colorize_dataset(colorizer, selection, output_dir, sample_options, log=log)
    return 0
  errors = colorize_files(colorizer, inputs, output_dir, sample_options, log=log)
  if errors:
    log(f'{progress_lib.count(len(errors), "input")} failed')
  return len(errors)
