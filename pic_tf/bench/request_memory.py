"""Memory of one request at the served model's limits (``bin/benchmark --mode=request_memory``).

For each request that the SavedModel's ``limits`` allow at their edge, a fresh
process loads the SavedModel, builds the request, then sends it once; its peak
resident memory is reported before and after the request (the request's own cost is
the difference). The requests:

- one image of ``max_pixels``, as many samples as ``max_output_pixels`` allows;
- the same photo as JPEG bytes to ``colorize_encoded`` (decoded in the graph);
- ``max_images`` CIFAR-sized images with ``max_samples`` samples each (the most
  sampling one request may ask);
- ``max_images`` images sharing ``max_output_pixels`` at one sample each.
"""

import io
import json
import math
import resource
import signal
import subprocess
import sys
import time

import numpy as np
from PIL import Image
import tensorflow as tf

from pic_tf import export_lib
from pic_tf import progress

CASES = ('largest image', 'largest image, encoded', 'most samples', 'most images')


def _peak_gb():
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _request(case, limits, rng):
  """``(signature, inputs, what)`` of one request at the limits."""
  side = math.isqrt(limits['max_pixels'])
  samples = max(1, min(limits['max_samples'], limits['max_output_pixels'] // side**2))
  inputs = {'temperature': tf.constant(1.0), 'seed': tf.constant([1, 2], tf.int64)}
  if case == 'most samples':
    images = rng.integers(0, 256, (limits['max_images'], 32, 32, 3), dtype=np.uint8)
    samples = limits['max_samples']
  elif case == 'most images':
    side = min(side, math.isqrt(limits['max_output_pixels'] // limits['max_images']))
    images = rng.integers(0, 256, (limits['max_images'], side, side, 3), dtype=np.uint8)
    samples = 1
  else:
    images = rng.integers(0, 256, (1, side, side, 3), dtype=np.uint8)
  what = (f'{images.shape[0]} x {images.shape[1]}x{images.shape[2]}, '
          f'{progress.count(samples, "sample")}')
  inputs['num_samples'] = tf.constant(samples, tf.int32)
  if case == 'largest image, encoded':
    encoded = io.BytesIO()
    Image.fromarray(images[0]).save(encoded, 'JPEG', quality=90)
    return ('colorize_encoded', dict(inputs, images_bytes=tf.constant([encoded.getvalue()])),
            what + ', JPEG bytes')
  return 'serving_default', dict(inputs, images=tf.constant(images)), what


def measure(case, saved_model):
  """In this process: the peak memory before and after one request of ``case``."""
  loaded = tf.saved_model.load(saved_model)
  limits = {name: int(value) for name, value in loaded.signatures['limits']().items()}
  signature, inputs, what = _request(case, limits, np.random.default_rng(0))
  before = _peak_gb()
  start = time.time()
  loaded.signatures[signature](**inputs)
  return {'case': case, 'request': what, 'seconds': time.time() - start,
          'peak_before_gb': before, 'peak_after_gb': _peak_gb()}


def run(saved_model, log=progress.result):
  """Each case in a process of its own; a table of the results.

  Args:
    saved_model: a SavedModel of ``bin/export``, its version or its base directory
      (:func:`pic_tf.export_lib.saved_model_dir`).

  Returns:
    list of :func:`measure` dicts; a case whose process failed (killed for lack of
    memory, say) has ``{'case', 'failed'}`` instead, and the others are still measured.

  Raises:
    CheckpointError: no SavedModel at ``saved_model``.
  """
  path = export_lib.saved_model_dir(saved_model, log=log)
  rows = []
  for case in CASES:
    result = subprocess.run([sys.executable, '-m', 'pic_tf.bench.request_memory', case, path],
                            capture_output=True, text=True, check=False)
    if result.returncode:
      rows.append({'case': case, 'failed': _failure(result)})
    else:
      rows.append(json.loads(result.stdout.strip().splitlines()[-1]))
  log(f'{"case":<24}{"request":<44}{"s":>7}{"peak GB before":>16}{"after":>7}{"request":>9}')
  for row in rows:
    if 'failed' in row:
      log(f'{row["case"]:<24}failed: {row["failed"]}')
      continue
    log(f'{row["case"]:<24}{row["request"]:<44}{row["seconds"]:>7.1f}'
        f'{row["peak_before_gb"]:>16.2f}{row["peak_after_gb"]:>7.2f}'
        f'{row["peak_after_gb"] - row["peak_before_gb"]:>+9.2f}')
  return rows


def _failure(result):
  """Why a case's process failed: its signal or status, and its last line of error."""
  code = result.returncode
  if code >= 0:
    why = f'exit status {code}'
  elif -code == signal.SIGKILL:   # what the kernel sends a process out of memory
    why = 'killed by SIGKILL, most likely for lack of memory'
  else:
    why = f'killed by {signal.Signals(-code).name}'
  lines = result.stderr.strip().splitlines()
  return why + (f': {lines[-1]}' if lines else '')


if __name__ == '__main__':
  print(json.dumps(measure(sys.argv[1], sys.argv[2])))
