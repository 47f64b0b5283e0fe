"""The compute precisions of a model, by name, and ``'auto'`` resolved where bfloat16
is native.

On a CPU without AVX512_BF16 / AMX-BF16, bfloat16 arithmetic is emulated and far slower
than float32, so ``'auto'`` means mixed bfloat16 only where the hardware computes it
(such a CPU, or GPUs of compute capability 8.0+: :mod:`pic_tf.model.devices` says which),
and forcing it elsewhere warns.
"""

from pic_tf.model import devices

FLOAT32, MIXED_BFLOAT16, MIXED_FLOAT16 = 'float32', 'mixed_bfloat16', 'mixed_float16'
AUTO = 'auto'
# The compute precisions, by name: every one a trainer takes, and those of inference
# (mixed float16 needs loss scaling, which only training has).
PRECISIONS = {
    FLOAT32: 'exact, the default',
    MIXED_BFLOAT16: 'bfloat16 compute, float32 weights and likelihood',
    MIXED_FLOAT16: 'float16 compute with loss scaling (training only)',
    AUTO: 'mixed_bfloat16 where the hardware computes bfloat16 natively, else float32',
}
INFERENCE_PRECISIONS = tuple(p for p in PRECISIONS if p != MIXED_FLOAT16)


def auto_precision(native):
  """What ``'auto'`` means: ``'mixed_bfloat16'`` where bfloat16 is ``native``, else
  ``'float32'`` (never slower than float32)."""
  return MIXED_BFLOAT16 if native else FLOAT32


def resolve_precision(precision, *, log=None):
  """``'auto'`` -> :func:`auto_precision` on this machine; other values are returned as
  they are, and ``log`` (if given) gets one warning line when mixed bfloat16 is forced
  where :attr:`pic_tf.model.devices.Machine.native_bfloat16` says it is emulated.

  Args:
    precision: a name of :data:`PRECISIONS`.
    log: callable for the warning line.
  """
  if precision not in (AUTO, MIXED_BFLOAT16):
    return precision
  native = devices.detect().native_bfloat16
  if precision == AUTO:
    return auto_precision(native)
  if log and not native:
    log(EMULATED_WARNING)
  return precision


# Said where mixed bfloat16 is asked for on a machine that emulates it.
EMULATED_WARNING = (
    'warning: mixed_bfloat16 on a machine without native bfloat16 (no AVX512_BF16 or '
    'AMX-BF16 CPU, no GPU of compute capability 8.0+) is emulated, many times slower '
    'than float32. Use precision auto (float32 here) or float32.')
