"""Samplers by name."""

import pytest

from pic_tf import cached_sampling
from pic_tf import configs
from pic_tf import networks
from pic_tf import samplers
from pic_tf import sampling
from pic_tf.errors import ConfigError


def test_make_sampler_by_name_and_a_clear_error_for_others():
  model = networks.build_model(configs.tiny().model)
  assert type(samplers.make_sampler(model)) is cached_sampling.CachedSampler
  assert type(samplers.make_sampler(model, 'naive')) is sampling.Sampler
  with pytest.raises(ConfigError, match="unknown sampler 'fast': use cached or naive"):
    samplers.make_sampler(model, 'fast')
