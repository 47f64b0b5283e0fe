"""Colour space: sRGB <-> CIE Lab, the original's normalisation and chroma downsampling.

Everything here is a TensorFlow op on batched tensors ``[..., H, W, 3]`` so it runs
inside ``tf.data`` pipelines, ``tf.function`` graphs and exported SavedModels.

The conversion reproduces scikit-image's ``rgb2lab`` / ``lab2rgb`` (sRGB, D65
illuminant, 2 degree observer), which the original PIC code used, and the
original's normalisation of Lab to [-1, 1]::

    L' = (L - 50) / 50,   a' = (a - 0.5) / 127.5,   b' = (b + 0.5) / 127.5
"""

import numpy as np
import tensorflow as tf

# scikit-image's sRGB -> XYZ matrix and D65 / 2 degree white point.
_XYZ_FROM_RGB = np.array([[0.412453, 0.357580, 0.180423],
                          [0.212671, 0.715160, 0.072169],
                          [0.019334, 0.119193, 0.950227]])
_RGB_FROM_XYZ = np.linalg.inv(_XYZ_FROM_RGB)
_D65_WHITE = np.array([0.95047, 1.0, 1.08883])

# Lab normalisation of the original (``utils.pcnn_norm``).
_LAB_SHIFT = np.array([50.0, 0.5, -0.5], np.float32)
_LAB_SCALE = np.array([50.0, 127.5, 127.5], np.float32)


def _matmul_channels(x, matrix):
  """Applies ``x @ matrix.T`` over the last (channel) axis."""
  return tf.tensordot(x, tf.constant(matrix.T, x.dtype), axes=[[-1], [0]])


def rgb_to_lab(rgb):
  """sRGB -> CIE Lab as skimage's ``rgb2lab``.

  Args:
    rgb: uint8 ``[..., 3]`` in [0, 255], or a float tensor ``[..., 3]`` in [0, 1].

  Returns:
    float32 ``[..., 3]``: L in [0, 100], a and b roughly in [-128, 127].
  """
  rgb = tf.convert_to_tensor(rgb)
  if rgb.dtype == tf.uint8:
    rgb = tf.cast(rgb, tf.float32) / 255.0
  rgb = tf.cast(rgb, tf.float32)
  linear = tf.where(rgb > 0.04045, tf.pow((rgb + 0.055) / 1.055, 2.4), rgb / 12.92)
  xyz = _matmul_channels(linear, _XYZ_FROM_RGB) / tf.constant(_D65_WHITE, tf.float32)
  f = tf.where(xyz > 0.008856, tf.pow(tf.maximum(xyz, 0.008856), 1.0 / 3.0),
               7.787 * xyz + 16.0 / 116.0)
  fx, fy, fz = tf.unstack(f, axis=-1)
  return tf.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], axis=-1)


def lab_to_rgb_float(lab, clip=True):
  """CIE Lab -> sRGB in [0, 1] as skimage's ``lab2rgb`` (negative Z clipped to 0).

  Args:
    lab: float ``[..., 3]``, L in [0, 100].
    clip: clip to [0, 1] (skimage does); without it, values outside [0, 1] show
      colours outside the sRGB gamut.

  Returns:
    float32 ``[..., 3]``.
  """
  lab = tf.cast(lab, tf.float32)
  l, a, b = tf.unstack(lab, axis=-1)
  fy = (l + 16.0) / 116.0
  fx = a / 500.0 + fy
  fz = tf.maximum(fy - b / 200.0, 0.0)
  f = tf.stack([fx, fy, fz], axis=-1)
  xyz = tf.where(f > 0.2068966, tf.pow(f, 3.0), (f - 16.0 / 116.0) / 7.787)
  xyz = xyz * tf.constant(_D65_WHITE, tf.float32)
  linear = _matmul_channels(xyz, _RGB_FROM_XYZ)
  rgb = tf.where(linear > 0.0031308,
                 1.055 * tf.pow(tf.maximum(linear, 0.0031308), 1.0 / 2.4) - 0.055,
                 linear * 12.92)
  return tf.clip_by_value(rgb, 0.0, 1.0) if clip else rgb


def rectify_lab(lab, eps=1e-8):
  """Clips b so that Z stays non-negative: ``b <= 200 (L + 16) / 116 - eps``.

  This is the original's ``utils.lab_to_rgb`` rectification, applied before the
  conversion to RGB.

  Args:
    lab: float ``[..., 3]`` Lab (unnormalised).
    eps: margin below the bound, as the original.

  Returns:
    float32 ``[..., 3]`` Lab.
  """
  lab = tf.cast(lab, tf.float32)
  l, a, b = tf.unstack(lab, axis=-1)
  b = tf.minimum(b, 200.0 * (l + 16.0) / 116.0 - eps)
  return tf.stack([l, a, b], axis=-1)


def lab_to_rgb_uint8(lab, rounding='truncate'):
  """Lab -> uint8 RGB as the original (rectify b, convert, scale by 255).

  Args:
    lab: float ``[..., 3]`` Lab (unnormalised).
    rounding: ``'truncate'`` reproduces the original's ``astype(np.uint8)`` (a
      quirk: values are floored, a darkening of up to one level); ``'round'``
      rounds to nearest.

  Returns:
    uint8 ``[..., 3]``.
  """
  rgb = lab_to_rgb_float(rectify_lab(lab)) * 255.0
  if rounding == 'round':
    rgb = tf.round(rgb)
  elif rounding != 'truncate':
    raise ValueError(f'rounding must be "truncate" or "round", got {rounding!r}')
  return tf.cast(tf.clip_by_value(tf.floor(rgb), 0.0, 255.0), tf.uint8)


def normalize_lab(lab):
  """Lab -> the original's [-1, 1] normalisation (``L'a'b'``). float32 ``[..., 3]``."""
  return (tf.cast(lab, tf.float32) - _LAB_SHIFT) / _LAB_SCALE


def denormalize_lab(lab_norm):
  """Inverse of :func:`normalize_lab`. float32 ``[..., 3]``."""
  return tf.cast(lab_norm, tf.float32) * _LAB_SCALE + _LAB_SHIFT


def normalize_rgb(rgb):
  """uint8 RGB ``[..., 3]`` -> float32 in [-1, 1] as ``(rgb - 127.5) / 127.5``."""
  return (tf.cast(rgb, tf.float32) - 127.5) / 127.5


def rgb_to_lab_norm(rgb):
  """uint8 RGB ``[..., 3]`` -> normalised Lab ``L'a'b'``, float32 ``[..., 3]``."""
  return normalize_lab(rgb_to_lab(rgb))


def lab_norm_to_rgb_uint8(lab_norm, rounding='truncate'):
  """Normalised ``L'a'b'`` ``[..., 3]`` -> uint8 RGB ``[..., 3]`` (see :func:`lab_to_rgb_uint8`)."""
  return lab_to_rgb_uint8(denormalize_lab(lab_norm), rounding=rounding)


def lab_norm_to_rgb_norm(lab_norm):
  """Normalised ``L'a'b'`` -> RGB canvas in [-1, 1] through uint8, as the original.

  At sampling time the original converts every sampled ``L'a'b'`` pixel to a uint8
  RGB image (rectified, truncated) and renormalises it before feeding it back to
  the PixelCNN. This reproduces that round trip.

  Args:
    lab_norm: float ``[..., 3]``.

  Returns:
    float32 ``[..., 3]`` in [-1, 1].
  """
  return normalize_rgb(lab_norm_to_rgb_uint8(lab_norm))


def downsample(images, factor):
  """Downsamples ``[B, H, W, C]`` by an integer factor as TF1 ``resize_bilinear``.

  The original used ``tf.image.resize_bilinear`` (align_corners=False,
  half_pixel_centers=False) to ``[H // factor, W // factor]``. With those legacy
  coordinates output pixel ``(i, j)`` samples the input at ``(i * H / h, j * W / w)``;
  when ``factor`` divides the size that is exactly pixel ``(factor*i, factor*j)``, a
  strided subsample, not an average, which this returns directly.

  Args:
    images: ``[B, H, W, C]`` float tensor.
    factor: positive int.

  Returns:
    float32 ``[B, H // factor, W // factor, C]``.
  """
  images = tf.cast(images, tf.float32)
  if factor == 1:
    return images
  height, width = images.shape[1], images.shape[2]
  if height is not None and width is not None and height % factor == 0 and width % factor == 0:
    return images[:, ::factor, ::factor, :]
  size = tf.shape(images)[1:3] // factor
  return tf.raw_ops.ResizeBilinear(images=images, size=size, align_corners=False,
                                   half_pixel_centers=False)


def model_inputs_from_rgb(rgb, downsample_factor):
  """The tensors the original derives from a batch of uint8 RGB photos.

  Args:
    rgb: uint8 ``[B, H, W, 3]``.
    downsample_factor: chroma subsampling factor (2 CIFAR-10, 4 ImageNet).

  Returns:
    dict of float32 tensors:
      ``gray`` ``[B, H, W, 1]``: L' (input of the embedding network);
      ``canvas`` ``[B, h, w, 3]``: downsampled RGB in [-1, 1] (PixelCNN input);
      ``lab_down`` ``[B, h, w, 3]``: downsampled L'a'b' (L' conditions the
      mixture, a'b' are the targets).
  """
  lab = rgb_to_lab_norm(rgb)
  return {
      'gray': lab[..., :1],
      'canvas': downsample(normalize_rgb(rgb), downsample_factor),
      'lab_down': downsample(lab, downsample_factor),
  }
