"""Workdirs: a saved config plus TensorFlow checkpoints of model, EMA and optimizer.

A workdir written by ``bin/train`` or ``bin/convert_original`` holds::

  config.json        the resolved :class:`pic_tf.configs.Config`
  ckpt-<step>.*      tf.train.Checkpoint(model, ema, [optimizer, step, ...])
  checkpoint         the CheckpointManager's index

Every binary rebuilds the exact model from ``config.json`` and restores the
weights from the latest checkpoint (:func:`load_model`).
"""

import os

import tensorflow as tf
from tensorflow.core.protobuf import trackable_object_graph_pb2

from pic_tf import configs
from pic_tf import ema as ema_lib
from pic_tf import networks
from pic_tf.errors import CheckpointError


def make_checkpoint(model, ema, **extra):
  """The checkpoint object of a workdir: ``model``, ``ema`` and any ``extra`` trackables."""
  return tf.train.Checkpoint(model=model, ema=ema, **extra)


def latest_checkpoint(workdir):
  """Path prefix of the newest checkpoint in ``workdir``, or None."""
  return tf.train.latest_checkpoint(workdir)


def create_model_and_ema(config):
  """A built :class:`PICModel` for ``config`` and its (unrestored) EMA."""
  model = networks.build_model(config.model)
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


def restore(checkpoint, path, model):
  """Restores ``checkpoint`` from ``path``, with a clear error for the wrong model.

  Raises:
    CheckpointError: the checkpoint does not hold this model's variables.
  """
  problems = _check_compatible(path, model)
  if problems:
    shown = '\n  '.join(problems[:10])
    more = f'\n  ... and {len(problems) - 10} more' if len(problems) > 10 else ''
    raise CheckpointError(
        f'checkpoint {path} does not fit the model of this config:\n  {shown}{more}\n'
        'Use the workdir (and config.json) the checkpoint was written with.')
  return checkpoint.restore(path)


def load_model(workdir, use_ema=True):
  """Rebuilds the model of a workdir and loads its newest weights.

  Args:
    workdir: a directory written by ``bin/train`` or ``bin/convert_original``.
    use_ema: load the Polyak-averaged weights (what evaluation and sampling use)
      instead of the raw ones.

  Returns:
    ``(config, model, step)``; ``step`` is the checkpoint's training step or None.

  Raises:
    CheckpointError: not a workdir, no checkpoint, or one of another config.
  """
  if not os.path.isdir(workdir):
    raise CheckpointError(f'{workdir} does not exist or is not a directory: pass a '
                          'workdir written by bin/train or bin/convert_original')
  config = configs.load_json(workdir)
  path = latest_checkpoint(workdir)
  if path is None:
    raise CheckpointError(f'{workdir} has a config.json but no checkpoint yet; train '
                          'longer (checkpoints are written every train.checkpoint_every '
                          'steps) or point to another workdir')
  model, ema, step = restore_model_and_ema(config, path)
  if use_ema:
    ema.copy_to_variables()
  return config, model, step


def restore_model_and_ema(config, path):
  """Builds ``config``'s model and EMA and restores them from checkpoint ``path``.

  A weights-only checkpoint (:func:`save_inference_weights`: the averaged weights
  stored as the model, no separate averages) restores the EMA from the model.

  Returns:
    ``(model, ema, step)``.
  """
  model, ema = create_model_and_ema(config)
  step = tf.Variable(0, dtype=tf.int64, name='step')
  restore(make_checkpoint(model, ema, step=step), path, model).expect_partial()
  if not _variable_keys(path, 'ema/'):
    ema.reset()
  return model, ema, int(step.numpy())


def save_weights_only(workdir, config, model, ema, step=0):
  """Writes ``config.json`` and a model + EMA checkpoint (no optimizer state).

  Used for converted original checkpoints; training writes its own, fuller ones.
  Returns the checkpoint path.
  """
  return _save(workdir, config, step, model=model, ema=ema)


def save_inference_weights(directory, config, model, step=0):
  """Writes ``config.json`` and a checkpoint of ``model``'s weights only (half the size).

  For shipping a model: store the EMA weights in ``model`` first. :func:`load_model`
  reads the result like any workdir.
  """
  return _save(directory, config, step, model=model)


def _save(directory, config, step, **objects):
  """``config.json`` and one checkpoint of ``objects`` and ``step``. Returns its path."""
  configs.save_json(config, directory)
  checkpoint = tf.train.Checkpoint(step=tf.Variable(step, dtype=tf.int64, name='step'),
                                   **objects)
  manager = tf.train.CheckpointManager(checkpoint, directory, max_to_keep=1)
  return manager.save(checkpoint_number=step)
