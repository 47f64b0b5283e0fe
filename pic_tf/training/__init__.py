"""Training: the trainer and its loop, the periodic actions, distribution strategies.

This ``__init__`` names the ``tf.distribute`` strategies a run can use
(:func:`pic_tf.training.plan.make_strategy`), read without TensorFlow.
"""

AUTO, DEFAULT, MIRRORED, MULTI_WORKER, TPU = 'auto', 'default', 'mirrored', 'multi_worker', 'tpu'
STRATEGIES = {
    AUTO: 'every GPU of this machine when it has two or more, else one device',
    DEFAULT: 'one device: the GPU if there is one, else the CPU',
    MIRRORED: 'every GPU of this machine (tf.distribute.MirroredStrategy)',
    MULTI_WORKER: 'several machines, described by TF_CONFIG',
    TPU: 'a TPU (needs its name or address)',
}
