"""The g^w baseline: the pixel-wise mode of the auxiliary head."""

import numpy as np
import tensorflow as tf

from pic_tf import baseline
from pic_tf import color
from pic_tf import configs
from pic_tf import distribution
from pic_tf import networks

import helpers


def test_embedding_mode_is_the_most_probable_component_mode():
  tiny = helpers.randomize(networks.build_model(configs.tiny().model), 0)
  gray = tf.random.stateless_uniform([2, 8, 8, 1], seed=[1, 2], minval=-0.8, maxval=0.8)
  chroma_size = tiny.config.chroma_size
  base = baseline.embedding_mode_colorization(tiny, gray).numpy()
  assert base.shape == (2, chroma_size, chroma_size, 2)
  params = tiny.embed(gray)[..., :80]
  lum = color.downsample(gray, 2)[..., 0].numpy()
  candidates = helpers.component_modes(params, lum, 10)
  dist = distribution.ChromaMixture(params, lum)
  best = dist.log_prob(base).numpy()
  for k in range(10):
    assert (best >= dist.log_prob(candidates[..., k, :]).numpy() - 1e-5).all()
  # Pixels are independent given g^w: the chosen mode is one of the candidates.
  distance = np.abs(candidates - base[..., None, :]).sum(-1).min(-1)
  assert distance.max() < 1e-6
