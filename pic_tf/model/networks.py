"""The PIC networks: embedding g^w, conditional PixelCNN++ f^theta, and the model.

Shapes (B batch, H = W = image size, h = w = chroma size = H / downsample,
E embedding channels, C PixelCNN width, K mixture components)::

  gray      [B, H, W, 1]  L' in [-1, 1]                    -> EmbeddingNetwork
  embedding [B, h, w, E]
  canvas    [B, h, w, 3]  downsampled RGB in [-1, 1]       -> ConditionalPixelCNN
  params    [B, h, w, 8K] mixture parameters (see distribution.py)

Layer and variable names follow the original code (``conv_leak``,
``down_leak_<n>/conv1/V``, ``shortrange_down_right_<i>/conv_aux/g``, ...) so that
:mod:`pic_tf.storage.original_checkpoints` maps checkpoints one to one.
"""

import contextlib
import dataclasses

import keras
from keras import ops
import tensorflow as tf

from pic_tf.model.config import ModelConfig
from pic_tf.model import ema as ema_lib
from pic_tf.model import layers


def _with_ones(x):
  """Appends a constant channel of ones, as the original does to every input."""
  return ops.concatenate([x, ops.ones_like(x[..., :1])], axis=-1)


def _fold_seed(seed, index):
  return None if seed is None else tf.random.experimental.stateless_fold_in(seed, index)


class EmbeddingNetwork(keras.layers.Layer):
  """g^w: a feed-forward CNN of weight-normalised convs and gated residual blocks.

  Args:
    stages: tuple of ``(kind, a, b)`` stages (see :mod:`pic_tf.configs`).
    dropout: dropout rate of the residual blocks during training.

  Call args:
    gray: float ``[B, H, W, 1]``, L'. A channel of ones is appended inside.
    training: bool, enables dropout.
    seed: optional int ``[2]`` dropout seed.

  Returns:
    ``[B, H / prod(strides), W / prod(strides), E]``.
  """

  def __init__(self, stages, dropout=0.0, **kwargs):
    super().__init__(**kwargs)
    self.stages = tuple(tuple(s) for s in stages)
    self.dropout = float(dropout)
    self.layer_names = []
    num_convs = num_blocks = 0
    for kind, a, b in self.stages:
      if kind == 'conv':
        name = 'conv_leak' if num_convs == 0 else f'downscale_leak_{num_convs}'
        num_convs += 1
        self._add(name, layers.WeightNormConv2D(a, (3, 3), strides=b, name=name))
      else:
        for _ in range(a):
          num_blocks += 1
          name = f'down_leak_{num_blocks}'
          self._add(name, layers.GatedResidualBlock('plain', dilation_rate=b,
                                                    dropout=dropout, name=name))

  def _add(self, name, layer):
    # Attributes, not a list: tf.train.Checkpoint does not see Keras 3 list wrappers.
    setattr(self, name, layer)
    self.layer_names.append(name)

  def named_layers(self):
    """``[(original_name, layer)]`` in forward order."""
    return [(name, getattr(self, name)) for name in self.layer_names]

  def build(self, gray_shape):
    shape = tuple(gray_shape[:-1]) + (int(gray_shape[-1]) + 1,)
    for _, layer in self.named_layers():
      if isinstance(layer, layers.GatedResidualBlock):
        layer.build(shape)
      else:
        layer.build(shape)
        stride = layer.strides
        shape = (shape[0],) + tuple(None if s is None else -(-s // stride)
                                    for s in shape[1:3]) + (layer.filters,)

  def call(self, gray, training=False, seed=None):
    x = _with_ones(gray)
    for i, (_, layer) in enumerate(self.named_layers()):
      if isinstance(layer, layers.GatedResidualBlock):
        x = layer(x, training=training, seed=_fold_seed(seed, i))
      else:
        x = layer(x)
    return x

  def get_config(self):
    config = super().get_config()
    config.update(stages=self.stages, dropout=self.dropout)
    return config


class ConditionalPixelCNN(keras.layers.Layer):
  """f^theta: PixelCNN++ (no down/up-sampling) conditioned on the embedding.

  ::

    u  = down_shift(conv_down(x))                              # 2x3 down-shifted
    ul = down_shift(conv_down_2(x)) + right_shift(conv_down_right(x))   # 1x3, 2x1
    for i in range(nr_resnet):
      u  = shortrange_down_i(u, a=embedding)                   # down-shifted 3x3
      ul = shortrange_down_right_i(ul, a=concat(u, embedding)) # down-right 3x3
    params = conv_last(elu(ul))                                # 1x1

  ``x`` is the canvas with a ones channel. The output at chroma pixel ``(i, j)``
  depends only on canvas pixels before it in raster order.

  Args:
    nr_channels: width C.
    nr_resnet: blocks per stream.
    num_outputs: output channels (8 * mixture components).
    dropout: dropout rate of the blocks during training.
  """

  def __init__(self, nr_channels, nr_resnet, num_outputs, dropout=0.0, **kwargs):
    super().__init__(**kwargs)
    self.nr_channels = int(nr_channels)
    self.nr_resnet = int(nr_resnet)
    self.num_outputs = int(num_outputs)
    self.dropout = float(dropout)
    c = self.nr_channels
    self.conv_down = layers.DownShiftedConv2D(c, (2, 3), name='conv_down')
    self.conv_down_2 = layers.DownShiftedConv2D(c, (1, 3), name='conv_down_2')
    self.conv_down_right = layers.DownRightShiftedConv2D(c, (2, 1), name='conv_down_right')
    self.u_names, self.ul_names = [], []
    for i in range(self.nr_resnet):
      self.u_names.append(f'shortrange_down_{i}')
      self.ul_names.append(f'shortrange_down_right_{i}')
      setattr(self, self.u_names[-1],
              layers.GatedResidualBlock('down', dropout=dropout, name=self.u_names[-1]))
      setattr(self, self.ul_names[-1],
              layers.GatedResidualBlock('down_right', dropout=dropout, name=self.ul_names[-1]))
    self.conv_last = layers.WeightNormConv2D(self.num_outputs, (1, 1), name='conv_last')

  def u_blocks(self):
    return [getattr(self, n) for n in self.u_names]

  def ul_blocks(self):
    return [getattr(self, n) for n in self.ul_names]

  def named_layers(self):
    """``[(original_name, layer)]`` of every layer."""
    named = [('conv_down', self.conv_down), ('conv_down_2', self.conv_down_2),
             ('conv_down_right', self.conv_down_right)]
    for u_name, ul_name in zip(self.u_names, self.ul_names):
      named += [(u_name, getattr(self, u_name)), (ul_name, getattr(self, ul_name))]
    return named + [('conv_last', self.conv_last)]

  def build(self, canvas_shape, embedding_shape):
    c = self.nr_channels
    x_shape = tuple(canvas_shape[:-1]) + (int(canvas_shape[-1]) + 1,)
    for conv in (self.conv_down, self.conv_down_2, self.conv_down_right):
      conv.build(x_shape)
    stream = tuple(canvas_shape[:-1]) + (c,)
    emb = int(embedding_shape[-1])
    for u_block, ul_block in zip(self.u_blocks(), self.ul_blocks()):
      u_block.build(stream, tuple(canvas_shape[:-1]) + (emb,))
      ul_block.build(stream, tuple(canvas_shape[:-1]) + (c + emb,))
    self.conv_last.build(stream)

  def initial_streams(self, canvas):
    """The u and ul streams before the residual blocks. ``[B, h, w, C]`` each."""
    x = _with_ones(canvas)
    u = layers.down_shift(self.conv_down(x))
    ul = (layers.down_shift(self.conv_down_2(x)) +
          layers.right_shift(self.conv_down_right(x)))
    return u, ul

  def call(self, canvas, embedding, training=False, seed=None):
    u, ul = self.initial_streams(canvas)
    for i, (u_block, ul_block) in enumerate(zip(self.u_blocks(), self.ul_blocks())):
      u = u_block(u, embedding, training=training, seed=_fold_seed(seed, 2 * i))
      ul = ul_block(ul, ops.concatenate([u, embedding], axis=-1), training=training,
                    seed=_fold_seed(seed, 2 * i + 1))
    return self.conv_last(ops.elu(ul))

  def get_config(self):
    config = super().get_config()
    config.update(nr_channels=self.nr_channels, nr_resnet=self.nr_resnet,
                  num_outputs=self.num_outputs, dropout=self.dropout)
    return config


class PICModel(keras.Model):
  """Probabilistic Image Colorization: ``(gray, canvas) -> (params, embedding)``.

  Args:
    config: a :class:`pic_tf.model.config.ModelConfig` (or its dict).

  Call args:
    gray: float ``[B, H, W, 1]``, L' in [-1, 1] at the model's image size.
    canvas: float ``[B, h, w, 3]``, downsampled RGB in [-1, 1] (the true image at
      training time; the partially sampled one at sampling time).
    training: bool, enables dropout.
    dropout_seed: optional int ``[2]``; makes dropout deterministic.

  Returns:
    ``(params [B, h, w, 8K], embedding [B, h, w, E])`` in the compute dtype.
    ``embedding[..., :8K]`` is the auxiliary (g^w only) mixture head.
  """

  def __init__(self, config, **kwargs):
    kwargs.setdefault('name', 'pic')
    super().__init__(**kwargs)
    if isinstance(config, dict):
      config = ModelConfig(**config)
    self.config = config
    self.embedding_net = EmbeddingNetwork(config.embedding, dropout=config.dropout,
                                          name='embedding')
    self.pixelcnn = ConditionalPixelCNN(config.nr_channels, config.nr_resnet,
                                        config.num_outputs, dropout=config.dropout,
                                        name='pixelcnn')

  def build(self, gray_shape=None, canvas_shape=None):
    size, chroma = self.config.image_size, self.config.chroma_size
    gray_shape = gray_shape or (None, size, size, 1)
    canvas_shape = canvas_shape or (None, chroma, chroma, 3)
    self.embedding_net.build(gray_shape)
    emb_shape = tuple(canvas_shape[:-1]) + (self.config.embedding_channels,)
    self.pixelcnn.build(canvas_shape, emb_shape)
    self.built = True

  def embed(self, gray, training=False, seed=None):
    """g^w(gray): ``[B, H, W, 1] -> [B, h, w, E]``."""
    return self.embedding_net(gray, training=training, seed=seed)

  def call(self, gray, canvas, training=False, dropout_seed=None):
    emb_seed = _fold_seed(dropout_seed, 0)
    cnn_seed = _fold_seed(dropout_seed, 1)
    embedding = self.embed(gray, training=training, seed=emb_seed)
    params = self.pixelcnn(canvas, embedding, training=training, seed=cnn_seed)
    return params, embedding

  def named_layers(self):
    """``[(original_name, layer)]`` of the embedding net and the PixelCNN."""
    return self.embedding_net.named_layers() + self.pixelcnn.named_layers()

  def get_config(self):
    return {'config': dataclasses.asdict(self.config), 'name': self.name}

  @classmethod
  def from_config(cls, config):
    return cls(**config)


def named_variables(model):
  """Every variable of ``model`` with the name the original code gave it.

  Returns:
    list of ``(name, owner, variable)``: ``name`` like ``'down_leak_1/conv1/V'``
    (the original's, without its ``picolor_template/`` scope), ``owner`` the
    attribute of the sub-network holding it (``'embedding_net'`` or ``'pixelcnn'``).
  """
  found = []
  for owner in ('embedding_net', 'pixelcnn'):
    for name, layer in getattr(model, owner).named_layers():
      if isinstance(layer, layers.GatedResidualBlock):
        convs = [('conv1', layer.conv1), ('conv_aux', layer.conv_aux), ('conv2', layer.conv2)]
        convs = [(f'{name}/{c}', conv) for c, conv in convs if conv is not None]
      else:
        convs = [(name, layer)]
      for prefix, conv in convs:
        found += [(f'{prefix}/{v}', owner, getattr(conv, v)) for v in ('V', 'g', 'b')]
  return found


class WeightsMismatch(ValueError):
  """Stored weights that do not fit a model; the message lists the missing, unexpected
  and mis-shaped variables (the first 12 of each group), a group per line."""


def check_weights(model, shapes):
  """Raises :class:`WeightsMismatch` unless ``shapes`` are exactly ``model``'s variables.

  Args:
    model: a built :class:`PICModel`.
    shapes: ``{name: shape}`` with the names of :func:`named_variables`.
  """
  expected = {name: list(var.shape) for name, _, var in named_variables(model)}
  missing = sorted(n for n in expected if n not in shapes)
  unexpected = sorted(n for n in shapes if n not in expected)
  misshaped = sorted(f'{n}: checkpoint {list(shapes[n])}, model {expected[n]}'
                     for n in expected if n in shapes and list(shapes[n]) != expected[n])
  lines = [f'{len(expected)} variables expected']
  for title, names in (('missing', missing), ('unexpected', unexpected),
                       ('mis-shaped', misshaped)):
    if names:
      shown = names[:12] + ([f'... and {len(names) - 12} more'] if len(names) > 12 else [])
      lines.append(f'  {title} ({len(names)}): ' + ', '.join(shown))
  if len(lines) > 1:
    raise WeightsMismatch('\n'.join(lines))


def assign_weights(model, ema, weights, averages=None):
  """Puts stored weights into ``model`` and their Polyak averages into ``ema``.

  Args:
    model: a built :class:`PICModel`.
    ema: its :class:`pic_tf.model.ema.ExponentialMovingAverage`, or None.
    weights: ``{name: array}``, every variable of :func:`named_variables` by its name.
    averages: the averages: ``{name: array}`` like ``weights``, a list in the order of
      ``ema.averages``, or None (the averages start as the weights).

  Raises:
    WeightsMismatch: ``weights`` do not fit ``model`` (nothing is assigned).
  """
  check_weights(model, {name: value.shape for name, value in weights.items()})
  variables = {name: var for name, _, var in named_variables(model)}
  for name, var in variables.items():
    var.assign(weights[name])
  if ema is None:
    return
  if averages is None:
    ema.reset()
  elif isinstance(averages, dict):
    by_id = {id(v): avg for v, avg in zip(ema.variables_to_average, ema.averages)}
    for name, var in variables.items():
      by_id[id(var)].assign(averages[name])
  else:
    for avg, value in zip(ema.averages, averages, strict=True):
      avg.assign(value)


@contextlib.contextmanager
def dtype_policy(name):
  """Sets the global Keras dtype policy while layers are created."""
  previous = keras.config.dtype_policy()
  keras.config.set_dtype_policy(name)
  try:
    yield
  finally:
    keras.config.set_dtype_policy(previous)


def build_model(model_config, precision=None):
  """Creates and builds a :class:`PICModel` (variables exist afterwards).

  ``precision``: a Keras dtype policy for its layers (``'mixed_bfloat16'``: bfloat16
  compute, float32 variables); None keeps the current one (float32 by default).
  """
  with dtype_policy(precision) if precision else contextlib.nullcontext():
    model = PICModel(model_config)
    model.build()
  return model


def build_model_and_ema(config, precision=None):
  """A built :class:`PICModel` for ``config`` and its (unrestored) EMA.

  ``precision``: see :func:`build_model`.
  """
  model = build_model(config.model, precision)
  ema = ema_lib.ExponentialMovingAverage(model.trainable_variables,
                                         decay=config.train.polyak_decay)
  return model, ema
