"""What the programs report, and where: results on standard output; lines about the work
(what is loaded, chosen, written; warnings) and progress bars on standard error.

Library functions take a ``log`` callable for their lines, :func:`log` by default, and
return their results; the programs print those with :func:`result`. So
``bin/eval ... > bpd.txt`` keeps the table alone, and a log file of training is
``bin/train ... 2> train.log``.

Long work shows a bar with a steady-state rate and ETA.

On a terminal the bar is redrawn in place; in a log file (not a TTY) a line is
written at most every ``min_interval`` seconds and at the end, so logs stay short.

Rates come from a :class:`RateMeter`: the first unit of work (which traces and
compiles the TensorFlow functions, often far slower than a steady step) is left out,
and the rest is averaged with exponentially decaying weights, so neither the first ETA
nor the line-to-line rate jumps.
"""

import math
import sys
import time


def log(message):
  """Writes a line about the work to standard error, flushed."""
  print(message, file=sys.stderr, flush=True)


def result(message):
  """Writes what a program was asked for (a results table, a benchmark's report) to
  standard output, flushed."""
  print(message, flush=True)


def count(number, noun):
  """``(1, 'test image') -> '1 test image'``, ``(64, 'test image') -> '64 test images'``."""
  return f'{number} {noun}' + ('' if number == 1 else 's')


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


class RateMeter:
  """Smoothed steady-state rate of repeated work.

  Args:
    warmup: first measurements left out (tracing and compilation).
    time_constant: seconds over which old measurements fade (weights
      ``exp(-age / time_constant)``, age in measured seconds).
  """

  def __init__(self, warmup=1, time_constant=60.0):
    self.warmup = warmup
    self.time_constant = time_constant
    self._skipped = 0
    self._amount = 0.0
    self._seconds = 0.0

  def add(self, amount, seconds):
    """Records ``amount`` units of work done in ``seconds``."""
    if self._skipped < self.warmup:
      self._skipped += 1
      return
    fade = math.exp(-seconds / self.time_constant)
    self._amount = self._amount * fade + amount
    self._seconds = self._seconds * fade + seconds

  @property
  def rate(self):
    """Units per second, or None before the first steady measurement."""
    return self._amount / self._seconds if self._seconds > 0 else None

  def eta(self, remaining):
    """Seconds for ``remaining`` units at the current rate (None if unknown)."""
    rate = self.rate
    return remaining / rate if rate else None


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
    self.meter = RateMeter()
    self._last_update = time.time()
    self._last_line = 0.0
    self._tty = hasattr(self.stream, 'isatty') and self.stream.isatty()

  def text(self, extra=''):
    rate = self.meter.rate
    width = 24
    filled = int(width * self.done / self.total) if self.total else width
    bar = '#' * filled + '.' * (width - filled)
    eta = 0 if self.done >= self.total else self.meter.eta(self.total - self.done)
    rate_text = f'{rate:.1f}' if rate is not None else '?'
    return (f'{self.label} [{bar}] {self.done}/{self.total} {self.unit}  {rate_text} '
            f'{self.unit}/s  ETA {format_duration(eta)}{extra}')

  def update(self, amount=1, extra=''):
    """Adds ``amount`` done and redraws (``extra`` is appended to the line)."""
    now = time.time()
    self.meter.add(amount, now - self._last_update)
    self._last_update = now
    self.done += amount
    finished = self.done >= self.total
    if self._tty:
      self.stream.write('\r' + self.text(extra) + ('\n' if finished else ''))
      self.stream.flush()
    elif finished or now - self._last_line >= self.min_interval:
      self._last_line = now
      self.stream.write(self.text(extra) + '\n')
      self.stream.flush()
