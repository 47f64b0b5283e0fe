"""CLI helpers: config resolution and clean error exits."""

import subprocess
import sys
import textwrap

import pytest

from pic_tf import cli
from pic_tf.errors import ConfigError


def test_resolve_config_from_dataset():
  assert cli.resolve_config(None, dataset='cifar10').name == 'cifar10'
  assert cli.resolve_config(None, dataset='imagenet2012').name == 'imagenet'
  assert cli.resolve_config('tiny', ['train.batch_size=2']).train.batch_size == 2
  assert cli.resolve_config('tiny', dataset='folder:/p').dataset == 'folder:/p'
  with pytest.raises(ConfigError, match='needs --config'):
    cli.resolve_config(None, dataset='folder:/p')
  with pytest.raises(ConfigError, match='unknown dataset'):
    cli.resolve_config(None, dataset='mnist')
  with pytest.raises(ConfigError, match='unknown config'):
    cli.resolve_config('huge')


def test_user_errors_exit_1_with_one_message():
  script = textwrap.dedent('''
      from pic_tf import cli, errors
      def main(argv):
        raise errors.DatasetError('the dataset is missing; pass --data_dir')
      cli.run(main)
  ''')
  result = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                          check=False)
  assert result.returncode == 1
  assert result.stderr.strip().endswith('error: the dataset is missing; pass --data_dir')
  assert 'Traceback' not in result.stderr
