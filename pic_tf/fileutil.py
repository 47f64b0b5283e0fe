"""File-system helpers for atomic writes."""

import os
import stat


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
