"""Loading a model: its source recognised once (:func:`identify`), its weights and
config read, then the model built and the weights put in (:func:`load`).

A workdir (:mod:`pic_tf.storage.workdir`, which knows its layout and reads its
checkpoints) holds ``config.json`` and checkpoints of the model, its EMA and the
training state; every program rebuilds the exact model from ``config.json``. The
original code's checkpoints are read by :mod:`pic_tf.storage.original_checkpoints`. SavedModels
are loaded beside their export (:mod:`pic_tf.export_lib`).
"""

import collections
import dataclasses
import os
from typing import Optional, Tuple

import tensorflow as tf

from pic_tf.errors import CheckpointError
from pic_tf.model import networks
from pic_tf.model import precision as precision_lib
from pic_tf import storage
from pic_tf.storage import fileutil
from pic_tf.storage import original_checkpoints
from pic_tf.storage import workdir as workdir_lib

Loaded = collections.namedtuple('Loaded', 'config model ema step precision')


@dataclasses.dataclass(frozen=True)
class Found:
  """What a model source is (:func:`identify`).

  Attributes:
    kind: one of :data:`pic_tf.storage.KINDS`.
    path: the source's path.
    workdir: the workdir of a ``demo``, ``workdir`` or ``checkpoint`` source, else None.
    checkpoint: the checkpoint prefix a ``checkpoint`` source names (None: a workdir's
      newest).
    saved_model: of a ``saved_model`` source, the directory to load: the path itself,
      or of a base directory its newest complete version (None: none complete).
    passed_over: of a base directory, the newer versions that hold no SavedModel (an
      export being written, or one that failed).
  """
  kind: str
  path: str
  workdir: Optional[str] = None
  checkpoint: Optional[str] = None
  saved_model: Optional[str] = None
  passed_over: Tuple[int, ...] = ()


def recognised(source):
  """``source`` (a :class:`pic_tf.storage.Source`) with its path recognised
  (:attr:`~pic_tf.storage.Source.found`, by :func:`identify`); a source recognised
  already is returned as it is, so a path is recognised once however far it travels."""
  if source.found is not None:
    return source
  return dataclasses.replace(source, found=identify(source.path))


def identify(path):
  """What ``path`` is, recognised before anything is read (call :func:`recognised`).

  Args:
    path: a model source (:attr:`pic_tf.storage.Source.path`); None, or the path of
      :data:`pic_tf.storage.DEMO_MODEL`: the demo model inside the package.

  Returns:
    A :class:`Found`.
  """
  # By the place it names, through a symlink too (a copy elsewhere is a workdir).
  if path is None or os.path.realpath(path) == os.path.realpath(storage.DEMO_MODEL):
    return Found(storage.DEMO, storage.DEMO_MODEL, storage.DEMO_MODEL)
  # A workdir is known by its config.json (pic_tf.storage.workdir's layout).
  if os.path.isfile(os.path.join(path, workdir_lib.CONFIG_FILENAME)):
    return Found(storage.WORKDIR, path, path)
  parent = os.path.dirname(os.path.abspath(path))
  if (workdir_lib.CHECKPOINT_NAME.fullmatch(os.path.basename(path)) and
      os.path.isfile(os.path.join(parent, workdir_lib.CONFIG_FILENAME))):
    kind = storage.CHECKPOINT if tf.io.gfile.exists(path + '.index') else storage.MISSING
    return Found(kind, path, parent, checkpoint=path)
  if _holds_saved_model(path):
    version, passed_over = saved_model_version(path)
    return Found(storage.SAVED_MODEL, path, saved_model=version, passed_over=passed_over)
  if os.path.exists(path) or tf.io.gfile.glob(path + '.*'):
    return Found(storage.ORIGINAL, path)
  return Found(storage.MISSING, path)


def _holds_saved_model(path):
  """A SavedModel directory, or a base directory with one in a sub-directory."""
  return tf.saved_model.contains_saved_model(path) or (
      os.path.isdir(path) and any(tf.saved_model.contains_saved_model(os.path.join(path, d))
                                  for d in os.listdir(path)))


def saved_model_version(path):
  """Which SavedModel of ``path`` to load, as TF Serving picks it: ``path`` itself if
  it is one; of a base directory, the newest numbered version that holds a complete
  SavedModel. Returns ``(directory or None, newer versions passed over)``."""
  if tf.saved_model.contains_saved_model(path):
    return path, ()
  versions = fileutil.numbers_in(path)[::-1]
  complete = [v for v in versions
              if tf.saved_model.contains_saved_model(os.path.join(path, str(v)))]
  if not complete:
    return None, tuple(versions)
  return os.path.join(path, str(complete[0])), tuple(v for v in versions if v > complete[0])


def config_of(source):
  """What ``source`` (a :class:`pic_tf.storage.Source`) is and the config of its model,
  without reading its weights: ``(Found, Config)``.

  Raises:
    CheckpointError: as :func:`load`, or a workdir without a readable ``config.json``.
  """
  found = _loadable(source)
  if found.workdir is not None:
    return found, workdir_lib.load_config(found.workdir)
  return found, source.config


def _loadable(source):
  """What ``source`` is (:func:`recognised`), refusing what cannot be loaded (see
  :func:`load`)."""
  found = recognised(source).found
  if found.kind == storage.MISSING:
    raise CheckpointError(f'{found.path} does not exist: give a pic_tf workdir, one of its '
                          'checkpoints, or a checkpoint of the original code')
  if found.kind == storage.SAVED_MODEL:
    raise CheckpointError(f'{found.path} is a SavedModel: it is served, or colourises as '
                          'a SavedModel; to load the model, give the workdir it was exported '
                          'from')
  if found.workdir is not None and (source.config_name or source.overrides):
    raise CheckpointError(f'{found.path} is a pic_tf workdir, whose config.json fixes the '
                          'model: a config or overrides apply only to original checkpoints')
  if found.workdir is None and source.config_name is None:
    raise CheckpointError(
        f'{found.path} is not a pic_tf workdir (no config.json): if it is a checkpoint of '
        'the original code, give the config it was trained with (cifar10 or imagenet)')
  return found


def read(source):
  """The weights of a :class:`pic_tf.storage.Source` and the config of its model, read
  before any model is built (:func:`load` builds it; fine-tuning puts them in its own).

  Returns:
    ``(Found, Stored, Config)``: what the source is (:func:`identify`), what its
    checkpoint holds (``averages`` None where it stores its EMA weights alone, as the
    demo model does), and its model's config (``config.json``, or for an original
    checkpoint the config it was trained with).

  Raises:
    CheckpointError, DamagedCheckpointError: as :func:`load`.
  """
  found = _loadable(source)
  if found.kind == storage.ORIGINAL:
    stored = original_checkpoints.read_original(found.path)
    return found, stored, source.config
  # The workdir's checkpoint reader reads its config.json too.
  stored = workdir_lib.read_checkpoint(found.workdir, found.checkpoint)
  return found, stored, stored.config


def load(source, ema=True, log=None):
  """The model of a :class:`pic_tf.storage.Source`, with its newest weights.

  The source is recognised first (:func:`identify`): the demo model, a pic_tf workdir
  (its newest checkpoint), one checkpoint of a workdir (``<workdir>/ckpt-<step>``), or
  a checkpoint prefix or directory of the original code (which needs the config it
  was trained with). Its weights and config are read, then its model is built and
  the weights put in.

  Args:
    source: which model, with ``config_name`` and ``overrides`` for an original
      checkpoint (a workdir carries its own ``config.json``) and the compute
      ``precision`` (:data:`pic_tf.model.precision.INFERENCE_PRECISIONS`; float32, the
      default, is exact).
    ema: put the Polyak-averaged weights into the model (what sampling, export and
      the reported bpd use); False leaves the raw weights in the model and the
      averages in ``ema`` (``ema.swapped()`` switches).
    log: gets one warning line if bfloat16 is asked for where it is emulated.

  Returns:
    ``Loaded(config, model, ema, step, precision)``; ``step`` is None for an original
    checkpoint, ``precision`` is the one the model computes in (auto resolved).

  Raises:
    CheckpointError: a missing path, a SavedModel, a workdir without a checkpoint or
      given a config, a checkpoint of another model, or an original checkpoint
      without ``config_name``.
    DamagedCheckpointError: truncated or corrupted checkpoint files (the message names
      an earlier checkpoint to use).
  """
  found, stored, config = read(source)
  precision = precision_lib.resolve_precision(source.precision, log=log)
  model, averages = networks.build_model_and_ema(config, precision)
  try:
    networks.assign_weights(model, averages, stored.weights, stored.averages)
  except networks.WeightsMismatch as e:
    if found.kind == storage.ORIGINAL:
      raise original_checkpoints.mismatch_error(stored.path, e) from None
    raise CheckpointError(f'checkpoint {stored.path} does not fit the model of its '
                          f'config.json: {e}') from None
  if ema:
    averages.copy_to_variables()
  return Loaded(config, model, averages, stored.step, precision)
