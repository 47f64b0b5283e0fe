"""The exported model under concurrent mixed load: same answers as alone, bad requests alone."""

import numpy as np
import tensorflow as tf

from pic_tf.bench import serving_load
from pic_tf import configs
from pic_tf import export_lib
from pic_tf.model import networks

import helpers


def test_mixed_requests():
  requests = serving_load.make_requests(400, seed=3)
  kinds = {r['what'] for r in requests}
  assert {'colourise', 'log-likelihood', 'g^w baseline', '2-channel image', 'empty image',
          'num_samples 0', 'negative temperature'} <= kinds
  malformed = sum(r['malformed'] for r in requests) / len(requests)
  assert 0.05 < malformed < 0.15
  sizes = {tuple(r['inputs']['images'].shape[1:3]) for r in requests}
  assert len(sizes) > 100   # many shapes: the server must not keep per-shape state wrong


def test_200_requests_from_8_threads(tmp_path):
  model, _ = networks.build_model_and_ema(configs.tiny())
  helpers.randomize(model, 0)
  lines = []
  results = serving_load.run(export_lib.export(model, str(tmp_path)), 200, 8, seed=0,
                             log=lines.append)
  print('\n' + '\n'.join(lines))
  assert results['requests'] == 200 and results['malformed'] > 10
  assert results['mismatches'] == [] and results['bad_accepted'] == []
  assert results['rss_ratio'] < 1.10
  assert results['requests_per_second'] > 0 and results['latency_p99_s'] >= results['latency_p50_s']


class _StatefulModel:
  """A served model that is *not* stateless: its answers depend on earlier requests."""

  def __init__(self):
    self.calls = 0

    def answer(**inputs):
      self.calls += 1
      images = inputs['images']
      if images.shape[-1] not in (1, 3) or images.shape[1] == 0:
        raise tf.errors.InvalidArgumentError(None, None, 'bad images')
      return {'out': tf.constant([self.calls % 2])}

    self.signatures = {name: answer for name in
                       ('serving_default', 'log_likelihood', 'embedding_colorize')}


def test_the_check_catches_a_model_that_keeps_state(monkeypatch):
  model = _StatefulModel()
  monkeypatch.setattr(serving_load.export_lib, 'load_saved_model', lambda path, log=None: model)
  results = serving_load.run('unused', 40, 4, seed=1, log=lambda line: None)
  assert results['mismatches']   # some answers under load differ from the answer alone
  assert np.isfinite(results['requests_per_second'])
