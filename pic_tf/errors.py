"""Errors a user can cause. Binaries print their message (one line or a short list)
and exit with status 1, without a traceback."""


class PicError(Exception):
  """Base class: the message names the problem and the fix."""


class ConfigError(PicError, ValueError):
  """An unknown config, a malformed override or values that do not fit together."""


class CheckpointError(PicError):
  """A checkpoint or workdir that cannot be used (missing, of another config, ...)."""


class DatasetError(PicError):
  """A dataset that cannot be read (not available offline, unreadable files, ...)."""


class ImageError(PicError):
  """An input image that cannot be read."""
