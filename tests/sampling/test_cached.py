"""The cached sampler computes what the naive one does: every pixel drawn from the full
model's mixture for it, so the same samples."""

import numpy as np
import pytest
import tensorflow as tf

from pic_tf import configs
from pic_tf.model import color
from pic_tf.model import networks
from pic_tf import progress
from pic_tf.sampling import cached
from pic_tf.sampling import naive

import helpers



_SAMPLERS = {}


@pytest.fixture(autouse=True)
def _free_samplers():
  yield
  _SAMPLERS.clear()   # the ImageNet model is large


def _samplers(model):
  """One naive and one cached sampler per model: their traced row functions are reused."""
  if id(model) not in _SAMPLERS:
    _SAMPLERS[id(model)] = (model, naive.Sampler(model), cached.CachedSampler(model))
  return _SAMPLERS[id(model)][1:]


def _check(model, batch, rows, seed=(3, 4), temperature=1.0):
  """Samples chroma rows ``rows`` with both samplers from the same partial canvas."""
  cfg = model.config
  h = w = cfg.chroma_size
  gray = tf.random.stateless_uniform([batch, cfg.image_size, cfg.image_size, 1], seed=[1, 2],
                                     minval=-0.8, maxval=0.8)
  slow, fast = _samplers(model)
  embedding, lum = slow.embed(gray)
  # Rows above `rows` hold an arbitrary earlier result: both samplers continue from it.
  chroma0 = tf.random.stateless_uniform([batch, h, w, 2], seed=[5, 6], minval=-0.5, maxval=0.5)
  keep = tf.cast(tf.range(h) < rows[0], tf.float32)[None, :, None, None]
  chroma0 *= keep
  canvas0 = color.lab_norm_to_rgb_norm(tf.concat([lum[..., None], chroma0], -1)) * keep
  seed = tf.constant(seed, tf.int32)
  temperature = tf.constant(temperature)
  args = (embedding, lum, tf.constant(rows[0]), tf.constant(rows[1]), seed, temperature)
  canvas_n, chroma_naive, _ = slow.sample_rows(canvas0, chroma0, *args)
  canvas_c, chroma_cached, _ = fast.sample_rows(canvas0, chroma0, *args)
  # Each sampler's every pixel is the draw its seed gives from a full forward pass's
  # mixture on the canvas that sampler finished.
  for canvas, chroma in ((canvas_n, chroma_naive), (canvas_c, chroma_cached)):
    drawn = helpers.redraw(model, canvas, embedding, lum, rows, seed, temperature)
    np.testing.assert_allclose(chroma.numpy()[:, rows[0]:rows[1]], drawn.numpy(),
                               atol=1e-4, rtol=0)
  same = np.all(np.abs(chroma_naive.numpy() - chroma_cached.numpy()) < 1e-5, axis=-1)
  return same[:, rows[0]:rows[1]].mean()


def test_tiny_model_every_row():
  model = networks.build_model(configs.tiny().model)
  helpers.randomize(model, 0)
  assert _check(model, batch=3, rows=(0, 4)) >= 0.999
  assert _check(model, batch=2, rows=(2, 4), temperature=0.0) >= 0.999


def test_sample_interface_matches_naive():
  model = networks.build_model(configs.tiny().model)
  helpers.randomize(model, 1)
  gray = tf.random.stateless_uniform([2, 8, 8, 1], seed=[7, 7], minval=-1)
  expected = naive.Sampler(model).sample(gray, 3, 1.0, (9, 9)).numpy()
  fast = cached.CachedSampler(model).sample(gray, 3, 1.0, (9, 9)).numpy()
  assert np.mean(np.all(np.abs(expected - fast) < 1e-5, axis=-1)) >= 0.999
  # Row by row (as with a progress bar) the histories are carried, not recomputed.
  bar = progress.Progress(4, 'rows', 'row', min_interval=1e9)
  rows = cached.CachedSampler(model).sample(gray, 3, 1.0, (9, 9), bar).numpy()
  np.testing.assert_array_equal(rows, fast)


@pytest.mark.slow   # the paper configs: minutes; the tiny config checks the same code by default
def test_cifar10_paper_config():
  model = networks.build_model(configs.cifar10().model)
  helpers.randomize(model, 2)
  # Both samplers draw exactly from the model (checked in _check); their float orders
  # differ, and with TensorFlow's graph optimiser off (train.deterministic, set by any
  # trainer in this process) a near-tie at one of these 96 pixels goes the other way.
  assert _check(model, batch=2, rows=(0, 3)) >= 0.98       # top rows (zero history)
  assert _check(model, batch=2, rows=(13, 16)) >= 0.98     # bottom rows, from a given canvas


@pytest.mark.slow   # the CIFAR-10 paper config above checks the same code by default
def test_imagenet_paper_config():
  model = networks.build_model(configs.imagenet().model)
  helpers.randomize(model, 3)
  # One row each (32 full-network passes for the naive sampler): the top row (zero
  # history) and the last row (every history cache in use).
  assert _check(model, batch=1, rows=(0, 1)) >= 0.999
  assert _check(model, batch=1, rows=(31, 32)) >= 0.999
