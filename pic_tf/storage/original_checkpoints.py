"""Reads checkpoints written by the original TF1 PIC code into this package's model.

The original stores every variable under ``picolor_template/`` with the names of
its layers (``picolor_template/down_leak_1/conv1/V``, ...); this model uses the
same layer names, so the mapping is one to one (:func:`original_name_map`). A
checkpoint saved during the original's training also holds Polyak averages
(``<name>/ExponentialMovingAverage``) and Adam slots; the averages become this
package's EMA weights, the slots are ignored. :func:`pic_tf.storage.loading.load` reads
them directly; :func:`convert_original` writes them as a workdir.
"""


import os

import tensorflow as tf

from pic_tf import errors
from pic_tf.errors import CheckpointError
from pic_tf.errors import DamagedCheckpointError
from pic_tf.model import networks
from pic_tf.storage import Stored
from pic_tf.storage import workdir as workdir_lib

SCOPE = 'picolor_template'
EMA_SUFFIX = '/ExponentialMovingAverage'
# Variables of the original's training graph that carry no model weights.
_IGNORED_SUFFIXES = ('/Adam', '/Adam_1', EMA_SUFFIX)
_IGNORED_NAMES = ('beta1_power', 'beta2_power', 'bpd_rec', 'rec_error', 'gen_error',
                  'gen_error_gray', 'global_step')


class ConversionError(CheckpointError):
  """The original checkpoint does not match the model of the chosen config."""


def original_name_map(model):
  """``{original variable name: variable of model}``, e.g. ``picolor_template/conv_last/V``."""
  return {f'{SCOPE}/{name}': var for name, _, var in networks.named_variables(model)}


def _ours(name):
  return name[len(SCOPE) + 1:] if name.startswith(SCOPE + '/') else name


def read_original(path):
  """Reads the weights of an original checkpoint, before any model is built.

  Args:
    path: TF1 checkpoint prefix (``.../model.ckpt``) or a directory holding one.

  Returns:
    :class:`pic_tf.storage.Stored` with the weights (and Polyak averages, if any) by
    the model's names (the ``picolor_template/`` scope removed); names outside the
    scope are kept whole, so that a model check lists them as unexpected.

  Raises:
    ConversionError: unreadable checkpoint, or averages for only some variables.
    DamagedCheckpointError: its index is readable but its data is not.
  """
  if tf.io.gfile.isdir(path):
    found = tf.train.latest_checkpoint(path)
    if found is None:
      index = tf.io.gfile.glob(f'{path}/*.index')
      found = index[0][:-len('.index')] if len(index) == 1 else None
    if found is None:
      raise ConversionError(f'no TF checkpoint found in directory {path}; pass the '
                            'checkpoint prefix, e.g. .../model.ckpt')
    path = found
  try:
    reader = tf.train.load_checkpoint(path)
  except (tf.errors.OpError, ValueError) as e:
    raise ConversionError(f'cannot read checkpoint {path}: {e.__class__.__name__}: '
                          f'{str(e).splitlines()[0]}. Pass the prefix of a TF checkpoint '
                          '(the path without .index / .data-*)') from None
  stored = reader.get_variable_to_shape_map()
  names = [n for n in stored
           if not n.endswith(_IGNORED_SUFFIXES) and n.split('/')[-1] not in _IGNORED_NAMES
           and not n.startswith('_CHECKPOINTABLE')]
  try:
    weights = {_ours(n): reader.get_tensor(n) for n in names}
    averages = {_ours(n): reader.get_tensor(n + EMA_SUFFIX) for n in names
                if n + EMA_SUFFIX in stored}
  except (tf.errors.OpError, IndexError, ValueError) as e:
    # The index is readable but the data file is truncated or corrupted.
    raise DamagedCheckpointError(
        f'checkpoint {path} is damaged: its variables cannot be read '
        f'({errors.first_line(e)}). Copy or download it again') from None
  if averages and len(averages) != len(weights):
    raise ConversionError(f'checkpoint {path} has Polyak averages for only '
                          f'{len(averages)} of {len(weights)} variables')
  return Stored(path=path, weights=weights, averages=averages or None)


def mismatch_error(path, mismatch):
  """The :class:`ConversionError` of an original checkpoint that does not fit the model."""
  return ConversionError(
      f'checkpoint {path} does not fit the model of this config: {mismatch}\n'
      'Choose the config the checkpoint was trained with (cifar10 or imagenet, with the '
      'same model.* overrides).')


def load_original(path, model, ema=None):
  """Assigns an original checkpoint's weights to ``model`` (and its averages to ``ema``).

  Args:
    path: original checkpoint prefix or directory.
    model: built model of the matching config.
    ema: optional :class:`pic_tf.model.ema.ExponentialMovingAverage` of ``model``; set to
      the checkpoint's averages, or to the raw weights if it has none.

  Returns:
    True if the checkpoint held Polyak averages.

  Raises:
    ConversionError: an unreadable checkpoint, or one that does not fit ``model``
      (every missing, unexpected and mis-shaped variable listed).
  """
  stored = read_original(path)
  try:
    networks.assign_weights(model, ema, stored.weights, stored.averages)
  except networks.WeightsMismatch as e:
    raise mismatch_error(stored.path, e) from None
  return stored.averages is not None


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
    raise ConversionError(f'{output_dir} is not empty; choose a new output directory')
  model, ema = networks.build_model_and_ema(config)
  had_averages = load_original(original_checkpoint, model, ema)
  return workdir_lib.save_new_workdir(output_dir, config, model, ema), had_averages
