"""Errors a user can cause. Binaries print their message (one line or a short list)
and exit with status 1, without a traceback."""

import re


class PicError(Exception):
  """Base class: the message names the problem and the fix."""


class ConfigError(PicError, ValueError):
  """An unknown config, a malformed override or values that do not fit together."""


class CheckpointError(PicError):
  """A checkpoint or workdir that cannot be used (missing, of another config, ...)."""


class DamagedCheckpointError(CheckpointError):
  """A checkpoint whose files are missing, truncated or corrupted."""


class ResultsExistError(PicError):
  """An output folder holds the results of an earlier run, and overwriting was not asked for."""


class DatasetError(PicError):
  """A dataset that cannot be read (not available offline, unreadable files, ...)."""


class ImageError(PicError):
  """An input image that cannot be read."""


class TrainingStopped(PicError):
  """Training stopped on a signal (SIGTERM, SIGINT) after checkpointing its last step.

  Attributes:
    signum: the signal; the programs exit with status ``128 + signum``, as a shell
      reports a process the signal ended.
  """

  def __init__(self, message, signum):
    super().__init__(message)
    self.signum = signum


def first_line(error):
  """The first line of an exception's message (TensorFlow's op prefix ``{{...}}`` dropped),
  or its class name if it has no message."""
  text = str(getattr(error, 'message', None) or error).strip()
  return text.splitlines()[0].split('}}')[-1].strip() if text else type(error).__name__


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
    ``'<what failed>: <OS reason>; <what to do>'``, or None for other errors.
  """
  text = str(getattr(error, 'message', None) or error)
  for reason, fix in _WRITE_FAILURES.items():
    if reason in text:
      where = getattr(error, 'filename', None)
      if not where:
        # TensorFlow's messages name the file before ``; <reason>``.
        head = text.split(reason)[0].rstrip('; :')
        where = head.split('}}')[-1].strip().split()[-1] if head.strip() else ''
        where = where.split('_temp/')[0]   # a checkpoint's temporary shard: name the checkpoint
        # Inside a fileutil.atomic_dir temporary (.tmp-<pid>-<name>-<8 chars>): the target.
        where = re.sub(r'/\.tmp-\d+-(.+?)-[a-z0-9_]{8}(/|$)', r'/\1\2', where)
      return f'cannot write {where}: {reason}; {fix}' if where else f'{reason}; {fix}'
  return None
