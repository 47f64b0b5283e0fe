"""CPU features are read from /proc/cpuinfo and named beside benchmark figures."""

from pic_tf import hardware

_CPUINFO = """processor\t: 0
model name\t: Test CPU 9000
flags\t\t: fpu sse2 avx2 fma avx512f {extra}

processor\t: 1
model name\t: Test CPU 9000
flags\t\t: fpu sse2 avx2 fma avx512f {extra}
"""


def test_native_bfloat16_is_read_from_the_cpu_flags(tmp_path):
  native = tmp_path / 'native'
  native.write_text(_CPUINFO.format(extra='avx512_bf16'))
  emulated = tmp_path / 'emulated'
  emulated.write_text(_CPUINFO.format(extra=''))
  assert hardware.native_bfloat16_cpu(str(native))
  assert not hardware.native_bfloat16_cpu(str(emulated))
  text = hardware.machine_description(str(native))
  assert text.startswith('Test CPU 9000, ')
  assert 'avx2 fma avx512f avx512_bf16 (native bfloat16)' in text
  assert '(no native bfloat16 (emulated))' in hardware.machine_description(str(emulated))


def test_unreadable_cpuinfo_is_not_an_error(tmp_path):
  name, flags = hardware.cpu_info(str(tmp_path / 'missing'))
  assert name and flags == set()
  assert not hardware.native_bfloat16_cpu(str(tmp_path / 'missing'))
