"""File-system helpers: output directories and atomic writes.

Everything a user looks at or a later run reads (JSON results, config.json, PNGs,
checkpoints, SavedModels) is written to a temporary name in the target's directory
and renamed into place, so an interrupted write never leaves a partial file.

Temporary names carry the writer's process id (``.tmp-<pid>-...``): what a killed
process left behind is recognised and removed by the next writer in the same
directory (:func:`remove_stale_temporaries`), never what a live one is writing.
"""

import contextlib
import errno
import json
import os
import re
import shutil
import stat
import tempfile

from pic_tf import data
from pic_tf.errors import PicError


TMP_PREFIX = '.tmp-'
# TensorFlow writes a checkpoint's shards under ``<prefix>_temp/`` and renames them into
# place once all are written.
CHECKPOINT_SHARDS_SUFFIX = '_temp'


def user_path(path):
  """The path the library works with for a path a user gave, in whatever form.

  ``~`` is expanded and the path made absolute against the current directory, with
  ``./``, ``..`` and trailing slashes folded, so ``runs/r``, ``./runs/r/`` and
  ``~/runs/r`` (from the home directory) name one path, and a path stays valid when
  it is passed on, joined or recorded. Symbolic links are kept, not resolved: messages
  name the path the user knows. The programs' path flags and the Python API's paths
  go through here.

  Args:
    path: a ``str`` or ``os.PathLike``; None and ``''`` (no path given) are returned as
      they are.

  Returns:
    ``str``, absolute.
  """
  if path is None or path == '':
    return path
  return os.path.abspath(os.path.expanduser(os.fspath(path)))


def user_dataset(name):
  """A dataset name with the PATH of ``folder:PATH`` made as :func:`user_path` makes it."""
  if data.is_folder(name) and data.folder_path(name):
    return data.FOLDER_PREFIX + user_path(data.folder_path(name))
  return name


def tmp_prefix(name=''):
  """The start of a temporary's name: ``.tmp-<pid>-<name>`` (see the module docstring)."""
  return f'{TMP_PREFIX}{os.getpid()}-{name}'


def target_of(path):
  """The path a user knows for ``path``, which may lie inside a temporary: a checkpoint
  shard names its checkpoint, a path in an :func:`atomic_dir` temporary
  (``.tmp-<pid>-<name>-<8 chars>``) the directory the temporary becomes."""
  path = path.split(CHECKPOINT_SHARDS_SUFFIX + '/')[0]
  return re.sub(rf'/{re.escape(TMP_PREFIX)}\d+-(.+?)-[a-z0-9_]{{8}}(/|$)', r'/\1\2', path)


# How the OS says a write failed for want of space or rights, and what the user can do.
_WRITE_FAILURES = {
    'No space left on device': 'free some space or write somewhere else',
    'Disk quota exceeded': 'free some space or write somewhere else',
    'Read-only file system': 'write somewhere else',
    'Permission denied': 'write somewhere you may write, or fix the permissions',
}


def describe_write_failure(error):
  """One line for an ``OSError`` or TensorFlow error caused by a full or read-only disk.

  Args:
    error: any exception.

  Returns:
    ``'cannot write <path>: <OS reason>; <what to do>'`` naming the path the user knows
    (:func:`target_of`), or None for other errors.
  """
  text = str(getattr(error, 'message', None) or error)
  for reason, fix in _WRITE_FAILURES.items():
    if reason in text:
      where = getattr(error, 'filename', None)
      if not where:
        # TensorFlow's messages name the file before ``; <reason>``.
        head = text.split(reason)[0].rstrip('; :')
        where = target_of(head.split('}}')[-1].strip().split()[-1]) if head.strip() else ''
      return f'cannot write {where}: {reason}; {fix}' if where else f'{reason}; {fix}'
  return None


def _alive(pid):
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    return True   # another user's process
  return True


_CLEANED = set()   # directories this process has already cleaned


def _clean_once(directory):
  # Once per directory and process: writing thousands of PNGs lists it only once.
  if directory not in _CLEANED:
    _CLEANED.add(directory)
    remove_stale_temporaries(directory)


def remove_stale_temporaries(directory):
  """Removes the temporaries of dead processes from ``directory``.

  Returns:
    The names removed.
  """
  removed = []
  try:
    names = os.listdir(directory)
  except OSError:
    return removed
  for name in names:
    pid = name[len(TMP_PREFIX):].split('-', 1)[0]
    if not name.startswith(TMP_PREFIX) or not pid.isdigit() or _alive(int(pid)):
      continue
    remove(os.path.join(directory, name))
    removed.append(name)
  return removed


def remove(path):
  """Deletes a file, link or directory tree, as far as it can (clean-up: no errors)."""
  if os.path.isdir(path) and not os.path.islink(path):
    shutil.rmtree(path, ignore_errors=True)
  else:
    with contextlib.suppress(OSError):
      os.remove(path)


def _umask():
  # os.umask can only be read by setting it; restore it at once.
  mask = os.umask(0o022)
  os.umask(mask)
  return mask


def set_default_permissions(path):
  """Gives ``path`` the mode a plain ``open``/``mkdir`` would have under the umask.

  ``tempfile.mkstemp`` / ``mkdtemp`` create private (0600 / 0700) entries; files we
  write atomically through them are results other users and services (e.g. a TF
  Serving daemon) must be able to read.

  Args:
    path: an existing file or directory.
  """
  base = 0o777 if stat.S_ISDIR(os.stat(path).st_mode) else 0o666
  os.chmod(path, base & ~_umask())


def _file_in_the_way(shown):
  return PicError(f'{shown} is (or lies under) a file, not a directory: remove the file or '
                  'choose another path')


def ensure_dir(path, what='output directory'):
  """Creates directory ``path`` and its parents, with one clear error if it cannot.

  Args:
    path: the directory.
    what: how the error names it (e.g. ``'output directory'``).

  Returns:
    ``path``.

  Raises:
    PicError: a file stands where the directory (or a parent) should be, or the
      location is not writable.
  """
  try:
    os.makedirs(path, exist_ok=True)
  except (FileExistsError, NotADirectoryError):
    raise _file_in_the_way(f'{what} {path}') from None
  except OSError as e:
    raise PicError(f'cannot create {what} {path}: {e.strerror}; choose a writable '
                   'location') from None
  return path


def _check_writable(directory, shown):
  """Raises unless files can be created in ``directory`` (or its nearest existing
  parent); errors name the user's destination, ``shown``."""
  existing = os.path.abspath(directory)
  while not os.path.exists(existing):
    existing = os.path.dirname(existing)
  if not os.path.isdir(existing):
    raise _file_in_the_way(shown)
  try:
    fd, probe = tempfile.mkstemp(prefix=tmp_prefix('probe-'), dir=existing)
  except OSError as e:
    raise PicError(f'cannot write {shown}: {existing} cannot hold new files '
                   f'({e.strerror}); choose a writable location') from None
  os.close(fd)
  remove(probe)


def check_dir_target(path, what='output directory'):
  """Fails now, before long work, if files could not be written under ``path`` later.

  Writes one empty temporary file in ``path`` (or its nearest existing parent) and
  removes it at once: permissions, a read-only disk and a pseudo-filesystem
  (``/proc``, ``/sys``) all answer that test, which ``os.access`` does not for root.

  Raises:
    PicError: a file stands at ``path`` or at one of its parents, or the nearest
      existing directory cannot hold new files.
  """
  _check_writable(path, f'{what} {path}')


def check_file_target(path, what='output file'):
  """Fails now, before long work, if a result could not be written to ``path`` later.

  Raises:
    PicError: ``path`` is a directory or not a regular file, or its folder cannot hold
      new files (:func:`check_dir_target`).
  """
  if os.path.isdir(path):
    raise PicError(f'{what} {path} is a directory; give a file name, e.g. '
                   f'{os.path.join(path, "results.json")}')
  if os.path.exists(path) and not os.path.isfile(path):
    raise PicError(f'{what} {path} is not a regular file (a device, pipe or socket); '
                   'give the path of a file')
  _check_writable(os.path.dirname(os.path.abspath(path)), f'{what} {path}')


@contextlib.contextmanager
def atomic_file(path, mode='w'):
  """Opens a temporary file next to ``path`` that replaces ``path`` when the block ends.

  If the block raises, ``path`` is untouched and the temporary file is removed.

  Args:
    path: the final file.
    mode: ``'w'`` (text, UTF-8) or ``'wb'``.

  Yields:
    The open temporary file.
  """
  directory = ensure_dir(os.path.dirname(os.path.abspath(path)))
  _clean_once(directory)
  try:
    fd, tmp = tempfile.mkstemp(prefix=tmp_prefix(), dir=directory)
  except OSError as e:
    e.filename = path   # the file the user will look for, not the temporary
    raise
  try:
    with os.fdopen(fd, mode, **({} if 'b' in mode else {'encoding': 'utf-8'})) as f:
      yield f
    set_default_permissions(tmp)
    os.replace(tmp, path)
  except BaseException as e:
    if os.path.exists(tmp):
      os.remove(tmp)
    if isinstance(e, OSError) and (e.filename == tmp or isinstance(e.filename, int)):
      e.filename = path   # name the target, not the temporary or its descriptor
    raise


@contextlib.contextmanager
def _temporary_dir(path, what):
  """A hidden temporary directory beside ``path`` (errors name ``path``), removed at the
  end of the block unless it was renamed into place."""
  parent = ensure_dir(os.path.dirname(path), f'the parent of {what}')
  _clean_once(parent)
  try:
    tmp = tempfile.mkdtemp(prefix=tmp_prefix(os.path.basename(path) + '-'), dir=parent)
  except OSError as e:
    e.filename = path   # the directory the user will look for, not the temporary
    raise
  try:
    yield tmp
  except OSError as e:
    if e.filename and str(e.filename).startswith(tmp):
      e.filename = path + str(e.filename)[len(tmp):]   # name the target, not the temporary
    raise
  finally:
    shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def atomic_dir(path, what='output directory'):
  """A temporary directory next to ``path`` that becomes ``path`` when the block ends.

  ``path`` must not exist or be an empty directory (callers check first, with their
  own message). If the block raises, nothing appears at ``path`` and the temporary
  directory is removed; if the process is killed, only a hidden ``.tmp-*`` directory
  can remain, never a partial ``path`` (a TF Serving version, a workdir), and the next
  writer in that directory removes it.

  Args:
    path: the final directory.
    what: how errors name its parent.

  Yields:
    The temporary directory's path.
  """
  path = os.path.abspath(path)
  with _temporary_dir(path, what) as tmp:
    yield tmp
    set_default_permissions(tmp)
    if os.path.isdir(path):
      os.rmdir(path)   # empty; os.rmdir refuses a non-empty one, so nothing is lost
    os.replace(tmp, path)


def numbers_in(base):
  """The numbered sub-directories' numbers of ``base`` (a TF Serving base path), sorted."""
  if not os.path.isdir(base):
    return []
  return sorted(int(d) for d in os.listdir(base) if d.isdigit())


class NumberedDir:
  """What :func:`atomic_numbered_dir` yields: ``tmp`` to write into; ``path``, the
  directory it became (set when the block ends)."""

  def __init__(self, tmp):
    self.tmp, self.path = tmp, None


@contextlib.contextmanager
def atomic_numbered_dir(base, what='output directory'):
  """A temporary directory in ``base`` that becomes ``base/<N>`` when the block ends, N
  one more than the largest number there at that moment.

  Choosing and claiming N is one step: a directory is renamed onto ``base/<N>``, and a
  rename onto a directory that holds files fails, so of writers finishing at once each
  gets a number of its own (the loser takes the next). As with :func:`atomic_dir`,
  nothing numbered appears if the block raises or the process is killed.

  Yields:
    A :class:`NumberedDir`.
  """
  base = os.path.abspath(base)
  with _temporary_dir(os.path.join(base, 'new'), what) as tmp:
    claim = NumberedDir(tmp)
    yield claim
    set_default_permissions(tmp)
    while claim.path is None:
      path = os.path.join(base, str((numbers_in(base) or [0])[-1] + 1))
      try:
        os.rename(tmp, path)
        claim.path = path
      except OSError as e:
        if e.errno not in (errno.ENOTEMPTY, errno.EEXIST):
          raise


def write_bytes(data, path):
  """Writes ``data`` (bytes) to ``path`` atomically (temporary file, then rename)."""
  with atomic_file(path, 'wb') as f:
    f.write(data)


def write_json(obj, path):
  """Writes ``obj`` as indented JSON to ``path`` atomically."""
  with atomic_file(path) as f:
    json.dump(obj, f, indent=2)
