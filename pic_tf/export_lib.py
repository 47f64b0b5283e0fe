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
    ``images_bytes`` string ``[N]`` of JPEG, PNG, BMP or GIF bytes of any sizes,
    ``num_samples``, ``temperature``, ``seed`` as above -> ``colorizations_bytes``
    string ``[N, S]`` of PNG bytes, each photo at its own size and coloured as if it
    were the request's only one. (TF Serving's REST API carries tensors whose names
    end in ``_bytes`` as ``{"b64": ...}``.)
``log_likelihood``
    ``images`` uint8 ``[N, H, W, 3]`` -> ``bits_per_dim`` float32 ``[N]`` (images
    resized whole to the model's size, as the training data).
``embedding_colorize`` (the g^w baseline, pixel-wise MAP)
    ``images`` uint8 ``[N, H, W, C]`` -> ``colorizations`` uint8 ``[N, H, W, 3]``.

Bad requests fail with a message naming the contract (``images must be uint8 [N, H, W,
C] ...; got shape [8 8 3]``): a wrong rank or shape of any input, a wrong channel
count, an empty image, ``num_samples`` outside ``[1, max_samples]``, a negative, NaN or
infinite temperature. A wrong dtype is refused by TensorFlow before the graph runs.
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


# The inputs of a colourise request besides its images (checked by _check_request).
_REQUEST = (tf.TensorSpec(None, tf.int32, name='num_samples'),
            tf.TensorSpec(None, tf.float32, name='temperature'),
            tf.TensorSpec(None, tf.int64, name='seed'))


def _conform(tensor, fits, shape, contract):
  """``tensor`` with static ``shape`` if ``fits``, else an error stating ``contract``.

  A ``tf.cond``: nothing runs on a tensor that does not fit (a control dependency on
  an assertion does not stop the shape errors of the ops after it).

  Args:
    tensor: a request's input, of any shape.
    fits: bool scalar, whether it fits the contract.
    shape: its static shape when it fits (``None`` for any size).
    contract: what is expected; the error adds ``; got shape [...]``.
  """
  def accept():
    # set_shape, not tf.ensure_shape: the latter's shape check would fail when the branch
    # is instantiated with the request's shape, before the contract's message.
    fitted = tf.identity(tensor)
    fitted.set_shape(shape)
    return fitted

  def refuse():
    with tf.control_dependencies([tf.debugging.Assert(False, [f'{contract}; got shape',
                                                               tf.shape(tensor)])]):
      return tf.zeros([0 if d is None else d for d in shape], tensor.dtype)

  return tf.cond(fits, accept, refuse)


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
    """``images`` checked against the contract ``[N, H, W, C]``, given that static shape."""
    shape = tf.shape(images)
    # The size test runs only on a rank-4 shape (tf.cond): indexing another would fail
    # with TensorFlow's own message instead of the contract.
    fits = tf.cond(tf.equal(tf.size(shape), 4), lambda: tf.logical_and(
        tf.reduce_all(shape[:3] >= 1),
        tf.reduce_any(tf.equal(shape[3], tf.constant(channels)))), lambda: False)
    return _conform(images, fits, [None] * 4, (
        f'images must be uint8 [N, H, W, C] with N, H, W >= 1 and C = '
        f'{" or ".join(str(c) for c in channels)}'))

  def _check_request(self, num_samples, temperature, seed):
    """The scalar and seed inputs of a colourise request, checked and given static shapes."""
    def scalar(x, name):
      return _conform(x, tf.equal(tf.rank(x), 0), [], f'{name} must be a scalar')
    num_samples = scalar(num_samples, 'num_samples')
    temperature = scalar(temperature, 'temperature')
    seed = _conform(seed, tf.logical_and(tf.equal(tf.rank(seed), 1),
                                         tf.equal(tf.size(seed), 2)), [2],
                    'seed must be int64 [2]')
    checks = [
        tf.debugging.assert_greater_equal(num_samples, 1, message='num_samples must be >= 1'),
        tf.debugging.assert_less_equal(num_samples, self.max_samples, message=(
            f'num_samples must be <= {self.max_samples} (the limit set at export time)')),
        tf.debugging.assert_greater_equal(temperature, 0.0, message='temperature must be >= 0'),
        # NaN passes the comparison above and would sample black images; inf, noise.
        tf.debugging.assert_all_finite(temperature, 'temperature must be finite'),
    ]
    with tf.control_dependencies(checks):
      return tf.identity(num_samples), tf.identity(temperature), tf.identity(seed)

  # The signatures accept any shape and check it themselves: a request's rank is not
  # checked by TensorFlow (a rank-3 image would fail deep inside the graph).
  @tf.function(input_signature=[tf.TensorSpec(None, tf.uint8, name='images'), *_REQUEST])
  def colorize(self, images, num_samples, temperature, seed):
    """Samples ``num_samples`` colourisations of every image (see module docstring)."""
    images = self._check_images(images)
    num_samples, temperature, seed = self._check_request(num_samples, temperature, seed)
    return {'colorizations': self._colorizer.colorize(images, num_samples, temperature, seed)}

  @tf.function(input_signature=[tf.TensorSpec(None, tf.string, name='images_bytes'), *_REQUEST])
  def colorize_encoded(self, images_bytes, num_samples, temperature, seed):
    """Samples colourisations of encoded photos of any sizes, as PNG bytes.

    Inputs and outputs of bytes end in ``_bytes``: TF Serving's REST API carries such
    tensors as ``{"b64": ...}``.
    """
    images_bytes = _conform(images_bytes, tf.equal(tf.rank(images_bytes), 1),
                            [None], 'images_bytes must be string [N] (encoded photos)')

    def one(data):
      image = tf.io.decode_image(data, channels=3, expand_animations=False)
      samples = self.colorize(image[None], num_samples, temperature, seed)['colorizations'][0]
      return tf.map_fn(tf.io.encode_png, samples, fn_output_signature=tf.string)

    return {'colorizations_bytes': tf.map_fn(one, images_bytes, fn_output_signature=(
        tf.TensorSpec([None], tf.string)))}

  @tf.function(input_signature=[tf.TensorSpec(None, tf.uint8, name='images')])
  def log_likelihood(self, images):
    """Bits per dimension of each colour image under the model."""
    images = self._check_images(images, channels=(3,))
    return {'bits_per_dim': self._colorizer.bits_per_dim(images)}

  @tf.function(input_signature=[tf.TensorSpec(None, tf.uint8, name='images')])
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


def load_saved_model(path, log=None):
  """Loads a SavedModel of ``bin/export``: a version directory, or a base directory.

  Of a base directory the newest complete version is loaded, as TF Serving does:
  version folders without a SavedModel (an export still being written, or one that
  failed) are passed over, and ``log`` says which version was taken.

  Raises:
    CheckpointError: no SavedModel there, or a damaged one.
  """
  if os.path.isdir(path) and not tf.saved_model.contains_saved_model(path):
    versions = sorted((int(d) for d in os.listdir(path) if d.isdigit()), reverse=True)
    complete = [v for v in versions
                if tf.saved_model.contains_saved_model(os.path.join(path, str(v)))]
    if complete:
      if complete[0] != versions[0] and log:
        skipped = ', '.join(str(v) for v in versions if v > complete[0])
        log(f'{path}: using version {complete[0]}, the newest complete one (version(s) '
            f'{skipped} hold no SavedModel)')
      path = os.path.join(path, str(complete[0]))
    elif versions:
      path = os.path.join(path, str(versions[0]))
  if not tf.saved_model.contains_saved_model(path):
    raise CheckpointError(f'{path} holds no SavedModel: pass a directory written by '
                          'bin/export')
  try:
    return tf.saved_model.load(path)
  except (tf.errors.OpError, ValueError, OSError, IndexError) as e:   # IndexError: truncated
    raise CheckpointError(f'the SavedModel {path} is damaged ({errors.first_line(e)}); '
                          'export it again with bin/export') from None
