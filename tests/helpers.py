"""Helpers shared by the tests."""

import numpy as np

from pic_tf import distribution
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


def component_modes(params, lum, num_mix):
  """Each component's mode (a', b') of every pixel, as temperature 0 samples: ``[..., K, 2]``."""
  _, coeffs, means, _ = [t.numpy() for t in distribution.split_params(params, num_mix)]
  lum = np.asarray(lum)[..., None]
  a = np.clip(means[..., 0, :] + coeffs[..., 0, :] * lum, -1, 1)
  b = np.clip(means[..., 1, :] + coeffs[..., 1, :] * lum + coeffs[..., 2, :] * a, -1, 1)
  return np.stack([a, b], -1)
