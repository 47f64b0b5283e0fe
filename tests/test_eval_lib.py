"""Evaluation: exact per-image means, the table, JSON, loading workdirs and originals."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from pic_tf import checkpoints
from pic_tf import configs
from pic_tf import data
from pic_tf import distribution
from pic_tf import eval_lib
from pic_tf import fileutil
from pic_tf import workdir as workdir_lib
from pic_tf.errors import CheckpointError


def test_evaluate_bpd_is_the_mean_over_images():
  config = configs.tiny()
  model, _ = checkpoints.create_model_and_ema(config)
  images = np.random.default_rng(0).integers(0, 256, size=(10, 8, 8, 3), dtype=np.uint8)
  inputs = data.preprocess_batch(images, 2)
  params, embedding = model(inputs['gray'], inputs['canvas'])
  per_image = distribution.bits_per_dim(params, inputs['lab_down'], per_image=True).numpy()
  aux = distribution.bits_per_dim(embedding[..., :80], inputs['lab_down'], per_image=True)
  ds = tf.data.Dataset.from_tensor_slices(images).batch(4).map(
      lambda b: data.preprocess_batch(b, 2))   # batches of 4, 4, 2
  result = eval_lib.evaluate_bpd(eval_lib.make_eval_step(model), ds)
  assert result['num_examples'] == 10
  assert result['bpd'] == pytest.approx(per_image.mean(), rel=1e-5)
  assert result['aux_bpd'] == pytest.approx(float(np.mean(aux)), rel=1e-5)


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
  with pytest.raises(CheckpointError, match='--config=cifar10'):
    checkpoints.load(str(tmp_path / 'model.ckpt'))
  workdir_lib.save_config(configs.tiny(), str(tmp_path))
  with pytest.raises(CheckpointError, match='no checkpoint'):
    checkpoints.load(str(tmp_path))
