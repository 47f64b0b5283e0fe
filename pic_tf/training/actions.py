"""The periodic work of a training run, as actions the step loop calls after each step.

Each action knows its own period and decides whether a step is due, so the loop in
:func:`pic_tf.training.trainer.train` stays a loop and each action can be tested alone (the
pattern of Orbit's actions in tensorflow/models). Every action runs on the last step
too, except sample grids when they are off (``train.sample_every = 0``). The actions
write TensorBoard through one :class:`Summaries`.
"""

import dataclasses
import math
import shutil
import time
from typing import Any, Callable

import numpy as np
import tensorflow as tf

from pic_tf.data import datasets
from pic_tf.data import image_io
from pic_tf.errors import TrainingDivergedError
from pic_tf import progress as progress_lib
from pic_tf.sampling import photos
from pic_tf.storage import fileutil
from pic_tf.storage import workdir as workdir_lib

GRID_IMAGES = 4          # test images in the TensorBoard sample grid
GRID_SAMPLES = 2


def due(step, every, last_step, at_end=True):
  """Whether a period-``every`` action runs after ``step`` (0: never, or only at the end)."""
  return bool(every and step % every == 0) or (at_end and step == last_step)


class Summaries:
  """TensorBoard writers for the workdir's summary folders
  (:data:`pic_tf.storage.workdir.SUMMARY_FOLDERS`).

  Args:
    workdir: the run's workdir.
    enabled: whether this worker writes the run's summaries and pictures (the chief).
  """

  def __init__(self, workdir, enabled):
    self.enabled = enabled
    self.writers = {}
    self.workdir = workdir

  def _writer(self, name):
    if name not in self.writers:
      self.writers[name] = tf.summary.create_file_writer(
          workdir_lib.summaries_dir(self.workdir, name))
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


class LogAction:
  """Reads the steps' losses from the device, stops a diverged run, and logs the
  window's mean bpd with the rate, lr and ETA.

  :meth:`record` takes every step's losses as the step returns them (tensors, still
  being computed) and reads them only when asked: one device-to-host copy for all the
  steps since the last read, so the accelerator is never waited on between reads.
  Calling the action logs the window's means every ``every`` steps and at the end.
  """

  def __init__(self, trainer, every, summaries, log, results, last_checkpoint=lambda: None):
    self.trainer = trainer
    self.every = every
    self.summaries = summaries
    self.log = log
    self.results = results
    self.last_checkpoint = last_checkpoint   # () -> the newest checkpoint's path, or None
    self.batch_size = trainer.config.train.batch_size
    # Step time alone (no checkpoints, grids, evaluations), without the traced first step.
    self.meter = progress_lib.RateMeter()
    self.window = []
    self._pending = []
    self._since = time.perf_counter()

  def due(self, step, last_step):
    return due(step, self.every, last_step)

  def record(self, step, bpd, aux, read=True):
    """Adds one step's ``(bpd, aux)`` (scalars or scalar tensors); ``read``: read every
    step's losses not read yet (waits for the device).

    Raises:
      TrainingDivergedError: a NaN or infinite loss (nothing is saved).
    """
    self._pending.append((step, bpd, aux))
    if not read:
      return
    pending, self._pending = self._pending, []
    values = tf.stack([tf.stack([tf.cast(b, tf.float32), tf.cast(a, tf.float32)])
                       for _, b, a in pending]).numpy().tolist()
    now = time.perf_counter()
    self.meter.add(len(pending) * self.batch_size, now - self._since)
    self._since = now
    for (step, _, _), (bpd, aux) in zip(pending, values):
      if not (math.isfinite(bpd) and math.isfinite(aux)):
        last = self.last_checkpoint()
        again = (f'train again with a lower train.learning_rate: it resumes from the last '
                 f'good checkpoint, {last}' if last else
                 'no checkpoint was written before it: train again from step 0 with a lower '
                 'train.learning_rate, or in train.precision=float32')
        raise TrainingDivergedError(
            f'the loss is {bpd + aux} at step {step} (bpd {bpd}, aux {aux}); stopped without '
            f'saving; {again}')
      self.window.append((bpd, aux))

  def restart_clock(self):
    """Starts timing steps anew (after work that is not a step: a checkpoint, an
    evaluation)."""
    self._since = time.perf_counter()

  def __call__(self, step, last_step):
    if not self.due(step, last_step) or not self.window:
      return
    mean_bpd, mean_aux = np.mean(self.window, axis=0).tolist()
    self.window = []
    rate = self.meter.rate
    eta = self.meter.eta((last_step - step) * self.batch_size)
    lr = self.trainer.learning_rate
    rate_text = f'{rate:.1f}' if rate else '?'
    self.log(f'step {step}/{last_step}  bpd {mean_bpd:.4f}  aux {mean_aux:.4f}  lr {lr:.3e}  '
             f'{rate_text} img/s  ETA {progress_lib.format_duration(eta)}')
    self.summaries.scalars(workdir_lib.TRAIN_SUMMARIES, step, bpd=mean_bpd, aux_bpd=mean_aux,
                           learning_rate=lr, images_per_second=rate or 0.0)
    self.results['train_bpd'] = mean_bpd


@dataclasses.dataclass
class CheckpointAction:
  """Saves model, EMA, optimizer and step through a ``tf.train.CheckpointManager``."""
  manager: Any
  every: int

  def due(self, step, last_step):
    return due(step, self.every, last_step)

  def __call__(self, step, last_step):
    if not self.due(step, last_step):
      return
    try:
      self.manager.save(checkpoint_number=step)
    except Exception:
      # A failed write (a full disk) leaves the checkpoint's temporary shards; the
      # committed checkpoints are untouched.
      shutil.rmtree(workdir_lib.temporary_checkpoint_dir(self.manager.directory, step),
                    ignore_errors=True)
      raise


@dataclasses.dataclass
class SampleGridAction:
  """Draws ``gray | samples | original`` rows of test images: a grid in TensorBoard and,
  enlarged to be looked at, a PNG in the workdir
  (:func:`pic_tf.storage.workdir.sample_grid_path`), where ``summaries`` write."""
  trainer: Any
  images: Any          # uint8 [N, S, S, 3]
  every: int
  summaries: Summaries

  def due(self, step, last_step):
    return due(step, self.every, last_step, at_end=bool(self.every))

  def __call__(self, step, last_step):
    if not self.due(step, last_step):
      return
    rows = sample_rows(self.trainer, self.images, seed=step)
    self.summaries.image(workdir_lib.EVAL_SUMMARIES, step, 'samples_gray_pic_original',
                         image_io.grid(rows))
    if self.summaries.enabled:
      fileutil.write_bytes(image_io.encode_png(image_io.grid(
          rows, gap=4, min_cell_height=image_io.GRID_CELL_MIN)),
                           workdir_lib.sample_grid_path(self.summaries.workdir, step))


@dataclasses.dataclass
class EvalAction:
  """Test bpd of the EMA and the raw weights, logged and kept in the results."""
  trainer: Any
  dataset: Any         # batches of input dicts
  count: int           # images in ``dataset``
  every: int
  summaries: Summaries
  log: Callable[[str], None]
  results: dict

  def due(self, step, last_step):
    return due(step, self.every, last_step)

  def __call__(self, step, last_step):
    if not self.due(step, last_step):
      return
    ema_res = self.trainer.evaluate(self.dataset, use_ema=True, progress=progress_lib.Progress(
        self.count, f'step {step} test bpd, EMA weights', 'img'))
    raw_res = self.trainer.evaluate(self.dataset, use_ema=False, progress=progress_lib.Progress(
        self.count, f'step {step} test bpd, raw weights', 'img'))
    self.log(f'step {step}: test bpd {ema_res["bpd"]:.4f} (EMA), {raw_res["bpd"]:.4f} (raw), '
             f'aux {raw_res["aux_bpd"]:.4f} on '
             + progress_lib.count(ema_res['num_examples'], 'image'))
    self.summaries.scalars(workdir_lib.EVAL_SUMMARIES, step, bpd_ema=ema_res['bpd'],
                           bpd_raw=raw_res['bpd'], aux_bpd_raw=raw_res['aux_bpd'])
    self.results.update(test_bpd_ema=ema_res['bpd'], test_bpd_raw=raw_res['bpd'],
                        test_aux_bpd_raw=raw_res['aux_bpd'],
                        test_examples=ema_res['num_examples'])


@dataclasses.dataclass
class Actions:
  """The periodic work of a run, in the order it runs after a step."""
  log: LogAction
  checkpoint: CheckpointAction
  sample_grid: Any     # a SampleGridAction, or None when grids are off
  evaluation: EvalAction

  @property
  def all(self):
    return [a for a in (self.log, self.checkpoint, self.sample_grid, self.evaluation) if a]


def make(trainer, *, manager, summaries, results, data_dir, download, log):
  """The periodic work (:class:`Actions`) of :func:`pic_tf.training.trainer.train`.

  Args:
    trainer: the run's :class:`pic_tf.training.trainer.Trainer`.
    manager: its ``tf.train.CheckpointManager``.
    summaries: its :class:`Summaries`.
    results: the dict of final results the evaluation fills.
    data_dir, download: where the test images come from (tensorflow-datasets).
    log: gets the run's lines.
  """
  config, train = trainer.config, trainer.config.train
  logger = LogAction(trainer, train.log_every, summaries, log, results,
                     last_checkpoint=lambda: manager.latest_checkpoint)
  grid = None
  if train.sample_every:
    images, _ = datasets.load_images(config.dataset, 'test', config.model.image_size, data_dir,
                                 download)
    images = next(iter(images.batch(GRID_IMAGES))).numpy()
    grid = SampleGridAction(trainer, images, train.sample_every, summaries)
  test_ds, test_count = datasets.eval_dataset(config, train.batch_size, train.eval_examples,
                                          data_dir, download)
  return Actions(log=logger, checkpoint=CheckpointAction(manager, train.checkpoint_every),
                 sample_grid=grid,
                 evaluation=EvalAction(trainer, test_ds, test_count, train.eval_every,
                                       summaries, log, results))


def sample_rows(trainer, images, seed=0):
  """``gray | samples | original`` rows of ``images`` (EMA weights), for
  :func:`pic_tf.data.image_io.grid`.

  Args:
    trainer: a :class:`pic_tf.training.trainer.Trainer`.
    images: uint8 ``[N, S, S, 3]`` test images.
    seed: sampling seed.

  Returns:
    ``N`` lists of uint8 ``[S, S, 3]`` images.
  """
  with trainer.ema.swapped():
    samples = trainer.colorizer.colorize(images, GRID_SAMPLES, 1.0, (seed, 0)).numpy()
  return photos.grid_rows(images, samples)

