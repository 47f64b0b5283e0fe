"""The colourise pipeline's bounded memory: sampler calls of at most sample_batch pairs."""

import numpy as np
import pytest

from pic_tf import configs
from pic_tf.model import networks
from pic_tf.sampling import photos
from pic_tf.sampling import pipeline

import helpers


@pytest.fixture(scope='module')
def model():
  return helpers.randomize(networks.build_model(configs.tiny().model), 0)


def test_plan_calls_covers_every_pair_once_within_the_batch():
  for images, samples, batch in ((1000, 2, 256), (3, 2, 4), (2, 9, 4), (1, 1, 1), (5, 4, 4)):
    calls = pipeline.plan_calls(images, samples, batch)
    assert all(count * k <= batch for _, count, k in calls)
    pairs = sorted((first + i, k) for first, count, k in calls for i in range(count))
    covered = {}
    for image, k in pairs:
      covered[image] = covered.get(image, 0) + k
    assert covered == {i: samples for i in range(images)}


def test_the_colorizer_samples_in_calls_seeded_by_their_index(model, monkeypatch):
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, size=(3, 11, 7, 3), dtype=np.uint8)
  whole = pipeline.Colorizer(model)
  expected_first = whole.colorize(images[:2], 2, 1.0, (5, 0)).numpy()
  expected_last = whole.colorize(images[2:], 2, 1.0, (5, 1)).numpy()
  one_image_six = [whole.colorize(images[:1], 4, 1.0, (5, 0)).numpy(),
                   whole.colorize(images[:1], 2, 1.0, (5, 1)).numpy()]
  monkeypatch.setattr(pipeline, 'MAX_SAMPLE_BATCH', 4)
  chunked = pipeline.Colorizer(model)
  assert chunked.sample_batch == 4
  assert chunked.progress_steps(3, 2) == 2 * model.config.chroma_size
  out = chunked.colorize(images, 2, 1.0, (5, 0)).numpy()
  np.testing.assert_array_equal(out[:2], expected_first)   # call 0: as one request always was
  np.testing.assert_array_equal(out[2:], expected_last)    # call 1: seed + (0, 1)
  six = chunked.colorize(images[:1], 6, 1.0, (5, 0)).numpy()
  np.testing.assert_array_equal(six, np.concatenate(one_image_six, axis=1))


def test_stripes_and_one_sample_at_a_time_give_the_same_pictures(monkeypatch):
  rng = np.random.default_rng(1)
  images = rng.integers(0, 256, size=(2, 37, 53, 3), dtype=np.uint8)
  chroma = rng.uniform(-1, 1, size=(2, 3, 8, 8, 2)).astype(np.float32)
  whole = photos.compose_full_resolution(images, chroma).numpy()
  gray = photos.gray_from_images(images).numpy()
  monkeypatch.setattr(photos, 'STRIPE_PIXELS', 200)   # 3 rows per stripe, loops everywhere
  np.testing.assert_array_equal(photos.compose_full_resolution(images, chroma).numpy(), whole)
  np.testing.assert_allclose(photos.gray_from_images(images).numpy(), gray, atol=1e-4)
