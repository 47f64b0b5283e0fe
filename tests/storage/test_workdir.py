"""A workdir's config.json: round trip, clear errors for missing or damaged ones, resumes."""

import pytest

from pic_tf import configs
from pic_tf.errors import CheckpointError
from pic_tf.errors import ConfigError
from pic_tf import overrides as overrides_lib
from pic_tf.storage import workdir as workdir_lib


def test_config_json_round_trip(tmp_path):
  cfg = overrides_lib.apply(configs.tiny(), ['model.nr_channels=8', 'dataset=folder:/x'])
  workdir_lib.save_config(cfg, str(tmp_path))
  assert workdir_lib.is_workdir(str(tmp_path))
  assert workdir_lib.load_config(str(tmp_path)) == cfg


def test_missing_config_json(tmp_path):
  assert not workdir_lib.is_workdir(str(tmp_path))
  with pytest.raises(CheckpointError, match='not a pic_tf workdir'):
    workdir_lib.load_config(str(tmp_path))


@pytest.mark.parametrize('text', ['{"model": {"nr_channels": 8', '', '[1, 2]',
                                  '{"model": {"width": 3}}', '{"train": {"flip": "never"}}'])
def test_damaged_config_json_names_the_file(tmp_path, text):
  (tmp_path / 'config.json').write_text(text)
  with pytest.raises(CheckpointError) as info:
    workdir_lib.load_config(str(tmp_path))
  message = str(info.value)
  print(message)
  assert str(tmp_path / 'config.json') in message and 'damaged' in message
  assert '\n' not in message


def test_prepare_resumes_only_the_same_run(tmp_path):
  cfg = configs.tiny()
  assert workdir_lib.prepare(cfg, str(tmp_path)) is False
  longer = overrides_lib.apply(cfg, ['train.num_steps=40', 'train.log_every=2'])
  assert workdir_lib.prepare(longer, str(tmp_path)) is True   # run length may change
  assert workdir_lib.load_config(str(tmp_path)) == longer
  other = overrides_lib.apply(cfg, ['train.learning_rate=0.01', 'model.nr_channels=8'])
  with pytest.raises(ConfigError, match='train.learning_rate .*model.nr_channels|'
                     'model.nr_channels.*train.learning_rate'):
    workdir_lib.prepare(other, str(tmp_path))
  assert workdir_lib.load_config(str(tmp_path)) == longer   # untouched
