"""The command line: one module per program (flags, ``main``, every message naming a
flag) and :mod:`pic_tf.cli.common`, what they share. Nothing else imports this package.

Every program imports the library inside its functions, once its flags are checked:
TensorFlow takes seconds to import, and ``--help`` and flag errors answer without it."""
