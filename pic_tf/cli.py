"""Helpers shared by the ``bin/`` scripts: config flags and clean error exits.

Binaries define their flags with these helpers and pass plain values to the
library; nothing in the library reads ``FLAGS``.
"""

import os
import sys
import traceback

from absl import flags
from absl import logging

from pic_tf import configs
from pic_tf import errors


def define_config_flags():
  """Defines ``--config`` and ``--set`` (the one config system of every binary)."""
  flags.DEFINE_string(
      'config', None,
      f'Base config: one of {sorted(configs.CONFIGS)}. Defaults to the paper config '
      'of --dataset (cifar10 -> cifar10, imagenet2012 -> imagenet).')
  flags.DEFINE_multi_string(
      'set', [],
      'Override a config field, repeatable: --set=model.nr_channels=32 '
      '--set=train.batch_size=16. Fields: see pic_tf/configs.py.')


def resolve_config(name, overrides=(), dataset=None):
  """The :class:`Config` named ``name`` (or implied by ``dataset``) with overrides.

  Args:
    name: config name or None.
    overrides: ``section.field=value`` strings.
    dataset: optional dataset (``cifar10``, ``imagenet2012``, ``folder:PATH``); it
      picks the default config and sets ``config.dataset``.

  Raises:
    ConfigError: unknown names or bad overrides.
  """
  if name is None:
    if dataset is not None and dataset.startswith('folder:'):
      raise errors.ConfigError('--dataset=folder:... needs --config (cifar10 for 32x32 '
                               'images, imagenet for 128x128, or tiny)')
    name = configs.DATASET_DEFAULT_CONFIG.get(dataset or 'cifar10')
    if name is None:
      raise errors.ConfigError(
          f'unknown dataset {dataset!r}: use cifar10, imagenet2012 or folder:PATH')
  config = configs.get_config(name)
  if dataset is not None:
    overrides = [f'dataset={dataset}'] + list(overrides)
  return configs.override(config, overrides)


def run(main):
  """``absl.app.run(main)`` that turns user errors into one message and exit status 1."""
  from absl import app  # pylint: disable=import-outside-toplevel

  def wrapped(argv):
    try:
      return main(argv)
    except (errors.PicError, FileNotFoundError, FileExistsError) as e:
      if os.environ.get('PIC_TF_TRACEBACK'):
        traceback.print_exc()
      print(f'error: {e}', file=sys.stderr)
      sys.exit(1)

  logging.set_verbosity(logging.WARNING)
  app.run(wrapped)


def quiet_tensorflow():
  """Silences TensorFlow's C++ start-up chatter (call before importing TensorFlow)."""
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
