"""The Python API as a user meets it: README's snippet, and each method of a loaded model."""

import json
import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import pic_tf
from pic_tf import api
from pic_tf import configs
from pic_tf.model import networks
from pic_tf.sampling import pipeline
from pic_tf import storage
from pic_tf.storage import workdir as workdir_lib

import helpers

REPO = pathlib.Path(__file__).resolve().parents[1]


def test_readme_python_snippet_runs_as_written_from_another_directory(tmp_path):
  readme = (REPO / 'README.md').read_text()
  snippet = re.search(r'```python\n(.*?)```', readme, re.S).group(1)
  env = dict(os.environ, PYTHONPATH=str(REPO))
  result = subprocess.run([sys.executable, '-c', snippet], cwd=str(tmp_path), env=env,
                          capture_output=True, text=True, timeout=300, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  printed = result.stdout.strip().splitlines()[-1]
  assert printed.startswith('(4, 3, 32, 32, 3) [')
  values = [float(v) for v in re.findall(r'\d+\.\d+', printed)]
  assert len(values) == 4 and all(1.0 < v < 8.0 for v in values)


def test_import_pic_tf_loads_no_tensorflow():
  result = subprocess.run([sys.executable, '-c', 'import sys, pic_tf; '
                           'print("tensorflow" in sys.modules)'],
                          env=dict(os.environ, PYTHONPATH=str(REPO)), capture_output=True,
                          text=True, check=True)
  assert result.stdout.strip() == 'False'


@pytest.fixture(scope='module')
def pic(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp('api') / 'tiny')
  model = helpers.randomize(networks.build_model_and_ema(configs.tiny())[0], 0)
  workdir_lib.save_new_workdir(workdir, configs.tiny(), model, step=3)
  return pic_tf.load(workdir)


def test_colorize_baseline_and_bpd_of_a_workdir(pic):
  photo = np.random.default_rng(0).integers(0, 256, size=(2, 10, 6, 3), dtype=np.uint8)
  assert pic.step == 3 and pic.config.name == 'tiny'
  # What a notebook shows for the object.
  assert repr(pic) == ("PIC(config='tiny', dataset='cifar10', step=3, precision='float32', "
                       "sampler='cached')")
  samples = pic.colorize(photo, num_samples=2, seed=5)
  assert samples.shape == (2, 2, 10, 6, 3) and samples.dtype == np.uint8
  # The pipeline's samples, with the seed as the pipeline's (seed, 0).
  expected = pipeline.Colorizer(pic.model).colorize(photo, 2, 1.0, (5, 0)).numpy()
  np.testing.assert_array_equal(samples, expected)
  np.testing.assert_array_equal(pic.colorize(photo[0], num_samples=2, seed=5), samples[0])
  assert pic.baseline(photo).shape == (2, 10, 6, 3)
  bpd = pic.bits_per_dim(photo)
  assert bpd.shape == (2,) and np.all(bpd > 0)
  assert pic.bits_per_dim(photo[1]) == pytest.approx(float(bpd[1]), rel=1e-6)
  with pytest.raises(ValueError, match='uint8'):
    pic.colorize(photo.astype(np.float32))
  # The checks of every program's options, and no image of no pixels, before any work.
  bad = [(photo[:, :0], 2, 1.0, r'N, H, W >= 1 .* got uint8 \[2, 0, 6, 3\]'),
         (photo, 0, 1.0, 'num_samples must be at least 1, got 0'),
         (photo, 2.5, 1.0, 'num_samples must be at least 1, got 2.5'),
         (photo, 2, -1.0, 'temperature must be a finite number >= 0')]
  for images, num_samples, temperature, message in bad:
    with pytest.raises(ValueError, match=message):
      pic.colorize(images, num_samples=num_samples, temperature=temperature)
  # A gray image has no colours to score (the SavedModel's log_likelihood refuses it too).
  with pytest.raises(ValueError, match=r'uint8 \[N, H, W, 3\] or \[H, W, 3\], got \[2, 10, 6, 1\]'):
    pic.bits_per_dim(photo[..., :1])


@pytest.mark.slow   # an export; tests/test_export_lib.py checks exports by default
def test_export_writes_a_servable_version(pic, tmp_path):
  path = pic.export(str(tmp_path / 'serving'))
  assert path.endswith(os.path.join('serving', '1'))
  served = tf.saved_model.load(path).signatures['embedding_colorize'](
      images=tf.constant(np.full((1, 8, 8, 1), 100, np.uint8)))['colorizations']
  np.testing.assert_array_equal(served[0], pic.baseline(np.full((8, 8, 1), 100, np.uint8)))


def test_example_images_are_the_bundled_cifar10_test_images():
  images = api.example_images(3)
  assert images.shape == (3, 32, 32, 3) and images.dtype == np.uint8
  with pytest.raises(ValueError, match=r'count must be in \[1, 64\]'):
    api.example_images(65)


@pytest.mark.slow   # trains the demo model for two steps
def test_finetune_from_python_starts_from_the_demo_and_records_it(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  photos = tmp_path / 'photos'
  photos.mkdir()
  for i, image in enumerate(pic_tf.example_images(12)):
    Image.fromarray(image).save(photos / f'{i}.png')
  results = pic_tf.finetune('demo', 'runs/ft', 'folder:photos', overrides=[
      'train.num_steps=2', 'train.batch_size=2', 'train.eval_examples=2',
      'train.precision=float32'])
  assert results['step'] == 2
  recorded = json.loads((tmp_path / 'runs' / 'ft' / 'config.json').read_text())
  assert recorded['init_from'] == storage.DEMO_MODEL
  assert recorded['dataset'] == f'folder:{photos}'
