"""Colourisation: autoregressive sampling, the g^w baseline, reconstruction, full resolution.

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

from pic_tf import color
from pic_tf import data
from pic_tf import distribution
from pic_tf import objective


def as_seed(seed):
  """Any integer pair (int32/int64, list or tensor) -> the int32 ``[2]`` seed TFP expects.

  int64 values are folded into int32 (high and low 32 bits mixed), so distinct int64
  seeds stay distinct in practice.
  """
  seed = tf.convert_to_tensor(seed)
  if seed.dtype == tf.int64:
    seed = tf.bitwise.bitwise_xor(seed, tf.bitwise.right_shift(seed, 32))
  return tf.cast(seed, tf.int32)


def gray_from_images(images):
  """uint8 ``[N, H, W, 1 or 3]`` -> float32 L in [0, 100], ``[N, H, W, 1]``.

  A one-channel image is a gray photo (R = G = B).
  """
  images = tf.convert_to_tensor(images)
  rgb = tf.cond(tf.equal(tf.shape(images)[-1], 1),
                lambda: tf.tile(images[..., :1], [1, 1, 1, 3]), lambda: images[..., :3])
  return color.rgb_to_lab(rgb)[..., :1]


def model_gray(images, image_size):
  """The model's input L' ``[N, S, S, 1]`` from uint8 images of any size ``[N, H, W, C]``.

  The image is resized whole to the model's square size as the training data were
  (antialiased bicubic, no crop), then converted to L'.
  """
  images = tf.convert_to_tensor(images)
  rgb = tf.cond(tf.equal(tf.shape(images)[-1], 1),
                lambda: tf.tile(images[..., :1], [1, 1, 1, 3]), lambda: images[..., :3])
  resized = tf.map_fn(lambda im: data.resize_image(im, image_size), rgb,
                      fn_output_signature=tf.TensorSpec([image_size, image_size, 3], tf.uint8))
  return color.rgb_to_lab_norm(resized)[..., :1]


class Sampler:
  """Draws colourisations from a :class:`pic_tf.networks.PICModel` (naive sampler).

  Every chroma pixel reruns the full PixelCNN on the canvas (``h * w`` passes per
  image), exactly as the original's sampling loop.

  Args:
    model: a built PICModel (load the EMA weights for sampling, as the original).
  """

  def __init__(self, model):
    self.model = model
    self.config = model.config
    self._row_fn = tf.function(self._sample_rows, reduce_retracing=True)
    self._embed_fn = tf.function(self._embed, reduce_retracing=True)

  def _record(self, outputs):
    """Hook for subclasses keeping extra outputs of the row function (None: reset)."""

  def _embed(self, gray):
    embedding = self.model.embed(gray, training=False)
    lum = color.downsample(gray, self.config.downsample)[..., 0]
    return embedding, lum

  def _pixel_params(self, canvas, embedding, row, col):
    """Mixture parameters of pixel (row, col) given the canvas. ``[B, 8K]``."""
    params = self.model.pixelcnn(canvas, embedding, training=False)
    return params[:, row, col]

  def _initial_state(self, canvas, embedding):
    """What a sampler carries from one row call to the next (the naive one: nothing)."""
    del canvas, embedding
    return None

  def _sample_rows(self, canvas, chroma, embedding, lum, row_start, row_end, seed,
                   temperature, state=None):
    """Samples chroma rows ``[row_start, row_end)`` in raster order.

    Args:
      canvas: float32 ``[B, h, w, 3]`` RGB canvas in [-1, 1] (pixels before
        ``row_start`` filled).
      chroma: float32 ``[B, h, w, 2]`` sampled a'b' so far.
      embedding: ``[B, h, w, E]``.
      lum: float32 ``[B, h, w]`` downsampled L'.
      seed: int ``[2]``; pixel ``p`` uses ``fold_in(seed, p)``.
      temperature: float32 scalar.
      state: from :meth:`_initial_state` or the previous call (unused here).

    Returns:
      ``(canvas, chroma, state)`` with the rows filled.
    """
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
      gray: float32 ``[N, S, S, 1]`` L' at the model's size (see :func:`model_gray`).
      num_samples: samples per image.
      temperature: logistic noise scale (1: the model; 0: component means).
      seed: int ``[2]``.
      progress: optional :class:`pic_tf.progress.Progress` counting chroma rows.

    Returns:
      float32 ``[N, num_samples, h, w, 2]``, a'b' in [-1, 1].
    """
    gray = tf.convert_to_tensor(gray, tf.float32)
    embedding, lum = self._embed_fn(gray)
    embedding = tf.repeat(embedding, num_samples, axis=0)
    lum = tf.repeat(lum, num_samples, axis=0)
    batch = tf.shape(lum)[0]
    h, w = self.config.chroma_size, self.config.chroma_size
    canvas = tf.zeros([batch, h, w, 3])
    chroma = tf.zeros([batch, h, w, 2])
    seed = as_seed(seed)
    temperature = tf.cast(temperature, tf.float32)
    self._record(None)
    state = self._initial_state(canvas, embedding)
    rows_per_call = 1 if progress is not None else h
    for start in range(0, h, rows_per_call):
      end = min(start + rows_per_call, h)
      outputs = self._row_fn(canvas, chroma, embedding, lum, tf.constant(start),
                             tf.constant(end), seed, temperature, state)
      canvas, chroma, state = outputs[:3]
      self._record(outputs)
      if progress is not None:
        progress.update(end - start)
    return tf.reshape(chroma, [-1, num_samples, h, w, 2])


def reconstruct(model, gray, canvas, temperature=1.0, seed=(0, 0)):
  """Teacher forcing: every pixel sampled given the *true* pixels before it (one pass).

  Args:
    gray: ``[N, S, S, 1]`` L'.
    canvas: ``[N, h, w, 3]`` the true downsampled RGB in [-1, 1].

  Returns:
    float32 ``[N, h, w, 2]``.
  """
  params, _ = model(gray, canvas, training=False)
  lum = color.downsample(gray, model.config.downsample)[..., 0]
  dist = distribution.ChromaMixture(params, lum, num_mix=model.config.nr_logistic_mix)
  return dist.sample(seed=as_seed(seed), temperature=temperature)


def embedding_map(model, gray):
  """The g^w baseline of the paper's ablation: pixel-wise MAP of the auxiliary head.

  Pixels are independent given g^w(L). For each pixel the candidates are the modes of
  the K components (a' = mu_a, then b' = mu_b given that a'), and the one with the
  highest probability under the whole mixture is chosen.

  Args:
    gray: ``[N, S, S, 1]`` L'.

  Returns:
    float32 ``[N, h, w, 2]``.
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


def compose_full_resolution(images, chroma, rounding='truncate'):
  """Joins sampled chroma with the input's own full-resolution L.

  The a'b' planes are upsampled bilinearly from the chroma grid to the image size;
  L comes from the input itself, so no detail is lost.

  Args:
    images: uint8 ``[N, H, W, 1 or 3]``, the inputs at full resolution.
    chroma: float32 ``[N, S, h, w, 2]``.
    rounding: see :func:`pic_tf.color.lab_to_rgb_uint8`.

  Returns:
    uint8 ``[N, S, H, W, 3]``.
  """
  images = tf.convert_to_tensor(images)
  lum = gray_from_images(images)                                           # [N, H, W, 1]
  n, s = tf.shape(chroma)[0], tf.shape(chroma)[1]
  height, width = tf.shape(images)[1], tf.shape(images)[2]
  flat = tf.reshape(chroma, tf.concat([[n * s], tf.shape(chroma)[2:]], 0))
  ab = tf.image.resize(flat, [height, width], method='bilinear')
  ab = tf.reshape(ab, [n, s, height, width, 2])
  ab = color.denormalize_lab(tf.concat([tf.zeros_like(ab[..., :1]), ab], -1))[..., 1:]
  lab = tf.concat([tf.repeat(lum[:, None], s, axis=1), ab], axis=-1)
  return color.lab_to_rgb_uint8(lab, rounding=rounding)


def chroma_to_rgb(gray, chroma, rounding='truncate'):
  """Model-resolution colourisations: L' ``[N, S, S, 1]`` + a'b' ``[N, K, h, w, 2]``.

  Returns:
    uint8 ``[N, K, S, S, 3]``.
  """
  gray_uint8 = color.lab_norm_to_rgb_uint8(
      tf.concat([gray, tf.zeros_like(gray), tf.zeros_like(gray)], -1), rounding='round')
  return compose_full_resolution(gray_uint8, chroma, rounding)
