"""The loading layer: workdirs, original TF1 checkpoints and SavedModels in, models out.

A workdir (:mod:`pic_tf.workdir`) holds ``config.json`` and TensorFlow checkpoints
``ckpt-<step>.*`` of ``tf.train.Checkpoint(model, ema, [optimizer, step])``. Every
binary rebuilds the exact model from ``config.json`` and restores the newest
checkpoint through :func:`load`, which also reads the original code's checkpoints
(:mod:`pic_tf.convert`). :func:`load_saved_model` opens an exported SavedModel.
"""

import collections
import os

import tensorflow as tf
from tensorflow.core.protobuf import trackable_object_graph_pb2

from pic_tf import configs
from pic_tf import convert
from pic_tf import errors
from pic_tf import ema as ema_lib
from pic_tf import fileutil
from pic_tf import hardware
from pic_tf import networks
from pic_tf import overrides as overrides_lib
from pic_tf import workdir as workdir_lib
from pic_tf.errors import CheckpointError
from pic_tf.errors import DamagedCheckpointError

Loaded = collections.namedtuple('Loaded', 'config model ema step')


def make_checkpoint(model, ema, **extra):
  """The checkpoint object of a workdir: ``model``, ``ema`` and any ``extra`` trackables."""
  return tf.train.Checkpoint(model=model, ema=ema, **extra)


def create_model_and_ema(config, precision=None):
  """A built :class:`PICModel` for ``config`` and its (unrestored) EMA.

  ``precision``: see :func:`pic_tf.networks.build_model`.
  """
  model = networks.build_model(config.model, precision)
  ema = ema_lib.ExponentialMovingAverage(model.trainable_variables,
                                         decay=config.train.polyak_decay)
  return model, ema


def _variable_keys(path, prefix):
  """``{object path: (checkpoint key, shape)}`` of the variables under ``prefix``.

  Walks the checkpoint's object graph, so a variable is found by its path through
  the model even when the checkpoint stored it under another owner (the optimizer).
  """
  reader = tf.train.load_checkpoint(path)
  graph = trackable_object_graph_pb2.TrackableObjectGraph()
  graph.ParseFromString(reader.get_tensor('_CHECKPOINTABLE_OBJECT_GRAPH'))
  shapes = reader.get_variable_to_shape_map()
  found = {}
  stack = [(0, '')]
  while stack:
    node_id, node_path = stack.pop()
    node = graph.nodes[node_id]
    for attribute in node.attributes:
      if attribute.name == 'VARIABLE_VALUE' and node_path.startswith(prefix):
        found[node_path] = (attribute.checkpoint_key, shapes.get(attribute.checkpoint_key))
    for child in node.children:
      child_path = f'{node_path}/{child.local_name}' if node_path else child.local_name
      if prefix.startswith(child_path) or child_path.startswith(prefix):
        stack.append((child.node_id, child_path))
  return found


def _check_compatible(path, model):
  """Names of model variables that are missing from, or mis-shaped in, checkpoint ``path``."""
  stored = _variable_keys(path, 'model/')
  problems = []
  for name, owner, var in networks.named_variables(model):
    entry = stored.get(f'model/{owner}/{name}')
    if entry is None:
      problems.append(f'{name}: missing from the checkpoint')
    elif list(entry[1]) != list(var.shape):
      problems.append(f'{name}: checkpoint {list(entry[1])}, model {list(var.shape)}')
  return problems


def _damaged(path, error):
  return DamagedCheckpointError(
      f'checkpoint {path} is damaged or incomplete ({errors.first_line(error)[:200]})')


def restore(checkpoint, path, model):
  """Restores ``checkpoint`` from ``path``, with clear errors for a wrong or damaged one.

  Raises:
    CheckpointError: the checkpoint does not hold this model's variables.
    DamagedCheckpointError: its files are missing, truncated or corrupted.
  """
  # Reading a damaged checkpoint fails in many ways: missing files (NotFound),
  # truncated data (IndexError), corrupted bytes (DataLoss, a checksum).
  unreadable = (tf.errors.OpError, IndexError, ValueError, OSError)
  try:
    problems = _check_compatible(path, model)
  except unreadable as e:
    raise _damaged(path, e) from None
  if problems:
    shown = '\n  '.join(problems[:10])
    more = f'\n  ... and {len(problems) - 10} more' if len(problems) > 10 else ''
    raise CheckpointError(
        f'checkpoint {path} does not fit the model of this config:\n  {shown}{more}\n'
        'Use the workdir (and config.json) the checkpoint was written with.')
  try:
    return checkpoint.restore(path)
  except unreadable as e:
    raise _damaged(path, e) from None


def load(path, config_name=None, overrides=(), ema=True, precision='float32', log=None):
  """The model of a workdir or of an original checkpoint, with its newest weights.

  Args:
    path: a pic_tf workdir (``bin/train``, ``bin/convert_original``, ``bin/export
      --format=weights``: its newest checkpoint), one checkpoint of a workdir
      (``<workdir>/ckpt-<step>``), or a checkpoint prefix or directory of the original
      code.
    config_name, overrides: which model an original checkpoint holds (a
      :func:`pic_tf.configs.get_config` name and ``--set`` assignments); a workdir
      says it itself.
    ema: put the Polyak-averaged weights into the model (what sampling, export and
      the reported bpd use); False leaves the raw weights in the model and the
      averages in ``ema`` (``ema.swapped()`` switches).
    precision: the compute precision of the rebuilt model: ``'float32'`` (exact, the
      default), ``'mixed_bfloat16'`` (bfloat16 compute, float32 weights and
      likelihood) or ``'auto'`` (bfloat16 where the hardware has it natively).
    log: gets one warning line if bfloat16 is asked for where it is emulated.

  Returns:
    ``Loaded(config, model, ema, step)``; ``step`` is None for an original checkpoint.

  Raises:
    CheckpointError: a missing path, a workdir without a checkpoint, a checkpoint of
      another model, or an original checkpoint without ``config_name``.
    DamagedCheckpointError: missing, truncated or corrupted checkpoint files (the
      message names an earlier checkpoint to use).
  """
  prefix_in_workdir = (not os.path.isdir(path) and
                       workdir_lib.is_workdir(os.path.dirname(os.path.abspath(path))))
  precision = hardware.resolve_precision(precision, log=log)
  if workdir_lib.is_workdir(path) or prefix_in_workdir:
    workdir = os.path.dirname(os.path.abspath(path)) if prefix_in_workdir else path
    config = workdir_lib.load_config(workdir)
    chosen = path if prefix_in_workdir else workdir_lib.latest_checkpoint(path)
    if chosen is None:
      raise CheckpointError(f'{path} has a config.json but no checkpoint yet; train '
                            'longer (checkpoints are written every train.checkpoint_every '
                            'steps) or point to another workdir')
    try:
      model, averages, step = restore_model_and_ema(config, chosen, precision)
    except DamagedCheckpointError as e:
      others = workdir_lib.checkpoint_paths(workdir)
      earlier = others[:others.index(chosen)][::-1] if chosen in others else []
      earlier = earlier or [p for p in others[::-1] if p != chosen]
      fix = (f'pass an earlier one, e.g. --checkpoint={earlier[0]}' if earlier else
             'restore the workdir from a copy, or train again')
      raise DamagedCheckpointError(f'{e}: {fix}') from None
  else:
    exists = os.path.exists(path) or tf.io.gfile.glob(path + '.*')
    if config_name is None or not exists:
      what = ('is not a pic_tf workdir (no config.json)' if exists else 'does not exist')
      raise CheckpointError(
          f'{path} {what}: pass a workdir written by bin/train or bin/convert_original, or '
          'an original checkpoint with --config=cifar10 or --config=imagenet')
    config = overrides_lib.apply(configs.get_config(config_name), overrides)
    model, averages = create_model_and_ema(config, precision)
    convert.load_original(path, model, averages)
    step = None
  if ema:
    averages.copy_to_variables()
  return Loaded(config, model, averages, step)


def restore_model_and_ema(config, path, precision=None):
  """Builds ``config``'s model and EMA and restores them from checkpoint ``path``.

  A weights-only checkpoint (:func:`save_inference_weights`: the averaged weights
  stored as the model, no separate averages) restores the EMA from the model.

  Returns:
    ``(model, ema, step)``.
  """
  model, ema = create_model_and_ema(config, precision)
  step = tf.Variable(0, dtype=tf.int64, name='step')
  restore(make_checkpoint(model, ema, step=step), path, model).expect_partial()
  if not _variable_keys(path, 'ema/'):
    ema.reset()
  return model, ema, int(step.numpy())


def save_weights_only(workdir, config, model, ema, step=0):
  """Writes ``config.json`` and a model + EMA checkpoint (no optimizer state).

  Training writes its own, fuller ones. Returns the checkpoint path.
  """
  return _save(workdir, config, step, model=model, ema=ema)


def save_inference_weights(directory, config, model, step=0):
  """Writes ``config.json`` and a checkpoint of ``model``'s weights only (half the size).

  For shipping a model: store the EMA weights in ``model`` first. :func:`load`
  reads the result like any workdir.
  """
  return _save(directory, config, step, model=model)


def _save(directory, config, step, **objects):
  """``config.json`` and one checkpoint of ``objects`` and ``step``. Returns its path."""
  workdir_lib.save_config(config, directory)
  checkpoint = tf.train.Checkpoint(step=tf.Variable(step, dtype=tf.int64, name='step'),
                                   **objects)
  manager = tf.train.CheckpointManager(checkpoint, directory, max_to_keep=1)
  return manager.save(checkpoint_number=step)


def save_new_workdir(directory, config, model, ema=None, step=0, what='--output_dir'):
  """Writes a new workdir atomically: ``config.json`` and one checkpoint.

  Args:
    directory: must not exist or be empty.
    config, model, step: as :func:`save_weights_only`.
    ema: the averages to store too; None stores ``model``'s weights alone (put the
      EMA weights in ``model`` first, as :func:`save_inference_weights`).
    what: how errors name ``directory``.

  Returns:
    The checkpoint prefix inside ``directory``.

  Raises:
    FileExistsError: ``directory`` holds files (nothing is overwritten).
  """
  if os.path.isdir(directory) and os.listdir(directory):
    raise FileExistsError(f'{directory} is not empty; choose a new {what}')
  objects = {'model': model} if ema is None else {'model': model, 'ema': ema}
  with fileutil.atomic_dir(directory, what) as tmp:
    _save(tmp, config, step, **objects)
  return workdir_lib.latest_checkpoint(directory)


def convert_original(original_checkpoint, config, output_dir):
  """Converts an original checkpoint into a workdir every binary here can load.

  Args:
    original_checkpoint: TF1 checkpoint prefix (or directory) of the original code.
    config: the :class:`pic_tf.configs.Config` it was trained with.
    output_dir: workdir to write (``config.json`` + checkpoint), new or empty.

  Returns:
    ``(checkpoint_path, had_averages)``.

  Raises:
    ConversionError: a checkpoint that does not match, or an ``output_dir`` that
      already holds files (nothing is overwritten).
  """
  if os.path.isdir(output_dir) and os.listdir(output_dir):
    raise convert.ConversionError(f'{output_dir} is not empty; choose a new --output_dir')
  model, ema = create_model_and_ema(config)
  had_averages = convert.load_original(original_checkpoint, model, ema)
  return save_new_workdir(output_dir, config, model, ema), had_averages


def latest_version(export_dir):
  """The largest numeric sub-directory of a SavedModel base directory (None if none)."""
  if not os.path.isdir(export_dir):
    return None
  return max((int(d) for d in os.listdir(export_dir) if d.isdigit()), default=None)


def load_saved_model(path):
  """Loads a SavedModel of ``bin/export``: a version directory or the base (newest version).

  Raises:
    CheckpointError: no SavedModel there, or a damaged one.
  """
  if os.path.isdir(path) and not tf.saved_model.contains_saved_model(path):
    version = latest_version(path)
    if version is not None:
      path = os.path.join(path, str(version))
  if not tf.saved_model.contains_saved_model(path):
    raise CheckpointError(f'{path} holds no SavedModel: pass a directory written by '
                          'bin/export')
  try:
    return tf.saved_model.load(path)
  except (tf.errors.OpError, ValueError, OSError) as e:
    raise CheckpointError(f'the SavedModel {path} is damaged ({errors.first_line(e)}); '
                          'export it again with bin/export') from None
