"""The per-tap filter gradient equals TensorFlow's and is wired in where it is faster."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from pic_tf.model import layers
from pic_tf.model import matmul_conv

# (stride, padding, dilation, kernel (kh, kw), input size): every kind PIC's layers use
# (plain 3x3 'same', strided, dilated, the shifted convs' explicit padding, 'valid',
# 1x1) and odd sizes where 'same' pads unevenly.
CASES = [(1, 'same', 1, (3, 3), 8), (2, 'same', 1, (3, 3), 8), (2, 'same', 1, (3, 3), 7),
         (1, 'same', 2, (3, 3), 8), (1, 'same', 4, (3, 3), 9), (1, 'valid', 1, (2, 3), 8),
         (1, 'valid', 1, (1, 1), 6), (2, 'valid', 1, (3, 3), 7),
         (1, ((2, 0), (1, 1)), 1, (3, 3), 8), (1, ((1, 0), (1, 0)), 1, (2, 2), 7),
         (1, ((4, 1), (2, 3)), 2, (3, 3), 9)]


def _reference_conv(x, kernel, stride, padding, dilation, conv):
  """``conv`` (TensorFlow's or Keras') with an explicit padding done by tf.pad + VALID."""
  if not isinstance(padding, str):
    x, padding = tf.pad(x, [[0, 0], *padding, [0, 0]]), 'valid'
  return conv(x, kernel, stride, padding, dilation)


def _gradients(conv, x, kernel):
  with tf.GradientTape() as tape:
    tape.watch([x, kernel])
    y = conv(x, kernel)
    loss = tf.reduce_sum(tf.cast(y, tf.float32) * tf.sin(tf.cast(y, tf.float32)))
  return (y,) + tuple(tape.gradient(loss, [x, kernel]))


@pytest.mark.parametrize('stride,padding,dilation,kernel_size,size', CASES)
def test_same_outputs_and_gradients_as_tensorflow_in_float32(stride, padding, dilation,
                                                            kernel_size, size):
  rng = np.random.default_rng(0)
  x = tf.constant(rng.normal(size=(2, size, size, 5)), tf.float32)
  kernel = tf.constant(rng.normal(size=kernel_size + (5, 7)), tf.float32)
  tf_conv = lambda a, k, s, p, d: tf.nn.conv2d(a, k, s, p.upper(), dilations=d)
  keras_conv = lambda a, k, s, p, d: keras.ops.conv(a, k, s, p, dilation_rate=d)
  # A dilated conv's input gradient has no CPU kernel without oneDNN (a CPU without
  # AVX-512): there the reference gradients are keras.ops.conv's (space-to-batch).
  reference = _gradients(lambda a, k: _reference_conv(
      a, k, stride, padding, dilation, keras_conv if dilation > 1 else tf_conv), x, kernel)
  reference = (_reference_conv(x, kernel, stride, padding, dilation, tf_conv),) + reference[1:]
  ours = _gradients(lambda a, k: matmul_conv.conv2d(a, k, stride, padding, dilation), x, kernel)
  if isinstance(padding, str):
    np.testing.assert_array_equal(ours[0], reference[0])          # forward: TensorFlow's own
  else:   # TensorFlow's explicit padding against its pad + VALID: the same sums to 1e-6
    np.testing.assert_allclose(ours[0], reference[0], rtol=0,
                               atol=1e-6 * np.abs(reference[0]).max())
  # keras.ops.conv (the layers' float32 path) dilates by space-to-batch: the same numbers to 1e-5.
  keras_out = _reference_conv(x, kernel, stride, padding, dilation, keras_conv)
  np.testing.assert_allclose(ours[0], keras_out, rtol=0, atol=1e-5 * np.abs(keras_out).max())
  np.testing.assert_allclose(ours[1], reference[1], rtol=0, atol=1e-5 * np.abs(reference[1]).max())
  # Only the summation order of the filter gradient differs (<= 2e-6 of the largest here).
  np.testing.assert_allclose(ours[2], reference[2], rtol=0, atol=5e-6 * np.abs(reference[2]).max())


def test_bfloat16_filter_gradient_is_as_close_to_float32_as_tensorflows():
  rng = np.random.default_rng(1)
  x32 = tf.constant(rng.normal(size=(4, 8, 8, 64)), tf.float32)
  k32 = tf.constant(rng.normal(size=(3, 3, 64, 32)) * 0.1, tf.float32)
  exact = _gradients(lambda a, k: tf.nn.conv2d(a, k, 1, 'SAME'), x32, k32)[2].numpy()
  x16, k16 = tf.cast(x32, tf.bfloat16), tf.cast(k32, tf.bfloat16)
  theirs = _gradients(lambda a, k: tf.nn.conv2d(a, k, 1, 'SAME'), x16, k16)[2]
  ours = _gradients(lambda a, k: matmul_conv.conv2d(a, k, 1, 'same'), x16, k16)[2]
  assert ours.dtype == tf.bfloat16
  error = lambda g: np.abs(tf.cast(g, tf.float32).numpy() - exact).max() / np.abs(exact).max()
  assert error(ours) < max(2 * error(theirs), 1e-2), (error(ours), error(theirs))


def test_explicit_padding_needs_stride_1():
  with pytest.raises(ValueError, match='stride 1'):
    matmul_conv.conv2d(tf.zeros([1, 4, 4, 2]), tf.zeros([2, 2, 2, 2]), 2, ((1, 0), (1, 0)))


def test_used_for_wide_bfloat16_convolutions_on_a_cpu_only(monkeypatch):
  wide, narrow = (3, 3, 256, 128), (3, 3, 128, 128)
  assert matmul_conv.use_for(tf.bfloat16, wide)
  assert not matmul_conv.use_for(tf.bfloat16, narrow)
  assert not matmul_conv.use_for(tf.float32, wide)
  monkeypatch.setattr(matmul_conv, '_no_gpu', lambda: False)
  assert not matmul_conv.use_for(tf.bfloat16, wide)


@pytest.mark.parametrize('dtype_policy,uses_matmuls', [('float32', False),
                                                       ('mixed_bfloat16', True)])
def test_weight_norm_conv_takes_its_filter_gradient_from_matmuls_in_bfloat16(
    dtype_policy, uses_matmuls):
  conv = layers.DownShiftedConv2D(128, (3, 3), dtype=dtype_policy)
  x = tf.random.normal([1, 4, 4, 256])
  conv.build(x.shape)

  @tf.function
  def grad(x):
    with tf.GradientTape() as tape:
      loss = tf.reduce_sum(tf.cast(conv(x), tf.float32))
    return tape.gradient(loss, conv.V)

  graph = grad.get_concrete_function(x).graph
  op_types = {op.type for op in graph.get_operations()}
  assert ('Conv2DBackpropFilter' not in op_types) == uses_matmuls
  assert ('MatMul' in op_types) == uses_matmuls
  # In bfloat16 the shift's zero rows and columns are the convolution's own padding.
  forward = tf.function(conv).get_concrete_function(x).graph
  assert ('Pad' not in {op.type for op in forward.get_operations()}) == uses_matmuls
  assert np.isfinite(grad(x).numpy()).all()
