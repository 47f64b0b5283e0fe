"""Configs: the paper's values (Table 1) and validation."""

import pytest

from pic_tf import configs
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


def test_a_config_saved_before_ema_order_existed_keeps_the_textbook_order():
  """Workdirs (and the shipped demo model) written before the field trained with the EMA
  updated after each Adam step; a new config takes the original's order."""
  old = configs.tiny().to_dict()
  del old['train']['ema_order']
  assert configs.Config.from_dict(old).train.ema_order == 'after_update'
  assert configs.Config.from_dict(configs.tiny().to_dict()).train.ema_order == 'before_update'
  with pytest.raises(ConfigError, match='train.ema_order must be one of before_update, '
                                        'after_update'):
    configs.Config.from_dict({**old, 'train': {**old['train'], 'ema_order': 'sideways'}})

# --set section.field=value overrides: parsed to the field's type, validated.


def test_overrides_of_every_kind():
  cfg = configs.override(configs.tiny(), ['model.nr_channels=8', 'train.batch_size=4',
                                          'train.flip=none', 'dataset=folder:/x',
                                          'train.deterministic=false'])
  assert cfg.model.nr_channels == 8 and cfg.train.batch_size == 4
  assert cfg.train.flip == 'none' and cfg.dataset == 'folder:/x'
  assert cfg.train.deterministic is False
  emb = configs.override(configs.tiny(), [
      'model.embedding=[["conv", 4, 1], ["res", 1, 1], ["conv", 80, 2]]'])
  assert emb.model.embedding == (('conv', 4, 1), ('res', 1, 1), ('conv', 80, 2))


@pytest.mark.parametrize('assignment,match', [
    ('model.nr_channels', 'section.field=value'),
    ('model.width=3', r"unknown config field 'model.width'; the fields of model: downsample, "
                      'dropout, embedding, image_size, nr_channels, nr_logistic_mix, nr_resnet$'),
    # A misspelt field, or one given without its section or in the wrong one, is named.
    ('model.nr_channel=3', r"'model.nr_channel' \(did you mean model.nr_channels\?\)"),
    ('batch_size=8', r"'batch_size' \(did you mean train.batch_size\?\); the fields: dataset, "
                     'init_from, name; the sections: model, train$'),
    ('train.nr_resnet=2', r"'train.nr_resnet' \(did you mean model.nr_resnet\?\); the fields "
                          'of train: adam_beta1, '),
    ('optimizer.lr=3', r"unknown config section 'optimizer' in 'optimizer.lr=3'; the sections: "
                       'model, train$'),
    ('model.nr_channels=abc', 'bad value'),
    ('model.downsample=4', 'strides multiply'),
    ('train.flip=sometimes', 'train.flip'),
    ('train.precision=float16', 'precision'),
    ('train.deterministic=maybe', 'expected a boolean'),
    ('model.embedding=[["conv", 8, 1], ["conv", 16, 2]]', 'auxiliary head'),
    ('model.embedding=[["conv", 8, 0], ["conv", 80, 2]]', r'int >= 1'),
    # Every value is checked for range and finiteness before anything is built.
    ('train.polyak_decay=2.0', r'train.polyak_decay must be in \[0, 1\)'),
    ('train.lr_decay=-1', r'train.lr_decay must be in \(0, 1\]'),
    ('train.lr_decay=0', r'train.lr_decay must be in \(0, 1\]'),
    ('train.learning_rate=nan', 'train.learning_rate must be a finite float'),
    ('train.learning_rate=-0.1', r'train.learning_rate must be in \(0, inf\]'),
    ('train.adam_beta2=1', r'train.adam_beta2 must be in \[0, 1\)'),
    ('train.adam_epsilon=0', 'train.adam_epsilon'),
    ('train.seed=-1', r'train.seed must be in \[0, 4294967295\]'),
    ('train.seed=4294967296', 'train.seed'),
    ('model.dropout=inf', 'model.dropout must be a finite float'),
    ('dataset=mnist', "unknown dataset 'mnist'"),
    ('dataset=folder:', 'unknown dataset'),
])
def test_bad_overrides(assignment, match):
  with pytest.raises(ConfigError, match=match):
    configs.override(configs.tiny(), [assignment])
