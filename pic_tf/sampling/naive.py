"""Autoregressive sampling of PIC (paper eq. 1): the naive sampler and the sampler API.

Sampling follows eq. (1) of the paper and the original code: chroma pixels in
raster order, each drawn from its mixture given the pixels before it; the embedding
g^w(L) is computed once per image; the canvas of already sampled pixels is fed back
to the PixelCNN in RGB, as the original does (the sampled ``L'a'b'`` pixel is
converted to uint8 RGB, rectified and truncated like the original's ``lab_to_rgb``).

Everything is compiled: a ``tf.function`` loops over the pixels of a chroma row (no
Python round trip per pixel), and randomness comes from stateless seeds, so
``(inputs, num_samples, temperature, seed)`` fully determines the output.

Shapes: N images, S samples per image, H x W full resolution, h x w chroma grid,
``B = N * S`` sampling batch (sample s of image n is row ``n * S + s``).
"""

import tensorflow as tf

from pic_tf.model import color
from pic_tf.model import distribution


def as_seed(seed):
  """Any integer pair (int32/int64, list or tensor) -> the int32 ``[2]`` seed TFP expects.

  int64 values are folded into int32 (high and low 32 bits mixed), so distinct int64
  seeds stay distinct in practice.
  """
  seed = tf.convert_to_tensor(seed)
  if seed.dtype == tf.int64:
    seed = tf.bitwise.bitwise_xor(seed, tf.bitwise.right_shift(seed, 32))
  return tf.cast(seed, tf.int32)


class Sampler:
  """Draws colourisations from a :class:`pic_tf.model.networks.PICModel` (naive sampler).

  Every chroma pixel reruns the full PixelCNN on the canvas (``h * w`` passes per
  image), exactly as the original's sampling loop.

  The public API, shared by every sampler (:mod:`pic_tf.sampling.cached`) and used
  by the benchmarks and tests, is :meth:`sample` and its parts: :meth:`embed` (g^w
  once per image), :meth:`initial_state` and :meth:`sample_rows` (the compiled loop
  over a band of chroma rows).

  Args:
    model: a built PICModel (load the EMA weights for sampling, as the original).
    jit: compile the row loop with XLA (opt-in). It computes the same mixture
      parameters to float rounding (1e-4 is tested), but a rounding difference can
      flip a sampled bin, and every later pixel then follows another, equally likely
      path: the samples agree in distribution, not pixel for pixel.
  """

  # What --jit compiles here: the whole row loop (a subclass may compile less itself).
  JIT_ROW_LOOP = True

  def __init__(self, model, jit=False):
    self.model = model
    self.config = model.config
    self.jit = jit
    whole = jit and self.JIT_ROW_LOOP
    # XLA compiles one program per shape: no shape relaxation when it is on.
    self._rows_fn = tf.function(self._sample_rows, jit_compile=whole or None,
                                reduce_retracing=not whole)
    self._embed_fn = tf.function(self._embed, reduce_retracing=True)

  def embed(self, gray):
    """Compiled: ``gray`` float32 ``[N, S, S, 1]`` L' -> ``(embedding [N, h, w, E], lum [N, h, w])``.

    ``lum`` is the downsampled L' each chroma pixel's mixture is conditioned on.
    """
    return self._embed_fn(gray)

  def initial_state(self, canvas, embedding):
    """What a sampler carries from one :meth:`sample_rows` call to the next (here: None)."""
    del canvas, embedding
    return None

  def sample_rows(self, canvas, chroma, embedding, lum, row_start, row_end, seed,
                  temperature, state=None):
    """Compiled: samples chroma rows ``[row_start, row_end)`` in raster order.

    Args:
      canvas: float32 ``[B, h, w, 3]`` RGB canvas in [-1, 1] (pixels before
        ``row_start`` filled).
      chroma: float32 ``[B, h, w, 2]`` sampled a'b' so far.
      embedding: ``[B, h, w, E]`` from :meth:`embed`.
      lum: float32 ``[B, h, w]`` from :meth:`embed`.
      row_start, row_end: int32 scalars.
      seed: int32 ``[2]``; pixel ``p`` uses ``fold_in(seed, p)``.
      temperature: float32 scalar.
      state: from :meth:`initial_state` or the previous call.

    Returns:
      ``(canvas, chroma, state)`` with the rows filled.
    """
    return self._rows_fn(canvas, chroma, embedding, lum, row_start, row_end, seed,
                         temperature, state)

  def _embed(self, gray):
    embedding = self.model.embed(gray, training=False)
    lum = color.downsample(gray, self.config.downsample)[..., 0]
    return embedding, lum

  def _pixel_params(self, canvas, embedding, row, col):
    """Mixture parameters of pixel (row, col) given the canvas. ``[B, 8K]``."""
    params = self.model.pixelcnn(canvas, embedding, training=False)
    return params[:, row, col]

  def _sample_rows(self, canvas, chroma, embedding, lum, row_start, row_end, seed,
                   temperature, state=None):
    """The traced body of :meth:`sample_rows`: one full PixelCNN pass per pixel."""
    h, w = tf.shape(canvas)[1], tf.shape(canvas)[2]
    for index in tf.range(row_start * w, row_end * w):
      row, col = index // w, index % w
      params = self._pixel_params(canvas, embedding, row, col)
      dist = distribution.ChromaMixture(params, lum[:, row, col],
                                        num_mix=self.config.nr_logistic_mix)
      pixel_seed = tf.random.experimental.stateless_fold_in(seed, index)
      ab = dist.sample(seed=pixel_seed, temperature=temperature)           # [B, 2]
      lab = tf.concat([lum[:, row, col, None], ab], axis=-1)
      rgb = color.lab_norm_to_rgb_norm(lab)                                 # [B, 3]
      mask = tf.reshape(tf.one_hot(index, h * w), [1, h, w, 1])
      canvas = canvas * (1.0 - mask) + mask * rgb[:, None, None, :]
      chroma = chroma * (1.0 - mask) + mask * ab[:, None, None, :]
    return canvas, chroma, state

  def sample(self, gray, num_samples=1, temperature=1.0, seed=(0, 0), progress=None):
    """Samples ``num_samples`` chroma images per gray input.

    Args:
      gray: float32 ``[N, S, S, 1]`` L' at the model's size
        (:func:`pic_tf.sampling.photos.model_gray`).
      num_samples: samples per image.
      temperature: logistic noise scale (1: the model; 0: component means).
      seed: int ``[2]``.
      progress: optional :class:`pic_tf.progress.Progress` counting chroma rows.

    Returns:
      float32 ``[N, num_samples, h, w, 2]``, a'b' in [-1, 1].
    """
    gray = tf.convert_to_tensor(gray, tf.float32)
    embedding, lum = self.embed(gray)
    embedding = tf.repeat(embedding, num_samples, axis=0)
    lum = tf.repeat(lum, num_samples, axis=0)
    batch = tf.shape(lum)[0]
    h, w = self.config.chroma_size, self.config.chroma_size
    canvas = tf.zeros([batch, h, w, 3])
    chroma = tf.zeros([batch, h, w, 2])
    seed = as_seed(seed)
    temperature = tf.cast(temperature, tf.float32)
    state = self.initial_state(canvas, embedding)
    rows_per_call = 1 if progress is not None else h
    for start in range(0, h, rows_per_call):
      end = min(start + rows_per_call, h)
      canvas, chroma, state = self.sample_rows(canvas, chroma, embedding, lum,
                                               tf.constant(start), tf.constant(end), seed,
                                               temperature, state)
      if progress is not None:
        progress.update(end - start)
    return tf.reshape(chroma, [-1, num_samples, h, w, 2])
