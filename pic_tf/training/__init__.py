"""Training: the trainer and its loop, the periodic actions, distribution strategies."""
