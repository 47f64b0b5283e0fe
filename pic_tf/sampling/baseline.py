"""The g^w baseline of the paper's ablation (Section 4.3): colours from the embedding alone.

The auxiliary head (:func:`pic_tf.model.distribution.aux_head`) reads each chroma pixel's
mixture parameters from ``g^w(X^L)`` without autoregression, so pixels are
independent given the gray image. The baseline colourisation is the pixel-wise
mode (MAP) of that head: the paper shows it is less saturated than PIC's samples.
"""

from pic_tf.model import color
from pic_tf.model import distribution


def embedding_mode_colorization(model, gray):
  """Pixel-wise MAP of the auxiliary g^w head (:meth:`ChromaMixture.mode`).

  For each pixel the candidates are the modes of the K components (a' = mu_a, then
  b' = mu_b given that a'), and the one with the highest probability under the whole
  mixture is chosen.

  Args:
    model: a :class:`pic_tf.model.networks.PICModel`.
    gray: float32 ``[N, S, S, 1]`` L'.

  Returns:
    float32 ``[N, h, w, 2]``, a'b' in [-1, 1].
  """
  config = model.config
  embedding = model.embed(gray, training=False)
  lum = color.downsample(gray, config.downsample)[..., 0]
  return distribution.ChromaMixture(distribution.aux_head(embedding, config), lum,
                                    num_mix=config.nr_logistic_mix).mode()
