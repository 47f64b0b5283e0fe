"""A workdir's config.json: round trip, clear errors for missing or damaged ones, resumes."""

import json
import os

import pytest

from pic_tf import configs
from pic_tf.errors import CheckpointError
from pic_tf.errors import ConfigError
from pic_tf.storage import workdir as workdir_lib


def test_config_json_round_trip(tmp_path):
  cfg = configs.override(configs.tiny(), ['model.nr_channels=8', 'dataset=folder:/x'])
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


def _check(config, workdir):
  """What bin/train checks before it resumes: ``config`` against the run ``workdir`` holds.
  Returns whether there is a run to resume."""
  resumed = workdir_lib.resumed_config(workdir)
  workdir_lib.check_resumable(config, resumed, workdir)
  return resumed is not None


def test_only_the_same_run_is_resumed(tmp_path):
  cfg = configs.tiny()
  assert _check(cfg, str(tmp_path)) is False
  assert not (tmp_path / 'config.json').exists()   # written once training can start
  workdir_lib.save_config(cfg, str(tmp_path))
  (tmp_path / 'ckpt-1.index').write_bytes(b'')     # a committed checkpoint
  longer = configs.override(cfg, ['train.num_steps=40', 'train.log_every=2',
                                  'train.learning_rate=1e-4'])
  # Run length, logging and (after a diverged step) the learning rate may change.
  assert _check(longer, str(tmp_path)) is True
  other = configs.override(cfg, ['train.lr_decay=0.9', 'model.nr_channels=8'])
  with pytest.raises(ConfigError, match='train.lr_decay .*model.nr_channels|'
                     'model.nr_channels.*train.lr_decay'):
    _check(other, str(tmp_path))
  assert workdir_lib.load_config(str(tmp_path)) == cfg   # untouched


def test_a_folder_named_relatively_by_an_older_run_is_the_same_folder(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  workdir = str(tmp_path / 'run')
  os.makedirs(workdir)
  workdir_lib.save_config(configs.override(configs.tiny(), ['dataset=folder:photos']), workdir)
  (tmp_path / 'run' / 'ckpt-1.index').write_bytes(b'')
  same = configs.override(configs.tiny(), [f'dataset=folder:{tmp_path}/photos'])
  assert _check(same, workdir) is True
  other = configs.override(configs.tiny(), [f'dataset=folder:{tmp_path}/fotos'])
  with pytest.raises(ConfigError, match='dataset'):
    _check(other, workdir)


def test_a_config_without_a_checkpoint_binds_nothing(tmp_path):
  """A first run that wrote its config and died before its first checkpoint (killed,
  diverged at step 1) does not refuse the corrected command."""
  workdir_lib.save_config(configs.tiny(), str(tmp_path))
  other = configs.override(configs.tiny(), ['model.nr_channels=8'])
  assert _check(other, str(tmp_path)) is False


@pytest.mark.parametrize('section,field,value', [('train', 'batch_size', 8.0),
                                                 ('model', 'nr_resnet', '2'),
                                                 ('train', 'deterministic', 1)])
def test_a_config_json_value_of_the_wrong_type_names_the_field(tmp_path, section, field, value):
  d = configs.tiny().to_dict()
  d[section][field] = value
  (tmp_path / 'config.json').write_text(json.dumps(d))
  with pytest.raises(CheckpointError, match=f'{section}.{field} must be a'):
    workdir_lib.load_config(str(tmp_path))
