"""What this machine offers TensorFlow: CPU model, cores, instruction-set features, GPUs.

Benchmarks print it next to every figure (speed ratios only mean something on the
hardware they were measured on), and it says whether bfloat16 arithmetic is native:
on a CPU without AVX512_BF16 / AMX-BF16 it is emulated and far slower than float32.
"""

import os
import platform

import tensorflow as tf

# CPU flags (as /proc/cpuinfo spells them) with native bfloat16 arithmetic.
BF16_FLAGS = ('avx512_bf16', 'amx_bf16')
# Flags worth naming beside a speed figure.
REPORTED_FLAGS = ('avx2', 'fma', 'avx512f', 'avx512_vnni') + BF16_FLAGS


def cpu_info(path='/proc/cpuinfo'):
  """``(model name, set of CPU flags)`` from ``/proc/cpuinfo`` (empty where unknown)."""
  name, found = platform.processor() or platform.machine(), set()
  try:
    with open(path) as f:
      for line in f:
        key, _, value = line.partition(':')
        if key.strip() == 'model name':
          name = value.strip()
        elif key.strip() in ('flags', 'Features'):
          found.update(value.split())
  except OSError:
    pass
  return name, found


def native_bfloat16_cpu(path='/proc/cpuinfo'):
  """True if the CPU computes bfloat16 natively (AVX512_BF16 or AMX-BF16)."""
  return bool(cpu_info(path)[1] & set(BF16_FLAGS))


def machine_description(path='/proc/cpuinfo'):
  """One line: CPU, cores, the features that matter for speed, GPUs, TensorFlow version."""
  name, found = cpu_info(path)
  features = [f for f in REPORTED_FLAGS if f in found]
  bf16 = ('native bfloat16' if set(BF16_FLAGS) & found else 'no native bfloat16 (emulated)')
  gpus = tf.config.list_physical_devices('GPU')
  return (f'{name}, {os.cpu_count()} cores, CPU features {" ".join(features) or "unknown"} '
          f'({bf16}), {len(gpus)} GPU(s), TensorFlow {tf.__version__}, {platform.system()}')
