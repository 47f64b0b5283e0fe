"""Training: the trainer and its loop, the periodic actions, distribution strategies.

This ``__init__`` names the ``tf.distribute`` strategies a run can use
(:func:`pic_tf.training.plan.make_strategy`), read without TensorFlow.
"""

STRATEGIES = {
    'auto': 'every GPU of this machine when it has two or more, else one device',
    'default': 'one device: the GPU if there is one, else the CPU',
    'mirrored': 'every GPU of this machine (tf.distribute.MirroredStrategy)',
    'multi_worker': 'several machines, described by TF_CONFIG',
    'tpu': 'a TPU (needs its name or address)',
}
