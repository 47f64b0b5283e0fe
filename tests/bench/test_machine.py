"""The machine line printed above every benchmark."""

from pic_tf.bench import machine
from pic_tf.model import devices

import helpers


def test_machine_description_names_the_cpu_and_its_bfloat16(tmp_path, monkeypatch):
  native = tmp_path / 'native'
  native.write_text(helpers.CPUINFO.format(extra='avx512_bf16'))
  emulated = tmp_path / 'emulated'
  emulated.write_text(helpers.CPUINFO.format(extra=''))
  monkeypatch.setattr(devices, 'CPUINFO', str(native))
  text = machine.machine_description()
  assert text.startswith('Test CPU 9000, ')
  assert 'avx2 fma avx512f avx512_bf16 (native bfloat16)' in text
  monkeypatch.setattr(devices, 'CPUINFO', str(emulated))
  assert '(no native bfloat16 (emulated))' in machine.machine_description()
