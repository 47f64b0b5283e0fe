"""Tests of pic_tf.fileutil."""

import os
import tempfile

from pic_tf import fileutil


def test_private_temporaries_get_the_umask_mode(tmp_path):
  old = os.umask(0o027)
  try:
    fd, path = tempfile.mkstemp(dir=tmp_path)
    os.close(fd)
    directory = tempfile.mkdtemp(dir=tmp_path)
    assert os.stat(path).st_mode & 0o777 == 0o600
    fileutil.set_default_permissions(path)
    fileutil.set_default_permissions(directory)
    assert os.umask(0o027) == 0o027   # the helper left the umask as it was
  finally:
    os.umask(old)
  assert os.stat(path).st_mode & 0o777 == 0o640
  assert os.stat(directory).st_mode & 0o777 == 0o750
