"""The colourise pipeline: gray photos of any size in, full-resolution colourisations out.

The one place the chain is written; the binaries, the SavedModel, evaluation, the
training sample grid and the Python API all call it::

  photo [N, H, W, C] --resize whole, L'--> gray [N, S, S, 1]
        --sampler (f^theta given g^w)--> chroma [N, K, h, w, 2]
        --upsample, join the photo's own L--> colourisations [N, K, H, W, 3]

The g^w baseline (:mod:`pic_tf.sampling.baseline`) takes the same road with the
auxiliary head's pixel-wise MAP in place of the sampler. Both work eagerly and inside a
``tf.function`` (the SavedModel's signatures).
"""

from pic_tf import sampling
from pic_tf.sampling import baseline
from pic_tf.sampling import fullres


class Colorizer:
  """Colourises uint8 photos with a PIC model.

  Args:
    model: a :class:`pic_tf.model.networks.PICModel` holding the weights to sample with
      (the EMA weights, as the original).
    sampler: a name of :data:`pic_tf.sampling.SAMPLERS` (they draw the same samples).
    jit: compile the sampler's pixel loop with XLA (opt-in).
  """

  def __init__(self, model, sampler=sampling.DEFAULT, jit=False):
    self.model = model
    self.sampler = sampling.make_sampler(model, sampler, jit)

  @property
  def image_size(self):
    """Side of the square the model sees (photos are resized to it, then back)."""
    return self.model.config.image_size

  @property
  def progress_steps(self):
    """Units a ``progress`` of :meth:`colorize` counts: the chroma rows."""
    return self.model.config.chroma_size

  def colorize(self, images, num_samples=1, temperature=1.0, seed=(0, 0), progress=None):
    """``num_samples`` colourisations of every photo, at the photo's own resolution.

    Args:
      images: uint8 ``[N, H, W, 1 or 3]``, gray or colour (only its L is used).
      num_samples: int, samples per photo.
      temperature: float > 0, the logistic noise scale (1: the model).
      seed: int ``[2]``; the same seed gives the same colourisations.
      progress: optional :class:`pic_tf.progress.Progress` counting chroma rows.

    Returns:
      uint8 tensor ``[N, num_samples, H, W, 3]``.
    """
    gray = fullres.model_gray(images, self.image_size)
    chroma = self.sampler.sample(gray, num_samples, temperature, seed, progress)
    return fullres.compose_full_resolution(images, chroma)

  def baseline(self, images):
    """The g^w baseline (pixel-wise MAP of the auxiliary head): uint8 ``[N, 1, H, W, 3]``."""
    gray = fullres.model_gray(images, self.image_size)
    chroma = baseline.embedding_mode_colorization(self.model, gray)[:, None]
    return fullres.compose_full_resolution(images, chroma)
