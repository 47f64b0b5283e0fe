"""Progress reporting for long work: a bar with rate and ETA.

On a terminal the bar is redrawn in place; in a log file (not a TTY) a line is
written at most every ``min_interval`` seconds and at the end, so logs stay short.
"""

import math
import sys
import time


def format_duration(seconds):
  """``3725 -> '1h02m'``, ``65 -> '1m05s'``, ``7 -> '7s'``."""
  if seconds is None or not math.isfinite(seconds):
    return '?'
  seconds = int(round(seconds))
  if seconds >= 3600:
    return f'{seconds // 3600}h{seconds % 3600 // 60:02d}m'
  if seconds >= 60:
    return f'{seconds // 60}m{seconds % 60:02d}s'
  return f'{seconds}s'


class Progress:
  """Counts work done out of ``total`` and shows ``label done/total unit rate ETA``.

  Args:
    total: amount of work (e.g. images, rows, steps).
    label: text before the counts.
    unit: what is counted (shown in the rate).
    stream: where to write (stderr by default).
    min_interval: seconds between lines when the stream is not a terminal.
  """

  def __init__(self, total, label='', unit='it', stream=None, min_interval=10.0):
    self.total = total
    self.label = label
    self.unit = unit
    self.stream = stream or sys.stderr
    self.min_interval = min_interval
    self.done = 0
    self.start = time.time()
    self._last_line = 0.0
    self._tty = hasattr(self.stream, 'isatty') and self.stream.isatty()

  def text(self, extra=''):
    elapsed = max(time.time() - self.start, 1e-9)
    rate = self.done / elapsed
    eta = (self.total - self.done) / rate if rate > 0 else None
    width = 24
    filled = int(width * self.done / self.total) if self.total else width
    bar = '#' * filled + '.' * (width - filled)
    return (f'{self.label} [{bar}] {self.done}/{self.total} {self.unit}  {rate:.1f} '
            f'{self.unit}/s  ETA {format_duration(eta)}{extra}')

  def update(self, amount=1, extra=''):
    """Adds ``amount`` done and redraws (``extra`` is appended to the line)."""
    self.done += amount
    now = time.time()
    finished = self.done >= self.total
    if self._tty:
      self.stream.write('\r' + self.text(extra) + ('\n' if finished else ''))
      self.stream.flush()
    elif finished or now - self._last_line >= self.min_interval:
      self._last_line = now
      self.stream.write(self.text(extra) + '\n')
      self.stream.flush()
