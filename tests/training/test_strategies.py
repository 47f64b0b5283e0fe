"""Strategies by name, with clear errors (the multi-worker run is in test_train_lib)."""

import pytest
import tensorflow as tf

from pic_tf.errors import ConfigError
from pic_tf.training import plan


def test_strategies_by_name(monkeypatch):
  assert plan.make_strategy('default') is tf.distribute.get_strategy()
  assert plan.is_chief(plan.make_strategy('default'))
  with pytest.raises(ConfigError, match="unknown strategy 'gpu'"):
    plan.make_strategy('gpu')
  monkeypatch.delenv('TF_CONFIG', raising=False)
  with pytest.raises(ConfigError, match='needs TF_CONFIG'):
    plan.make_strategy('multi_worker')
  assert plan.task_id() == 0
  monkeypatch.setenv('TF_CONFIG', '{"task": {"type": "worker", "index": 3}}')
  assert plan.task_id() == 3


@pytest.mark.parametrize('value,match', [('{bad json', 'TF_CONFIG is not JSON'),
                                         ('[1, 2]', 'TF_CONFIG must be'),
                                         ('{"cluster": 3}', 'TF_CONFIG must be'),
                                         ('{"task": {"index": "0"}}', 'TF_CONFIG must be'),
                                         ('{"task": {"index": 0}}', 'has no "cluster"')])
def test_a_malformed_tf_config_is_one_clear_error(monkeypatch, value, match):
  monkeypatch.setenv('TF_CONFIG', value)
  with pytest.raises(ConfigError, match=match):
    plan.make_strategy('multi_worker')
