"""pic_tf: Probabilistic Image Colorization (Royer et al., BMVC 2017) in TF2 / Keras 3."""

__version__ = "0.1.0"
