"""Runs a ``bin/`` script with a fault injected at a chosen instant (for tests/test_faults.py).

  python tests/fault_driver.py '<fault as JSON>' bin/train --config=tiny ...

The binary runs as a user runs it (``runpy`` with its own ``sys.argv``); the fault is
put at the last possible point, around the library function or TensorFlow call that
is then running. Faults:

  {"kill": PHASE, "occurrence": N, "delay": S}
      SIGKILL the process S seconds after the N-th call of PHASE starts (S = 0: at
      once), while the call is still running if it lasts that long.
  {"fail": PHASE}
      the N-th (default first) call of PHASE writes part of its output, then fails as
      a full disk does (``OSError(ENOSPC)``, or TensorFlow's own error for TF writers).

Phases: ``data`` (loading the training data), ``step`` (a training step),
``checkpoint`` (a CheckpointManager save: training and bin/convert_original),
``eval`` (a test-bpd evaluation), ``grid`` (a TensorBoard sample grid), ``export``
(``tf.saved_model.save``), ``png`` (a PNG write).
"""

import errno
import json
import os
import runpy
import signal
import sys
import threading

import tensorflow as tf
from PIL import Image

from pic_tf.data import datasets
from pic_tf.training import actions as train_actions
from pic_tf.training import trainer as trainer_lib


def _kill_after(delay):
  if delay <= 0:
    os.kill(os.getpid(), signal.SIGKILL)
  timer = threading.Timer(delay, os.kill, (os.getpid(), signal.SIGKILL))
  timer.daemon = True
  timer.start()


def _enospc(path):
  return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)


def _partial_checkpoint(manager, checkpoint_number):
  """What a SaveV2 cut short by a full disk leaves: a temporary shard directory."""
  tmp = os.path.join(manager.directory, f'ckpt-{checkpoint_number}_temp')
  os.makedirs(tmp, exist_ok=True)
  with open(os.path.join(tmp, 'part-00000-of-00001.data-00000-of-00001.tempstate1'), 'wb') as f:
    f.write(b'\0' * 1000)
  raise tf.errors.ResourceExhaustedError(
      None, None, f'{tmp}/part-00000-of-00001.data-00000-of-00001.tempstate1; '
      'No space left on device [Op:SaveV2]')


def _partial_saved_model(obj, export_dir, *args, **kwargs):
  del obj, args, kwargs
  with open(os.path.join(export_dir, 'saved_model.pb'), 'wb') as f:
    f.write(b'\0' * 1000)
  raise _enospc(os.path.join(export_dir, 'saved_model.pb'))


def _partial_png(image, fp, *args, **kwargs):
  del image, args, kwargs
  fp.write(b'\x89PNG\r\n')
  raise _enospc(getattr(fp, 'name', 'a PNG'))


# PHASE -> (owner, attribute, the failure's stand-in or None).
PHASES = {
    'data': (datasets, 'train_dataset', None),
    'step': (trainer_lib.Trainer, 'train_step', None),
    'checkpoint': (tf.train.CheckpointManager, 'save',
                   lambda self, checkpoint_number=None, **_: _partial_checkpoint(
                       self, checkpoint_number)),
    'eval': (trainer_lib.Trainer, 'evaluate', None),
    'grid': (train_actions, 'sample_rows', None),
    'export': (tf.saved_model, 'save', _partial_saved_model),
    'png': (Image.Image, 'save', _partial_png),
}


def install(fault):
  """Wraps the phase's function so that the fault happens at its ``occurrence``-th call."""
  phase = fault.get('kill') or fault['fail']
  owner, name, failure = PHASES[phase]
  original = getattr(owner, name)
  calls = [0]

  def wrapped(*args, **kwargs):
    calls[0] += 1
    if calls[0] == fault.get('occurrence', 1):
      if 'kill' in fault:
        _kill_after(fault.get('delay', 0.0))
      else:
        return failure(*args, **kwargs)
    return original(*args, **kwargs)

  setattr(owner, name, wrapped)


def main():
  install(json.loads(sys.argv[1]))
  script = sys.argv[2]
  sys.argv = [script] + sys.argv[3:]
  runpy.run_path(script, run_name='__main__')


if __name__ == '__main__':
  main()
