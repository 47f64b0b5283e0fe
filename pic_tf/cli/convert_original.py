"""Converts a checkpoint of the original TF1 PIC code into a pic_tf workdir.

The workdir (config.json + checkpoint) then works with every other binary:
bin/eval, bin/colorize, bin/export. Polyak averages in the checkpoint become the
EMA weights.

Example (the authors' released CIFAR-10 model):

  bin/convert_original --original_checkpoint=/path/to/cifar/model.ckpt \\
      --config=cifar10 --output_dir=/tmp/pic_cifar_original

A model of another width or depth needs the same overrides it was trained with:

  bin/convert_original --original_checkpoint=ckpt/model.ckpt --config=cifar10 \\
      --set=model.nr_channels=32 --set=model.nr_resnet=2 --output_dir=/tmp/c32
"""

from absl import flags

from pic_tf import configs
from pic_tf import errors
from pic_tf import progress
from pic_tf.cli import common
from pic_tf import storage
from pic_tf.storage import fileutil

FLAGS = flags.FLAGS


def define_flags():
  """Defines this program's flags (:func:`pic_tf.cli.common.run` calls it)."""
  common.DEFINE_path('original_checkpoint', None,
                      'Checkpoint prefix written by the original code (path/model.ckpt), '
                      'or a directory holding one.')
  common.DEFINE_path('output_dir', None, 'Workdir to create (must not hold a checkpoint).')
  common.define_config_flags('Default: cifar10.')


# What an --original_checkpoint that is not one is, and what to do instead.
_NOT_ORIGINAL = {
    storage.DEMO: 'is the demo model shipped with pic_tf, a workdir: it needs no conversion; '
                  'give it as --checkpoint to bin/colorize, bin/eval or bin/export',
    storage.WORKDIR: 'is a pic_tf workdir: it needs no conversion; give it as --checkpoint '
                     'to bin/colorize, bin/eval or bin/export',
    storage.CHECKPOINT: 'is a checkpoint of a pic_tf workdir: it needs no conversion; give '
                        'it as --checkpoint to bin/colorize, bin/eval or bin/export',
    storage.SAVED_MODEL: 'is a SavedModel written by bin/export: serve it, or colourise '
                         'with bin/colorize --saved_model; it cannot be converted back',
    storage.MISSING: 'does not exist: give the prefix of a checkpoint of the original code '
                     '(.../model.ckpt, without .index or .data-*)',
}


def main(argv):
  if not FLAGS.original_checkpoint or not FLAGS.output_dir:
    raise errors.ConfigError('--original_checkpoint and --output_dir are required')
  config = common.resolve_config(FLAGS.config or configs.CIFAR10, FLAGS.set)
  fileutil.check_dir_target(FLAGS.output_dir, '--output_dir')
  common.quiet_tensorflow()
  from pic_tf.storage import original_checkpoints  # pylint: disable=import-outside-toplevel
  from pic_tf.storage import loading  # pylint: disable=import-outside-toplevel
  found = loading.recognised(storage.Source(FLAGS.original_checkpoint)).found
  if found.kind != storage.ORIGINAL:
    raise errors.ConfigError(f'--original_checkpoint={found.path} {_NOT_ORIGINAL[found.kind]}')
  path, had_averages = original_checkpoints.convert_original(found.path, config,
                                                              FLAGS.output_dir)
  weights = 'raw and Polyak-averaged' if had_averages else 'raw (no averages found; EMA = raw)'
  progress.result(f'converted {weights} weights of config {config.name} to {path}')


def run():
  """The program: flags, then :func:`main`."""
  common.run(main, define_flags, __doc__)


if __name__ == '__main__':
  run()
