"""Workdirs: ``config.json`` written by training, read by every other binary; new
workdirs (a config and one checkpoint) written atomically.

A workdir written by ``bin/train`` or ``bin/convert_original`` holds::

  config.json        the resolved :class:`pic_tf.configs.Config`
  ckpt-<step>.*      checkpoints (:mod:`pic_tf.storage.checkpoints` reads them)
  checkpoint         the CheckpointManager's index of the committed checkpoints

A run may be resumed with other run-length or logging fields
(:data:`RESUMABLE_FIELDS`); a different model, dataset or optimisation is refused.
"""

import dataclasses
import json
import os
import re

import tensorflow as tf

from pic_tf import configs
from pic_tf.errors import CheckpointError
from pic_tf.errors import ConfigError
from pic_tf.storage import fileutil

CONFIG_FILENAME = 'config.json'
# Fields that may change when a run is resumed (length, logging); the rest may not.
RESUMABLE_FIELDS = {'num_epochs', 'num_steps', 'log_every', 'checkpoint_every', 'eval_every',
                    'eval_examples', 'sample_every', 'keep_checkpoints', 'deterministic'}


def is_workdir(path):
  """True if ``path`` is a directory holding a ``config.json``."""
  return os.path.isdir(path) and os.path.exists(os.path.join(path, CONFIG_FILENAME))


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
        f'{workdir} has no {CONFIG_FILENAME}: it is not a pic_tf workdir (train one with '
        'bin/train, or convert an original checkpoint with bin/convert_original)')
  try:
    with open(path) as f:
      return configs.Config.from_dict(json.load(f))
  except (ValueError, TypeError, AttributeError) as e:
    # Damaged or hand-edited: never guess a model from it.
    raise CheckpointError(
        f'{path} is damaged or not a pic_tf config ({type(e).__name__}: {e}). Restore it '
        'from a copy, or rewrite it with bin/train using the --config and --set flags the '
        'run was started with') from None


def prepare(config, workdir):
  """Checks that ``config`` may train in ``workdir``; the caller writes ``config.json``
  (:func:`save_config`) once training can start.

  A ``config.json`` without a committed checkpoint is from a run that never trained a
  step (it failed on its data, its values or its first step): it does not bind the
  workdir, and the new config replaces it.

  Returns:
    True if the workdir already holds a run to resume.

  Raises:
    ConfigError: the workdir holds checkpoints of a run of another config.
  """
  if not os.path.exists(os.path.join(workdir, CONFIG_FILENAME)):
    return False
  if not checkpoint_paths(workdir):
    return False
  old = load_config(workdir)
  diffs = _config_diffs(old, config)
  if diffs:
    raise ConfigError(
        f'workdir {workdir} holds a run of another config ({old.name}); it differs in: '
        + ', '.join(diffs) + '. Use a new --workdir, or the same --config and --set flags.')
  return True


def _config_diffs(old, new):
  diffs = []
  if old.dataset != new.dataset:
    diffs.append(f'dataset ({old.dataset} vs {new.dataset})')
  for section in ('model', 'train'):
    a, b = getattr(old, section), getattr(new, section)
    for field in dataclasses.fields(a):
      if section == 'train' and field.name in RESUMABLE_FIELDS:
        continue
      if getattr(a, field.name) != getattr(b, field.name):
        diffs.append(f'{section}.{field.name} ({getattr(a, field.name)} vs '
                     f'{getattr(b, field.name)})')
  return diffs


_CHECKPOINT_FILE = re.compile(r'^ckpt-(\d+)(\.index|\.data-\d+-of-\d+|_temp)$')


def _read_index(workdir):
  """The ``all_model_checkpoint_paths`` of the CheckpointManager's index file (text proto)."""
  try:
    with open(os.path.join(workdir, 'checkpoint'), encoding='utf-8') as f:
      lines = f.read().splitlines()
  except (OSError, UnicodeDecodeError):
    return []
  paths = []
  for line in lines:
    key, _, value = line.partition(':')
    value = value.strip()
    if key.strip() == 'all_model_checkpoint_paths' and len(value) > 1 and value[0] == '"':
      paths.append(value[1:-1])
  return paths


def checkpoint_paths(workdir):
  """The checkpoint prefixes of ``workdir``, oldest first, as its index file lists them.

  Unlike ``tf.train.latest_checkpoint``, which answers None when the newest listed
  checkpoint's files are missing (and so would let a damaged run restart from
  scratch), this lists what the run committed, readable or not. Without an index
  file (or with an unreadable one) the ``ckpt-<step>.index`` files found are listed.
  """
  listed = _read_index(workdir)
  if listed:
    return [p if os.path.isabs(p) else os.path.join(workdir, p) for p in listed]
  found = []
  for name in (os.listdir(workdir) if os.path.isdir(workdir) else ()):
    match = _CHECKPOINT_FILE.match(name)
    if match and match.group(2) == '.index':
      found.append((int(match.group(1)), os.path.join(workdir, f'ckpt-{match.group(1)}')))
  return [path for _, path in sorted(found)]


def latest_checkpoint(workdir):
  """Path prefix of the newest checkpoint ``workdir`` committed, or None.

  The files may be damaged or missing: :func:`restore` says so.
  """
  paths = checkpoint_paths(workdir)
  return paths[-1] if paths else None


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
    if not match or f'ckpt-{match.group(1)}' in committed and match.group(2) != '_temp':
      continue
    fileutil.remove(os.path.join(workdir, name))
    removed.append(name)
  return removed


def _save(directory, config, step, **objects):
  """``config.json`` and one checkpoint of ``objects`` and ``step``. Returns its path."""
  save_config(config, directory)
  checkpoint = tf.train.Checkpoint(step=tf.Variable(step, dtype=tf.int64, name='step'),
                                   **objects)
  manager = tf.train.CheckpointManager(checkpoint, directory, max_to_keep=1)
  return manager.save(checkpoint_number=step)


def save_new_workdir(directory, config, model, ema=None, step=0, what='--output_dir'):
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
