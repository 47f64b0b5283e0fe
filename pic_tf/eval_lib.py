"""Bits per dimension on a test split, against the published numbers.

Evaluation uses dropout off and, by default, the Polyak-averaged (EMA) weights, as
the original; the raw weights and the auxiliary g^w head are reported too. The
score is the exact mean over the evaluated images (the original averaged full
batches of a random permutation, dropping the remainder).
"""

import os

import numpy as np

from pic_tf import configs
from pic_tf import data
from pic_tf.data import Selection
from pic_tf.data import datasets
from pic_tf.model import distribution
from pic_tf import progress as progress_lib
from pic_tf.sampling import metrics
from pic_tf.sampling import pipeline
from pic_tf.sampling import SampleOptions
from pic_tf import storage
from pic_tf.storage import loading
from pic_tf.storage import fileutil
from pic_tf.storage import workdir as workdir_lib


def run_eval(source, selection=Selection(), batch_size=64, output_json=None,
             log=progress_lib.log):
  """Evaluates raw, EMA and auxiliary-head bpd (:func:`format_table` sets them against
  the paper).

  Args:
    source: the model, a :class:`pic_tf.storage.Source` (a workdir or an original
      checkpoint).
    selection: a :class:`pic_tf.data.Selection` of the test split: its dataset (None:
      the config's), ``num_images`` (0: the whole split), ``data_dir``, ``download``.
    batch_size: evaluation batch.
    output_json: where to write the results (default: ``<workdir>/eval.json`` for a
      workdir or one of its checkpoints; nothing for an original checkpoint or the
      shipped demo model).
    log: gets the lines about the work (default: :func:`pic_tf.progress.log`).

  Returns:
    The results dict (also written as JSON).
  """
  source = loading.recognised(source)
  checkpoint = source.found.path
  output_json = _results_path(source.found, output_json, workdir_lib.EVAL_FILENAME)
  loaded = loading.load(source, ema=False, log=log)
  config, model, ema, step = loaded.config, loaded.model, loaded.ema, loaded.step
  precision = loaded.precision
  if selection.dataset:
    config = configs.override(config, [f'dataset={selection.dataset}'])
  ds, count = datasets.eval_dataset(config, batch_size, selection.num_images,
                                    selection.data_dir, selection.download)
  step_fn = distribution.make_eval_step(model)
  log(f'evaluating {checkpoint} (step {step}, {precision}) on {count} {config.dataset} test '
      'images')
  raw = distribution.evaluate_bpd(step_fn, ds, progress_lib.Progress(count, 'raw weights', 'img'))
  with ema.swapped():
    averaged = distribution.evaluate_bpd(step_fn, ds,
                                         progress_lib.Progress(count, 'EMA weights', 'img'))
  paper = data.DATASETS[config.dataset].paper_bpd if config.dataset in data.DATASETS else None
  results = {
      'checkpoint': os.path.abspath(checkpoint), 'step': step, 'config': config.name,
      'dataset': config.dataset, 'num_examples': raw['num_examples'], 'precision': precision,
      'bpd_ema': averaged['bpd'], 'bpd_raw': raw['bpd'],
      'aux_bpd_ema': averaged['aux_bpd'], 'aux_bpd_raw': raw['aux_bpd'],
      'paper_bpd': paper,
  }
  _save_results(results, output_json, log)
  return results


def format_table(results):
  """The results as a small text table, with the paper's number when known."""
  paper = results.get('paper_bpd')
  rows = [('PIC, EMA weights (reported)', results['bpd_ema']),
          ('PIC, raw weights', results['bpd_raw']),
          ('g^w auxiliary head, EMA', results['aux_bpd_ema']),
          ('g^w auxiliary head, raw', results['aux_bpd_raw'])]
  heading = 'bits/dim on ' + progress_lib.count(results['num_examples'], 'test image')
  lines = [f'{heading:<40}'
           f'{"ours":>8}{"paper":>8}{"diff":>8}']
  for i, (name, value) in enumerate(rows):
    if i == 0 and paper is not None:
      lines.append(f'{name:<40}{value:>8.3f}{paper:>8.2f}{value - paper:>+8.3f}')
    else:
      lines.append(f'{name:<40}{value:>8.3f}{"":>8}{"":>8}')
  return '\n'.join(lines)



def sample_metrics(model, images, sample_options=SampleOptions(num_samples=2),
                   batch_images=16, progress_label=None):
  """Saturation, colourfulness and diversity of PIC samples, the g^w baseline and the truth.

  Args:
    model: PICModel with the weights to sample with.
    images: uint8 ``[N, S, S, 3]`` test images at the model's size.
    sample_options: a :class:`pic_tf.sampling.SampleOptions` (``num_samples`` per image:
      diversity needs >= 2).
    batch_images: images sampled together.
    progress_label: if given, a progress bar with this label counts the chroma rows
      of every sampler call.

  Returns:
    ``{'pic': {...}, 'gw_baseline': {...}, 'ground_truth': {...}}`` of
    :func:`pic_tf.sampling.metrics.summarize` results.
  """
  colorizer = pipeline.Colorizer(model, sample_options.sampler, sample_options.jit)
  chunks = range(0, len(images), batch_images)
  progress = progress_label and progress_lib.Progress(
      sum(colorizer.progress_steps(len(images[start:start + batch_images]),
                                   sample_options.num_samples) for start in chunks),
      progress_label, 'row')
  pic, gw = [], []
  for start in chunks:
    chunk = images[start:start + batch_images]
    pic.append(colorizer.colorize(chunk, sample_options.num_samples, sample_options.temperature,
                                  (sample_options.seed, start), progress).numpy())
    gw.append(colorizer.baseline(chunk).numpy())
  return {'pic': metrics.summarize(np.concatenate(pic)),
          'gw_baseline': metrics.summarize(np.concatenate(gw)),
          'ground_truth': metrics.summarize(np.asarray(images)[:, None])}


def run_sample_metrics(source, selection, sample_options=SampleOptions(num_samples=2),
                       output_json=None, log=progress_lib.log):
  """The paper's saturation comparison of PIC and g^w (:func:`format_sample_table` shows
  it).

  Args:
    source: the model, a :class:`pic_tf.storage.Source`.
    selection: a :class:`pic_tf.data.Selection`: the first ``num_images`` test images
      of its dataset (None: the config's).
    sample_options: a :class:`pic_tf.sampling.SampleOptions` (``num_samples`` per image).
    output_json: where to write the results (default: ``<workdir>/sample_metrics.json``
      as :func:`run_eval`).
    log: gets the lines about the work (default: :func:`pic_tf.progress.log`).

  Returns:
    The results dict (also written as JSON).
  """
  source = loading.recognised(source)
  checkpoint = source.found.path
  output_json = _results_path(source.found, output_json, workdir_lib.SAMPLE_METRICS_FILENAME)
  loaded = loading.load(source, log=log)
  config, model, step = loaded.config, loaded.model, loaded.step
  if selection.dataset:
    config = configs.override(config, [f'dataset={selection.dataset}'])
  images, count = datasets.load_images(config.dataset, 'test', config.model.image_size,
                                       selection.data_dir, selection.download)
  images = next(iter(images.batch(selection.num_images or count))).numpy()
  log(f'sampling {progress_lib.count(sample_options.num_samples, "colourisation")} of '
      f'{len(images)} of {count} {config.dataset} test images (step {step}, EMA weights, '
      f'temperature {sample_options.temperature})')
  results = sample_metrics(model, images, sample_options, progress_label='sampling')
  results.update(checkpoint=os.path.abspath(checkpoint), step=step, num_images=len(images),
                 samples_per_image=sample_options.num_samples,
                 temperature=sample_options.temperature, dataset=config.dataset,
                 sampler=sample_options.sampler, jit=sample_options.jit,
                 precision=loaded.precision,
                 paper_saturation={'pic': 0.364, 'gw_baseline': 0.327})
  _save_results(results, output_json, log)
  return results


def _results_path(found, output_json, default_name):
  """Where results go: ``output_json``, else ``<workdir>/<default_name>`` for a workdir
  or one of its checkpoints (``found``, a :class:`pic_tf.storage.loading.Found`; the
  demo model inside the package is neither), else None.

  Checked now, before the evaluation, so that a destination that cannot be written
  fails first.
  """
  if output_json is None:
    if found.kind in (storage.WORKDIR, storage.CHECKPOINT):
      output_json = os.path.join(found.workdir, default_name)
  if output_json is not None:
    workdir_lib.check_result_file(output_json, 'result file')
  return output_json


def _save_results(results, output_json, log):
  """Writes ``results`` to ``output_json`` (None: nowhere)."""
  if output_json:
    fileutil.write_json(results, output_json)
    log(f'wrote {output_json}')


def format_sample_table(results):
  """Saturation / colourfulness / diversity per method, with the paper's saturations."""
  def fmt(value, percent=False):
    if value is None:
      return f'{"-":>14}'
    return f'{100 * value:>13.1f}%' if percent else f'{value:>14.2f}'

  # The paper's saturations were measured on ImageNet (Section 4.3); on another
  # dataset they are a rough reference, not a target, and the table says so.
  on_imagenet = results.get('dataset', data.IMAGENET) == data.IMAGENET
  heading = 'on ' + progress_lib.count(results['num_images'], 'test image')
  lines = [f'{heading:<32}{"saturation":>14}'
           f'{"paper" if on_imagenet else "paper*":>8}{"colourfulness":>15}{"diversity":>14}']
  paper = results.get('paper_saturation', {})
  for key, name in (('pic', 'PIC samples'), ('gw_baseline', 'g^w pixel-wise MAP'),
                    ('ground_truth', 'ground truth')):
    row = results[key]
    ref = f'{100 * paper[key]:>7.1f}%' if key in paper else f'{"":>8}'
    lines.append(f'{name:<32}{fmt(row["saturation"], True)}{ref}'
                 f'{fmt(row["colorfulness"]):>15}{fmt(row["diversity"])}')
  if not on_imagenet:
    lines.append(f'* the paper\'s figures are for ImageNet 128x128, not {results["dataset"]}: '
                 'compare PIC with g^w and the ground truth here, not with them')
  return '\n'.join(lines)
