"""The command line: one module per program (flags, ``main``, every message naming a
flag) and :mod:`pic_tf.cli.common`, what they share. Nothing else imports this package."""
