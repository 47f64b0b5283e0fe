"""Trains PIC as the paper does, or resumes the run in --workdir.

The paper's CIFAR-10 model (150 epochs at batch 64; hours on a GPU):

  bin/train --dataset=cifar10 --workdir=runs/cifar10

A few minutes on a CPU (8x8 images; CIFAR-10 is downloaded once):

  bin/train --config=tiny --dataset=cifar10 --workdir=runs/tiny --num_steps=200

Your own photos (JPEG, PNG, TIFF, BMP, GIF or WebP; about 10% become the test split):

  bin/train --dataset=folder:/path/to/photos --config=cifar10 --workdir=runs/photos

Fine-tuning: a new run from the weights of a trained model (a workdir, one of its
checkpoints, an original checkpoint with its --config, or the demo model), on your
photos; the model is the source's, the training settings are the flags':

  bin/train --init_from=demo --dataset=folder:/path/to/photos \\
      --workdir=runs/finetuned --num_steps=2000

Progress lines show step, bpd, images/s and ETA; TensorBoard logs go to
--workdir/train and --workdir/eval, sample grids as PNGs to --workdir/samples.
Restarting the same command resumes from the last checkpoint; without --config, the
run's own config.json is used, so this trains runs/tiny on to step 500:

  bin/train --workdir=runs/tiny --num_steps=500
"""

import os

from absl import flags

from pic_tf import configs
from pic_tf import errors
from pic_tf import storage
from pic_tf.cli import common
from pic_tf import data
from pic_tf import training
from pic_tf.model import precision as precision_lib
from pic_tf.storage import fileutil

FLAGS = flags.FLAGS


def define_flags():
  """Defines this program's flags (:func:`pic_tf.cli.common.run` calls it)."""
  common.DEFINE_path('workdir', None, 'Output directory (config.json, checkpoints, logs). '
                      'An existing run there is resumed.')
  common.DEFINE_dataset('dataset', None, 'cifar10, imagenet2012 or folder:PATH (a directory tree '
                      'of photos: JPEG, PNG, TIFF, BMP, GIF or WebP). Default: the config\'s '
                      'dataset.')
  common.DEFINE_path('data_dir', None, 'tensorflow-datasets directory (default '
                      '$TFDS_DATA_DIR or ~/tensorflow_datasets).')
  flags.DEFINE_bool('download', True, 'Let tensorflow-datasets download a missing dataset.')
  flags.DEFINE_enum('strategy', training.AUTO, list(training.STRATEGIES),
                    'tf.distribute strategy (auto: every GPU when there are two or more, else '
                    'one device); the global batch is split over replicas. multi_worker reads '
                    'TF_CONFIG.')
  flags.DEFINE_string('tpu', None, 'TPU name or grpc:// address for --strategy=tpu.')
  flags.DEFINE_bool('jit', False, 'Compile the training step with XLA: on one device the '
                    'whole step (forward, backward, Adam, EMA); on several each replica\'s '
                    'forward and backward pass.')
  flags.DEFINE_enum('precision', None, list(precision_lib.PRECISIONS),
                    'Compute precision (same as --set=train.precision=...). Default: mixed '
                    'bfloat16 on GPUs of compute capability 8.0+, else float32; auto: mixed '
                    'bfloat16 wherever the hardware has it natively, CPUs included. The '
                    'likelihood stays float32.')
  flags.DEFINE_integer('num_steps', None, 'Total training steps (same as '
                       '--set=train.num_steps=...; default: the config\'s epochs).')
  flags.DEFINE_integer('batch_size', None, 'Global batch (same as --set=train.batch_size=...).')
  flags.DEFINE_integer('seed', None, 'Seed of init, data order, flips and dropout '
                       '(same as --set=train.seed=...).')
  flags.DEFINE_bool('deterministic', None, 'Reproducible training (same as '
                    '--set=train.deterministic=...): TensorFlow\'s graph optimiser off, and on '
                    'GPUs its op determinism on. Default: on on a CPU (bit-reproducible), off on '
                    'GPUs.')
  common.DEFINE_source('init_from', None, 'Fine-tune: start a new run from the weights of '
                       'this model (a workdir, one of its checkpoints, an original checkpoint '
                       'with --config, or demo: the demo model shipped with the package); its '
                       'model is kept, training settings come from the flags. Read only at '
                       'step 0.')
  common.define_config_flags('Default: the config of the run --workdir holds, if any, else '
                             'the paper config of --dataset (cifar10 without one; a '
                             'folder: dataset needs --config). With --init_from: only for '
                             'an original checkpoint, the config it was trained with.')


def main(argv):
  if not FLAGS.workdir:
    raise errors.ConfigError('--workdir is required')
  if FLAGS.num_steps is not None and FLAGS.num_steps < 1:
    raise errors.ConfigError(f'--num_steps must be positive, got {FLAGS.num_steps} (omit '
                             'it to train the config\'s epochs)')
  if FLAGS.tpu and FLAGS.strategy != training.TPU:
    raise errors.ConfigError('--tpu needs --strategy=tpu')
  flag_overrides = []
  for name in ('precision', 'num_steps', 'batch_size', 'seed', 'deterministic'):
    value = getattr(FLAGS, name)
    if value is not None:
      key = f'train.{name}'
      if any(o.split('=', 1)[0].strip() == key for o in FLAGS.set):
        raise errors.ConfigError(f'--{name} and --set={key}=... conflict; give one')
      flag_overrides.append(f'{key}={value}')
  overrides = list(FLAGS.set) + flag_overrides
  # Without --config, a workdir that holds a run resumes it with its own config.json
  # (read below, with TensorFlow); otherwise the config is checked before that import.
  resuming = not (FLAGS.config or FLAGS.init_from) and _holds_files(FLAGS.workdir)
  config = None if FLAGS.init_from or resuming else common.resolve_config(
      FLAGS.config, overrides, FLAGS.dataset)
  fileutil.check_dir_target(FLAGS.workdir, '--workdir')
  common.quiet_tensorflow()
  from pic_tf.training import trainer  # pylint: disable=import-outside-toplevel
  source = None
  if FLAGS.init_from:
    config, source = _finetuning(flag_overrides)
  elif resuming:
    config = _resumed(overrides)
  if data.is_folder(config.dataset):
    common.refuse_ignored({name: 'on a folder: dataset (they are for tensorflow-datasets)'
                           for name in ('data_dir', 'download')})
  trainer.train(
      config, FLAGS.workdir, data_dir=FLAGS.data_dir, strategy=FLAGS.strategy, jit=FLAGS.jit,
      download=FLAGS.download, tpu=FLAGS.tpu, init_from=source)


def _holds_files(path):
  return os.path.isdir(path) and bool(os.listdir(path))


def _resumed(overrides):
  """The config of the run --workdir holds, changed by --dataset and ``overrides`` (the
  workdir refuses changes of its model); without a run there, a new config as
  :func:`pic_tf.cli.common.resolve_config` makes it."""
  from pic_tf.storage import workdir as workdir_lib  # pylint: disable=import-outside-toplevel
  running = workdir_lib.resumed_config(FLAGS.workdir)
  if running is None:
    return common.resolve_config(None, overrides, FLAGS.dataset)
  return configs.override(running, ([f'dataset={FLAGS.dataset}'] if FLAGS.dataset else [])
                          + overrides)


def _finetuning(flag_overrides):
  """The config and the :class:`pic_tf.storage.Source` of a run from --init_from's weights:
  the source's model; --dataset, --set and the training flags change the rest."""
  from pic_tf.storage import loading  # pylint: disable=import-outside-toplevel
  found = loading.recognised(storage.Source(FLAGS.init_from)).found
  # --config and --set describe the model of an original checkpoint; a workdir's
  # config.json fixes it, and --set may then change only the training.
  original = found.workdir is None
  if not original:
    common.refuse_ignored({'config': f'with --init_from a {found.kind}, whose config.json '
                                     'fixes the model'})
  source = storage.Source(FLAGS.init_from, FLAGS.config if original else None,
                          tuple(FLAGS.set) if original else (), found=found)
  _, source_config = loading.config_of(source)
  overrides = ([] if original else list(FLAGS.set)) + flag_overrides
  if FLAGS.dataset:
    overrides.insert(0, f'dataset={FLAGS.dataset}')
  return configs.finetuning(source_config, source.path, overrides), source


def run():
  """The program: flags, then :func:`main`."""
  common.run(main, define_flags, __doc__)


if __name__ == '__main__':
  run()
