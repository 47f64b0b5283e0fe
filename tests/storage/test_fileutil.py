"""Tests of pic_tf.storage.fileutil."""

import errno
import json
import os
import subprocess
import sys
import tempfile

import pytest
import tensorflow as tf

from pic_tf.errors import PicError
from pic_tf.storage import fileutil


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


def test_output_directory_errors_name_the_path_and_the_fix(tmp_path):
  a_file = tmp_path / 'a_file'
  a_file.write_text('x')
  for path in (a_file, a_file / 'sub'):
    with pytest.raises(PicError, match=f'--output_dir {path} is .* a file, not a directory'):
      fileutil.check_dir_target(str(path), '--output_dir')
    with pytest.raises(PicError, match='remove the file or choose another path'):
      fileutil.ensure_dir(str(path), '--output_dir')
  fileutil.check_dir_target(str(tmp_path / 'new' / 'deeper'))   # creatable: fine, not made
  assert not (tmp_path / 'new').exists()
  assert fileutil.ensure_dir(str(tmp_path / 'new' / 'deeper')) == str(tmp_path / 'new' / 'deeper')


def test_atomic_file_leaves_the_old_file_when_the_write_fails(tmp_path):
  path = tmp_path / 'results.json'
  fileutil.write_json({'a': 1}, str(path))
  with pytest.raises(RuntimeError):
    with fileutil.atomic_file(str(path)) as f:
      f.write('{"half": ')
      raise RuntimeError('disk full')
  assert json.loads(path.read_text()) == {'a': 1}
  assert os.listdir(tmp_path) == ['results.json']


def test_a_failed_write_names_the_target_and_leaves_nothing(tmp_path):
  path = tmp_path / 'grid.png'
  path.write_bytes(b'old')
  with pytest.raises(OSError) as info:
    with fileutil.atomic_file(str(path), 'wb') as f:
      f.write(b'half')
      raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), f.fileno())
  assert info.value.filename == str(path) and path.read_bytes() == b'old'
  assert os.listdir(tmp_path) == ['grid.png']
  with pytest.raises(OSError) as info:
    with fileutil.atomic_dir(str(tmp_path / 'export' / '1')) as tmp:
      raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), os.path.join(tmp, 'saved_model.pb'))
  assert info.value.filename == str(tmp_path / 'export' / '1' / 'saved_model.pb')
  assert os.listdir(tmp_path / 'export') == []


def test_temporaries_of_dead_processes_are_removed(tmp_path):
  dead = subprocess.run([sys.executable, '-c', 'import os; print(os.getpid())'],
                        capture_output=True, text=True, check=True).stdout.strip()
  (tmp_path / f'.tmp-{dead}-1-abc').mkdir()
  (tmp_path / f'.tmp-{dead}-x').write_text('half')
  (tmp_path / f'.tmp-{os.getpid()}-mine').write_text('being written')
  (tmp_path / '.tmp-notapid').write_text('not ours')
  fileutil.write_json({'a': 1}, str(tmp_path / 'r.json'))   # any writer cleans up
  assert sorted(os.listdir(tmp_path)) == [f'.tmp-{os.getpid()}-mine', '.tmp-notapid', 'r.json']


_CLAIMS = '''
import os, sys, time
from pic_tf.storage import fileutil
base, writer, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
while time.time() < float(sys.argv[4]):   # both start together
  pass
for k in range(count):
  with fileutil.atomic_numbered_dir(base) as claim:
    with open(os.path.join(claim.tmp, 'written_by'), 'w') as f:
      f.write(f'{writer} {k}')
    time.sleep(0.001)   # a writer takes a while
  print(os.path.basename(claim.path))
'''


def test_numbered_directories_claimed_at_once_by_two_processes_never_collide(tmp_path):
  """Two processes each claim 100 versions in one base directory as fast as they can:
  200 complete versions 1..200, each written by one claim, and nothing else left."""
  base = tmp_path / 'serving'
  start = str(__import__('time').time() + 1.0)
  processes = [subprocess.Popen([sys.executable, '-c', _CLAIMS, str(base), str(w), '100', start],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for w in (0, 1)]
  outputs = [p.communicate(timeout=120) for p in processes]
  assert [p.returncode for p in processes] == [0, 0], [o[1] for o in outputs]
  claimed = sorted(int(n) for o in outputs for n in o[0].split())
  assert claimed == list(range(1, 201))
  assert sorted(os.listdir(base), key=int) == [str(n) for n in range(1, 201)]
  written = {(base / str(n) / 'written_by').read_text() for n in range(1, 201)}
  assert written == {f'{w} {k}' for w in (0, 1) for k in range(100)}


def test_a_numbered_directory_whose_writer_fails_leaves_no_number(tmp_path):
  (tmp_path / '3').mkdir()
  with pytest.raises(RuntimeError):
    with fileutil.atomic_numbered_dir(str(tmp_path)) as claim:
      (open(os.path.join(claim.tmp, 'half'), 'w')).close()
      raise RuntimeError('the SavedModel could not be written')
  assert os.listdir(tmp_path) == ['3']
  with fileutil.atomic_numbered_dir(str(tmp_path)) as claim:
    pass
  assert claim.path == str(tmp_path / '4')


@pytest.mark.parametrize('error,expected', [
    (OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), '/data/out/a.png'),
     'cannot write /data/out/a.png: No space left on device; free some space or write '
     'somewhere else'),
    (OSError(errno.EROFS, os.strerror(errno.EROFS), '/mnt/ro/x'),
     'cannot write /mnt/ro/x: Read-only file system; write somewhere else'),
    (OSError(errno.EDQUOT, os.strerror(errno.EDQUOT), '/home/u/run'),
     'cannot write /home/u/run: Disk quota exceeded; free some space or write somewhere else'),
    # What TensorFlow raises when a checkpoint shard hits a full disk (seen on a tmpfs).
    (tf.errors.ResourceExhaustedError(
        None, None, '{{function_node __wrapped__SaveV2_dtypes_3_device_/job:localhost/replica:0'
        '/task:0/device:CPU:0}} /run/ckpt-8_temp/part-00000-of-00001.data-00000-of-00001.'
        'tempstate2931790064586547718; No space left on device [Op:SaveV2]'),
     'cannot write /run/ckpt-8: No space left on device; free some space or write somewhere '
     'else'),
    (tf.errors.ResourceExhaustedError(
        None, None, '/out/.tmp-16187-served-8g_lilzg/ckpt-6_temp/part-00000-of-00001.data-'
        '00000-of-00001.tempstate1; No space left on device [Op:SaveV2]'),
     'cannot write /out/served/ckpt-6: No space left on device; free some space or write '
     'somewhere else'),
    (tf.errors.PermissionDeniedError(None, None, '/srv/models/1/variables; Permission denied'),
     'cannot write /srv/models/1/variables: Permission denied; write somewhere you may write, '
     'or fix the permissions'),
])
def test_write_failures_are_described_in_one_line(error, expected):
  assert fileutil.describe_write_failure(error) == expected


def test_other_errors_are_not_write_failures():
  assert fileutil.describe_write_failure(KeyError('a bug')) is None
  assert fileutil.describe_write_failure(tf.errors.InvalidArgumentError(None, None, 'x')) is None


def test_a_path_inside_a_temporary_names_what_the_user_will_find(tmp_path):
  """The temporary names this module makes are the ones :func:`fileutil.target_of` reads."""
  target = str(tmp_path / 'served')
  with fileutil.atomic_dir(target) as tmp:
    shard = os.path.join(tmp, 'ckpt-6' + fileutil.CHECKPOINT_SHARDS_SUFFIX, 'part-0')
    assert fileutil.target_of(shard) == os.path.join(target, 'ckpt-6')
    assert fileutil.target_of(os.path.join(tmp, 'config.json')) == os.path.join(
        target, 'config.json')
