"""What a run computes with, chosen for the devices: the device lists are stubbed where
TensorFlow and the NVIDIA driver answer (no GPU is needed)."""

import ctypes
import dataclasses

import pytest
import tensorflow as tf

from pic_tf import configs
from pic_tf.errors import ConfigError
from pic_tf.model import devices
from pic_tf.training import plan as plan_lib
from pic_tf.training import trainer as trainer_lib

import helpers


class _Driver:
  """libcuda.so.1 as a machine without a usable GPU answers."""

  def __init__(self, status, gpus=0):
    self.status = status
    self.gpus = gpus

  def cuInit(self, flags):  # pylint: disable=invalid-name
    return self.status

  def cuDeviceGetCount(self, out):  # pylint: disable=invalid-name
    out._obj.value = self.gpus
    return 0

  def cuGetErrorName(self, status, out):  # pylint: disable=invalid-name
    out._obj.value = b'CUDA_ERROR_NO_DEVICE'

  def cuGetErrorString(self, status, out):  # pylint: disable=invalid-name
    out._obj.value = b'no CUDA-capable device is detected'


def _stub_machine(monkeypatch, capabilities, cuda_build=True, driver=None):
  """TensorFlow lists ``len(capabilities)`` GPUs of those compute capabilities."""
  gpus = [tf.config.PhysicalDevice(f'/physical_device:GPU:{i}', 'GPU')
          for i in range(len(capabilities))]
  details = {gpu.name: {'device_name': 'NVIDIA Test GPU', 'compute_capability': cc}
             for gpu, cc in zip(gpus, capabilities)}
  monkeypatch.setattr(tf.config, 'list_physical_devices',
                      lambda kind=None: list(gpus) if kind == 'GPU' else [])
  monkeypatch.setattr(tf.config.experimental, 'get_device_details',
                      lambda device: details[device.name])
  monkeypatch.setattr(tf.sysconfig, 'get_build_info', lambda: {'is_cuda_build': cuda_build})

  def cdll(name, *args, **kwargs):
    if name == devices.CUDA_DRIVER and driver is not None:
      return driver
    if name == devices.CUDA_DRIVER:
      raise OSError(f'{name}: cannot open shared object file: No such file or directory')
    return ctypes.CDLL(name, *args, **kwargs)

  monkeypatch.setattr(devices.ctypes, 'CDLL', cdll)
  monkeypatch.delenv('CUDA_VISIBLE_DEVICES', raising=False)


CASES = {
    # name: (compute capabilities, precision, strategy, replicas, deterministic, device line)
    'no GPU': ((), 'float32', 'default', 1, True, 'devices: CPU ('),
    'one GPU 7.0': (((7, 0),), 'float32', 'default', 1, False,
                    'devices: 1 GPU: NVIDIA Test GPU (compute capability 7.0)'),
    'one GPU 8.0': (((8, 0),), 'mixed_bfloat16', 'default', 1, False,
                    'devices: 1 GPU: NVIDIA Test GPU (compute capability 8.0)'),
    'eight GPUs 9.0': (((9, 0),) * 8, 'mixed_bfloat16', 'mirrored', 8, False,
                       'devices: 8 GPUs: NVIDIA Test GPU (compute capability 9.0), '),
    # A run uses every GPU: one without bfloat16 tensor cores would emulate it.
    'GPUs 8.0 and 7.0': (((8, 0), (7, 0)), 'float32', 'mirrored', 2, False,
                         'devices: 2 GPUs: NVIDIA Test GPU (compute capability 8.0), '
                         'NVIDIA Test GPU (compute capability 7.0)'),
}


@pytest.mark.parametrize('case', list(CASES))
def test_defaults_follow_the_devices_and_the_start_lines_say_why(monkeypatch, case):
  capabilities, precision, strategy, replicas, deterministic, device_line = CASES[case]
  _stub_machine(monkeypatch, capabilities, cuda_build=bool(capabilities))
  plan = plan_lib.choose(configs.cifar10())
  assert plan.config.train.precision == precision
  assert plan.config.train.deterministic is deterministic
  assert plan.strategy.value == strategy
  lines = plan.start_lines(replicas)
  assert lines[0].startswith(device_line), lines
  assert 'no GPU' not in lines[0]
  assert lines[1].startswith(f'  precision {precision}: ')
  assert lines[2].startswith(f'  strategy {strategy}: ')
  assert lines[2].endswith('global batch 64' if replicas == 1 else
                           f'global batch 64, {64 // replicas} on each of {replicas} replicas')
  assert lines[3].startswith('  XLA off: not asked for')
  assert lines[4].startswith(f'  deterministic {"on" if deterministic else "off"}: the default')
  assert lines[5].startswith('  oneDNN: ')
  for line in lines[1:5]:   # each choice with its reason
    assert len(line.split(': ', 1)[1]) > 10, line


def test_the_reasons_name_what_decided():
  """The reason of each default names the hardware fact it follows."""
  plans = {}
  for case, (capabilities, *_rest) in CASES.items():
    with pytest.MonkeyPatch.context() as monkeypatch:
      _stub_machine(monkeypatch, capabilities)
      plans[case] = plan_lib.choose(configs.cifar10())
  assert 'compute capability 8.0' in plans['one GPU 7.0'].precision.why
  assert 'mixed_float16' in plans['one GPU 7.0'].precision.why
  assert 'natively' in plans['one GPU 8.0'].precision.why
  assert 'all 8 GPUs' in plans['eight GPUs 9.0'].strategy.why
  assert 'op determinism' in plans['one GPU 8.0'].deterministic.why
  assert 'bit' in plans['no GPU'].deterministic.why


def test_auto_is_bfloat16_only_where_every_gpu_computes_it(monkeypatch):
  """``auto`` follows the rule the default follows: bfloat16 on all the run's GPUs."""
  auto = configs.override(configs.cifar10(), ['train.precision=auto'])
  for capabilities, expected in ((((8, 0),) * 2, 'mixed_bfloat16'),
                                 (((8, 0), (7, 0)), 'float32')):
    with pytest.MonkeyPatch.context() as monkeypatch:
      _stub_machine(monkeypatch, capabilities)
      plan = plan_lib.choose(auto)
      assert plan.config.train.precision == expected, capabilities
      assert plan.precision.why == ('auto: every GPU of the run computes bfloat16 natively'
                                    if expected == 'mixed_bfloat16' else
                                    'auto: not every GPU of the run computes bfloat16 '
                                    'natively, so float32'), capabilities


def test_auto_on_a_cpu_follows_its_flags(monkeypatch, tmp_path):
  auto = configs.override(configs.cifar10(), ['train.precision=auto'])
  _stub_machine(monkeypatch, ())
  for flag, expected in (('avx512_bf16', 'mixed_bfloat16'), ('avx2', 'float32')):
    cpuinfo = tmp_path / flag
    cpuinfo.write_text(helpers.CPUINFO.format(extra=flag).replace(' avx512f', ''))
    monkeypatch.setattr(devices, 'CPUINFO', str(cpuinfo))
    plan = plan_lib.choose(auto)
    assert plan.config.train.precision == expected, flag
    assert plan.precision.why == ('auto: this CPU computes bfloat16 natively' if flag !=
                                  'avx2' else 'auto: this CPU has no native bfloat16 '
                                  '(AVX512_BF16 or AMX-BF16), so float32')


def test_forced_bfloat16_warns_only_where_it_is_emulated(monkeypatch):
  forced = configs.override(configs.cifar10(), ['train.precision=mixed_bfloat16'])
  for capabilities, warns in ((((8, 0),), False), (((7, 0),), True)):
    lines = []
    with pytest.MonkeyPatch.context() as monkeypatch:
      _stub_machine(monkeypatch, capabilities)
      plan = plan_lib.choose(forced, log=lines.append)
    assert (plan.config.train.precision, plan.precision.why) == ('mixed_bfloat16', 'as set')
    assert [line.split(' (')[0] for line in lines] == (
        ['warning: mixed_bfloat16 on a machine without native bfloat16'] if warns else []), lines


def test_the_gpu_build_without_a_usable_gpu_says_cudas_reason(monkeypatch):
  _stub_machine(monkeypatch, (), cuda_build=True, driver=_Driver(status=100))
  plan = plan_lib.choose(configs.cifar10())
  assert plan.config.train.precision == 'float32' and plan.strategy.value == 'default'
  assert plan.start_lines(1)[0].endswith(
      '; no GPU: the NVIDIA driver failed to start: cuInit: CUDA_ERROR_NO_DEVICE: no '
      'CUDA-capable device is detected')
  _stub_machine(monkeypatch, (), cuda_build=True)   # no driver installed at all
  assert plan_lib.choose(configs.cifar10()).start_lines(1)[0].endswith(
      '; no GPU: no NVIDIA driver (libcuda.so.1: cannot open shared object file: No such '
      'file or directory)')
  monkeypatch.setenv('CUDA_VISIBLE_DEVICES', '')
  assert plan_lib.choose(configs.cifar10()).start_lines(1)[0].endswith(
      "; no GPU: CUDA_VISIBLE_DEVICES='' hides every GPU")
  for gpus, found in ((1, 'finds 1 GPU but TensorFlow cannot use it'),
                      (2, 'finds 2 GPUs but TensorFlow cannot use them')):
    _stub_machine(monkeypatch, (), cuda_build=True, driver=_Driver(status=0, gpus=gpus))
    assert f'; no GPU: the NVIDIA driver {found}: the CUDA libraries' in (
        plan_lib.choose(configs.cifar10()).start_lines(1)[0])


def test_every_choice_stays_overridable(monkeypatch):
  _stub_machine(monkeypatch, ((9, 0),) * 8)
  config = configs.override(configs.cifar10(), ['train.precision=float32',
                                                'train.deterministic=true'])
  plan = plan_lib.choose(config, strategy='default', jit=True)
  assert (plan.config.train.precision, plan.config.train.deterministic, plan.strategy.value,
          plan.jit.value) == ('float32', True, 'default', True)
  assert plan.deterministic.why == ('as set: TensorFlow\'s op determinism on and its graph '
                                    'optimiser off')
  assert plan.start_lines(1)[3].startswith('  XLA on: forward, backward, Adam and EMA')


def test_a_resumed_run_keeps_what_it_started_with(monkeypatch):
  """A run started on a CPU and resumed on an A100 keeps float32 and its determinism
  (a changed precision would be refused as another config)."""
  _stub_machine(monkeypatch, ((8, 0),))
  started = plan_lib.choose(configs.cifar10(), machine=devices.Machine()).config
  assert (started.train.precision, started.train.deterministic) == ('float32', True)
  plan = plan_lib.choose(configs.cifar10(), resumed=started)
  assert (plan.config.train.precision, plan.config.train.deterministic) == ('float32', True)
  assert plan.precision.why == 'as the run in the workdir started'
  # A config.json that recorded no choice (save_new_workdir writes the config as given)
  # leaves them to this machine.
  plan = plan_lib.choose(configs.cifar10(), resumed=configs.cifar10())
  assert (plan.config.train.precision, plan.config.train.deterministic) == (
      'mixed_bfloat16', False)


def test_a_batch_that_does_not_split_over_the_replicas_is_refused(monkeypatch):
  _stub_machine(monkeypatch, ((9, 0),) * 8)
  config = configs.override(configs.cifar10(), ['train.batch_size=12'])
  with pytest.raises(ConfigError, match='batch_size 12 does not split over 8 replicas: give a '
                     'multiple of 8'):
    plan_lib.choose(config).start_lines(8)


def test_deterministic_on_a_gpu_turns_op_determinism_on(monkeypatch):
  calls = []
  monkeypatch.setattr(tf.config.experimental, 'enable_op_determinism',
                      lambda: calls.append('op determinism'))
  before = tf.config.optimizer.get_experimental_options().get('disable_meta_optimizer', False)
  try:
    trainer_lib.set_deterministic(True, gpus=False)
    assert calls == []
    trainer_lib.set_deterministic(True, gpus=True)
    assert calls == ['op determinism']
    assert tf.config.optimizer.get_experimental_options()['disable_meta_optimizer']
  finally:
    trainer_lib.set_deterministic(before)


def test_unset_fields_round_trip_through_overrides():
  config = configs.cifar10()
  assert config.train.precision is None and config.train.deterministic is None
  set_ = configs.override(config, ['train.deterministic=false', 'train.precision=auto'])
  assert set_.train.deterministic is False and set_.train.precision == 'auto'
  assert configs.Config.from_dict(dataclasses.asdict(config)) == config
