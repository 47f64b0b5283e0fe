"""What every program of the command line shares: config flags, help, clean exits.

Each program (:mod:`pic_tf.cli.train`, ``eval``, ``colorize``, ``export``,
``convert_original``, ``benchmark``) is a module with ``define_flags()``,
``main(argv)`` and ``run()``; ``bin/<name>``, ``pic-tf-<name>`` and ``python -m
pic_tf.cli.<name>`` all call ``run()``. Flags are defined when the program runs, not
when its module is imported, and the library is imported inside ``main`` once the
flags are checked, so ``--help`` and flag errors answer without TensorFlow's
multi-second import. Every message that names a flag lives in this package.
"""

import os
import re
import sys
import tempfile
import textwrap
import traceback

from absl import app
from absl import flags
from absl import logging

from pic_tf import configs
from pic_tf import errors
from pic_tf import sampling
from pic_tf import data
from pic_tf.model import precision as precision_lib
from pic_tf import storage
from pic_tf.storage import fileutil

HELP_FLAGS = ('-h', '-help', '--help', '-?', '--helpshort')
# TensorFlow's C++ start-up lines that say nothing to a user of a CPU machine. They are
# written before absl::InitializeLog, so TF_CPP_MIN_LOG_LEVEL cannot hide them.
_STARTUP_NOISE = (
    'All log messages before absl::InitializeLog() is called',
    'oneDNN custom operations are on',
    'Could not find cuda drivers on your machine',
    'failed call to cuInit',
    'Unable to register cu',
    'This TensorFlow binary is optimized to use available CPU instructions',
    'To enable the following instructions',
)


class _PathParser(flags.ArgumentParser):
  """A path flag's value as the library works with it (:func:`fileutil.user_path`)."""

  def parse(self, argument):
    return fileutil.user_path(argument)

  def flag_type(self):
    return 'path'


class _SourceParser(_PathParser):
  """A model source: ``demo`` or a path, as :func:`pic_tf.storage.source_path` reads it."""

  def parse(self, argument):
    return storage.source_path(argument)


class _DatasetParser(flags.ArgumentParser):
  """A dataset name; the PATH of ``folder:PATH`` as :class:`_PathParser` makes it."""

  def parse(self, argument):
    return fileutil.user_dataset(argument)

  def flag_type(self):
    return 'dataset'


def DEFINE_path(name, default, help_text):  # pylint: disable=invalid-name
  """Defines a flag that names a file or directory: relative, ``./``, trailing-slash,
  ``~`` and symlinked forms all reach the library as one absolute path."""
  flags.DEFINE(_PathParser(), name, default, help_text, serializer=flags.ArgumentSerializer())


def DEFINE_source(name, default, help_text):  # pylint: disable=invalid-name
  """Defines a flag that names a model: ``demo`` (the shipped demo model) or a path, read
  as :func:`DEFINE_path` reads it."""
  flags.DEFINE(_SourceParser(), name, default, help_text, serializer=flags.ArgumentSerializer())


def DEFINE_multi_path(name, default, help_text):  # pylint: disable=invalid-name
  """:func:`DEFINE_path`, repeatable (a list of paths or globs)."""
  flags.DEFINE_multi(_PathParser(), flags.ArgumentSerializer(), name, default, help_text)


def DEFINE_dataset(name, default, help_text):  # pylint: disable=invalid-name
  """Defines a dataset flag (:data:`pic_tf.data.DATASETS` or ``folder:PATH``, whose PATH
  is resolved as :func:`DEFINE_path`'s)."""
  flags.DEFINE(_DatasetParser(), name, default, help_text,
               serializer=flags.ArgumentSerializer())


def define_config_flags(default):
  """Defines ``--config`` and ``--set`` (the one config system of every program).

  Args:
    default: what the help says happens without ``--config``.
  """
  flags.DEFINE_string(
      'config', None,
      f'Base config: one of {", ".join(sorted(configs.CONFIGS))}. {default}')
  flags.DEFINE_multi_string(
      'set', [],
      'Override a config field, repeatable: --set=model.nr_channels=32 '
      '--set=train.batch_size=16. Fields: pic_tf/configs.py (an unknown one is answered with '
      'those of its section).')


# What --config means to a program that loads a model (a workdir carries its config.json).
ORIGINAL_CONFIG_HELP = ('Only with an original checkpoint: the config it was trained with '
                        '(a workdir carries its own config.json).')


def define_inference_flags():
  """Defines ``--precision`` and ``--jit``, the opt-in speed-ups of running a trained model."""
  flags.DEFINE_enum(
      'precision', precision_lib.FLOAT32, list(precision_lib.INFERENCE_PRECISIONS),
      'Compute precision of the model: float32 (exact, the default); mixed_bfloat16 '
      '(bfloat16 compute, float32 weights and likelihood; faster where bfloat16 is native, '
      'close but not equal results); auto: mixed_bfloat16 where native, else float32.')
  flags.DEFINE_bool('jit', False, 'Opt-in: compile the sampler\'s pixel loop with XLA (same '
                    'distribution; not pixel-identical to the default).')


def refuse_ignored(ignored):
  """Refuses every flag the user gave that would have no effect on this run.

  Args:
    ignored: ``{flag name: why it has no effect here}`` (e.g. ``'on a workdir, whose
      config.json fixes the model'``); flags left at their defaults are not refused.

  Raises:
    ConfigError: one line naming each such flag with its reason.
  """
  by_reason = {}
  for name, why in ignored.items():
    if flags.FLAGS[name].present:
      by_reason.setdefault(why, []).append(f'--{name}')
  if by_reason:
    raise errors.ConfigError('; '.join(
        f'{", ".join(names)} {"has" if len(names) == 1 else "have"} no effect {why}'
        for why, names in by_reason.items()))


# Why the model flags have no effect on a model source of each kind
# (pic_tf.storage.KINDS) that carries its own model.
_OWN_MODEL = {
    storage.DEMO: 'on the demo model, which carries its config.json (--config and --set '
            'describe an original checkpoint given with --checkpoint)',
    storage.WORKDIR: 'on a workdir, whose config.json fixes the model (retrain, or convert '
                     'an original checkpoint, to change it)',
    storage.CHECKPOINT: 'on a checkpoint of a workdir, whose config.json fixes the model',
    storage.SAVED_MODEL: 'on a SavedModel, which carries its model, sampler and precision '
                         '(set them with bin/export)',
}


def model_flags_ignored(kind, names):
  """``{flag: why}`` of the model flags ``names`` that a source of ``kind`` ignores.

  ``--config`` and ``--set`` describe only an original checkpoint; ``--precision``,
  ``--jit`` and ``--sampler`` every source but a SavedModel.
  """
  describe_original = ('config', 'set')
  return {name: _OWN_MODEL[kind] for name in names if kind in _OWN_MODEL and
          (name in describe_original or kind == storage.SAVED_MODEL)}


def resolve_config(name, overrides=(), dataset=None):
  """The :class:`Config` named ``name`` (or implied by ``dataset``) with overrides.

  Args:
    name: config name or None.
    overrides: ``section.field=value`` strings.
    dataset: optional dataset name (:data:`pic_tf.data.DATASETS`, or
      ``folder:PATH``); it picks the default config and sets ``config.dataset``.

  Raises:
    ConfigError: unknown names or bad overrides.
  """
  if name is None:
    if dataset is not None and data.is_folder(dataset):
      raise errors.ConfigError('--dataset=folder:... needs --config (cifar10 for 32x32 '
                               'images, imagenet for 128x128, or tiny)')
    dataset = dataset or data.CIFAR10
    if dataset not in data.DATASETS:
      raise errors.ConfigError(f'unknown dataset {dataset!r}: use '
                               f'{data.TRAIN_NAMES_HELP}')
    name = configs.PAPER_CONFIG_OF[dataset]
  if dataset in data.DATASETS and not data.DATASETS[dataset].trainable:
    raise errors.ConfigError(f'{dataset} has no train split (it is for colourising and '
                             f'evaluation): train on {data.TRAIN_NAMES_HELP}')
  if dataset is not None:
    overrides = [f'dataset={dataset}'] + list(overrides)
  return configs.get_config(name, overrides)


def request_limits(**fields):
  """:class:`pic_tf.sampling.RequestLimits` of the flags; its errors name them as flags."""
  try:
    return sampling.RequestLimits(**fields)
  except errors.ConfigError as e:
    raise errors.ConfigError(f'--{e}') from None


def sample_options(**fields):
  """:class:`pic_tf.sampling.SampleOptions` of the flags; its errors name them as flags."""
  try:
    return sampling.SampleOptions(**fields)
  except errors.ConfigError as e:   # the options name their fields as the flags do
    raise errors.ConfigError(f'--{e}') from None


def _as_invoked(text, argv0):
  """``text`` with its ``bin/<name>`` commands written as the program was started:
  ``pic-tf-<name>`` for a console script, ``python -m pic_tf.cli.<name>`` for a module."""
  name = os.path.basename(argv0)
  command = r'(?<![\w/.~-])bin/(\w+)'   # not a path's bin/ (.venv/bin/python)
  if name.startswith('pic-tf-'):
    return re.sub(command, lambda m: 'pic-tf-' + m.group(1).replace('_', '-'), text)
  if name.endswith('.py') and os.path.basename(os.path.dirname(argv0)) == 'cli':
    return re.sub(command, r'python -m pic_tf.cli.\1', text)
  return text


def _help_text(doc, own_flags):
  """The program's docstring and its own flags, one entry each (absl's --helpfull: all)."""
  lines = [doc.strip(), '', 'flags:']
  for flag in own_flags:
    name = f'--[no]{flag.name}' if flag.boolean else f'--{flag.name}'
    # absl appends ";\n    repeat this option ..." to a repeatable flag's help.
    text = re.sub(r';\s*repeat this option to specify a list of values$', '', flag.help or '')
    text = ' '.join(text.split())
    if isinstance(flag, flags.MultiFlag) and 'repeatable' not in text.lower():
      text += ' Repeatable.'
    lines.append(f'  {name}: ' + textwrap.fill(text, 86, subsequent_indent='    ').lstrip())
    if flag.default not in (None, []):
      lines.append(f'    (default: {flag.default_as_str})')
  lines += ['', 'All flags, including absl\'s own: --helpfull']
  return '\n'.join(lines)


def run(main, define_flags, doc, positional=False):
  """``absl.app.run(main)`` for a program, with the behaviour users expect of a tool.

  ``--help`` prints the program's docstring and every flag it defines (its own and
  the shared ones) and exits 0; user errors (:class:`pic_tf.errors.PicError`, missing or
  existing files, a full or read-only disk) print one ``error: ...`` line and exit 1;
  so do positional arguments unless ``positional``, and anything unexpected (named as
  a bug). Ctrl-C prints ``interrupted`` and exits 130; training stopped by a signal
(:class:`pic_tf.errors.TrainingStopped`) says where it checkpointed and exits 128 + the
signal. ``PIC_TF_TRACEBACK=1`` adds the
  traceback.

  Args:
    main: ``main(argv)`` of the program.
    define_flags: defines the program's flags (called once, here).
    doc: the program's docstring, the head of its ``--help``.
    positional: whether ``main`` takes positional arguments (``argv[1:]``).
  """

  def fail(message):
    if os.environ.get('PIC_TF_TRACEBACK'):
      traceback.print_exc()
    print(f'error: {_as_invoked(str(message), sys.argv[0])}', file=sys.stderr)
    sys.exit(1)

  def wrapped(argv):
    try:
      if len(argv) > 1 and not positional:
        raise errors.ConfigError(f'unexpected arguments: {argv[1:]} (see --help)')
      return main(argv)
    except errors.TrainingStopped as e:
      # Not an error: the run is checkpointed and resumes; the shell's status for the signal.
      print(f'interrupted: {e}', file=sys.stderr)
      sys.exit(128 + e.signum)
    except KeyboardInterrupt:
      # Ctrl-C: what was written is complete (files are written atomically), the rest
      # is not there; the shell's usual status for SIGINT.
      print('\ninterrupted', file=sys.stderr)
      sys.exit(130)
    except (errors.PicError, FileNotFoundError, FileExistsError, NotADirectoryError) as e:
      fail(e)
    except Exception as e:  # pylint: disable=broad-except
      # A full or read-only disk (Python's OSError or TensorFlow's own error) is the
      # user's to fix; anything else is a bug in pic_tf: one line, and the way to the
      # traceback for the report.
      message = fileutil.describe_write_failure(e)
      if message is None:
        message = (f'{type(e).__name__}: {errors.first_line(e)[:300]} (this is a bug in '
                   'pic_tf: rerun with PIC_TF_TRACEBACK=1 and report the traceback)')
      fail(message)

  before = set(flags.FLAGS)
  define_flags()
  own = [flags.FLAGS[name] for name in flags.FLAGS if name not in before]
  args = sys.argv[1:sys.argv.index('--')] if '--' in sys.argv else sys.argv[1:]
  if any(a in HELP_FLAGS for a in args):
    # absl's own --help exits 1 and lists only the main module's flags.
    print(_as_invoked(_help_text(doc, own), sys.argv[0]))
    sys.exit(0)
  logging.set_verbosity(logging.WARNING)
  names = [flag.name for flag in own]
  app.run(wrapped, flags_parser=lambda argv: _parse_flags(argv, names))


# A flag of one program that a user may carry over to another, and what the others call
# the same thing, most likely first (bin/train writes a workdir; bin/eval, colorize and
# export read it as --checkpoint).
_CALLED_ELSEWHERE = {
    'workdir': ('checkpoint', 'output_dir'),
    'output_dir': ('workdir', 'export_dir'),
    'export_dir': ('output_dir',),
    'num_images': ('num_examples',),
    'num_examples': ('num_images',),
}


def _parse_flags(argv, names):
  """absl's flag parsing, its errors as one ``error:`` line (absl's own are two lines,
  the first starting ``FATAL``), status 1. An unknown flag is answered with the
  program's flags ``names`` it may stand for: this program's name for a flag of another,
  else absl's guesses among them (not absl's own flags, which the help leaves out)."""
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    message = str(e)
    unknown = re.fullmatch(r"Unknown command line flag '([\w-]+)'(?:\. Did you mean: (.+) \?)?",
                           message)
    if unknown:
      name = unknown.group(1)
      guesses = ([g for g in _CALLED_ELSEWHERE.get(name, ()) if g in names][:1] or
                 [g for g in (unknown.group(2) or '').replace(',', ' ').split() if g in names])
      message = f'unknown flag --{name}' + (
          f' (did you mean {" or ".join("--" + g for g in guesses)}?)' if guesses else '')
    print(f'error: {message}; see --help', file=sys.stderr)
    sys.exit(1)


def quiet_tensorflow():
  """Imports TensorFlow without its C++ start-up chatter on machines without a GPU.

  TensorFlow prints "Could not find cuda drivers", oneDNN and cuInit lines while it
  imports and first lists its devices, before its logging is configured, so
  ``TF_CPP_MIN_LOG_LEVEL`` does not reach them. Both happen here with the process's
  standard error captured; afterwards every captured line that is not such a
  start-up line is written out again (all of them if the import fails). Later C++
  log lines below FATAL (e.g. "oneDNN supports DT_INT32 only on platforms with
  AVX-512", written while sampling on CPUs without it) are hidden by
  ``TF_CPP_MIN_LOG_LEVEL=3`` unless the user set that variable; errors still reach
  the user as Python exceptions.

  oneDNN is switched on (``TF_ENABLE_ONEDNN_OPTS=1``) unless the user set the variable:
  TensorFlow leaves it off on CPUs without AVX-512, where it trains the paper config
  faster (BUILD.md, "Training speed"); it is read once, when TensorFlow loads.
  """
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
  os.environ.setdefault('TF_ENABLE_ONEDNN_OPTS', '1')
  if 'tensorflow' in sys.modules:
    return
  sys.stderr.flush()
  saved = os.dup(2)
  failed = True
  with tempfile.TemporaryFile() as captured:
    os.dup2(captured.fileno(), 2)
    try:
      # Here, not at the top: the point is to import it with standard error captured.
      import tensorflow as tf  # pylint: disable=import-outside-toplevel
      tf.config.list_physical_devices()
      failed = False
    finally:
      sys.stderr.flush()
      os.dup2(saved, 2)
      os.close(saved)
      captured.seek(0)
      for line in captured.read().decode('utf-8', 'replace').splitlines(keepends=True):
        if failed or not any(noise in line for noise in _STARTUP_NOISE):
          sys.stderr.write(line)
      sys.stderr.flush()
