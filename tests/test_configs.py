"""Configs: paper values, overrides, validation and the workdir JSON."""

import pytest

from pic_tf import configs
from pic_tf import overrides as overrides_lib
from pic_tf import workdir as workdir_lib
from pic_tf.errors import CheckpointError
from pic_tf.errors import ConfigError


def test_paper_configs():
  cifar, imagenet = configs.get_config('cifar10'), configs.get_config('imagenet')
  assert (cifar.model.image_size, cifar.model.downsample, cifar.model.chroma_size) == (32, 2, 16)
  assert (imagenet.model.image_size, imagenet.model.downsample,
          imagenet.model.chroma_size) == (128, 4, 32)
  for cfg in (cifar, imagenet):
    assert cfg.model.nr_channels == 160 and cfg.model.nr_resnet == 4
    assert cfg.model.nr_logistic_mix == 10 and cfg.model.num_outputs == 80
    assert cfg.model.dropout == 0.5 and cfg.train.batch_size == 64
    assert cfg.train.polyak_decay == 0.999
    assert (cfg.train.adam_beta1, cfg.train.adam_beta2, cfg.train.adam_epsilon) == (
        0.95, 0.9995, 1e-6)
  assert (cifar.train.learning_rate, cifar.train.lr_decay, cifar.train.num_epochs) == (
      1e-3, 0.99995, 150)
  assert (imagenet.train.learning_rate, imagenet.train.lr_decay,
          imagenet.train.num_epochs) == (1.6e-4, 0.99999, 20)
  assert cifar.model.embedding_channels == 256 and imagenet.model.embedding_channels == 160


def test_override_and_json_round_trip(tmp_path):
  cfg = overrides_lib.apply(configs.tiny(), ['model.nr_channels=8', 'train.batch_size=4',
                                          'train.flip=none', 'dataset=folder:/x'])
  assert cfg.model.nr_channels == 8 and cfg.train.batch_size == 4
  assert cfg.train.flip == 'none' and cfg.dataset == 'folder:/x'
  workdir_lib.save_config(cfg, str(tmp_path))
  assert workdir_lib.load_config(str(tmp_path)) == cfg
  emb = overrides_lib.apply(configs.tiny(), [
      'model.embedding=[["conv", 4, 1], ["res", 1, 1], ["conv", 80, 2]]'])
  assert emb.model.embedding == (('conv', 4, 1), ('res', 1, 1), ('conv', 80, 2))


@pytest.mark.parametrize('assignment,match', [
    ('model.nr_channels', 'section.field=value'),
    ('model.width=3', 'unknown config field'),
    ('optimizer.lr=3', 'unknown config section'),
    ('model.nr_channels=abc', 'bad value'),
    ('model.downsample=4', 'strides multiply'),
    ('train.flip=sometimes', 'train.flip'),
    ('train.precision=float16', 'precision'),
    ('model.embedding=[["conv", 8, 1], ["conv", 16, 2]]', 'auxiliary head'),
])
def test_bad_overrides(assignment, match):
  with pytest.raises(ConfigError, match=match):
    overrides_lib.apply(configs.tiny(), [assignment])


def test_missing_config_json(tmp_path):
  with pytest.raises(CheckpointError, match='not a pic_tf workdir'):
    workdir_lib.load_config(str(tmp_path))
