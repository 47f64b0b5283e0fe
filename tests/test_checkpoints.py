"""Workdirs: config + checkpoint of model and EMA, restored with clear errors."""

import numpy as np
import pytest
import tensorflow as tf

from pic_tf import checkpoints
from pic_tf import configs
from pic_tf import networks
from pic_tf.errors import CheckpointError


def _randomize(model, seed):
  rng = np.random.default_rng(seed)
  for var in model.weights:
    var.assign(rng.normal(size=var.shape).astype(np.float32))


def test_save_and_load_raw_and_ema_weights(tmp_path):
  config = configs.tiny()
  model, ema = checkpoints.create_model_and_ema(config)
  _randomize(model, 0)
  ema.reset()
  raw = {n: v.numpy() for n, _, v in networks.named_variables(model)}
  for var in model.weights:
    var.assign_add(tf.ones_like(var))
  # Now averages = raw, variables = raw + 1.
  checkpoints.save_weights_only(str(tmp_path), config, model, ema, step=7)
  loaded_config, averaged, step = checkpoints.load_model(str(tmp_path))
  assert loaded_config == config and step == 7
  by_name = {n: v for n, _, v in networks.named_variables(averaged)}
  for name, value in raw.items():
    np.testing.assert_array_equal(by_name[name].numpy(), value)
  _, unaveraged, _ = checkpoints.load_model(str(tmp_path), use_ema=False)
  for a, b in zip(unaveraged.weights, model.weights):
    np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_load_model_errors(tmp_path):
  with pytest.raises(CheckpointError, match='does not exist'):
    checkpoints.load_model(str(tmp_path / 'missing'))
  with pytest.raises(CheckpointError, match='config.json'):
    checkpoints.load_model(str(tmp_path))
  configs.save_json(configs.tiny(), str(tmp_path))
  with pytest.raises(CheckpointError, match='no checkpoint'):
    checkpoints.load_model(str(tmp_path))


def test_workdir_checkpoint_of_another_config_is_refused(tmp_path):
  model, ema = checkpoints.create_model_and_ema(configs.tiny())
  checkpoints.save_weights_only(str(tmp_path), configs.tiny(), model, ema)
  other = configs.override(configs.tiny(), ['model.nr_channels=8'])
  configs.save_json(other, str(tmp_path))   # a config.json that no longer fits the weights
  with pytest.raises(CheckpointError, match='does not fit') as info:
    checkpoints.load_model(str(tmp_path))
  assert 'checkpoint [16], model [8]' in str(info.value)


def test_inference_weights_are_half_the_size_and_load_like_a_workdir(tmp_path):
  config = configs.tiny()
  model, ema = checkpoints.create_model_and_ema(config)
  _randomize(model, 3)
  full = tmp_path / 'full'
  slim = tmp_path / 'slim'
  checkpoints.save_weights_only(str(full), config, model, ema)
  checkpoints.save_inference_weights(str(slim), config, model, step=5)
  size = lambda d: sum(f.stat().st_size for f in d.glob('ckpt-*'))
  assert size(slim) < 0.6 * size(full)
  _, loaded, step = checkpoints.load_model(str(slim))   # EMA = the stored weights
  assert step == 5
  for a, b in zip(loaded.weights, model.weights):
    np.testing.assert_array_equal(a.numpy(), b.numpy())
