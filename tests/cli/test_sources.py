"""The programs as a careless user meets them: every flag takes effect or is refused, every
model source is named for what it is, every write failure names the user's path."""

import os
import pathlib
import shutil
import subprocess
import sys

import pytest
import tensorflow as tf

from pic_tf import configs
from pic_tf import export_lib
from pic_tf.model import networks
from pic_tf.storage import original_checkpoints
from pic_tf.storage import workdir as workdir_lib

REPO = pathlib.Path(__file__).resolve().parents[2]


def _run(program, *args):
  """``bin/<program> args``: ``(exit code, the last line of stderr)``."""
  result = subprocess.run([sys.executable, str(REPO / 'bin' / program), *map(str, args)],
                          capture_output=True, text=True, check=False)
  lines = result.stderr.strip().splitlines()
  return result.returncode, lines[-1] if lines else ''


@pytest.fixture(scope='module')
def sources(tmp_path_factory):
  """One model source of each kind (pic_tf.storage.KINDS) and a photo."""
  root = tmp_path_factory.mktemp('sources')
  model, ema = networks.build_model_and_ema(configs.tiny())
  workdir = str(root / 'workdir')
  checkpoint = workdir_lib.save_new_workdir(workdir, configs.tiny(), model, ema)
  original = str(root / 'original' / 'model.ckpt')
  os.makedirs(os.path.dirname(original))
  names = sorted(original_checkpoints.original_name_map(model))
  values = {f'{original_checkpoints.SCOPE}/{n}': v.numpy()
            for n, _, v in networks.named_variables(model)}
  tf.raw_ops.SaveV2(prefix=original, tensor_names=names, shape_and_slices=[''] * len(names),
                    tensors=[tf.constant(values[n]) for n in names])
  saved_model = str(root / 'served')
  export_lib.export(model, saved_model)
  photo = root / 'photo.png'
  shutil.copy(REPO / 'testdata' / 'tiny_6x4.png', photo)
  return {'demo': None, 'workdir': workdir, 'checkpoint': checkpoint, 'original': original,
          'saved_model': saved_model, 'missing': str(root / 'workdir' / 'ckpt-999'),
          'photo': str(photo), 'root': root}


# The model flags given with every source, and those each kind of source ignores.
MODEL_FLAGS = ['--config=tiny', '--set=model.dropout=0.1', '--precision=mixed_bfloat16',
               '--jit', '--sampler=naive']
IGNORED = {'demo': {'--config', '--set'}, 'workdir': {'--config', '--set'},
           'checkpoint': {'--config', '--set'}, 'original': set(),
           'saved_model': {'--config', '--set', '--precision', '--jit', '--sampler'}}


def _named(line):
  return {flag.split('=')[0] for flag in MODEL_FLAGS if flag.split('=')[0] + ' ' in line or
          flag.split('=')[0] + ',' in line}


def test_a_workdir_refuses_set_in_one_line(sources, tmp_path):
  code, line = _run('colorize', f'--checkpoint={sources["workdir"]}',
                    '--set=model.nr_channels=32', f'--input={sources["photo"]}',
                    f'--output_dir={tmp_path / "out"}')
  assert code == 1
  assert line.startswith('error: --set has no effect on a workdir, whose config.json fixes '
                         'the model'), line
  assert not (tmp_path / 'out').exists()


def test_flags_of_another_mode_are_refused(tmp_path):
  cases = [
      (['colorize', '--input=x.png', f'--output_dir={tmp_path}', '--split=train',
        '--num_images=3'], '--split, --num_images have no effect without --dataset'),
      (['eval', '--checkpoint=x', '--temperature=0.5'],
       '--temperature has no effect without --samples'),
      (['eval', '--checkpoint=x', '--samples=4', '--batch_size=8'],
       '--batch_size has no effect with --samples'),
      (['export', '--checkpoint=x', f'--export_dir={tmp_path}', '--format=weights',
        '--version=3'], '--version has no effect with --format=weights'),
      (['benchmark', '--mode=sample_speed', '--requests=5'],
       '--requests has no effect on --mode=sample_speed'),
      (['train', '--config=tiny', f'--dataset=folder:{tmp_path}', f'--workdir={tmp_path}',
        '--data_dir=/data'], '--data_dir has no effect on a folder: dataset'),
  ]
  for args, message in cases:
    code, line = _run(*args)
    assert code == 1 and line.startswith(f'error: {message}'), (args, line)


def test_both_modes_of_bin_benchmark_that_read_a_saved_model_take_it(tmp_path):
  """--saved_model belongs to serving_load and request_memory: each reaches the SavedModel
  (here a missing one), neither refuses the flag as another mode's."""
  for mode in ('serving_load', 'request_memory'):
    code, line = _run('benchmark', f'--mode={mode}', f'--saved_model={tmp_path / "none"}')
    assert (code, line) == (1, f'error: {tmp_path / "none"} does not exist: pass a directory '
                            'written by bin/export'), mode


@pytest.mark.slow   # one process per program and kind of source
@pytest.mark.parametrize('program,kind', [
    ('colorize', kind) for kind in sorted(IGNORED)] + [
        # bin/eval and bin/export need --checkpoint; only bin/colorize reads a SavedModel.
        (program, kind) for program in ('eval', 'export')
        for kind in ('workdir', 'checkpoint', 'original')])
def test_model_flags_take_effect_or_are_refused_on_every_kind_of_source(
    sources, tmp_path, program, kind):
  flags = list(MODEL_FLAGS)
  source = ([f'--saved_model={sources[kind]}'] if kind == 'saved_model' else
            [f'--checkpoint={sources[kind]}'] if sources[kind] else [])
  if program == 'colorize':
    args = source + [f'--input={sources["photo"]}', f'--output_dir={tmp_path / "out"}',
                     '--num_samples=1']
  elif program == 'eval':
    # --samples: --jit and --sampler take effect only when sampling.
    args = source + ['--samples=1', f'--dataset=folder:{REPO / "testdata"}',
                     f'--output_json={tmp_path / "eval.json"}']
  else:
    args = source + [f'--export_dir={tmp_path / "export"}']
  code, line = _run(program, *args, *flags)
  if IGNORED[kind]:
    assert code == 1 and 'no effect' in line, line
    assert _named(line) == IGNORED[kind], line
  else:
    assert 'no effect' not in line, line


@pytest.mark.parametrize('kind,message', [
    ('workdir', 'is a pic_tf workdir: it needs no conversion; give it as --checkpoint'),
    pytest.param('checkpoint', 'is a checkpoint of a pic_tf workdir: it needs no conversion',
                 marks=pytest.mark.slow),
    pytest.param('saved_model', 'is a SavedModel written by bin/export',
                 marks=pytest.mark.slow),
    pytest.param('missing', 'does not exist', marks=pytest.mark.slow)])
def test_convert_original_names_what_it_was_given(sources, tmp_path, kind, message):
  code, line = _run('convert_original', f'--original_checkpoint={sources[kind]}',
                    f'--output_dir={tmp_path / "out"}')
  assert code == 1 and f'--original_checkpoint={sources[kind]} {message}' in line, line
  assert not (tmp_path / 'out').exists()


@pytest.mark.parametrize('flag,kind,message', [
    ('checkpoint', 'saved_model', 'is a SavedModel written by bin/export: give it as '
                                  '--saved_model'),
    pytest.param('saved_model', 'workdir', 'is a pic_tf workdir or one of its checkpoints, '
                 'not a SavedModel: load it as a checkpoint, or export it',
                 marks=pytest.mark.slow),
    pytest.param('saved_model', 'original', 'holds no SavedModel: pass a directory written '
                 'by bin/export', marks=pytest.mark.slow),
    pytest.param('saved_model', 'missing', 'does not exist: pass a directory written by '
                 'bin/export', marks=pytest.mark.slow)])
def test_colorize_says_what_a_source_is_and_which_flag_takes_it(sources, tmp_path, flag, kind,
                                                                 message):
  code, line = _run('colorize', f'--{flag}={sources[kind]}', f'--input={sources["photo"]}',
                    f'--output_dir={tmp_path / "out"}')
  named = f'--{flag}={sources[kind]}' if flag == 'checkpoint' else sources[kind]
  assert code == 1 and line.startswith(f'error: {named} {message}'), line
  assert not (tmp_path / 'out').exists()


@pytest.mark.slow   # one process; bin/colorize's answer is checked by default
def test_eval_of_a_saved_model_asks_for_its_workdir(sources, tmp_path):
  code, line = _run('eval', f'--checkpoint={sources["saved_model"]}',
                    f'--output_json={tmp_path / "eval.json"}')
  assert code == 1 and line == (
      f'error: {sources["saved_model"]} is a SavedModel: it is served, or colourises as a '
      'SavedModel; to load the model, give the workdir it was exported from'), line
  assert not (tmp_path / 'eval.json').exists()


@pytest.mark.slow   # three programs on read-only and pseudo file systems
@pytest.mark.skipif(shutil.which('unshare') is None, reason='needs unshare(1)')
def test_write_failures_name_the_users_path(sources, tmp_path):
  """A read-only workdir (a read-only bind mount in a private mount namespace) and a
  destination under /proc: the error names the user's path, never a temporary."""
  readonly, empty, copy = tmp_path / 'readonly', tmp_path / 'empty', tmp_path / 'copy'
  for folder in (readonly, empty):
    folder.mkdir()
  shutil.copytree(sources['workdir'], copy)
  photos = REPO / 'testdata'

  def in_readonly(source, program, *args):
    script = (f'mount --bind {source} {readonly} && mount -o remount,ro,bind {readonly} && '
              f'exec {sys.executable} {REPO / "bin" / program} ' + ' '.join(map(str, args)))
    result = subprocess.run(['unshare', '-rm', 'sh', '-c', script], capture_output=True,
                            text=True, check=False)
    return result.returncode, result.stderr.strip().splitlines()[-1]

  results = {
      'train': in_readonly(empty, 'train', '--config=tiny', f'--dataset=folder:{photos}',
                           f'--workdir={readonly}', '--num_steps=1'),
      'eval': in_readonly(copy, 'eval', f'--checkpoint={readonly}',
                          f'--dataset=folder:{photos}', '--num_examples=2'),
      'colorize': _run('colorize', f'--input={sources["photo"]}', '--output_dir=/proc/pic_out'),
      'export': _run('export', f'--checkpoint={sources["workdir"]}', '--export_dir=/proc/x'),
  }
  for program, (code, line) in results.items():
    assert code == 1 and '.tmp-' not in line and 'Errno' not in line, (program, line)
  assert str(readonly) in results['train'][1] and 'Read-only' in results['train'][1]
  assert f'{readonly}/eval.json' in results['eval'][1] and 'Read-only' in results['eval'][1]
  assert '/proc/pic_out' in results['colorize'][1]
  assert '/proc/x' in results['export'][1]


def test_a_saved_model_base_serves_its_newest_complete_version(sources, tmp_path):
  base = tmp_path / 'served'
  shutil.copytree(sources['saved_model'], base)
  (base / '7').mkdir()   # an export still being written, or one that failed
  result = subprocess.run(
      [sys.executable, str(REPO / 'bin' / 'colorize'), f'--saved_model={base}',
       f'--input={sources["photo"]}', f'--output_dir={tmp_path / "out"}', '--num_samples=1'],
      capture_output=True, text=True, check=False)
  assert result.returncode == 0, result.stderr[-2000:]
  assert (f'{base}: using version 1, the newest complete one (version 7 holds no '
          'SavedModel)') in result.stderr
