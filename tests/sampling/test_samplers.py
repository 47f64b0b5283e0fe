"""Samplers by name."""

import pytest

from pic_tf import configs
from pic_tf.errors import ConfigError
from pic_tf.model import networks
from pic_tf import sampling
from pic_tf.sampling import cached
from pic_tf.sampling import naive


def test_make_sampler_by_name_and_a_clear_error_for_others():
  model = networks.build_model(configs.tiny().model)
  assert type(sampling.make_sampler(model)) is cached.CachedSampler
  assert type(sampling.make_sampler(model, 'naive')) is naive.Sampler
  with pytest.raises(ConfigError, match="unknown sampler 'fast': use cached or naive"):
    sampling.make_sampler(model, 'fast')
