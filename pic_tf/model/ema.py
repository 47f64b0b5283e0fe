"""Polyak averaging of the weights, as the original's ``tf.train.ExponentialMovingAverage``.

``average <- decay * average + (1 - decay) * weight`` once per optimizer step, with
the averages starting equal to the initial weights and no bias correction and no
``num_updates`` warm-up (the original passed neither). Which weights a step averages,
those it starts from (the original's order) or those it ends with, is the trainer's
choice (``train.ema_order``, :class:`pic_tf.training.trainer.Trainer`).
"""

import contextlib

import tensorflow as tf


class _Untracked:
  """Holds references without making them checkpoint dependencies."""

  def __init__(self, items):
    self.items = list(items)


class ExponentialMovingAverage(tf.Module):
  """Shadow copies of a model's trainable variables.

  Args:
    variables: the variables to average (e.g. ``model.trainable_variables``).
    decay: the Polyak decay (0.999 in the paper).
  """

  def __init__(self, variables, decay=0.999, name='ema'):
    super().__init__(name=name)
    self.decay = float(decay)
    variables = list(variables)
    # The averaged variables belong to the model: only the averages are saved here.
    self._variables = _Untracked(variables)
    self.averages = [
        tf.Variable(tf.identity(v), trainable=False, name=v.name.split(':')[0].replace('/', '_'))
        for v in variables
    ]

  @property
  def variables_to_average(self):
    return self._variables.items

  def update(self):
    """One averaging step of the variables' present values."""
    for avg, var in zip(self.averages, self._variables.items):
      avg.assign(self.decay * avg + (1.0 - self.decay) * tf.convert_to_tensor(var))

  def reset(self):
    """Sets every average to its variable's present value."""
    for avg, var in zip(self.averages, self._variables.items):
      avg.assign(tf.convert_to_tensor(var))

  def copy_to_variables(self):
    """Overwrites the averaged variables with their averages (for inference)."""
    for avg, var in zip(self.averages, self._variables.items):
      var.assign(avg)

  @contextlib.contextmanager
  def swapped(self):
    """Context in which the variables hold their averages; restored on exit."""
    backup = [tf.identity(tf.convert_to_tensor(v)) for v in self._variables.items]
    self.copy_to_variables()
    try:
      yield
    finally:
      for var, value in zip(self._variables.items, backup):
        var.assign(value)
