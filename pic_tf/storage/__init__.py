"""Storage: workdirs and their checkpoints, loading a model from any source, converting
the original's checkpoints, result folders and atomic files.

This ``__init__`` holds :class:`Source`, which model to load: built by the programs
before TensorFlow is imported.
"""

import dataclasses
from typing import Optional, Tuple


@dataclasses.dataclass(frozen=True)
class Source:
  """Which model to load, and how (:func:`pic_tf.storage.loading.load`).

  Attributes:
    path: a workdir, one of its checkpoints, or a checkpoint of the original code;
      None: the demo model shipped with pic_tf.
    config_name: the config of an original checkpoint (``cifar10``, ``imagenet``).
    overrides: ``section.field=value`` strings for an original checkpoint's config.
    precision: one of :data:`pic_tf.model.precision.INFERENCE_PRECISIONS`.
  """
  path: Optional[str] = None
  config_name: Optional[str] = None
  overrides: Tuple[str, ...] = ()
  precision: str = 'float32'
