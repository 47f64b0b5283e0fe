"""The Python API: a trained PIC model as one object that colourises, scores and exports.

  import pic_tf
  pic = pic_tf.load('demo')                # or a workdir, or an original checkpoint
  samples = pic.colorize(images, num_samples=4, seed=0)   # uint8 [N, 4, H, W, 3]

It is what the binaries do, without the files around it: the same loading
(:func:`pic_tf.storage.loading.load`, EMA weights), the same colourise pipeline
(:class:`pic_tf.sampling.pipeline.Colorizer`) and the same SavedModel export.
:func:`finetune` trains a trained model further on your photos, as ``bin/train
--init_from`` does.
"""

import numpy as np
import tensorflow as tf

from pic_tf import configs
from pic_tf import data
from pic_tf.data import datasets
from pic_tf.model import precision as precision_lib
from pic_tf import export_lib
from pic_tf import sampling
from pic_tf.sampling import pipeline
from pic_tf.storage import fileutil
from pic_tf.storage import loading
from pic_tf.storage import Source
from pic_tf.training import trainer


class PIC:
  """A loaded model: :meth:`colorize`, :meth:`baseline`, :meth:`bits_per_dim`, :meth:`export`.

  Build it with :func:`load`. Images are uint8 arrays ``[N, H, W, C]`` (C = 1 gray or
  3 RGB; any size: they are resized whole to the model's size and the colours brought
  back to the photo's own resolution), or one ``[H, W, C]`` image.

  Attributes:
    config: the model's :class:`pic_tf.configs.Config`.
    model: the :class:`pic_tf.model.networks.PICModel`, holding the EMA weights.
    step: the training step of the weights (None for an original checkpoint).
    precision: the compute precision (``'auto'`` resolved for this machine).
    sampler: the name of the sampler (:data:`pic_tf.sampling.SAMPLERS`).
  """

  def __init__(self, loaded, sampler=sampling.DEFAULT_SAMPLER, jit=False):
    self.config, self.model, self.step = loaded.config, loaded.model, loaded.step
    self.precision, self.sampler = loaded.precision, sampler
    self._colorizer = pipeline.Colorizer(self.model, sampler, jit)

  def __repr__(self):
    return (f'PIC(config={self.config.name!r}, dataset={self.config.dataset!r}, '
            f'step={self.step}, precision={self.precision!r}, '
            f'sampler={self.sampler!r})')

  def colorize(self, images, num_samples=4, temperature=1.0, seed=0):
    """Samples colourisations of every image.

    Args:
      images: uint8 ``[N, H, W, C]`` or ``[H, W, C]``.
      num_samples: int >= 1, colourisations per image.
      temperature: float >= 0, the logistic noise scale (1: the model).
      seed: int in ``[0, 2**63 - 1]``; the same seed gives the same colourisations.

    Returns:
      uint8 numpy ``[N, num_samples, H, W, 3]`` (``[num_samples, H, W, 3]`` for one image).

    Raises:
      ValueError: images of another type or shape, or an option out of its range
        (:class:`pic_tf.sampling.SampleOptions` checks them).
    """
    options = sampling.SampleOptions(num_samples=num_samples, temperature=temperature,
                                     seed=seed, sampler=self.sampler)
    batch, single = _as_batch(images)
    out = self._colorizer.colorize(batch, options.num_samples, options.temperature,
                                   (options.seed, 0)).numpy()
    return out[0] if single else out

  def baseline(self, images):
    """The g^w baseline (paper Section 4.3): uint8 numpy ``[N, H, W, 3]`` (or ``[H, W, 3]``)."""
    batch, single = _as_batch(images)
    out = self._colorizer.baseline(batch).numpy()[:, 0]
    return out[0] if single else out

  def bits_per_dim(self, images):
    """Bits per chroma dimension of colour images under the model (dropout off).

    Each image is resized whole to the model's size first, as the training data were.

    Args:
      images: uint8 ``[N, H, W, 3]`` or ``[H, W, 3]``: colour (a gray image has no
        chroma to score).

    Returns:
      float numpy ``[N]`` (a float for one image).

    Raises:
      ValueError: not uint8 colour images.
    """
    batch, single = _as_batch(images)
    if batch.shape[-1] != 3:
      raise ValueError(f'bits_per_dim scores the colours of colour images: images must be '
                       f'uint8 [N, H, W, 3] or [H, W, 3], got {list(np.shape(images))}')
    bpd = self._colorizer.bits_per_dim(batch).numpy()
    return float(bpd[0]) if single else bpd

  def export(self, export_dir, version=None, limits=sampling.RequestLimits()):
    """Writes a SavedModel for TF Serving into ``export_dir/<version>`` (see ``bin/export``).

    Args:
      export_dir: the base directory.
      version: the version number (None: the next free one).
      limits: what one request may ask, a :class:`pic_tf.sampling.RequestLimits`.

    Returns:
      The version directory.
    """
    return export_lib.export(self.model, fileutil.user_path(export_dir), version=version,
                             limits=limits)


def _as_batch(images):
  images = np.asarray(images)
  if (images.dtype != np.uint8 or images.ndim not in (3, 4) or images.shape[-1] not in (1, 3)
      or 0 in images.shape):
    raise ValueError(f'images must be uint8 [N, H, W, C] or [H, W, C] with N, H, W >= 1 and '
                     f'C = 1 or 3, got {images.dtype} {list(images.shape)}')
  single = images.ndim == 3
  return tf.constant(images[None] if single else images), single


def load(path=None, config=None, overrides=(), precision=precision_lib.FLOAT32,
         sampler=sampling.DEFAULT_SAMPLER, jit=False):
  """Loads a model for colourisation, scoring and export.

  Args:
    path: ``'demo'`` or None (the small CIFAR-10 model shipped with pic_tf), a pic_tf
      workdir (its newest checkpoint), one of its checkpoints, or a checkpoint of the
      original code (with ``config``).
    config: for an original checkpoint: ``'cifar10'`` or ``'imagenet'``.
    overrides: ``section.field=value`` strings for an original checkpoint's config.
    precision: a name of :data:`pic_tf.model.precision.INFERENCE_PRECISIONS` (float32,
      the default, is exact).
    sampler: a name of :data:`pic_tf.sampling.SAMPLERS` (they draw the same samples).
    jit: compile the sampler's pixel loop with XLA (opt-in).

  Returns:
    A :class:`PIC`.
  """
  source = loading.recognised(Source(path, config, tuple(overrides), precision))
  loaded = loading.load(source)
  return PIC(loaded, sampler, jit)


def finetune(init_from, workdir, dataset, overrides=(), config=None):
  """Trains a new run in ``workdir`` from the weights of a trained model (see ``bin/train
  --init_from``); rerun, it resumes from ``workdir``.

  Args:
    init_from: ``'demo'``, a pic_tf workdir, one of its checkpoints, or a checkpoint of
      the original code (with ``config``). Its model is kept.
    workdir: the new run's directory.
    dataset: what to train on: ``'folder:PATH'`` (your photos) or a dataset name.
    overrides: ``train.*`` settings, ``section.field=value`` strings
      (``'train.num_steps=2000'``).
    config: for an original checkpoint: the config it was trained with.

  Returns:
    The final results (``{'step', 'test_bpd_ema', 'test_bpd_raw', ...}``).
  """
  source = loading.recognised(Source(init_from, config))
  _, source_config = loading.config_of(source)
  run_config = configs.finetuning(source_config, source.path,
                                  [f'dataset={fileutil.user_dataset(dataset)}', *overrides])
  return trainer.train(run_config, fileutil.user_path(workdir), init_from=source)


def example_images(count=16):
  """The first ``count`` (<= 64) CIFAR-10 test images, shipped with pic_tf: uint8 ``[N, 32, 32, 3]``."""
  images, available = datasets.load_images(data.CIFAR10_BUNDLED, 'test', 32)
  if not 1 <= count <= available:
    raise ValueError(f'count must be in [1, {available}], got {count}')
  return next(iter(images.batch(count))).numpy()
