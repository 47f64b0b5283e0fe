"""Two-sample tests for comparing our training runs with an ensemble of the original's.

Small samples (a handful of runs each), so every test here is exact or uses the
exact small-sample distribution: Welch's t test (location, unequal variances), the
Mann-Whitney U test (location by ranks, exact permutation p-value) and the
Brown-Forsythe test (Levene's test around the median: spread). p-values are
two-sided. NumPy and TensorFlow only (``tf.math.betainc`` for the t and F tails).
"""

import itertools
import math

import numpy as np
import tensorflow as tf


def _betainc(a, b, x):
  """Regularised incomplete beta ``I_x(a, b)`` in float64."""
  return float(tf.math.betainc(tf.constant(a, tf.float64), tf.constant(b, tf.float64),
                               tf.constant(x, tf.float64)))


def t_sf2(t, df):
  """Two-sided tail ``P(|T| >= |t|)`` of Student's t with ``df`` degrees of freedom."""
  return _betainc(df / 2, 0.5, df / (df + t * t))


def t_quantile(p, df):
  """``t`` with ``P(T <= t) = p`` for Student's t (``0.5 <= p < 1``), by bisection."""
  low, high = 0.0, 1.0
  while t_sf2(high, df) / 2 > 1 - p:
    high *= 2
  for _ in range(100):
    mid = (low + high) / 2
    low, high = (mid, high) if t_sf2(mid, df) / 2 > 1 - p else (low, mid)
  return (low + high) / 2


def prediction_interval(values, alpha=0.01, comparisons=1):
  """Where a new draw from the distribution of ``values`` lies, with a normal model.

  ``mean +- t * sd * sqrt(1 + 1/n)``, ``t`` the Student quantile with ``n - 1``
  degrees of freedom at ``1 - alpha / (2 * comparisons)``: a new draw of the same
  distribution falls outside with probability ``alpha / comparisons``, so ``comparisons``
  such checks fail together with probability at most ``alpha`` (Bonferroni).

  Args:
    values: at least two numbers.

  Returns:
    ``(low, high)`` floats.
  """
  values = np.asarray(values, np.float64)
  n = len(values)
  half = (t_quantile(1 - alpha / (2 * comparisons), n - 1) * values.std(ddof=1) *
          np.sqrt(1 + 1 / n))
  return float(values.mean() - half), float(values.mean() + half)


def welch_t(x, y):
  """Welch's t test of equal means without assuming equal variances.

  Args:
    x, y: 1-D samples (at least 2 values each).

  Returns:
    ``(t, p)``; ``p`` is NaN when both samples are constant.
  """
  x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
  vx, vy = x.var(ddof=1) / len(x), y.var(ddof=1) / len(y)
  if vx + vy == 0:
    return 0.0, float('nan')
  t = (x.mean() - y.mean()) / math.sqrt(vx + vy)
  df = (vx + vy) ** 2 / (vx ** 2 / (len(x) - 1) + vy ** 2 / (len(y) - 1))
  return float(t), t_sf2(t, df)


def mann_whitney(x, y, max_exact=200_000):
  """Mann-Whitney U test (midranks for ties), exact over all splits of the pooled ranks.

  Args:
    x, y: 1-D samples.
    max_exact: above this many splits, a normal approximation is used instead.

  Returns:
    ``(u, p)``: U of ``x`` and the two-sided p-value.
  """
  x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
  pooled = np.concatenate([x, y])
  order = pooled.argsort(kind='stable')
  ranks = np.empty(len(pooled))
  ranks[order] = np.arange(1, len(pooled) + 1)
  for value in np.unique(pooled):   # midranks for ties
    tied = pooled == value
    ranks[tied] = ranks[tied].mean()
  n, m = len(x), len(y)
  u = ranks[:n].sum() - n * (n + 1) / 2
  centre = n * m / 2
  if math.comb(n + m, n) <= max_exact:
    us = np.array([ranks[list(c)].sum() for c in itertools.combinations(range(n + m), n)])
    us -= n * (n + 1) / 2
    p = np.mean(np.abs(us - centre) >= abs(u - centre) - 1e-9)
  else:
    sd = math.sqrt(n * m * (n + m + 1) / 12)
    p = math.erfc(abs(u - centre) / sd / math.sqrt(2))
  return float(u), float(min(p, 1.0))


def brown_forsythe(x, y):
  """Levene's test of equal spread around the medians (Brown-Forsythe), two samples.

  Returns:
    ``(F, p)`` with ``F ~ F(1, n + m - 2)`` under equal spread; ``p`` is NaN when
    both samples are constant.
  """
  groups = [np.abs(np.asarray(g, np.float64) - np.median(g)) for g in (x, y)]
  total = np.concatenate(groups)
  dfw = len(total) - 2
  between = sum(len(g) * (g.mean() - total.mean()) ** 2 for g in groups)
  within = sum(((g - g.mean()) ** 2).sum() for g in groups)
  if within == 0:
    return float('inf') if between > 0 else 0.0, float('nan')
  f = between / (within / dfw)
  # P(F(1, dfw) >= f) = I_{dfw / (dfw + f)}(dfw / 2, 1 / 2).
  return float(f), _betainc(dfw / 2, 0.5, dfw / (dfw + f))


def compare(ours, theirs):
  """All three tests of one quantity: ``{'welch_p', 'rank_p', 'spread_p'}``."""
  return {'welch_p': welch_t(ours, theirs)[1], 'rank_p': mann_whitney(ours, theirs)[1],
          'spread_p': brown_forsythe(ours, theirs)[1]}
