"""The network's hyperparameters: :class:`ModelConfig`, the part of a config the model
reads, and the embedding networks of every named config (paper Table 1, the demo's, the
tests').

The named setups themselves and the training and data sections live in
:mod:`pic_tf.configs`, which builds on this.
"""

import dataclasses
import math
from typing import Tuple

from pic_tf.errors import ConfigError

# The embedding network g^w is a sequence of stages, each ``(kind, a, b)``:
#   ('conv', width, stride)      3x3 weight-normalised conv
#   ('res', count, dilation)     ``count`` gated residual blocks (first conv dilated)
# Layer names follow the original: the first conv is ``conv_leak``, later convs
# ``downscale_leak_<k>``, residual blocks ``down_leak_<n>`` numbered from 1.
Stage = Tuple[str, int, int]

# Paper Table 1 (left).
CIFAR10_EMBEDDING: Tuple[Stage, ...] = (
    ('conv', 32, 1), ('res', 2, 1),
    ('conv', 64, 2), ('res', 2, 1),
    ('conv', 128, 1), ('res', 2, 1),
    ('conv', 256, 1), ('res', 3, 2),
    ('conv', 256, 1),
)

# Paper Table 1 (right); the last conv has 160 channels, not 512, as in the
# original code (its own comment calls this a minor bug; the released model has it).
IMAGENET_EMBEDDING: Tuple[Stage, ...] = (
    ('conv', 64, 1), ('res', 2, 1),
    ('conv', 128, 2), ('res', 2, 1),
    ('conv', 256, 2), ('res', 2, 1),
    ('conv', 512, 1), ('res', 3, 2),
    ('conv', 512, 1), ('res', 3, 4),
    ('conv', 160, 1),
)

# The demo model shipped with the package (bin/colorize without --checkpoint): Table 1's
# layer kinds at reduced widths and depth, so that ~2 hours of a 2-core CPU train it
# and its weights stay under 20 MB.
DEMO_EMBEDDING: Tuple[Stage, ...] = (
    ('conv', 32, 1), ('res', 1, 1),
    ('conv', 64, 2), ('res', 1, 1),
    ('conv', 128, 1), ('res', 2, 2),
    ('conv', 128, 1),
)

# A small embedding for tests: same layer kinds, few channels. It ends with the 80
# channels the auxiliary mixture head needs.
TINY_EMBEDDING: Tuple[Stage, ...] = (
    ('conv', 8, 1), ('res', 1, 1),
    ('conv', 16, 2), ('res', 1, 2),
    ('conv', 80, 1),
)


def check_types(obj, section):
  """Raises ConfigError unless every field holds a value of its declared type.

  A hand-edited ``config.json`` or a JSON float where an int belongs is refused here,
  before any model is built; floats must be finite.
  """
  for field in dataclasses.fields(obj):
    value = getattr(obj, field.name)
    kind = field.type if isinstance(field.type, type) else None
    where = f'{section}.{field.name}' if section else field.name
    if kind is bool:
      ok = isinstance(value, bool)
    elif kind is int:
      ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind is float:
      ok = (isinstance(value, (int, float)) and not isinstance(value, bool) and
            math.isfinite(value))
    elif kind is str:
      ok = isinstance(value, str)
    else:
      continue
    if not ok:
      raise ConfigError(f'{where} must be a{"" if kind is not int else "n"} '
                        f'{"finite " if kind is float else ""}{kind.__name__}, got {value!r}')


def check_range(where, value, low, high, low_open=False, high_open=False, why=''):
  """Raises ConfigError unless ``low <(=) value <(=) high``."""
  if (value < low or value > high or (low_open and value == low) or
      (high_open and value == high)):
    interval = f'{"(" if low_open else "["}{low}, {high}{")" if high_open else "]"}'
    raise ConfigError(f'{where} must be in {interval}{why}, got {value!r}')


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  """The network. Defaults are the paper's CIFAR-10 model.

  Attributes:
    image_size: side of the square input the model runs on (32 CIFAR, 128 ImageNet).
    downsample: chroma subsampling factor (2 CIFAR, 4 ImageNet); the embedding's
      strides must multiply to it.
    embedding: stages of g^w (see ``Stage``).
    nr_channels: width of every PixelCNN++ convolution (160 in the paper).
    nr_resnet: gated residual blocks per PixelCNN++ stream (4 in the paper).
    nr_logistic_mix: logistic mixture components (10).
    dropout: dropout rate of every gated residual block during training.
  """
  image_size: int = 32
  downsample: int = 2
  embedding: Tuple[Stage, ...] = CIFAR10_EMBEDDING
  nr_channels: int = 160
  nr_resnet: int = 4
  nr_logistic_mix: int = 10
  dropout: float = 0.5

  def __post_init__(self):
    # JSON gives lists; keep the config hashable and comparable.
    if not isinstance(self.embedding, (list, tuple)):
      raise ConfigError(f'model.embedding must be a list of stages, got {self.embedding!r}')
    object.__setattr__(self, 'embedding', tuple(
        tuple(s) if isinstance(s, (list, tuple)) else (s,) for s in self.embedding))
    self.validate()

  @property
  def num_outputs(self):
    """Mixture parameters per chroma pixel: 8 per component (80 for 10)."""
    return 8 * self.nr_logistic_mix

  @property
  def chroma_size(self):
    """Side of the chroma grid the PixelCNN models."""
    return self.image_size // self.downsample

  @property
  def embedding_channels(self):
    return [size for kind, size, _ in self.embedding if kind == 'conv'][-1]

  def validate(self):
    """Raises ConfigError with a readable message if the fields do not fit together."""
    check_types(self, 'model')
    stride = 1
    for stage in self.embedding:
      if (len(stage) != 3 or stage[0] not in ('conv', 'res') or
          not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1
                  for v in stage[1:])):
        raise ConfigError(f'embedding stage {stage!r} is not (conv|res, int >= 1, int >= 1)')
      kind, _, step = stage   # (conv, channels, stride) or (res, blocks, dilation)
      if kind == 'conv':
        stride *= step
    if not self.embedding or self.embedding[0][0] != 'conv' or self.embedding[-1][0] != 'conv':
      raise ConfigError('the embedding must start and end with a conv stage')
    if stride != self.downsample:
      raise ConfigError(f'the embedding strides multiply to {stride}, but downsample is '
                       f'{self.downsample}: the embedding must be at chroma resolution')
    if self.image_size % self.downsample:
      raise ConfigError(f'image_size {self.image_size} is not divisible by downsample '
                       f'{self.downsample}')
    if self.embedding_channels < self.num_outputs:
      raise ConfigError(f'the embedding has {self.embedding_channels} channels; the '
                       f'auxiliary head needs at least {self.num_outputs}')
    if not 0.0 <= self.dropout < 1.0:
      raise ConfigError(f'dropout must be in [0, 1), got {self.dropout}')
    for name in ('nr_channels', 'nr_resnet', 'nr_logistic_mix', 'image_size'):
      if getattr(self, name) < 1:
        raise ConfigError(f'{name} must be positive')
