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
])
def test_bad_overrides(assignment, match):
  with pytest.raises(ConfigError, match=match):
    overrides_lib.apply(configs.tiny(), [assignment])
