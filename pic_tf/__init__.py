"""pic_tf: Probabilistic Image Colorization (Royer et al., BMVC 2017) in TF2 / Keras 3.

  import pic_tf
  pic = pic_tf.load('demo')
  samples = pic.colorize(pic_tf.example_images(4), num_samples=3)

See :mod:`pic_tf.api`. ``import pic_tf`` itself loads no TensorFlow: the binaries'
``--help`` stays instant.
"""

__version__ = "0.1.0"


def load(path=None, **kwargs):
  """A :class:`pic_tf.api.PIC` of ``path`` (default: the demo model; see
  :func:`pic_tf.api.load`)."""
  # Imported here: importing the package must not load TensorFlow.
  from pic_tf import api
  return api.load(path, **kwargs)


def finetune(init_from, workdir, dataset, **kwargs):
  """Fine-tunes a trained model on ``dataset`` (see :func:`pic_tf.api.finetune`)."""
  # Imported here: importing the package must not load TensorFlow.
  from pic_tf import api
  return api.finetune(init_from, workdir, dataset, **kwargs)


def example_images(count=16):
  """CIFAR-10 test images shipped with pic_tf (see :func:`pic_tf.api.example_images`)."""
  # Imported here: importing the package must not load TensorFlow.
  from pic_tf import api
  return api.example_images(count)
