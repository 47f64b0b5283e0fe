"""Colour space: skimage-equal Lab, the original's normalisation and downsampling."""

import numpy as np
import pytest
import tensorflow as tf

from pic_tf.model import color


@pytest.fixture(scope='module')
def io(reference_dir):
  return dict(np.load(reference_dir / 'cifar_c32_l2' / 'io.npz'))


def test_lab_of_reference_photos_matches_original(io):
  lab = color.rgb_to_lab_norm(io['rgb']).numpy()
  np.testing.assert_allclose(lab, io['x_lab_norm'], atol=2e-4, rtol=0)


def test_model_inputs_match_original(io):
  inputs = color.model_inputs_from_rgb(io['rgb'], 2)
  np.testing.assert_allclose(inputs['gray'], io['x_gray'], atol=2e-4, rtol=0)
  np.testing.assert_allclose(inputs['canvas'], io['x_rgb_down'], atol=1e-6, rtol=0)
  np.testing.assert_allclose(inputs['lab_down'], io['x_lab_down'], atol=1e-6, rtol=0)
  np.testing.assert_allclose(color.normalize_rgb(io['rgb']), io['x_rgb_norm'], atol=1e-6)


def test_lab_matches_known_values():
  # sRGB primaries and white in skimage's rgb2lab (D65, 2 degrees).
  rgb = np.array([[[255, 255, 255], [255, 0, 0], [0, 255, 0], [0, 0, 255], [0, 0, 0]]],
                 np.uint8)
  expected = np.array([[[100.0, -0.00245, 0.00465], [53.24059, 80.09231, 67.20275],
                        [87.73510, -86.18303, 83.17970], [32.29567, 79.18559, -107.85730],
                        [0.0, 0.0, 0.0]]])
  np.testing.assert_allclose(color.rgb_to_lab(rgb), expected, atol=1e-3)


def test_rgb_lab_rgb_round_trip_within_one_level():
  rng = np.random.default_rng(0)
  rgb = rng.integers(0, 256, size=(100_000, 3), dtype=np.uint8)
  lab = color.rgb_to_lab(rgb)
  back_truncated = color.lab_to_rgb_uint8(lab).numpy().astype(int)
  back_rounded = color.lab_to_rgb_uint8(lab, rounding='round').numpy().astype(int)
  assert np.abs(back_truncated - rgb).max() <= 1
  assert np.abs(back_rounded - rgb).max() <= 1
  # Rounding is exact almost everywhere; truncation (the original) loses up to a level.
  assert (back_rounded == rgb).mean() > 0.999


def test_normalised_round_trip_and_ranges():
  rng = np.random.default_rng(1)
  rgb = rng.integers(0, 256, size=(4, 5, 6, 3), dtype=np.uint8)
  lab_norm = color.rgb_to_lab_norm(rgb).numpy()
  assert lab_norm.min() >= -1.0 and lab_norm.max() <= 1.0
  np.testing.assert_allclose(color.normalize_lab(color.denormalize_lab(lab_norm)), lab_norm,
                             atol=1e-6)
  canvas = color.lab_norm_to_rgb_norm(lab_norm).numpy()
  np.testing.assert_allclose(canvas, color.normalize_rgb(rgb), atol=1.01 / 127.5)


def test_rectification_keeps_z_non_negative():
  # L = 10 allows b up to 200 * 26 / 116 = 44.8; b = 120 is out of gamut.
  lab = tf.constant([[10.0, 0.0, 120.0], [50.0, 0.0, -20.0]])
  rect = color.rectify_lab(lab).numpy()
  assert rect[0, 2] == pytest.approx(200 * 26 / 116, abs=1e-4)
  assert rect[1, 2] == pytest.approx(-20.0)
  rgb = color.lab_to_rgb_uint8(lab).numpy()
  assert rgb.dtype == np.uint8 and rgb.shape == (2, 3)


def test_downsample_is_legacy_bilinear():
  x = tf.random.stateless_uniform([2, 12, 8, 3], seed=[1, 2])
  for factor in (2, 4):
    legacy = tf.compat.v1.image.resize_bilinear(x, [12 // factor, 8 // factor],
                                                align_corners=False, half_pixel_centers=False)
    np.testing.assert_array_equal(color.downsample(x, factor), legacy)
    np.testing.assert_array_equal(color.downsample(x, factor), x[:, ::factor, ::factor])
  # Sizes the factor does not divide still follow the legacy op.
  y = tf.random.stateless_uniform([1, 9, 7, 2], seed=[3, 4])
  legacy = tf.compat.v1.image.resize_bilinear(y, [4, 3], align_corners=False)
  np.testing.assert_allclose(color.downsample(y, 2), legacy, atol=1e-6)


def test_color_ops_run_in_a_graph_with_unknown_shapes():
  @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8)])
  def convert(rgb):
    return color.lab_norm_to_rgb_uint8(color.rgb_to_lab_norm(rgb))

  rgb = np.random.default_rng(2).integers(0, 256, size=(2, 7, 5, 3), dtype=np.uint8)
  out = convert(rgb).numpy()
  assert out.shape == rgb.shape and np.abs(out.astype(int) - rgb).max() <= 1

  ds = tf.data.Dataset.from_tensor_slices(rgb).map(color.rgb_to_lab_norm)
  assert next(iter(ds)).shape == (7, 5, 3)
