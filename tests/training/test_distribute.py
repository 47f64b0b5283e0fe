"""Strategies by name, with clear errors (the multi-worker run is in test_train_lib)."""

import pytest
import tensorflow as tf

from pic_tf.errors import ConfigError
from pic_tf.training import distribute


def test_strategies_by_name(monkeypatch):
  assert distribute.make_strategy('default') is tf.distribute.get_strategy()
  assert distribute.is_chief(distribute.make_strategy('default'))
  with pytest.raises(ConfigError, match="unknown strategy 'gpu'"):
    distribute.make_strategy('gpu')
  monkeypatch.delenv('TF_CONFIG', raising=False)
  with pytest.raises(ConfigError, match='needs TF_CONFIG'):
    distribute.make_strategy('multi_worker')
  assert distribute.task_id() == 0
  monkeypatch.setenv('TF_CONFIG', '{"task": {"type": "worker", "index": 3}}')
  assert distribute.task_id() == 3


@pytest.mark.parametrize('value,match', [('{bad json', 'TF_CONFIG is not JSON'),
                                         ('[1, 2]', 'TF_CONFIG must be'),
                                         ('{"cluster": 3}', 'TF_CONFIG must be'),
                                         ('{"task": {"index": "0"}}', 'TF_CONFIG must be'),
                                         ('{"task": {"index": 0}}', 'has no "cluster"')])
def test_a_malformed_tf_config_is_one_clear_error(monkeypatch, value, match):
  monkeypatch.setenv('TF_CONFIG', value)
  with pytest.raises(ConfigError, match=match):
    distribute.make_strategy('multi_worker')
