"""CLI helpers: config resolution and clean error exits."""

import importlib
import inspect
import os
import pathlib
import re
import subprocess
import sys
import textwrap

import pytest

from pic_tf.cli import common as cli
from pic_tf import storage
from pic_tf.errors import ConfigError


def test_resolve_config_from_dataset():
  assert cli.resolve_config(None, dataset='cifar10').name == 'cifar10'
  assert cli.resolve_config(None, dataset='imagenet2012').name == 'imagenet'
  assert cli.resolve_config('tiny', ['train.batch_size=2']).train.batch_size == 2
  assert cli.resolve_config('tiny', dataset='folder:/p').dataset == 'folder:/p'
  with pytest.raises(ConfigError, match='needs --config'):
    cli.resolve_config(None, dataset='folder:/p')
  with pytest.raises(ConfigError, match='unknown dataset') as info:
    cli.resolve_config(None, dataset='mnist')
  # Training is offered only what it takes.
  assert 'cifar10_bundled' not in str(info.value) and 'folder:PATH' in str(info.value)
  for config in (None, 'tiny'):
    with pytest.raises(ConfigError, match='cifar10_bundled has no train split'):
      cli.resolve_config(config, dataset='cifar10_bundled')
  with pytest.raises(ConfigError, match='unknown config'):
    cli.resolve_config('huge')


def test_user_errors_exit_1_with_one_message():
  script = textwrap.dedent('''
      from pic_tf import errors
      from pic_tf.cli import common as cli
      def main(argv):
        raise errors.DatasetError('the dataset is missing; pass --data_dir')
      cli.run(main, lambda: None, 'doc')
  ''')
  result = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                          check=False)
  assert result.returncode == 1
  assert result.stderr.strip().endswith('error: the dataset is missing; pass --data_dir')
  assert 'Traceback' not in result.stderr


def test_a_full_disk_is_one_line():
  script = textwrap.dedent('''
      import errno
      from pic_tf.cli import common as cli
      def main(argv):
        raise OSError(errno.ENOSPC, 'No space left on device', '/data/out/a.png')
      cli.run(main, lambda: None, 'doc')
  ''')
  result = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                          check=False)
  assert result.returncode == 1 and 'Traceback' not in result.stderr
  assert result.stderr.strip().splitlines()[-1] == (
      'error: cannot write /data/out/a.png: No space left on device; free some space or write '
      'somewhere else')


def test_a_bug_is_one_line_that_says_how_to_get_its_traceback():
  script = 'from pic_tf.cli import common as cli\ndef main(argv):\n  raise KeyError("a bug")\ncli.run(main, lambda: None, "doc")'
  result = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                          check=False)
  assert result.returncode == 1 and 'Traceback' not in result.stderr
  assert result.stderr.strip().splitlines() == [
      "error: KeyError: 'a bug' (this is a bug in pic_tf: rerun with PIC_TF_TRACEBACK=1 and "
      'report the traceback)']
  # The advice works.
  result = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                          check=False, env={**os.environ, 'PIC_TF_TRACEBACK': '1'})
  assert result.returncode == 1 and 'Traceback' in result.stderr and 'a bug' in result.stderr


def test_ctrl_c_is_one_line_and_status_130():
  script = 'from pic_tf.cli import common as cli\ndef main(argv):\n  raise KeyboardInterrupt\ncli.run(main, lambda: None, "doc")'
  result = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                          check=False)
  assert result.returncode == 130, result.stderr
  assert result.stderr.strip() == 'interrupted' and 'Traceback' not in result.stderr


BINARIES = ('train', 'eval', 'colorize', 'export', 'convert_original', 'benchmark')


def cli_bin(name):
  return pathlib.Path(__file__).resolve().parents[2] / 'bin' / name


def _run_bin(name, *args):
  return subprocess.run([sys.executable, str(cli_bin(name)), *args], capture_output=True,
                        text=True, check=False)


@pytest.mark.parametrize('name', BINARIES)
def test_help_exits_0_and_lists_the_binarys_flags(name):
  result = _run_bin(name, '--help')
  assert result.returncode == 0, result.stderr
  program = importlib.import_module(f'pic_tf.cli.{name}')
  assert program.__doc__.strip() in result.stdout
  defined = set(re.findall(r"DEFINE_\w+\(\s*'(\w+)'", inspect.getsource(program)))
  if 'define_config_flags' in inspect.getsource(program):
    defined |= {'config', 'set'}
  if 'define_inference_flags' in inspect.getsource(program):
    defined |= {'precision', 'jit'}
  shown = set(re.findall(r'^  --(?:\[no\])?(\w+):', result.stdout, re.M))
  assert shown == defined, (sorted(defined - shown), sorted(shown - defined))
  if name != 'benchmark':   # benchmarks build their own configs
    assert '--config:' in result.stdout and '--set:' in result.stdout
  assert 'tensorflow' not in result.stderr.lower()


def test_help_shows_the_commands_as_the_program_was_started():
  """Run as a console script or a module, the help's examples are written that way."""
  script = pathlib.Path(sys.executable).parent / 'pic-tf-convert-original'
  if not script.exists():
    pytest.skip('the package is not installed with its console scripts')
  runs = {'pic-tf-convert-original --original_checkpoint': [str(script)],
          'python -m pic_tf.cli.convert_original --original_checkpoint':
              [sys.executable, '-m', 'pic_tf.cli.convert_original']}
  for example, command in runs.items():
    result = subprocess.run(command + ['--help'], capture_output=True, text=True, check=False)
    assert result.returncode == 0 and example in result.stdout, result.stdout
    assert 'bin/' not in result.stdout, command
  # So do its error messages (the demo model is a workdir: it needs no conversion).
  result = subprocess.run([str(script), f'--original_checkpoint={storage.DEMO_MODEL}',
                           '--output_dir=unused'], capture_output=True, text=True, check=False)
  assert result.returncode == 1 and 'to pic-tf-colorize, pic-tf-eval or pic-tf-export' in (
      result.stderr), result.stderr
  assert 'bin/' not in result.stderr.replace(str(script.parent), '')


def test_a_mistyped_or_bad_flag_is_one_line():
  """absl's own parsing errors, as every other error: one ``error:`` line, status 1."""
  cases = {('--datset=cifar10', '--workdir=w'):
               'error: unknown flag --datset (did you mean --dataset?); see --help',
           ('--num_steps=many',):
               "error: flag --num_steps=many: invalid literal for int() with base 10: 'many'; "
               'see --help'}
  for args, message in cases.items():
    result = _run_bin('train', *args)
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip().splitlines() == [message]


def test_an_unknown_flag_suggests_this_programs_flags_only():
  """bin/train's --workdir carried over to the programs that read a workdir points to
  their --checkpoint, and bin/colorize's --num_images to bin/eval's --num_examples (and
  back); absl's own flags (--log_dir) are never suggested."""
  cases = {('eval', '--workdir=runs/tiny'): '--workdir (did you mean --checkpoint?)',
           ('colorize', '--workdir=runs/tiny'): '--workdir (did you mean --checkpoint?)',
           ('convert_original', '--workdir=w'): '--workdir (did you mean --output_dir?)',
           ('train', '--output_dir=w'): '--output_dir (did you mean --workdir?)',
           ('eval', '--num_images=16'): '--num_images (did you mean --num_examples?)',
           ('colorize', '--num_examples=16'): '--num_examples (did you mean --num_images?)',
           ('train', '--logdir=w'): '--logdir'}
  for (name, arg), unknown in cases.items():
    result = _run_bin(name, arg)
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip().splitlines() == [f'error: unknown flag {unknown}; see --help']


def test_help_texts_read_as_written():
  """No runs of spaces where absl or a continued line joined text; repeatable flags and
  positional inputs are said."""
  for name in BINARIES:
    text = _run_bin(name, '--help').stdout
    flags_part = text[text.index('\nflags:\n'):]
    assert not re.search(r'\S {2,}', flags_part), (name, re.findall(r'.*\S {2,}.*', flags_part))
    assert not re.search(r'\w\.;', flags_part), name
    # A command continued with a backslash stays on two lines.
    assert not re.search(r'\S {2,}--', text[:text.index('\nflags:\n')]), name
  text = _run_bin('colorize', '--help').stdout
  assert 'bin/colorize photo.jpg album/ --output_dir=' in text
  assert re.search(r'--input: .*repeatable; also as\s+arguments', text)
  assert 'repeat this option' not in _run_bin('train', '--help').stdout


def test_bad_inputs_are_one_line_and_exit_1(tmp_path):
  a_file = tmp_path / 'a_file'
  a_file.write_text('not a directory')
  cases = [
      (('train', '--config=tiny', f'--workdir={tmp_path / "w"}', '--num_steps=-5'),
       'error: --num_steps must be positive, got -5'),
      (('train', '--config=tiny', f'--workdir={tmp_path / "w"}', '--set=train.eval_every=-1'),
       'error: train.eval_every must be >= 0'),
      (('colorize', '--dataset=cifar10_bundled', f'--output_dir={a_file}'),
       f'error: --output_dir {a_file} is (or lies under) a file'),
      (('colorize', '--dataset=cifar10_bundled', f'--output_dir={a_file / "sub"}'),
       f'error: --output_dir {a_file / "sub"} is (or lies under) a file'),
      (('train', '--config=tiny', f'--workdir={tmp_path}', 'stray'),
       "error: unexpected arguments: ['stray']"),
  ]
  for args, message in cases:
    result = _run_bin(*args)
    assert result.returncode == 1, (args, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), (args, result.stderr)
  assert not (tmp_path / 'w').exists()


def test_readmes_photo_example_without_the_photo_leaves_no_folder(tmp_path):
  """README's own command, run where there is no photo.jpg: one error line, status 1,
  and no empty output folder left behind."""
  result = subprocess.run([sys.executable, str(cli_bin('colorize')), '--input=photo.jpg',
                           '--num_samples=4', '--output_dir=my_photos'], cwd=tmp_path,
                          capture_output=True, text=True, check=False)
  assert result.returncode == 1, result.stderr
  errors = [line for line in result.stderr.splitlines() if line.startswith('error: ')]
  assert errors == [f'error: {tmp_path / "photo.jpg"}: no such file'], result.stderr
  assert os.listdir(tmp_path) == []
