"""A folder of result PNGs (``bin/colorize``), replaced as a set and never mixed.

Results are ``<name>_sample<k>.png`` and ``<name>_grid.png`` (or ``_grid<page>.png``). A
run writes its files into a hidden staging folder inside the output folder and moves
them into place at the end, after removing the results of an earlier run (only with
``overwrite``; without it, a folder holding results is refused before any work). So the
folder holds either the earlier run's results or this run's, never a mix, and an
interrupted run leaves the earlier results as they were (its staging folder, named
after its process, is removed by the next run).
"""

import os
import re
import shutil
import tempfile

from pic_tf import progress
from pic_tf.errors import ResultsExistError
from pic_tf.storage import fileutil

RESULT_FILE = re.compile(r'.+_(sample\d+|grid\d*)\.png$')


def find(output_dir):
  """The result files under ``output_dir`` (recursively, staging folders skipped), sorted."""
  found = []
  for root, dirs, names in os.walk(output_dir):
    dirs[:] = [d for d in dirs if not d.startswith(fileutil.TMP_PREFIX)]
    found.extend(os.path.join(root, n) for n in names if RESULT_FILE.match(n))
  return sorted(found)


def is_result(path, output_dir):
  """True if ``path`` is a result file inside ``output_dir`` (inputs skip them)."""
  inside = os.path.abspath(path).startswith(os.path.abspath(output_dir) + os.sep)
  return inside and bool(RESULT_FILE.match(os.path.basename(path)))


def check(output_dir, overwrite, what='output directory'):
  """Refuses, before any work, a folder that holds results unless ``overwrite``.

  Raises:
    ResultsExistError: ``output_dir`` holds results and ``overwrite`` is False.
  """
  if overwrite or not os.path.isdir(output_dir):
    return
  found = find(output_dir)
  if found:
    raise ResultsExistError(
        f'{what} {output_dir} already holds {progress.count(len(found), "result file")} of an '
        f'earlier run (e.g. {os.path.relpath(found[0], output_dir)}); choose another {what}, or '
        f'overwrite {"it" if len(found) == 1 else "them"} with this run\'s')


class ResultSet:
  """Stages a run's result files and puts them in place as a set (see module docstring).

  Use as a context manager; :meth:`path` names where a result is written now,
  :meth:`commit` puts the staged files in place. Leaving the block without a commit
  (an error, Ctrl-C, no input done) removes the staging folder and leaves ``output_dir``
  as it was: the folders it created for the run are removed again.

  Args:
    output_dir: the output folder (created if missing).
    what: how errors name it.
  """

  def __init__(self, output_dir, what='output directory'):
    self.output_dir = os.path.abspath(output_dir)
    self._what = what
    self._stage = None
    self._staged = []
    self._created = None   # the highest folder this run creates (see __exit__)

  def __enter__(self):
    missing = self.output_dir
    while not os.path.exists(missing):
      self._created, missing = missing, os.path.dirname(missing)
    fileutil.ensure_dir(self.output_dir, self._what)
    fileutil.remove_stale_temporaries(self.output_dir)
    self._stage = tempfile.mkdtemp(prefix=fileutil.tmp_prefix('results-'),
                                   dir=self.output_dir)
    return self

  def __exit__(self, *exc):
    shutil.rmtree(self._stage, ignore_errors=True)
    if self._created is not None:
      # Nothing committed (every input failed, an error, Ctrl-C): no empty folders left.
      folder = self.output_dir
      while not os.listdir(folder):
        os.rmdir(folder)
        if folder == self._created:
          break
        folder = os.path.dirname(folder)
    return False

  def path(self, name):
    """Where to write result ``name`` (a path relative to ``output_dir``) now."""
    staged = os.path.join(self._stage, name)
    os.makedirs(os.path.dirname(staged), exist_ok=True)
    self._staged.append(name)
    return staged

  def final_path(self, name):
    """Where result ``name`` will be once committed."""
    return os.path.join(self.output_dir, name)

  def discard(self, names):
    """Forgets results ``names`` staged so far (those of an input that failed)."""
    gone = set(names)
    for name in gone:
      fileutil.remove(os.path.join(self._stage, name))
    self._staged = [n for n in self._staged if n not in gone]

  def commit(self):
    """Removes the earlier results, then moves this run's into place.

    Raises:
      PicError: a result could not be moved into place.
    """
    for old in find(self.output_dir):
      os.remove(old)
    for name in self._staged:
      staged, final = os.path.join(self._stage, name), self.final_path(name)
      os.makedirs(os.path.dirname(final), exist_ok=True)
      os.replace(staged, final)
    self._staged = []
