"""Workdirs: config + checkpoint of model and EMA, restored with clear errors."""

import pathlib
import shutil

import numpy as np
import pytest
import tensorflow as tf

from pic_tf.storage import Source
from pic_tf import configs
from pic_tf.errors import CheckpointError
from pic_tf.model import networks
from pic_tf import storage
from pic_tf.storage import loading
from pic_tf.storage import workdir as workdir_lib


def _randomize(model, seed):
  rng = np.random.default_rng(seed)
  for var in model.weights:
    var.assign(rng.normal(size=var.shape).astype(np.float32))


def test_save_and_load_raw_and_ema_weights(tmp_path):
  config = configs.tiny()
  model, ema = networks.build_model_and_ema(config)
  _randomize(model, 0)
  ema.reset()
  raw = {n: v.numpy() for n, _, v in networks.named_variables(model)}
  for var in model.weights:
    var.assign_add(tf.ones_like(var))
  # Now averages = raw, variables = raw + 1.
  workdir_lib.save_new_workdir(str(tmp_path), config, model, ema, step=7)
  loaded = loading.load(Source(str(tmp_path)))
  loaded_config, averaged, step = loaded.config, loaded.model, loaded.step
  assert loaded_config == config and step == 7
  by_name = {n: v for n, _, v in networks.named_variables(averaged)}
  for name, value in raw.items():
    np.testing.assert_array_equal(by_name[name].numpy(), value)
  unaveraged = loading.load(Source(str(tmp_path)), ema=False).model
  for a, b in zip(unaveraged.weights, model.weights):
    np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_load_errors(tmp_path):
  with pytest.raises(CheckpointError, match='does not exist'):
    loading.load(Source(str(tmp_path / 'missing')))
  with pytest.raises(CheckpointError, match='config.json'):
    loading.load(Source(str(tmp_path)))
  workdir_lib.save_config(configs.tiny(), str(tmp_path))
  with pytest.raises(CheckpointError, match='no checkpoint'):
    loading.load(Source(str(tmp_path)))


def test_workdir_checkpoint_of_another_config_is_refused(tmp_path):
  model, ema = networks.build_model_and_ema(configs.tiny())
  workdir_lib.save_new_workdir(str(tmp_path), configs.tiny(), model, ema)
  other = configs.override(configs.tiny(), ['model.nr_channels=8'])
  workdir_lib.save_config(other, str(tmp_path))   # a config.json that no longer fits the weights
  with pytest.raises(CheckpointError, match='does not fit') as info:
    loading.load(Source(str(tmp_path)))
  assert 'checkpoint [16], model [8]' in str(info.value)


def test_inference_weights_are_half_the_size_and_load_like_a_workdir(tmp_path):
  config = configs.tiny()
  model, ema = networks.build_model_and_ema(config)
  _randomize(model, 3)
  full = tmp_path / 'full'
  slim = tmp_path / 'slim'
  workdir_lib.save_new_workdir(str(full), config, model, ema)
  workdir_lib.save_new_workdir(str(slim), config, model, step=5)
  size = lambda d: sum(f.stat().st_size for f in d.glob('ckpt-*'))
  assert size(slim) < 0.6 * size(full)
  slim_loaded = loading.load(Source(str(slim)))   # EMA = the stored weights
  loaded, step = slim_loaded.model, slim_loaded.step
  assert step == 5
  for a, b in zip(loaded.weights, model.weights):
    np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_the_demo_model_is_recognised_by_its_path_too(tmp_path):
  """Named by path it is still the package's demo (so bin/eval writes no eval.json into
  the package); a copy of it elsewhere is a workdir."""
  assert loading.identify(None).kind == 'demo'
  assert loading.identify(storage.DEMO_MODEL + '/').kind == 'demo'
  (tmp_path / 'link').symlink_to(pathlib.Path(storage.DEMO_MODEL).parent)
  assert loading.identify(str(tmp_path / 'link' / 'cifar10_demo')).kind == 'demo'
  copy = tmp_path / 'copy'
  shutil.copytree(storage.DEMO_MODEL, copy)
  assert loading.identify(str(copy)).kind == 'workdir'
