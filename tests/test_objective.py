"""The objective (eq. 3 in bits) and the auxiliary head, on the original's reference batch."""

import numpy as np
import pytest
import tensorflow as tf

from pic_tf import configs
from pic_tf import distribution
from pic_tf import networks
from pic_tf import objective

import helpers


def test_aux_head_is_the_first_8k_channels_and_the_loss_is_its_bpd():
  config = configs.tiny().model
  model = helpers.randomize(networks.build_model(config), 0)
  rng = np.random.default_rng(0)
  gray = tf.constant(rng.uniform(-1, 1, (2, 8, 8, 1)), tf.float32)
  canvas = tf.constant(rng.uniform(-1, 1, (2, 4, 4, 3)), tf.float32)
  lab = tf.constant(rng.uniform(-1, 1, (2, 4, 4, 3)), tf.float32)
  inputs = {'gray': gray, 'canvas': canvas, 'lab_down': lab}
  params, embedding = model(gray, canvas, training=False)
  head = objective.aux_head(embedding, config)
  assert head.shape == (2, 4, 4, 8 * config.nr_logistic_mix)
  np.testing.assert_array_equal(head, embedding[..., :80])
  bpd, aux = objective.bits_per_dim(model, inputs, per_image=True)
  assert bpd.shape == aux.shape == (2,)
  np.testing.assert_allclose(bpd, distribution.bits_per_dim(params, lab, 10, per_image=True))
  np.testing.assert_allclose(aux, distribution.bits_per_dim(head, lab, 10, per_image=True))
  mean_bpd, mean_aux = objective.bits_per_dim(model, inputs)
  assert float(mean_bpd) == pytest.approx(float(tf.reduce_mean(bpd)), rel=1e-6)
  assert float(mean_aux) == pytest.approx(float(tf.reduce_mean(aux)), rel=1e-6)
