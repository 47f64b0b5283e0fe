"""Where things live: no import cycles, imports at the top, small modules, thin binaries."""

import ast
import pathlib

REPO = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = REPO / 'pic_tf'


def _modules():
  return {p.stem: p for p in sorted(PACKAGE.glob('*.py')) if p.stem != '__init__'}


def _imports(path):
  """``[(module imported from pic_tf, ast node)]`` of one source file, at any depth."""
  found = []
  for node in ast.walk(ast.parse(path.read_text())):
    if isinstance(node, ast.ImportFrom) and node.module == 'pic_tf':
      found.extend((alias.name, node) for alias in node.names)
    elif isinstance(node, ast.ImportFrom) and (node.module or '').startswith('pic_tf.'):
      found.append((node.module.split('.')[1], node))
    elif isinstance(node, ast.Import):
      found.extend((a.name.split('.')[1], node) for a in node.names
                   if a.name.startswith('pic_tf.'))
  return found


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


def test_cycle_finder_finds_a_cycle():
  assert _cycle({'a': {'b'}, 'b': {'c'}, 'c': {'a'}}) == ['a', 'b', 'c', 'a']
  assert _cycle({'a': {'b'}, 'b': {'c'}, 'c': set()}) is None


def test_no_import_cycles_in_the_package():
  graph = {name: {m for m, _ in _imports(path)} for name, path in _modules().items()}
  assert _cycle(graph) is None, f'import cycle: {" -> ".join(_cycle(graph))}'


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
    assert set(top) <= {'cli', 'configs', 'fileutil'}, f'bin/{path.name} imports {top} at the top'
