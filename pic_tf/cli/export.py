"""Exports a PIC model as a SavedModel for TF Serving (EMA weights, stateless signatures).

Writes --export_dir/<version>/ (the next free version unless --version is given), the
layout TF Serving's --model_base_path expects. Signatures: serving_default (colourise),
colorize_encoded (photo bytes in, PNG bytes out), log_likelihood, embedding_colorize,
and limits: what one request may ask (--max_images, --max_pixels, --max_samples,
--max_output_pixels), checked before any work; the defaults keep a request of the demo
model under 2 GB.

  bin/export --checkpoint=/tmp/pic_tiny --export_dir=/tmp/pic_serving
  saved_model_cli show --all --dir /tmp/pic_serving/1
  tensorflow_model_server --port=8500 --rest_api_port=8501 --model_name=pic \\
      --model_base_path=/tmp/pic_serving

--format=weights instead writes config.json and the EMA weights alone (a quarter of a
workdir checkpoint; what the package ships as its demo model), loadable as a workdir:

  bin/export --checkpoint=/tmp/pic_tiny --format=weights --export_dir=/tmp/pic_tiny_weights
"""

import dataclasses

from absl import flags

from pic_tf import errors
from pic_tf import progress
from pic_tf.cli import common
from pic_tf import sampling
from pic_tf import storage
from pic_tf.storage import fileutil

FLAGS = flags.FLAGS
# The request limits' flags: the fields of pic_tf.sampling.RequestLimits.
DEFAULT_LIMITS = sampling.RequestLimits()
LIMITS = tuple(f.name for f in dataclasses.fields(DEFAULT_LIMITS))


def define_flags():
  """Defines this program's flags (:func:`pic_tf.cli.common.run` calls it)."""
  common.DEFINE_source('checkpoint', None, 'A pic_tf workdir, an original checkpoint prefix '
                        '(then give --config and any --set it was trained with), or demo: '
                        'the demo model shipped with the package.')
  common.DEFINE_path('export_dir', None,
                      'Base directory; the model goes to <export_dir>/<version>.')
  flags.DEFINE_integer('version', None, 'Version number (default: the next free one).')
  flags.DEFINE_integer('max_images', DEFAULT_LIMITS.max_images,
                       'Request limit: images in one request.')
  flags.DEFINE_integer('max_pixels', DEFAULT_LIMITS.max_pixels, 'Request limit: pixels '
                       '(H x W) of one image; an encoded photo is refused from its header, '
                       'undecoded.')
  flags.DEFINE_integer('max_samples', DEFAULT_LIMITS.max_samples,
                       'Request limit: num_samples of one request.')
  flags.DEFINE_integer('max_output_pixels', DEFAULT_LIMITS.max_output_pixels, 'Request '
                       'limit: pixels of all colourisations of one request (images x '
                       'samples x H x W).')
  flags.DEFINE_enum('format', 'saved_model', ['saved_model', 'weights'], 'saved_model: for '
                    'TF Serving; weights: config.json + EMA weights only, into --export_dir.')
  flags.DEFINE_enum('sampler', sampling.DEFAULT_SAMPLER, list(sampling.SAMPLERS),
                    'Sampler inside the SavedModel.')
  common.define_config_flags(common.ORIGINAL_CONFIG_HELP)
  common.define_inference_flags()


def main(argv):
  if not FLAGS.checkpoint or not FLAGS.export_dir:
    raise errors.ConfigError('--checkpoint and --export_dir are required')
  if FLAGS.version is not None and FLAGS.version < 1:
    raise errors.ConfigError('--version must be positive')
  limits = common.request_limits(**{name: getattr(FLAGS, name) for name in LIMITS})
  if FLAGS.format == 'weights':
    common.refuse_ignored({name: 'with --format=weights (config.json and weights only)'
                           for name in ('version', 'sampler', 'jit', 'precision') + LIMITS})
  fileutil.check_dir_target(FLAGS.export_dir, '--export_dir')
  common.quiet_tensorflow()
  from pic_tf import export_lib  # pylint: disable=import-outside-toplevel
  from pic_tf.storage import loading  # pylint: disable=import-outside-toplevel
  source = loading.recognised(
      storage.Source(FLAGS.checkpoint, FLAGS.config, tuple(FLAGS.set), FLAGS.precision))
  common.refuse_ignored(common.model_flags_ignored(source.found.kind, ('config', 'set')))
  path = export_lib.run(
      source, FLAGS.export_dir, version=FLAGS.version, limits=limits, fmt=FLAGS.format,
      sampler=FLAGS.sampler, jit=FLAGS.jit)
  progress.result(f'wrote the EMA weights to {path}' if FLAGS.format == 'weights' else
                  f'exported to {path}')


def run():
  """The program: flags, then :func:`main`."""
  common.run(main, define_flags, __doc__)


if __name__ == '__main__':
  run()
