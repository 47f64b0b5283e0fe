"""The speed benchmarks users run on their own hardware (``bin/benchmark``): training,
sampling and served load, with the machine they ran on. Only the command line imports it.

This ``__init__`` names the modes (:data:`MODES`), read by ``--help`` without TensorFlow.
"""

MODES = {
    'train_speed': 'training images/s of the paper CIFAR-10 config: precisions, XLA, '
                   'determinism',
    'sample_speed': 's/image of the naive and the cached sampler',
    'serving_load': 'a SavedModel under mixed concurrent requests',
    'request_memory': 'peak memory of one request at a SavedModel\'s limits',
    'input_speed': 'training input images/s per CPU core: CIFAR-10, a folder of photos',
}
