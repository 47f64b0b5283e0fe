"""Benchmarks of pic_tf on your hardware, measured side by side in one run and printed
as ratios.

Modes (each printed after a line naming the CPU, its features and TensorFlow):
  train_speed    training img/s, paper CIFAR-10 config: float32 / mixed bfloat16, XLA,
                 and without bit-reproducibility (train.deterministic=false)
  sample_speed   s/image of the naive and the cached sampler (CIFAR-10 b16, ImageNet b4)
  serving_load   a SavedModel (default: the shipped demo model) under --requests mixed
                 requests from --threads threads: checks and requests/s, p50/p99 latency
  request_memory peak memory of one request at a SavedModel's limits (default: the
                 shipped demo model), each request in a process of its own
  input_speed    training input images/s per CPU core: CIFAR-10 (paper config) and a
                 folder of JPEG photos; the cores that feed one GPU

  bin/benchmark --mode=train_speed
  bin/benchmark --mode=sample_speed --naive_rows=4
  bin/benchmark --mode=serving_load --requests=200 --threads=8
  bin/benchmark --mode=request_memory
  bin/benchmark --mode=input_speed
"""

from absl import flags

from pic_tf import bench
from pic_tf import errors
from pic_tf.cli import common

FLAGS = flags.FLAGS


def define_flags():
  """Defines this program's flags (:func:`pic_tf.cli.common.run` calls it)."""
  flags.DEFINE_enum('mode', None, list(bench.MODES), 'Benchmark.')
  flags.DEFINE_integer('batch_size', 16, 'train_speed: batch size.')
  flags.DEFINE_integer('steps', 10, 'train_speed: timed steps per variant.')
  flags.DEFINE_integer('naive_rows', None, 'sample_speed: time the naive sampler on this '
                       'many chroma rows and scale (default: all; ImageNet takes tens of '
                       'minutes).')
  common.DEFINE_path('saved_model', None, 'serving_load and request_memory: a bin/export '
                     'directory (default: the shipped demo model, exported to a temporary '
                     'directory).')
  flags.DEFINE_integer('requests', 200, 'serving_load: requests (10% malformed).')
  flags.DEFINE_integer('threads', 8, 'serving_load: concurrent request threads.')
  flags.DEFINE_integer('seed', 0, 'serving_load: seed of the requests.')
  common.DEFINE_path('data_dir', None, 'input_speed: tensorflow-datasets directory (default '
                     '$TFDS_DATA_DIR or ~/tensorflow_datasets; CIFAR-10 is downloaded if '
                     'missing).')
  common.DEFINE_path('output_json', None, 'Also write the results here.')


def main(argv):
  if FLAGS.mode is None:
    raise errors.ConfigError('--mode is required (see --help)')
  if min(FLAGS.steps, FLAGS.batch_size, FLAGS.requests, FLAGS.threads) < 1:
    raise errors.ConfigError('--steps, --batch_size, --requests and --threads must be positive')
  uses = {'train_speed': ('batch_size', 'steps'), 'sample_speed': ('naive_rows',),
          'serving_load': ('saved_model', 'requests', 'threads', 'seed'),
          'request_memory': ('saved_model',), 'input_speed': ('data_dir',)}
  # A flag of another mode, unless this mode takes it too (--saved_model: two modes).
  common.refuse_ignored({name: f'on --mode={FLAGS.mode}' for names in uses.values()
                         for name in names if name not in uses[FLAGS.mode]})
  common.quiet_tensorflow()
  from pic_tf.bench import modes  # pylint: disable=import-outside-toplevel
  modes.run(FLAGS.mode, modes.Options(
      batch_size=FLAGS.batch_size, steps=FLAGS.steps, naive_rows=FLAGS.naive_rows,
      saved_model=FLAGS.saved_model, requests=FLAGS.requests, threads=FLAGS.threads,
      seed=FLAGS.seed, data_dir=FLAGS.data_dir, output_json=FLAGS.output_json))


def run():
  """The program: flags, then :func:`main`."""
  common.run(main, define_flags, __doc__)


if __name__ == '__main__':
  run()
