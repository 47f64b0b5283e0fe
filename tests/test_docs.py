"""README.md and BUILD.md stay true: every flag a documented command passes exists."""

import ast
import pathlib
import re

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
DOCS = ('README.md', 'BUILD.md')
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
  assert len(commands) > 3
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
