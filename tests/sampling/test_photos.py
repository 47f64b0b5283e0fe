"""Photos in and out: any size, gray or colour; the output keeps the photo's own L."""

import numpy as np
import pytest
import tensorflow as tf

from pic_tf import configs
from pic_tf.model import color
from pic_tf.model import networks
from pic_tf.sampling import photos
from pic_tf.sampling import naive

import helpers


@pytest.fixture(scope='module')
def tiny():
  return helpers.randomize(networks.build_model(configs.tiny().model), 0)


def test_full_resolution_keeps_size_and_luminance(tiny):
  rng = np.random.default_rng(0)
  for height, width, channels in ((375, 500, 3), (4, 6, 3), (61, 17, 1)):
    image = rng.integers(0, 256, size=(1, height, width, channels), dtype=np.uint8)
    gray = photos.model_gray(image, tiny.config.image_size)
    chroma = naive.Sampler(tiny).sample(gray, 2, 0.5, (1, 0))
    out = photos.compose_full_resolution(image, chroma, rounding='round').numpy()
    assert out.shape == (1, 2, height, width, 3) and out.dtype == np.uint8
    requested_ab = color.denormalize_lab(tf.concat([tf.zeros([2, height, width, 1]),
                                                    tf.image.resize(chroma[0], [height, width])],
                                                   -1)).numpy()[..., 1:]
    lum_in = photos.gray_from_images(image).numpy()[0]
    requested = np.concatenate([np.broadcast_to(lum_in, requested_ab.shape[:-1] + (1,)),
                                requested_ab], -1)
    unclipped = color.lab_to_rgb_float(requested, clip=False).numpy()
    in_gamut = ((unclipped >= 0) & (unclipped <= 1)).all(-1)
    assert in_gamut.mean() > 0.05
    lab_out = color.rgb_to_lab(out[0]).numpy()
    assert np.abs(lab_out[..., 0] - lum_in[..., 0])[in_gamut].max() <= 1.0


def test_model_gray_matches_training_inputs():
  rgb = np.random.default_rng(1).integers(0, 256, size=(2, 8, 8, 3), dtype=np.uint8)
  np.testing.assert_allclose(photos.model_gray(rgb, 8),
                             color.rgb_to_lab_norm(rgb)[..., :1], atol=1e-6)
  gray = rgb[..., :1]
  np.testing.assert_allclose(photos.model_gray(gray, 8),
                             photos.model_gray(np.repeat(gray, 3, -1), 8), atol=1e-6)


def test_grid_rows_are_gray_samples_original():
  rgb = np.random.default_rng(2).integers(0, 256, size=(2, 5, 7, 3), dtype=np.uint8)
  samples = np.random.default_rng(3).integers(0, 256, size=(2, 3, 5, 7, 3), dtype=np.uint8)
  rows = photos.grid_rows(rgb, samples)
  assert [len(row) for row in rows] == [5, 5]
  for row, image, image_samples in zip(rows, rgb, samples):
    np.testing.assert_array_equal(np.stack(row[1:4]), image_samples)
    np.testing.assert_array_equal(row[4], image)
  shown = np.stack([row[0] for row in rows])   # the gray column: the photo's L as gray RGB
  assert shown.shape == (2, 5, 7, 3) and shown.dtype == np.uint8
  assert (shown[..., 0] == shown[..., 1]).all() and (shown[..., 1] == shown[..., 2]).all()
  lum = color.rgb_to_lab(rgb).numpy()[..., 0]
  assert np.abs(shown[..., 0] - lum * 2.55).max() <= 0.5 + 1e-4
  gray = rgb[..., :1]   # a one-channel photo is gray, and shown without its original
  one, three = (photos.grid_rows(g, samples, with_originals=False)
                for g in (gray, np.repeat(gray, 3, -1)))
  assert [len(row) for row in one] == [4, 4]
  np.testing.assert_array_equal(one[0][0], three[0][0])