"""Faults: kills at any instant, damaged files, full or read-only disks, interrupted exports.

Each binary runs as a user runs it, in its own process, with the fault put at the last
possible point by ``tests/fault_driver.py``. What must hold: a killed training resumes
to exactly the weights of an uninterrupted run; no committed checkpoint is ever
unreadable; nothing is left behind; damaged or unwritable files end in one clear
``error:`` line (printed here) and a non-zero exit, never a traceback and never a
silent restart from scratch.
"""

import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from pic_tf.storage import Source
from pic_tf import configs
from pic_tf.errors import DamagedCheckpointError
from pic_tf.model import networks
from pic_tf.storage import loading
from pic_tf.storage import fileutil
from pic_tf.storage import workdir as workdir_lib
from pic_tf.training import actions as train_actions
from pic_tf.training import trainer
import helpers  # pylint: disable=g-import-not-at-top

REPO = pathlib.Path(__file__).resolve().parent.parent
DRIVER = REPO / 'tests' / 'fault_driver.py'
KILL_SEED = 14
PHASES = ('data', 'step', 'checkpoint', 'eval', 'grid')


def _photos(folder, count=24):
  rng = np.random.default_rng(0)
  os.makedirs(folder, exist_ok=True)
  for i in range(count):
    image = rng.integers(0, 256, size=(12, 12, 3), dtype=np.uint8)
    tf.io.write_file(os.path.join(folder, f'{i:03d}.png'), tf.io.encode_png(image))
  return str(folder)


def _run(binary, args, fault=None, timeout=600):
  """Runs ``bin/<binary>`` (through the fault driver if ``fault``). Returns the result."""
  if fault is None:
    cmd = [sys.executable, str(REPO / 'bin' / binary)] + list(args)
  else:
    cmd = [sys.executable, str(DRIVER), json.dumps(fault), str(REPO / 'bin' / binary)] + list(args)
  return subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=timeout,
                        cwd=str(REPO))


def _one_clear_error(result, *words):
  """A failed run that printed one ``error:`` line (shown in the test output), no traceback."""
  lines = [l for l in result.stderr.splitlines() if l.startswith('error: ')]
  print(f'  -> {lines[0] if lines else result.stderr[-500:]}')
  assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
  assert len(lines) == 1 and 'Traceback' not in result.stderr, result.stderr[-2000:]
  for word in words:
    assert word in lines[0], lines[0]
  return lines[0]


def _state(workdir):
  """Every variable of the newest checkpoint (model, EMA, optimizer, step)."""
  reader = tf.train.load_checkpoint(workdir_lib.latest_checkpoint(workdir))
  return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
          if not name.startswith('_') and 'save_counter' not in name}


def _assert_committed_checkpoints_readable(workdir):
  """Every checkpoint the index lists is readable, or being swept: TensorFlow's
  CheckpointManager writes the index, deletes the oldest checkpoint (its .index file
  first), then writes the index again, so a kill in between leaves a listed checkpoint
  without its .index (and perhaps still with its data)."""
  for path in workdir_lib.checkpoint_paths(workdir):
    if not os.path.exists(path + '.index'):
      continue
    reader = tf.train.load_checkpoint(path)
    for name in reader.get_variable_to_shape_map():
      reader.get_tensor(name)


def _leftovers(workdir):
  return sorted(n for n in os.listdir(workdir) if n.startswith(fileutil.TMP_PREFIX) or
                n.endswith('_temp'))


TRAIN_SETS = ['--set=train.checkpoint_every=3', '--set=train.log_every=3',
              '--set=train.eval_every=9', '--set=train.eval_examples=8',
              '--set=train.sample_every=9', '--set=train.keep_checkpoints=2']


def _train_args(photos, workdir, steps):
  return ['--config=tiny', f'--dataset=folder:{photos}', f'--workdir={workdir}',
          f'--num_steps={steps}', '--batch_size=4'] + TRAIN_SETS


@pytest.mark.slow
def test_training_killed_at_20_instants_resumes_exactly(tmp_path):
  photos = _photos(tmp_path / 'photos')
  straight = str(tmp_path / 'straight')
  steps = 120   # long enough that every kill of the schedule lands before the end
  assert _run('train', _train_args(photos, straight, steps)).returncode == 0
  rng = np.random.default_rng(KILL_SEED)
  phases = rng.permutation(np.repeat(PHASES, 4))
  max_occurrence = {'data': 1, 'step': 6, 'checkpoint': 3, 'eval': 1, 'grid': 1}
  schedule = [{'kill': str(p), 'occurrence': int(rng.integers(1, max_occurrence[p] + 1)),
               'delay': round(float(rng.uniform(0.0, 0.05)), 4)} for p in phases]
  print(f'\nkill schedule (seed {KILL_SEED}):')
  interrupted = str(tmp_path / 'interrupted')
  for i, fault in enumerate(schedule):
    result = _run('train', _train_args(photos, interrupted, steps), fault)
    committed = workdir_lib.checkpoint_paths(interrupted)
    step = os.path.basename(committed[-1]) if committed else 'none'
    outcome = 'killed' if result.returncode == -signal.SIGKILL else f'exit {result.returncode}'
    print(f'  {i + 1:2d}. {json.dumps(fault)}: {outcome}; newest checkpoint {step}')
    assert result.returncode == -signal.SIGKILL, result.stdout[-2000:] + result.stderr[-3000:]
    _assert_committed_checkpoints_readable(interrupted)
    # keep_checkpoints=2, plus one: TensorFlow's manager writes the index with the new
    # checkpoint before it sweeps the oldest, so a kill in between leaves three.
    assert len([p for p in committed if os.path.exists(p + '.index')]) <= 3
  result = _run('train', _train_args(photos, interrupted, steps))
  assert result.returncode == 0, result.stderr[-3000:]
  a, b = _state(straight), _state(interrupted)
  assert a.keys() == b.keys() and any('optimizer' in k for k in a) and any('ema/' in k for k in a)
  for name in a:
    np.testing.assert_allclose(a[name], b[name], atol=1e-6, rtol=0, err_msg=name)
  assert int(b['step/.ATTRIBUTES/VARIABLE_VALUE']) == steps
  assert _leftovers(interrupted) == []
  results = [json.load(open(os.path.join(d, 'train_results.json'))) for d in (straight, interrupted)]
  assert results[0]['test_bpd_ema'] == results[1]['test_bpd_ema']
  indexes = sorted(n for n in os.listdir(interrupted) if n.endswith('.index'))
  assert indexes == [f'ckpt-{steps - 3}.index', f'ckpt-{steps}.index']


def _damage(path, how):
  data_file = f'{path}.data-00000-of-00001'
  if how == 'truncated':
    with open(data_file, 'r+b') as f:
      f.truncate(os.path.getsize(data_file) // 2)
  elif how == 'zero-byte':
    open(data_file, 'wb').close()
  elif how == 'missing files':
    os.remove(data_file)
    os.remove(f'{path}.index')


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
  """A tiny run of 6 steps with checkpoints at steps 2, 4 and 6."""
  base = tmp_path_factory.mktemp('trained')
  photos = _photos(base / 'photos')
  workdir = str(base / 'run')
  result = _run('train', ['--config=tiny', f'--dataset=folder:{photos}', f'--workdir={workdir}',
                          '--num_steps=6', '--batch_size=4', '--set=train.checkpoint_every=2',
                          '--set=train.eval_examples=4'])
  assert result.returncode == 0, result.stderr[-2000:]
  return {'photos': photos, 'workdir': workdir}


@pytest.fixture(scope='module')
def saved(tmp_path_factory):
  """A tiny workdir with checkpoints at steps 2, 4 and 6 (saved, not trained: fast)."""
  workdir = str(tmp_path_factory.mktemp('saved') / 'run')
  config = configs.tiny()
  os.makedirs(workdir)
  workdir_lib.save_config(config, workdir)
  model, ema = networks.build_model_and_ema(config)
  step = tf.Variable(0, dtype=tf.int64)
  manager = tf.train.CheckpointManager(workdir_lib.make_checkpoint(model, ema, step=step),
                                       workdir, max_to_keep=3)
  for number in (2, 4, 6):
    step.assign(number)
    manager.save(checkpoint_number=number)
  return workdir


@pytest.fixture
def copy_of(tmp_path):
  def make(source):
    target = str(tmp_path / 'run')
    shutil.copytree(source, target)
    return target
  return make


@pytest.mark.parametrize('how', ['truncated', 'zero-byte', 'missing files'])
def test_damaged_newest_checkpoint(how, saved, copy_of):
  """Loading names the damaged checkpoint and an earlier one to use."""
  workdir = copy_of(saved)
  _damage(os.path.join(workdir, 'ckpt-6'), how)
  print(f'\n{how}:')
  with pytest.raises(DamagedCheckpointError) as info:
    loading.load(Source(workdir))
  print(f'  -> {info.value}')
  assert 'ckpt-6' in str(info.value) and f'use an earlier one instead, e.g. {workdir}/ckpt-4' in str(info.value)
  # "Damaged" only when its files are there; without them it "does not exist".
  words = str(info.value).replace(workdir, '<workdir>')
  if how == 'missing files':
    assert 'does not exist' in words and 'damaged' not in words
  else:
    assert 'damaged' in words and 'files are there' in words
  assert loading.load(Source(os.path.join(workdir, 'ckpt-4'))).step == 4   # the advice works


@pytest.mark.parametrize('how', ['zero-byte', 'missing files'])
def test_training_over_unreadable_checkpoints_never_advises_discarding_them(
    how, saved, copy_of, monkeypatch):
  """Every checkpoint unreadable: training stops, changes nothing, and never advises
  discarding files that are there; the files it names are the workdir's own, for a
  workdir given relative to the current directory too."""
  workdir = copy_of(saved)
  for step in (2, 4, 6):
    _damage(os.path.join(workdir, f'ckpt-{step}'), how)
  before = sorted(os.listdir(workdir))
  monkeypatch.chdir(os.path.dirname(workdir))
  with pytest.raises(DamagedCheckpointError) as info:
    trainer.train(configs.tiny(), 'run', log=lambda _: None)
  message = str(info.value)
  print(f'\n{how}: {message}')
  assert 'move it away' not in message and 'training stopped' in message
  if how == 'missing files':
    assert 'do not exist (ckpt-2, ckpt-4, ckpt-6)' in message
  else:
    assert 'can be read' in message and 'Nothing was changed' in message
    checked = message.split("load_checkpoint('")[1].split("')")[0]   # the check it advises
    assert checked == 'run/ckpt-6' and os.path.exists(checked + '.index')
  assert sorted(os.listdir(workdir)) == before


def test_the_advice_never_names_a_checkpoint_without_files(saved, copy_of):
  """ckpt-4 swept (listed, no files: a kill inside the manager's save) and ckpt-2
  damaged: the advice names ckpt-6, the one whose files exist, and it loads."""
  workdir = copy_of(saved)
  _damage(os.path.join(workdir, 'ckpt-4'), 'missing files')
  _damage(os.path.join(workdir, 'ckpt-2'), 'truncated')
  with pytest.raises(DamagedCheckpointError) as info:
    loading.load(Source(os.path.join(workdir, 'ckpt-2')))
  assert str(info.value).endswith(f'use another one instead, e.g. {workdir}/ckpt-6'), info.value
  assert loading.load(Source(os.path.join(workdir, 'ckpt-6'))).step == 6


@pytest.mark.slow
def test_damaged_files_give_one_clear_error_in_every_binary(trained, copy_of, tmp_path):
  workdir = copy_of(trained['workdir'])
  _damage(os.path.join(workdir, 'ckpt-6'), 'truncated')
  print('\ndamaged ckpt-6 (truncated data file):')
  for binary, args in (('eval', [f'--checkpoint={workdir}', '--num_examples=4']),
                       ('colorize', [f'--checkpoint={workdir}', f'--input={trained["photos"]}',
                                     f'--output_dir={tmp_path / "out"}']),
                       ('export', [f'--checkpoint={workdir}', f'--export_dir={tmp_path / "e"}'])):
    _one_clear_error(_run(binary, args), 'ckpt-6', 'damaged', f'{workdir}/ckpt-4')
  assert not os.path.exists(tmp_path / 'e') and not os.path.exists(tmp_path / 'out')
  # Training resumes from the checkpoint before it, with a warning, and ends as usual.
  result = _run('train', ['--config=tiny', f'--dataset=folder:{trained["photos"]}',
                          f'--workdir={workdir}', '--num_steps=8', '--batch_size=4',
                          '--set=train.checkpoint_every=2', '--set=train.eval_examples=4'])
  assert result.returncode == 0, result.stderr[-2000:]
  warning = [l for l in result.stderr.splitlines() if l.startswith('warning:')]
  print(f'  bin/train: {warning[0]}')
  assert 'ckpt-6' in warning[0] and f'resumed from {workdir}/ckpt-4 at step 4' in result.stderr
  assert loading.load(Source(workdir)).step == 8

  # Every checkpoint damaged: training stops instead of starting again over them.
  workdir = str(tmp_path / 'all_damaged')
  shutil.copytree(trained['workdir'], workdir)
  for step in (2, 4, 6):
    _damage(os.path.join(workdir, f'ckpt-{step}'), 'zero-byte')
  print('every checkpoint damaged:')
  _one_clear_error(_run('train', ['--config=tiny', f'--dataset=folder:{trained["photos"]}',
                                  f'--workdir={workdir}', '--num_steps=8', '--batch_size=4',
                                  '--set=train.checkpoint_every=2']),
                   'no checkpoint', 'can be read')
  assert sorted(n for n in os.listdir(workdir) if n.endswith('.index')) == [
      'ckpt-2.index', 'ckpt-4.index', 'ckpt-6.index']

  # A damaged config.json, in every binary that reads one.
  workdir = str(tmp_path / 'bad_config')
  shutil.copytree(trained['workdir'], workdir)
  with open(os.path.join(workdir, 'config.json'), 'w') as f:
    f.write('{"model": {"nr_channels": 16,')
  print('damaged config.json:')
  for binary, args in (('train', ['--config=tiny', f'--dataset=folder:{trained["photos"]}',
                                  f'--workdir={workdir}', '--batch_size=4']),
                       ('eval', [f'--checkpoint={workdir}']),
                       ('colorize', [f'--checkpoint={workdir}', f'--input={trained["photos"]}',
                                     f'--output_dir={tmp_path / "out2"}']),
                       ('export', [f'--checkpoint={workdir}', f'--export_dir={tmp_path / "e2"}'])):
    _one_clear_error(_run(binary, args), 'config.json', 'damaged')

  # A SavedModel version without its variables.
  export_dir = tmp_path / 'served'
  assert _run('export', [f'--checkpoint={trained["workdir"]}',
                         f'--export_dir={export_dir}']).returncode == 0
  shutil.rmtree(export_dir / '1' / 'variables')
  print('SavedModel without variables/:')
  _one_clear_error(_run('colorize', [f'--saved_model={export_dir}',
                                     f'--input={trained["photos"]}',
                                     f'--output_dir={tmp_path / "out3"}']),
                   str(export_dir / '1'), 'bin/export')


def test_failed_checkpoint_write_keeps_the_committed_ones(saved, copy_of):
  workdir = copy_of(saved)
  before = _state(workdir)
  model, ema = networks.build_model_and_ema(workdir_lib.load_config(workdir))
  manager = tf.train.CheckpointManager(workdir_lib.make_checkpoint(model, ema), workdir,
                                       max_to_keep=3)

  def full_disk(checkpoint_number):
    os.makedirs(os.path.join(workdir, f'ckpt-{checkpoint_number}_temp'))
    raise tf.errors.ResourceExhaustedError(None, None, 'No space left on device')

  manager.save = full_disk
  with pytest.raises(tf.errors.ResourceExhaustedError):
    train_actions.CheckpointAction(manager, 2)(8, 10)
  assert _leftovers(workdir) == [] and workdir_lib.latest_checkpoint(workdir).endswith('ckpt-6')
  after = _state(workdir)
  for name in before:
    np.testing.assert_array_equal(before[name], after[name])


@pytest.mark.slow
def test_full_and_read_only_disks(trained, tmp_path):
  """Real full and read-only filesystems: one clear error, nothing half-written."""
  photos = trained['photos']
  with helpers.small_filesystem(tmp_path / 'full') as full:
    print('\nfull disk:')
    _one_clear_error(_run('train', ['--config=tiny', f'--dataset=folder:{photos}',
                                    f'--workdir={full}/run', '--num_steps=2', '--batch_size=4',
                                    '--set=train.checkpoint_every=1',
                                    '--set=train.eval_examples=4']),
                     'No space left on device')
    assert _leftovers(f'{full}/run') == []
    _one_clear_error(_run('export', [f'--checkpoint={trained["workdir"]}',
                                     f'--export_dir={full}/served', '--format=weights']),
                     'No space left on device')
    assert not os.path.exists(f'{full}/served') and _leftovers(full) == []
  with helpers.small_filesystem(tmp_path / 'ro', read_only=True) as read_only:
    print('read-only disk:')
    _one_clear_error(_run('colorize', [f'--checkpoint={trained["workdir"]}',
                                       f'--input={photos}', f'--output_dir={read_only}/out']),
                     f'{read_only}/out', 'Read-only file system')


@pytest.mark.slow
@pytest.mark.parametrize('binary,phase', [('colorize', 'png'), ('export', 'export'),
                                          ('train', 'checkpoint')])
def test_disk_full_mid_write(binary, phase, trained, copy_of, tmp_path):
  """A write that fails half-way as on a full disk (injected): one clear error, the
  previous state intact, no partial file."""
  workdir = copy_of(trained['workdir'])
  if binary == 'colorize':
    out = tmp_path / 'out'
    out.mkdir()
    (out / '000.png_sample0.png').write_bytes(b'the previous result')
    args = [f'--checkpoint={workdir}', f'--input={trained["photos"]}/000.png',
            f'--output_dir={out}', '--num_samples=1', '--overwrite']
  elif binary == 'export':
    out = tmp_path / 'served'
    args = [f'--checkpoint={workdir}', f'--export_dir={out}']
  else:
    out = pathlib.Path(workdir)
    args = ['--config=tiny', f'--dataset=folder:{trained["photos"]}', f'--workdir={workdir}',
            '--num_steps=8', '--batch_size=4', '--set=train.checkpoint_every=2',
            '--set=train.eval_examples=4']
  print(f'\n{binary}, disk full while writing ({phase}):')
  _one_clear_error(_run(binary, args, {'fail': phase}), 'No space left on device')
  assert _leftovers(out) == []
  if binary == 'colorize':
    assert (out / '000.png_sample0.png').read_bytes() == b'the previous result'
    assert sorted(os.listdir(out)) == ['000.png_sample0.png']
  if binary == 'export':
    assert not os.path.exists(out / '1')
  if binary == 'train':
    assert workdir_lib.latest_checkpoint(workdir).endswith('ckpt-6')
    _assert_committed_checkpoints_readable(workdir)


@pytest.mark.slow
@pytest.mark.parametrize('binary', ['export', 'convert_original'])
def test_killed_export_or_conversion_leaves_no_half_output(binary, trained, tmp_path,
                                                           reference_dir):
  """SIGKILL while the SavedModel or the converted workdir is being written."""
  if binary == 'export':
    out = tmp_path / 'served'
    args = [f'--checkpoint={trained["workdir"]}', f'--export_dir={out}']
    fault, parent = {'kill': 'export', 'delay': 0.5}, out
  else:
    out = tmp_path / 'converted'
    args = [f'--original_checkpoint={reference_dir}/cifar_c32_l2/model.ckpt',
            '--config=cifar10', '--set=model.nr_channels=32', '--set=model.nr_resnet=2',
            f'--output_dir={out}']
    fault, parent = {'kill': 'checkpoint'}, tmp_path
  result = _run(binary, args, fault)
  assert result.returncode == -signal.SIGKILL
  print(f'\n{binary} killed, left: {sorted(os.listdir(parent)) if parent.exists() else []}')
  if binary == 'export':   # a server only loads numeric versions: there is none
    assert not out.exists() or not [n for n in os.listdir(out) if not n.startswith('.')]
  else:
    assert not out.exists()
  # The next run completes and removes what the killed one left.
  result = _run(binary, args)
  assert result.returncode == 0, result.stderr[-2000:]
  if binary == 'export':
    assert sorted(os.listdir(out)) == ['1'] and tf.saved_model.contains_saved_model(str(out / '1'))
  else:
    assert loading.load(Source(str(out))).config.model.nr_channels == 32
  assert _leftovers(parent) == []
