"""The parity harness with the original code, as a script (it needs ../shared's reference
data; the wheel does not ship it). Printed side by side, never pass/fail; the slow tests
in this folder are the pass/fail form.

  python tests/parity/run.py --mode=training_parity --data_dir=../shared/data/tensorflow_datasets \
      --reference_dir=../shared/reference/original_pic --perturb_seed=1
  python tests/parity/run.py --mode=training_parity_ensemble --runs=6 \
      --output_json=/tmp/ensemble.json --data_dir=../shared/data/tensorflow_datasets \
      --reference_dir=../shared/reference/original_pic
  python tests/parity/run.py --mode=learning_curve --seed=0 \
      --data_dir=../shared/data/tensorflow_datasets --reference_dir=../shared/reference/original_pic
  python tests/parity/run.py --mode=fast_path_metrics --runs=6 \
      --data_dir=../shared/data/tensorflow_datasets
"""

import os
import sys

from absl import app
from absl import flags

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

MODES = ('learning_curve', 'training_parity', 'training_parity_ensemble', 'fast_path_metrics')
flags.DEFINE_enum('mode', None, list(MODES), 'What to run.')
flags.DEFINE_string('reference_dir', None, 'The folder of the original\'s reference outputs.')
flags.DEFINE_string('data_dir', None, 'tensorflow-datasets directory with CIFAR-10.')
flags.DEFINE_integer('steps', None, 'Training steps (default: the protocol\'s 400 / 200).')
flags.DEFINE_integer('seed', 0, 'learning_curve: seed of our run.')
flags.DEFINE_integer('perturb_seed', None, 'training_parity: start weights times '
                     '1 + 1e-6 N(0,1) drawn with this seed (default: unperturbed).')
flags.DEFINE_integer('runs', 6, 'training_parity_ensemble: runs to add; fast_path_metrics: '
                     'seeds of the exact path.')
flags.DEFINE_integer('first_seed', 100, 'training_parity_ensemble: first perturbation seed.')
flags.DEFINE_enum('ema_order', None, ['before_update', 'after_update'], 'Parity modes: which '
                  'ensemble of the original\'s (default: the config\'s, before_update).')
flags.DEFINE_string('output_json', None, 'training_parity_ensemble: its runs, read first '
                    'and extended.')
flags.mark_flag_as_required('mode')
FLAGS = flags.FLAGS


def main(argv):
  del argv
  if FLAGS.mode != 'fast_path_metrics' and not (FLAGS.reference_dir and
                                                os.path.isdir(FLAGS.reference_dir)):
    sys.exit(f'error: {FLAGS.mode} needs --reference_dir: the folder of the original\'s '
             'reference outputs')
  # Here, once the flags are checked: these import TensorFlow.
  import fast_paths  # pylint: disable=import-outside-toplevel
  import parity_runs  # pylint: disable=import-outside-toplevel
  if FLAGS.mode == 'learning_curve':
    parity_runs.learning_curve(FLAGS.reference_dir, FLAGS.data_dir, FLAGS.steps, FLAGS.seed)
  elif FLAGS.mode == 'training_parity':
    parity_runs.training_parity(FLAGS.reference_dir, FLAGS.data_dir, FLAGS.steps,
                                FLAGS.perturb_seed, ema_order=FLAGS.ema_order)
  elif FLAGS.mode == 'training_parity_ensemble':
    parity_runs.training_parity_ensemble(
        FLAGS.reference_dir, FLAGS.data_dir, runs=FLAGS.runs, first_seed=FLAGS.first_seed,
        output_json=FLAGS.output_json, steps=FLAGS.steps, ema_order=FLAGS.ema_order)
  else:
    fast_paths.fast_path_metrics(seeds=FLAGS.runs, data_dir=FLAGS.data_dir)


if __name__ == '__main__':
  app.run(main)
