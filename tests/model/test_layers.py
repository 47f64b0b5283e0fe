"""Layers: weight normalisation, initialisation, shifts, gated blocks, Keras round trips."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from pic_tf.model import layers


def _numpy_conv(x, w, pad_top, pad_bottom, pad_left, pad_right):
  """Reference VALID correlation after explicit zero padding, NHWC / HWIO."""
  x = np.pad(x, [(0, 0), (pad_top, pad_bottom), (pad_left, pad_right), (0, 0)])
  kh, kw = w.shape[:2]
  out_h, out_w = x.shape[1] - kh + 1, x.shape[2] - kw + 1
  out = np.zeros((x.shape[0], out_h, out_w, w.shape[3]))
  for i in range(out_h):
    for j in range(out_w):
      out[:, i, j] = np.einsum('bhwc,hwco->bo', x[:, i:i + kh, j:j + kw], w)
  return out


def _randomize(layer, seed=0):
  rng = np.random.default_rng(seed)
  for var in layer.weights:
    var.assign(rng.normal(size=var.shape).astype(np.float32))


def test_weight_norm_formula():
  conv = layers.WeightNormConv2D(5, (3, 3))
  x = np.random.default_rng(0).normal(size=(2, 6, 7, 4)).astype(np.float32)
  conv(x)
  _randomize(conv)
  v, g, b = conv.V.numpy(), conv.g.numpy(), conv.b.numpy()
  w = g * v / np.sqrt((v ** 2).sum(axis=(0, 1, 2)))
  expected = _numpy_conv(x, w, 1, 1, 1, 1) + b
  np.testing.assert_allclose(conv(x), expected, atol=1e-4)
  assert conv.V.shape == (3, 3, 4, 5) and conv.g.shape == (5,) and conv.b.shape == (5,)


def test_shifted_convs_pad_as_the_original():
  x = np.random.default_rng(1).normal(size=(1, 5, 6, 3)).astype(np.float32)
  down = layers.DownShiftedConv2D(4, (2, 3))
  down_right = layers.DownRightShiftedConv2D(4, (2, 2))
  for conv, pads in ((down, (1, 0, 1, 1)), (down_right, (1, 0, 1, 0))):
    out = conv(x)
    _randomize(conv, 2)
    out = conv(x).numpy()
    w = conv.g.numpy() * conv.V.numpy() / np.linalg.norm(
        conv.V.numpy().reshape(-1, 4), axis=0)
    np.testing.assert_allclose(out, _numpy_conv(x, w, *pads) + conv.b.numpy(), atol=1e-4)
    assert out.shape == (1, 5, 6, 4)


def test_default_initialisation_is_what_the_original_ran():
  conv = layers.WeightNormConv2D(64, (3, 3))
  conv.build((None, 8, 8, 128))
  np.testing.assert_array_equal(conv.g.numpy(), 1.0)
  np.testing.assert_array_equal(conv.b.numpy(), 0.0)
  assert conv.V.numpy().mean() == pytest.approx(0.0, abs=2e-3)
  assert conv.V.numpy().std() == pytest.approx(0.05, rel=0.02)


@pytest.mark.parametrize('init_scale', [1.0, 0.1])
def test_data_dependent_initialisation(init_scale):
  conv = layers.WeightNormConv2D(16, (3, 3), init_scale=init_scale)
  x = np.random.default_rng(3).normal(2.0, 3.0, size=(32, 8, 8, 6)).astype(np.float32)
  conv.build(x.shape)
  with layers.data_dependent_init(conv):
    init_out = conv(x).numpy()
  out = conv(x).numpy()
  np.testing.assert_allclose(out, init_out, atol=1e-4)
  np.testing.assert_allclose(out.mean(axis=(0, 1, 2)), 0.0, atol=1e-4)
  np.testing.assert_allclose(out.std(axis=(0, 1, 2)), init_scale, rtol=1e-3)
  assert not np.allclose(conv.g.numpy(), 1.0)


def test_data_dependent_initialisation_of_a_block_initialises_every_conv():
  block = layers.GatedResidualBlock('down_right')
  x = np.random.default_rng(4).normal(size=(8, 6, 6, 8)).astype(np.float32)
  a = np.random.default_rng(5).normal(size=(8, 6, 6, 3)).astype(np.float32)
  with pytest.raises(ValueError, match='build'):
    layers.data_dependent_init(block)
  block.build(x.shape, a.shape)
  with layers.data_dependent_init(block):
    block(x, a)
  convs = layers.weight_norm_layers(block)
  assert len(convs) == 3
  for conv in convs:
    assert not np.allclose(conv.b.numpy(), 0.0)


def test_concat_elu_and_shifts():
  x = np.arange(2 * 3 * 4 * 2, dtype=np.float32).reshape(2, 3, 4, 2) - 20
  y = layers.concat_elu(x).numpy()
  expected = np.concatenate([x, -x], -1)
  expected = np.where(expected > 0, expected, np.exp(expected) - 1)
  np.testing.assert_allclose(y, expected, rtol=1e-6)
  down = layers.down_shift(x).numpy()
  np.testing.assert_array_equal(down[:, 0], 0)
  np.testing.assert_array_equal(down[:, 1:], x[:, :-1])
  right = layers.right_shift(x).numpy()
  np.testing.assert_array_equal(right[:, :, 0], 0)
  np.testing.assert_array_equal(right[:, :, 1:], x[:, :, :-1])


def test_gated_block_matches_its_definition():
  block = layers.GatedResidualBlock('plain', dilation_rate=2)
  rng = np.random.default_rng(6)
  x = rng.normal(size=(2, 7, 7, 4)).astype(np.float32)
  a = rng.normal(size=(2, 7, 7, 3)).astype(np.float32)
  block(x, a)
  _randomize(block, 7)
  c1 = block.conv1(layers.concat_elu(x)) + block.conv_aux(layers.concat_elu(a))
  c2 = block.conv2(layers.concat_elu(c1)).numpy()
  expected = x + c2[..., :4] / (1 + np.exp(-c2[..., 4:]))
  np.testing.assert_allclose(block(x, a), expected, atol=1e-5)
  assert block.conv1.dilation_rate == 2 and block.conv2.dilation_rate == 1
  assert block.conv2.init_scale == 0.1
  assert block.conv_aux.kernel_size == (1, 1)


def test_dropout_only_in_training_and_seeded():
  block = layers.GatedResidualBlock('down', dropout=0.5)
  x = np.random.default_rng(8).normal(size=(2, 5, 5, 4)).astype(np.float32)
  eval_out = block(x).numpy()
  np.testing.assert_array_equal(block(x, training=False), eval_out)
  seed = tf.constant([3, 4])
  train1 = block(x, training=True, seed=seed).numpy()
  train2 = block(x, training=True, seed=seed).numpy()
  train3 = block(x, training=True, seed=tf.constant([5, 6])).numpy()
  np.testing.assert_array_equal(train1, train2)
  assert not np.allclose(train1, eval_out) and not np.allclose(train1, train3)


def test_dropout_mask_is_the_float32_one_in_every_precision():
  """float32: exactly TensorFlow's stateless dropout; bfloat16: the same units dropped."""
  x = tf.constant(np.random.default_rng(11).normal(size=(4, 6, 6, 8)), tf.float32)
  seed = tf.constant([3, 4])
  ours = layers.stateless_dropout(x, 0.5, seed)
  np.testing.assert_array_equal(ours, tf.nn.experimental.stateless_dropout(x, 0.5, seed))
  low = layers.stateless_dropout(tf.cast(x, tf.bfloat16), 0.5, seed)
  assert low.dtype == tf.bfloat16
  np.testing.assert_array_equal(low.numpy() != 0, ours.numpy() != 0)
  np.testing.assert_allclose(tf.cast(low, tf.float32), ours, rtol=1e-2)


def test_layer_configs_round_trip():
  for layer in (layers.WeightNormConv2D(7, (1, 3), strides=2, init_scale=0.3),
                layers.DownShiftedConv2D(5, (2, 3)),
                layers.DownRightShiftedConv2D(5, (2, 1)),
                layers.GatedResidualBlock('down_right', dilation_rate=1, dropout=0.25)):
    clone = layer.__class__.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()


def test_weights_save_and_load(tmp_path):
  def make():
    inp = keras.Input((6, 6, 3))
    out = layers.GatedResidualBlock('plain')(layers.WeightNormConv2D(4, 3)(inp))
    return keras.Model(inp, out)

  model = make()
  _randomize(model, 9)
  path = str(tmp_path / 'block.weights.h5')
  model.save_weights(path)
  clone = make()
  clone.load_weights(path)
  x = np.random.default_rng(10).normal(size=(1, 6, 6, 3)).astype(np.float32)
  np.testing.assert_array_equal(clone(x), model(x))
