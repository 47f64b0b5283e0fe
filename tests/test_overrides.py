"""``--set section.field=value`` overrides: parsed to the field's type, validated."""

import pytest

from pic_tf import configs
from pic_tf.errors import ConfigError
from pic_tf import overrides as overrides_lib


def test_overrides_of_every_kind():
  cfg = overrides_lib.apply(configs.tiny(), ['model.nr_channels=8', 'train.batch_size=4',
                                             'train.flip=none', 'dataset=folder:/x',
                                             'train.deterministic=false'])
  assert cfg.model.nr_channels == 8 and cfg.train.batch_size == 4
  assert cfg.train.flip == 'none' and cfg.dataset == 'folder:/x'
  assert cfg.train.deterministic is False
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
    overrides_lib.apply(configs.tiny(), [assignment])
