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
``limits``
    no inputs -> the request limits set at export
    (:class:`pic_tf.sampling.RequestLimits`), int64 scalars ``max_images``,
    ``max_pixels``, ``max_samples``, ``max_output_pixels``.

Bad requests fail with a message naming the contract (``images must be uint8 [N, H, W,
C] ...; got shape [8 8 3]``): a wrong rank or shape of any input, a wrong channel
count, an empty image, ``num_samples`` outside ``[1, max_samples]``, a negative, NaN or
infinite temperature. A wrong dtype is refused by TensorFlow before the graph runs.
The input specs declare dtypes but leave shapes unknown: a loaded signature does not
check a request against a declared shape, and the graph would trust it, so a declared
rank turns each wrong-rank request's contract message into an error from deep inside
(see ``ColorizationModule``); the shapes are stated here, in BUILD.md and in the errors.

What one request may cost is bounded by the export's
:class:`pic_tf.sampling.RequestLimits`, checked before any work: an encoded photo's
size is read from its header (PNG, JPEG, GIF, BMP, WebP) and refused before it is
decoded, so a small file claiming a huge image costs nothing.
Each refusal is ``INVALID_ARGUMENT`` naming the input (``images_bytes[2]`` for one
element), its size and the limit. Bytes that are no such image are refused naming
their element; an image whose header is valid but whose data is damaged fails with the
decoder's own message, which TensorFlow gives without the element (a graph cannot
catch an op's error).
"""

import dataclasses
import os

import tensorflow as tf

from pic_tf import errors
from pic_tf import progress
from pic_tf.errors import CheckpointError
from pic_tf.model import precision as precision_lib
from pic_tf import sampling
from pic_tf.sampling import pipeline
from pic_tf import storage
from pic_tf.storage import loading
from pic_tf.storage import Source
from pic_tf.storage import fileutil
from pic_tf.storage import workdir as workdir_lib




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


def _refuse_unless(condition, *message):
  """An assertion that fails with ``message`` (strings and tensors, joined) unless
  ``condition``."""
  return tf.debugging.Assert(condition, [tf.strings.join(
      [m if isinstance(m, str) else tf.strings.as_string(m) for m in message])])


def _number(head, start, count, big_endian):
  """The unsigned integer of bytes ``head[start:start + count]`` (int64)."""
  order = range(count) if big_endian else range(count - 1, -1, -1)
  value = tf.constant(0, tf.int64)
  for k in order:
    value = value * 256 + head[start + k]
  return value


def _starts_with(head, magic, at=0):
  return tf.reduce_all(tf.equal(head[at:at + len(magic)], list(magic)))


_JPEG_FRAMES = (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF)


def _jpeg_size(data):
  """``(height, width)`` from a JPEG's frame header (SOF), found by walking its marker
  segments; ``(-1, -1)`` if there is none. Reads a few bytes per segment only."""
  length = tf.strings.length(data)

  def segment(pos):
    part = tf.io.decode_raw(tf.strings.substr(data, pos, 9), tf.uint8)
    return tf.cast(tf.pad(part, [[0, 9 - tf.size(part)]]), tf.int64)

  def step(pos, size, steps):
    seg = segment(pos)
    marker = seg[1]
    is_frame = tf.reduce_any(tf.equal(marker, _JPEG_FRAMES))
    found = tf.where(is_frame, tf.stack([_number(seg, 5, 2, True), _number(seg, 7, 2, True)]),
                     size)
    # Markers without a length (fill bytes, SOI, TEM, RSTn) are two bytes; a byte that
    # starts no marker ends the walk (a damaged file).
    bare = tf.logical_or(tf.equal(marker, 0xFF), tf.logical_or(
        tf.equal(marker, 0xD8), tf.logical_or(tf.equal(marker, 0x01),
                                              tf.logical_and(marker >= 0xD0, marker <= 0xD7))))
    advance = tf.where(bare, tf.constant(2, tf.int64), 2 + _number(seg, 2, 2, True))
    advance = tf.where(tf.equal(seg[0], 0xFF), advance, tf.cast(length, tf.int64))
    return pos + tf.cast(advance, tf.int32), found, steps + 1

  def more(pos, size, steps):
    return tf.logical_and(tf.logical_and(size[0] < 0, pos + 9 <= length), steps < 4096)

  _, size, _ = tf.while_loop(more, step, (tf.constant(2), tf.constant([-1, -1], tf.int64),
                                          tf.constant(0)))
  return size


def encoded_size(data, index):
  """``(height, width)`` int64 of one encoded photo, read from its header.

  PNG (IHDR), JPEG (its frame header), GIF (the logical screen), BMP and WebP (VP8,
  VP8L, VP8X) are read from their first bytes, without decoding: the limits are
  checked before a decoder allocates anything.

  Args:
    data: string scalar, the encoded photo.
    index: int32 scalar, its position in ``images_bytes`` (for messages).

  Returns:
    int64 ``[2]``; an assertion naming ``images_bytes[index]`` fails for bytes that are
    none of these formats or whose header holds no size.
  """
  head = tf.io.decode_raw(tf.strings.substr(data, 0, 32), tf.uint8)
  head = tf.cast(tf.pad(head, [[0, 32 - tf.size(head)]]), tf.int64)

  def signed32(value):
    return tf.abs(tf.where(value >= 2**31, value - 2**32, value))

  vp8l_bits = [head[21 + k] for k in range(4)]
  cases = [
      (_starts_with(head, b'\x89PNG\r\n\x1a\n'),
       lambda: tf.stack([_number(head, 20, 4, True), _number(head, 16, 4, True)])),
      (_starts_with(head, b'\xff\xd8\xff'), lambda: _jpeg_size(data)),
      (tf.logical_or(_starts_with(head, b'GIF87a'), _starts_with(head, b'GIF89a')),
       lambda: tf.stack([_number(head, 8, 2, False), _number(head, 6, 2, False)])),
      (_starts_with(head, b'BM'),
       lambda: tf.stack([signed32(_number(head, 22, 4, False)),
                         signed32(_number(head, 18, 4, False))])),
      (tf.logical_and(_starts_with(head, b'RIFF'), _starts_with(head, b'WEBPVP8 ', at=8)),
       lambda: tf.stack([_number(head, 28, 2, False) % 16384,
                         _number(head, 26, 2, False) % 16384])),
      (tf.logical_and(_starts_with(head, b'RIFF'), _starts_with(head, b'WEBPVP8L', at=8)),
       lambda: tf.stack([1 + vp8l_bits[1] // 64 + vp8l_bits[2] * 4 + vp8l_bits[3] % 16 * 1024,
                         1 + vp8l_bits[0] + vp8l_bits[1] % 64 * 256])),
      (tf.logical_and(_starts_with(head, b'RIFF'), _starts_with(head, b'WEBPVP8X', at=8)),
       lambda: tf.stack([1 + _number(head, 27, 3, False), 1 + _number(head, 24, 3, False)])),
  ]
  size = tf.constant([-1, -1], tf.int64)
  for matches, read in reversed(cases):
    size = tf.cond(matches, read, lambda size=size: size)
  check = _refuse_unless(
      tf.reduce_all(size >= 1), 'images_bytes[', index, ']: not a JPEG, PNG, GIF, BMP or '
      'WebP image (or its header is damaged): send those encoded photos')
  with tf.control_dependencies([check]):
    return tf.identity(size)


class ColorizationModule(tf.Module):
  """The exported graph: a PIC model and its serving functions.

  Args:
    model: a PICModel holding the weights to export (EMA already applied).
    limits: the :class:`pic_tf.sampling.RequestLimits` of every request.
    sampler: a name of :data:`pic_tf.sampling.SAMPLERS`.
    jit: compile the sampler's pixel loop with XLA (opt-in).
  """

  def __init__(self, model, limits=sampling.RequestLimits(),
               sampler=sampling.DEFAULT_SAMPLER, jit=False):
    super().__init__(name='pic')
    # Track the tf.Variables the functions capture (what ``keras.export`` does too);
    # tracking the Keras model itself would save second, unconnected copies that
    # TF Serving's (TF1-style) loader leaves uninitialised.
    self.model_variables = [getattr(v, 'value', v) for v in model.weights]
    # The colourise pipeline is a plain Python object: through it the functions reach
    # the model without tracking it.
    self._colorizer = pipeline.Colorizer(model, sampler, jit)
    self.request_limits = limits

  def _check_images(self, images, channels=(1, 3)):
    """``images`` checked against the contract ``[N, H, W, C]``, given that static shape,
    and against the limits on N and on H x W."""
    shape = tf.shape(images)
    # The size test runs only on a rank-4 shape (tf.cond): indexing another would fail
    # with TensorFlow's own message instead of the contract.
    fits = tf.cond(tf.equal(tf.size(shape), 4), lambda: tf.logical_and(
        tf.reduce_all(shape[:3] >= 1),
        tf.reduce_any(tf.equal(shape[3], tf.constant(channels)))), lambda: False)
    images = _conform(images, fits, [None] * 4, (
        f'images must be uint8 [N, H, W, C] with N, H, W >= 1 and C = '
        f'{" or ".join(str(c) for c in channels)}'))
    shape = tf.shape(images, out_type=tf.int64)
    limits = self.request_limits
    checks = [
        _refuse_unless(shape[0] <= limits.max_images, 'images: ', shape[0], ' images; the '
                       f'limit is {limits.max_images} per request (max_images, set at export)'),
        _refuse_unless(shape[1] * shape[2] <= limits.max_pixels, 'images: ', shape[1], 'x',
                       shape[2], ' = ', shape[1] * shape[2], ' pixels an image; the limit is '
                       f'{limits.max_pixels} (max_pixels, set at export)')]
    with tf.control_dependencies(checks):
      return tf.identity(images)

  def _check_output(self, pixels, num_samples, what):
    """An assertion that the colourisations of one request (``pixels`` input pixels in
    all, ``num_samples`` each) fit ``max_output_pixels``."""
    total = pixels * tf.cast(num_samples, tf.int64)
    limit = self.request_limits.max_output_pixels
    return _refuse_unless(total <= limit, f'{what}: ', pixels, ' pixels x ', num_samples,
                          ' samples = ', total, ' colourised pixels; the limit is '
                          f'{limit} per request (max_output_pixels, set at export)')

  def _check_request(self, num_samples, temperature, seed):
    """The scalar and seed inputs of a colourise request, checked and given static shapes."""
    def scalar(x, name):
      return _conform(x, tf.equal(tf.rank(x), 0), [], f'{name} must be a scalar')
    num_samples = scalar(num_samples, 'num_samples')
    temperature = scalar(temperature, 'temperature')
    seed = _conform(seed, tf.logical_and(tf.equal(tf.rank(seed), 1),
                                         tf.equal(tf.size(seed), 2)), [2],
                    'seed must be int64 [2]')
    max_samples = self.request_limits.max_samples
    checks = [
        tf.debugging.assert_greater_equal(num_samples, 1, message='num_samples must be >= 1'),
        tf.debugging.assert_less_equal(num_samples, max_samples, message=(
            f'num_samples must be <= {max_samples} (max_samples, set at export)')),
        tf.debugging.assert_greater_equal(temperature, 0.0, message='temperature must be >= 0'),
        # NaN passes the comparison above and would sample black images; inf, noise.
        tf.debugging.assert_all_finite(temperature, 'temperature must be finite'),
    ]
    with tf.control_dependencies(checks):
      return tf.identity(num_samples), tf.identity(temperature), tf.identity(seed)

  # The signatures declare dtypes but no shapes, and check shapes themselves. A loaded
  # signature does not check a request against a declared shape, and the graph then
  # trusts it: declared, a rank-3 `images`, a scalar `images_bytes`, a `[2]`
  # `num_samples` or a `[3]` seed fail deep inside ("slice index 3 of dimension 0 out of
  # bounds", "In[0] should be a scalar"), not with the contract (tried for each input).
  @tf.function(input_signature=[tf.TensorSpec(None, tf.uint8, name='images'), *_REQUEST])
  def colorize(self, images, num_samples, temperature, seed):
    """Samples ``num_samples`` colourisations of every image (see module docstring)."""
    images = self._check_images(images)
    num_samples, temperature, seed = self._check_request(num_samples, temperature, seed)
    shape = tf.shape(images, out_type=tf.int64)
    with tf.control_dependencies([self._check_output(shape[0] * shape[1] * shape[2],
                                                     num_samples, 'images')]):
      return {'colorizations': self._colorizer.colorize(images, num_samples, temperature,
                                                        seed)}

  @tf.function(input_signature=[tf.TensorSpec(None, tf.string, name='images_bytes'), *_REQUEST])
  def colorize_encoded(self, images_bytes, num_samples, temperature, seed):
    """Samples colourisations of encoded photos of any sizes, as PNG bytes.

    Every photo's size is read from its header and checked against the limits before
    any is decoded. Inputs and outputs of bytes end in ``_bytes``: TF Serving's REST API
    carries such tensors as ``{"b64": ...}``.
    """
    images_bytes = _conform(images_bytes, tf.equal(tf.rank(images_bytes), 1),
                            [None], 'images_bytes must be string [N] (encoded photos)')
    num_samples, temperature, seed = self._check_request(num_samples, temperature, seed)
    limits = self.request_limits
    count = tf.size(images_bytes)
    with tf.control_dependencies([_refuse_unless(
        count <= limits.max_images, 'images_bytes: ', count, ' photos; the limit is '
        f'{limits.max_images} per request (max_images, set at export)')]):
      indices = tf.range(count)

    def checked_size(index):
      size = encoded_size(images_bytes[index], index)
      pixels = size[0] * size[1]
      with tf.control_dependencies([_refuse_unless(
          pixels <= limits.max_pixels, 'images_bytes[', index, ']: ', size[1], 'x', size[0],
          ' = ', pixels, ' pixels; the limit is ', f'{limits.max_pixels} (max_pixels, set '
          'at export)')]):
        return tf.identity(pixels)

    pixels = tf.map_fn(checked_size, indices, fn_output_signature=tf.int64)
    checked = self._check_output(tf.reduce_sum(pixels), num_samples, 'images_bytes')

    def one(data):
      image = tf.io.decode_image(data, channels=3, expand_animations=False)
      samples = self.colorize(image[None], num_samples, temperature, seed)['colorizations'][0]
      return tf.map_fn(tf.io.encode_png, samples, fn_output_signature=tf.string)

    with tf.control_dependencies([checked]):
      images_bytes = tf.identity(images_bytes)
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
    shape = tf.shape(images, out_type=tf.int64)
    with tf.control_dependencies([self._check_output(shape[0] * shape[1] * shape[2], 1,
                                                     'images')]):
      return {'colorizations': self._colorizer.baseline(images)[:, 0]}

  @tf.function(input_signature=[])
  def limits(self):
    """The :class:`pic_tf.sampling.RequestLimits` set at export, int64 scalars by field name."""
    return {field.name: tf.constant(getattr(self.request_limits, field.name), tf.int64)
            for field in dataclasses.fields(self.request_limits)}


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


def export(model, export_dir, *, version=None, limits=sampling.RequestLimits(),
           sampler=sampling.DEFAULT_SAMPLER, jit=False):
  """Writes ``export_dir/<version>/`` (a SavedModel) atomically.

  Args:
    model: PICModel with the weights to export (EMA applied).
    export_dir: the model's base directory, as TF Serving's ``--model_base_path``.
    version: version number; None: the next free one, chosen and claimed in one step
      when the SavedModel is complete (concurrent exports get versions of their own).
    limits: the :class:`pic_tf.sampling.RequestLimits` of every request.
    sampler: a name of :data:`pic_tf.sampling.SAMPLERS`.
    jit: compile the sampler's pixel loop with XLA (opt-in; the default is exact).

  Returns:
    The version directory.

  Raises:
    FileExistsError: ``version`` is already exported.
  """
  check_target(export_dir, version)
  module = ColorizationModule(model, limits, sampler, jit)
  signatures = {'serving_default': module.colorize, 'log_likelihood': module.log_likelihood,
                'embedding_colorize': module.embedding_colorize,
                'colorize_encoded': module.colorize_encoded, 'limits': module.limits}
  # TF Serving sees whole versions only.
  if version is not None:
    target = os.path.join(export_dir, str(version))
    with fileutil.atomic_dir(target, 'export directory') as tmp:
      tf.saved_model.save(module, tmp, signatures=signatures)
    return target
  with fileutil.atomic_numbered_dir(export_dir, 'export directory') as claim:
    tf.saved_model.save(module, claim.tmp, signatures=signatures)
  return claim.path


def run(source, export_dir, *, version=None, limits=sampling.RequestLimits(),
        fmt='saved_model', sampler=sampling.DEFAULT_SAMPLER, jit=False, log=progress.log):
  """``bin/export``: the EMA weights of a workdir or original checkpoint, exported.

  Args:
    source: the model, a :class:`pic_tf.storage.Source`; its ``precision`` is the
      SavedModel's compute precision (:data:`pic_tf.model.precision.INFERENCE_PRECISIONS`;
      the weights format stores float32 weights either way).
    export_dir, version, limits, sampler: as :func:`export`.
    fmt: ``'saved_model'`` (:func:`export`) or ``'weights'`` (:func:`export_weights`).
    jit: compile the SavedModel's sampler pixel loop with XLA (opt-in).
    log: gets the lines about the work (default: :func:`pic_tf.progress.log`).

  Returns:
    The version directory or the weights' checkpoint prefix (``<export_dir>/ckpt-<step>``).
  """
  check_target(export_dir, version, fmt == 'weights')   # before the slow model load
  if fmt == 'weights':
    source = dataclasses.replace(source, precision=precision_lib.FLOAT32)
  loaded = loading.load(source, log=log)
  config, model, step = loaded.config, loaded.model, loaded.step
  if fmt == 'weights':
    return export_weights(config, model, export_dir, step or 0)
  return export(model, export_dir, version=version, limits=limits, sampler=sampler, jit=jit)


def saved_model_dir(path, log=None):
  """The SavedModel directory of ``path``, a version directory of ``bin/export`` or its
  base directory.

  Of a base directory the newest complete version is taken, as TF Serving does:
  version folders without a SavedModel (an export still being written, or one that
  failed) are passed over, and ``log`` says which version was taken.

  Raises:
    CheckpointError: no SavedModel there (the message says what is there instead).
  """
  found = loading.recognised(Source(path)).found
  if found.kind == storage.MISSING:
    raise CheckpointError(f'{found.path} does not exist: pass a directory written by '
                          'bin/export')
  if found.kind != storage.SAVED_MODEL and found.workdir is not None:
    raise CheckpointError(f'{found.path} is a pic_tf workdir or one of its checkpoints, not a '
                          'SavedModel: load it as a checkpoint, or export it with '
                          'bin/export')
  if found.kind != storage.SAVED_MODEL:
    raise CheckpointError(f'{found.path} holds no SavedModel: pass a directory written by '
                          'bin/export')
  if found.passed_over and log:
    several = len(found.passed_over) > 1
    log(f'{found.path}: using version {os.path.basename(found.saved_model)}, the newest '
        f'complete one (version{"s" if several else ""} '
        f'{", ".join(str(v) for v in found.passed_over)} {"hold" if several else "holds"} no '
        'SavedModel)')
  return found.saved_model


def load_saved_model(path, log=None):
  """Loads the SavedModel :func:`saved_model_dir` finds at ``path``.

  Raises:
    CheckpointError: no SavedModel there (the message says what is there instead), or a
      damaged one.
  """
  path = saved_model_dir(path, log)
  try:
    return tf.saved_model.load(path)
  except (tf.errors.OpError, ValueError, OSError, IndexError) as e:   # IndexError: truncated
    raise CheckpointError(f'the SavedModel {path} is damaged ({errors.first_line(e)}); '
                          'export it again with bin/export') from None
