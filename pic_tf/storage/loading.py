"""Loading a model: its source recognised once (:func:`identify`), then built and restored.

A workdir (:mod:`pic_tf.storage.workdir`, which knows its layout) holds ``config.json``
and TensorFlow checkpoints of ``tf.train.Checkpoint(model, ema, [optimizer, step])``.
Every program rebuilds the exact model from ``config.json`` and restores the newest
checkpoint through :func:`load`, which also reads the original code's checkpoints
(:mod:`pic_tf.storage.convert`). SavedModels are loaded beside their export
(:mod:`pic_tf.export_lib`).
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
from pic_tf.storage import convert
from pic_tf.storage import workdir as workdir_lib

Loaded = collections.namedtuple('Loaded', 'config model ema step precision')
Found = collections.namedtuple('Found', 'kind path workdir')
# What a model source can be (:func:`identify`).
KINDS = ('demo', 'workdir', 'checkpoint', 'original', 'saved_model', 'missing')
# The small CIFAR-10 model shipped inside the package (BUILD.md, "The shipped demo model").
DEMO_MODEL = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          'assets', 'cifar10_demo')


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


def identify(path):
  """What ``path`` is, recognised once before anything is loaded.

  Args:
    path: a model source (:attr:`pic_tf.storage.Source.path`); None: the demo model.

  Returns:
    ``Found(kind, path, workdir)``: ``kind`` is one of :data:`KINDS`; ``workdir`` is the
    workdir of a ``demo``, ``workdir`` or ``checkpoint`` source (else None).
  """
  if path is None:
    return Found('demo', DEMO_MODEL, DEMO_MODEL)
  if workdir_lib.is_workdir(path):
    return Found('workdir', path, path)
  if workdir_lib.is_checkpoint_of_workdir(path):
    kind = 'checkpoint' if tf.io.gfile.exists(path + '.index') else 'missing'
    return Found(kind, path, os.path.dirname(os.path.abspath(path)))
  if os.path.isfile(os.path.join(path, 'saved_model.pb')) or (
      os.path.isdir(path) and any(os.path.isfile(os.path.join(path, d, 'saved_model.pb'))
                                  for d in os.listdir(path))):
    return Found('saved_model', path, None)
  if os.path.exists(path) or tf.io.gfile.glob(path + '.*'):
    return Found('original', path, None)
  return Found('missing', path, None)


def load(source, ema=True, log=None):
  """The model of a :class:`pic_tf.storage.Source`, with its newest weights.

  The source is recognised first (:func:`identify`): the demo model, a pic_tf workdir
  (its newest checkpoint), one checkpoint of a workdir (``<workdir>/ckpt-<step>``), or
  a checkpoint prefix or directory of the original code (which needs the config it
  was trained with); then its model is built and restored.

  Args:
    source: which model, with ``config_name`` and ``overrides`` for an original
      checkpoint (a workdir carries its own ``config.json``) and the compute
      ``precision``: ``'float32'`` (exact, the default), ``'mixed_bfloat16'``
      (bfloat16 compute, float32 weights and likelihood) or ``'auto'`` (bfloat16 where
      the hardware has it natively).
    ema: put the Polyak-averaged weights into the model (what sampling, export and
      the reported bpd use); False leaves the raw weights in the model and the
      averages in ``ema`` (``ema.swapped()`` switches).
    log: gets one warning line if bfloat16 is asked for where it is emulated.

  Returns:
    ``Loaded(config, model, ema, step, precision)``; ``step`` is None for an original
    checkpoint, ``precision`` is the one the model computes in (``'auto'`` resolved).

  Raises:
    CheckpointError: a missing path, a SavedModel, a workdir without a checkpoint or
      given a config, a checkpoint of another model, or an original checkpoint
      without ``config_name``.
    DamagedCheckpointError: truncated or corrupted checkpoint files (the message names
      an earlier checkpoint to use).
  """
  found = identify(source.path)
  precision = precision_lib.resolve_precision(source.precision, log=log)
  if found.kind == 'missing':
    raise CheckpointError(f'{found.path} does not exist: give a pic_tf workdir, one of its '
                          'checkpoints, or a checkpoint of the original code')
  if found.kind == 'saved_model':
    raise CheckpointError(f'{found.path} is a SavedModel: it is served, or used for '
                          'colourising as a SavedModel, not loaded as a checkpoint')
  if found.workdir is not None:
    if source.config_name or source.overrides:
      raise CheckpointError(f'{found.path} is a pic_tf workdir, whose config.json fixes the '
                            'model: a config or overrides apply only to original checkpoints')
    config = workdir_lib.load_config(found.workdir)
    chosen = (found.path if found.kind == 'checkpoint' else
              workdir_lib.latest_checkpoint(found.workdir))
    if chosen is None:
      raise CheckpointError(f'{found.path} has a config.json but no checkpoint yet; train '
                            'longer (checkpoints are written every train.checkpoint_every '
                            'steps) or use another workdir')
    model, averages, step = _restore_with_advice(config, chosen, found.workdir, precision)
  else:
    if source.config_name is None:
      raise CheckpointError(
          f'{found.path} is not a pic_tf workdir (no config.json): if it is a checkpoint of '
          'the original code, give the config it was trained with (cifar10 or imagenet)')
    config = configs.get_config(source.config_name, source.overrides)
    model, averages = networks.build_model_and_ema(config, precision)
    convert.load_original(found.path, model, averages)
    step = None
  if ema:
    averages.copy_to_variables()
  return Loaded(config, model, averages, step, precision)


def _restore_with_advice(config, chosen, workdir, precision):
  """:func:`restore_model_and_ema`; a damaged checkpoint's error names an earlier one."""
  try:
    return restore_model_and_ema(config, chosen, precision)
  except DamagedCheckpointError as e:
    others = workdir_lib.checkpoint_paths(workdir)
    earlier = others[:others.index(chosen)][::-1] if chosen in others else []
    earlier = earlier or [p for p in others[::-1] if p != chosen]
    fix = (f'use an earlier one instead, e.g. {earlier[0]}' if earlier else
           'restore the workdir from a copy, or train again')
    raise DamagedCheckpointError(f'{e}: {fix}') from None


def restore_model_and_ema(config, path, precision=None):
  """Builds ``config``'s model and EMA and restores them from checkpoint ``path``.

  A weights-only checkpoint (:func:`pic_tf.storage.workdir.save_new_workdir` without ``ema``: the averaged
  weights stored as the model, no separate averages) restores the EMA from the model.

  Returns:
    ``(model, ema, step)``.
  """
  model, ema = networks.build_model_and_ema(config, precision)
  step = tf.Variable(0, dtype=tf.int64, name='step')
  restore(workdir_lib.make_checkpoint(model, ema, step=step), path, model).expect_partial()
  if not _variable_keys(path, 'ema/'):
    ema.reset()
  return model, ema, int(step.numpy())
