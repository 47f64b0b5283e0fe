"""The model of PIC: colour space, layers, the networks g^w and f^theta, the mixture
distribution with the objective, the Polyak average of the weights, and the compute
precision. Imports nothing of pic_tf but ``configs`` and ``errors``."""
