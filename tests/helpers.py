"""Helpers shared by the tests."""

import contextlib
import os
import socket
import struct
import subprocess
import zlib

import numpy as np
import pytest
import tensorflow as tf

from pic_tf.model import networks
from pic_tf.model import distribution
from pic_tf.storage import workdir as workdir_lib

# A /proc/cpuinfo of two cores; {extra} adds CPU flags (e.g. avx512_bf16).
CPUINFO = """processor\t: 0
model name\t: Test CPU 9000
flags\t\t: fpu sse2 avx2 fma avx512f {extra}

processor\t: 1
model name\t: Test CPU 9000
flags\t\t: fpu sse2 avx2 fma avx512f {extra}
"""


def randomize(model, seed=0, g_scale=1.0, b_std=0.3):
  """Random weights that exercise every parameter of a PICModel.

  V ~ N(0, 0.05) as the original's initialiser, g ~ g_scale * U(0.5, 1.5),
  b ~ N(0, b_std): unlike the default g = 1, b = 0, every g and b matters.
  """
  rng = np.random.default_rng(seed)
  for name, _, var in networks.named_variables(model):
    if name.endswith('/V'):
      var.assign(rng.normal(0, 0.05, size=var.shape).astype(np.float32))
    elif name.endswith('/g'):
      var.assign((g_scale * rng.uniform(0.5, 1.5, size=var.shape)).astype(np.float32))
    else:
      var.assign(rng.normal(0, b_std, size=var.shape).astype(np.float32))
  return model


def redraw(model, canvas, embedding, lum, rows, seed, temperature=1.0):
  """Chroma rows drawn again from one full pass of ``model`` on a finished ``canvas``.

  What a sampler's ``sample_rows`` promises: pixel ``p = row * w + col`` is drawn from
  the mixture the model gives it, with seed ``fold_in(seed, p)``. By causality the full
  pass on the finished canvas gives every pixel the parameters it had when drawn.

  Args:
    model: a :class:`pic_tf.model.networks.PICModel`.
    canvas: float ``[B, h, w, 3]``, the canvas the sampler returned.
    embedding, lum: the sampler's ``embed`` outputs.
    rows: ``(first, end)`` chroma rows.
    seed: int32 ``[2]``.

  Returns:
    float32 ``[B, end - first, w, 2]``.
  """
  params = model.pixelcnn(canvas, embedding, training=False)
  w = canvas.shape[2]
  drawn = []
  for row in range(*rows):
    drawn.append(tf.stack([
        distribution.ChromaMixture(params[:, row, col], lum[:, row, col],
                                   num_mix=model.config.nr_logistic_mix).sample(
            seed=tf.random.experimental.stateless_fold_in(seed, row * w + col),
            temperature=temperature)
        for col in range(w)], axis=1))
  return tf.stack(drawn, axis=1)


def chi2_homogeneity(counts_a, counts_b):
  """Chi-square test that two samples' counts over the same bins share one distribution.

  Bins empty in both samples are dropped. Expected counts follow the pooled
  proportions; ``df = (bins - 1)``.

  Args:
    counts_a, counts_b: int arrays of the same length.

  Returns:
    ``(statistic, df, p)``, p from the chi-square survival function.
  """
  table = np.array([counts_a, counts_b], dtype=np.float64)
  table = table[:, table.sum(0) > 0]
  expected = table.sum(1, keepdims=True) * table.sum(0, keepdims=True) / table.sum()
  statistic = float(((table - expected) ** 2 / expected).sum())
  df = table.shape[1] - 1
  p = (float(tf.math.igammac(tf.constant(df / 2.0, tf.float64),
                             tf.constant(statistic / 2.0, tf.float64))) if df > 0 else 1.0)
  return statistic, df, p


@contextlib.contextmanager
def small_filesystem(path, read_only=False, free_kb=40):
  """A tmpfs at ``path`` with ``free_kb`` KB free, or read-only (root only; else skip)."""
  os.makedirs(path, exist_ok=True)
  options = 'size=1m' + (',ro' if read_only else '')
  mounted = subprocess.run(['mount', '-t', 'tmpfs', '-o', options, 'tmpfs', str(path)],
                           capture_output=True, check=False).returncode == 0
  if not mounted:
    pytest.skip('cannot mount a tmpfs here (needs root)')
  try:
    if not read_only:
      with open(os.path.join(path, 'filler'), 'wb') as f:
        f.write(b'\0' * ((1024 - free_kb) * 1024))
    yield path
  finally:
    subprocess.run(['umount', str(path)], check=False)


def png_claiming(width, height):
  """The bytes of a small PNG whose header claims ``width`` x ``height`` pixels (its
  data is a few rows: decoding it fails, reading its header does not)."""
  chunk = lambda kind, data: (struct.pack('>I', len(data)) + kind + data +
                              struct.pack('>I', zlib.crc32(kind + data)))
  header = struct.pack('>IIBBBBB', width, height, 8, 2, 0, 0, 0)
  return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', header) +
          chunk(b'IDAT', zlib.compress(b'\0' * 64)) + chunk(b'IEND', b''))


def assert_same_newest_checkpoint(workdir_a, workdir_b, step):
  """The newest checkpoints of two workdirs are both at ``step`` and hold the same weights
  and Polyak averages, to the bit."""
  a, b = (workdir_lib.read_checkpoint(str(w)) for w in (workdir_a, workdir_b))
  assert a.step == b.step == step, (a.step, b.step)
  for name, value in a.weights.items():
    np.testing.assert_array_equal(value, b.weights[name], err_msg=name)
  for ours, theirs in zip(a.averages, b.averages, strict=True):
    np.testing.assert_array_equal(ours, theirs)


def colour_photos(folder, count=48, seed=0):
  """Synthetic smooth colour photos (16x16 gradients with noise), PNG, in ``folder``."""
  rng = np.random.default_rng(seed)
  os.makedirs(folder, exist_ok=True)
  yy, xx = np.mgrid[0:16, 0:16] / 15.0
  for i in range(count):
    base = rng.uniform(0, 255, size=(2, 3))
    image = base[0] * yy[..., None] + base[1] * xx[..., None]
    image = np.clip(image / 2 + rng.normal(0, 8, size=image.shape), 0, 255).astype(np.uint8)
    tf.io.write_file(os.path.join(folder, f'{i:03d}.png'), tf.io.encode_png(image))
  return folder


def free_ports(n):
  """``n`` TCP ports free on localhost now (for the workers of a local cluster)."""
  sockets = [socket.socket() for _ in range(n)]
  for s in sockets:
    s.bind(('localhost', 0))
  ports = [s.getsockname()[1] for s in sockets]
  for s in sockets:
    s.close()
  return ports
