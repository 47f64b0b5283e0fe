"""Errors a user can cause. Binaries print their message (one line or a short list)
and exit with status 1, without a traceback."""


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


class TrainingDivergedError(PicError):
  """The training loss became NaN or infinite."""


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
