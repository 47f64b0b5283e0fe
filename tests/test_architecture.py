"""Where things live: layers of folders, no import cycles, imports at the top, thin binaries.

The package is layered, from the bottom up (a module imports only its own layer and
those below; model/ is stricter and imports nothing of pic_tf but configs and errors):

  0  configs, overrides, options, errors, progress, cli   the config system, the options
     objects and choice lists of the binaries, their helpers
  1  model/      colour space, layers, networks, mixture, objective, EMA, precision
  2  storage/    atomic files, workdirs, checkpoints, conversion of the original's
  3  data/       datasets and image files
  4  sampling/   samplers, the g^w baseline, full resolution, the colourise pipeline
  5  training/   trainer, periodic actions, distribution strategies
  6  the binaries' libraries and the Python API (colorize_lib, eval_lib, export_lib, api)
  7  bench/      the benchmark lab: nothing outside it imports it
"""

import ast
import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = REPO / 'pic_tf'
FOLDER_LAYERS = {'model': 1, 'storage': 2, 'data': 3, 'sampling': 4, 'training': 5, 'bench': 7}
BASE_MODULES = {'configs', 'overrides', 'options', 'errors', 'progress', 'cli'}   # layer 0
MODEL_MAY_IMPORT = {'configs', 'errors'}


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
  return 0 if module in BASE_MODULES else 6


def _layering_problems(graph):
  """Imports that break the layers of the module docstring, as readable lines."""
  problems = []
  for module, imported in sorted(graph.items()):
    for other in sorted(imported):
      if module.startswith('model') and other.split('.')[0] != 'model' and \
          other not in MODEL_MAY_IMPORT:
        problems.append(f'{module} imports {other}: model/ imports only configs and errors')
      elif other.startswith('bench') and not module.startswith('bench'):
        problems.append(f'{module} imports {other}: only bench/ imports bench/')
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
    (('model.networks', 'training.trainer'), 'model/ imports only configs and errors'),
    (('model.networks', 'storage.fileutil'), 'model/ imports only configs and errors'),
    (('sampling.cached', 'bench.stats'), 'only bench/ imports bench/'),
    (('colorize_lib', 'bench.modes'), 'only bench/ imports bench/'),
    (('storage.checkpoints', 'sampling.fullres'), 'a higher layer'),
    (('data.datasets', 'colorize_lib'), 'a higher layer'),
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
  """An import below the top of a module has a comment saying why, on the line above."""
  unexplained = []
  for path in list(_modules().values()) + sorted((REPO / 'bin').iterdir()):
    lines = path.read_text().splitlines()
    for node in _nested_imports(ast.parse('\n'.join(lines))):
      above = lines[node.lineno - 2].strip()
      if not above.startswith('#'):
        unexplained.append(f'{path.relative_to(REPO)}:{node.lineno}: {lines[node.lineno - 1]}')
  assert not unexplained, '\n'.join(unexplained)


def test_binaries_are_thin():
  for path in sorted((REPO / 'bin').iterdir()):
    # Flags in, one library call out: no binary imports pic_tf's TensorFlow modules at the top.
    top = [m for m, node in _imports(path) if node.col_offset == 0]
    assert set(top) <= {'cli', 'configs', 'options', 'storage.fileutil'}, f'bin/{path.name} imports {top} at the top'


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
