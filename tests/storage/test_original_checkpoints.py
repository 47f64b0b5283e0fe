"""Conversion of original checkpoints, and parity with the original on cifar_c32_l2."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from pic_tf.storage import Source
from pic_tf import configs
from pic_tf.errors import DamagedCheckpointError
from pic_tf.model import distribution
from pic_tf.model import networks
from pic_tf.storage import loading
from pic_tf.storage import original_checkpoints

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def c32_config():
  return configs.override(configs.cifar10(), ['model.nr_channels=32', 'model.nr_resnet=2'])


@pytest.fixture(scope='module')
def reference(reference_dir):
  base = reference_dir / 'cifar_c32_l2'
  model = networks.build_model(c32_config().model)
  original_checkpoints.load_original(str(base / 'model.ckpt'), model)
  return {'model': model, 'io': dict(np.load(base / 'io.npz')),
          'json': json.loads((base / 'reference.json').read_text()),
          'ckpt': str(base / 'model.ckpt')}


def test_forward_parity(reference):
  io = reference['io']
  params, embedding = reference['model'](io['x_gray'], io['x_rgb_down'])
  np.testing.assert_allclose(params, io['logits'], atol=1e-4, rtol=0)
  np.testing.assert_allclose(embedding, io['embedding'], atol=1e-4, rtol=0)
  nll = -distribution.ChromaMixture(params, io['x_lab_down'][..., 0]).log_prob(
      io['x_lab_down'][..., 1:])
  np.testing.assert_allclose(nll, io['nll_nats'], rtol=1e-4)
  bpd = float(distribution.bits_per_dim(params, io['x_lab_down']))
  bpd_aux = float(distribution.bits_per_dim(embedding[..., :80], io['x_lab_down']))
  # The original's batch bpd and auxiliary bpd, as recorded in its io.npz.
  assert bpd == pytest.approx(float(io['bpd']), abs=1e-4)
  assert bpd_aux == pytest.approx(float(io['bpd_embedding']), abs=1e-4)


def test_gradient_norms_parity(reference):
  io, model = reference['io'], reference['model']
  names = original_checkpoints.original_name_map(model)
  expected = reference['json']['grad_l2_norms_of_mean_bpd']
  assert set(expected) == set(names)
  with tf.GradientTape() as tape:
    params, _ = model(io['x_gray'], io['x_rgb_down'], training=False)
    loss = distribution.bits_per_dim(params, io['x_lab_down'])
  grads = tape.gradient(loss, list(names.values()))
  for name, grad in zip(names, grads):
    assert float(tf.norm(grad)) == pytest.approx(expected[name], rel=1e-3), name


def test_shapes_and_count_of_reference(reference):
  ref = reference['json']
  names = original_checkpoints.original_name_map(reference['model'])
  assert {n: list(v.shape) for n, v in names.items()} == ref['variables']
  assert reference['model'].count_params() == ref['num_params'] == 14_221_664


def _write_tf1_checkpoint(prefix, tensors):
  names = sorted(tensors)
  tf.raw_ops.SaveV2(prefix=prefix, tensor_names=names, shape_and_slices=[''] * len(names),
                    tensors=[tf.constant(tensors[n]) for n in names])
  return prefix


def _tiny_original_tensors(seed=0):
  model = networks.build_model(configs.tiny().model)
  rng = np.random.default_rng(seed)
  return {n: rng.normal(size=v.shape).astype(np.float32)
          for n, v in original_checkpoints.original_name_map(model).items()}


def test_loads_raw_and_polyak_weights_ignoring_optimizer_slots(tmp_path):
  raw = _tiny_original_tensors(0)
  tensors = dict(raw)
  for name, value in raw.items():
    tensors[name + '/ExponentialMovingAverage'] = value + 1.0
    tensors[name + '/Adam'] = np.zeros_like(value)
    tensors[name + '/Adam_1'] = np.zeros_like(value)
  tensors['beta1_power'] = np.float32(0.9)
  prefix = _write_tf1_checkpoint(str(tmp_path / 'model.ckpt'), tensors)
  model, ema = networks.build_model_and_ema(configs.tiny())
  assert original_checkpoints.load_original(prefix, model, ema)
  names = original_checkpoints.original_name_map(model)
  for name, var in names.items():
    np.testing.assert_array_equal(var.numpy(), raw[name])
  index = {id(v): i for i, v in enumerate(ema.variables_to_average)}
  for name, var in names.items():
    np.testing.assert_array_equal(ema.averages[index[id(var)]].numpy(), raw[name] + 1.0)


def test_a_truncated_original_checkpoint_is_damaged_not_a_bug(tmp_path):
  prefix = _write_tf1_checkpoint(str(tmp_path / 'model.ckpt'), _tiny_original_tensors(0))
  data = f'{prefix}.data-00000-of-00001'
  with open(data, 'r+b') as f:
    f.truncate(os.path.getsize(data) // 2)
  model = networks.build_model(configs.tiny().model)
  with pytest.raises(DamagedCheckpointError, match=f'checkpoint {prefix} is damaged'):
    original_checkpoints.load_original(prefix, model)


def test_wrong_checkpoint_lists_missing_unexpected_and_misshaped(tmp_path):
  tensors = _tiny_original_tensors(1)
  del tensors['picolor_template/conv_last/b']
  tensors['picolor_template/not_a_layer/V'] = np.zeros([3], np.float32)
  tensors['picolor_template/conv_leak/V'] = np.zeros([3, 3, 2, 9], np.float32)
  prefix = _write_tf1_checkpoint(str(tmp_path / 'model.ckpt'), tensors)
  model = networks.build_model(configs.tiny().model)
  with pytest.raises(original_checkpoints.ConversionError) as info:
    original_checkpoints.load_original(prefix, model)
  message = str(info.value)
  assert 'missing (1): conv_last/b' in message
  assert 'unexpected (1): not_a_layer/V' in message
  assert 'mis-shaped (1): conv_leak/V: checkpoint [3, 3, 2, 9]' in message
  assert 'Choose the config the checkpoint was trained with' in message


def test_checkpoint_of_another_config_is_refused(reference):
  model = networks.build_model(configs.cifar10().model)   # width 160, not 32
  with pytest.raises(original_checkpoints.ConversionError, match='mis-shaped'):
    original_checkpoints.load_original(reference['ckpt'], model)


def test_unreadable_checkpoint(tmp_path):
  model = networks.build_model(configs.tiny().model)
  with pytest.raises(original_checkpoints.ConversionError, match='cannot read checkpoint'):
    original_checkpoints.load_original(str(tmp_path / 'nothing.ckpt'), model)
  with pytest.raises(original_checkpoints.ConversionError, match='no TF checkpoint'):
    original_checkpoints.load_original(str(tmp_path), model)


def test_convert_to_workdir_and_reload(tmp_path):
  tensors = _tiny_original_tensors(2)
  prefix = _write_tf1_checkpoint(str(tmp_path / 'orig' / 'model.ckpt'), tensors)
  workdir = str(tmp_path / 'workdir')
  original_checkpoints.convert_original(prefix, configs.tiny(), workdir)
  loaded = loading.load(Source(workdir))
  config, model = loaded.config, loaded.model
  assert config == configs.tiny()
  for name, var in original_checkpoints.original_name_map(model).items():
    np.testing.assert_array_equal(var.numpy(), tensors[name])
  with pytest.raises(original_checkpoints.ConversionError, match='not empty'):
    original_checkpoints.convert_original(prefix, configs.tiny(), workdir)
  assert sorted(os.listdir(tmp_path)) == ['orig', 'workdir']   # no temporary left over


@pytest.mark.slow   # the binary; the conversion is checked in process by default
def test_bin_convert_original(reference, tmp_path):
  out = tmp_path / 'converted'
  cmd = [sys.executable, os.path.join(REPO, 'bin', 'convert_original'),
         f'--original_checkpoint={reference["ckpt"]}', '--config=cifar10',
         '--set=model.nr_channels=32', '--set=model.nr_resnet=2', f'--output_dir={out}']
  result = subprocess.run(cmd, capture_output=True, text=True, check=False)
  assert result.returncode == 0, result.stderr
  model = loading.load(Source(str(out))).model
  io = reference['io']
  params, _ = model(io['x_gray'], io['x_rgb_down'])
  np.testing.assert_allclose(params, io['logits'], atol=1e-4, rtol=0)
  # The wrong config: one clear message, non-zero exit, nothing written.
  bad = tmp_path / 'bad'
  cmd = cmd[:3] + ['--config=cifar10', f'--output_dir={bad}']
  result = subprocess.run(cmd, capture_output=True, text=True, check=False)
  assert result.returncode == 1
  assert 'mis-shaped' in result.stderr and 'Traceback' not in result.stderr
  assert not bad.exists()
