"""Photos in and out at full resolution: any-size uint8 images <-> the model's L' and a'b'.

In: an image of any size, gray or colour, is resized whole to the model's square
size as the training data were (:func:`pic_tf.data.datasets.resize_image`: antialiased
bicubic, no crop) and converted to L' (:func:`model_gray`).

Out: sampled chroma lives on the model's reduced grid. It is upsampled bilinearly to
the photo's own size and joined with the photo's own full-resolution L, so no
detail of the input is lost (:func:`compose_full_resolution`).

Shapes: N images, S samples per image, H x W full resolution, h x w chroma grid.
"""

import tensorflow as tf

from pic_tf.data import datasets
from pic_tf.model import color


def as_rgb(images):
  """uint8 ``[N, H, W, 1 or 3]`` -> uint8 ``[N, H, W, 3]``: a one-channel image is gray."""
  images = tf.convert_to_tensor(images)
  return tf.cond(tf.equal(tf.shape(images)[-1], 1),
                 lambda: tf.tile(images[..., :1], [1, 1, 1, 3]), lambda: images[..., :3])


def gray_from_images(images):
  """uint8 ``[N, H, W, 1 or 3]`` -> float32 L in [0, 100], ``[N, H, W, 1]``."""
  return color.rgb_to_lab(as_rgb(images))[..., :1]


def gray_display(images):
  """The L of uint8 ``[N, H, W, 1 or 3]`` images as gray uint8 RGB ``[N, H, W, 3]``.

  The first column of the paper-style grids (``gray | samples | original``).
  """
  lum = gray_from_images(images)
  gray = tf.cast(tf.clip_by_value(tf.round(lum / 100.0 * 255.0), 0, 255), tf.uint8)
  return tf.tile(gray, [1, 1, 1, 3])


def resize_batch(images, image_size):
  """uint8 ``[N, H, W, 1 or 3]`` of any size -> uint8 RGB ``[N, S, S, 3]`` at the model's size,
  each resized whole as the training data were (:func:`pic_tf.data.datasets.resize_image`)."""
  return tf.map_fn(lambda im: datasets.resize_image(im, image_size), as_rgb(images),
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
  lum = gray_from_images(images)                                           # [N, H, W, 1]
  n, s = tf.shape(chroma)[0], tf.shape(chroma)[1]
  height, width = tf.shape(images)[1], tf.shape(images)[2]
  flat = tf.reshape(chroma, tf.concat([[n * s], tf.shape(chroma)[2:]], 0))
  ab = tf.image.resize(flat, [height, width], method='bilinear')
  ab = tf.reshape(ab, [n, s, height, width, 2])
  ab = color.denormalize_lab(tf.concat([tf.zeros_like(ab[..., :1]), ab], -1))[..., 1:]
  lab = tf.concat([tf.repeat(lum[:, None], s, axis=1), ab], axis=-1)
  return color.lab_to_rgb_uint8(lab, rounding=rounding)
