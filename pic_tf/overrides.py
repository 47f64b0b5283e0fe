"""``section.field=value`` overrides of a :class:`pic_tf.configs.Config`.

Values are parsed to the type of the field they replace (booleans as
``true/false/1/0/yes/no``; the embedding's stages as JSON), and the result is
validated like any config.
"""

import json

from pic_tf import configs
from pic_tf.errors import ConfigError


def _parse_value(text, current):
  """Parses ``text`` to the type of ``current`` (the field's present value)."""
  if isinstance(current, bool):
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


def apply(config, assignments):
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
        raise ConfigError(f'unknown config section {part!r} in {assignment!r}')
      target = target[part]
    field = parts[-1]
    if field not in target or isinstance(target[field], dict):
      raise ConfigError(f'unknown config field {key!r}')
    try:
      target[field] = _parse_value(text.strip(), target[field])
    except ValueError as e:
      raise ConfigError(f'bad value for {key}: {e}') from None
  return configs.Config.from_dict(d)
