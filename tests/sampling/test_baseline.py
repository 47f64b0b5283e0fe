"""The g^w baseline: the pixel-wise mode of the auxiliary head (ChromaMixture.mode)."""

import numpy as np
import tensorflow as tf

from pic_tf import configs
from pic_tf.model import color
from pic_tf.model import distribution
from pic_tf.model import networks
from pic_tf.sampling import baseline

import helpers


def test_component_modes_are_what_temperature_zero_sampling_of_each_component_gives():
  """Two code paths: the mode formula, and the sampler with one component forced."""
  rng = np.random.default_rng(0)
  params = rng.normal(0, 0.7, size=(3, 4, 80)).astype(np.float32)
  lum = rng.uniform(-1, 1, size=(3, 4)).astype(np.float32)
  modes = distribution.ChromaMixture(params, lum).component_modes().numpy()   # [3, 4, 10, 2]
  assert modes.shape == (3, 4, 10, 2)
  for k in range(10):
    forced = params.copy()
    forced[..., k] += 1e4                                # component k is always chosen
    sample = distribution.ChromaMixture(forced, lum).sample(seed=(1, k), temperature=0.0)
    np.testing.assert_allclose(sample, modes[..., k, :], atol=1e-6)


def test_embedding_mode_is_the_most_probable_component_mode():
  tiny = helpers.randomize(networks.build_model(configs.tiny().model), 0)
  gray = tf.random.stateless_uniform([2, 8, 8, 1], seed=[1, 2], minval=-0.8, maxval=0.8)
  chroma_size = tiny.config.chroma_size
  base = baseline.embedding_mode_colorization(tiny, gray).numpy()
  assert base.shape == (2, chroma_size, chroma_size, 2)
  params = tiny.embed(gray)[..., :80]
  lum = color.downsample(gray, 2)[..., 0].numpy()
  dist = distribution.ChromaMixture(params, lum)
  candidates = dist.component_modes().numpy()
  scores = np.stack([dist.log_prob(candidates[..., k, :]).numpy() for k in range(10)], -1)
  # Pixels are independent given g^w: each pixel's result is its best candidate.
  best = np.take_along_axis(candidates, scores.argmax(-1)[..., None, None], axis=-2)[..., 0, :]
  np.testing.assert_array_equal(base, best)
  # Not simply the most weighted component's mode somewhere (the test can tell them apart).
  heaviest = np.take_along_axis(candidates, params.numpy()[..., :10].argmax(-1)[..., None, None],
                                axis=-2)[..., 0, :]
  assert np.abs(heaviest - base).max() > 1e-3
