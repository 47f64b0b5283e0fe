"""Sampling: the samplers, the g^w baseline, full resolution, the colourise pipeline.

This ``__init__`` picks samplers by name, the one place a binary, an evaluation or an
export does: ``cached`` (:class:`pic_tf.sampling.cached.CachedSampler`, the default)
and ``naive`` (:class:`pic_tf.sampling.naive.Sampler`, the original's loop) draw the
same samples. The names are :data:`pic_tf.options.SAMPLERS`.
"""

from pic_tf.errors import ConfigError
from pic_tf import options
from pic_tf.sampling import cached
from pic_tf.sampling import naive

SAMPLER_CLASSES = dict(zip(options.SAMPLERS, (cached.CachedSampler, naive.Sampler)))
DEFAULT = options.SAMPLERS[0]


def make_sampler(model, name=DEFAULT, jit=False):
  """A sampler of ``model`` by name; ``jit``: its pixel loop compiled with XLA (opt-in).

  Raises:
    ConfigError: an unknown name.
  """
  if name not in SAMPLER_CLASSES:
    raise ConfigError(f'unknown sampler {name!r}: use {" or ".join(SAMPLER_CLASSES)}')
  return SAMPLER_CLASSES[name](model, jit=jit)
