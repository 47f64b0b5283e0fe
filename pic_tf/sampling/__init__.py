"""Sampling: the samplers, the g^w baseline, full resolution, the colourise pipeline.

This ``__init__`` is the registry of samplers by name (:data:`SAMPLERS`) and the
options of sampling (:class:`SampleOptions`) and the limits of a served model's requests
(:class:`RequestLimits`), read by the programs before TensorFlow
is imported; :func:`make_sampler` is the one place a name becomes a sampler.
"""

import dataclasses
import math

from pic_tf.errors import ConfigError

# The samplers by name; they draw the same samples.
CACHED, NAIVE = 'cached', 'naive'
SAMPLERS = {
    CACHED: 'incremental PixelCNN: each pixel reuses the rows above it (fast, the default)',
    NAIVE: 'the full network once per chroma pixel, as the original code samples',
}
DEFAULT_SAMPLER = CACHED
# Sampling seeds are int64 in the samplers and the SavedModel's signatures.
MAX_SEED = 2**63 - 1


def make_sampler(model, name=DEFAULT_SAMPLER, jit=False):
  """A sampler of ``model`` by name; ``jit``: its pixel loop compiled with XLA (opt-in).

  Returns:
    :class:`pic_tf.sampling.cached.CachedSampler` (``'cached'``) or
    :class:`pic_tf.sampling.naive.Sampler` (``'naive'``).

  Raises:
    ConfigError: an unknown name.
  """
  # Here, not at the top: the registry above is read without TensorFlow.
  from pic_tf.sampling import cached, naive  # pylint: disable=import-outside-toplevel
  classes = {CACHED: cached.CachedSampler, NAIVE: naive.Sampler}
  if name not in classes:
    raise ConfigError(f'unknown sampler {name!r}: use {" or ".join(SAMPLERS)}')
  return classes[name](model, jit=jit)


def _is_int(value):
  return isinstance(value, int) and not isinstance(value, bool)


@dataclasses.dataclass(frozen=True)
class SampleOptions:
  """How to sample: how many colourisations, how hot, which seed and sampler.

  Attributes:
    num_samples: colourisations per image.
    temperature: the logistic noise scale (1: the model).
    seed: int; the same seed gives the same colourisations.
    sampler: a name of :data:`SAMPLERS`.
    jit: compile the sampler's pixel loop with XLA (opt-in).
  """
  num_samples: int = 4
  temperature: float = 1.0
  seed: int = 0
  sampler: str = DEFAULT_SAMPLER
  jit: bool = False

  def __post_init__(self):
    # Checked here, before any model is built: NaN or inf would sample black or noise.
    if not _is_int(self.num_samples) or self.num_samples < 1:
      raise ConfigError(f'num_samples must be at least 1, got {self.num_samples!r}')
    if (isinstance(self.temperature, bool) or not isinstance(self.temperature, (int, float))
        or not math.isfinite(self.temperature) or self.temperature < 0):
      raise ConfigError(f'temperature must be a finite number >= 0 (1: the model, 0: '
                        f'the mean of each chosen component), got {self.temperature!r}')
    if not _is_int(self.seed) or not 0 <= self.seed <= MAX_SEED:
      raise ConfigError(f'seed must be an integer in [0, 2**63 - 1], got {self.seed!r}')
    if self.sampler not in SAMPLERS:
      raise ConfigError(f'sampler must be one of {", ".join(SAMPLERS)}, got '
                        f'{self.sampler!r}')


@dataclasses.dataclass(frozen=True)
class RequestLimits:
  """What one request may ask of an exported model (``bin/export``'s flags), stored in
  the SavedModel (:mod:`pic_tf.export_lib`) and checked before any work.

  The defaults keep one request of the demo model under 2 GB (BUILD.md, "Serving").

  Attributes:
    max_images: images (N) in one request.
    max_pixels: pixels (H x W) of one image (4096 x 4096).
    max_samples: ``num_samples`` of one request.
    max_output_pixels: pixels of all colourisations of one request (N x S x H x W; the
      g^w baseline: N x H x W): 64 megapixels, 192 MB of uint8 RGB.
  """
  max_images: int = 64
  max_pixels: int = 4096 * 4096
  max_samples: int = 64
  max_output_pixels: int = 64 * 2**20

  def __post_init__(self):
    for field in dataclasses.fields(self):
      value = getattr(self, field.name)
      if not _is_int(value) or value < 1:
        raise ConfigError(f'{field.name} must be a positive integer, got {value!r}')
