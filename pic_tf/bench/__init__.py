"""The benchmark lab: every mode of ``bin/benchmark``, the training-parity harness with
the original, its statistics, serving load and the machine description. Nothing outside
this folder imports it."""
