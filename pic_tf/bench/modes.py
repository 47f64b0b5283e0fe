"""Speed benchmarks (modes of ``bin/benchmark``): measured side by side in one run and
printed as tables and ratios, with the machine they ran on. Never pass/fail tests.

Training's speed is in :mod:`pic_tf.bench.train_speed`, the input pipeline's in
:mod:`pic_tf.bench.input_speed`, the samplers' in :mod:`pic_tf.bench.sampling_speed`, the
load on a SavedModel in :mod:`pic_tf.bench.serving_load`, the memory of one request at
its limits in :mod:`pic_tf.bench.request_memory`; :func:`run` dispatches every mode.
"""

import contextlib
import dataclasses
import logging
import tempfile
from typing import Optional

from pic_tf import progress
from pic_tf import bench
from pic_tf.bench import input_speed
from pic_tf.bench import machine
from pic_tf.bench import request_memory
from pic_tf.bench import sampling_speed
from pic_tf.bench import serving_load
from pic_tf.bench import train_speed
from pic_tf.errors import ConfigError
from pic_tf import export_lib
from pic_tf.storage import Source
from pic_tf import storage
from pic_tf.storage import loading
from pic_tf.storage import fileutil


@contextlib.contextmanager
def _saved_model(saved_model, log):
  """``saved_model``, or the shipped demo model exported (default limits) into a
  temporary directory for the occasion."""
  if saved_model:
    yield saved_model
    return
  with tempfile.TemporaryDirectory() as tmp:
    log(f'exporting the shipped demo model ({storage.DEMO_MODEL}) to {tmp}')
    yield export_lib.export(loading.load(Source(storage.DEMO_MODEL)).model, tmp)


def serving_load_of(saved_model=None, requests=200, threads=8, seed=0, log=progress.result):
  """:func:`pic_tf.bench.serving_load.run` on ``saved_model`` (default: the demo model)."""
  with _saved_model(saved_model, log) as path:
    return serving_load.run(path, requests, threads, seed, log=log)


def request_memory_of(saved_model=None, log=progress.result):
  """:func:`pic_tf.bench.request_memory.run` on ``saved_model`` (default: the demo model)."""
  with _saved_model(saved_model, log) as path:
    return request_memory.run(path, log=log)


MODES = bench.MODES


@dataclasses.dataclass(frozen=True)
class Options:
  """What each mode of ``bin/benchmark`` reads.

  Attributes:
    batch_size: train_speed's batch.
    steps: train_speed's timed steps (None: 10).
    naive_rows: sample_speed's rows of the naive sampler (None: all).
    saved_model: serving_load's and request_memory's SavedModel (None: the demo model,
      exported).
    requests, threads, seed: serving_load's request count, threads and request seed.
    data_dir: input_speed's tensorflow-datasets directory.
    output_json: also write the results here.
  """
  batch_size: int = 16
  steps: Optional[int] = None
  naive_rows: Optional[int] = None
  saved_model: Optional[str] = None
  requests: int = 200
  threads: int = 8
  seed: int = 0
  data_dir: Optional[str] = None
  output_json: Optional[str] = None


class _NoRetracingNotice(logging.Filter):
  """Drops TensorFlow's "triggered tf.function retracing" warning.

  Benchmarks build one model per variant, and each traces its steps once; TensorFlow
  counts traces of a method over all its instances and calls that excessive retracing,
  in the middle of the tables.
  """

  def filter(self, record):
    return 'triggered tf.function retracing' not in record.getMessage()


@contextlib.contextmanager
def _without_retracing_notices():
  logger, notice = logging.getLogger('tensorflow'), _NoRetracingNotice()
  logger.addFilter(notice)
  try:
    yield
  finally:
    logger.removeFilter(notice)


def run(mode, options=Options(), log=progress.result):
  """Runs one mode of ``bin/benchmark`` (:data:`MODES`) after a line describing the machine.

  Returns:
    The mode's results (written to ``options.output_json`` too, if given).
  """
  log(f'machine: {machine.machine_description()}')
  with _without_retracing_notices():
    results = _run_mode(mode, options, log)
  if options.output_json:
    fileutil.write_json(results, options.output_json)
  return results


def _run_mode(mode, o, log):
  if mode == 'train_speed':
    results = train_speed.train_speed(batch_size=o.batch_size, steps=o.steps or 10, log=log)
  elif mode == 'sample_speed':
    results = sampling_speed.sample_speed(naive_rows=o.naive_rows, log=log)
  elif mode == 'serving_load':
    results = serving_load_of(o.saved_model, o.requests, o.threads, o.seed, log=log)
  elif mode == 'request_memory':
    results = request_memory_of(o.saved_model, log=log)
  elif mode == 'input_speed':
    results = input_speed.run(o.data_dir, log=log)
  else:
    raise ConfigError(f'unknown benchmark mode {mode!r}; choose one of {sorted(MODES)}')
  return results
