"""Sampling draws from the model, in raster order, reproducibly."""

import itertools

import numpy as np
import pytest
import tensorflow as tf

from pic_tf import configs
from pic_tf.model import color
from pic_tf.model import distribution
from pic_tf.model import networks
from pic_tf import progress
from pic_tf.sampling import naive

import helpers



@pytest.fixture(scope='module')
def tiny():
  model = networks.build_model(configs.tiny().model)
  helpers.randomize(model, 0)
  return model


@pytest.fixture(scope='module')
def gray(tiny):
  size = tiny.config.image_size
  return tf.random.stateless_uniform([2, size, size, 1], seed=[1, 2], minval=-0.8, maxval=0.8)


def test_same_seed_same_output_other_seed_other_output(tiny, gray):
  sampler = naive.Sampler(tiny)
  a = sampler.sample(gray, 3, 1.0, (4, 2)).numpy()
  b = sampler.sample(gray, 3, 1.0, (4, 2)).numpy()
  c = sampler.sample(gray, 3, 1.0, (4, 3)).numpy()
  assert a.shape == (2, 3, 4, 4, 2)
  np.testing.assert_array_equal(a, b)
  assert np.abs(a - c).mean() > 0.05
  assert np.abs(a[:, 0] - a[:, 1]).mean() > 0.05    # samples of one image differ
  # Row by row (with a progress bar) gives exactly the same samples.
  bar = progress.Progress(4, 'rows', 'row', min_interval=1e9)
  np.testing.assert_array_equal(sampler.sample(gray, 3, 1.0, (4, 2), bar), a)
  # int64 seeds (as a SavedModel request carries) work too.
  np.testing.assert_array_equal(sampler.sample(gray, 3, 1.0, tf.constant([4, 2], tf.int64)), a)


def test_temperature_zero_keeps_only_the_component_choice(tiny, gray):
  sampler = naive.Sampler(tiny)
  chroma = sampler.sample(gray, 4, 0.0, (7, 7)).numpy()          # [2, 4, h, w, 2]
  flat = chroma.reshape((-1,) + chroma.shape[2:])
  lum = np.repeat(color.downsample(gray, 2)[..., 0].numpy(), 4, axis=0)
  canvas = color.lab_norm_to_rgb_norm(np.concatenate([lum[..., None], flat], -1))
  params, _ = tiny(np.repeat(gray.numpy(), 4, axis=0), canvas)  # teacher forcing
  candidates = distribution.ChromaMixture(params, lum).component_modes().numpy()  # [B,h,w,K,2]
  distance = np.abs(candidates - flat[..., None, :]).max(-1).min(-1)
  assert distance.max() < 1e-5        # every pixel is exactly one component's mean
  assert np.abs(chroma[:, 0] - chroma[:, 1]).max() > 0.01     # the choice stays random


def test_samples_follow_the_models_chain_on_a_2x2_grid():
  """Exact test on a 2x2 chroma grid with K = 2 at temperature 0.

  The joint distribution of the 16 component paths is computed from the model's own
  conditionals by teacher forcing (one pass per complete canvas, as log_prob does);
  the sampler's empirical frequencies over 20,000 samples must match it, while the
  same chain in column-major order (a wrong raster order) is clearly different.
  """
  config = configs.override(configs.tiny(), ['model.image_size=4', 'model.nr_logistic_mix=2'])
  model = networks.build_model(config.model)
  helpers.randomize(model, 0, g_scale=1.5)   # canvas-dependent, not degenerate (entropy 1.65)
  gray = tf.constant([[[[0.3], [-0.2], [0.5], [0.1]], [[-0.4], [0.2], [0.0], [0.6]],
                       [[0.1], [0.3], [-0.5], [0.2]], [[0.4], [-0.1], [0.2], [-0.3]]]])
  lum = color.downsample(gray, 2)[0, ..., 0].numpy()            # [2, 2]
  embedding = model.embed(gray)
  pixels = [(0, 0), (0, 1), (1, 0), (1, 1)]

  def chain(order, teacher_forced):
    """{path (components in raster pixel order): (probability, chroma [2, 2, 2])}."""
    out = {}
    for path in itertools.product(range(2), repeat=4):   # path[i]: component of order[i]
      chroma = np.zeros((2, 2, 2), np.float32)
      logits = []
      for step, (r, c) in enumerate(order):
        canvas = color.lab_norm_to_rgb_norm(np.concatenate([lum[..., None], chroma], -1))
        params = model.pixelcnn(canvas[None], embedding)[0, r, c].numpy()
        modes = distribution.ChromaMixture(params, lum[r, c], num_mix=2).component_modes()
        chroma[r, c] = modes.numpy()[path[step]]
        logits.append(params[:2])
      if teacher_forced:   # probabilities from one pass on the finished canvas
        canvas = color.lab_norm_to_rgb_norm(np.concatenate([lum[..., None], chroma], -1))
        params = model.pixelcnn(canvas[None], embedding)[0].numpy()
        logits = [params[r, c, :2] for r, c in order]
      prob = np.prod([np.exp(l[k] - np.logaddexp(l[0], l[1])) for l, k in zip(logits, path)])
      raster_path = tuple(path[order.index(p)] for p in pixels)
      out[raster_path] = (prob, chroma)
    return out

  exact = chain(pixels, teacher_forced=True)
  assert sum(p for p, _ in exact.values()) == pytest.approx(1.0, abs=1e-5)
  n = 20_000
  samples = naive.Sampler(model).sample(gray, n, 0.0, (5, 5)).numpy()[0]   # [n, 2, 2, 2]
  paths = list(exact)
  table = np.stack([exact[p][1] for p in paths])                              # [16, 2, 2, 2]
  match = np.abs(samples[:, None] - table[None]).max(axis=(2, 3, 4))          # [n, 16]
  assert match.min(axis=1).max() < 1e-5       # every sample is one of the 16 paths
  empirical = np.bincount(match.argmin(axis=1), minlength=16) / n
  expected = np.array([exact[p][0] for p in paths])
  tv = 0.5 * np.abs(empirical - expected).sum()
  assert tv < 0.03, (tv, empirical, expected)
  column_major = chain([(0, 0), (1, 0), (0, 1), (1, 1)], teacher_forced=False)
  wrong = np.array([column_major[p][0] for p in paths])
  assert 0.5 * np.abs(wrong - expected).sum() > 0.1   # the test tells the orders apart
