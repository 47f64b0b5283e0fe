"""What this machine offers TensorFlow: CPU model, cores, instruction-set features, GPUs.

Benchmarks print it next to every figure: speed ratios only mean something on the
hardware they were measured on.
"""

import platform

import tensorflow as tf

from pic_tf import progress
from pic_tf.model import devices

# CPU flags worth naming beside a speed figure.
REPORTED_FLAGS = ('avx2', 'fma', 'avx512f', 'avx512_vnni') + devices.BF16_FLAGS


def machine_description():
  """One line: CPU, cores, the features that matter for speed, GPUs, TensorFlow version."""
  cpu = devices.read_cpu()
  features = [f for f in REPORTED_FLAGS if f in cpu.flags]
  bf16 = 'native bfloat16' if cpu.native_bfloat16 else 'no native bfloat16 (emulated)'
  gpus = tf.config.list_physical_devices('GPU')
  return (f'{cpu.name}, {cpu.cores} cores, CPU features {" ".join(features) or "unknown"} '
          f'({bf16}), {progress.count(len(gpus), "GPU")}, TensorFlow {tf.__version__}, '
          f'{platform.system()}')
