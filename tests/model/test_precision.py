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


# Fake /proc/cpuinfo files: a CPU with native bfloat16, and an AVX2-only one.
NATIVE = helpers.CPUINFO.format(extra='avx512_bf16')
AVX2 = helpers.CPUINFO.format(extra='').replace(' avx512f', '')


@pytest.fixture
def cpus(tmp_path, monkeypatch):
  """``cpus(text)`` makes this machine's CPU the one a /proc/cpuinfo of ``text`` describes
  (read where :mod:`pic_tf.model.devices` reads the file), with no GPU; returns it."""
  real = tf.config.list_physical_devices
  monkeypatch.setattr(tf.config, 'list_physical_devices',
                      lambda kind=None: [] if kind == 'GPU' else real(kind))

  def use(text):
    path = tmp_path / 'cpuinfo'
    path.write_text(text)
    monkeypatch.setattr(devices, 'CPUINFO', str(path))
    return devices.read_cpu()
  return use


def test_native_bfloat16_is_read_from_the_cpu_flags(cpus):
  assert cpus(NATIVE).native_bfloat16
  assert cpus(helpers.CPUINFO.format(extra='amx_bf16')).native_bfloat16
  cpu = cpus(AVX2)
  assert not cpu.native_bfloat16
  assert cpu.name == 'Test CPU 9000' and cpu.cores >= 1 and 'avx2' in cpu.flags


def test_unreadable_cpuinfo_is_not_an_error(tmp_path, monkeypatch):
  monkeypatch.setattr(devices, 'CPUINFO', str(tmp_path / 'missing'))
  cpu = devices.read_cpu()
  assert cpu.name and cpu.flags == frozenset() and not cpu.native_bfloat16


def test_auto_precision_fits_the_hardware(cpus):
  cpus(NATIVE)
  assert precision_lib.resolve_precision('auto') == 'mixed_bfloat16'
  cpus(AVX2)
  assert precision_lib.resolve_precision('auto') == 'float32'   # never slower
  for forced in ('float32', 'mixed_bfloat16', 'mixed_float16'):
    assert precision_lib.resolve_precision(forced) == forced


def test_forced_bfloat16_where_it_is_emulated_warns_once_with_the_cost(cpus):
  lines = []
  cpus(NATIVE)
  precision_lib.resolve_precision('mixed_bfloat16', log=lines.append)
  cpus(AVX2)
  precision_lib.resolve_precision('float32', log=lines.append)
  assert lines == []
  precision_lib.resolve_precision('mixed_bfloat16', log=lines.append)
  [warning] = lines
  assert warning.startswith('warning: ') and 'slower than float32' in warning


@pytest.mark.slow   # three binaries; the warning itself is checked in process by default
def test_forced_bfloat16_warns_in_colorize_eval_and_export(tmp_path, cpus):
  """Not only bin/train: every binary that takes --precision warns where bfloat16 is
  emulated (/proc/cpuinfo of an AVX2 CPU, no GPU), and records what it resolved 'auto' to."""
  # Imported here: the other tests of this file need no model code.
  from pic_tf import colorize_lib, eval_lib, export_lib
  from pic_tf.model import networks

  cpus(AVX2)
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
