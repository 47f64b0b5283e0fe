"""Training as the paper (and the original code) trains.

loss = bpd + bpd of the auxiliary embedding head
(:func:`pic_tf.model.distribution.loss_terms`), each the mean over the global batch;
Adam(0.95, 0.9995, 1e-6); step k (1-based) uses the learning rate
``lr0 * decay**(k - 1)``; every step updates the Polyak averages (decay 0.999, no bias
correction) from the weights the step starts from, as the original's ``main.py`` does
(``train.ema_order``); dropout 0.5 in every gated block; the whole batch flipped
horizontally with probability 0.5.

Everything random is a function of ``(train.seed, step)`` (data order, flips,
dropout), so a run restarted from its last checkpoint continues exactly as an
uninterrupted run would.
"""

import contextlib
import json
import os
import signal
import threading

import keras
import tensorflow as tf

from pic_tf import progress as progress_lib
from pic_tf.data import datasets
from pic_tf.data import preprocess
from pic_tf.errors import ConfigError
from pic_tf.errors import DamagedCheckpointError
from pic_tf.errors import TrainingStopped
from pic_tf.model import ema as ema_lib
from pic_tf.model import layers
from pic_tf.model import networks
from pic_tf.model import distribution
from pic_tf.model import precision as precision_lib
from pic_tf.sampling import pipeline
from pic_tf.storage import fileutil
from pic_tf.storage import loading
from pic_tf.storage import workdir as workdir_lib
from pic_tf import training
from pic_tf.training import actions as train_actions
from pic_tf.training import plan as plan_lib


def set_deterministic(enabled, gpus=False):
  """Turns TensorFlow's graph optimiser off (``enabled``) or on, for this process; with
  ``gpus`` and ``enabled``, also TensorFlow's op determinism (for good: it cannot be
  turned off again in a process).

  With Grappler on, two identical training runs on a multi-core CPU differ from
  about the third step (by 1e-7 in the weights, then growing): some gradient of the
  embedding network is accumulated in a run-dependent order. ``enable_op_determinism``
  does not change that on a CPU, and neither does turning oneDNN off; without Grappler
  the step is bit-reproducible. On GPUs, cuDNN's fastest kernels are not deterministic:
  there op determinism picks deterministic ones. TensorFlow reads the Grappler setting
  whenever a function is called (it keeps one optimised instance of the function per
  setting), so :meth:`Trainer.train_step` applies its trainer's setting before every step.
  """
  if enabled and gpus:
    tf.config.experimental.enable_op_determinism()
  if tf.config.optimizer.get_experimental_options().get(
      'disable_meta_optimizer', False) != bool(enabled):
    tf.config.optimizer.set_experimental_options({'disable_meta_optimizer': bool(enabled)})


def learning_rate_schedule(train_config):
  """``lr(iterations) = lr0 * decay**iterations``: step k (1-based) gets ``decay**(k-1)``."""
  return keras.optimizers.schedules.ExponentialDecay(
      train_config.learning_rate, decay_steps=1, decay_rate=train_config.lr_decay)


class Trainer:
  """Model, EMA, optimizer and the compiled training step of one run.

  Args:
    config: a :class:`pic_tf.configs.Config` whose ``train.precision`` and
      ``train.deterministic`` are chosen for this machine: ``plan.choose(config).config``
      (:func:`pic_tf.training.plan.choose`).
    strategy: a ``tf.distribute.Strategy`` (default: the current one).
    jit: compile the whole step (forward, backward, Adam, EMA) as one XLA function; with
      several replicas, each replica's forward and backward pass.

  Raises:
    ValueError: the precision or determinism is left to be chosen.
  """

  def __init__(self, config, strategy=None, jit=False):
    train = config.train
    if train.precision in (None, precision_lib.AUTO) or train.deterministic is None:
      raise ValueError(f'train.precision ({train.precision}) and train.deterministic '
                       f'({train.deterministic}) are chosen for the devices first: give '
                       'pic_tf.training.plan.choose(config).config')
    self.config = config
    self.strategy = strategy or tf.distribute.get_strategy()
    self._gpus = bool(tf.config.list_physical_devices('GPU'))
    self.schedule = learning_rate_schedule(train)
    set_deterministic(train.deterministic, self._gpus)
    keras.utils.set_random_seed(train.seed)   # the initial weights
    with networks.dtype_policy(train.precision), self.strategy.scope():
      self.model = networks.build_model(config.model)
      self.ema = ema_lib.ExponentialMovingAverage(self.model.trainable_variables,
                                                  decay=train.polyak_decay)
      optimizer = keras.optimizers.Adam(
          learning_rate=self.schedule, beta_1=train.adam_beta1, beta_2=train.adam_beta2,
          epsilon=train.adam_epsilon)
      if train.precision == precision_lib.MIXED_FLOAT16:
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
      self.optimizer = optimizer
      self.optimizer.build(self.model.trainable_variables)
      self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name='step')
    self.checkpoint = workdir_lib.make_checkpoint(self.model, self.ema,
                                                  optimizer=self.optimizer, step=self.step)
    one_replica = self.strategy.num_replicas_in_sync == 1
    # One device: the whole step is one XLA function. Several: each replica's forward
    # and backward pass; Adam's cross-replica update and the EMA stay uncompiled (XLA
    # cannot place logical CPUs' variables, and it is untried on several GPUs).
    self._grads = tf.function(self._compute_gradients, jit_compile=jit and not one_replica)
    self._train_step = tf.function(self._distributed_step, jit_compile=jit and one_replica)
    self._count_votes = tf.function(self._sum_votes)
    self._eval_step = distribution.make_eval_step(self.model)
    self._colorizer = None

  @property
  def colorizer(self):
    """The colourise pipeline of this model (created once, the default sampler)."""
    if self._colorizer is None:
      self._colorizer = pipeline.Colorizer(self.model)
    return self._colorizer

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
      inputs = preprocess.model_inputs(init_images, self.config.model.downsample)
      with self.strategy.scope(), layers.data_dependent_init(self.model):
        self.model(inputs['gray'], inputs['canvas'], training=False)
    self.ema.reset()

  def _compute_gradients(self, inputs, step):
    replica = tf.distribute.get_replica_context()
    seed = tf.stack([tf.constant(self.config.train.seed, tf.int64), step])
    dropout_seed = tf.random.experimental.stateless_fold_in(seed, replica.replica_id_in_sync_group)
    variables = self.model.trainable_variables
    with tf.GradientTape() as tape:
      bpd, aux = distribution.loss_terms(self.model, inputs, training=True,
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
    # tf.function keeps the program order of reads and writes of one variable, so an
    # update placed before the Adam step averages the weights the step starts from.
    before = self.config.train.ema_order == 'before_update'
    if before:
      self.ema.update()
    bpd, aux = self.strategy.run(self._replica_step, args=(inputs, self.step))
    if not before:
      self.ema.update()
    self.step.assign_add(1)
    mean = tf.distribute.ReduceOp.MEAN
    return (self.strategy.reduce(mean, bpd, axis=None),
            self.strategy.reduce(mean, aux, axis=None))

  def stop_votes(self, stopping):
    """How many replicas of the cluster were asked to stop: ``stopping`` (this worker's
    vote, a bool) summed over every replica of every worker, a float32 scalar tensor.
    Every worker calls it after the same step, so all get the same count."""
    return self._count_votes(tf.constant(float(stopping)))

  def _sum_votes(self, vote):
    votes = self.strategy.run(tf.identity, args=(vote,))
    return self.strategy.reduce(tf.distribute.ReduceOp.SUM, votes, axis=None)

  def train_step(self, inputs):
    """One step on a (distributed) batch. Returns ``(bpd, aux_bpd)`` before the update."""
    # The setting is process-wide and read at each call: another trainer in this
    # process may have changed it since.
    set_deterministic(self.config.train.deterministic, self._gpus)
    return self._train_step(inputs)

  def evaluate(self, dataset, use_ema=True, progress=None):
    """Test bpd (dropout off) of the EMA or raw weights
    (:func:`pic_tf.model.distribution.evaluate_bpd`)."""
    context = self.ema.swapped() if use_ema else contextlib.nullcontext()
    with context:
      return distribution.evaluate_bpd(self._eval_step, dataset, progress)


def total_steps(config, steps_per_epoch):
  """``train.num_steps`` if set, else ``num_epochs`` epochs."""
  return config.train.num_steps or config.train.num_epochs * steps_per_epoch


def train(config, workdir, data_dir=None, strategy=training.AUTO, jit=False, download=True,
          tpu=None, init_from=None, log=progress_lib.log):
  """Trains (or resumes) a run in ``workdir``.

  Writes ``config.json``, checkpoints (model, EMA, optimizer, step) every
  ``train.checkpoint_every`` steps and at the end, TensorBoard summaries in
  ``workdir/train`` and ``workdir/eval``, and ``workdir/train_results.json`` after the
  final evaluation. The first lines name the devices and what was chosen for them
  (:mod:`pic_tf.training.plan`).

  The steps are queued without waiting for them: the losses are read every
  ``train.log_every`` steps and before each checkpoint, evaluation or sample grid, so
  a NaN is caught before anything is saved.

  Args:
    config: a :class:`pic_tf.configs.Config`.
    workdir: output directory; an existing run there is resumed.
    data_dir: tensorflow-datasets directory.
    strategy: a name of :data:`pic_tf.training.STRATEGIES` (``auto``: every GPU).
    jit: XLA-compile the training step.
    download: allow tfds downloads.
    tpu: TPU address for ``strategy='tpu'``.
    init_from: a :class:`pic_tf.storage.Source` whose weights a new run starts from
      (fine-tuning; ``config`` from :func:`pic_tf.configs.finetuning`). Read only when
      the workdir holds no checkpoint yet: the source's weights become the model's, its
      EMA weights the EMA (a source that stores its EMA weights alone, as the demo
      model, gives them to both); the optimizer and the step start anew. The start is
      kept as ``ckpt-0``. A rerun resumes from the workdir.
    log: callable for the run's lines (default: :func:`pic_tf.progress.log`, standard
      error).

  SIGTERM (a preempted cloud machine, a stopped pod) or SIGINT (Ctrl-C) during the
  steps lets the step in progress finish, checkpoints it and stops: rerun, the run
  resumes there and ends with the weights of an uninterrupted one. A second signal
  acts at once. The workers of a multi-worker run stop after the same step, whichever
  of them is signalled (one step or two later: each step's votes are read after the
  next step is queued).

  Returns:
    Final results: ``{'step', 'train_bpd', 'test_bpd_ema', 'test_bpd_raw', ...}``.

  Raises:
    TrainingDivergedError: NaN or Inf loss (the last good checkpoint is kept).
    TrainingStopped: a signal stopped the run, checkpointed at its last step.
  """
  resumed = workdir_lib.resumed_config(workdir)
  plan = plan_lib.choose(config, strategy=strategy, jit=jit, resumed=resumed, log=log)
  config = plan.config   # saved with its choices resolved
  strategy_obj = plan_lib.make_strategy(plan.strategy.value, tpu)
  for line in plan.start_lines(strategy_obj.num_replicas_in_sync):
    log(line)
  chief = plan_lib.is_chief(strategy_obj)
  # Checked now, made with its config.json: a run that fails on its data leaves no folder.
  fileutil.check_dir_target(workdir, 'workdir')
  trainer = Trainer(config, strategy_obj, jit=jit)
  # The workdir's part, together: the check that it may take this config, its
  # clean-up, its checkpoints and (below) its config.json.
  if chief:
    workdir_lib.check_resumable(config, resumed, workdir)
    for name in workdir_lib.clean_workdir(workdir):
      log(f'removed {name}, left in {workdir} by an interrupted run')
  ckpt_dir = workdir if chief else workdir_lib.worker_dir(workdir, plan_lib.task_id())
  manager = workdir_lib.checkpoint_manager(trainer.checkpoint, ckpt_dir,
                                           max_to_keep=config.train.keep_checkpoints,
                                           step_counter=trainer.step)
  started_from_source = _restore_or_initialize(trainer, workdir, data_dir, download,
                                               init_from, log)

  step = int(trainer.step.numpy())
  dataset, per_epoch = datasets.train_dataset(config, data_dir, step, download)
  if chief:
    # Only now, with the data and the weights ready: a run that fails before this
    # leaves no config.json to refuse the corrected command.
    workdir_lib.save_config(config, workdir)
    if started_from_source:   # the start, kept: resumable without the source
      manager.save(checkpoint_number=0)
  steps = total_steps(config, per_epoch)
  log(f'training {config.name} on {config.dataset}: steps {step} -> {steps} '
      f'({per_epoch} per epoch)')
  results = {'step': step}
  summaries = train_actions.Summaries(workdir, chief)
  actions = train_actions.make(trainer, manager=manager, summaries=summaries, results=results,
                               data_dir=data_dir, download=download, log=log)
  logger = actions.log
  results_path = workdir_lib.results_path(workdir)
  if step >= steps:
    finished = _read_results(results_path) if chief else {'step': step}
    if finished is not None:
      log(f'{workdir} is already at step {step} of {steps}: nothing to do')
      return finished
    # Killed after its last checkpoint, during the final evaluation: do that again.
    log(f'{workdir} is at step {step} of {steps} but has no final results: evaluating')
    actions.evaluation(step, step)
  iterator = iter(strategy_obj.experimental_distribute_dataset(dataset))
  first = step + 1   # traced (and compiled) on its call: timed apart
  # Workers of a cluster stop together: a signal reaches one of them, and the others
  # would wait for it in the next all-reduce. Each step every worker votes; all read the
  # count of the step before (done by then) and stop after the same step.
  cluster = isinstance(strategy_obj, tf.distribute.MultiWorkerMirroredStrategy)
  votes = None
  with _stop_signals() as stop:
    while step < steps:
      losses = trainer.train_step(next(iterator))
      step += 1
      if cluster:
        counted, votes = votes, trainer.stop_votes(bool(stop))
        stopping = counted is not None and float(counted) > 0
      else:
        stopping = bool(stop)
      due = [action for action in actions.all if action.due(step, steps)]
      # The only reads of the device in the loop: before work that needs the losses
      # checked (a checkpoint must not keep NaN weights) or after the traced step.
      logger.record(step, *losses, read=bool(due or stopping) or step == first)
      if stopping:   # before this step's evaluation or samples: a preempted machine has seconds
        _stop_at(step, stop[0] if stop else None, manager, chief, log)
      for action in due:
        action(step, steps)
      if due:
        logger.restart_clock()
      results['step'] = step
  if chief:
    fileutil.write_json(results, results_path)
  summaries.close()
  if not chief:
    tf.io.gfile.rmtree(ckpt_dir)
  return results


# What stops a run cleanly: a preempted cloud machine or a stopped pod (SIGTERM), Ctrl-C.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@contextlib.contextmanager
def _stop_signals():
  """Yields a list that the first :data:`STOP_SIGNALS` signal appends its number to, so
  that the step in progress finishes and the loop stops after it; a second signal acts
  at once, as by default. Outside the main thread (where Python takes no handlers) the
  list stays empty and signals act as by default."""
  received = []
  if threading.current_thread() is not threading.main_thread():
    yield received
    return
  previous = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}

  def handler(signum, frame):  # pylint: disable=unused-argument
    received.append(signum)
    for other, old in previous.items():
      signal.signal(other, old)

  for signum in STOP_SIGNALS:
    signal.signal(signum, handler)
  try:
    yield received
  finally:
    for signum, old in previous.items():
      signal.signal(signum, old)


def _stop_at(step, signum, manager, chief, log):
  """Checkpoints ``step`` and stops with :class:`TrainingStopped`; ``signum`` is None on a
  worker of a cluster stopping because another one was signalled."""
  train_actions.CheckpointAction(manager, 1)(step, step)
  name = signal.Signals(signum).name if signum else 'another worker\'s stop'
  path = manager.latest_checkpoint if chief else f'step {step}'
  log(f'{name}: stopped after step {step}, checkpoint {path} written')
  raise TrainingStopped(f'{name} at step {step}: checkpoint {path} written; run the same '
                        'command again to resume from it', signum or signal.SIGTERM)


def _read_results(path):
  try:
    with open(path) as f:
      return json.load(f)
  except (OSError, ValueError):
    return None


def _restore_or_initialize(trainer, workdir, data_dir, download, init_from, log):
  """Resumes from the newest readable checkpoint of ``workdir``, or initialises a new run
  (from the weights of ``init_from`` if given).

  Returns:
    True if the run starts from ``init_from``'s weights now.

  A damaged newest checkpoint (a disk error, a file deleted by hand) is reported and
  the one before it is used: everything random is a function of the step, so the run
  still ends exactly where an uninterrupted one would. Training never starts from
  scratch over committed checkpoints: if none of them is readable, it stops.
  """
  config = trainer.config
  committed = workdir_lib.checkpoint_paths(workdir)
  for path in reversed(committed):
    try:
      status = workdir_lib.restore(trainer.checkpoint, path, trainer.model)
      status.assert_existing_objects_matched()
    except DamagedCheckpointError as e:
      log(f'warning: {e}; resuming from the checkpoint before it')
      continue
    log(f'resumed from {path} at step {int(trainer.step.numpy())}')
    return False
  if committed:
    present = [p for p in committed if workdir_lib.has_files(p)]
    names = ', '.join(os.path.basename(p) for p in committed)
    if present:
      # Files that are there may be on a disk that comes back, or be copied back: never
      # advise discarding them.
      raise DamagedCheckpointError(
          f'no checkpoint of {workdir} can be read ({names}; the warnings above say why), '
          'so training stopped rather than start again over them. Nothing was changed. '
          'Check that the disk is mounted and the files complete (python -c "import '
          f'tensorflow as tf; r = tf.train.load_checkpoint(\'{present[-1]}\'); '
          '[r.get_tensor(k) for k in r.get_variable_to_shape_map()]" reads one whole), and '
          'restore them from a copy if they were damaged')
    raise DamagedCheckpointError(
        f'the index of {workdir} lists checkpoints whose files do not exist ({names}), so '
        'training stopped rather than start again over them. Restore the files from a '
        'copy, or train from step 0 in another workdir')
  if init_from is not None:
    _start_from(trainer, init_from, log)
    return True
  init_images = None
  if config.train.init == 'data_dependent':
    images, _ = datasets.load_images(config.dataset, 'train', config.model.image_size, data_dir,
                                 download)
    init_images = next(iter(images.batch(config.train.init_batch_size)))
  trainer.initialize(init_images)
  return False


def _start_from(trainer, source, log):
  """Puts the weights of ``source`` into a new run (see :func:`train`'s ``init_from``)."""
  found, stored, _ = loading.read(source)
  try:
    networks.assign_weights(trainer.model, trainer.ema, stored.weights, stored.averages)
  except networks.WeightsMismatch as e:
    raise ConfigError(f'checkpoint {stored.path} does not fit the model of this run: '
                      f'{e}') from None
  ema = (', its EMA weights the EMA\'s' if stored.averages is not None else
         ' and the EMA\'s (it stores its EMA weights alone)')
  log(f'starting from {found.kind} {stored.path}'
      f'{"" if stored.step is None else f" (its step {stored.step})"}: its weights become '
      f'the model\'s{ema}; the optimizer state and the step start anew')

