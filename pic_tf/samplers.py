"""The samplers by name: the one place a binary, an evaluation or an export picks one.

``cached`` (:class:`pic_tf.cached_sampling.CachedSampler`, the default) and ``naive``
(:class:`pic_tf.sampling.Sampler`, the original's loop) draw the same samples.
"""

from pic_tf import cached_sampling
from pic_tf import sampling
from pic_tf.errors import ConfigError

SAMPLERS = {'cached': cached_sampling.CachedSampler, 'naive': sampling.Sampler}
DEFAULT = 'cached'


def make_sampler(model, name=DEFAULT, jit=False):
  """A sampler of ``model`` by name; ``jit``: its pixel loop compiled with XLA (opt-in).

  Raises:
    ConfigError: an unknown name.
  """
  if name not in SAMPLERS:
    raise ConfigError(f'unknown sampler {name!r}: use {" or ".join(SAMPLERS)}')
  return SAMPLERS[name](model, jit=jit)
