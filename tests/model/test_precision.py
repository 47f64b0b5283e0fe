"""Precision: native bfloat16 is read from /proc/cpuinfo (or the GPU), 'auto' resolved."""

import json

import pytest
import tensorflow as tf

from pic_tf.storage import Source
from pic_tf.sampling import SampleOptions
from pic_tf.data import Selection
from pic_tf import configs
from pic_tf.model import devices
from pic_tf.model import precision as precision_lib
from pic_tf.storage import workdir as workdir_lib

import helpers


def test_native_bfloat16_is_read_from_the_cpu_flags(tmp_path):
  native = tmp_path / 'native'
  native.write_text(helpers.CPUINFO.format(extra='avx512_bf16'))
  emulated = tmp_path / 'emulated'
  emulated.write_text(helpers.CPUINFO.format(extra=''))
  assert devices.native_bfloat16_cpu(str(native))
  assert not devices.native_bfloat16_cpu(str(emulated))


def test_unreadable_cpuinfo_is_not_an_error(tmp_path):
  name, flags = devices.cpu_info(str(tmp_path / 'missing'))
  assert name and flags == set()
  assert not devices.native_bfloat16_cpu(str(tmp_path / 'missing'))


@pytest.fixture
def cpus(tmp_path, monkeypatch):
  """Fake /proc/cpuinfo files of a CPU with and one without native bfloat16 (no GPU)."""
  monkeypatch.setattr(tf.config, 'list_physical_devices', lambda kind=None: [])
  native = tmp_path / 'native'
  native.write_text(helpers.CPUINFO.format(extra='avx512_bf16'))
  avx2_only = tmp_path / 'avx2'
  avx2_only.write_text(helpers.CPUINFO.format(extra='').replace(' avx512f', ''))
  return {'native': str(native), 'avx2': str(avx2_only)}


def test_auto_precision_fits_the_hardware(cpus):
  assert precision_lib.resolve_precision('auto', cpus['native']) == 'mixed_bfloat16'
  assert precision_lib.resolve_precision('auto', cpus['avx2']) == 'float32'   # never slower
  for forced in ('float32', 'mixed_bfloat16', 'mixed_float16'):
    assert precision_lib.resolve_precision(forced, cpus['avx2']) == forced


def test_forced_bfloat16_where_it_is_emulated_warns_once_with_the_cost(cpus):
  lines = []
  precision_lib.resolve_precision('mixed_bfloat16', cpus['native'], lines.append)
  precision_lib.resolve_precision('float32', cpus['avx2'], lines.append)
  assert lines == []
  precision_lib.resolve_precision('mixed_bfloat16', cpus['avx2'], lines.append)
  [warning] = lines
  assert warning.startswith('warning: ') and 'slower than float32' in warning


@pytest.mark.slow   # three binaries; the warning itself is checked in process by default
def test_forced_bfloat16_warns_in_colorize_eval_and_export(tmp_path, monkeypatch):
  """Not only bin/train: every binary that takes --precision warns where bfloat16 is
  emulated (the CPU check is stubbed), and records what it resolved 'auto' to."""
  # Imported here: the other tests of this file need no model code.
  from pic_tf import colorize_lib, eval_lib, export_lib
  from pic_tf.model import networks

  emulated = {'value': False}
  monkeypatch.setattr(precision_lib, 'native_bfloat16', lambda path=None: emulated['value'])
  workdir = str(tmp_path / 'model')
  workdir_lib.save_new_workdir(workdir, configs.tiny(), networks.build_model(configs.tiny().model))
  source = lambda p: Source(workdir, precision=p)
  gray = tmp_path / 'in'
  gray.mkdir()
  tf.io.write_file(str(gray / 'a.png'),
                   tf.io.encode_png(tf.fill([8, 8, 1], tf.constant(90, tf.uint8))))
  runs = {
      'colorize': lambda log, p: colorize_lib.run(
          str(tmp_path / f'out_{p}'), source=source(p), inputs=[str(gray)],
          sample_options=SampleOptions(num_samples=1), log=log),
      'eval': lambda log, p: eval_lib.run_eval(
          source(p), Selection('cifar10_bundled', num_images=2), batch_size=2,
          output_json=str(tmp_path / f'{p}.json'), log=log),
      'export': lambda log, p: export_lib.run(source(p), str(tmp_path / f'export_{p}'),
                                              log=log),
  }
  for name, run in runs.items():
    for precision, warns in (('mixed_bfloat16', True), ('auto', False)):
      lines = []
      run(lambda line: lines.append(str(line)), precision)
      warnings = [line for line in lines if line.startswith('warning: mixed_bfloat16')]
      assert len(warnings) == (1 if warns else 0), (name, precision, lines)
  assert json.load(open(tmp_path / 'auto.json'))['precision'] == 'float32'
