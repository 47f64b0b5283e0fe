"""Configurations: the paper's ``cifar10`` and ``imagenet`` setups (Table 1) and the schema.

One config system for every binary. A :class:`Config` is chosen by name
(:func:`get_config`), its fields are overridden with ``section.field=value``
strings (:func:`override`; booleans as ``true/false/1/0/yes/no``, the embedding's
stages as JSON), and it is saved as JSON into a training
workdir so that every other binary rebuilds exactly the same model from the workdir
alone (:mod:`pic_tf.storage.workdir`).
"""

import dataclasses
import difflib
import json
import math
import typing
from typing import Optional

from pic_tf import data
from pic_tf.errors import ConfigError
from pic_tf.model import precision as precision_lib
from pic_tf.model.config import check_range
from pic_tf.model.config import check_types
from pic_tf.model.config import DEMO_EMBEDDING
from pic_tf.model.config import IMAGENET_EMBEDDING
from pic_tf.model.config import ModelConfig
from pic_tf.model.config import TINY_EMBEDDING

# Seeds of training go to numpy as well as TensorFlow: numpy takes [0, 2**32).
MAX_TRAIN_SEED = 2**32 - 1


EMA_ORDERS = ('before_update', 'after_update')
_ZERO_MEANS = {'num_steps': 'train.num_epochs epochs', 'eval_every': 'only at the end',
               'eval_examples': 'the whole test split', 'sample_every': 'never'}


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  """Optimisation, as the original's ``cifar.sh`` / ``imagenet.sh``.

  Attributes:
    batch_size: global batch (split over replicas); 64 in the paper (4 GPUs x 16).
    learning_rate: initial rate ``lr0``; step k (1-based) uses ``lr0 * lr_decay**(k-1)``.
    lr_decay: multiplicative decay per step.
    num_epochs: epochs over the training split (``num_steps`` wins if > 0).
    num_steps: total steps; 0 means derived from ``num_epochs``.
    adam_beta1, adam_beta2, adam_epsilon: Adam parameters.
    polyak_decay: EMA decay of the weights (no bias correction, updated every step).
    ema_order: which weights each step's Polyak update averages. ``'before_update'``
      (the default, as the original): the weights the step starts from,
      ``EMA_k = d * EMA_{k-1} + (1 - d) * w_{k-1}``. The original's ``main.py`` runs the
      Adam step and the EMA update in one ``sess.run`` with no ordering between them,
      and the update's reads run first (checked on the original, every variable, at
      several steps), so its averages lag the weights by one step.
      ``'after_update'``: the textbook order, ``EMA_k = d * EMA_{k-1} + (1 - d) * w_k``.
      A ``config.json`` without the field (workdirs older than it) loads as
      ``'after_update'``, the order those runs trained with (:meth:`Config.from_dict`).
    flip: ``'batch'`` flips the whole batch horizontally with probability 0.5, as the
      original (one coin per step); ``'image'`` flips each image independently;
      ``'none'`` disables flips.
    init: ``'original'`` (V ~ N(0, 0.05), g = 1, b = 0: what the original really
      ran) or ``'data_dependent'`` (Salimans & Kingma on a first batch).
    init_batch_size: images used by the data-dependent initialisation.
    seed: seeds initialisation, data order, flips and dropout.
    shuffle_buffer: tf.data shuffle buffer (in examples).
    precision: a name of :data:`pic_tf.model.precision.PRECISIONS` or ``None``, the
      default: chosen for the devices (:mod:`pic_tf.training.plan`: mixed
      bfloat16 on GPUs of compute capability 8.0+, else float32). Training saves the
      value it resolved in the workdir's config; the likelihood is always float32.
    log_every: steps between progress lines and scalar summaries.
    checkpoint_every: steps between checkpoints.
    eval_every: steps between test-bpd evaluations (0: only at the end).
    eval_examples: test examples for periodic evaluation (0: the whole split).
    sample_every: steps between sample grids, in TensorBoard and as PNGs in the workdir
      (0: never).
    keep_checkpoints: checkpoints kept by the CheckpointManager.
    deterministic: bit-reproducible training: the same config and seed give the same
      weights to the last bit, as the original's graph did. TensorFlow's graph
      optimiser (Grappler) rewrites the training step so that on a multi-core CPU
      some gradients are summed in a run-dependent order (1e-6 differences from the
      first steps, which training then amplifies); this turns it off, and on GPUs
      also turns TensorFlow's op determinism on. ``None``, the default: on on a CPU,
      off on GPUs (:mod:`pic_tf.training.plan`). Its cost is in BUILD.md.
  """
  batch_size: int = 64
  learning_rate: float = 1e-3
  lr_decay: float = 0.99995
  num_epochs: int = 150
  num_steps: int = 0
  adam_beta1: float = 0.95
  adam_beta2: float = 0.9995
  adam_epsilon: float = 1e-6
  polyak_decay: float = 0.999
  ema_order: str = 'before_update'
  flip: str = 'batch'
  init: str = 'original'
  init_batch_size: int = 100
  seed: int = 0
  shuffle_buffer: int = 10000
  precision: Optional[str] = None
  log_every: int = 50
  checkpoint_every: int = 1000
  eval_every: int = 5000
  eval_examples: int = 1000
  sample_every: int = 5000
  keep_checkpoints: int = 3
  deterministic: Optional[bool] = None

  def __post_init__(self):
    check_types(self, 'train')
    if self.flip not in ('batch', 'image', 'none'):
      raise ConfigError(f'train.flip must be batch, image or none, got {self.flip!r}')
    if self.ema_order not in EMA_ORDERS:
      raise ConfigError(f'train.ema_order must be one of {", ".join(EMA_ORDERS)}, got '
                        f'{self.ema_order!r}')
    if self.init not in ('original', 'data_dependent'):
      raise ConfigError(f'train.init must be original or data_dependent, got {self.init!r}')
    if not (self.deterministic is None or isinstance(self.deterministic, bool)):
      raise ConfigError(f'train.deterministic must be a bool (or null: chosen for the '
                        f'devices), got {self.deterministic!r}')
    if self.precision is not None and self.precision not in precision_lib.PRECISIONS:
      raise ConfigError(f'train.precision must be one of '
                        f'{", ".join(precision_lib.PRECISIONS)}, got '
                        f'{self.precision!r}')
    for name in ('batch_size', 'num_epochs', 'init_batch_size', 'shuffle_buffer', 'log_every',
                 'checkpoint_every', 'keep_checkpoints'):
      if getattr(self, name) < 1:
        raise ConfigError(f'train.{name} must be positive, got {getattr(self, name)}')
    for name in ('num_steps', 'eval_every', 'eval_examples', 'sample_every'):
      if getattr(self, name) < 0:
        raise ConfigError(f'train.{name} must be >= 0 (0: {_ZERO_MEANS[name]}), got '
                          f'{getattr(self, name)}')
    check_range('train.learning_rate', self.learning_rate, 0, math.inf, low_open=True)
    check_range('train.lr_decay', self.lr_decay, 0, 1, low_open=True, why=' (1: constant)')
    check_range('train.polyak_decay', self.polyak_decay, 0, 1, high_open=True)
    check_range('train.adam_beta1', self.adam_beta1, 0, 1, high_open=True)
    check_range('train.adam_beta2', self.adam_beta2, 0, 1, high_open=True)
    check_range('train.adam_epsilon', self.adam_epsilon, 0, math.inf, low_open=True)
    check_range('train.seed', self.seed, 0, MAX_TRAIN_SEED)


# The configs by name: the paper's two, the demo model's, and a tiny one for tests.
CIFAR10, IMAGENET, CIFAR10_DEMO, TINY = 'cifar10', 'imagenet', 'cifar10_demo', 'tiny'


@dataclasses.dataclass(frozen=True)
class Config:
  """Everything a binary needs to rebuild a model and its training.

  Attributes:
    name: the base config's name.
    dataset: a name of :data:`pic_tf.data.DATASETS` or ``'folder:PATH'``.
    model: :class:`ModelConfig`.
    train: :class:`TrainConfig`.
    init_from: the model source a fine-tuning run took its step-0 weights from (a
      workdir, one of its checkpoints, an original checkpoint, the demo model), as
      recorded by :func:`finetuning`; ``''``: a run initialised from scratch.
  """
  name: str = CIFAR10
  dataset: str = data.CIFAR10
  model: ModelConfig = ModelConfig()
  train: TrainConfig = TrainConfig()
  init_from: str = ''

  def __post_init__(self):
    check_types(self, '')
    data.check_dataset(self.dataset)

  def to_dict(self):
    return dataclasses.asdict(self)

  @classmethod
  def from_dict(cls, d):
    d = dict(d)
    unknown = set(d) - {f.name for f in dataclasses.fields(cls)}
    if unknown:
      raise ConfigError(f'unknown config fields: {sorted(unknown)}')
    for section in ('model', 'train'):
      if not isinstance(d.get(section, {}), dict):
        raise ConfigError(f'config field {section!r} must be a JSON object')
    train = dict(d.get('train', {}))
    # Workdirs written before train.ema_order existed averaged after each Adam step:
    # resuming one keeps that order.
    train.setdefault('ema_order', 'after_update')
    return cls(name=d.get('name', 'custom'), dataset=d.get('dataset', data.CIFAR10),
               model=_from_dict(ModelConfig, d.get('model', {}), 'model'),
               train=_from_dict(TrainConfig, train, 'train'),
               init_from=d.get('init_from', ''))


def _from_dict(cls, d, section):
  names = {f.name for f in dataclasses.fields(cls)}
  unknown = set(d) - names
  if unknown:
    raise ConfigError(f'unknown {section} config fields: {sorted(unknown)}')
  return cls(**d)


def cifar10():
  """The paper's CIFAR-10 model: 32x32, chroma 16x16, width 160, 4 blocks."""
  # A full shuffle of the 50k training images every epoch, as the original.
  return Config(name=CIFAR10, dataset=data.CIFAR10, model=ModelConfig(),
                train=TrainConfig(shuffle_buffer=50000))


def imagenet():
  """The paper's ImageNet model: 128x128, chroma 32x32, width 160, 4 blocks."""
  return Config(
      name=IMAGENET, dataset=data.IMAGENET,
      model=ModelConfig(image_size=128, downsample=4, embedding=IMAGENET_EMBEDDING),
      train=TrainConfig(learning_rate=1.6e-4, lr_decay=0.99999, num_epochs=20,
                        eval_examples=1000))


def cifar10_demo():
  """The small CIFAR-10 model shipped with the package (a demo, not the paper's model)."""
  return Config(
      name=CIFAR10_DEMO, dataset=data.CIFAR10,
      model=ModelConfig(embedding=DEMO_EMBEDDING, nr_channels=80, nr_resnet=3),
      train=TrainConfig(batch_size=32, shuffle_buffer=50000, eval_every=2000,
                        eval_examples=500, sample_every=2000, checkpoint_every=500))


def tiny():
  """A small model for tests and smoke runs: 8x8 images, chroma 4x4."""
  return Config(
      name=TINY, dataset=data.CIFAR10,
      model=ModelConfig(image_size=8, downsample=2, embedding=TINY_EMBEDDING,
                        nr_channels=16, nr_resnet=1),
      train=TrainConfig(batch_size=8, num_steps=20, log_every=5, checkpoint_every=10,
                        eval_every=0, eval_examples=64, sample_every=0,
                        init_batch_size=8, shuffle_buffer=256))


CONFIGS = {CIFAR10: cifar10, IMAGENET: imagenet, CIFAR10_DEMO: cifar10_demo, TINY: tiny}
# The paper config that fits each named dataset's images (the default of bin/train).
PAPER_CONFIG_OF = {data.CIFAR10: CIFAR10, data.CIFAR10_BUNDLED: CIFAR10,
                   data.IMAGENET: IMAGENET}


def get_config(name, overrides=()):
  """The named :class:`Config` with ``overrides`` applied (:func:`override`).

  Args:
    name: ``cifar10``, ``imagenet``, ``cifar10_demo`` or ``tiny``.
    overrides: ``section.field=value`` strings.

  Raises:
    ConfigError: an unknown name, or a bad override.
  """
  if name not in CONFIGS:
    raise ConfigError(f'unknown config {name!r}; choose one of {sorted(CONFIGS)}')
  config = CONFIGS[name]()
  return override(config, overrides) if overrides else config


def finetuning(source_config, source, overrides=()):
  """The config of a run that starts from the weights of ``source``.

  The model is the source's (``source_config``, its ``config.json`` or the config it
  was trained with); the dataset and the training settings are the source's with
  ``overrides`` applied, as for any run; ``init_from`` records ``source``.

  Args:
    source_config: the source model's :class:`Config`.
    source: the source's path (recorded in ``init_from``).
    overrides: ``section.field=value`` strings (``dataset=...``, ``train.*``).

  Raises:
    ConfigError: an override changes the model (naming the field), or a bad override.
  """
  config = override(source_config, overrides)
  changed = [f'model.{f.name} ({getattr(source_config.model, f.name)} -> '
             f'{getattr(config.model, f.name)})' for f in dataclasses.fields(ModelConfig)
             if getattr(config.model, f.name) != getattr(source_config.model, f.name)]
  if changed:
    raise ConfigError(f'{", ".join(changed)}: fine-tuning keeps the model of {source}; '
                      'change only the dataset and train.* settings, or train a new model '
                      'from scratch')
  return dataclasses.replace(config, init_from=source)


def _parse_value(text, current, kind=None):
  """Parses ``text`` to the type of ``current`` (the field's present value), or to
  ``kind`` when that value is ``None`` (an unset optional field)."""
  if isinstance(current, bool) or (current is None and kind is bool):
    if text.lower() in ('1', 'true', 'yes'):
      return True
    if text.lower() in ('0', 'false', 'no'):
      return False
    raise ConfigError(f'expected a boolean, got {text!r}')
  if isinstance(current, int):
    return int(text)
  if isinstance(current, float):
    return float(text)
  if isinstance(current, tuple):
    return tuple(tuple(s) for s in json.loads(text))
  return text


def _optional_kind(parts):
  """For an ``Optional[T]`` field (``['train', 'deterministic']``), ``T``: what a set
  value is parsed to while the field is unset (None); else None."""
  sections = {'model': ModelConfig, 'train': TrainConfig}
  if len(parts) != 2 or parts[0] not in sections:
    return None
  hint = typing.get_type_hints(sections[parts[0]]).get(parts[1])
  kinds = [kind for kind in typing.get_args(hint) if kind is not type(None)]
  return kinds[0] if len(kinds) == 1 else None


def _names(section, sections=False):
  """The field names (or the section names) of one level of :meth:`Config.to_dict`."""
  return sorted(name for name, value in section.items() if isinstance(value, dict) == sections)


def _unknown_field(d, parts, section):
  """The error for ``section.field`` (``parts``), which :meth:`Config.to_dict` ``d`` lacks
  at its level ``section``. It names the field of that name in another section
  (``batch_size``: ``train.batch_size``), else the closest one of this section, and
  lists this section's fields."""
  *path, field = parts
  where = '.'.join(path)
  close = [k for k in _dotted(d) if k.rsplit('.', 1)[-1] == field] or [
      '.'.join(path + [c]) for c in difflib.get_close_matches(field, _names(section), n=1)]
  return ConfigError(
      f'unknown config field {".".join(parts)!r}' +
      (f' (did you mean {close[0]}?)' if close else '') +
      f'; the fields{" of " + where if where else ""}: ' + ', '.join(_names(section)) +
      ('' if where else '; the sections: ' + ', '.join(_names(section, sections=True))))


def _dotted(section, prefix=''):
  """Every field of :meth:`Config.to_dict` as ``section.field``."""
  for name, value in section.items():
    if isinstance(value, dict):
      yield from _dotted(value, f'{prefix}{name}.')
    else:
      yield prefix + name


def override(config, assignments):
  """Returns ``config`` with ``section.field=value`` assignments applied.

  Args:
    config: a :class:`Config`.
    assignments: iterable of strings like ``'model.nr_channels=32'``,
      ``'train.batch_size=16'`` or ``'dataset=folder:/photos'``; tuples (the
      embedding) are given as JSON.

  Returns:
    A new, validated :class:`Config`.

  Raises:
    ConfigError: a malformed assignment, an unknown field or an invalid value.
  """
  d = config.to_dict()
  for assignment in assignments:
    if '=' not in assignment:
      raise ConfigError(f'override {assignment!r} is not of the form section.field=value')
    key, text = assignment.split('=', 1)
    parts = key.strip().split('.')
    target = d
    for part in parts[:-1]:
      if part not in target or not isinstance(target[part], dict):
        raise ConfigError(f'unknown config section {part!r} in {assignment!r}; the sections: '
                          + ', '.join(_names(target, sections=True)))
      target = target[part]
    field = parts[-1]
    if field not in target or isinstance(target[field], dict):
      raise _unknown_field(d, parts, target)
    kind = _optional_kind(parts)
    try:
      target[field] = _parse_value(text.strip(), target[field], kind)
    except ValueError as e:
      raise ConfigError(f'bad value for {key}: {e}') from None
  return Config.from_dict(d)
