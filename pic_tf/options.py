"""The options objects the binaries hand to the library, and the choice lists of their flags.

Plain dataclasses with no TensorFlow, so a binary builds them from its flags before
it loads the library (``--help`` and flag errors stay instant). One object per
concern: which model (:class:`Source`), which images of a dataset (:class:`Selection`),
how to sample (:class:`SampleOptions`).
"""

import dataclasses
import math
from typing import Optional, Tuple

from pic_tf.errors import ConfigError

# Samplers by name (:mod:`pic_tf.sampling`): the same samples, the first the fast one.
SAMPLERS = ('cached', 'naive')
# Compute precisions of inference (training also takes mixed_float16, see configs).
INFERENCE_PRECISIONS = ('float32', 'mixed_bfloat16', 'auto')
# Modes of bin/benchmark (:mod:`pic_tf.bench.modes`); the last three compare training with
# the original's recorded runs and need its reference folder.
BENCHMARK_MODES = ('train_speed', 'sample_speed', 'fast_path_metrics', 'serving_load',
                   'learning_curve', 'training_parity', 'training_parity_ensemble')
PARITY_MODES = BENCHMARK_MODES[-3:]
# tf.distribute strategies of bin/train (:func:`pic_tf.training.distribute.make_strategy`).
STRATEGIES = ('default', 'mirrored', 'multi_worker', 'tpu')
# Sampling seeds are int64 in the samplers and the SavedModel's signatures.
MAX_SEED = 2**63 - 1


def _is_int(value):
  return isinstance(value, int) and not isinstance(value, bool)


@dataclasses.dataclass(frozen=True)
class Source:
  """Which model to load: a binary's ``--checkpoint``, ``--config``, ``--set`` and
  ``--precision`` (:func:`pic_tf.storage.checkpoints.load`).

  Attributes:
    path: a workdir, one of its checkpoints, or a checkpoint of the original code;
      None: the demo model shipped with pic_tf.
    config_name: the config of an original checkpoint (``cifar10``, ``imagenet``).
    overrides: ``section.field=value`` strings for an original checkpoint's config.
    precision: one of :data:`INFERENCE_PRECISIONS`.
  """
  path: Optional[str] = None
  config_name: Optional[str] = None
  overrides: Tuple[str, ...] = ()
  precision: str = 'float32'


@dataclasses.dataclass(frozen=True)
class Selection:
  """Which images of a dataset: ``--dataset``, ``--split``, ``--num_images`` (or
  ``--num_examples``), ``--data_dir`` and ``--download``.

  Attributes:
    dataset: ``cifar10``, ``cifar10_bundled``, ``imagenet2012`` or ``folder:PATH``;
      None: the model config's own.
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


@dataclasses.dataclass(frozen=True)
class SampleOptions:
  """How to sample: ``--num_samples``, ``--temperature``, ``--seed``, ``--sampler``, ``--jit``.

  Attributes:
    num_samples: colourisations per image.
    temperature: the logistic noise scale (1: the model).
    seed: int; the same seed gives the same colourisations.
    sampler: one of :data:`SAMPLERS`.
    jit: compile the sampler's pixel loop with XLA (opt-in).
  """
  num_samples: int = 4
  temperature: float = 1.0
  seed: int = 0
  sampler: str = SAMPLERS[0]
  jit: bool = False

  def __post_init__(self):
    # Checked here, before any model is built: NaN or inf would sample black or noise.
    if not _is_int(self.num_samples) or self.num_samples < 1:
      raise ConfigError(f'--num_samples must be at least 1, got {self.num_samples!r}')
    if (isinstance(self.temperature, bool) or not isinstance(self.temperature, (int, float))
        or not math.isfinite(self.temperature) or self.temperature < 0):
      raise ConfigError(f'--temperature must be a finite number >= 0 (1: the model, 0: '
                        f'the mean of each chosen component), got {self.temperature!r}')
    if not _is_int(self.seed) or not 0 <= self.seed <= MAX_SEED:
      raise ConfigError(f'--seed must be an integer in [0, 2**63 - 1], got {self.seed!r}')
    if self.sampler not in SAMPLERS:
      raise ConfigError(f'--sampler must be one of {", ".join(SAMPLERS)}, got '
                        f'{self.sampler!r}')
