"""The opt-in XLA sampler: the same model, compiled. Equal in distribution, not per pixel.

A float rounding difference in a compiled logit can flip one sampled bin, after which
every later pixel follows another, equally likely path, so pixel identity is the wrong
test. What is checked instead: along the same canvas every step's mixture parameters
equal a full (uncompiled) pass, and samples of the two paths pass a two-sample test.
"""

import numpy as np
import pytest
import tensorflow as tf

from pic_tf import color
from pic_tf import configs
from pic_tf import networks
from pic_tf import samplers
from pic_tf import stats

import helpers

NUM_SAMPLES = 2000
PIXELS = ((0, 0), (1, 2), (3, 3))   # first, middle and last chroma pixel of tiny's 4x4 grid
BINS = 8


@pytest.fixture(scope='module')
def tiny():
  return helpers.randomize(networks.build_model(configs.tiny().model), 0, b_std=0.1)


def test_compiled_steps_compute_the_uncompiled_mixture_parameters(tiny):
  cfg = tiny.config
  h = cfg.chroma_size
  gray = tf.random.stateless_uniform([3, 8, 8, 1], seed=[1, 2], minval=-0.8, maxval=0.8)
  sampler = samplers.SAMPLERS['cached'](tiny, record_params=True, jit=True)
  embedding, lum = sampler.embed(gray)
  chroma0 = tf.random.stateless_uniform([3, h, h, 2], seed=[5, 6], minval=-0.5, maxval=0.5)
  keep = tf.cast(tf.range(h) < 1, tf.float32)[None, :, None, None]   # row 0 given
  canvas0 = color.lab_norm_to_rgb_norm(tf.concat([lum[..., None], chroma0 * keep], -1)) * keep
  canvas, _, _, params = sampler.sample_rows(canvas0, chroma0 * keep, embedding, lum,
                                             tf.constant(1), tf.constant(h),
                                             tf.constant([3, 4]), tf.constant(1.0))
  full = tiny.pixelcnn(canvas, embedding)[:, 1:h].numpy()
  np.testing.assert_allclose(params.numpy(), full, atol=1e-4, rtol=0)


def _binned(chroma, pixel, channel):
  values = chroma[:, pixel[0], pixel[1], channel]
  return np.histogram(values, bins=BINS, range=(-1.0, 1.0))[0]


def _samples(model, jit, seed, temperature=1.0):
  gray = tf.random.stateless_uniform([1, 8, 8, 1], seed=[7, 7], minval=-0.5, maxval=0.5)
  sampler = samplers.make_sampler(model, 'cached', jit=jit)
  return sampler.sample(gray, NUM_SAMPLES, temperature, seed).numpy()[0]   # [S, h, w, 2]


@pytest.mark.slow
def test_compiled_samples_follow_the_same_distribution(tiny):
  """Chi-square homogeneity of the binned a' and b' of three pixels (Bonferroni over 6)."""
  plain = _samples(tiny, False, (11, 0))
  compiled = _samples(tiny, True, (12, 0))     # other seeds: not the same draws
  colder = _samples(tiny, False, (13, 0), temperature=0.6)
  alpha = 0.01 / (len(PIXELS) * 2)
  worst_same, worst_colder = 1.0, 1.0
  for pixel in PIXELS:
    for channel in (0, 1):
      _, _, p = stats.chi2_homogeneity(_binned(plain, pixel, channel),
                                       _binned(compiled, pixel, channel))
      worst_same = min(worst_same, p)
      _, _, p_colder = stats.chi2_homogeneity(_binned(plain, pixel, channel),
                                              _binned(colder, pixel, channel))
      worst_colder = min(worst_colder, p_colder)
  print(f'\nsmallest p: XLA vs plain {worst_same:.3g}; temperature 0.6 vs 1 {worst_colder:.3g}')
  assert worst_same > alpha
  assert worst_colder < alpha   # the test can tell distributions apart
