"""The training objective of PIC (paper eq. 1-3) and the auxiliary g^w head.

PIC factorises the chroma of an image given its luminance by the chain rule (eq. 1),

  p(X^ab | X^L) = prod_i p(X^ab_i | X^ab_1, ..., X^ab_{i-1}; X^L),

each factor ``f^theta_i(X^ab_<i; g^w(X^L))`` (eq. 2) a mixture of 10 discretised
logistics over the 256 x 256 (a, b) bins (:mod:`pic_tf.model.distribution`), with pixels in
raster order at the reduced chroma resolution. Training minimises the negative
log-likelihood (eq. 3), reported in bits per chroma dimension (bpd: nats over
``2 h w ln 2``).

The original code adds a term the paper does not state, and so does this package:
the same loss of an *auxiliary head*, the first ``8K`` channels of the embedding
``g^w(X^L)`` read as each pixel's mixture parameters on their own (no autoregression).
It makes ``g^w`` predict colours by itself, and its pixel-wise MAP is the paper's
``g^w`` baseline (Section 4.3; :mod:`pic_tf.sampling.baseline`). Each term is the mean
over the batch::

  loss = bpd(f^theta) + bpd(aux_head(g^w))
"""

import tensorflow as tf

from pic_tf.model import distribution


def aux_head(embedding, config):
  """The auxiliary head's mixture parameters: the embedding's first ``8K`` channels.

  Args:
    embedding: ``[B, h, w, E]`` output of ``g^w`` at chroma resolution.
    config: the :class:`pic_tf.configs.ModelConfig` (``num_outputs = 8K``).

  Returns:
    ``[B, h, w, 8K]``.
  """
  return embedding[..., :config.num_outputs]


def bits_per_dim(model, inputs, training=False, dropout_seed=None, per_image=False):
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
  bpd = distribution.bits_per_dim(params, inputs['lab_down'], config.nr_logistic_mix,
                                  per_image=per_image)
  aux = distribution.bits_per_dim(aux_head(embedding, config), inputs['lab_down'],
                                  config.nr_logistic_mix, per_image=per_image)
  return bpd, aux


def make_eval_step(model):
  """A compiled ``inputs -> (bpd [B], aux_bpd [B])`` for ``model`` (dropout off)."""

  @tf.function
  def step(inputs):
    return bits_per_dim(model, inputs, per_image=True)

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
