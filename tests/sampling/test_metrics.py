"""Colour metrics: saturation (Luebbe), colourfulness (Hasler & Suesstrunk), diversity."""

import numpy as np
import pytest

from pic_tf.model import color
from pic_tf.sampling import metrics


def test_saturation_of_gray_is_zero_and_of_colours_matches_the_formula():
  gray = np.full((1, 4, 4, 3), 128, np.uint8)
  assert float(metrics.saturation(gray)[0]) == pytest.approx(0.0, abs=1e-3)
  red = np.zeros((1, 2, 2, 3), np.uint8)
  red[..., 0] = 255
  lab = color.rgb_to_lab(red).numpy()[0, 0, 0]
  c = np.hypot(lab[1], lab[2])
  assert float(metrics.saturation(red)[0]) == pytest.approx(c / np.hypot(c, lab[0]), rel=1e-5)
  black = np.zeros((1, 2, 2, 3), np.uint8)
  assert float(metrics.saturation(black)[0]) == 0.0


def test_colorfulness_matches_hasler_suesstrunk():
  rng = np.random.default_rng(0)
  image = rng.integers(0, 256, size=(2, 8, 9, 3), dtype=np.uint8)
  rgb = image.astype(np.float64)
  rg = rgb[..., 0] - rgb[..., 1]
  yb = 0.5 * (rgb[..., 0] + rgb[..., 1]) - rgb[..., 2]
  expected = (np.sqrt(rg.var(axis=(1, 2)) + yb.var(axis=(1, 2))) +
              0.3 * np.sqrt(rg.mean(axis=(1, 2)) ** 2 + yb.mean(axis=(1, 2)) ** 2))
  np.testing.assert_allclose(metrics.colorfulness(image), expected, rtol=1e-4)
  assert float(metrics.colorfulness(np.full((1, 3, 3, 3), 90, np.uint8))[0]) == 0.0


def test_diversity():
  rng = np.random.default_rng(1)
  same = np.repeat(rng.integers(0, 256, size=(2, 1, 5, 5, 3), dtype=np.uint8), 3, axis=1)
  assert np.allclose(metrics.diversity(same), 0.0, atol=1e-4)
  different = rng.integers(0, 256, size=(2, 3, 5, 5, 3), dtype=np.uint8)
  assert (metrics.diversity(different).numpy() > 5).all()
  summary = metrics.summarize(different)
  assert set(summary) == {'saturation', 'colorfulness', 'diversity'}
  assert metrics.summarize(different[:, :1])['diversity'] is None
