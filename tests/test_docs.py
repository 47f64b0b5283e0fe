"""README.md, BUILD.md and tests/README.md stay true: README's commands run as written,
and every flag a documented command passes exists."""

import ast
import dataclasses
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

from pic_tf import sampling
from pic_tf import training

REPO = pathlib.Path(__file__).resolve().parents[1]
DOCS = ('README.md', 'BUILD.md', 'tests/README.md')
# Flags every binary has: absl's own, and those the cli helpers define.
ABSL_FLAGS = {'help', 'helpfull', 'helpshort', 'helpxml', 'flagfile', 'undefok'}
HELPER_FLAGS = {'define_config_flags': {'config', 'set'},
                'define_inference_flags': {'precision', 'jit'}}


def program(name):
  return REPO / 'pic_tf' / 'cli' / f'{name}.py'


def binary_flags(name):
  """The flags ``bin/<name>`` (:mod:`pic_tf.cli.<name>`) defines (``--noX`` forms of
  booleans included)."""
  tree = ast.parse(program(name).read_text())
  found, booleans = set(ABSL_FLAGS), set()
  for node in ast.walk(tree):
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
      if node.func.attr.startswith('DEFINE_') and node.args and \
          isinstance(node.args[0], ast.Constant):
        found.add(node.args[0].value)
        if node.func.attr == 'DEFINE_bool':
          booleans.add(node.args[0].value)
      found |= HELPER_FLAGS.get(node.func.attr, set())
  if 'define_inference_flags' in program(name).read_text():
    booleans.add('jit')
  return found | {'no' + b for b in booleans}


def documented_commands(text):
  """``(binary, [flags])`` of every ``bin/NAME ...`` command in ``text`` (continuation
  lines joined; in prose, up to the closing backquote)."""
  joined = re.sub(r'\\\n\s*', ' ', text)
  commands = []
  for match in re.finditer(r'(?:^|[\s`(])bin/(\w+)((?:[ \t]+(?:--[\w-]+(?:=\S*)?|\S+))*)',
                           joined, re.M):
    args = match.group(2).split('`')[0].split('#')[0]
    flags = re.findall(r'(?:^|\s)--([\w-]+)', args)
    commands.append((match.group(1), flags))
  return commands


@pytest.mark.parametrize('doc', DOCS)
def test_every_documented_flag_is_defined_by_its_binary(doc):
  binaries = {p.name for p in (REPO / 'bin').iterdir()}
  commands = documented_commands((REPO / doc).read_text())
  assert len(commands) > 1
  unknown = []
  for binary, flags in commands:
    assert binary in binaries, f'{doc} runs bin/{binary}, which does not exist'
    defined = binary_flags(binary)
    unknown += [f'bin/{binary} --{f}' for f in flags if f not in defined]
  assert not unknown, f'{doc} passes flags the binaries do not define: {sorted(set(unknown))}'


def test_the_check_catches_a_renamed_flag():
  text = 'Run `bin/colorize --input=a.png --num_sample=4 --output_dir=x`.\n'
  (binary, flags), = documented_commands(text)
  assert binary == 'colorize' and flags == ['input', 'num_sample', 'output_dir']
  assert 'num_sample' not in binary_flags('colorize')
  assert {'input', 'output_dir', 'num_samples', 'config', 'nodownload'} <= binary_flags(
      'colorize')


def flag_tables(text):
  """``{binary: set of flags}`` of the flag table under each ``### bin/NAME`` heading."""
  tables = {}
  for section in re.split(r'^### ', text, flags=re.M)[1:]:
    heading, _, body = section.partition('\n')
    match = re.fullmatch(r'bin/(\w+)', heading.strip())
    if match:
      rows = [line.split('|')[1] for line in body.split('\n## ')[0].splitlines()
              if line.startswith('| `--')]
      tables[match.group(1)] = {f for cell in rows for f in re.findall(r'`--([\w-]+)`', cell)}
  return tables


def own_flags(binary):
  defined = binary_flags(binary) - ABSL_FLAGS
  return {f for f in defined if not (f.startswith('no') and f[2:] in defined)}


def test_each_binary_has_a_flag_table_of_exactly_its_flags():
  tables = flag_tables((REPO / 'BUILD.md').read_text())
  assert set(tables) == {p.name for p in (REPO / 'bin').iterdir()}
  for binary, documented in tables.items():
    defined = own_flags(binary)
    assert documented == defined, (f'bin/{binary}: BUILD.md lists {sorted(documented - defined)} '
                                   f'it does not define, and misses {sorted(defined - documented)}')


def test_the_table_check_catches_a_missing_and_an_extra_flag():
  text = '### bin/export\n\n| flag |\n|---|\n| `--checkpoint` | |\n| `--export_dirs` | |\n'
  documented = flag_tables(text)['export']
  assert documented == {'checkpoint', 'export_dirs'} != own_flags('export')


def code_defaults(binary):
  """``{flag: default}`` of the flags ``bin/<binary>`` defines with a literal default."""
  defaults = {'precision': 'float32', 'jit': False}   # define_inference_flags
  named = {'DEFAULT_SAMPLER': sampling.DEFAULT_SAMPLER, 'AUTO': training.AUTO,
           **dataclasses.asdict(sampling.RequestLimits())}   # DEFAULT_LIMITS.max_pixels, ...
  for node in ast.walk(ast.parse(program(binary).read_text())):
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and
        node.func.attr.startswith('DEFINE_') and len(node.args) > 1 and
        isinstance(node.args[0], ast.Constant)):
      value = node.args[1]
      if isinstance(value, ast.Constant):
        defaults[node.args[0].value] = value.value
      elif isinstance(value, ast.Attribute) and value.attr in named:
        defaults[node.args[0].value] = named[value.attr]
  return defaults


def documented_defaults(text):
  """``{binary: {flag: default}}`` of the flag tables' literal defaults (numbers,
  true/false, one backquoted word); prose such as "the config's" is left out."""
  found = {}
  for section in re.split(r'^### ', text, flags=re.M)[1:]:
    heading, _, body = section.partition('\n')
    match = re.fullmatch(r'bin/(\w+)', heading.strip())
    if not match:
      continue
    table = found.setdefault(match.group(1), {})
    for line in body.split('\n## ')[0].splitlines():
      if not line.startswith('| `--'):
        continue
      names = re.findall(r'`--([\w-]+)`', line.split('|')[1])
      values = [v.strip().strip('`') for v in line.split('|')[2].split(',')]
      if len(values) != len(names):
        continue
      for name, value in zip(names, values):
        if re.fullmatch(r'-?\d+', value):
          table[name] = int(value)
        elif re.fullmatch(r'-?\d+\.\d*', value):
          table[name] = float(value)
        elif value in ('true', 'false'):
          table[name] = value == 'true'
        elif re.fullmatch(r'\w+', value) and value not in ('all', 'none'):
          table[name] = value
  return found


def test_the_defaults_build_md_states_are_the_codes():
  tables = documented_defaults((REPO / 'BUILD.md').read_text())
  checked = 0
  for binary, documented in tables.items():
    defaults = code_defaults(binary)
    for name, value in documented.items():
      assert defaults.get(name) == value, f'bin/{binary} --{name}: BUILD.md {value!r}, ' \
                                          f'code {defaults.get(name)!r}'
      checked += 1
  assert checked > 20


def test_the_defaults_check_catches_a_wrong_default():
  text = '### bin/colorize\n\n| flag | default |\n|---|---|\n| `--num_samples` | 5 | |\n'
  assert documented_defaults(text)['colorize'] == {'num_samples': 5}
  assert code_defaults('colorize')['num_samples'] != 5


def test_readme_commands_run_as_written_in_order(tmp_path):
  """README's commands after the install, in a scratch clone, as a newcomer runs them:
  offline (no dataset directory to fall back on), with a photo of their own."""
  clone = tmp_path / 'clone'
  clone.mkdir()
  for name in ('bin', 'pic_tf'):
    os.symlink(REPO / name, clone / name)
  os.symlink(sys.prefix, clone / '.venv')   # the install, done
  shutil.copy(REPO / 'testdata' / 'scene_500x375.jpg', clone / 'photo.jpg')
  env = {k: v for k, v in os.environ.items() if k not in ('TF_CPP_MIN_LOG_LEVEL',
                                                          'TFDS_DATA_DIR')}
  env['HOME'] = str(tmp_path)
  readme = (REPO / 'README.md').read_text()
  commands = []
  for kind, block in re.findall(r'```(sh|python)\n(.*?)```', readme, re.S):
    if kind == 'python':
      (clone / 'readme.py').write_text(block)
      commands.append('.venv/bin/python readme.py')
    elif 'pytest' not in block:   # the test command is what runs this test
      commands += [c.strip() for c in block.split('&&')
                   if 'venv' not in c.split()[:3] and 'pip install' not in c]
  assert len(commands) == 3, commands
  transcript = []
  for command in commands:
    result = subprocess.run(command, shell=True, cwd=clone, env=env, capture_output=True,
                            text=True, check=False)
    transcript.append(f'{result.returncode}  {command}')
    assert result.returncode == 0, '\n'.join(transcript) + '\n' + result.stderr[-3000:]
    if command.startswith('.venv/bin/python bin/'):   # the programs quiet TensorFlow
      for noise in ('cuda', 'onednn', 'absl::initializelog', 'cpu_feature_guard', 'deprecat'):
        assert noise not in result.stderr.lower(), result.stderr
  print('\n'.join(transcript))
  assert (clone / 'colorized' / 'cifar10_bundled_test_grid.png').exists()
  assert len(list((clone / 'colorized').glob('*_sample*.png'))) == 16 * 4
  assert len(list((clone / 'my_photos').glob('photo.jpg_sample*.png'))) == 4
