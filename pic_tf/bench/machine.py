"""What this machine offers TensorFlow: CPU model, cores, instruction-set features, GPUs.

Benchmarks print it next to every figure: speed ratios only mean something on the
hardware they were measured on.
"""

import platform

import tensorflow as tf

from pic_tf.model import devices

# CPU flags worth naming beside a speed figure.
REPORTED_FLAGS = ('avx2', 'fma', 'avx512f', 'avx512_vnni') + devices.BF16_FLAGS


def machine_description(path='/proc/cpuinfo'):
  """One line: CPU, cores, the features that matter for speed, GPUs, TensorFlow version."""
  name, found = devices.cpu_info(path)
  features = [f for f in REPORTED_FLAGS if f in found]
  native = set(devices.BF16_FLAGS) & found
  bf16 = 'native bfloat16' if native else 'no native bfloat16 (emulated)'
  gpus = tf.config.list_physical_devices('GPU')
  return (f'{name}, {devices.cpu_cores()} cores, CPU features {" ".join(features) or "unknown"} '
          f'({bf16}), {len(gpus)} GPU(s), TensorFlow {tf.__version__}, {platform.system()}')
