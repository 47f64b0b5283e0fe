"""Workdirs: ``config.json`` written by training, read by every other binary; new
workdirs (a config and one checkpoint) written atomically.

The one module that knows a workdir's layout. A workdir written by training or by
the conversion of an original checkpoint holds::

  config.json          the resolved :class:`pic_tf.configs.Config`
  ckpt-<step>.*        checkpoints of :func:`make_checkpoint` (:func:`read_checkpoint`
                       reads one for inference, :func:`restore` for resuming)
  checkpoint           the CheckpointManager's index of the committed checkpoints
  train_results.json   the final evaluation of a finished run

A run may be resumed with other run-length or logging fields
(:data:`RESUMABLE_FIELDS`); a different model, dataset or optimisation is refused.
"""

import dataclasses
import json
import os
import re

import tensorflow as tf
from tensorflow.core.protobuf import trackable_object_graph_pb2

from pic_tf import configs
from pic_tf import errors
from pic_tf.errors import CheckpointError
from pic_tf.errors import ConfigError
from pic_tf.errors import DamagedCheckpointError
from pic_tf.errors import PicError
from pic_tf.model import networks
from pic_tf.storage import fileutil
from pic_tf.storage import Stored

CONFIG_FILENAME = 'config.json'
INDEX_FILENAME = 'checkpoint'
RESULTS_FILENAME = 'train_results.json'
# What bin/eval writes into a workdir it evaluates: test bits/dim, sample metrics.
EVAL_FILENAME = 'eval.json'
SAMPLE_METRICS_FILENAME = 'sample_metrics.json'
# TensorBoard's folders: training scalars; test bits/dim and sample grids.
TRAIN_SUMMARIES, EVAL_SUMMARIES = 'train', 'eval'
SUMMARY_FOLDERS = (TRAIN_SUMMARIES, EVAL_SUMMARIES)
# The sample grids as PNG files, one per train.sample_every steps.
SAMPLES_FOLDER = 'samples'
_CHECKPOINT_PREFIX = 'ckpt'
# The name of one checkpoint of a workdir (its path prefix's last part).
CHECKPOINT_NAME = re.compile(rf'{_CHECKPOINT_PREFIX}-\d+')
# Fields that may change when a run is resumed (length, logging, the learning rate after
# a diverged step); the rest may not.
RESUMABLE_FIELDS = {'num_epochs', 'num_steps', 'log_every', 'checkpoint_every', 'eval_every',
                    'eval_examples', 'sample_every', 'keep_checkpoints', 'deterministic',
                    'learning_rate'}


def is_workdir(path):
  """True if ``path`` is a directory holding a ``config.json``."""
  return os.path.isdir(path) and os.path.exists(os.path.join(path, CONFIG_FILENAME))


def results_path(workdir):
  """Where a finished run writes its final evaluation."""
  return os.path.join(workdir, RESULTS_FILENAME)


def make_checkpoint(model, ema, **extra):
  """The checkpoint object of a workdir: ``model``, ``ema`` and any ``extra`` trackables."""
  return tf.train.Checkpoint(model=model, ema=ema, **extra)


def checkpoint_path(directory, step):
  """The prefix of the checkpoint of ``step`` in ``directory`` (``<directory>/ckpt-<step>``)."""
  return os.path.join(directory, f'{_CHECKPOINT_PREFIX}-{step}')


def temporary_checkpoint_dir(directory, step):
  """Where TensorFlow writes the checkpoint of ``step`` before it commits it."""
  return checkpoint_path(directory, step) + fileutil.CHECKPOINT_SHARDS_SUFFIX


def worker_dir(workdir, task):
  """Where a multi-worker run's worker ``task`` (not the chief) writes its checkpoints:
  every worker must save, only the chief's are kept."""
  return os.path.join(workdir, f'.worker_{task}')


def summaries_dir(workdir, name):
  """TensorBoard's folder ``name`` (one of :data:`SUMMARY_FOLDERS`) of ``workdir``."""
  if name not in SUMMARY_FOLDERS:
    raise ValueError(f'unknown summary folder {name!r}; one of {SUMMARY_FOLDERS}')
  return os.path.join(workdir, name)


def sample_grid_path(workdir, step):
  """Where the sample grid of ``step`` goes as a PNG (``samples/step_0005000.png``: the
  names sort by step)."""
  return os.path.join(workdir, SAMPLES_FOLDER, f'step_{step:07d}.png')


def checkpoint_manager(checkpoint, directory, max_to_keep, step_counter=None):
  """The ``tf.train.CheckpointManager`` that writes ``ckpt-<step>`` and the index."""
  return tf.train.CheckpointManager(checkpoint, directory, max_to_keep=max_to_keep,
                                    checkpoint_name=_CHECKPOINT_PREFIX,
                                    step_counter=step_counter)


def check_result_file(path, what='output file'):
  """:func:`pic_tf.storage.fileutil.check_file_target`, and refuses a workdir's own files.

  Raises:
    PicError: ``path`` would replace a file of a pic_tf workdir (``config.json``,
      checkpoints, ...), is a directory, or its folder is not writable.
  """
  folder = os.path.dirname(os.path.abspath(path))
  name = os.path.basename(path)
  if is_workdir(folder) and (name in (CONFIG_FILENAME, INDEX_FILENAME, RESULTS_FILENAME) or
                             name.startswith(f'{_CHECKPOINT_PREFIX}-')):
    raise PicError(f'{what} {path} is a file of the workdir {folder}; writing there would '
                   'destroy it. Choose another file name')
  fileutil.check_file_target(path, what)


def save_config(config, workdir):
  """Writes ``config`` as ``workdir/config.json`` (atomically). Returns the path."""
  path = os.path.join(workdir, CONFIG_FILENAME)
  fileutil.write_json(config.to_dict(), path)
  return path


def load_config(workdir):
  """Reads the :class:`pic_tf.configs.Config` a workdir was trained with.

  Raises:
    CheckpointError: ``workdir`` has no ``config.json``, or one that is not a config.
  """
  path = os.path.join(workdir, CONFIG_FILENAME)
  if not os.path.exists(path):
    raise CheckpointError(
        f'{workdir} has no {CONFIG_FILENAME}: it is not a pic_tf workdir (train one, or '
        'convert an original checkpoint into one)')
  try:
    with open(path) as f:
      return configs.Config.from_dict(json.load(f))
  except (ValueError, TypeError, AttributeError) as e:
    # Damaged or hand-edited: never guess a model from it.
    raise CheckpointError(
        f'{path} is damaged or not a pic_tf config ({type(e).__name__}: {e}). Restore it '
        'from a copy, or write it anew by training with the config and overrides the run '
        'was started with') from None


def resumed_config(workdir):
  """The config of the run ``workdir`` holds, or None.

  A ``config.json`` without a committed checkpoint is from a run that never trained a
  step (it failed on its data, its values or its first step): it does not bind the
  workdir (None), and a new config replaces it.
  """
  if not (os.path.isfile(os.path.join(workdir, CONFIG_FILENAME)) and checkpoint_paths(workdir)):
    return None
  return load_config(workdir)


def check_resumable(config, resumed, workdir):
  """Checks that ``config`` may train in ``workdir``, which holds the run ``resumed``
  (:func:`resumed_config`, read once by the caller); the caller writes ``config.json``
  (:func:`save_config`) once training can start.

  Raises:
    ConfigError: the workdir holds checkpoints of a run of another config.
  """
  if resumed is None:
    return
  diffs = _config_diffs(resumed, config)
  if diffs:
    raise ConfigError(
        f'workdir {workdir} holds a run of another config ({resumed.name}); it differs in: '
        + ', '.join(diffs) + '. Use a new workdir, or the same config and overrides.')


def _same_dataset(old, new):
  """Dataset names equal, or one folder of photos named relatively and absolutely (a run
  started before the programs made paths absolute, resumed from the same directory)."""
  return fileutil.user_dataset(old) == fileutil.user_dataset(new)


def _config_diffs(old, new):
  diffs = []
  if not _same_dataset(old.dataset, new.dataset):
    diffs.append(f'dataset ({old.dataset} vs {new.dataset})')
  for section in ('model', 'train'):
    a, b = getattr(old, section), getattr(new, section)
    for field in dataclasses.fields(a):
      if section == 'train' and field.name in RESUMABLE_FIELDS:
        continue
      if section == 'train' and getattr(a, field.name) is None:
        continue   # left to the devices (save_new_workdir records no choice)
      if getattr(a, field.name) != getattr(b, field.name):
        diffs.append(f'{section}.{field.name} ({getattr(a, field.name)} vs '
                     f'{getattr(b, field.name)})')
  return diffs


_CHECKPOINT_FILE = re.compile(rf'^{_CHECKPOINT_PREFIX}-(\d+)(\.index|\.data-\d+-of-\d+|'
                              rf'{fileutil.CHECKPOINT_SHARDS_SUFFIX})$')


def checkpoint_paths(workdir):
  """The checkpoint prefixes of ``workdir``, oldest first, as its index file lists them.

  Read with TensorFlow's own reader of the index (``tf.train.get_checkpoint_state``).
  Unlike ``tf.train.latest_checkpoint``, which answers None when the newest listed
  checkpoint's files are missing (and so would let a damaged run restart from
  scratch), this lists what the run committed, readable or not. Without an index
  file (or with an unreadable one) the ``ckpt-<step>.index`` files found are listed.
  """
  state = tf.train.get_checkpoint_state(workdir) if os.path.isdir(workdir) else None
  if state is not None and state.all_model_checkpoint_paths:
    # TensorFlow has already joined the workdir onto the relative paths of the index.
    return list(state.all_model_checkpoint_paths)
  found = []
  for name in (os.listdir(workdir) if os.path.isdir(workdir) else ()):
    match = _CHECKPOINT_FILE.match(name)
    if match and match.group(2) == '.index':
      found.append((int(match.group(1)), checkpoint_path(workdir, match.group(1))))
  return [path for _, path in sorted(found)]


def latest_checkpoint(workdir):
  """Path prefix of the newest checkpoint ``workdir`` committed, or None.

  The files may be damaged or missing: :func:`restore` says so.
  """
  paths = checkpoint_paths(workdir)
  return paths[-1] if paths else None


def _stored_variables(reader):
  """``{object path: (checkpoint key, shape)}`` of the model, EMA and step in a checkpoint.

  Walks the checkpoint's object graph, so a variable is found by its path through
  the model (``model/pixelcnn/conv_leak/V``) even when the checkpoint stored it under
  another owner (the optimizer). TensorFlow's API does not give this: its reader
  (``tf.train.load_checkpoint``) lists checkpoint keys, which name a variable by its
  first owner only, and ``tf.train.Checkpoint.read`` needs the model built, where the
  weights are read here to decide which model to build and to report mismatches.

  Args:
    reader: the checkpoint's ``tf.train.load_checkpoint`` reader.
  """
  graph = trackable_object_graph_pb2.TrackableObjectGraph()
  graph.ParseFromString(reader.get_tensor('_CHECKPOINTABLE_OBJECT_GRAPH'))
  shapes = reader.get_variable_to_shape_map()
  wanted = ('model/', 'ema/', 'step')
  found = {}
  stack = [(0, '')]
  while stack:
    node_id, node_path = stack.pop()
    node = graph.nodes[node_id]
    for attribute in node.attributes:
      if attribute.name == 'VARIABLE_VALUE' and node_path.startswith(wanted):
        found[node_path] = (attribute.checkpoint_key, shapes.get(attribute.checkpoint_key))
    for child in node.children:
      child_path = f'{node_path}/{child.local_name}' if node_path else child.local_name
      if child_path.startswith(wanted) or any(w.startswith(child_path + '/') for w in wanted):
        stack.append((child.node_id, child_path))
  return found


def _model_entries(by_path):
  """The ``model/<owner>/<name>`` entries of ``by_path``, keyed by the variable's name
  (:func:`pic_tf.model.networks.named_variables`)."""
  return {p.split('/', 2)[2]: value for p, value in by_path.items() if p.startswith('model/')}


def has_files(path):
  """Whether the checkpoint prefix ``path`` has its files (its ``.index``)."""
  return tf.io.gfile.exists(path + '.index')


def _unreadable(path, error, committed=None):
  """The error of a checkpoint that cannot be read: "does not exist" when its files are
  not there, "damaged" only when they are and fail to read. Given the ``committed``
  ones, it names one to use instead (an earlier one if there is one)."""
  if has_files(path):
    message = (f'checkpoint {path} is damaged or incomplete: its files are there but '
               f'cannot be read ({errors.first_line(error)[:200]})')
  else:
    message = f'checkpoint {path} does not exist (no {os.path.basename(path)}.index)'
  if committed is None:
    return DamagedCheckpointError(message)
  # Only checkpoints with files: a kill inside CheckpointManager.save, between its sweep
  # and its second index write, leaves a swept one listed.
  present = [p for p in committed if p != path and has_files(p)]
  before = committed[:committed.index(path)] if path in committed else []
  earlier = [p for p in present[::-1] if p in before]
  others = present[::-1]
  fix = (f'use an earlier one instead, e.g. {earlier[0]}' if earlier else
         f'use another one instead, e.g. {others[0]}' if others else
         'restore the workdir from a copy, or train again')
  return DamagedCheckpointError(f'{message}: {fix}')


# Reading a damaged checkpoint fails in many ways: missing files (NotFound),
# truncated data (IndexError), corrupted bytes (DataLoss, a checksum).
_UNREADABLE = (tf.errors.OpError, IndexError, ValueError, OSError)


def read_checkpoint(workdir, checkpoint=None):
  """The weights of one checkpoint of ``workdir`` and the config they belong to.

  Args:
    workdir: a pic_tf workdir.
    checkpoint: one of its checkpoint prefixes (``<workdir>/ckpt-<step>``); None: the
      newest committed.

  Returns:
    :class:`pic_tf.storage.Stored`; ``averages`` is None for a weights-only checkpoint
    (:func:`save_new_workdir` without ``ema``).

  Raises:
    CheckpointError: no checkpoint yet, or a damaged ``config.json``.
    DamagedCheckpointError: unreadable checkpoint files (the message names an earlier
      checkpoint to use).
  """
  committed = checkpoint_paths(workdir)
  path = checkpoint or (committed[-1] if committed else None)
  if path is None:
    raise CheckpointError(f'{workdir} has a {CONFIG_FILENAME} but no checkpoint yet; train '
                          'longer (checkpoints are written every train.checkpoint_every '
                          'steps) or use another workdir')
  try:
    reader = tf.train.load_checkpoint(path)
    values = {p: reader.get_tensor(key) for p, (key, _) in _stored_variables(reader).items()}
  except _UNREADABLE as e:
    raise _unreadable(path, e, committed) from None
  averages = sorted((int(p.split('/')[-1]), v) for p, v in values.items()
                    if p.startswith('ema/averages/'))
  return Stored(path=path, weights=_model_entries(values),
                averages=[v for _, v in averages] or None,
                step=int(values['step']) if 'step' in values else None,
                config=load_config(workdir))


def restore(checkpoint, path, model):
  """Restores a training ``checkpoint`` (model, EMA, optimizer, step) from ``path``.

  Raises:
    CheckpointError: the checkpoint does not hold this model's variables.
    DamagedCheckpointError: its files are missing, truncated or corrupted.
  """
  try:
    stored = _stored_variables(tf.train.load_checkpoint(path))
  except _UNREADABLE as e:
    raise _unreadable(path, e) from None
  try:
    networks.check_weights(model, _model_entries(
        {p: shape for p, (_, shape) in stored.items()}))
  except networks.WeightsMismatch as e:
    raise CheckpointError(f'checkpoint {path} does not fit the model of this config: {e}\n'
                          'Use the workdir (and config.json) the checkpoint was written '
                          'with.') from None
  try:
    return checkpoint.restore(path)
  except _UNREADABLE as e:
    raise _unreadable(path, e) from None


def clean_workdir(workdir):
  """Removes what an interrupted run left in its workdir; keeps every committed checkpoint.

  Left behind by a kill: ``ckpt-<step>_temp/`` (a checkpoint being written), the files
  of a checkpoint written but not yet listed in the index file or listed no more
  (killed between the manager's save and its clean-up), and ``.tmp-*`` of
  :mod:`pic_tf.storage.fileutil`. Call only while no other process writes the workdir.

  Returns:
    The names removed.
  """
  if not os.path.isdir(workdir):
    return []
  removed = fileutil.remove_stale_temporaries(workdir)
  committed = {os.path.basename(p) for p in checkpoint_paths(workdir)}
  for name in sorted(os.listdir(workdir)):
    match = _CHECKPOINT_FILE.match(name)
    stem = os.path.basename(checkpoint_path(workdir, match.group(1))) if match else None
    if not match or stem in committed and match.group(2) != fileutil.CHECKPOINT_SHARDS_SUFFIX:
      continue
    fileutil.remove(os.path.join(workdir, name))
    removed.append(name)
  return removed


def _save(directory, config, step, **objects):
  """``config.json`` and one checkpoint of ``objects`` and ``step``. Returns its path."""
  save_config(config, directory)
  checkpoint = tf.train.Checkpoint(step=tf.Variable(step, dtype=tf.int64, name='step'),
                                   **objects)
  return checkpoint_manager(checkpoint, directory, max_to_keep=1).save(checkpoint_number=step)


def save_new_workdir(directory, config, model, ema=None, step=0, what='output directory'):
  """Writes a new workdir atomically: ``config.json`` and one checkpoint.

  Args:
    directory: must not exist or be empty.
    config: the model's :class:`pic_tf.configs.Config` (written as ``config.json``).
    model: the model whose weights are stored.
    ema: the averages to store too; None stores ``model``'s weights alone, a quarter of
      a training checkpoint (put the EMA weights in ``model`` first to ship a model).
    step: the training step recorded with the weights.
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
  return latest_checkpoint(directory)
