"""Networks: paper parameter counts and shapes, causality by gradients, Keras round trips."""

import json

import numpy as np
import pytest
import tensorflow as tf

from pic_tf import configs
from pic_tf.model import networks
from pic_tf.storage import original_checkpoints

import helpers



@pytest.fixture(scope='module')
def tiny_model():
  model = networks.build_model(configs.tiny().model)
  helpers.randomize(model, b_std=0.1)
  return model


@pytest.mark.parametrize('name,count', [('cifar10', 25_876_064), ('imagenet', 110_602_272)])
def test_paper_parameter_counts(name, count):
  model = networks.build_model(configs.get_config(name).model)
  assert model.count_params() == count


@pytest.mark.parametrize('name,manifest', [('cifar10', 'manifest_cifar_c160_l4.json'),
                                           ('imagenet', 'manifest_imagenet_c160_l4.json')])
def test_every_variable_matches_the_original_manifest(name, manifest, reference_dir):
  expected = json.loads((reference_dir / manifest).read_text())
  model = networks.build_model(configs.get_config(name).model)
  ours = {n: list(v.shape) for n, v in original_checkpoints.original_name_map(model).items()}
  assert ours == expected['variables']
  assert sum(int(np.prod(s)) for s in ours.values()) == expected['num_params']


def test_output_shapes():
  for name in ('tiny', 'cifar10'):
    cfg = configs.get_config(name).model
    model = networks.build_model(cfg)
    size, chroma = cfg.image_size, cfg.chroma_size
    params, embedding = model(tf.zeros([2, size, size, 1]), tf.zeros([2, chroma, chroma, 3]))
    assert params.shape == (2, chroma, chroma, 80)
    assert embedding.shape == (2, chroma, chroma, cfg.embedding_channels)


def test_causality_by_gradients(tiny_model):
  """Output at chroma pixel i: zero gradient w.r.t. canvas pixels >= i and other images,
  nonzero w.r.t. its left and upper neighbours (over-masking fails)."""
  cfg = tiny_model.config
  h = w = cfg.chroma_size
  rng = np.random.default_rng(1)
  gray = tf.constant(rng.uniform(-1, 1, size=(2, cfg.image_size, cfg.image_size, 1)),
                     tf.float32)
  canvas = tf.Variable(rng.uniform(-1, 1, size=(2, h, w, 3)).astype(np.float32))
  with tf.GradientTape() as tape:
    params, _ = tiny_model(gray, canvas)
  jac = tape.jacobian(params, canvas).numpy()   # [2, h, w, 80, 2, h, w, 3]
  influence = np.abs(jac).max(axis=(3, 7))       # [2, h, w, 2, h, w]
  for b in range(2):
    for i in range(h):
      for j in range(w):
        seen = influence[b, i, j]
        other = seen[1 - b]
        assert np.all(other == 0), f'pixel {(b, i, j)} sees another image'
        flat = seen[b].reshape(-1)
        k = i * w + j
        assert np.all(flat[k:] == 0), f'pixel {(i, j)} sees itself or a later pixel'
        if j > 0:
          assert seen[b, i, j - 1] > 0, f'pixel {(i, j)} does not see its left neighbour'
        if i > 0:
          assert seen[b, i - 1, j] > 0, f'pixel {(i, j)} does not see the pixel above'


def test_gray_input_reaches_every_output(tiny_model):
  cfg = tiny_model.config
  gray = tf.Variable(tf.random.stateless_uniform([1, cfg.image_size, cfg.image_size, 1],
                                                 seed=[1, 1], minval=-1))
  canvas = tf.zeros([1, cfg.chroma_size, cfg.chroma_size, 3])
  with tf.GradientTape() as tape:
    params, _ = tiny_model(gray, canvas)
    loss = tf.reduce_sum(params[0, 0, 0])
  assert np.abs(tape.gradient(loss, gray).numpy()).sum() > 0


def test_dropout_seed_makes_training_deterministic(tiny_model):
  cfg = tiny_model.config
  gray = tf.random.stateless_uniform([2, cfg.image_size, cfg.image_size, 1], seed=[2, 2])
  canvas = tf.random.stateless_uniform([2, cfg.chroma_size, cfg.chroma_size, 3], seed=[3, 3])
  a, _ = tiny_model(gray, canvas, training=True, dropout_seed=tf.constant([7, 7]))
  b, _ = tiny_model(gray, canvas, training=True, dropout_seed=tf.constant([7, 7]))
  c, _ = tiny_model(gray, canvas, training=True, dropout_seed=tf.constant([8, 8]))
  d, _ = tiny_model(gray, canvas, training=False)
  np.testing.assert_array_equal(a, b)
  assert not np.allclose(a, c) and not np.allclose(a, d)


def test_model_config_round_trip(tiny_model):
  clone = networks.PICModel.from_config(tiny_model.get_config())
  assert clone.config == tiny_model.config
  clone.build()
  assert clone.count_params() == tiny_model.count_params()


def test_model_save_and_load_weights(tiny_model, tmp_path):
  path = str(tmp_path / 'pic.weights.h5')
  tiny_model.save_weights(path)
  clone = networks.build_model(tiny_model.config)
  clone.load_weights(path)
  cfg = tiny_model.config
  gray = tf.random.stateless_uniform([1, cfg.image_size, cfg.image_size, 1], seed=[4, 4])
  canvas = tf.random.stateless_uniform([1, cfg.chroma_size, cfg.chroma_size, 3], seed=[5, 5])
  for ours, theirs in zip(tiny_model(gray, canvas), clone(gray, canvas)):
    np.testing.assert_array_equal(ours, theirs)


def test_bfloat16_policy_runs_and_keeps_float32_variables():
  import keras  # pylint: disable=import-outside-toplevel
  keras.mixed_precision.set_dtype_policy('mixed_bfloat16')
  try:
    model = networks.build_model(configs.tiny().model)
  finally:
    keras.mixed_precision.set_dtype_policy('float32')
  cfg = model.config
  params, _ = model(tf.zeros([1, cfg.image_size, cfg.image_size, 1]),
                    tf.zeros([1, cfg.chroma_size, cfg.chroma_size, 3]))
  assert params.dtype == tf.bfloat16
  assert all(v.dtype == 'float32' for v in model.weights)
