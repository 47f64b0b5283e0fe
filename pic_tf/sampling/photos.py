"""Photos in and out at full resolution: any-size uint8 images <-> the model's L' and a'b'.

In: an image of any size, gray or colour, is resized whole to the model's square
size as the training data were (:func:`pic_tf.data.preprocess.resize_image`: antialiased
bicubic, no crop) and converted to L' (:func:`model_gray`).

Out: sampled chroma lives on the model's reduced grid. It is upsampled bilinearly to
the photo's own size and joined with the photo's own full-resolution L, so no
detail of the input is lost (:func:`compose_full_resolution`).

Shapes: N images, S samples per image, H x W full resolution, h x w chroma grid.

Memory stays in proportion to one output image: colour conversions, which work pixel
by pixel, run over horizontal stripes of about a megapixel, and samples are composed
one at a time (a 12-megapixel photo would otherwise hold several float32 copies of
itself per sample at once).
"""

import numpy as np
import tensorflow as tf

from pic_tf.data import preprocess
from pic_tf.model import color


STRIPE_PIXELS = 1 << 20


def _map(fn, elems, signature):
  """``tf.map_fn(fn, elems)`` one element at a time: a Python loop when eager (map_fn
  would convert ``fn`` with AutoGraph on every call), a sequential loop in a graph."""
  if tf.executing_eagerly():
    count = int((elems[0] if isinstance(elems, tuple) else elems).shape[0])
    pick = lambda i: tuple(e[i] for e in elems) if isinstance(elems, tuple) else elems[i]
    results = [fn(pick(i)) for i in range(count)]
    return tf.stack(results) if results else tf.zeros([0] + [0] * signature.shape.rank,
                                                      signature.dtype)
  return tf.map_fn(fn, elems, parallel_iterations=1, fn_output_signature=signature)


def _in_stripes(fn, image, channels, dtype):
  """``fn`` (pixel-wise) over horizontal stripes of one image ``[H, W, C]``.

  The result equals ``fn(image)``; only ``STRIPE_PIXELS`` pixels' intermediates exist
  at a time. Works eagerly and in a ``tf.function`` (dynamic H and W).
  """
  height, width = tf.shape(image)[0], tf.shape(image)[1]
  rows = tf.maximum(1, STRIPE_PIXELS // tf.maximum(width, 1))
  count = (height + rows - 1) // rows
  padded = tf.pad(image, [[0, count * rows - height], [0, 0], [0, 0]])
  stripes = tf.reshape(padded, tf.stack([count, rows, width, tf.shape(image)[2]]))
  out = _map(fn, stripes, tf.TensorSpec([None, None, channels], dtype))
  return tf.reshape(out, tf.stack([count * rows, width, channels]))[:height]


def _vectorised_or_looped(images, samples, vectorised, looped):
  """``vectorised()`` when the outputs (``samples`` per image of ``images``) are few pixels
  in all, where one pass is faster than loops and as small in memory; else ``looped()``.
  A Python choice when eager, a ``tf.cond`` in a graph (both give the same values)."""
  pixels = (tf.cast(tf.size(images[..., 0]), tf.int64) *
            tf.cast(tf.convert_to_tensor(samples), tf.int64))
  small = pixels <= STRIPE_PIXELS
  if tf.executing_eagerly():
    return vectorised() if bool(small) else looped()
  return tf.cond(small, vectorised, looped)


def as_rgb(images):
  """uint8 ``[N, H, W, 1 or 3]`` -> uint8 ``[N, H, W, 3]``: a one-channel image is gray."""
  images = tf.convert_to_tensor(images)
  return tf.cond(tf.equal(tf.shape(images)[-1], 1),
                 lambda: tf.tile(images[..., :1], [1, 1, 1, 3]), lambda: images[..., :3])


def gray_from_images(images):
  """uint8 ``[N, H, W, 1 or 3]`` -> float32 L in [0, 100], ``[N, H, W, 1]``."""
  rgb = as_rgb(images)
  lum = lambda pixels: color.rgb_to_lab(pixels)[..., :1]
  return _vectorised_or_looped(
      rgb, 1, lambda: lum(rgb),
      lambda: _map(lambda image: _in_stripes(lum, image, 1, tf.float32), rgb,
                   tf.TensorSpec([None, None, 1], tf.float32)))


def grid_rows(images, samples, with_originals=True):
  """The rows of a paper-style grid: ``gray | samples | original``, one per image.

  Args:
    images: uint8 ``[N, H, W, 1 or 3]`` inputs.
    samples: uint8 ``[N, S, H, W, 3]``, their colourisations.
    with_originals: end each row with its input (False for gray inputs, which the gray
      column already shows).

  Returns:
    ``N`` lists of uint8 ``[H, W, 3]`` arrays (for :func:`pic_tf.data.image_io.grid`);
    the gray column is the input's L as gray RGB.
  """
  lum = gray_from_images(images)
  gray = tf.cast(tf.clip_by_value(tf.round(lum / 100.0 * 255.0), 0, 255), tf.uint8)
  gray = tf.tile(gray, [1, 1, 1, 3]).numpy()
  originals = as_rgb(images).numpy()
  return [[g] + list(s) + ([original] if with_originals else [])
          for g, s, original in zip(gray, np.asarray(samples), originals)]


def resize_batch(images, image_size):
  """uint8 ``[N, H, W, 1 or 3]`` of any size -> uint8 RGB ``[N, S, S, 3]`` at the model's size,
  each resized whole as the training data were (:func:`pic_tf.data.preprocess.resize_image`)."""
  return tf.map_fn(lambda im: preprocess.resize_image(im, image_size), as_rgb(images),
                   fn_output_signature=tf.TensorSpec([image_size, image_size, 3], tf.uint8))


def model_gray(images, image_size):
  """The model's input L' ``[N, S, S, 1]`` from uint8 images of any size ``[N, H, W, C]``."""
  return color.rgb_to_lab_norm(resize_batch(images, image_size))[..., :1]


def compose_full_resolution(images, chroma, rounding='truncate'):
  """Joins sampled chroma with the input's own full-resolution L.

  Args:
    images: uint8 ``[N, H, W, 1 or 3]``, the inputs at full resolution.
    chroma: float32 ``[N, S, h, w, 2]``, a'b' in [-1, 1].
    rounding: see :func:`pic_tf.model.color.lab_to_rgb_uint8`.

  Returns:
    uint8 ``[N, S, H, W, 3]``.
  """
  images = tf.convert_to_tensor(images)
  chroma = tf.convert_to_tensor(chroma, tf.float32)
  lum = gray_from_images(images)                                           # [N, H, W, 1]
  size = tf.shape(images)[1:3]
  to_rgb = lambda lab: color.lab_to_rgb_uint8(lab, rounding=rounding)

  def upsample(samples):
    """a'b' ``[M, h, w, 2]`` -> Lab's a and b ``[M, H, W, 2]`` at full resolution."""
    ab = tf.image.resize(samples, size, method='bilinear')
    return color.denormalize_lab(tf.concat([tf.zeros_like(ab[..., :1]), ab], -1))[..., 1:]

  def vectorised():
    n, s = tf.shape(chroma)[0], tf.shape(chroma)[1]
    ab = upsample(tf.reshape(chroma, tf.concat([[n * s], tf.shape(chroma)[2:]], 0)))
    ab = tf.reshape(ab, tf.concat([[n, s], size, [2]], 0))
    return to_rgb(tf.concat([tf.repeat(lum[:, None], s, axis=1), ab], axis=-1))

  def one_image(lum_and_chroma):
    image_lum, samples = lum_and_chroma                  # [H, W, 1], [S, h, w, 2]
    one_sample = lambda sample: _in_stripes(
        to_rgb, tf.concat([image_lum, upsample(sample[None])[0]], -1), 3, tf.uint8)
    return _map(one_sample, samples, tf.TensorSpec([None, None, 3], tf.uint8))

  return _vectorised_or_looped(
      images, tf.shape(chroma)[1], vectorised,
      lambda: _map(one_image, (lum, chroma), tf.TensorSpec([None, None, None, 3], tf.uint8)))
