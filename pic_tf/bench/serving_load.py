"""The served model under load: mixed concurrent requests to an exported SavedModel.

``bin/benchmark --mode=serving_load``. The SavedModel's signatures are called from
several threads at once, as a model server's request threads call them: colourise
(different sizes, gray and colour, seeds, sample counts, temperatures),
log-likelihood, the g^w baseline, and malformed requests (wrong channel count, an
empty image, ``num_samples`` out of range, a negative temperature). Every request is
first answered alone, in order (which also warms every shape up); then all of them
concurrently, shuffled. A served model keeps no state between requests, so:

- every good request's answer under load is bit-identical to its answer alone;
- every malformed one fails, alone and under load, and takes no other request with it;
- memory after the load is close to memory after the warm-up (nothing accumulates).

Throughput and latency percentiles of the concurrent pass are reported.
"""

import concurrent.futures
import resource
import time

import numpy as np
import tensorflow as tf

from pic_tf import progress
from pic_tf import errors
from pic_tf import export_lib


def _rss_bytes():
  """Resident memory of this process now (Linux), else its peak."""
  try:
    with open('/proc/self/status') as f:
      for line in f:
        if line.startswith('VmRSS:'):
          return int(line.split()[1]) * 1024
  except OSError:
    pass
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def make_requests(count, seed=0, max_side=48, malformed_fraction=0.1, max_samples=3):
  """``count`` requests: ``{'signature', 'inputs', 'malformed', 'what'}`` dicts.

  Good requests are colourisations (60%), log-likelihoods (20%) and g^w baselines
  (20%) of random photos ``[1-2, 4..max_side, 4..max_side, 1 or 3]``; about
  ``malformed_fraction`` of all requests are malformed in one of five ways.
  """
  rng = np.random.default_rng(seed)

  def photo(channels=None, height=None):
    channels = channels or int(rng.choice([1, 3]))
    height = int(rng.integers(4, max_side + 1)) if height is None else height
    shape = (int(rng.integers(1, 3)), height, int(rng.integers(4, max_side + 1)), channels)
    return tf.constant(rng.integers(0, 256, size=shape, dtype=np.uint8))

  def colorize(images, num_samples=None, temperature=None):
    return {'images': images,
            'num_samples': tf.constant(int(rng.integers(1, max_samples + 1))
                                       if num_samples is None else num_samples, tf.int32),
            'temperature': tf.constant(float(rng.uniform(0.0, 1.2)) if temperature is None
                                       else temperature, tf.float32),
            'seed': tf.constant(rng.integers(-2**40, 2**40, size=2), tf.int64)}

  malformed = [
      ('2-channel image', lambda: ('serving_default', colorize(photo(channels=2)))),
      ('empty image', lambda: ('serving_default', colorize(photo(height=0)))),
      ('num_samples 0', lambda: ('serving_default', colorize(photo(), num_samples=0))),
      ('negative temperature', lambda: ('serving_default', colorize(photo(), temperature=-0.5))),
      ('gray image for log_likelihood', lambda: ('log_likelihood',
                                                 {'images': photo(channels=1)})),
  ]
  requests = []
  for _ in range(count):
    if rng.uniform() < malformed_fraction:
      what, make = malformed[int(rng.integers(len(malformed)))]
      signature, inputs = make()
      requests.append({'signature': signature, 'inputs': inputs, 'malformed': True,
                       'what': what})
      continue
    kind = rng.uniform()
    if kind < 0.6:
      signature, inputs, what = 'serving_default', colorize(photo()), 'colourise'
    elif kind < 0.8:
      signature, inputs, what = 'log_likelihood', {'images': photo(channels=3)}, 'log-likelihood'
    else:
      signature, inputs, what = 'embedding_colorize', {'images': photo()}, 'g^w baseline'
    requests.append({'signature': signature, 'inputs': inputs, 'malformed': False,
                     'what': what})
  return requests


def _answer(loaded, request):
  """``(outputs as numpy, None, seconds)`` or ``(None, error message, seconds)``."""
  start = time.perf_counter()
  try:
    outputs = loaded.signatures[request['signature']](**request['inputs'])
    result = ({k: v.numpy() for k, v in outputs.items()}, None)
  except (tf.errors.OpError, ValueError, TypeError) as e:
    result = (None, errors.first_line(e))
  return result + (time.perf_counter() - start,)


def run(saved_model, num_requests=200, threads=8, seed=0, log=progress.result):
  """Serves ``num_requests`` mixed requests from ``threads`` threads; checks and times them.

  Args:
    saved_model: a SavedModel of ``bin/export`` (version or base directory).
    num_requests, threads, seed: the load.
    log: where the report goes.

  Returns:
    A dict: ``mismatches`` (good requests whose answer under load differs from alone,
    or failed), ``bad_accepted`` (malformed requests that did not fail),
    ``rss_ratio`` (memory after the load / after the warm-up), ``requests_per_second``,
    ``latency_p50_s``, ``latency_p99_s`` and the counts.
  """
  loaded = export_lib.load_saved_model(saved_model, log=log)
  requests = make_requests(num_requests, seed)
  alone = [_answer(loaded, r) for r in requests]      # the references, and the warm-up
  rss_warm = _rss_bytes()
  order = np.random.default_rng(seed + 1).permutation(len(requests))
  start = time.perf_counter()
  with concurrent.futures.ThreadPoolExecutor(threads) as pool:
    futures = {int(i): pool.submit(_answer, loaded, requests[i]) for i in order}
    loaded_answers = {i: f.result() for i, f in futures.items()}
  wall = time.perf_counter() - start
  rss_after = _rss_bytes()
  mismatches, bad_accepted = [], []
  for i, request in enumerate(requests):
    (ref, ref_error, _), (out, error, _) = alone[i], loaded_answers[i]
    if request['malformed']:
      if ref_error is None or error is None:
        bad_accepted.append(f'{i}: {request["what"]}')
    elif error is not None or ref_error is not None or ref.keys() != out.keys() or any(
        not np.array_equal(ref[k], out[k]) for k in ref):
      mismatches.append(f'{i}: {request["what"]}: {error or ref_error or "different output"}')
  latencies = np.array([loaded_answers[i][2] for i in range(len(requests))])
  results = {
      'requests': len(requests), 'threads': threads,
      'malformed': sum(r['malformed'] for r in requests),
      'mismatches': mismatches, 'bad_accepted': bad_accepted,
      'rss_warm_mb': rss_warm / 2**20, 'rss_after_mb': rss_after / 2**20,
      'rss_ratio': rss_after / rss_warm,
      'requests_per_second': len(requests) / wall,
      'latency_p50_s': float(np.percentile(latencies, 50)),
      'latency_p99_s': float(np.percentile(latencies, 99)),
      'sequential_requests_per_second': len(requests) / sum(seconds for _, _, seconds in alone),
  }
  log(format_report(results))
  return results


def format_report(results):
  """The load test's outcome and figures in a few lines."""
  good = results['requests'] - results['malformed']
  return '\n'.join([
      f'{results["requests"]} requests ({results["malformed"]} malformed) from '
      f'{results["threads"]} threads',
      f'  good requests identical to their answer alone: {good - len(results["mismatches"])}'
      f' of {good}',
      f'  malformed requests refused: {results["malformed"] - len(results["bad_accepted"])} of '
      f'{results["malformed"]}',
      f'  throughput {results["requests_per_second"]:.1f} requests/s '
      f'({results["sequential_requests_per_second"]:.1f} one at a time: '
      f'{results["requests_per_second"] / results["sequential_requests_per_second"]:.2f}x); '
      f'latency p50 {1000 * results["latency_p50_s"]:.0f} ms, '
      f'p99 {1000 * results["latency_p99_s"]:.0f} ms',
      f'  memory (RSS) {results["rss_warm_mb"]:.0f} MB after the warm-up, '
      f'{results["rss_after_mb"]:.0f} MB after the load ({results["rss_ratio"]:.3f}x)',
  ])
