"""Helpers shared by the tests."""

import numpy as np

from pic_tf import networks


def randomize(model, seed=0, g_scale=1.0, b_std=0.3):
  """Random weights that exercise every parameter of a PICModel.

  V ~ N(0, 0.05) as the original's initialiser, g ~ g_scale * U(0.5, 1.5),
  b ~ N(0, b_std): unlike the default g = 1, b = 0, every g and b matters.
  """
  rng = np.random.default_rng(seed)
  for name, _, var in networks.named_variables(model):
    if name.endswith('/V'):
      var.assign(rng.normal(0, 0.05, size=var.shape).astype(np.float32))
    elif name.endswith('/g'):
      var.assign((g_scale * rng.uniform(0.5, 1.5, size=var.shape)).astype(np.float32))
    else:
      var.assign(rng.normal(0, b_std, size=var.shape).astype(np.float32))
  return model
