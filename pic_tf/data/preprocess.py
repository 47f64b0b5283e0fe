"""What every image goes through before the model sees it, in training and in inference.

Both the training pipelines (:mod:`pic_tf.data.datasets`) and the colourise pipeline
(:mod:`pic_tf.sampling.pipeline`) resize whole images to the model's side and convert
batches in-graph into the model's inputs:

  gray      [B, S, S, 1]  L' of the full-resolution image (embedding input)
  canvas    [B, s, s, 3]  downsampled RGB in [-1, 1] (PixelCNN input)
  lab_down  [B, s, s, 3]  downsampled L'a'b' (L' conditions, a'b' are the targets)
"""

import tensorflow as tf

from pic_tf.model import color


def resize_image(image, size):
  """Resizes a whole uint8 image to ``[size, size, 3]`` without cropping.

  As the original's ImageNet preparation (``scipy.misc.imresize(..., 'bicubic')``,
  i.e. PIL's antialiased bicubic): the aspect ratio is not kept. Images already at
  ``size`` are returned unchanged.

  Args:
    image: uint8 ``[H, W, 3]``.
    size: output side.

  Returns:
    uint8 ``[size, size, 3]``.
  """
  image = tf.convert_to_tensor(image)

  def resize():
    out = tf.image.resize(image, [size, size], method='bicubic', antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(out), 0.0, 255.0), tf.uint8)

  same = tf.logical_and(tf.equal(tf.shape(image)[0], size), tf.equal(tf.shape(image)[1], size))
  out = tf.cond(same, lambda: image, resize)
  return tf.ensure_shape(out, [size, size, 3])


def model_inputs(images, downsample_factor):
  """uint8 RGB ``[B, H, W, 3]`` -> the model's float32 inputs (see the module docstring)."""
  return color.model_inputs_from_rgb(images, downsample_factor)
