"""The objective (eq. 3 in bits) with the auxiliary head, and bpd over a dataset."""

import numpy as np
import pytest
import tensorflow as tf

from pic_tf import configs
from pic_tf.data import preprocess
from pic_tf.model import distribution
from pic_tf.model import networks
from pic_tf.model import objective
from pic_tf.storage import original_checkpoints


def test_objective_gives_the_originals_bpd_and_aux_bpd(reference_dir):
  """From the network's inputs to both loss terms, against the original's recorded batch."""
  base = reference_dir / 'cifar_c32_l2'
  config = configs.override(configs.cifar10(), ['model.nr_channels=32', 'model.nr_resnet=2'])
  model = networks.build_model(config.model)
  original_checkpoints.load_original(str(base / 'model.ckpt'), model)
  io = np.load(base / 'io.npz')
  inputs = {'gray': io['x_gray'], 'canvas': io['x_rgb_down'], 'lab_down': io['x_lab_down']}
  bpd, aux = objective.bits_per_dim(model, inputs)
  assert float(bpd) == pytest.approx(float(io['bpd']), abs=1e-4)             # 9.33589
  assert float(aux) == pytest.approx(float(io['bpd_embedding']), abs=1e-4)   # 9.65940


def test_evaluate_bpd_is_the_exact_mean_over_images():
  """Batches of 4, 4 and 2: the mean of the ten per-image values, not of batch means."""
  config = configs.tiny()
  model = networks.build_model(config.model)
  images = np.random.default_rng(0).integers(0, 256, size=(10, 8, 8, 3), dtype=np.uint8)
  inputs = preprocess.model_inputs(images, 2)
  params, embedding = model(inputs['gray'], inputs['canvas'])
  per_image = distribution.bits_per_dim(params, inputs['lab_down'], per_image=True).numpy()
  aux = distribution.bits_per_dim(embedding[..., :80], inputs['lab_down'], per_image=True)
  ds = tf.data.Dataset.from_tensor_slices(images).batch(4).map(
      lambda b: preprocess.model_inputs(b, 2))
  result = objective.evaluate_bpd(objective.make_eval_step(model), ds)
  assert result['num_examples'] == 10
  assert result['bpd'] == pytest.approx(per_image.mean(), rel=1e-5)
  assert result['aux_bpd'] == pytest.approx(float(np.mean(aux)), rel=1e-5)
  # Batch means of 4, 4, 2 would weight the last two images twice as much.
  batch_means = np.mean([per_image[:4].mean(), per_image[4:8].mean(), per_image[8:].mean()])
  assert abs(batch_means - per_image.mean()) > 1e-5
