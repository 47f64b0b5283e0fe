"""Evaluates bits/dim on the test split against the published numbers.

Reports the EMA weights (what the paper reports), the raw weights and the
auxiliary g^w head, as a table and as JSON (default: <workdir>/eval.json).

A workdir of bin/train, on the first 1000 CIFAR-10 test images:

  bin/eval --checkpoint=runs/tiny --num_examples=1000

Saturation of PIC samples against the g^w baseline (the paper's ablation):

  bin/eval --checkpoint=runs/tiny --samples=100

A checkpoint of the original code (converted in memory):

  bin/eval --checkpoint=/path/to/cifar/model.ckpt --config=cifar10
"""

from absl import flags

from pic_tf import errors
from pic_tf import progress
from pic_tf.cli import common
from pic_tf import sampling
from pic_tf import storage
from pic_tf import data

FLAGS = flags.FLAGS


def define_flags():
  """Defines this program's flags (:func:`pic_tf.cli.common.run` calls it)."""
  common.DEFINE_source('checkpoint', None, 'A pic_tf workdir, a checkpoint prefix of the '
                        'original code (then give --config and any --set it was trained '
                        'with), or demo: the demo model shipped with the package.')
  common.DEFINE_dataset('dataset', None, 'Evaluate on another dataset than the config\'s '
                      '(cifar10, imagenet2012, folder:PATH).')
  common.DEFINE_path('data_dir', None, 'tensorflow-datasets directory.')
  flags.DEFINE_bool('download', True, 'Let tensorflow-datasets download a missing dataset.')
  flags.DEFINE_integer('num_examples', 0, 'Evaluate the first N test examples (0: all).')
  flags.DEFINE_integer('batch_size', 64, 'Evaluation batch size.')
  flags.DEFINE_integer('samples', 0, 'Instead of bits/dim: sample colourisations of the first N '
                       'test images and report saturation (the paper: PIC 36.4%, g^w 32.7%), '
                       'colourfulness and diversity for PIC and the g^w baseline.')
  flags.DEFINE_integer('samples_per_image', 2, 'With --samples: PIC samples per image.')
  flags.DEFINE_float('temperature', 1.0, 'With --samples: sampling temperature.')
  flags.DEFINE_integer('seed', 0, 'With --samples: sampling seed.')
  flags.DEFINE_enum('sampler', sampling.DEFAULT_SAMPLER, list(sampling.SAMPLERS),
                    'With --samples: the sampler.')
  common.DEFINE_path('output_json', None, 'Where to write the results. Default: '
                      '<workdir>/eval.json (sample_metrics.json with --samples) for a workdir '
                      'or one of its checkpoints; nothing for an original checkpoint or the '
                      'demo model (the table is printed either way).')
  common.define_config_flags(common.ORIGINAL_CONFIG_HELP)
  common.define_inference_flags()


def main(argv):
  if not FLAGS.checkpoint:
    raise errors.ConfigError('--checkpoint is required (a workdir or an original checkpoint)')
  if FLAGS.num_examples < 0 or FLAGS.batch_size < 1:
    raise errors.ConfigError('--num_examples must be >= 0 and --batch_size >= 1')
  if FLAGS.samples:
    common.refuse_ignored({name: 'with --samples (they set the bits/dim evaluation)'
                           for name in ('num_examples', 'batch_size')})
  else:
    common.refuse_ignored({name: 'without --samples' for name in
                           ('samples_per_image', 'temperature', 'seed', 'sampler', 'jit')})
  if FLAGS.samples < 0 or FLAGS.samples_per_image < 1:
    raise errors.ConfigError('--samples must be >= 0 and --samples_per_image >= 1')
  source = storage.Source(FLAGS.checkpoint, FLAGS.config, tuple(FLAGS.set), FLAGS.precision)
  sample_options = common.sample_options(
      num_samples=FLAGS.samples_per_image, temperature=FLAGS.temperature, seed=FLAGS.seed,
      sampler=FLAGS.sampler, jit=FLAGS.jit)
  common.quiet_tensorflow()
  from pic_tf import eval_lib  # pylint: disable=import-outside-toplevel
  from pic_tf.storage import workdir as workdir_lib  # pylint: disable=import-outside-toplevel
  from pic_tf.storage import loading  # pylint: disable=import-outside-toplevel
  source = loading.recognised(source)
  common.refuse_ignored(common.model_flags_ignored(source.found.kind, ('config', 'set')))
  if FLAGS.output_json:   # before the evaluation, not after it
    workdir_lib.check_result_file(FLAGS.output_json, '--output_json')
  if FLAGS.samples:
    results = eval_lib.run_sample_metrics(
        source, data.Selection(FLAGS.dataset, 'test', FLAGS.samples, FLAGS.data_dir,
                               FLAGS.download),
        sample_options, output_json=FLAGS.output_json)
    progress.result(eval_lib.format_sample_table(results))
    return
  results = eval_lib.run_eval(source, data.Selection(FLAGS.dataset, 'test', FLAGS.num_examples,
                                                     FLAGS.data_dir, FLAGS.download),
                              batch_size=FLAGS.batch_size, output_json=FLAGS.output_json)
  progress.result(eval_lib.format_table(results))


def run():
  """The program: flags, then :func:`main`."""
  common.run(main, define_flags, __doc__)


if __name__ == '__main__':
  run()
