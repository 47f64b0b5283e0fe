"""Input pipelines: CIFAR-10, ImageNet 2012 and folders of photos (tf.data), and image
files for the command-line tools."""
