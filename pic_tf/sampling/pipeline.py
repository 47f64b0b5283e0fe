"""The colourise pipeline: gray photos of any size in, full-resolution colourisations out.

The one place the chain is written; the binaries, the SavedModel, evaluation, the
training sample grid and the Python API all call it::

  photo [N, H, W, C] --resize whole, L'--> gray [N, S, S, 1]
        --sampler (f^theta given g^w)--> chroma [N, K, h, w, 2]
        --upsample, join the photo's own L--> colourisations [N, K, H, W, 3]

The g^w baseline (:mod:`pic_tf.sampling.baseline`) takes the same road with the
auxiliary head's pixel-wise MAP in place of the sampler; scoring photos
(:meth:`Colorizer.bits_per_dim`) the road of the training data. Both work eagerly and inside a
``tf.function`` (the SavedModel's signatures).

Eagerly, memory is bounded whatever is asked: the sampler sees at most
:attr:`Colorizer.sample_batch` (image, sample) pairs at a time, and each full-resolution
photo is composed one sample at a time (:mod:`pic_tf.sampling.photos`).
"""

import tensorflow as tf

from pic_tf import sampling
from pic_tf.data import preprocess
from pic_tf.model import distribution
from pic_tf.sampling import baseline
from pic_tf.sampling import photos


# Sampler calls hold about this much of the model's activations (see Colorizer.sample_batch).
SAMPLE_BYTES = 1 << 30
MAX_SAMPLE_BATCH = 256


def plan_calls(num_images, num_samples, batch):
  """How ``num_images`` x ``num_samples`` colourisations are split into calls of at most
  ``batch`` (image, sample) pairs: ``[(first_image, images, samples), ...]`` in order."""
  if num_samples <= batch:
    per_call = batch // num_samples
    return [(i, min(per_call, num_images - i), num_samples)
            for i in range(0, num_images, per_call)]
  return [(i, 1, min(batch, num_samples - k))
          for i in range(num_images) for k in range(0, num_samples, batch)]


def in_calls(colorize_part, num_images, num_samples, batch):
  """Runs ``colorize_part(first, count, samples, call)`` (uint8 ``[count, samples, H, W, 3]``)
  over :func:`plan_calls` and joins the parts: uint8 ``[num_images, num_samples, H, W, 3]``."""
  parts = {}
  for call, (first, count, samples) in enumerate(plan_calls(num_images, num_samples, batch)):
    for i, image_out in enumerate(tf.unstack(colorize_part(first, count, samples, call))):
      parts.setdefault(first + i, []).append(image_out)
  return tf.stack([tf.concat(parts[i], 0) for i in range(num_images)])


class Colorizer:
  """Colourises uint8 photos with a PIC model.

  Args:
    model: a :class:`pic_tf.model.networks.PICModel` holding the weights to sample with
      (the EMA weights, as the original).
    sampler: a name of :data:`pic_tf.sampling.SAMPLERS` (they draw the same samples).
    jit: compile the sampler's pixel loop with XLA (opt-in).
  """

  def __init__(self, model, sampler=sampling.DEFAULT_SAMPLER, jit=False):
    self.model = model
    self.sampler = sampling.make_sampler(model, sampler, jit)

  @property
  def image_size(self):
    """Side of the square the model sees (photos are resized to it, then back)."""
    return self.model.config.image_size

  @property
  def sample_batch(self):
    """(image, sample) pairs one sampler call takes: ``SAMPLE_BYTES`` of the model's
    activations at most (a rough, generous estimate: 12 maps of every width per
    residual block and chroma pixel), between 1 and ``MAX_SAMPLE_BATCH``."""
    config = self.model.config
    per_pair = 4 * config.chroma_size ** 2 * config.nr_channels * 12 * (config.nr_resnet + 1)
    return int(min(MAX_SAMPLE_BATCH, max(1, SAMPLE_BYTES // per_pair)))

  progress_unit = 'row'

  def progress_steps(self, num_images=1, num_samples=1):
    """Units a ``progress`` of :meth:`colorize` counts: chroma rows of each sampler call."""
    return self.model.config.chroma_size * len(
        plan_calls(num_images, num_samples, self.sample_batch))

  def colorize(self, images, num_samples=1, temperature=1.0, seed=(0, 0), progress=None):
    """``num_samples`` colourisations of every photo, at the photo's own resolution.

    The sampler is called on groups of at most :attr:`sample_batch` (image, sample)
    pairs, eagerly and in the SavedModel alike; call ``c`` (0, 1, ... in image order)
    uses the seed
    ``seed + (0, c)``, so a request that fits one call samples as it always did, and a
    larger one is as reproducible.

    Args:
      images: uint8 ``[N, H, W, 1 or 3]``, gray or colour (only its L is used).
      num_samples: int, samples per photo.
      temperature: float > 0, the logistic noise scale (1: the model).
      seed: int ``[2]``; the same seed gives the same colourisations.
      progress: optional :class:`pic_tf.progress.Progress` counting chroma rows
        (:meth:`progress_steps` in all).

    Returns:
      uint8 tensor ``[N, num_samples, H, W, 3]``.
    """
    if not tf.executing_eagerly():   # the SavedModel: N and num_samples are tensors
      gray = photos.model_gray(images, self.image_size)
      chroma = self._sample_in_graph_calls(gray, num_samples, temperature, seed)
      return photos.compose_full_resolution(images, chroma)
    images = tf.convert_to_tensor(images)
    seed = tf.cast(seed, tf.int64)

    def colorize_part(first, count, samples, call):
      part = images[first:first + count]
      chroma = self.sampler.sample(photos.model_gray(part, self.image_size), samples,
                                   temperature, seed + tf.constant([0, call], tf.int64),
                                   progress)
      return photos.compose_full_resolution(part, chroma)

    return in_calls(colorize_part, int(images.shape[0]), int(num_samples), self.sample_batch)

  def _sample_in_graph_calls(self, gray, num_samples, temperature, seed):
    """The sampler over :func:`plan_calls`' calls inside a graph, where the numbers of
    images and samples are known only when it runs (the SavedModel): a request's memory
    is that of :attr:`sample_batch` pairs, whatever it asks. Call ``c`` draws with
    ``seed + (0, c)``, as :func:`in_calls` does eagerly.

    Args:
      gray: float32 ``[N, S, S, 1]`` (:func:`photos.model_gray`).
      num_samples: int32 scalar tensor.
      temperature: float32 scalar.
      seed: int ``[2]``.

    Returns:
      float32 ``[N, num_samples, h, w, 2]``.
    """
    batch, size = self.sample_batch, self.model.config.chroma_size
    images, samples = tf.shape(gray)[0], tf.cast(num_samples, tf.int32)
    few = samples <= batch   # whole images per call; else each image in several calls
    per_call = tf.maximum(batch // samples, 1)
    calls_per_image = (samples + batch - 1) // batch
    num_calls = tf.where(few, (images + per_call - 1) // per_call, images * calls_per_image)
    seed = tf.cast(seed, tf.int64)

    def call(c, parts):
      first = tf.where(few, c * per_call, c // calls_per_image)
      count = tf.where(few, tf.minimum(per_call, images - first), 1)
      drawn = tf.where(few, samples, tf.minimum(batch, samples - c % calls_per_image * batch))
      chroma = self.sampler.sample(gray[first:first + count], drawn, temperature,
                                   seed + tf.stack([tf.constant(0, tf.int64),
                                                    tf.cast(c, tf.int64)]))
      return c + 1, parts.write(c, tf.reshape(chroma, [-1, size, size, 2]))

    parts = tf.TensorArray(tf.float32, size=num_calls, infer_shape=False,
                           element_shape=[None, size, size, 2])
    _, parts = tf.while_loop(lambda c, _: c < num_calls, call, (tf.constant(0), parts))
    return tf.reshape(parts.concat(), [images, samples, size, size, 2])

  def bits_per_dim(self, images):
    """Bits per chroma dimension of colour photos under the model (dropout off).

    Each photo is resized whole to the model's size first, as the training data were.

    Args:
      images: uint8 ``[N, H, W, 3]``, colour.

    Returns:
      float32 tensor ``[N]``.
    """
    inputs = preprocess.model_inputs(photos.resize_batch(images, self.image_size),
                                       self.model.config.downsample)
    return distribution.loss_terms(self.model, inputs, per_image=True)[0]

  def baseline(self, images):
    """The g^w baseline (pixel-wise MAP of the auxiliary head): uint8 ``[N, 1, H, W, 3]``."""
    gray = photos.model_gray(images, self.image_size)
    chroma = baseline.embedding_mode_colorization(self.model, gray)[:, None]
    return photos.compose_full_resolution(images, chroma)
