"""Colourises grayscale (or colour) photos, or dataset images, with PIC.

Writes one PNG per sample at the input's resolution and a grid PNG per input
(gray | samples | original when colour was given). Without --checkpoint or
--saved_model it uses the small CIFAR-10 demo model shipped with the package.

The first 16 CIFAR-10 test images, offline with the shipped model, into one grid PNG
(rows = images; gray | 4 samples | original); then CIFAR-10 through tensorflow-datasets
(downloaded once) and photos with a trained workdir:

  bin/colorize --dataset=cifar10_bundled --num_images=16 --output_dir=/tmp/colorized
  bin/colorize --dataset=cifar10 --split=test --num_images=64 --output_dir=/tmp/colorized
  bin/colorize --checkpoint=/tmp/pic_tiny --input=photos/ --input='more/*.jpg' \\
      --num_samples=4 --output_dir=/tmp/colorized

Inputs may also be given without --input, as arguments:

  bin/colorize photo.jpg album/ --output_dir=/tmp/colorized
"""

import sys

from absl import flags

from pic_tf import errors
from pic_tf.cli import common
from pic_tf import sampling
from pic_tf import storage
from pic_tf import data
from pic_tf.storage import fileutil

FLAGS = flags.FLAGS


def define_flags():
  """Defines this program's flags (:func:`pic_tf.cli.common.run` calls it)."""
  common.DEFINE_multi_path('input', [], 'Image files, globs or folders (repeatable; also as '
                            'arguments). Gray or colour, PNG/JPEG/..., any size; colour is '
                            'converted to L first.')
  common.DEFINE_source('checkpoint', None, 'A pic_tf workdir, or an original checkpoint '
                        'prefix (then give --config and any --set it was trained with). '
                        'Default: demo, the demo model shipped with the package.')
  common.DEFINE_path('saved_model', None, 'A SavedModel written by bin/export (its base '
                      'directory or a version directory) instead of --checkpoint.')
  common.DEFINE_path('output_dir', None, 'Where the PNGs go.')
  flags.DEFINE_integer('num_samples', 4, 'Colourisations per input.')
  flags.DEFINE_float('temperature', 1.0, 'Scale of the logistic noise: 1 samples the model, '
                     '0 takes the mean of each chosen mixture component.')
  flags.DEFINE_integer('seed', 0, 'Random seed: the same seed gives the same colourisations.')
  common.DEFINE_dataset('dataset', None, 'Colourise dataset images instead of --input: '
                      'cifar10_bundled (64 CIFAR-10 test images shipped with pic_tf), cifar10, '
                      'imagenet2012 or folder:PATH.')
  flags.DEFINE_enum('split', 'test', ['train', 'test'], 'Dataset split for --dataset.')
  flags.DEFINE_integer('num_images', 16, 'Dataset images to colourise with --dataset.')
  common.DEFINE_path('data_dir', None, 'tensorflow-datasets directory for --dataset.')
  flags.DEFINE_enum('sampler', sampling.DEFAULT_SAMPLER, list(sampling.SAMPLERS), 'cached: '
                    'incremental PixelCNN (fast); naive: the full network per pixel, as the '
                    'original. Same samples.')
  flags.DEFINE_bool('download', True, 'Let tensorflow-datasets download a missing dataset.')
  flags.DEFINE_bool('overwrite', False, 'Replace the results of an earlier run in --output_dir '
                    '(all of them, as a set). Without it such a folder is refused.')
  common.define_config_flags(common.ORIGINAL_CONFIG_HELP)
  common.define_inference_flags()


def main(argv):
  inputs = list(FLAGS.input) + [fileutil.user_path(a) for a in argv[1:]]
  if not FLAGS.output_dir:
    raise errors.ConfigError('--output_dir is required')
  if bool(inputs) == bool(FLAGS.dataset):
    raise errors.ConfigError('give either --input (files, globs, folders) or --dataset')
  if FLAGS.num_images < 1:
    raise errors.ConfigError('--num_images must be at least 1')
  if FLAGS.checkpoint and FLAGS.saved_model:
    raise errors.ConfigError('give --checkpoint or --saved_model, not both')
  if not FLAGS.dataset:
    common.refuse_ignored({name: 'without --dataset' for name in
                           ('split', 'num_images', 'data_dir', 'download')})
  sample_options = common.sample_options(
      num_samples=FLAGS.num_samples, temperature=FLAGS.temperature, seed=FLAGS.seed,
      sampler=FLAGS.sampler, jit=FLAGS.jit)
  selection = data.Selection(dataset=FLAGS.dataset, split=FLAGS.split,
                                num_images=FLAGS.num_images, data_dir=FLAGS.data_dir,
                                download=FLAGS.download)
  common.quiet_tensorflow()
  from pic_tf import colorize_lib  # pylint: disable=import-outside-toplevel
  from pic_tf.storage import loading  # pylint: disable=import-outside-toplevel
  source = loading.recognised(
      storage.Source(FLAGS.checkpoint, FLAGS.config, tuple(FLAGS.set), FLAGS.precision))
  if source.found.kind == storage.SAVED_MODEL:
    raise errors.ConfigError(f'--checkpoint={source.found.path} is a SavedModel written by '
                             'bin/export: give it as --saved_model')
  kind = storage.SAVED_MODEL if FLAGS.saved_model else source.found.kind
  common.refuse_ignored(common.model_flags_ignored(
      kind, ('config', 'set', 'precision', 'jit', 'sampler')))
  # Before the model loads (the library checks for earlier results there, too).
  fileutil.check_dir_target(FLAGS.output_dir, '--output_dir')
  try:
    failed = colorize_lib.run(
        FLAGS.output_dir, source=None if FLAGS.saved_model else source,
        saved_model=FLAGS.saved_model, inputs=inputs,
        selection=selection if FLAGS.dataset else None, sample_options=sample_options,
        overwrite=FLAGS.overwrite)
  except errors.ResultsExistError as e:
    raise errors.ResultsExistError(f'{e} (--overwrite)') from None
  sys.exit(1 if failed else 0)


def run():
  """The program: flags, then :func:`main`."""
  common.run(main, define_flags, __doc__, positional=True)


if __name__ == '__main__':
  run()
