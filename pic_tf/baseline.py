"""The g^w baseline of the paper's ablation (Section 4.3): colours from the embedding alone.

The auxiliary head (:func:`pic_tf.objective.aux_head`) reads each chroma pixel's
mixture parameters from ``g^w(X^L)`` without autoregression, so pixels are
independent given the gray image. The baseline colourisation is the pixel-wise
mode (MAP) of that head: the paper shows it is less saturated than PIC's samples.
"""

import tensorflow as tf

from pic_tf import color
from pic_tf import distribution
from pic_tf import objective


def embedding_mode_colorization(model, gray):
  """Pixel-wise MAP of the auxiliary g^w head.

  For each pixel the candidates are the modes of the K components (a' = mu_a, then
  b' = mu_b given that a'), and the one with the highest probability under the whole
  mixture is chosen.

  Args:
    model: a :class:`pic_tf.networks.PICModel`.
    gray: float32 ``[N, S, S, 1]`` L'.

  Returns:
    float32 ``[N, h, w, 2]``, a'b' in [-1, 1].
  """
  config = model.config
  embedding = model.embed(gray, training=False)
  params = objective.aux_head(embedding, config)
  lum = color.downsample(gray, config.downsample)[..., 0]
  dist = distribution.ChromaMixture(params, lum, num_mix=config.nr_logistic_mix)
  _, coeffs, means, _ = distribution.split_params(params, config.nr_logistic_mix)
  a = tf.clip_by_value(means[..., 0, :] + coeffs[..., 0, :] * lum[..., None], -1.0, 1.0)
  b = tf.clip_by_value(means[..., 1, :] + coeffs[..., 1, :] * lum[..., None] +
                       coeffs[..., 2, :] * a, -1.0, 1.0)
  candidates = tf.stack([a, b], axis=-1)                                   # [N, h, w, K, 2]
  log_probs = dist.log_prob(tf.transpose(candidates, [3, 0, 1, 2, 4]))     # [K, N, h, w]
  best = tf.argmax(log_probs, axis=0)
  return tf.gather(candidates, best, axis=3, batch_dims=3)
