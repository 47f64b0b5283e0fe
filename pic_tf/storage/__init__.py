"""Storage: loading models from workdirs and original checkpoints, writing workdirs,
converting the original's checkpoints, atomic files."""
