"""What a training run computes with on this machine: chosen from its devices, each
choice with its reason, and said in the run's first lines.

The defaults, each overridable by its flag or ``--set``:

- **precision** (``train.precision`` unset): mixed bfloat16 when every GPU computes it
  natively (compute capability 8.0+); float32 on older GPUs (float16 would need loss
  scaling, and its effect on the paper's bits/dim is unmeasured:
  ``--precision=mixed_float16`` to try it) and on CPUs (the original's precision,
  bit-reproducible). ``'auto'`` keeps its meaning: bfloat16 wherever it is native,
  CPUs included.
- **strategy** ``auto``: every visible GPU in one ``MirroredStrategy`` when there are
  two or more (TensorFlow reserves memory on all of them anyway); else one device.
- **determinism** (``train.deterministic`` unset): on a CPU on (TensorFlow's graph
  optimiser off: bit-reproducible); on GPUs off. ``true`` on GPUs also turns on
  TensorFlow's op determinism (``tf.config.experimental.enable_op_determinism``).
- **XLA**: off unless ``jit`` (then the whole step is one compiled function).

A resumed run keeps what its ``config.json`` recorded for every setting left unset.
The chosen strategy is made by :func:`make_strategy`; :func:`is_chief` says which
worker of a cluster writes the run's files.
"""

import dataclasses
import json
import os
from typing import Any

import tensorflow as tf

from pic_tf import progress
from pic_tf.errors import ConfigError
from pic_tf.model import devices
from pic_tf.model import precision as precision_lib
from pic_tf import training

# The form of TF_CONFIG, for messages (this worker is index 0 of two).
TF_CONFIG_EXAMPLE = ('\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
                     '"task": {"type": "worker", "index": 0}}\'')


@dataclasses.dataclass(frozen=True)
class Choice:
  """One setting of a run and why it was chosen."""
  value: Any
  why: str


@dataclasses.dataclass(frozen=True)
class Plan:
  """The settings of a run on a machine.

  Attributes:
    config: the :class:`pic_tf.configs.Config` with ``train.precision`` and
      ``train.deterministic`` resolved (what ``config.json`` records).
    machine: the :class:`pic_tf.model.devices.Machine` they were chosen for.
    precision, strategy, deterministic, jit: :class:`Choice`; ``strategy.value`` is a
      name of :data:`pic_tf.training.STRATEGIES` other than ``auto``.
  """
  config: Any
  machine: devices.Machine
  precision: Choice
  strategy: Choice
  deterministic: Choice
  jit: Choice

  def per_replica_batch(self, replicas):
    """The batch each of ``replicas`` computes.

    Raises:
      ConfigError: the global batch does not split evenly.
    """
    batch = self.config.train.batch_size
    if batch % replicas:
      raise ConfigError(f'train.batch_size {batch} does not split over {replicas} replicas: '
                        f'give a multiple of {replicas} as train.batch_size, or use fewer devices')
    return batch // replicas

  def start_lines(self, replicas):
    """The first lines of a run: devices, then each choice with its reason."""
    batch = self.config.train.batch_size
    return [
        f'devices: {describe_devices(self.machine)}',
        f'  precision {self.precision.value}: {self.precision.why}',
        f'  strategy {self.strategy.value}: {self.strategy.why}; global batch {batch}' + (
            f', {self.per_replica_batch(replicas)} on each of {replicas} replicas'
            if replicas > 1 else ''),
        f'  XLA {"on" if self.jit.value else "off"}: {self.jit.why}',
        f'  deterministic {"on" if self.deterministic.value else "off"}: '
        f'{self.deterministic.why}',
        f'  oneDNN: {onednn()}',
    ]


def describe_devices(machine):
  """``'2 GPUs: ...'`` or ``'CPU (name, N cores); no GPU: reason'``."""
  if machine.gpus:
    return (f'{progress.count(len(machine.gpus), "GPU")}: ' +
            ', '.join(g.describe() for g in machine.gpus))
  cpu = f'CPU ({machine.cpu.describe()})'
  if machine.cuda_build and machine.gpu_problem:
    return f'{cpu}; no GPU: {machine.gpu_problem}'
  return cpu


def onednn():
  """oneDNN's state as ``TF_ENABLE_ONEDNN_OPTS`` sets it (read before TensorFlow starts)."""
  value = os.environ.get('TF_ENABLE_ONEDNN_OPTS', '').strip()
  if value in ('1', 'true', 'True'):
    return 'on (TF_ENABLE_ONEDNN_OPTS=1)'
  if value in ('0', 'false', 'False'):
    return 'off (TF_ENABLE_ONEDNN_OPTS=0)'
  return ('TensorFlow\'s default for this CPU (set TF_ENABLE_ONEDNN_OPTS=1 before '
          'TensorFlow is imported to force it on)')


def choose(config, machine=None, strategy=training.AUTO, jit=False, resumed=None, log=None):
  """The :class:`Plan` of a run of ``config`` on ``machine``.

  Args:
    config: a :class:`pic_tf.configs.Config`; ``train.precision`` and
      ``train.deterministic`` may be unset (``None``: chosen here).
    machine: a :class:`pic_tf.model.devices.Machine` (default: this one, detected).
    strategy: a name of :data:`pic_tf.training.STRATEGIES`.
    jit: compile the whole step with XLA.
    resumed: the config of the run being resumed (its ``config.json``), whose
      settings stand for those left unset.
    log: gets a warning line where bfloat16 is forced on hardware that emulates it.
  """
  machine = devices.detect() if machine is None else machine
  train = config.train
  gpus = machine.gpus
  native = machine.native_bfloat16
  # A config.json that left them unset (written by save_new_workdir) recorded no choice.
  recorded = resumed.train if resumed is not None else None
  if train.precision is None and recorded and recorded.precision not in (None, precision_lib.AUTO):
    precision = Choice(recorded.precision, 'as the run in the workdir started')
  elif train.precision is None and gpus and native:
    precision = Choice(precision_lib.MIXED_BFLOAT16, 'the GPU computes bfloat16 natively '
                       '(compute capability 8.0+); weights and likelihood stay float32')
  elif train.precision is None and gpus:
    precision = Choice(precision_lib.FLOAT32, 'no native bfloat16 below compute capability '
                       '8.0; float16 needs loss scaling and its effect on bits/dim is '
                       'unmeasured (train.precision=mixed_float16 to try it)')
  elif train.precision is None:
    precision = Choice(precision_lib.FLOAT32, 'the default on a CPU: the original\'s precision, '
                       'bit-reproducible' + ('; this CPU computes bfloat16 natively: '
                                            'train.precision=mixed_bfloat16 trains faster'
                                            if machine.cpu.native_bfloat16 else ''))
  elif train.precision == precision_lib.AUTO:
    hardware = 'every GPU of the run' if gpus else 'this CPU'
    precision = Choice(precision_lib.auto_precision(native), 'auto: ' + (
        f'{hardware} computes bfloat16 natively' if native else
        'not every GPU of the run computes bfloat16 natively, so float32' if gpus else
        'this CPU has no native bfloat16 (AVX512_BF16 or AMX-BF16), so float32'))
  else:
    if train.precision == precision_lib.MIXED_BFLOAT16 and not native and log:
      log(precision_lib.EMULATED_WARNING)
    precision = Choice(train.precision, 'as set')
  if train.deterministic is None and recorded and recorded.deterministic is not None:
    deterministic = Choice(recorded.deterministic, 'as the run in the workdir started')
  elif train.deterministic is None and gpus:
    deterministic = Choice(False, 'the default on GPUs: TensorFlow\'s graph optimiser on; '
                           'train.deterministic=true turns on op determinism (slower kernels)')
  elif train.deterministic is None:
    deterministic = Choice(True, 'the default on a CPU: TensorFlow\'s graph optimiser off, '
                           'so the same command and seed give the same weights to the bit '
                           '(train.deterministic=false: faster)')
  elif train.deterministic and gpus:
    deterministic = Choice(True, 'as set: TensorFlow\'s op determinism on and its graph '
                           'optimiser off')
  else:
    deterministic = Choice(train.deterministic, 'as set' + (
        ': TensorFlow\'s graph optimiser off' if train.deterministic else ''))
  if strategy != training.AUTO:
    strategy_choice = Choice(strategy, 'as set')
  elif len(gpus) > 1:
    strategy_choice = Choice(training.MIRRORED, f'all {len(gpus)} GPUs of this machine, gradients '
                             'summed across them (strategy default: one GPU)')
  else:
    strategy_choice = Choice(training.DEFAULT, 'one device, the GPU' if gpus else 'one device')
  jit_choice = Choice(bool(jit), 'forward, backward, Adam and EMA compiled as one function '
                      '(on several devices: each replica\'s forward and backward pass)'
                      if jit else 'not asked for (it compiles the whole step as one function)')
  config = dataclasses.replace(config, train=dataclasses.replace(
      train, precision=precision.value, deterministic=deterministic.value))
  return Plan(config=config, machine=machine, precision=precision, strategy=strategy_choice,
              deterministic=deterministic, jit=jit_choice)


def make_strategy(name, tpu=None):
  """A ``tf.distribute`` strategy by name.

  Args:
    name: ``default`` (one device), ``mirrored`` (all local GPUs, or CPUs),
      ``multi_worker`` (several machines; configure with ``TF_CONFIG``) or ``tpu``.
    tpu: TPU name or address for ``tpu``.
  """
  if name == training.DEFAULT:
    return tf.distribute.get_strategy()
  if name == training.MIRRORED:
    return tf.distribute.MirroredStrategy()
  if name == training.MULTI_WORKER:
    if 'TF_CONFIG' not in os.environ:
      raise ConfigError('the multi_worker strategy needs TF_CONFIG describing the cluster, '
                        f'e.g. {TF_CONFIG_EXAMPLE}')
    if not _tf_config().get('cluster'):
      raise ConfigError('TF_CONFIG has no "cluster": the multi_worker strategy needs the list '
                        f'of workers, e.g. {TF_CONFIG_EXAMPLE}')
    return tf.distribute.MultiWorkerMirroredStrategy()
  if name == training.TPU:
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu or '')
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)
  raise ConfigError(f'unknown strategy {name!r}; choose one of {", ".join(training.STRATEGIES)}')


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
