"""Input pipelines: CIFAR-10, ImageNet 2012 and folders of photos (tf.data), image files,
and the preprocessing every model input goes through.

This ``__init__`` is the registry of datasets by name (:data:`DATASETS`) and the
choice of images (:class:`Selection`): plain data without TensorFlow, read by every
program, config and library module before anything heavy is imported. A folder of the
user's own photos is ``folder:PATH``.
"""

import dataclasses
from typing import Dict, Optional

from pic_tf.errors import ConfigError

FOLDER_PREFIX = 'folder:'


@dataclasses.dataclass(frozen=True)
class Dataset:
  """One named dataset.

  Attributes:
    name: what ``config.dataset`` and the programs call it.
    image_size: the side its images are resized to by that config.
    paper_bpd: the paper's published test bits/dim, where there is one.
    about: one line for help texts.
    splits: tensorflow-datasets' split of each of ours (``train``, ``test``); None for
      a dataset shipped with pic_tf.
    download_url: what tensorflow-datasets downloads (None: downloaded by hand, or
      shipped), asked for before a download so that an offline machine fails in seconds.
    trainable: whether it has a train split (training takes only these).
  """
  name: str
  image_size: int
  paper_bpd: Optional[float]
  about: str
  splits: Optional[Dict[str, str]] = None
  download_url: Optional[str] = None
  trainable: bool = True


CIFAR10, CIFAR10_BUNDLED, IMAGENET = 'cifar10', 'cifar10_bundled', 'imagenet2012'
DATASETS = {d.name: d for d in (
    Dataset(CIFAR10, 32, 2.72, 'CIFAR-10 through tensorflow-datasets '
            '(downloaded once, 170 MB)', splits={'train': 'train', 'test': 'test'},
            download_url='https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz'),
    # The first 64 CIFAR-10 test images (tfds order), in pic_tf/assets/cifar10_test
    # (testdata/make_cifar10_bundle.py): README's first command colourises them offline.
    Dataset(CIFAR10_BUNDLED, 32, None, 'the first 64 CIFAR-10 test images, '
            'shipped with pic_tf (test split only, offline)', trainable=False),
    Dataset(IMAGENET, 128, 2.51, 'ImageNet 2012 through '
            'tensorflow-datasets (downloaded by hand)',
            splits={'train': 'train', 'test': 'validation'}),
)}
NAMES_HELP = ', '.join(DATASETS) + ' or folder:PATH'
# What training takes: the datasets with a train split.
TRAIN_NAMES_HELP = ', '.join(d.name for d in DATASETS.values() if d.trainable) + ' or folder:PATH'


def is_folder(name):
  """Whether ``name`` is a folder of photos (``folder:PATH``)."""
  return name.startswith(FOLDER_PREFIX)


def folder_path(name):
  """The PATH of ``folder:PATH``."""
  return name[len(FOLDER_PREFIX):]


def check_dataset(name):
  """Raises ConfigError unless ``name`` is a known dataset or ``folder:PATH``."""
  if name in DATASETS or (is_folder(name) and folder_path(name)):
    return
  raise ConfigError(f'unknown dataset {name!r}: use {NAMES_HELP}')


def _is_int(value):
  return isinstance(value, int) and not isinstance(value, bool)


@dataclasses.dataclass(frozen=True)
class Selection:
  """Which images of a dataset: which dataset, split and how many.

  Attributes:
    dataset: a name of :data:`DATASETS` or ``folder:PATH``; None: the model
      config's own.
    split: ``'train'`` or ``'test'``.
    num_images: the first N images (0: all).
    data_dir: tensorflow-datasets directory (None: its default).
    download: let tensorflow-datasets download a missing dataset.
  """
  dataset: Optional[str] = None
  split: str = 'test'
  num_images: int = 0
  data_dir: Optional[str] = None
  download: bool = True

  def __post_init__(self):
    if self.split not in ('train', 'test'):
      raise ConfigError(f'split must be train or test, got {self.split!r}')
    if not _is_int(self.num_images) or self.num_images < 0:
      raise ConfigError(f'the number of images must be an integer >= 0 (0: all), got '
                        f'{self.num_images!r}')
