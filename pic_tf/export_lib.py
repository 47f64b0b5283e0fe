"""SavedModel export for TF Serving (``bin/export``).

The exported model is self-contained (no pic_tf import needed to run it) and keeps no
random state: every signature is a pure function of its request, so the same request
gives the same answer and concurrent requests cannot interfere. EMA weights are
exported. Signatures:

``serving_default`` (colourise)
    ``images`` uint8 ``[N, H, W, C]`` (C = 1 gray or 3 RGB, any H and W),
    ``num_samples`` int32 scalar, ``temperature`` float32 scalar, ``seed`` int64 ``[2]``
    -> ``colorizations`` uint8 ``[N, S, H, W, 3]``. Resizing, colour conversion and
    full-resolution recombination (the input's own L) happen in the graph.
``colorize_encoded`` (colourise encoded photos, as TF Serving clients send them)
    ``images`` string ``[N]`` of JPEG, PNG, BMP or GIF bytes of any sizes (REST:
    ``{"b64": ...}``), ``num_samples``, ``temperature``, ``seed`` as above ->
    ``colorizations`` string ``[N, S]`` of PNG bytes, each photo at its own size and
    coloured as if it were the request's only one.
``log_likelihood``
    ``images`` uint8 ``[N, H, W, 3]`` -> ``bits_per_dim`` float32 ``[N]`` (images
    resized whole to the model's size, as the training data).
``embedding_colorize`` (the g^w baseline, pixel-wise MAP)
    ``images`` uint8 ``[N, H, W, C]`` -> ``colorizations`` uint8 ``[N, H, W, 3]``.

Bad requests fail inside the graph with ``tf.debugging`` messages (wrong channel
count, empty image, ``num_samples`` outside ``[1, max_samples]``, a negative, NaN or
infinite temperature); wrong dtypes or ranks are refused by the signature itself.
"""

import dataclasses
import os

import tensorflow as tf

from pic_tf import errors
from pic_tf.errors import CheckpointError
from pic_tf import sampling
from pic_tf.sampling import pipeline
from pic_tf.storage import loading
from pic_tf.storage import fileutil
from pic_tf.storage import workdir as workdir_lib

DEFAULT_MAX_SAMPLES = 64


class ColorizationModule(tf.Module):
  """The exported graph: a PIC model and its three serving functions.

  Args:
    model: a PICModel holding the weights to export (EMA already applied).
    max_samples: the largest ``num_samples`` a request may ask for.
    sampler: ``'cached'`` (default) or ``'naive'``.
    jit: compile the sampler's pixel loop with XLA (opt-in).
  """

  def __init__(self, model, max_samples=DEFAULT_MAX_SAMPLES, sampler=sampling.DEFAULT_SAMPLER,
               jit=False):
    super().__init__(name='pic')
    # Track the tf.Variables the functions capture (what ``keras.export`` does too);
    # tracking the Keras model itself would save second, unconnected copies that
    # TF Serving's (TF1-style) loader leaves uninitialised.
    self.model_variables = [getattr(v, 'value', v) for v in model.weights]
    # The colourise pipeline is a plain Python object: through it the functions reach
    # the model without tracking it.
    self._colorizer = pipeline.Colorizer(model, sampler, jit)
    self.max_samples = int(max_samples)

  def _check_images(self, images, channels=(1, 3)):
    shape = tf.shape(images)
    checks = [
        tf.debugging.assert_positive(shape[:3], message=(
            'images must be non-empty: [N, H, W, C] with N, H, W >= 1')),
    ]
    allowed = tf.reduce_any(tf.equal(shape[3], tf.constant(channels)))
    checks.append(tf.debugging.Assert(allowed, [
        f'images must have {" or ".join(str(c) for c in channels)} channels, got', shape[3]]))
    with tf.control_dependencies(checks):
      return tf.identity(images)

  @tf.function(input_signature=[
      tf.TensorSpec([None, None, None, None], tf.uint8, name='images'),
      tf.TensorSpec([], tf.int32, name='num_samples'),
      tf.TensorSpec([], tf.float32, name='temperature'),
      tf.TensorSpec([2], tf.int64, name='seed')])
  def colorize(self, images, num_samples, temperature, seed):
    """Samples ``num_samples`` colourisations of every image (see module docstring)."""
    images = self._check_images(images)
    checks = [
        tf.debugging.assert_greater_equal(num_samples, 1, message='num_samples must be >= 1'),
        tf.debugging.assert_less_equal(num_samples, self.max_samples, message=(
            f'num_samples must be <= {self.max_samples} (the limit set at export time)')),
        tf.debugging.assert_greater_equal(temperature, 0.0, message='temperature must be >= 0'),
        # NaN passes the comparison above and would sample black images; inf, noise.
        tf.debugging.assert_all_finite(temperature, 'temperature must be finite'),
    ]
    with tf.control_dependencies(checks):
      images = tf.identity(images)
    return {'colorizations': self._colorizer.colorize(images, num_samples, temperature, seed)}

  @tf.function(input_signature=[
      tf.TensorSpec([None], tf.string, name='images'),
      tf.TensorSpec([], tf.int32, name='num_samples'),
      tf.TensorSpec([], tf.float32, name='temperature'),
      tf.TensorSpec([2], tf.int64, name='seed')])
  def colorize_encoded(self, images, num_samples, temperature, seed):
    """Samples colourisations of encoded photos of any sizes, as PNG bytes."""

    def one(data):
      image = tf.io.decode_image(data, channels=3, expand_animations=False)
      image = self._check_images(image[None])
      samples = self.colorize(image, num_samples, temperature, seed)['colorizations'][0]
      return tf.map_fn(tf.io.encode_png, samples, fn_output_signature=tf.string)

    return {'colorizations': tf.map_fn(one, images, fn_output_signature=tf.TensorSpec(
        [None], tf.string))}

  @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8, name='images')])
  def log_likelihood(self, images):
    """Bits per dimension of each colour image under the model."""
    images = self._check_images(images, channels=(3,))
    return {'bits_per_dim': self._colorizer.bits_per_dim(images)}

  @tf.function(input_signature=[
      tf.TensorSpec([None, None, None, None], tf.uint8, name='images')])
  def embedding_colorize(self, images):
    """The g^w baseline: one pixel-wise MAP colourisation per image."""
    images = self._check_images(images)
    return {'colorizations': self._colorizer.baseline(images)[:, 0]}


def next_version(export_dir):
  """1 + the largest numeric sub-directory of ``export_dir`` (1 if none)."""
  return (latest_version(export_dir) or 0) + 1


def check_target(export_dir, version=None, weights=False):
  """Raises if an export into ``export_dir`` would overwrite something.

  Cheap: binaries call it before loading a model, the writers call it again.

  Args:
    export_dir: the target of :func:`export` or :func:`export_weights`.
    version: the SavedModel version asked for (None: the next free one).
    weights: check for :func:`export_weights` (the directory must be new or empty).

  Raises:
    FileExistsError: the version exists, or the weights target is not empty.
  """
  if weights:
    if os.path.isdir(export_dir) and os.listdir(export_dir):
      raise FileExistsError(f'{export_dir} is not empty; choose a new export directory')
  elif version is not None and os.path.exists(os.path.join(export_dir, str(version))):
    raise FileExistsError(f'{os.path.join(export_dir, str(version))} already exists; '
                          'choose another version')


def export_weights(config, model, export_dir, step=0):
  """Writes ``config.json`` + the weights of ``model`` alone into ``export_dir``, atomically.

  The result is a workdir every binary loads (how the shipped demo model was made).

  Args:
    config: the model's :class:`pic_tf.configs.Config`.
    model: PICModel with the weights to export (EMA applied).
    export_dir: a new or empty directory.
    step: training step recorded with the weights.

  Returns:
    The checkpoint prefix inside ``export_dir``.

  Raises:
    FileExistsError: ``export_dir`` exists and is not empty.
  """
  return workdir_lib.save_new_workdir(export_dir, config, model, step=step,
                                      what='export directory')


def export(model, export_dir, version=None, max_samples=DEFAULT_MAX_SAMPLES,
           sampler=sampling.DEFAULT_SAMPLER, jit=False):
  """Writes ``export_dir/<version>/`` (a SavedModel) atomically.

  Args:
    model: PICModel with the weights to export (EMA applied).
    export_dir: the model's base directory, as TF Serving's ``--model_base_path``.
    version: version number (default: the next free one).
    max_samples: upper bound on ``num_samples`` per request.
    sampler: ``'cached'`` or ``'naive'``.
    jit: compile the sampler's pixel loop with XLA (opt-in; the default is exact).

  Returns:
    The version directory.

  Raises:
    FileExistsError: ``version`` is already exported.
  """
  version = next_version(export_dir) if version is None else int(version)
  check_target(export_dir, version)
  target = os.path.join(export_dir, str(version))
  fileutil.ensure_dir(export_dir, 'export directory')
  module = ColorizationModule(model, max_samples, sampler, jit)
  with fileutil.atomic_dir(target, 'export directory') as tmp:   # TF Serving sees whole versions
    tf.saved_model.save(module, tmp, signatures={
        'serving_default': module.colorize,
        'log_likelihood': module.log_likelihood,
        'embedding_colorize': module.embedding_colorize,
        'colorize_encoded': module.colorize_encoded,
    })
  return target


def run(source, export_dir, *, version=None, max_samples=DEFAULT_MAX_SAMPLES,
        fmt='saved_model', sampler=sampling.DEFAULT_SAMPLER, jit=False, log=print):
  """``bin/export``: the EMA weights of a workdir or original checkpoint, exported.

  Args:
    source: the model, a :class:`pic_tf.storage.Source`; its ``precision`` is the
      SavedModel's compute precision (opt-in ``'mixed_bfloat16'`` or ``'auto'``; the
      weights format stores float32 weights either way).
    export_dir, version, max_samples, sampler: as :func:`export`.
    fmt: ``'saved_model'`` (:func:`export`) or ``'weights'`` (:func:`export_weights`).
    jit: compile the SavedModel's sampler pixel loop with XLA (opt-in).
    log: where the result line goes.

  Returns:
    The version directory or the weights' checkpoint prefix.
  """
  check_target(export_dir, version, fmt == 'weights')   # before the slow model load
  if fmt == 'weights':
    source = dataclasses.replace(source, precision='float32')
  loaded = loading.load(source, log=log)
  config, model, step = loaded.config, loaded.model, loaded.step
  if fmt == 'weights':
    path = export_weights(config, model, export_dir, step or 0)
    log(f'wrote EMA weights of step {step} to {path}')
  else:
    path = export(model, export_dir, version, max_samples, sampler, jit)
    log(f'exported to {path}')
  return path


def latest_version(export_dir):
  """The largest numeric sub-directory of a SavedModel base directory (None if none)."""
  if not os.path.isdir(export_dir):
    return None
  return max((int(d) for d in os.listdir(export_dir) if d.isdigit()), default=None)


def load_saved_model(path):
  """Loads a SavedModel of ``bin/export``: a version directory or the base (newest version).

  Raises:
    CheckpointError: no SavedModel there, or a damaged one.
  """
  if os.path.isdir(path) and not tf.saved_model.contains_saved_model(path):
    version = latest_version(path)
    if version is not None:
      path = os.path.join(path, str(version))
  if not tf.saved_model.contains_saved_model(path):
    raise CheckpointError(f'{path} holds no SavedModel: pass a directory written by '
                          'bin/export')
  try:
    return tf.saved_model.load(path)
  except (tf.errors.OpError, ValueError, OSError, IndexError) as e:   # IndexError: truncated
    raise CheckpointError(f'the SavedModel {path} is damaged ({errors.first_line(e)}); '
                          'export it again with bin/export') from None
