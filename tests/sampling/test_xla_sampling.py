"""The opt-in fast samplers: XLA (equal in distribution, not per pixel) and bfloat16.

Compiled, the sampler draws other random numbers (XLA's own generator), and a float
rounding difference in a logit can flip one sampled bin, after which every later pixel
follows another, equally likely path: pixel identity is the wrong test. What is
checked instead: the compiled kernels (the split tap products, the fusable elu) equal
the plain ones, the bfloat16 sampler draws each pixel from its full pass's mixture as
closely as the bfloat16 model allows, and samples of the paths pass a two-sample test.
"""

import math

import numpy as np
import pytest
import tensorflow as tf

from pic_tf.storage import Source
from pic_tf import configs
from pic_tf.model import color
from pic_tf.model import networks
from pic_tf import sampling
from pic_tf.sampling import cached
from pic_tf.storage import loading
from pic_tf.storage import workdir as workdir_lib

import helpers

NUM_SAMPLES = 2000
PIXELS = ((0, 0), (1, 2), (3, 3))   # first, middle and last chroma pixel of tiny's 4x4 grid
BINS = 8


@pytest.fixture(scope='module')
def tiny():
  return helpers.randomize(networks.build_model(configs.tiny().model), 0, b_std=0.1)


def _band(model, sampler, gray, rows, seed=(3, 4)):
  """Samples chroma ``rows`` from a canvas whose rows above hold arbitrary earlier ones.

  Returns ``(chroma [B, rows, w, 2], redrawn)``: the sampler's rows and the same rows
  drawn from a full uncompiled pass of ``model`` (:func:`helpers.redraw`).
  """
  h = model.config.chroma_size
  embedding, lum = sampler.embed(gray)
  chroma0 = tf.random.stateless_uniform([gray.shape[0], h, h, 2], seed=[5, 6],
                                        minval=-0.5, maxval=0.5)
  keep = tf.cast(tf.range(h) < rows[0], tf.float32)[None, :, None, None]
  canvas0 = color.lab_norm_to_rgb_norm(tf.concat([lum[..., None], chroma0 * keep], -1)) * keep
  seed = tf.constant(seed)
  canvas, chroma, _ = sampler.sample_rows(canvas0, chroma0 * keep, embedding, lum,
                                          tf.constant(rows[0]), tf.constant(rows[1]),
                                          seed, tf.constant(1.0))
  redrawn = helpers.redraw(model, canvas, embedding, lum, rows, seed)
  return chroma.numpy()[:, rows[0]:rows[1]], redrawn.numpy()


@pytest.mark.parametrize('dtype,tolerance', [(tf.float32, 1e-6), (tf.bfloat16, 0.02)])
def test_xla_pixel_products_equal_the_plain_ones(dtype, tolerance):
  """--jit splits the tap products (window apart, the current pixel in two halves)."""
  window = [tf.random.stateless_normal([4, 6], seed=[i, 1]) for i in range(2)]
  current = tf.random.stateless_normal([4, 6], seed=[2, 1])
  kernel_row = tf.random.stateless_normal([3, 6, 7], seed=[3, 1])   # odd Cout: unequal halves
  args = ([tf.cast(x, dtype) for x in window], tf.cast(current, dtype), tf.cast(kernel_row, dtype))
  parallel = cached.taps(*args, parallel=True)
  plain = cached.taps(*args)
  exact = tf.einsum('kbc,kcd->bd', tf.stack(window + [current]), kernel_row)
  assert parallel.shape == (4, 7) and parallel.dtype == tf.float32
  np.testing.assert_allclose(parallel, plain, atol=tolerance * 10, rtol=0)
  np.testing.assert_allclose(parallel, exact, atol=tolerance * 10, rtol=tolerance)


def test_xla_elu_fuses_and_equals_elu():
  x = tf.concat([tf.linspace(-20.0, 5.0, 2001), tf.constant([-1e-8, 0.0, 1e-8])], 0)
  np.testing.assert_allclose(cached.fusable_elu(x), tf.nn.elu(x), atol=1.2e-7, rtol=0)
  # tf.nn.elu compiles to expm1, which XLA's CPU backend leaves outside the fused kernels.
  fusable, plain = [
      tf.function(f, jit_compile=True).experimental_get_compiler_ir(x)(stage='optimized_hlo')
      for f in (cached.fusable_elu, lambda v: tf.nn.elu(v))]
  assert 'exponential-minus-one' in plain
  assert 'exponential(' in fusable and 'exponential-minus-one' not in fusable


def test_bfloat16_sampler_is_as_close_to_float32_as_the_bfloat16_model(tiny):
  """--precision=mixed_bfloat16: the cached sampler's pixels are no further from float32
  draws than the bfloat16 full pass's draws are. (Compiled, its random numbers differ:
  the two-sample tests below hold it against the uncompiled sampler.)"""
  cfg = tiny.config
  fast = networks.build_model(cfg, 'mixed_bfloat16')
  for a, b in zip(fast.weights, tiny.weights):
    a.assign(b)
  gray = tf.random.stateless_uniform([8, 8, 8, 1], seed=[1, 2], minval=-0.8, maxval=0.8)
  sampler = sampling.make_sampler(fast, 'cached')
  chroma, redrawn_bf16 = _band(fast, sampler, gray, (0, cfg.chroma_size))
  embedding, lum = sampler.embed(gray)
  canvas = color.lab_norm_to_rgb_norm(
      tf.concat([lum[..., None], tf.constant(chroma)], -1))
  exact = helpers.redraw(tiny, canvas, tiny.embed(gray), lum, (0, cfg.chroma_size),
                         tf.constant((3, 4))).numpy()
  cached_error = np.abs(chroma - exact).mean()
  full_error = np.abs(redrawn_bf16 - exact).mean()
  print(f'\nmean |chroma - float32 draw|: cached bfloat16 {cached_error:.5f}, '
        f'full bfloat16 pass {full_error:.5f}')
  assert 0 < cached_error <= 1.25 * full_error


def _binned(chroma, pixel, channel):
  values = chroma[:, pixel[0], pixel[1], channel]
  return np.histogram(values, bins=BINS, range=(-1.0, 1.0))[0]


def _samples(model, jit, seed, temperature=1.0, precision=None):
  gray = tf.random.stateless_uniform([1, 8, 8, 1], seed=[7, 7], minval=-0.5, maxval=0.5)
  if precision:   # the same weights in a model computing in ``precision``
    other = networks.build_model(model.config, precision)
    for a, b in zip(other.weights, model.weights):
      a.assign(b)
    model = other
  sampler = sampling.make_sampler(model, 'cached', jit=jit)
  return sampler.sample(gray, NUM_SAMPLES, temperature, seed).numpy()[0]   # [S, h, w, 2]


def _smallest_p(a, b):
  return min(helpers.chi2_homogeneity(_binned(a, pixel, channel), _binned(b, pixel, channel))[2]
             for pixel in PIXELS for channel in (0, 1))


@pytest.mark.slow
@pytest.mark.parametrize('jit,precision', [(True, None), (False, 'mixed_bfloat16'),
                                           (True, 'mixed_bfloat16')])
def test_fast_paths_sample_the_same_distribution(tiny, jit, precision):
  """Chi-square homogeneity of the binned a' and b' of three pixels (Bonferroni over 6)."""
  plain = _samples(tiny, False, (11, 0))
  fast = _samples(tiny, jit, (12, 0), precision=precision)   # other seeds: other draws
  colder = _samples(tiny, False, (13, 0), temperature=0.6)
  alpha = 0.01 / (len(PIXELS) * 2)
  same, control = _smallest_p(plain, fast), _smallest_p(plain, colder)
  print(f'\nsmallest p: jit={jit} precision={precision} vs plain {same:.3g}; '
        f'temperature 0.6 vs 1 {control:.3g}')
  assert same > alpha
  assert control < alpha   # the test can tell distributions apart


def test_bfloat16_model_samples_close_to_float32(tiny, tmp_path):
  """--precision=mixed_bfloat16: the same weights computing in bfloat16 (g^w to within
  bfloat16 rounding), sampled by the same code; float32 stays the exact default."""
  workdir = str(tmp_path / 'run')
  workdir_lib.save_new_workdir(workdir, configs.tiny(), tiny)
  exact = loading.load(Source(workdir)).model
  fast = loading.load(Source(workdir, precision='mixed_bfloat16')).model
  assert exact.embedding_net.compute_dtype == 'float32'
  assert fast.embedding_net.compute_dtype == 'bfloat16'
  gray = tf.random.stateless_uniform([2, 8, 8, 1], seed=[1, 2], minval=-0.8, maxval=0.8)
  a, b = exact.embed(gray).numpy(), tf.cast(fast.embed(gray), tf.float32).numpy()
  assert 0 < np.abs(a - b).max() < 0.05 * np.abs(a).max()
  chroma = sampling.make_sampler(fast).sample(gray, 2, 1.0, (1, 2)).numpy()
  assert chroma.shape == (2, 2, 4, 4, 2) and np.abs(chroma).max() <= 1.0


def test_chi2_homogeneity_by_hand():
  # Pooled expectations 15, 20, 25 in each row: statistic (25/15 + 25/25) * 2 = 16/3;
  # with 2 degrees of freedom the survival function is exp(-x / 2).
  statistic, df, p = helpers.chi2_homogeneity([10, 20, 30, 0], [20, 20, 20, 0])
  assert df == 2 and abs(statistic - 16 / 3) < 1e-12
  assert abs(p - math.exp(-8 / 3)) < 1e-9
  assert helpers.chi2_homogeneity([5, 5], [50, 50])[2] > 0.99
