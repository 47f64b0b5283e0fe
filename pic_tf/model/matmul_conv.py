"""A 2D convolution whose filter gradient runs as one matrix product per kernel tap.

For a stride-``s``, dilation-``d`` convolution ``y = conv(x, W)`` with a ``kh x kw``
kernel, the filter gradient is a sum over every output position ``p``::

  dL/dW[r, c] = sum_p  x_pad[s * p + d * (r, c)]^T  dL/dy[p]      # [Cin, Cout]

that is, for each tap ``(r, c)`` one ``[Cin, M] x [M, Cout]`` matrix product of a shifted
(strided) view of the padded input with the output gradient, ``M = B * H_out * W_out``.
On a CPU in bfloat16 these products are faster than TensorFlow's
``Conv2DBackpropFilter`` (oneDNN) for the wide layers of PIC; for narrow layers
(``Cin * Cout`` < :data:`MIN_CHANNEL_PRODUCT`) the TensorFlow kernel is as fast or
faster (BUILD.md, "Training speed"). The forward pass and the input gradient are
TensorFlow's own kernels (``tf.nn.conv2d`` with native dilation, faster for PIC's dilated
convolutions than the space-to-batch form ``keras.ops.conv`` takes), so only the filter
gradient's summation order differs (in float32 the two agree to ~1e-7).

The PixelCNN's shifted convolutions pass their zero rows and columns as explicit
padding ``((top, bottom), (left, right))`` instead of a separate pad before a VALID
convolution: the input gradient then comes out unpadded (no slice of it), and only the
weight gradient pads the input (its per-tap views need the zeros). Their input gradient
is the forward convolution of ``dy`` with the flipped kernel, since TensorFlow's
bfloat16 ``Conv2DBackpropInput`` with explicit padding has no oneDNN kernel.

:func:`use_for` says where :class:`pic_tf.model.layers.WeightNormConv2D` uses it: bfloat16
on a CPU only (GPUs have fast filter-gradient kernels of their own).
"""

import functools

import tensorflow as tf

# Below this Cin * Cout, oneDNN's Conv2DBackpropFilter is as fast or faster.
MIN_CHANNEL_PRODUCT = 256 * 128


@functools.lru_cache(maxsize=None)
def _no_gpu():
  return not tf.config.list_physical_devices('GPU')


def use_for(dtype, kernel_shape):
  """True where the per-tap filter gradient is the faster one.

  Args:
    dtype: the convolution's compute dtype.
    kernel_shape: ``(kh, kw, Cin, Cout)``.
  """
  return (tf.as_dtype(dtype) == tf.bfloat16 and
          int(kernel_shape[2]) * int(kernel_shape[3]) >= MIN_CHANNEL_PRODUCT and _no_gpu())


def _same_padding(size, kernel, stride, dilation):
  """``(before, after)`` padding of TensorFlow's ``'SAME'`` along one axis."""
  extent = (kernel - 1) * dilation + 1
  total = max((-(-size // stride) - 1) * stride + extent - size, 0)
  return total // 2, total - total // 2


def _named_padding(padding, shape, kernel, dilation):
  """``((top, bottom), (left, right))`` of ``'SAME'`` or ``'VALID'`` at stride 1."""
  if padding.upper() == 'VALID':
    return ((0, 0), (0, 0))
  return tuple(_same_padding(int(shape[i + 1]), kernel[i], 1, dilation) for i in (0, 1))


def _explicit(padding):
  """``((top, bottom), (left, right))`` for a list of pairs, None for a name."""
  if isinstance(padding, str):
    return None
  return tuple(tuple(int(n) for n in pair) for pair in padding)


def filter_gradient(x, dy, kernel_shape, strides=1, padding='valid', dilation_rate=1):
  """``dL/dW`` of ``conv(x, W)`` from ``dy = dL/dy``, one matrix product per tap.

  Args:
    x: ``[B, H, W, Cin]`` input of the convolution (static H, W).
    dy: ``[B, H_out, W_out, Cout]`` gradient of its output, same dtype.
    kernel_shape: ``(kh, kw, Cin, Cout)``.
    strides, padding, dilation_rate: as the convolution's (``'same'``, ``'valid'``,
      either case, or explicit ``((top, bottom), (left, right))``).

  Returns:
    ``[kh, kw, Cin, Cout]`` in ``dy``'s dtype (the products accumulate in float32).
  """
  kh, kw, cin, cout = (int(n) for n in kernel_shape)
  s, d = int(strides), int(dilation_rate)
  pads = _explicit(padding)
  if pads is None and padding.lower() == 'same':
    pads = [_same_padding(int(x.shape[1]), kh, s, d), _same_padding(int(x.shape[2]), kw, s, d)]
  if pads is not None:
    x = tf.pad(x, [[0, 0], pads[0], pads[1], [0, 0]])
  out_h, out_w = int(dy.shape[1]), int(dy.shape[2])
  dy = tf.reshape(dy, [-1, cout])
  taps = []
  for r in range(kh):
    for c in range(kw):
      view = x[:, r * d:r * d + (out_h - 1) * s + 1:s, c * d:c * d + (out_w - 1) * s + 1:s]
      taps.append(tf.matmul(tf.reshape(view, [-1, cin]), dy, transpose_a=True))
  return tf.reshape(tf.stack(taps), [kh, kw, cin, cout])


def conv2d(x, kernel, strides=1, padding='valid', dilation_rate=1):
  """``tf.nn.conv2d`` (NHWC) with :func:`filter_gradient` as its kernel's gradient.

  Args:
    x: ``[B, H, W, Cin]`` with static H and W.
    kernel: ``[kh, kw, Cin, Cout]``, same dtype.
    padding: ``'same'``, ``'valid'`` or ``((top, bottom), (left, right))``: explicit
      zero padding inside the convolution, which spares the shifted convolutions'
      separate pad and the slice of its gradient.

  Returns:
    ``[B, H_out, W_out, Cout]``, exactly ``tf.nn.conv2d``'s output.
  """
  s, d, pads = int(strides), int(dilation_rate), _explicit(padding)
  if pads is None:
    padding = padding.upper()
  elif s != 1:
    raise ValueError(f'explicit padding needs stride 1, got stride {s}')
  else:
    padding = [[0, 0], *pads, [0, 0]]

  def input_gradient(dy, x, kernel):
    if pads is None and d == 1:
      return tf.raw_ops.Conv2DBackpropInput(
          input_sizes=tf.shape(x), filter=kernel, out_backprop=dy, strides=[1, s, s, 1],
          padding=padding, dilations=[1, d, d, 1])
    # The convolution of dy with the flipped, transposed kernel (stride 1 here): TensorFlow's
    # bfloat16 Conv2DBackpropInput with explicit padding has no oneDNN kernel (far slower),
    # and without oneDNN (a CPU without AVX-512) none takes a dilation.
    kh, kw = (int(n) for n in kernel.shape[:2])
    sides = pads or _named_padding(padding, x.shape, (kh, kw), d)
    extent = ((kh - 1) * d + 1, (kw - 1) * d + 1)
    flipped = tf.transpose(tf.reverse(kernel, [0, 1]), [0, 1, 3, 2])
    around = [[e - 1 - before, e - 1 - after] for e, (before, after) in zip(extent, sides)]
    return tf.nn.conv2d(dy, flipped, 1, [[0, 0], *around, [0, 0]], dilations=d)

  @tf.custom_gradient
  def conv(x, kernel):
    y = tf.nn.conv2d(x, kernel, s, padding, dilations=d)

    def grad(dy):
      dx = input_gradient(dy, x, kernel)
      return dx, filter_gradient(x, dy, kernel.shape, s, pads or padding, d)
    return y, grad
  return conv(x, kernel)
