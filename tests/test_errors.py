"""Errors a user can cause: write failures of a full or read-only disk as one line."""

import errno
import os

import pytest
import tensorflow as tf

from pic_tf import errors


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
  assert errors.describe_write_failure(error) == expected


def test_other_errors_are_not_write_failures():
  assert errors.describe_write_failure(KeyError('a bug')) is None
  assert errors.describe_write_failure(tf.errors.InvalidArgumentError(None, None, 'x')) is None
