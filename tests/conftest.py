"""Shared pytest set-up: the ``slow`` marker, quiet TensorFlow, the shared-data fixtures."""

import os
import pathlib

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import pytest  # pylint: disable=g-import-not-at-top

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED = pathlib.Path(os.environ.get('PIC_SHARED_DIR', REPO.parent / 'shared'))
REFERENCE = SHARED / 'reference' / 'original_pic'
TFDS_DIR = SHARED / 'data' / 'tensorflow_datasets'


def pytest_configure(config):
  config.addinivalue_line('markers', 'slow: takes minutes; run with --runslow')
  # Known third-party warnings (not ours to fix): numpy 2 on TensorFlow tensors, and
  # tensorflow-probability's version check through distutils.
  config.addinivalue_line(
      "filterwarnings", "ignore:__array__ implementation doesn.t accept a copy keyword")
  config.addinivalue_line(
      'filterwarnings', 'ignore:distutils Version classes are deprecated:DeprecationWarning')


def pytest_addoption(parser):
  parser.addoption('--runslow', action='store_true', default=False,
                   help='also run tests marked slow')


def pytest_collection_modifyitems(config, items):
  if config.getoption('--runslow'):
    return
  skip = pytest.mark.skip(reason='slow: run with --runslow')
  for item in items:
    if 'slow' in item.keywords:
      item.add_marker(skip)


@pytest.fixture(scope='session')
def reference_dir():
  """``../shared/reference/original_pic``; skips when the shared folder is absent."""
  if not REFERENCE.is_dir():
    pytest.skip(f'shared reference data not found at {REFERENCE}')
  return REFERENCE


@pytest.fixture(scope='session')
def tfds_dir():
  """The prepared offline CIFAR-10; skips when absent."""
  if not (TFDS_DIR / 'cifar10').is_dir():
    pytest.skip(f'shared CIFAR-10 not found at {TFDS_DIR}')
  return TFDS_DIR
