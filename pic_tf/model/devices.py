"""The compute devices of this machine: the CPU (its name and flags), its GPUs (with
their compute capability), and when TensorFlow was built for CUDA but uses no GPU,
CUDA's own reason.

TensorFlow falls back to the CPU without a word when CUDA fails (its "failed call to
cuInit" goes to a C++ log the programs keep quiet), so :func:`detect` asks the NVIDIA
driver itself (``libcuda.so.1``) for the reason.
"""

import ctypes
import dataclasses
import os
import platform
from typing import FrozenSet, Tuple

# The NVIDIA driver's library, as CUDA's runtime loads it.
CUDA_DRIVER = 'libcuda.so.1'
# Where Linux describes the CPU (its model name and flags).
CPUINFO = '/proc/cpuinfo'
# CPU flags (as /proc/cpuinfo spells them) with native bfloat16 arithmetic.
BF16_FLAGS = ('avx512_bf16', 'amx_bf16')


@dataclasses.dataclass(frozen=True)
class Cpu:
  """The CPU this process runs on.

  Attributes:
    name: its model name (the architecture, e.g. ``'x86_64'``, where unknown).
    cores: the cores this process may run on.
    flags: its features as ``/proc/cpuinfo`` spells them (empty where unknown).
  """
  name: str = 'unknown CPU'
  cores: int = 1
  flags: FrozenSet[str] = frozenset()

  @property
  def native_bfloat16(self):
    """bfloat16 arithmetic in hardware: AVX512_BF16 or AMX-BF16."""
    return bool(self.flags & set(BF16_FLAGS))

  def describe(self):
    """``'AMD EPYC 9R14, 2 cores, AVX512_BF16'``: name, cores, native bfloat16 flags."""
    native = ''.join(f', {flag.upper()}' for flag in BF16_FLAGS if flag in self.flags)
    return f'{self.name}, {self.cores} cores{native}'


def read_cpu():
  """The :class:`Cpu` of this process, from :data:`CPUINFO` (name and flags empty where
  it cannot be read: not Linux)."""
  name, found = platform.processor() or platform.machine(), set()
  try:
    with open(CPUINFO) as f:
      for line in f:
        key, _, value = line.partition(':')
        if key.strip() == 'model name':
          name = value.strip()
        elif key.strip() in ('flags', 'Features'):
          found.update(value.split())
  except OSError:
    pass
  return Cpu(name=name, cores=cpu_cores(), flags=frozenset(found))


@dataclasses.dataclass(frozen=True)
class Gpu:
  """One GPU TensorFlow can use.

  Attributes:
    name: e.g. ``'NVIDIA A100-SXM4-40GB'`` (``'GPU:0'`` where unknown).
    compute_capability: ``(major, minor)``, ``None`` where unknown.
  """
  name: str
  compute_capability: Tuple[int, int] = None

  @property
  def native_bfloat16(self):
    """bfloat16 tensor cores: compute capability 8.0 (Ampere) and newer."""
    return bool(self.compute_capability and tuple(self.compute_capability) >= (8, 0))

  def describe(self):
    capability = ('' if not self.compute_capability else
                  f' (compute capability {self.compute_capability[0]}.'
                  f'{self.compute_capability[1]})')
    return self.name + capability


@dataclasses.dataclass(frozen=True)
class Machine:
  """What a run can compute on.

  Attributes:
    cpu: the CPU.
    gpus: the GPUs TensorFlow lists, in its order.
    cuda_build: TensorFlow was built with CUDA (the Linux wheels are).
    gpu_problem: with ``cuda_build`` and no GPU: why (CUDA's own words where the
      driver gives them); ``''`` otherwise.
  """
  cpu: Cpu = Cpu()
  gpus: Tuple[Gpu, ...] = ()
  cuda_build: bool = False
  gpu_problem: str = ''

  @property
  def native_bfloat16(self):
    """bfloat16 is native where a run computes: on every GPU (compute capability 8.0+)
    when there are GPUs, as a run uses them all, else on the CPU (AVX512_BF16 or
    AMX-BF16)."""
    if self.gpus:
      return all(gpu.native_bfloat16 for gpu in self.gpus)
    return self.cpu.native_bfloat16


def cpu_cores():
  """The CPU cores this process may run on."""
  try:
    return len(os.sched_getaffinity(0))
  except AttributeError:   # not Linux
    return os.cpu_count() or 1


def detect():
  """The :class:`Machine` this process runs on (lists devices: initialises TensorFlow's)."""
  # Here: configs and --help import this module's package without TensorFlow.
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  gpus = []
  for index, device in enumerate(tf.config.list_physical_devices('GPU')):
    details = tf.config.experimental.get_device_details(device)
    capability = details.get('compute_capability')
    gpus.append(Gpu(details.get('device_name') or f'GPU:{index}',
                    tuple(capability) if capability else None))
  cuda_build = bool(tf.sysconfig.get_build_info().get('is_cuda_build'))
  problem = cuda_problem() if cuda_build and not gpus else ''
  return Machine(cpu=read_cpu(), gpus=tuple(gpus), cuda_build=cuda_build, gpu_problem=problem)


def cuda_problem():
  """Why CUDA offers TensorFlow no GPU, in CUDA's words where the driver gives them."""
  visible = os.environ.get('CUDA_VISIBLE_DEVICES')
  if visible is not None and visible.strip() in ('', '-1'):
    return f'CUDA_VISIBLE_DEVICES={visible!r} hides every GPU'
  try:
    driver = ctypes.CDLL(CUDA_DRIVER)
  except OSError as e:
    return f'no NVIDIA driver ({e})'
  status = driver.cuInit(0)
  if status:
    return f'the NVIDIA driver failed to start: cuInit: {_cuda_error(driver, status)}'
  count = ctypes.c_int(0)
  status = driver.cuDeviceGetCount(ctypes.byref(count))
  if status:
    return f'the NVIDIA driver cannot count its GPUs: {_cuda_error(driver, status)}'
  if not count.value:
    return 'the NVIDIA driver finds no GPU'
  found = '1 GPU but TensorFlow cannot use it' if count.value == 1 else (
      f'{count.value} GPUs but TensorFlow cannot use them')
  return (f'the NVIDIA driver finds {found}: the '
          'CUDA libraries it needs are missing or of another version (install with '
          "pip install '.[gpu]'; TF_CPP_MIN_LOG_LEVEL=0 shows TensorFlow's own log)")


def _cuda_error(driver, status):
  """``'CUDA_ERROR_NO_DEVICE: no CUDA-capable device is detected'`` for a status code."""
  name, text = ctypes.c_char_p(), ctypes.c_char_p()
  driver.cuGetErrorName(status, ctypes.byref(name))
  driver.cuGetErrorString(status, ctypes.byref(text))
  if not name.value:
    return f'error {status}'
  return f'{name.value.decode()}: {(text.value or b"").decode()}'.rstrip(': ')
