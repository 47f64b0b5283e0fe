"""Every path flag of every program takes a path in any form a user types it: relative,
``./``, with a trailing slash, from ``~``, through a symlink, with spaces and non-ASCII
characters. All forms of one place reach the library as one absolute path to it.

Each program's flags are defined and parsed in a subprocess started in a scratch
directory (with ``HOME`` there too), as a user's shell starts the program.
"""

import json
import os
import pathlib
import re
import subprocess
import sys

import pytest

from pic_tf import storage
from pic_tf.errors import ConfigError
from pic_tf.storage import fileutil

REPO = pathlib.Path(__file__).resolve().parents[2]

PROGRAMS = ('train', 'eval', 'colorize', 'export', 'convert_original', 'benchmark')
# The flags that name a file or directory, and the dataset flags (folder:PATH).
PATH_FLAGS = {'workdir', 'data_dir', 'checkpoint', 'saved_model', 'output_dir', 'export_dir',
              'original_checkpoint', 'output_json', 'input', 'init_from'}
# A flag named like these that is not in PATH_FLAGS is a path flag this test misses.
LOOKS_LIKE_A_PATH = re.compile(r'(dir|path|json|checkpoint|model|input|file|_from)$')
TARGETS = ('runs/r', 'my runs/ünï cödé')

PARSE = '''
import json, sys
from absl import flags
import importlib
program = importlib.import_module('pic_tf.cli.' + sys.argv[1])
FLAGS = flags.FLAGS
before = set(FLAGS)
program.define_flags()
own = sorted(set(FLAGS) - before)
found = {}
for name, values in json.loads(sys.argv[2]).items():
  if name not in own:
    continue
  found[name] = []
  for value in values:
    FLAGS.unparse_flags()
    FLAGS(['program', f'--{name}={value}'])
    found[name].append(FLAGS[name].value)
print(json.dumps({'values': found, 'flags': own}))
'''


@pytest.fixture(scope='module')
def scratch(tmp_path_factory):
  scratch = tmp_path_factory.mktemp('scratch')
  for target in TARGETS:
    (scratch / target).mkdir(parents=True)
  (scratch / 'link').symlink_to(scratch / 'runs')
  return scratch


def _forms(target):
  """The ways a user types ``target`` (relative to the scratch directory = HOME)."""
  forms = [target, f'./{target}', f'{target}/', f'~/{target}', f'./{target}//']
  if target.startswith('runs/'):
    forms.append('link/' + target[len('runs/'):])
  return forms


def _parse(program, scratch, asked):
  """``program``'s own flags and the values it parses for ``asked`` (``{flag: [typed]}``),
  in a process started from ``scratch``, which is also HOME."""
  result = subprocess.run([sys.executable, '-c', PARSE, program, json.dumps(asked)],
                          cwd=scratch, env={**os.environ, 'HOME': str(scratch)},
                          capture_output=True, text=True, check=False, timeout=120)
  assert result.returncode == 0, result.stderr[-2000:]
  return json.loads(result.stdout)


@pytest.mark.parametrize('program', PROGRAMS)
def test_every_form_of_a_path_reaches_the_library_as_one_absolute_path(program, scratch):
  asked = {name: [form for target in TARGETS for form in _forms(target)]
           for name in PATH_FLAGS}
  asked['dataset'] = ['folder:' + form for target in TARGETS for form in _forms(target)]
  parsed = _parse(program, scratch, asked)
  missed = [n for n in parsed['flags'] if LOOKS_LIKE_A_PATH.search(n) and n not in PATH_FLAGS]
  assert not missed, f'path flags this test does not know: {missed}'
  assert parsed['values'], f'{program} has no path flag'
  for name, values in parsed['values'].items():
    start = 0
    for target in TARGETS:
      count = len(_forms(target))
      got = values[start:start + count]
      start += count
      if name == 'dataset':
        assert all(v.startswith('folder:') for v in got), got
        got = [v[len('folder:'):] for v in got]
      if name == 'input':   # a repeatable flag: one value each time
        got = [v[0] for v in got]
      print(f'{program} --{name}: {_forms(target)} -> {sorted(set(got))}')
      assert all(os.path.isabs(v) for v in got), (name, got)
      # One path for every form but the symlink's, which leads to the same place.
      assert len(set(got[:5])) == 1, (name, got)
      assert {os.path.realpath(v) for v in got} == {os.path.realpath(scratch / target)}, (
          name, got)


@pytest.mark.parametrize('program,flag', [('train', 'init_from'), ('eval', 'checkpoint'),
                                          ('colorize', 'checkpoint'), ('export', 'checkpoint')])
def test_demo_is_the_shipped_model_wherever_a_model_is_given(program, flag, scratch):
  """``demo`` is what ``pic_tf.load('demo')`` loads; a folder named so is ``./demo``."""
  values = _parse(program, scratch, {flag: ['demo', './demo', 'demo/']})['values'][flag]
  assert values == [storage.DEMO_MODEL, str(scratch / 'demo'), str(scratch / 'demo')]


def test_demo_where_a_demo_folder_is_too_asks_which(tmp_path, monkeypatch):
  """A run trained into --workdir=demo is not silently passed over for the shipped model."""
  (tmp_path / 'demo').mkdir()
  result = subprocess.run([sys.executable, str(REPO / 'bin' / 'eval'), '--checkpoint=demo'],
                          cwd=tmp_path, capture_output=True, text=True, check=False)
  assert result.returncode == 1
  assert result.stderr.strip().splitlines() == [
      'error: flag --checkpoint=demo: demo names the demo model shipped with pic_tf, but this '
      f'directory holds a demo too: give ./demo for that one, or {storage.DEMO_MODEL} for the '
      'shipped one; see --help']
  monkeypatch.chdir(tmp_path)
  with pytest.raises(ConfigError, match='give ./demo for that one'):
    storage.Source('demo')
  assert storage.Source('./demo').path == str(tmp_path / 'demo')


def test_user_path_keeps_what_is_not_a_path():
  assert fileutil.user_path(None) is None and fileutil.user_path('') == ''
  assert fileutil.user_path('/a/b/../c/') == '/a/c'
