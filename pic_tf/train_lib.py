"""Training as the paper (and the original code) trains.

loss = bpd + bpd of the auxiliary embedding head (:mod:`pic_tf.objective`), each the
mean over the global batch; Adam(0.95, 0.9995, 1e-6); step k (1-based) uses the
learning rate ``lr0 * decay**(k - 1)``; after every Adam step the Polyak averages are
updated (decay 0.999, no bias correction); dropout 0.5 in every gated block; the
whole batch flipped horizontally with probability 0.5.

Everything random is a function of ``(train.seed, step)`` (data order, flips,
dropout), so a run restarted from its last checkpoint continues exactly as an
uninterrupted run would.
"""

import contextlib
import dataclasses
import math
import os
import time

import keras
import numpy as np
import tensorflow as tf

from pic_tf import checkpoints
from pic_tf import configs
from pic_tf import data
from pic_tf import ema as ema_lib
from pic_tf import eval_lib
from pic_tf import fileutil
from pic_tf import layers
from pic_tf import networks
from pic_tf import objective
from pic_tf import progress as progress_lib
from pic_tf.errors import ConfigError
from pic_tf.errors import PicError

STRATEGIES = ('default', 'mirrored', 'multi_worker', 'tpu')
# Fields that may change when a run is resumed (length, logging); the rest may not.
RESUMABLE_FIELDS = {'num_epochs', 'num_steps', 'log_every', 'checkpoint_every', 'eval_every',
                    'eval_examples', 'sample_every', 'keep_checkpoints', 'deterministic'}


class TrainingDivergedError(PicError):
  """The loss became NaN or infinite."""


def make_strategy(name, tpu=None):
  """A ``tf.distribute`` strategy by name.

  Args:
    name: ``default`` (one device), ``mirrored`` (all local GPUs, or CPUs),
      ``multi_worker`` (several machines; configure with ``TF_CONFIG``) or ``tpu``.
    tpu: TPU name or address for ``tpu``.
  """
  if name == 'default':
    return tf.distribute.get_strategy()
  if name == 'mirrored':
    return tf.distribute.MirroredStrategy()
  if name == 'multi_worker':
    if 'TF_CONFIG' not in os.environ:
      raise ConfigError('--strategy=multi_worker needs TF_CONFIG describing the cluster '
                        '(see BUILD.md)')
    return tf.distribute.MultiWorkerMirroredStrategy()
  if name == 'tpu':
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu or '')
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)
  raise ConfigError(f'unknown strategy {name!r}; choose one of {STRATEGIES}')


@contextlib.contextmanager
def dtype_policy(name):
  """Sets the global Keras dtype policy while layers are created."""
  previous = keras.config.dtype_policy()
  keras.config.set_dtype_policy(name)
  try:
    yield
  finally:
    keras.config.set_dtype_policy(previous)


def set_deterministic(enabled):
  """Turns TensorFlow's graph optimiser off (``enabled``) or on, for this process.

  With Grappler on, two identical training runs on a multi-core CPU differ from
  about the third step (by 1e-7 in the weights, then growing): some gradient of the
  embedding network is accumulated in a run-dependent order. ``enable_op_determinism``
  does not change that, and neither does turning oneDNN off; without Grappler the
  step is bit-reproducible. It applies to functions traced afterwards.
  """
  tf.config.optimizer.set_experimental_options({'disable_meta_optimizer': bool(enabled)})


def learning_rate_schedule(train_config):
  """``lr(iterations) = lr0 * decay**iterations``: step k (1-based) gets ``decay**(k-1)``."""
  return keras.optimizers.schedules.ExponentialDecay(
      train_config.learning_rate, decay_steps=1, decay_rate=train_config.lr_decay)


class Trainer:
  """Model, EMA, optimizer and the compiled training step of one run.

  Args:
    config: a :class:`pic_tf.configs.Config`.
    strategy: a ``tf.distribute.Strategy`` (default: the current one).
    jit: compile the forward and backward pass with XLA.
  """

  def __init__(self, config, strategy=None, jit=False):
    self.config = config
    self.strategy = strategy or tf.distribute.get_strategy()
    train = config.train
    set_deterministic(train.deterministic)
    keras.utils.set_random_seed(train.seed)   # the initial weights
    with dtype_policy(train.precision), self.strategy.scope():
      self.model = networks.build_model(config.model)
      self.ema = ema_lib.ExponentialMovingAverage(self.model.trainable_variables,
                                                  decay=train.polyak_decay)
      self.schedule = learning_rate_schedule(train)
      optimizer = keras.optimizers.Adam(
          learning_rate=self.schedule, beta_1=train.adam_beta1, beta_2=train.adam_beta2,
          epsilon=train.adam_epsilon)
      if train.precision == 'mixed_float16':
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
      self.optimizer = optimizer
      self.optimizer.build(self.model.trainable_variables)
      self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name='step')
    self.checkpoint = checkpoints.make_checkpoint(self.model, self.ema,
                                                  optimizer=self.optimizer, step=self.step)
    self._grads = tf.function(self._compute_gradients, jit_compile=jit)
    self._train_step = tf.function(self._distributed_step)
    self._eval_step = eval_lib.make_eval_step(self.model)
    self._sampler = None

  @property
  def sampler(self):
    """A cached sampler of this model (created once)."""
    if self._sampler is None:
      from pic_tf import cached_sampling  # pylint: disable=import-outside-toplevel
      self._sampler = cached_sampling.CachedSampler(self.model)
    return self._sampler

  @property
  def learning_rate(self):
    """The rate the next step will use."""
    return float(self.schedule(self.step.numpy()))

  def initialize(self, init_images=None):
    """Initialises a new run: the data-dependent init if configured, then EMA = weights.

    Args:
      init_images: uint8 ``[N, S, S, 3]`` for ``train.init == 'data_dependent'``.
    """
    if self.config.train.init == 'data_dependent':
      if init_images is None:
        raise ValueError('the data-dependent initialisation needs init_images')
      inputs = data.preprocess_batch(init_images, self.config.model.downsample)
      with self.strategy.scope(), layers.data_dependent_init(self.model):
        self.model(inputs['gray'], inputs['canvas'], training=False)
    self.ema.reset()

  def _compute_gradients(self, inputs, step):
    replica = tf.distribute.get_replica_context()
    seed = tf.stack([tf.constant(self.config.train.seed, tf.int64), step])
    dropout_seed = tf.random.experimental.stateless_fold_in(seed, replica.replica_id_in_sync_group)
    variables = self.model.trainable_variables
    with tf.GradientTape() as tape:
      bpd, aux = objective.bits_per_dim(self.model, inputs, training=True,
                                        dropout_seed=dropout_seed)
      # Gradients are summed over replicas: divide so the update is that of the
      # mean over the global batch, as the original.
      loss = (bpd + aux) / replica.num_replicas_in_sync
      if isinstance(self.optimizer, keras.optimizers.LossScaleOptimizer):
        loss = self.optimizer.scale_loss(loss)
    return tape.gradient(loss, variables), bpd, aux

  def _replica_step(self, inputs, step):
    grads, bpd, aux = self._grads(inputs, step)
    self.optimizer.apply_gradients(zip(grads, self.model.trainable_variables))
    return bpd, aux

  def _distributed_step(self, inputs):
    bpd, aux = self.strategy.run(self._replica_step, args=(inputs, self.step))
    self.ema.update()   # after the Adam step, as the original
    self.step.assign_add(1)
    mean = tf.distribute.ReduceOp.MEAN
    return (self.strategy.reduce(mean, bpd, axis=None),
            self.strategy.reduce(mean, aux, axis=None))

  def train_step(self, inputs):
    """One step on a (distributed) batch. Returns ``(bpd, aux_bpd)`` before the update."""
    return self._train_step(inputs)

  def evaluate(self, dataset, use_ema=True, progress=None):
    """Test bpd (dropout off) of the EMA or raw weights. See :func:`eval_lib.evaluate_bpd`."""
    context = self.ema.swapped() if use_ema else contextlib.nullcontext()
    with context:
      return eval_lib.evaluate_bpd(self._eval_step, dataset, progress)


def prepare_workdir(config, workdir):
  """Checks ``workdir`` against ``config`` and writes ``config.json``.

  A workdir may be resumed with other run-length or logging fields; a different
  model, dataset or optimisation is refused.

  Returns:
    True if the workdir already held a run.

  Raises:
    ConfigError: the workdir holds a run of another config.
  """
  path = os.path.join(workdir, configs.CONFIG_FILENAME)
  existed = os.path.exists(path)
  if existed:
    old = configs.load_json(workdir)
    diffs = _config_diffs(old, config)
    if diffs:
      raise ConfigError(
          f'workdir {workdir} holds a run of another config ({old.name}); it differs in: '
          + ', '.join(diffs) + '. Use a new --workdir, or the same --config and --set flags.')
  configs.save_json(config, workdir)
  return existed


def _config_diffs(old, new):
  diffs = []
  if old.dataset != new.dataset:
    diffs.append(f'dataset ({old.dataset} vs {new.dataset})')
  for section in ('model', 'train'):
    a, b = getattr(old, section), getattr(new, section)
    for field in dataclasses.fields(a):
      if section == 'train' and field.name in RESUMABLE_FIELDS:
        continue
      if getattr(a, field.name) != getattr(b, field.name):
        diffs.append(f'{section}.{field.name} ({getattr(a, field.name)} vs '
                     f'{getattr(b, field.name)})')
  return diffs


def total_steps(config, steps_per_epoch):
  """``train.num_steps`` if set, else ``num_epochs`` epochs."""
  return config.train.num_steps or config.train.num_epochs * steps_per_epoch


def train(config, workdir, data_dir=None, strategy='default', jit=False, download=True,
          tpu=None, log=None):
  """Trains (or resumes) a run in ``workdir``.

  Writes ``config.json``, checkpoints (model, EMA, optimizer, step) every
  ``train.checkpoint_every`` steps and at the end, TensorBoard summaries in
  ``workdir/train`` and ``workdir/eval``, and ``workdir/train_results.json`` after the
  final evaluation.

  Args:
    config: a :class:`pic_tf.configs.Config`.
    workdir: output directory; an existing run there is resumed.
    data_dir: tensorflow-datasets directory.
    strategy: see :func:`make_strategy`.
    jit: XLA-compile the training step.
    download: allow tfds downloads.
    tpu: TPU address for ``strategy='tpu'``.
    log: callable for progress lines (default: print to stdout, flushed).

  Returns:
    Final results: ``{'step', 'train_bpd', 'test_bpd_ema', 'test_bpd_raw', ...}``.

  Raises:
    TrainingDivergedError: NaN or Inf loss (the last good checkpoint is kept).
  """
  log = log or _print
  strategy_obj = make_strategy(strategy, tpu)
  chief = _is_chief(strategy_obj)
  fileutil.ensure_dir(workdir, '--workdir')
  resumed = prepare_workdir(config, workdir) if chief else True
  trainer = Trainer(config, strategy_obj, jit=jit)
  ckpt_dir = workdir if chief else os.path.join(workdir, f'.worker_{_task_id()}')
  manager = tf.train.CheckpointManager(trainer.checkpoint, ckpt_dir,
                                       max_to_keep=config.train.keep_checkpoints,
                                       step_counter=trainer.step)
  _restore_or_initialize(trainer, workdir, resumed and chief, data_dir, download, log)

  start_step = int(trainer.step.numpy())
  dataset, per_epoch = data.train_dataset(config, data_dir, start_step, download)
  steps = total_steps(config, per_epoch)
  test_ds, test_count = data.eval_dataset(config, config.train.batch_size,
                                          config.train.eval_examples, data_dir, download)
  summaries = _Summaries(workdir, chief)
  grid_images = None
  if config.train.sample_every:
    grid_images, _ = data.load_images(config.dataset, 'test', config.model.image_size,
                                      data_dir, download)
    grid_images = next(iter(grid_images.batch(GRID_IMAGES))).numpy()
  log(f'training {config.name} on {config.dataset}: steps {start_step} -> {steps} '
      f'({per_epoch} per epoch), batch {config.train.batch_size} over '
      f'{strategy_obj.num_replicas_in_sync} replica(s), precision {config.train.precision}'
      f'{", XLA" if jit else ""}')

  iterator = iter(strategy_obj.experimental_distribute_dataset(dataset))
  window = {'bpd': 0.0, 'aux': 0.0, 'n': 0}
  # Step time alone (no checkpoints, grids, evaluations), without the traced first step.
  meter = progress_lib.RateMeter()
  results = {'step': start_step}
  step = start_step
  if step >= steps:
    log(f'{workdir} is already at step {step} of {steps}: nothing to do')
  while step < steps:
    step_start = time.time()
    bpd, aux = trainer.train_step(next(iterator))
    step += 1
    bpd, aux = float(bpd), float(aux)
    meter.add(config.train.batch_size, time.time() - step_start)
    if not (math.isfinite(bpd) and math.isfinite(aux)):
      raise TrainingDivergedError(
          f'the loss is {bpd + aux} at step {step} (bpd {bpd}, aux {aux}); stopped without '
          f'saving. The last good checkpoint is {manager.latest_checkpoint}. Lower '
          'train.learning_rate or use --precision=float32.')
    window['bpd'] += bpd
    window['aux'] += aux
    window['n'] += 1
    if step % config.train.log_every == 0 or step == steps:
      images_per_s = meter.rate
      mean_bpd, mean_aux = window['bpd'] / window['n'], window['aux'] / window['n']
      eta = meter.eta((steps - step) * config.train.batch_size)
      lr = trainer.learning_rate
      rate_text = f'{images_per_s:.1f}' if images_per_s else '?'
      log(f'step {step}/{steps}  bpd {mean_bpd:.4f}  aux {mean_aux:.4f}  lr {lr:.3e}  '
          f'{rate_text} img/s  ETA {progress_lib.format_duration(eta)}')
      summaries.scalars('train', step, bpd=mean_bpd, aux_bpd=mean_aux, learning_rate=lr,
                        images_per_second=images_per_s or 0.0)
      results['train_bpd'] = mean_bpd
      window = {'bpd': 0.0, 'aux': 0.0, 'n': 0}
    if step % config.train.checkpoint_every == 0 or step == steps:
      manager.save(checkpoint_number=step)
    if config.train.sample_every and (step % config.train.sample_every == 0 or step == steps):
      summaries.image('eval', step, 'samples_gray_pic_original',
                      sample_grid(trainer, grid_images, seed=step))
    if (config.train.eval_every and step % config.train.eval_every == 0) or step == steps:
      ema_res = trainer.evaluate(test_ds, use_ema=True, progress=progress_lib.Progress(
          test_count, f'step {step} test bpd, EMA weights', 'img'))
      raw_res = trainer.evaluate(test_ds, use_ema=False, progress=progress_lib.Progress(
          test_count, f'step {step} test bpd, raw weights', 'img'))
      log(f'step {step}: test bpd {ema_res["bpd"]:.4f} (EMA), {raw_res["bpd"]:.4f} (raw), '
          f'aux {raw_res["aux_bpd"]:.4f} on {ema_res["num_examples"]} images')
      summaries.scalars('eval', step, bpd_ema=ema_res['bpd'], bpd_raw=raw_res['bpd'],
                        aux_bpd_raw=raw_res['aux_bpd'])
      results.update(test_bpd_ema=ema_res['bpd'], test_bpd_raw=raw_res['bpd'],
                     test_aux_bpd_raw=raw_res['aux_bpd'],
                     test_examples=ema_res['num_examples'])
    results['step'] = step
  if chief:
    fileutil.write_json(results, os.path.join(workdir, 'train_results.json'))
  summaries.close()
  if not chief:
    tf.io.gfile.rmtree(ckpt_dir)
  return results


GRID_IMAGES = 4          # test images in the TensorBoard sample grid
GRID_SAMPLES = 2


def sample_grid(trainer, images, seed=0):
  """A grid of ``gray | samples | original`` rows (EMA weights), uint8 ``[H, W, 3]``."""
  from pic_tf import image_io, sampling  # pylint: disable=import-outside-toplevel
  with trainer.ema.swapped():
    gray = sampling.model_gray(images, trainer.config.model.image_size)
    chroma = trainer.sampler.sample(gray, GRID_SAMPLES, 1.0, (seed, 0))
  samples = sampling.compose_full_resolution(images, chroma).numpy()
  gray_rgb = np.repeat(np.round(sampling.gray_from_images(images).numpy() * 2.55)
                       .clip(0, 255).astype(np.uint8), 3, axis=-1)
  rows = [[g] + list(s) + [im] for g, s, im in zip(gray_rgb, samples, images)]
  return image_io.grid(rows)


def _restore_or_initialize(trainer, workdir, had_config, data_dir, download, log):
  """Resumes from the newest checkpoint of ``workdir``, or initialises a new run."""
  config = trainer.config
  latest = checkpoints.latest_checkpoint(workdir)
  if latest:
    checkpoints.restore(trainer.checkpoint, latest,
                        trainer.model).assert_existing_objects_matched()
    log(f'resumed from {latest} at step {int(trainer.step.numpy())}')
    return
  init_images = None
  if config.train.init == 'data_dependent':
    images, _ = data.load_images(config.dataset, 'train', config.model.image_size, data_dir,
                                 download)
    init_images = next(iter(images.batch(config.train.init_batch_size)))
  trainer.initialize(init_images)
  if had_config:
    log(f'{workdir} had a config but no checkpoint: starting from step 0')


def _print(message):
  print(message, flush=True)


def _task_id():
  import json  # pylint: disable=import-outside-toplevel
  return json.loads(os.environ.get('TF_CONFIG', '{}')).get('task', {}).get('index', 0)


def _is_chief(strategy):
  resolver = getattr(strategy, 'cluster_resolver', None)
  if resolver is None or not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
    return True
  task_type, task_id = resolver.task_type, resolver.task_id
  return task_type is None or task_type == 'chief' or (task_type == 'worker' and task_id == 0)


class _Summaries:
  """TensorBoard writers for ``workdir/train`` and ``workdir/eval`` (chief only)."""

  def __init__(self, workdir, enabled):
    self.enabled = enabled
    self.writers = {}
    self.workdir = workdir

  def _writer(self, name):
    if name not in self.writers:
      self.writers[name] = tf.summary.create_file_writer(os.path.join(self.workdir, name))
    return self.writers[name]

  def scalars(self, name, step, **values):
    if not self.enabled:
      return
    with self._writer(name).as_default(step=step):
      for key, value in values.items():
        tf.summary.scalar(key, value)
    self._writer(name).flush()

  def image(self, name, step, tag, image):
    """``image``: uint8 ``[H, W, 3]``."""
    if not self.enabled:
      return
    with self._writer(name).as_default(step=step):
      tf.summary.image(tag, np.asarray(image)[None])
    self._writer(name).flush()

  def close(self):
    for writer in self.writers.values():
      writer.close()

