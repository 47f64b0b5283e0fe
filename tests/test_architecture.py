"""Where things live: layers of folders, no import cycles, imports at the top, thin binaries.

The package is layered, from the bottom up (a module imports only its own layer and
those below; model/ is stricter and imports nothing of pic_tf but errors):

  0  errors, progress                  user errors, progress lines
  1  model/      the network's config, colour space, layers, networks, mixture,
                 objective, EMA, precisions by name
  2  data/       datasets by name, preprocessing, tf.data pipelines, image files
  3  configs                           Table 1's setups, the schema, overrides
  4  storage/    workdirs, loading any model source, conversion, result folders
     sampling/   samplers by name, the g^w baseline, full resolution, the pipeline
  5  training/   trainer, periodic actions, distribution strategies
  6  the programs' libraries and the Python API (colorize_lib, eval_lib, export_lib, api)
  7  bench/      the speed benchmarks: only cli/ imports it
  8  cli/        one module per program: nothing imports it
"""

import ast
import pathlib
import re
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = REPO / 'pic_tf'
FOLDER_LAYERS = {'model': 1, 'data': 2, 'storage': 4, 'sampling': 4, 'training': 5, 'bench': 7,
                 'cli': 8}
MODULE_LAYERS = {'errors': 0, 'progress': 0, 'configs': 3}   # else 6
MODEL_MAY_IMPORT = {'errors'}


def _modules():
  """``{dotted name under pic_tf: path}``; a folder's ``__init__`` is the folder's name."""
  found = {}
  for path in sorted(PACKAGE.rglob('*.py')):
    parts = path.relative_to(PACKAGE).with_suffix('').parts
    if parts == ('__init__',):
      continue
    name = '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)
    found[name] = path
  return found


def _imports(path, known=None):
  """``[(pic_tf module imported, ast node)]`` of one source file, at any depth.

  ``from pic_tf.sampling import cached`` names ``sampling.cached`` (a module), ``from
  pic_tf.errors import ConfigError`` names ``errors`` (a name in a module).
  """
  known = set(_modules()) if known is None else known
  found = []
  for node in ast.walk(ast.parse(path.read_text())):
    if isinstance(node, ast.ImportFrom) and (node.module or '').split('.')[0] == 'pic_tf':
      base = node.module[len('pic_tf.'):] if node.module != 'pic_tf' else ''
      for alias in node.names:
        name = f'{base}.{alias.name}' if base else alias.name
        found.append((name if name in known else base, node))
    elif isinstance(node, ast.Import):
      found.extend((a.name[len('pic_tf.'):], node) for a in node.names
                   if a.name.startswith('pic_tf.'))
  return found


def _graph():
  modules = _modules()
  return {name: {m for m, _ in _imports(path, set(modules)) if m and m != name}
          for name, path in modules.items()}


def _layer(module):
  folder = module.split('.')[0]
  if folder in FOLDER_LAYERS:
    return FOLDER_LAYERS[folder]
  return MODULE_LAYERS.get(module, 6)


def _layering_problems(graph):
  """Imports that break the layers of the module docstring, as readable lines."""
  problems = []
  for module, imported in sorted(graph.items()):
    for other in sorted(imported):
      if module.startswith('model') and other.split('.')[0] != 'model' and \
          other not in MODEL_MAY_IMPORT:
        problems.append(f'{module} imports {other}: model/ imports only errors')
      elif other.startswith('cli') and not module.startswith('cli'):
        problems.append(f'{module} imports {other}: nothing imports cli/')
      elif other.startswith('bench') and not module.startswith(('bench', 'cli')):
        problems.append(f'{module} imports {other}: only bench/ and cli/ import bench/')
      elif _layer(other) > _layer(module):
        problems.append(f'{module} (layer {_layer(module)}) imports {other} (layer '
                        f'{_layer(other)}), a higher layer')
  return problems


def _cycle(graph):
  """One import cycle of ``graph`` ({module: set of modules}) as a list, or None."""
  state = {}

  def visit(node, path):
    state[node] = 'open'
    for nxt in sorted(graph.get(node, ())):
      if state.get(nxt) == 'open':
        return path[path.index(nxt):] + [nxt]
      if nxt not in state:
        found = visit(nxt, path + [nxt])
        if found:
          return found
    state[node] = 'done'
    return None

  for start in sorted(graph):
    if start not in state:
      found = visit(start, [start])
      if found:
        return found
  return None


def _folder_graph(graph):
  """The graph between folders (a top-level module is a node of its own)."""
  folders = {}
  for module, imported in graph.items():
    a = module.split('.')[0]
    folders.setdefault(a, set()).update(m.split('.')[0] for m in imported
                                        if m.split('.')[0] != a)
  return folders


def test_cycle_finder_finds_a_cycle():
  assert _cycle({'a': {'b'}, 'b': {'c'}, 'c': {'a'}}) == ['a', 'b', 'c', 'a']
  assert _cycle({'a': {'b'}, 'b': {'c'}, 'c': set()}) is None


@pytest.mark.parametrize('edge,message', [
    (('model.networks', 'training.trainer'), 'model/ imports only errors'),
    (('model.networks', 'configs'), 'model/ imports only errors'),
    (('sampling.cached', 'bench.modes'), 'only bench/ and cli/ import bench/'),
    (('colorize_lib', 'cli.common'), 'nothing imports cli/'),
    (('storage.loading', 'training.trainer'), 'a higher layer'),
    (('data.datasets', 'configs'), 'a higher layer'),
])
def test_layering_check_catches_each_kind_of_wrong_import(edge, message):
  graph = _graph()
  assert _layering_problems(graph) == []
  graph[edge[0]] = graph[edge[0]] | {edge[1]}
  problems = _layering_problems(graph)
  assert len(problems) == 1 and message in problems[0], problems


def test_the_package_keeps_its_layers():
  problems = _layering_problems(_graph())
  assert not problems, '\n'.join(problems)


def test_no_import_cycles_between_modules_or_folders():
  graph = _graph()
  assert _cycle(graph) is None, f'import cycle: {" -> ".join(_cycle(graph))}'
  folders = _folder_graph(graph)
  assert _cycle(folders) is None, f'folder cycle: {" -> ".join(_cycle(folders))}'


def test_every_module_has_a_layer_and_tests_mirror_the_folders():
  for module in _modules():
    folder = module.split('.')[0]
    assert '.' not in module or folder in FOLDER_LAYERS, f'{module}: folder without a layer'
  for folder in FOLDER_LAYERS:
    assert (REPO / 'tests' / folder).is_dir(), f'tests/{folder}/ is missing'
    assert list((REPO / 'tests' / folder).glob('test_*.py')), f'tests/{folder}/ holds no test'


def _nested_imports(tree):
  """Import statements inside functions or classes."""
  nested = []
  for node in ast.walk(tree):
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
      for inner in ast.walk(node):
        if isinstance(inner, (ast.Import, ast.ImportFrom)):
          nested.append(inner)
  return nested


def test_imports_inside_functions_state_their_reason():
  """An import below the top of a module has a comment saying why, on the line above; the
  programs' late imports of the library have one reason, stated once by pic_tf.cli."""
  assert 'once its flags are checked' in (PACKAGE / 'cli' / '__init__.py').read_text()
  programs = [p for p in (PACKAGE / 'cli').glob('*.py') if p.stem not in ('__init__', 'common')]
  unexplained = []
  for path in list(_modules().values()) + sorted((REPO / 'bin').iterdir()):
    if path in programs:
      continue
    lines = path.read_text().splitlines()
    for node in _nested_imports(ast.parse('\n'.join(lines))):
      above = lines[node.lineno - 2].strip()
      if not above.startswith('#'):
        unexplained.append(f'{path.relative_to(REPO)}:{node.lineno}: {lines[node.lineno - 1]}')
  assert not unexplained, '\n'.join(unexplained)


def test_binaries_are_thin():
  """bin/<name> only runs pic_tf.cli.<name>; no program imports TensorFlow before its flags
  are checked (``--help`` and flag errors answer at once)."""
  programs = sorted(p.name for p in (REPO / 'bin').iterdir())
  assert programs == sorted(p.stem for p in (PACKAGE / 'cli').glob('*.py')
                            if p.stem not in ('__init__', 'common'))
  for name in programs:
    assert [m for m, _ in _imports(REPO / 'bin' / name)] == [f'cli.{name}'], name
  script = ('import sys\n' + ''.join(f'import pic_tf.cli.{n}\n' for n in programs) +
            'print(sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras")))')
  result = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                          check=True, cwd=REPO)
  assert result.stdout.strip() == '[]', result.stdout[:300]


def test_no_function_takes_a_long_list_of_parameters():
  """Library calls read: keyword arguments or one options object, never long lists."""
  long = []
  for name, path in _modules().items():
    for node in ast.walk(ast.parse(path.read_text())):
      if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        args = node.args
        count = len(args.posonlyargs) + len(args.args) + len(args.kwonlyargs)
        count -= bool(args.args and args.args[0].arg in ('self', 'cls'))
        if count > 10:
          long.append(f'{name}.{node.name}: {count} parameters')
  assert not long, '\n'.join(long)


def test_the_library_names_no_flag():
  """Messages that name a flag live in cli/: the library speaks of its own parameters."""
  found = []
  for name, path in _modules().items():
    if name.split('.')[0] in ('cli', 'bench'):
      continue
    tree = ast.parse(path.read_text())
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef)) and node.body
                  and isinstance(node.body[0], ast.Expr)}
    for node in ast.walk(tree):
      if (isinstance(node, ast.Constant) and isinstance(node.value, str) and
          id(node) not in docstrings and re.search(r'(^|[\s(`])--[a-z]', node.value)):
        found.append(f'{name}:{node.lineno}: {node.value[:60]!r}')
  assert not found, '\n'.join(found)
