"""Storage: workdirs and their checkpoints, loading a model from any source, converting
the original's checkpoints, result folders and atomic files.

This ``__init__`` holds :class:`Source`, which model to load (built by the programs
before TensorFlow is imported), and :class:`Stored`, what a checkpoint holds.
"""

import dataclasses
import os
from typing import Any, Dict, Optional, Tuple

from pic_tf import configs
from pic_tf.errors import ConfigError
from pic_tf.model import precision as precision_lib
from pic_tf.storage import fileutil


# The small CIFAR-10 model shipped inside the package (BUILD.md, "The shipped demo model").
DEMO_MODEL = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          'assets', 'cifar10_demo')
# What a model source can be (:func:`pic_tf.storage.loading.identify`): the demo model
# (also the name that stands for it wherever a model source is given), a pic_tf workdir,
# one checkpoint of one, a checkpoint of the original code, a SavedModel of bin/export,
# or nothing there.
DEMO, WORKDIR, CHECKPOINT, ORIGINAL, SAVED_MODEL, MISSING = (
    'demo', 'workdir', 'checkpoint', 'original', 'saved_model', 'missing')
KINDS = (DEMO, WORKDIR, CHECKPOINT, ORIGINAL, SAVED_MODEL, MISSING)


def source_path(path):
  """A model source as a user gives it, as the library works with it: :data:`DEMO` is
  :data:`DEMO_MODEL` (a folder named so is ``./demo``); anything else is a path
  (:func:`fileutil.user_path`).

  Raises:
    ConfigError: :data:`DEMO` where the current directory holds a ``demo`` too (a run
      trained into ``--workdir=demo``, say), which the user may have meant.
  """
  if path != DEMO:
    return fileutil.user_path(path)
  if os.path.exists(DEMO):
    raise ConfigError(f'{DEMO} names the demo model shipped with pic_tf, but this directory '
                      f'holds a {DEMO} too: give ./{DEMO} for that one, or {DEMO_MODEL} for '
                      'the shipped one')
  return DEMO_MODEL


@dataclasses.dataclass(frozen=True)
class Source:
  """Which model to load, and how (:func:`pic_tf.storage.loading.load`).

  Attributes:
    path: a workdir, one of its checkpoints, or a checkpoint of the original code, in
      any form a user types it (made absolute by :func:`source_path`); :data:`DEMO` or
      None: the demo model shipped with pic_tf.
    config_name: the config of an original checkpoint (``cifar10``, ``imagenet``).
    overrides: ``section.field=value`` strings for an original checkpoint's config.
    precision: one of :data:`pic_tf.model.precision.INFERENCE_PRECISIONS`.
    found: what ``path`` is, a :class:`pic_tf.storage.loading.Found`, once recognised
      (:func:`pic_tf.storage.loading.recognised`, where a program or the API takes the
      path); None before.
    config: the :class:`pic_tf.configs.Config` that ``config_name`` and ``overrides``
      make, resolved here, so that a wrong name or override fails before anything is
      loaded; None without ``config_name``.

  Raises:
    ConfigError: an unknown config name, or an override that does not apply.
  """
  path: Optional[str] = None
  config_name: Optional[str] = None
  overrides: Tuple[str, ...] = ()
  precision: str = precision_lib.FLOAT32
  found: Any = dataclasses.field(default=None, compare=False, repr=False)
  config: Any = dataclasses.field(init=False, compare=False, repr=False)

  def __post_init__(self):
    # A user's path, in any form, becomes the one the library works with here.
    object.__setattr__(self, 'path', source_path(self.path))
    object.__setattr__(self, 'config', None if self.config_name is None else
                       configs.get_config(self.config_name, self.overrides))


@dataclasses.dataclass(frozen=True)
class Stored:
  """What one checkpoint holds, read before a model is built.

  Attributes:
    path: the checkpoint prefix read.
    weights: ``{name: float32 array}`` by the names of
      :func:`pic_tf.model.networks.named_variables` (``'down_leak_1/conv1/V'``, ...).
    averages: the Polyak averages: ``{name: array}`` (original checkpoints), a list in
      the order of the EMA's variables (pic_tf checkpoints), or None (none stored).
    config: the :class:`pic_tf.configs.Config` of a pic_tf workdir; None for an
      original checkpoint, whose config is given by the user.
    step: the training step of a pic_tf checkpoint; None for an original one.
  """
  path: str
  weights: Dict[str, Any]
  averages: Any = None
  config: Any = None
  step: Optional[int] = None
