"""Keras 3 layers of PIC: weight-normalised convolutions, shifts and gated blocks.

All tensors are NHWC. Causality of the PixelCNN comes from the padding of the
shifted convolutions here (no masks): a down-shifted conv only sees rows above
and at the current row, a down-right-shifted conv only sees pixels above or to
the left, and :func:`down_shift` / :func:`right_shift` move a feature map by one
pixel so the current pixel itself is excluded.
"""

import keras
from keras import ops
import tensorflow as tf

from pic_tf.model import matmul_conv

# Variable names and the std of V as the original (nn.py, ``conv``).
V_INIT_STD = 0.05


def concat_elu(x):
  """``elu(concat([x, -x], -1))``: doubles the channels. ``[..., C] -> [..., 2C]``."""
  return ops.elu(ops.concatenate([x, -x], axis=-1))


def down_shift(x):
  """Shifts ``[B, H, W, C]`` down by one row, filling the top row with zeros."""
  return ops.pad(x[:, :-1], [[0, 0], [1, 0], [0, 0], [0, 0]])


def right_shift(x):
  """Shifts ``[B, H, W, C]`` right by one column, filling the left column with zeros."""
  return ops.pad(x[:, :, :-1], [[0, 0], [0, 0], [1, 0], [0, 0]])


def stateless_dropout(x, rate, seed):
  """Inverted dropout with a stateless seed (a given seed gives the same mask).

  The mask is drawn in float32 whatever ``x``'s dtype: a mixed-precision run drops the
  same units as a float32 run with the same seed, and drawing bfloat16 uniforms is
  slower on a CPU. For float32 ``x`` it equals ``tf.nn.experimental.stateless_dropout``
  to the bit.

  Args:
    x: float tensor.
    rate: drop probability in [0, 1).
    seed: int32/int64 ``[2]`` seed, or None for the global (stateful) RNG.

  Returns:
    Tensor like ``x``.
  """
  if rate <= 0.0:
    return x
  if seed is None:
    return tf.nn.dropout(x, rate=rate)
  keep = tf.random.stateless_uniform(tf.shape(x), seed=seed) >= rate
  return tf.where(keep, x * tf.cast(1.0 / (1.0 - rate), x.dtype), tf.zeros_like(x))


class WeightNormConv2D(keras.layers.Layer):
  """Weight-normalised 2D convolution (Salimans & Kingma 2016), as the original.

  ``W = g * V / ||V||`` with the norm over the kernel's height, width and input
  channels (one per output channel), output ``conv(x, W) + b``. Variables ``V``
  ``[kh, kw, in, out]``, ``g`` ``[out]`` and ``b`` ``[out]`` keep the original's
  names so checkpoints map one to one.

  Initialisation: by default exactly as the original *really* ran, V ~ N(0, 0.05),
  g = 1, b = 0. The original builds a data-dependent initialisation but never runs
  its assign ops (see the reference README); that initialisation is available by
  calling the layer once inside :func:`data_dependent_init` (g and b then make the
  outputs on that batch zero-mean with std ``init_scale`` per channel).

  Args:
    filters: output channels.
    kernel_size: int or (kh, kw).
    strides: int stride.
    padding: ``'same'`` or ``'valid'`` (TensorFlow semantics).
    dilation_rate: int dilation (stride must then be 1).
    init_scale: target std of the data-dependent initialisation.
  """

  def __init__(self, filters, kernel_size, strides=1, padding='same', dilation_rate=1,
               init_scale=1.0, **kwargs):
    super().__init__(**kwargs)
    if isinstance(kernel_size, int):
      kernel_size = (kernel_size, kernel_size)
    if dilation_rate != 1 and strides != 1:
      raise ValueError('A dilated convolution must have stride 1.')
    self.filters = int(filters)
    self.kernel_size = tuple(int(k) for k in kernel_size)
    self.strides = int(strides)
    self.padding = padding
    self.dilation_rate = int(dilation_rate)
    self.init_scale = float(init_scale)
    self._ddi_active = False

  def build(self, input_shape):
    in_channels = int(input_shape[-1])
    self.V = self.add_weight(
        name='V', shape=self.kernel_size + (in_channels, self.filters),
        initializer=keras.initializers.RandomNormal(stddev=V_INIT_STD))
    self.g = self.add_weight(name='g', shape=(self.filters,), initializer='ones')
    self.b = self.add_weight(name='b', shape=(self.filters,), initializer='zeros')

  def _shift_padding(self):
    """``((top, bottom), (left, right))`` zeros before a VALID conv; None: ``padding``."""
    return None   # the shifted subclasses override it

  def _conv(self, x, kernel):
    shift = self._shift_padding()
    if matmul_conv.use_for(x.dtype, kernel.shape):
      return matmul_conv.conv2d(x, kernel, self.strides, shift or self.padding,
                                self.dilation_rate)
    if shift:
      x = ops.pad(x, [[0, 0], *shift, [0, 0]])
    return ops.conv(x, kernel, strides=self.strides, padding=self.padding,
                    dilation_rate=self.dilation_rate)

  def normalized_kernel(self):
    """``V / ||V||`` per output channel, as ``tf.nn.l2_normalize(V, [0, 1, 2])``."""
    sq_norm = ops.sum(ops.square(self.V), axis=(0, 1, 2))
    return self.V * ops.rsqrt(ops.maximum(sq_norm, 1e-12))

  def call(self, x):
    if self._ddi_active:
      return self._data_dependent_init(x)
    return self._conv(x, self.normalized_kernel() * self.g) + self.b

  def _data_dependent_init(self, x):
    out = self._conv(x, self.normalized_kernel())
    mean, var = tf.nn.moments(tf.cast(out, tf.float32), axes=[0, 1, 2])
    scale = self.init_scale / tf.sqrt(var + 1e-8)
    self.g.assign(scale)
    self.b.assign(-mean * scale)
    return ops.cast(scale, out.dtype) * (out - ops.cast(mean, out.dtype))

  def get_config(self):
    config = super().get_config()
    config.update(filters=self.filters, kernel_size=self.kernel_size, strides=self.strides,
                  padding=self.padding, dilation_rate=self.dilation_rate,
                  init_scale=self.init_scale)
    return config


class DownShiftedConv2D(WeightNormConv2D):
  """Convolution that sees only rows above and the current row (centred columns).

  Pads ``kh - 1`` rows on top and ``(kw - 1) / 2`` columns on each side, then a
  VALID convolution: output ``(i, j)`` depends on input rows ``<= i``.
  """

  def __init__(self, filters, kernel_size=(2, 3), **kwargs):
    kwargs.pop('padding', None)
    kwargs.pop('dilation_rate', None)  # the original ignores dilation here
    super().__init__(filters, kernel_size, padding='valid', **kwargs)

  def _shift_padding(self):
    kh, kw = self.kernel_size
    return (kh - 1, 0), ((kw - 1) // 2, (kw - 1) // 2)


class DownRightShiftedConv2D(WeightNormConv2D):
  """Convolution that sees only rows above and, on the current row, columns to the left.

  Pads ``kh - 1`` rows on top and ``kw - 1`` columns on the left, then a VALID
  convolution: output ``(i, j)`` depends on inputs ``(i', j')`` with ``i' <= i`` and
  ``j' <= j``.
  """

  def __init__(self, filters, kernel_size=(2, 2), **kwargs):
    kwargs.pop('padding', None)
    kwargs.pop('dilation_rate', None)
    super().__init__(filters, kernel_size, padding='valid', **kwargs)

  def _shift_padding(self):
    kh, kw = self.kernel_size
    return (kh - 1, 0), (kw - 1, 0)


CONV_TYPES = {
    'plain': WeightNormConv2D,
    'down': DownShiftedConv2D,
    'down_right': DownRightShiftedConv2D,
}


class GatedResidualBlock(keras.layers.Layer):
  """Gated residual block of PixelCNN++ / PIC (``nn.gated_resnet`` of the original).

  ::

    c1 = conv1(concat_elu(x))                 # 3x3, optionally dilated
    c1 += conv_aux(concat_elu(a))             # 1x1, only when conditioned on a
    c1 = dropout(concat_elu(c1))
    c2 = conv2(c1)                            # 3x3, 2C channels, init_scale 0.1
    out = x + c2[..., :C] * sigmoid(c2[..., C:])

  Args:
    conv_type: ``'plain'`` (embedding network), ``'down'`` (PixelCNN u stream) or
      ``'down_right'`` (ul stream); conv1 and conv2 are of that type.
    dilation_rate: dilation of conv1 (``'plain'`` only; the original ignores it for
      the shifted types).
    dropout: drop rate after the second concat_elu, active when ``training``.
  """

  def __init__(self, conv_type='plain', dilation_rate=1, dropout=0.0, **kwargs):
    super().__init__(**kwargs)
    if conv_type not in CONV_TYPES:
      raise ValueError(f'conv_type must be one of {sorted(CONV_TYPES)}, got {conv_type!r}')
    self.conv_type = conv_type
    self.dilation_rate = int(dilation_rate)
    self.dropout = float(dropout)
    self.conv_aux = None

  def build(self, x_shape, a_shape=None):
    channels = int(x_shape[-1])
    conv = CONV_TYPES[self.conv_type]
    conv1_kwargs = {'dilation_rate': self.dilation_rate} if self.conv_type == 'plain' else {}
    self.conv1 = conv(channels, (3, 3), name='conv1', **conv1_kwargs)
    self.conv1.build(tuple(x_shape[:-1]) + (2 * channels,))
    if a_shape is not None:
      # The original calls the block's conv type with a 1x1 kernel: no padding, so
      # it is a plain 1x1 convolution whatever the type.
      self.conv_aux = WeightNormConv2D(channels, (1, 1), name='conv_aux')
      self.conv_aux.build(tuple(a_shape[:-1]) + (2 * int(a_shape[-1]),))
    self.conv2 = conv(2 * channels, (3, 3), init_scale=0.1, name='conv2')
    self.conv2.build(tuple(x_shape[:-1]) + (2 * channels,))

  def call(self, x, a=None, training=False, seed=None):
    c1 = self.conv1(concat_elu(x))
    if a is not None:
      if self.conv_aux is None:
        raise ValueError(f'{self.name} was built without a conditioning input.')
      c1 = c1 + self.conv_aux(concat_elu(a))
    c1 = concat_elu(c1)
    if training:
      c1 = stateless_dropout(c1, self.dropout, seed)
    c2 = self.conv2(c1)
    value, gate = ops.split(c2, 2, axis=-1)
    return x + value * ops.sigmoid(gate)

  def get_config(self):
    config = super().get_config()
    config.update(conv_type=self.conv_type, dilation_rate=self.dilation_rate,
                  dropout=self.dropout)
    return config


def weight_norm_layers(layer):
  """All :class:`WeightNormConv2D` layers under ``layer`` (itself included)."""
  found = [layer] if isinstance(layer, WeightNormConv2D) else []
  for sub in layer._flatten_layers(include_self=False, recursive=True):  # pylint: disable=protected-access
    if isinstance(sub, WeightNormConv2D):
      found.append(sub)
  return found


class data_dependent_init:  # pylint: disable=invalid-name
  """Context manager: inside it, weight-normalised convs initialise g and b from data.

  Usage (eagerly, once, on a first batch, on a built layer; dropout off)::

    with layers.data_dependent_init(model):
      model(gray, canvas, training=False)

  Each conv then sets ``g = init_scale / std`` and ``b = -mean * g`` from its output
  on that batch (Salimans & Kingma 2016), in forward order, so every layer sees
  already-initialised inputs.
  """

  def __init__(self, layer):
    if not layer.built:
      raise ValueError(f'build {layer.name} before its data-dependent initialisation')
    self._layers = weight_norm_layers(layer)

  def __enter__(self):
    for layer in self._layers:
      layer._ddi_active = True  # pylint: disable=protected-access
    return self

  def __exit__(self, *exc):
    for layer in self._layers:
      layer._ddi_active = False  # pylint: disable=protected-access
    return False
