"""The chroma mixture (the original's likelihood, a proper distribution, exact sampling),
the objective (eq. 3 in bits) with the auxiliary head, and bpd over a dataset."""

import math

import numpy as np
import pytest
import tensorflow as tf

from pic_tf import configs
from pic_tf.data import preprocess
from pic_tf.model import distribution
from pic_tf.model import networks
from pic_tf.storage import original_checkpoints

K = 10
GRID = -1.0 + 2.0 * np.arange(256) / 255.0   # bin centres of a' and b'


def _softplus(x):
  return np.logaddexp(0.0, x)


def _original_log_prob(x, params, lum):
  """NumPy transcription of the original's lab ``discretized_mix_logistic_loss``."""
  logits = params[..., :K]
  coeffs = np.tanh(params[..., K:4 * K].reshape(params.shape[:-1] + (3, K)))
  rest = params[..., 4 * K:].reshape(params.shape[:-1] + (2, 2 * K))
  means, log_scales = rest[..., :K], np.maximum(rest[..., K:], -7.0)
  a, b = x[..., 0:1], x[..., 1:2]
  lum = lum[..., None]
  mean = np.stack([means[..., 0, :] + coeffs[..., 0, :] * lum,
                   means[..., 1, :] + coeffs[..., 1, :] * lum + coeffs[..., 2, :] * a], -2)
  xx = np.stack([np.broadcast_to(a, mean[..., 0, :].shape),
                 np.broadcast_to(b, mean[..., 1, :].shape)], -2)
  centered = xx - mean
  inv = np.exp(-log_scales)
  plus, minus = inv * (centered + 1 / 255), inv * (centered - 1 / 255)
  # sigmoid(x) = (1 + tanh(x / 2)) / 2: the same value without exp overflowing.
  cdf_delta = 0.5 * (np.tanh(plus / 2) - np.tanh(minus / 2))
  mid = inv * centered
  log_pdf_mid = mid - log_scales - 2 * _softplus(mid) - np.log(127.5)
  with np.errstate(divide='ignore'):
    inner = np.where(cdf_delta > 1e-5, np.log(np.maximum(cdf_delta, 1e-12)), log_pdf_mid)
  lp = np.where(xx < -0.999, plus - _softplus(plus),
                np.where(xx > 0.999, -_softplus(minus), inner))
  lp = lp.sum(-2) + logits - np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(
      -1, keepdims=True)) - logits.max(-1, keepdims=True)
  m = lp.max(-1)
  return m + np.log(np.exp(lp - m[..., None]).sum(-1))


def _random_params(rng, shape, log_scale=(-5.0, -1.0)):
  params = rng.normal(0, 1, size=shape + (8 * K,))
  params[..., 4 * K:6 * K] = 0  # placeholder, set below
  rest = params[..., 4 * K:].reshape(shape + (2, 2 * K))
  rest[..., :K] = rng.uniform(-0.8, 0.8, size=shape + (2, K))
  rest[..., K:] = rng.uniform(*log_scale, size=shape + (2, K))
  params[..., 4 * K:] = rest.reshape(shape + (4 * K,))
  return params.astype(np.float32)


def _joint_table(params, lum):
  """p(a'_k, b'_l) over all 256 x 256 bins for one pixel, as a [256, 256] array."""
  a, b = np.meshgrid(GRID, GRID, indexing='ij')
  x = np.stack([a, b], -1).reshape(-1, 2).astype(np.float32)
  dist = distribution.ChromaMixture(np.broadcast_to(params, (x.shape[0], 8 * K)),
                                    np.full([x.shape[0]], lum, np.float32))
  return np.exp(dist.log_prob(x).numpy().astype(np.float64)).reshape(256, 256)


def test_log_prob_equals_the_original_formula():
  rng = np.random.default_rng(0)
  params = _random_params(rng, (3, 4, 5), log_scale=(-7.5, 0.5))
  lum = rng.uniform(-1, 1, size=(3, 4, 5)).astype(np.float32)
  x = rng.uniform(-1, 1, size=(3, 4, 5, 2)).astype(np.float32)
  x[0, 0, :, 0] = -1.0   # edge bins
  x[0, 1, :, 1] = 1.0
  ours = distribution.ChromaMixture(params, lum).log_prob(x).numpy()
  expected = _original_log_prob(x.astype(np.float64), params.astype(np.float64), lum)
  np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-4)
  assert ours.shape == (3, 4, 5)


@pytest.mark.parametrize('log_scale', [(-5.0, -1.0), (-7.5, -3.0)])
def test_probabilities_sum_to_one_over_all_bins(log_scale):
  rng = np.random.default_rng(1)
  for _ in range(3):
    params = _random_params(rng, (), log_scale)
    total = _joint_table(params, rng.uniform(-1, 1)).sum()
    assert total == pytest.approx(1.0, abs=1e-4)


def _tv(p, q):
  return 0.5 * np.abs(p - q).sum()


def test_samples_follow_log_prob():
  """a' histogram and b' | a'-bin histograms of 200k samples match the pmf (TV < 0.02)."""
  rng = np.random.default_rng(2)
  params = _random_params(rng, (), (-4.6, -4.0))
  params[:K] = [2.0, 1.5] + [-30.0] * (K - 2)      # two components matter
  lum = 0.3
  table = _joint_table(params, lum)
  n = 200_000
  dist = distribution.ChromaMixture(params, np.float32(lum))
  samples = dist.sample(n, seed=tf.constant([4, 2])).numpy()
  bins = np.clip(np.round((samples + 1.0) * 127.5), 0, 255).astype(int)
  p_a = table.sum(1)
  emp_a = np.bincount(bins[:, 0], minlength=256) / n
  assert _tv(emp_a, p_a) < 0.02
  checked = 0
  for k in np.nonzero(emp_a > 0.05)[0]:
    in_bin = bins[:, 0] == k
    emp_b = np.bincount(bins[in_bin, 1], minlength=256) / in_bin.sum()
    assert _tv(emp_b, table[k] / table[k].sum()) < 0.02, f'a-bin {k}'
    checked += 1
  assert checked >= 2
  # A sampler ignoring the a' -> b' coupling fails the same check.
  shuffled = bins[:, 1].copy()
  rng.shuffle(shuffled)
  k = int(np.argmax(emp_a))
  emp_b = np.bincount(shuffled[bins[:, 0] == k], minlength=256) / (bins[:, 0] == k).sum()
  assert _tv(emp_b, table[k] / table[k].sum()) > 0.05


def test_temperature_zero_gives_the_chosen_component_mean():
  rng = np.random.default_rng(3)
  params = _random_params(rng, (50,))
  lum = rng.uniform(-1, 1, size=(50,)).astype(np.float32)
  dist = distribution.ChromaMixture(params, lum)
  samples = dist.sample(seed=tf.constant([1, 2]), temperature=0.0).numpy()   # [50, 2]
  _, coeffs, means, _ = [t.numpy() for t in distribution.split_params(params, K)]
  mean_a = np.clip(means[:, 0] + coeffs[:, 0] * lum[:, None], -1, 1)        # [50, K]
  # Each sample is the mean of one component (with b's mean using that a').
  match_a = np.abs(mean_a - samples[:, :1]) < 1e-6
  mean_b = np.clip(means[:, 1] + coeffs[:, 1] * lum[:, None] + coeffs[:, 2] * samples[:, :1],
                   -1, 1)
  match_b = np.abs(mean_b - samples[:, 1:]) < 1e-5
  assert np.all(np.any(match_a & match_b, axis=1))
  # A certain component: its mean exactly.
  params[:, :K] = -50.0
  params[:, 3] = 50.0
  samples = distribution.ChromaMixture(params, lum).sample(
      seed=tf.constant([5, 6]), temperature=0.0).numpy()
  np.testing.assert_allclose(samples[:, 0], mean_a[:, 3], atol=1e-6)


def test_temperature_scales_the_noise():
  rng = np.random.default_rng(4)
  params = _random_params(rng, (), (-3.0, -3.0))
  params[:K] = [50.0] + [-50.0] * (K - 1)
  dist = distribution.ChromaMixture(params, np.float32(0.0))
  spread = {t: dist.sample(20_000, seed=tf.constant([3, 3]), temperature=t).numpy()[:, 0].std()
            for t in (1.0, 0.5, 0.0)}
  logistic_std = math.exp(-3.0) * math.pi / math.sqrt(3.0)
  assert spread[1.0] == pytest.approx(logistic_std, rel=0.05)
  assert spread[0.5] == pytest.approx(0.5 * logistic_std, rel=0.05)
  assert spread[0.0] < 1e-6


def test_sampling_is_stateless():
  params = _random_params(np.random.default_rng(5), (2, 3, 3))
  dist = distribution.ChromaMixture(params, np.zeros((2, 3, 3), np.float32))
  a = dist.sample(4, seed=tf.constant([1, 1])).numpy()
  b = dist.sample(4, seed=tf.constant([1, 1])).numpy()
  c = dist.sample(4, seed=tf.constant([1, 2])).numpy()
  assert a.shape == (4, 2, 3, 3, 2)
  np.testing.assert_array_equal(a, b)
  assert not np.array_equal(a, c)
  assert a.min() >= -1.0 and a.max() <= 1.0


def test_always_float32():
  rng = np.random.default_rng(6)
  params = _random_params(rng, (2, 2))
  lum = np.zeros((2, 2), np.float32)
  x = rng.uniform(-1, 1, size=(2, 2, 2)).astype(np.float32)
  low = distribution.ChromaMixture(tf.cast(params, tf.bfloat16), tf.cast(lum, tf.bfloat16))
  high = distribution.ChromaMixture(tf.cast(tf.cast(params, tf.bfloat16), tf.float32), lum)
  assert low.dtype == tf.float32
  assert low.log_prob(x).dtype == tf.float32
  np.testing.assert_array_equal(low.log_prob(x), high.log_prob(x))
  assert low.sample(seed=tf.constant([1, 1])).dtype == tf.float32
  assert low.batch_shape == (2, 2) and low.event_shape == (2,)


def test_bits_per_dim():
  rng = np.random.default_rng(7)
  params = _random_params(rng, (3, 4, 4))
  lab = rng.uniform(-1, 1, size=(3, 4, 4, 3)).astype(np.float32)
  nll = -distribution.ChromaMixture(params, lab[..., 0]).log_prob(lab[..., 1:]).numpy()
  per_image = nll.mean(axis=(1, 2)) / (2 * math.log(2))
  np.testing.assert_allclose(distribution.bits_per_dim(params, lab, per_image=True), per_image,
                             rtol=1e-6)
  assert float(distribution.bits_per_dim(params, lab)) == pytest.approx(per_image.mean(),
                                                                        rel=1e-6)


def test_objective_gives_the_originals_bpd_and_aux_bpd(reference_dir):
  """From the network's inputs to both loss terms, against the original's recorded batch."""
  base = reference_dir / 'cifar_c32_l2'
  config = configs.override(configs.cifar10(), ['model.nr_channels=32', 'model.nr_resnet=2'])
  model = networks.build_model(config.model)
  original_checkpoints.load_original(str(base / 'model.ckpt'), model)
  io = np.load(base / 'io.npz')
  inputs = {'gray': io['x_gray'], 'canvas': io['x_rgb_down'], 'lab_down': io['x_lab_down']}
  bpd, aux = distribution.loss_terms(model, inputs)
  assert float(bpd) == pytest.approx(float(io['bpd']), abs=1e-4)             # 9.33589
  assert float(aux) == pytest.approx(float(io['bpd_embedding']), abs=1e-4)   # 9.65940


def test_evaluate_bpd_is_the_exact_mean_over_images():
  """Batches of 4, 4 and 2: the mean of the ten per-image values, not of batch means."""
  config = configs.tiny()
  model = networks.build_model(config.model)
  images = np.random.default_rng(0).integers(0, 256, size=(10, 8, 8, 3), dtype=np.uint8)
  inputs = preprocess.model_inputs(images, 2)
  params, embedding = model(inputs['gray'], inputs['canvas'])
  per_image = distribution.bits_per_dim(params, inputs['lab_down'], per_image=True).numpy()
  aux = distribution.bits_per_dim(embedding[..., :80], inputs['lab_down'], per_image=True)
  ds = tf.data.Dataset.from_tensor_slices(images).batch(4).map(
      lambda b: preprocess.model_inputs(b, 2))
  result = distribution.evaluate_bpd(distribution.make_eval_step(model), ds)
  assert result['num_examples'] == 10
  assert result['bpd'] == pytest.approx(per_image.mean(), rel=1e-5)
  assert result['aux_bpd'] == pytest.approx(float(np.mean(aux)), rel=1e-5)
  # Batch means of 4, 4, 2 would weight the last two images twice as much.
  batch_means = np.mean([per_image[:4].mean(), per_image[4:8].mean(), per_image[8:].mean()])
  assert abs(batch_means - per_image.mean()) > 1e-5
