"""Loading: workdirs and the original's TF1 checkpoints in, models out.

A workdir (:mod:`pic_tf.storage.workdir`) holds ``config.json`` and TensorFlow checkpoints
``ckpt-<step>.*`` of ``tf.train.Checkpoint(model, ema, [optimizer, step])``. Every
binary rebuilds the exact model from ``config.json`` and restores the newest
checkpoint through :func:`load`, which also reads the original code's checkpoints
(:mod:`pic_tf.storage.convert`). Workdirs are written by :mod:`pic_tf.storage.workdir`,
SavedModels loaded beside their export (:mod:`pic_tf.export_lib`).
"""

import collections
import os

import tensorflow as tf
from tensorflow.core.protobuf import trackable_object_graph_pb2

from pic_tf import configs
from pic_tf import errors
from pic_tf.errors import CheckpointError
from pic_tf.errors import DamagedCheckpointError
from pic_tf.model import networks
from pic_tf.model import precision as precision_lib
from pic_tf import overrides as overrides_lib
from pic_tf.storage import convert
from pic_tf.storage import workdir as workdir_lib

Loaded = collections.namedtuple('Loaded', 'config model ema step precision')
# The small CIFAR-10 model shipped inside the package (BUILD.md, "The shipped demo model").
DEMO_MODEL = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          'assets', 'cifar10_demo')


def load_source(source, ema=True, log=None):
  """:func:`load` of a :class:`pic_tf.options.Source` (None path: the demo model).

  Returns:
    ``Loaded(config, model, ema, step, precision)``.
  """
  return load(source.path or DEMO_MODEL, source.config_name, source.overrides, ema=ema,
              precision=source.precision, log=log)


def make_checkpoint(model, ema, **extra):
  """The checkpoint object of a workdir: ``model``, ``ema`` and any ``extra`` trackables."""
  return tf.train.Checkpoint(model=model, ema=ema, **extra)


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
    ``Loaded(config, model, ema, step, precision)``; ``step`` is None for an original
    checkpoint, ``precision`` is the one the model computes in (``'auto'`` resolved).

  Raises:
    CheckpointError: a missing path, a workdir without a checkpoint, a checkpoint of
      another model, or an original checkpoint without ``config_name``.
    DamagedCheckpointError: missing, truncated or corrupted checkpoint files (the
      message names an earlier checkpoint to use).
  """
  prefix_in_workdir = (not os.path.isdir(path) and
                       workdir_lib.is_workdir(os.path.dirname(os.path.abspath(path))))
  precision = precision_lib.resolve_precision(precision, log=log)
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
    model, averages = networks.build_model_and_ema(config, precision)
    convert.load_original(path, model, averages)
    step = None
  if ema:
    averages.copy_to_variables()
  return Loaded(config, model, averages, step, precision)


def restore_model_and_ema(config, path, precision=None):
  """Builds ``config``'s model and EMA and restores them from checkpoint ``path``.

  A weights-only checkpoint (:func:`pic_tf.storage.workdir.save_new_workdir` without ``ema``: the averaged
  weights stored as the model, no separate averages) restores the EMA from the model.

  Returns:
    ``(model, ema, step)``.
  """
  model, ema = networks.build_model_and_ema(config, precision)
  step = tf.Variable(0, dtype=tf.int64, name='step')
  restore(make_checkpoint(model, ema, step=step), path, model).expect_partial()
  if not _variable_keys(path, 'ema/'):
    ema.reset()
  return model, ema, int(step.numpy())
