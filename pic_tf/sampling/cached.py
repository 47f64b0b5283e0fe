"""Fast sampling: incremental PixelCNN++ generation with caches (Ramachandran et al. 2017).

The naive sampler reruns the whole PixelCNN for every chroma pixel (``h * w`` passes).
This one computes exactly the same numbers from the same weights with far less work:

- the embedding once per image, and every conditioning term that only depends on it
  in one product for all rows;
- the vertical (u) stream once per chroma row: a down-shifted 3x3 conv at row i reads
  rows i-2..i of its input, so each u block keeps the last two rows of its inputs;
- the horizontal (ul) stream one pixel at a time: a down-right-shifted 3x3 conv at
  (i, j) reads rows i-2..i and columns j-2..j. The rows above are finished when row
  i starts, so their contribution to the whole row is computed once per row
  (``row_bias``); within the row only the current pixel and the two before it,
  kept in a sliding window, are convolved per step.

A mixed_bfloat16 model's products run in bfloat16 (sums, histories, mixture in float32):
then the numbers match its full bfloat16 pass to bfloat16 rounding, not exactly. (Under
XLA the pixel loop's products take the bfloat16-rounded operands but multiply in float32:
XLA's CPU backend converts bfloat16 matrix products, the weights once before the loop.)

Shapes as in :mod:`pic_tf.sampling.naive`: B sampling batch, h x w chroma grid, C width,
E embedding channels.
"""

import tensorflow as tf

from pic_tf.model import color
from pic_tf.model import distribution
from pic_tf.model import layers
from pic_tf.sampling import naive

_celu = layers.concat_elu   # the PixelCNN's own nonlinearity, applied to cached tensors


def _kernel(conv, dtype):
  """The weight-normalised kernel ``g * V / ||V||`` in ``dtype`` and the float32 bias."""
  kernel = tf.cast(conv.normalized_kernel() * conv.g, tf.float32)
  return tf.cast(kernel, dtype), tf.cast(tf.convert_to_tensor(conv.b), tf.float32)


def _conv(x, kernel, left_right=(0, 0)):
  """A conv over whole rows, the width zero-padded by ``left_right`` inside the conv.

  Products run in the kernel's dtype; what they return, and every sum, is float32.
  """
  padding = [[0, 0], [0, 0], list(left_right), [0, 0]]
  return tf.cast(tf.nn.conv2d(tf.cast(x, kernel.dtype), kernel, 1, padding), tf.float32)


def _matmul(x, kernel, equation=None):
  x = tf.cast(x, kernel.dtype)
  out = tf.einsum(equation, x, kernel) if equation else tf.matmul(x, kernel)
  return tf.cast(out, tf.float32)


def taps(window, current, kernel_row, parallel=False):
  """Current-row part of a down-right 3x3 conv: sum over columns j-2, j-1, j.

  Args:
    window: ``(x[j-2], x[j-1])`` each ``[B, Cin]`` (zeros left of the image).
    current: ``x[j]`` ``[B, Cin]``.
    kernel_row: ``[3, Cin, Cout]`` (the kernel's last row).
    parallel: for XLA, which runs each matrix product on one thread and independent
      ones side by side: the window's part (known before this pixel) is a product of
      its own, and the current pixel's, the only one this pixel waits for, is two
      half-width products, so that both cores work on it.
  """
  if kernel_row.dtype == tf.float32:   # three products, as the exact path always had
    past = _matmul(window[0], kernel_row[0]) + _matmul(window[1], kernel_row[1])
  elif parallel:
    past = _matmul(tf.concat(window, -1), tf.reshape(kernel_row[:2], [-1, kernel_row.shape[-1]]))
  else:
    # In bfloat16 one product over the three columns: fewer ops and casts, and like a
    # convolution it rounds once.
    inputs = tf.concat([window[0], window[1], current], axis=-1)
    return _matmul(inputs, tf.reshape(kernel_row, [-1, kernel_row.shape[-1]]))
  if not parallel:
    return past + _matmul(current, kernel_row[2])
  cout = int(kernel_row.shape[-1])
  halves = (kernel_row[2, :, :cout // 2], kernel_row[2, :, cout // 2:])
  return past + tf.concat([_matmul(current, k) for k in halves], axis=-1)


def fusable_elu(x):
  """elu with ``exp(x) - 1`` for XLA: its CPU backend fuses ``exp`` into the element-wise
  kernel around it but runs ``expm1`` (what ``tf.nn.elu`` lowers to) as a kernel of
  its own, nine per pixel here. Differs from ``tf.nn.elu`` by < 1e-7 (float32 ``exp``
  near 1)."""
  return tf.where(x > 0, x, tf.exp(tf.minimum(x, 0.0)) - 1.0)


def _fusable_celu(x):
  return fusable_elu(tf.concat([x, -x], axis=-1))   # concat_elu for XLA


class CachedSampler(naive.Sampler):
  """Same interface and same samples as :class:`pic_tf.sampling.naive.Sampler`, much faster.

  Args:
    model: a built :class:`pic_tf.model.networks.PICModel`.
    jit: compile the pixel loop with XLA (opt-in; equal in distribution, see
      :class:`pic_tf.sampling.naive.Sampler`). Only the pixel loop: XLA fuses its hundreds of
      small ops per pixel, while the row convolutions run faster uncompiled (oneDNN,
      in bfloat16 for a mixed_bfloat16 model; XLA's CPU backend has no bfloat16
      convolution).
  """

  JIT_ROW_LOOP = False   # --jit compiles the pixel loop only (see ``jit``)

  def __init__(self, model, jit=False):
    super().__init__(model, jit=jit)
    self._pixels_fn = tf.function(self._pixels, jit_compile=True) if jit else self._pixels

  def initial_state(self, canvas, embedding):
    """Empty row histories (zeros: the padding above the image)."""
    batch, w = tf.shape(canvas)[0], tf.shape(canvas)[2]
    width = 2 * self.config.nr_channels     # every history holds concat_elu outputs
    zeros = tf.zeros([batch, 2, w, width])
    n = self.config.nr_resnet
    return {key: [zeros] * n for key in ('u_in', 'u_mid', 'ul_in', 'ul_mid')}

  def _sample_rows(self, canvas, chroma, embedding, lum, row_start, row_end, seed,
                   temperature, state=None):
    if state is None:
      # Starting below rows that are already final: rebuild the histories from them.
      state = self._histories(canvas, embedding, row_start)
    weights = self._weights()
    conditioning = self._conditioning(embedding[:, row_start:row_end], weights)
    for row in tf.range(row_start, row_end):
      band_row = [[t[:, row - row_start] for t in block] for block in conditioning]
      canvas, chroma, state = self._row(
          canvas, chroma, band_row, lum, row, seed, temperature, state, weights)
    return canvas, chroma, state

  # -- the layers as kernels ------------------------------------------------------

  def _weights(self):
    cnn = self.model.pixelcnn
    dtype = cnn.compute_dtype   # bfloat16 products for a mixed_bfloat16 model
    blocks = []
    for u_block, ul_block in zip(cnn.u_blocks(), cnn.ul_blocks()):
      blocks.append({
          'u1': _kernel(u_block.conv1, dtype), 'u2': _kernel(u_block.conv2, dtype),
          'u_aux': _kernel(u_block.conv_aux, dtype),
          'ul1': _kernel(ul_block.conv1, dtype), 'ul2': _kernel(ul_block.conv2, dtype),
          'ul_aux': self._split_ul_aux(_kernel(ul_block.conv_aux, dtype)),
      })
    return {'down': _kernel(cnn.conv_down, dtype), 'down_2': _kernel(cnn.conv_down_2, dtype),
            'down_right': _kernel(cnn.conv_down_right, dtype),
            'last': _kernel(cnn.conv_last, dtype), 'blocks': blocks}

  def _split_ul_aux(self, kernel_bias):
    """A ul block's conditioning sees ``celu([u, e]) = [elu(u), elu(e), elu(-u), elu(-e)]``.

    Returns its 1x1 kernel's rows for ``celu(u)`` and for ``celu(e)`` (``[2C, C]``,
    ``[2E, C]``) and the bias, so that the embedding's part can be computed ahead.
    """
    (kernel, bias), c = kernel_bias, self.config.nr_channels
    kernel, e = kernel[0, 0], int(kernel.shape[2]) // 2 - c
    return (tf.concat([kernel[:c], kernel[c + e:2 * c + e]], 0),
            tf.concat([kernel[c:c + e], kernel[2 * c + e:]], 0), bias)

  def _conditioning(self, embedding, weights):
    """Every block's conditioning terms that only depend on the embedding, for a band of
    rows in one product (``embedding`` ``[B, rows, w, E]``).

    Returns:
      per block ``[u_aux, ul_aux_e]``, float32 ``[B, rows, w, C]`` each with its bias:
      the u block's ``conv_aux`` and the embedding's part of the ul block's.
    """
    e = _celu(tf.cast(embedding, tf.float32))
    out = []
    for block in weights['blocks']:
      (k_u, b_u), (_, k_e, b_e) = block['u_aux'], block['ul_aux']
      both = _matmul(e, tf.concat([k_u[0, 0], k_e], -1), 'bhwc,cd->bhwd')
      out.append([both[..., :b_u.shape[0]] + b_u, both[..., b_u.shape[0]:] + b_e])
    return out

  # -- state kept between rows ----------------------------------------------------

  def _histories(self, canvas, embedding, row_start):
    """Per block, the two rows above ``row_start`` of every 3x3 conv's input.

    Computed with one ordinary (full) pass of the streams over the finished rows, which
    is exact because outputs at rows < row_start only depend on canvas rows < row_start.
    Returns a dict of ``[B, 2, w, Cin]`` tensors (zeros above the image).
    """
    cnn = self.model.pixelcnn
    u, ul = cnn.initial_streams(canvas)
    hist = {'u_in': [], 'u_mid': [], 'ul_in': [], 'ul_mid': []}

    def run_block(block, x, a, key):
      x_in = _celu(x)
      mid = _celu(block.conv1(x_in) + block.conv_aux(_celu(a)))
      hist[f'{key}_in'].append(self._two_rows_above(x_in, row_start))
      hist[f'{key}_mid'].append(self._two_rows_above(mid, row_start))
      return block(x, a, training=False)

    for u_block, ul_block in zip(cnn.u_blocks(), cnn.ul_blocks()):
      u = run_block(u_block, u, embedding, 'u')
      ul = run_block(ul_block, ul, tf.concat([u, embedding], axis=-1), 'ul')
    return hist

  @staticmethod
  def _two_rows_above(x, row):
    padded = tf.pad(tf.cast(x, tf.float32), [[0, 0], [2, 0], [0, 0], [0, 0]])
    return padded[:, row:row + 2]   # rows row-2, row-1 of x

  # -- one chroma row ---------------------------------------------------------------

  def _row_terms(self, canvas, conditioning, lum, row, state, weights):
    """Everything of one chroma row that needs no pixel of it.

    ``conditioning``: this row's slices of :meth:`_conditioning`, ``[B, w, C]``.

    Returns:
      ``(terms, sizes, state)``: float32 ``[w, B, sum(sizes)]``, per column the
      concatenation of the canvas pixel above-left with its ones channel, L', ul0's 1x3
      part, per block the ul convs' rows-above parts and the ul conditioning (``sizes``:
      their channel counts); the histories with this row's u stream inputs.
    """
    w = tf.shape(canvas)[2]
    x = tf.concat([canvas, tf.ones_like(canvas[..., :1])], axis=-1)     # [B, h, w, 4]
    x_padded = tf.pad(x, [[0, 0], [2, 0], [1, 1], [0, 0]])               # zero rows above
    # u0 and the 1x3 part of ul0 at this row come from canvas rows row-2, row-1.
    rows_above = x_padded[:, row:row + 2]                                # rows row-2, row-1
    k_down, b_down = weights['down']
    u = _conv(rows_above, k_down)[:, 0] + b_down                         # [B, w, C]
    u = tf.where(row > 0, u, tf.zeros_like(u))                           # down_shift
    k_down2, b_down2 = weights['down_2']
    ul_above = _conv(rows_above[:, 1:], k_down2)[:, 0] + b_down2
    ul_above = tf.where(row > 0, ul_above, tf.zeros_like(ul_above))      # [B, w, C]

    new_state = {k: list(v) for k, v in state.items()}
    row_bias, ul_aux = [], []
    for n, (block, (u_aux, ul_aux_e)) in enumerate(zip(weights['blocks'], conditioning)):
      # Vertical stream: the whole row at once from the two rows above it.
      u_in = _celu(u)[:, None]                                           # [B, 1, w, 2C]
      rows = tf.concat([state['u_in'][n], u_in], axis=1)                 # rows row-2..row
      k1, b1 = block['u1']
      c1 = _conv(rows, k1, (1, 1))[:, 0] + b1 + u_aux
      mid = _celu(c1)[:, None]
      k2, b2 = block['u2']
      mid_rows = tf.concat([state['u_mid'][n], mid], axis=1)
      c2 = _conv(mid_rows, k2, (1, 1))[:, 0] + b2
      value, gate = tf.split(c2, 2, axis=-1)
      u = u + value * tf.sigmoid(gate)
      new_state['u_in'][n] = rows[:, 1:]
      new_state['u_mid'][n] = mid_rows[:, 1:]
      # Conditioning of the ul block on (u, embedding) for the whole row.
      ul_aux.append(_matmul(_celu(u), block['ul_aux'][0], 'bwc,cd->bwd') + ul_aux_e)
      # Contribution of the two rows above to this row's ul convs (incl. biases).
      k1, b1 = block['ul1']
      k2, b2 = block['ul2']
      row_bias.append((_conv(state['ul_in'][n], k1[:2], (2, 0))[:, 0] + b1,
                       _conv(state['ul_mid'][n], k2[:2], (2, 0))[:, 0] + b2))

    # What each pixel reads of these comes as one slice per column (one op per pixel).
    above = x_padded[:, row + 1, :w]                 # canvas row-1, columns col-1 ([B, w, 4])
    terms = [above, lum[:, row, :, None], ul_above] + [t for b in row_bias for t in b] + ul_aux
    sizes = [int(t.shape[-1]) for t in terms]
    return tf.transpose(tf.concat(terms, axis=-1), [1, 0, 2]), sizes, new_state

  def _row(self, canvas, chroma, conditioning, lum, row, seed, temperature, state, weights):
    h = tf.shape(canvas)[1]
    terms, sizes, new_state = self._row_terms(canvas, conditioning, lum, row, state, weights)
    row_rgb, row_ab, in_rows, mid_rows = self._pixels_fn(
        terms, sizes, row, seed, temperature, weights)
    row_mask = tf.reshape(tf.one_hot(row, h), [1, h, 1, 1])
    canvas = canvas * (1.0 - row_mask) + row_mask * row_rgb[:, None]
    chroma = chroma * (1.0 - row_mask) + row_mask * row_ab[:, None]
    for n, (done_in, done_mid) in enumerate(zip(in_rows, mid_rows)):   # [B, w, Cin] each
      new_state['ul_in'][n] = tf.concat([state['ul_in'][n][:, 1:], done_in[:, None]], axis=1)
      new_state['ul_mid'][n] = tf.concat([state['ul_mid'][n][:, 1:], done_mid[:, None]], 1)
    return canvas, chroma, new_state

  def _pixels(self, terms, sizes, row, seed, temperature, weights):
    """The horizontal stream along one row: ``w`` pixels, each sampled from its mixture.

    Args:
      terms: float32 ``[w, B, sum(sizes)]``: per column the terms of :meth:`_row_terms`
        (the canvas pixel above-left, L', the row's conv parts).

    Returns:
      ``(rgb [B, w, 3], ab [B, w, 2], in_rows, mid_rows)`` with the per-block ul conv
      inputs ``[B, w, Cin]`` for the next row's histories.
    """
    (k_dr, b_dr), (k_last, b_last) = weights['down_right'], weights['last']
    celu, elu = (_fusable_celu, fusable_elu) if self.jit else (_celu, tf.nn.elu)
    k_dr, k_last, dtype = k_dr[:, 0], k_last[0, 0], k_last.dtype
    row_taps = [(b['ul1'][0][2], b['ul2'][0][2]) for b in weights['blocks']]   # current-row taps
    w, batch = tf.shape(terms)[0], tf.shape(terms)[1]
    columns = tf.TensorArray(tf.float32, size=w).unstack(terms)          # w x [B, sum]
    windows = [(tf.zeros([batch, int(k1.shape[1])], dtype),) * 2 +
               (tf.zeros([batch, int(k2.shape[1])], dtype),) * 2 for k1, k2 in row_taps]
    arrays = [tf.TensorArray(tf.float32, size=w) for _ in range(2 + 2 * len(row_taps))]

    def pixel(col, prev_x, windows, arrays):
      above, lum, ul_above, *rest = tf.split(columns.read(col), sizes, axis=-1)
      row_bias, ul_aux = rest[:2 * len(row_taps)], rest[2 * len(row_taps):]
      # ul0: the 1x3 conv of the row above + the 2x1 conv of column col-1 (rows row-1, row).
      pair = tf.stack([above, prev_x], 1)
      ul_left = _matmul(pair, k_dr, 'bkc,kcd->bd') + b_dr
      ul = ul_above + tf.where(col > 0, ul_left, tf.zeros_like(ul_left))
      new_windows, written = [], []
      for n, (k1, k2) in enumerate(row_taps):
        in_prev2, in_prev1, mid_prev2, mid_prev1 = windows[n]
        x_in = celu(ul)
        written.append(x_in)
        x_in = tf.cast(x_in, dtype)
        c1 = row_bias[2 * n] + taps((in_prev2, in_prev1), x_in, k1, self.jit)
        c1 += ul_aux[n]
        mid = celu(c1)
        written.append(mid)
        mid = tf.cast(mid, dtype)
        c2 = row_bias[2 * n + 1] + taps((mid_prev2, mid_prev1), mid, k2, self.jit)
        value, gate = tf.split(c2, 2, axis=-1)
        ul = ul + value * tf.sigmoid(gate)
        new_windows.append((in_prev1, x_in, mid_prev1, mid))
      params = _matmul(elu(ul), k_last) + b_last                 # [B, 8K]
      dist = distribution.ChromaMixture(params, lum[:, 0],
                                        num_mix=self.config.nr_logistic_mix)
      ab = dist.sample(seed=tf.random.experimental.stateless_fold_in(seed, row * w + col),
                       temperature=temperature)
      rgb = color.lab_norm_to_rgb_norm(tf.concat([lum, ab], axis=-1))
      arrays = [a.write(col, v) for a, v in zip(arrays, [rgb, ab] + written)]
      return col + 1, tf.concat([rgb, tf.ones_like(lum)], -1), new_windows, arrays

    _, _, _, arrays = tf.while_loop(
        lambda col, *_: col < w, pixel,
        (tf.constant(0), tf.zeros([batch, 4]), windows, arrays))
    rgb, ab, *written = [tf.transpose(a.stack(), [1, 0, 2]) for a in arrays]
    return rgb, ab, written[0::2], written[1::2]
