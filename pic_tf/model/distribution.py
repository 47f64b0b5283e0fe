"""PIC's likelihood: the chain rule over chroma pixels (paper eq. 1-3), the per-pixel
mixture of discretised logistics, and the training objective in bits per dimension.

PIC factorises the chroma of an image given its luminance by the chain rule (eq. 1),

  p(X^ab | X^L) = prod_i p(X^ab_i | X^ab_1, ..., X^ab_{i-1}; X^L),

each factor ``f^theta_i(X^ab_<i; g^w(X^L))`` (eq. 2) a mixture of 10 discretised
logistics over the 256 x 256 (a, b) bins (:class:`ChromaMixture`), with pixels in raster
order at the reduced chroma resolution. Training minimises the negative
log-likelihood (eq. 3), reported in bits per chroma dimension (bpd: nats over
``2 h w ln 2``).

The original code adds a term the paper does not state, and so does this package:
the same loss of an *auxiliary head*, the first ``8K`` channels of the embedding
``g^w(X^L)`` read as each pixel's mixture parameters on their own (no autoregression).
It makes ``g^w`` predict colours by itself, and its pixel-wise MAP is the paper's
``g^w`` baseline (Section 4.3; :mod:`pic_tf.sampling.baseline`). Each term is the mean
over the batch (:func:`loss_terms`)::

  loss = bpd(f^theta) + bpd(aux_head(g^w))

The mixture is built outside Keras layers from ``tfp.distributions`` pieces
(``Logistic`` for the CDFs and noise, ``Categorical`` for the component) and always
evaluated in float32, whatever dtype the network ran in.

Layout of the ``8K`` parameters of one chroma pixel (K components), as the
original (``nn.discretized_mix_logistic_loss``, colorspace ``lab``)::

  [0:K]     mixture logits
  [K:4K]    reshaped to (3, K), through tanh: coefficients c0, c1, c2
  [4K:8K]   reshaped to (2, 2K): [..., :K] means m_a, m_b;
            [..., K:2K] log-scales s_a, s_b (clipped below at -7)

  mu_a = m_a + c0 * L'
  mu_b = m_b + c1 * L' + c2 * a'

Each channel is a logistic discretised into 256 bins of width 2/255 on [-1, 1]; the
edge bins (|x| > 0.999) take the tails. As the original (and PixelCNN++), a bin whose
probability underflows (``< 1e-5``) is approximated by the density at its centre
times the bin width.
"""

import math

import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions

LOG_SCALE_MIN = -7.0
_HALF_BIN = 1.0 / 255.0
_EDGE = 0.999


def split_params(params, num_mix):
  """Splits ``[..., 8K]`` parameters into their parts (float32).

  Returns:
    ``(logits [..., K], coeffs [..., 3, K], means [..., 2, K], log_scales [..., 2, K])``
    with tanh applied to the coefficients and log-scales clipped at -7.
  """
  params = tf.cast(params, tf.float32)
  k = num_mix
  batch = tf.shape(params)[:-1]
  logits = params[..., :k]
  coeffs = tf.tanh(tf.reshape(params[..., k:4 * k], tf.concat([batch, [3, k]], 0)))
  rest = tf.reshape(params[..., 4 * k:8 * k], tf.concat([batch, [2, 2 * k]], 0))
  means = rest[..., :k]
  log_scales = tf.maximum(rest[..., k:], LOG_SCALE_MIN)
  return logits, coeffs, means, log_scales


def discretized_logistic_log_prob(x, loc, log_scale):
  """log P(bin of x) for a logistic discretised into 256 bins on [-1, 1].

  Args:
    x: float32, values in [-1, 1] (broadcasts against ``loc``).
    loc: float32 means.
    log_scale: float32 log-scales.

  Returns:
    float32 log-probabilities, the broadcast shape.
  """
  logistic = tfd.Logistic(loc=loc, scale=tf.exp(log_scale))
  log_cdf_plus = logistic.log_cdf(x + _HALF_BIN)          # left edge bin: P(X < x + 1/255)
  log_sf_min = logistic.log_survival_function(x - _HALF_BIN)  # right edge bin
  cdf_delta = logistic.cdf(x + _HALF_BIN) - logistic.cdf(x - _HALF_BIN)
  log_pdf_mid = logistic.log_prob(x) - math.log(127.5)    # density * bin width
  inner = tf.where(cdf_delta > 1e-5, tf.math.log(tf.maximum(cdf_delta, 1e-12)), log_pdf_mid)
  return tf.where(x < -_EDGE, log_cdf_plus, tf.where(x > _EDGE, log_sf_min, inner))


class ChromaMixture(tfd.Distribution):
  """Distribution of the chroma pair (a', b') of every chroma pixel.

  Batch shape ``[B, h, w]`` (whatever ``params`` has before its last axis), event
  shape ``[2]``. Values are in [-1, 1].

  Args:
    params: ``[..., 8K]`` network output (any float dtype; cast to float32).
    luminance: ``[...]`` downsampled L' that the mean coefficients use.
    num_mix: K.
  """

  def __init__(self, params, luminance, num_mix=10, validate_args=False,
               allow_nan_stats=True, name='ChromaMixture'):
    parameters = dict(locals())
    with tf.name_scope(name) as name:
      self._params = tf.cast(params, tf.float32)
      self._luminance = tf.cast(luminance, tf.float32)
      self._num_mix = int(num_mix)
      super().__init__(dtype=tf.float32,
                       reparameterization_type=tfd.NOT_REPARAMETERIZED,
                       validate_args=validate_args, allow_nan_stats=allow_nan_stats,
                       parameters=parameters, name=name)

  @classmethod
  def _parameter_properties(cls, dtype, num_classes=None):
    return dict(params=tfp.util.ParameterProperties(event_ndims=1),
                luminance=tfp.util.ParameterProperties(event_ndims=0))

  @property
  def params(self):
    return self._params

  @property
  def luminance(self):
    return self._luminance

  @property
  def num_mix(self):
    return self._num_mix

  def _event_shape(self):
    return tf.TensorShape([2])

  def _event_shape_tensor(self):
    return tf.constant([2], tf.int32)

  def _components(self):
    """Per-component means (before the a' term for b), log-scales, c2 and logits."""
    logits, coeffs, means, log_scales = split_params(self._params, self._num_mix)
    lum = self._luminance[..., tf.newaxis]
    mean_a = means[..., 0, :] + coeffs[..., 0, :] * lum
    mean_b_base = means[..., 1, :] + coeffs[..., 1, :] * lum
    return logits, mean_a, mean_b_base, coeffs[..., 2, :], log_scales

  def component_log_prob(self, x):
    """log pi_k + log p_k(a', b') for every component. ``[..., 2] -> [..., K]``."""
    logits, mean_a, mean_b_base, c2, log_scales = self._components()
    x = tf.cast(x, tf.float32)
    a, b = x[..., 0:1], x[..., 1:2]
    log_p_a = discretized_logistic_log_prob(a, mean_a, log_scales[..., 0, :])
    log_p_b = discretized_logistic_log_prob(b, mean_b_base + c2 * a, log_scales[..., 1, :])
    return log_p_a + log_p_b + tf.nn.log_softmax(logits, axis=-1)

  def _log_prob(self, x):
    return tf.reduce_logsumexp(self.component_log_prob(x), axis=-1)

  def component_modes(self):
    """Each component's mode: ``a' = mu_a``, then ``b' = mu_b`` given that ``a'``.

    Both clipped to [-1, 1]: what temperature-0 sampling of that component gives.

    Returns:
      float32 ``[..., K, 2]``.
    """
    _, mean_a, mean_b_base, c2, _ = self._components()
    a = tf.clip_by_value(mean_a, -1.0, 1.0)
    b = tf.clip_by_value(mean_b_base + c2 * a, -1.0, 1.0)
    return tf.stack([a, b], axis=-1)

  def _mode(self):
    """The most probable of the component modes under the whole mixture, per pixel.

    The paper's pixel-wise MAP of g^w (Section 4.3). The mixture's exact maximum may lie
    between the components' modes; this is the best of those K candidates.
    """
    candidates = self.component_modes()                                   # [..., K, 2]
    rank = candidates.shape.rank
    # log_prob of candidate k at every pixel: the K axis first, as a sample axis.
    perm = [rank - 2] + list(range(rank - 2)) + [rank - 1]
    log_probs = self.log_prob(tf.transpose(candidates, perm))              # [K, ...]
    best = tf.argmax(log_probs, axis=0, output_type=tf.int32)              # [...]
    return tf.gather(candidates, best[..., tf.newaxis], axis=-2, batch_dims=rank - 2)[..., 0, :]

  def _sample_n(self, n, seed=None, temperature=1.0):
    """Samples as the original: a component, then a' then b' given a'.

    ``temperature`` scales the logistic noise: 1 samples the model, 0 gives the
    mean of the chosen component (the component itself stays random). Samples are
    clipped to [-1, 1] but not snapped to bin centres, as the original. The
    noise is an exact logistic (the original truncated its uniform draws to
    [1e-5, 1 - 1e-5], i.e. |noise| <= 11.5).
    """
    seed_k, seed_noise = tfp.random.split_seed(seed, n=2, salt='ChromaMixture')
    logits, mean_a, mean_b_base, c2, log_scales = self._components()
    k = tfd.Categorical(logits=logits).sample(n, seed=seed_k)          # [n, ...]
    select = tf.one_hot(k, self._num_mix, dtype=tf.float32)            # [n, ..., K]

    def pick(t):
      return tf.reduce_sum(t * select, axis=-1)

    shape = tf.shape(select)[:-1]
    noise = tfd.Logistic(loc=0.0, scale=1.0).sample(
        tf.concat([shape, [2]], 0), seed=seed_noise)
    temperature = tf.cast(temperature, tf.float32)
    # multiply_no_nan: temperature 0 gives exactly the mean even if a scale overflows.
    a = pick(mean_a) + tf.math.multiply_no_nan(
        tf.exp(pick(log_scales[..., 0, :])) * noise[..., 0], temperature)
    a = tf.clip_by_value(a, -1.0, 1.0)
    b = pick(mean_b_base) + pick(c2) * a + tf.math.multiply_no_nan(
        tf.exp(pick(log_scales[..., 1, :])) * noise[..., 1], temperature)
    b = tf.clip_by_value(b, -1.0, 1.0)
    return tf.stack([a, b], axis=-1)


def bits_per_dim(params, lab_down, num_mix=10, per_image=False):
  """Negative log2-likelihood per chroma dimension, as the original's loss.

  Args:
    params: ``[B, h, w, 8K]`` mixture parameters.
    lab_down: ``[B, h, w, 3]`` downsampled L'a'b' (L' conditions, a'b' are the data).
    num_mix: K.
    per_image: return ``[B]`` instead of the batch mean.

  Returns:
    float32 scalar (mean over the batch) or ``[B]``.
  """
  lab_down = tf.cast(lab_down, tf.float32)
  dist = ChromaMixture(params, lab_down[..., 0], num_mix=num_mix)
  nll = -dist.log_prob(lab_down[..., 1:])                      # [B, h, w] nats
  bpd = tf.reduce_mean(nll, axis=[1, 2]) / (2.0 * math.log(2.0))
  return bpd if per_image else tf.reduce_mean(bpd)


def aux_head(embedding, config):
  """The auxiliary head's mixture parameters: the embedding's first ``8K`` channels.

  Args:
    embedding: ``[B, h, w, E]`` output of ``g^w`` at chroma resolution.
    config: the :class:`pic_tf.configs.ModelConfig` (``num_outputs = 8K``).

  Returns:
    ``[B, h, w, 8K]``.
  """
  return embedding[..., :config.num_outputs]


def loss_terms(model, inputs, training=False, dropout_seed=None, per_image=False):
  """bpd of ``f^theta`` and of the auxiliary head on a batch (eq. 3 in bits).

  Args:
    model: a :class:`pic_tf.model.networks.PICModel`.
    inputs: the dict of :func:`pic_tf.data.preprocess.model_inputs` (``gray`` ``[B, S, S, 1]``,
      ``canvas`` ``[B, s, s, 3]``, ``lab_down`` ``[B, s, s, 3]``).
    training: dropout on (training) or off.
    dropout_seed: stateless dropout seed ``[2]`` (training only).
    per_image: ``[B]`` values instead of batch means.

  Returns:
    ``(bpd, aux_bpd)``, float32 scalars (batch means) or ``[B]``; the training loss
    is their sum.
  """
  config = model.config
  params, embedding = model(inputs['gray'], inputs['canvas'], training=training,
                            dropout_seed=dropout_seed)
  bpd = bits_per_dim(params, inputs['lab_down'], config.nr_logistic_mix, per_image=per_image)
  aux = bits_per_dim(aux_head(embedding, config), inputs['lab_down'], config.nr_logistic_mix,
                     per_image=per_image)
  return bpd, aux


def make_eval_step(model):
  """A compiled ``inputs -> (bpd [B], aux_bpd [B])`` for ``model`` (dropout off)."""

  @tf.function
  def step(inputs):
    return loss_terms(model, inputs, per_image=True)

  return step


def evaluate_bpd(step_fn, dataset, progress=None):
  """Mean per-image bpd and auxiliary bpd over ``dataset``.

  Args:
    step_fn: from :func:`make_eval_step`.
    dataset: batches of input dicts.
    progress: optional :class:`pic_tf.progress.Progress` (anything with
      ``update(count, text)``) counting images.

  Returns:
    ``{'bpd': float, 'aux_bpd': float, 'num_examples': int}``.
  """
  total = total_aux = 0.0
  count = 0
  for inputs in dataset:
    bpd, aux = step_fn(inputs)
    total += float(tf.reduce_sum(tf.cast(bpd, tf.float64)))
    total_aux += float(tf.reduce_sum(tf.cast(aux, tf.float64)))
    count += int(bpd.shape[0])
    if progress:
      progress.update(int(bpd.shape[0]), f'  bpd {total / count:.4f}')
  if count == 0:
    raise ValueError('empty evaluation dataset')
  return {'bpd': total / count, 'aux_bpd': total_aux / count, 'num_examples': count}
