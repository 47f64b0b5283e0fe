"""Polyak averaging as the original's tf.train.ExponentialMovingAverage."""

import numpy as np
import tensorflow as tf

from pic_tf.model import ema as ema_lib


def test_update_rule_and_start_value():
  var = tf.Variable([1.0, 2.0])
  ema = ema_lib.ExponentialMovingAverage([var], decay=0.9)
  np.testing.assert_allclose(ema.averages[0].numpy(), [1.0, 2.0])   # starts at the weights
  var.assign([3.0, 4.0])
  ema.update()
  np.testing.assert_allclose(ema.averages[0].numpy(), [1.2, 2.2], rtol=1e-6)
  var.assign([0.0, 0.0])
  ema.update()
  np.testing.assert_allclose(ema.averages[0].numpy(), [1.08, 1.98], rtol=1e-6)


def test_swapped_restores_the_weights():
  var = tf.Variable([1.0])
  ema = ema_lib.ExponentialMovingAverage([var], decay=0.5)
  var.assign([3.0])
  ema.update()
  with ema.swapped():
    assert var.numpy()[0] == 2.0
  assert var.numpy()[0] == 3.0
  ema.copy_to_variables()
  assert var.numpy()[0] == 2.0


def test_only_the_averages_are_checkpointed(tmp_path):
  var = tf.Variable([1.0])
  ema = ema_lib.ExponentialMovingAverage([var])
  path = tf.train.Checkpoint(ema=ema).write(str(tmp_path / 'ckpt'))
  names = [n for n, _ in tf.train.list_variables(path) if n.startswith('ema/')]
  assert names == ['ema/averages/0/.ATTRIBUTES/VARIABLE_VALUE']
