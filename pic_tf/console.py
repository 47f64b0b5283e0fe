"""Console scripts: ``pic-tf-train``, ``pic-tf-eval``, ... on PATH after ``pip install``.

Each runs the binary of the same name in ``bin/`` as it is, flags and all: the wheel
carries the scripts in ``pic_tf/_bin/bin/`` (setup.py copies them there, one level down
so that the folder a script puts on ``sys.path`` holds no module); an editable install
runs them from the checkout's ``bin/``.

  pic-tf-colorize --dataset=cifar10_bundled --num_images=4 --output_dir=colorized
"""

import os
import runpy
import sys

BINARIES = ('train', 'eval', 'colorize', 'export', 'convert_original', 'benchmark')
_HERE = os.path.dirname(os.path.abspath(__file__))


def script_path(name):
  """The ``bin/<name>`` script: the wheel's copy, else the checkout's."""
  for folder in (os.path.join(_HERE, '_bin', 'bin'), os.path.join(os.path.dirname(_HERE), 'bin')):
    path = os.path.join(folder, name)
    if os.path.isfile(path):
      return path
  raise FileNotFoundError(f'bin/{name} is not installed with pic_tf ({_HERE}); reinstall it '
                          'with pip install .')


def _run(name):
  runpy.run_path(script_path(name), run_name='__main__')


def train():
  _run('train')


def eval():  # pylint: disable=redefined-builtin
  _run('eval')


def colorize():
  _run('colorize')


def export():
  _run('export')


def convert_original():
  _run('convert_original')


def benchmark():
  _run('benchmark')


if __name__ == '__main__':
  _run(sys.argv.pop(1))
