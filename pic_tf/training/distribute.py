"""``tf.distribute`` for training: strategies by name and which worker writes the files."""

import json
import os

import tensorflow as tf

from pic_tf.errors import ConfigError
from pic_tf.training import STRATEGIES

# The form of TF_CONFIG, for messages (this worker is index 0 of two).
TF_CONFIG_EXAMPLE = ('\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
                     '"task": {"type": "worker", "index": 0}}\'')


def make_strategy(name, tpu=None):
  """A ``tf.distribute`` strategy by name.

  Args:
    name: ``default`` (one device), ``mirrored`` (all local GPUs, or CPUs),
      ``multi_worker`` (several machines; configure with ``TF_CONFIG``) or ``tpu``.
    tpu: TPU name or address for ``tpu``.
  """
  if name == 'default':
    return tf.distribute.get_strategy()
  if name == 'mirrored':
    return tf.distribute.MirroredStrategy()
  if name == 'multi_worker':
    if 'TF_CONFIG' not in os.environ:
      raise ConfigError('the multi_worker strategy needs TF_CONFIG describing the cluster, '
                        f'e.g. {TF_CONFIG_EXAMPLE}')
    if not _tf_config().get('cluster'):
      raise ConfigError('TF_CONFIG has no "cluster": the multi_worker strategy needs the list '
                        f'of workers, e.g. {TF_CONFIG_EXAMPLE}')
    return tf.distribute.MultiWorkerMirroredStrategy()
  if name == 'tpu':
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu or '')
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)
  raise ConfigError(f'unknown strategy {name!r}; choose one of {", ".join(STRATEGIES)}')


def _tf_config():
  """``TF_CONFIG`` as a dict, checked: ``{"cluster": {...}, "task": {"type", "index"}}``.

  Raises:
    ConfigError: it is not JSON of that form.
  """
  text = os.environ.get('TF_CONFIG', '{}')
  try:
    value = json.loads(text)
  except ValueError as e:
    raise ConfigError(f'TF_CONFIG is not JSON ({e}): {text[:200]!r}; its form: '
                      f'{TF_CONFIG_EXAMPLE}') from None
  task = value.get('task', {}) if isinstance(value, dict) else None
  if not (isinstance(value, dict) and isinstance(value.get('cluster', {}), dict) and
          isinstance(task, dict) and isinstance(task.get('type', ''), str) and
          isinstance(task.get('index', 0), int)):
    raise ConfigError('TF_CONFIG must be {"cluster": {"worker": ["host:port", ...]}, '
                      f'"task": {{"type": "worker", "index": 0}}}}, got {text[:200]!r}')
  return value


def task_id():
  """This worker's index in ``TF_CONFIG`` (0 without one)."""
  return _tf_config().get('task', {}).get('index', 0)


def is_chief(strategy):
  """Whether this process writes the run's files (the only one, or the multi-worker chief)."""
  resolver = getattr(strategy, 'cluster_resolver', None)
  if resolver is None or not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
    return True
  task_type, index = resolver.task_type, resolver.task_id
  return task_type is None or task_type == 'chief' or (task_type == 'worker' and index == 0)
