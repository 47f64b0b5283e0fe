"""Evaluation: exact per-image means, the table, JSON, loading workdirs and originals."""

import json
import os

import pytest

from pic_tf.storage import Source
from pic_tf import configs
from pic_tf.errors import CheckpointError
from pic_tf import eval_lib
from pic_tf.storage import loading
from pic_tf.storage import fileutil
from pic_tf.storage import workdir as workdir_lib


def test_table_and_json(tmp_path):
  results = {'num_examples': 10000, 'bpd_ema': 2.75, 'bpd_raw': 2.8, 'aux_bpd_ema': 3.1,
             'aux_bpd_raw': 3.2, 'paper_bpd': 2.72}
  table = eval_lib.format_table(results)
  assert '2.750' in table and '2.72' in table and '+0.030' in table
  path = tmp_path / 'sub' / 'eval.json'
  fileutil.write_json(results, str(path))
  assert json.loads(path.read_text()) == results
  assert os.listdir(tmp_path / 'sub') == ['eval.json']   # no temporary file left


def test_sample_table_says_the_papers_saturations_are_imagenet_figures():
  row = {'saturation': 0.3, 'colorfulness': 20.0, 'diversity': 5.0}
  results = {'num_images': 16, 'pic': row, 'gw_baseline': row, 'ground_truth': row,
             'paper_saturation': {'pic': 0.364, 'gw_baseline': 0.327}}
  for dataset, note in (('cifar10', True), ('imagenet2012', False)):
    table = eval_lib.format_sample_table(dict(results, dataset=dataset))
    assert '36.4%' in table
    assert ('paper\'s figures are for ImageNet 128x128, not cifar10' in table) == note


def test_load_errors_for_original_checkpoints(tmp_path):
  with pytest.raises(CheckpointError, match='model.ckpt does not exist'):
    loading.load(Source(str(tmp_path / 'model.ckpt')))
  (tmp_path / 'model.ckpt.index').write_bytes(b'')
  with pytest.raises(CheckpointError, match='give the config it was trained with'):
    loading.load(Source(str(tmp_path / 'model.ckpt')))
  workdir_lib.save_config(configs.tiny(), str(tmp_path))
  with pytest.raises(CheckpointError, match='no checkpoint'):
    loading.load(Source(str(tmp_path)))
