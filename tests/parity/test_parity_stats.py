"""Two-sample tests against SciPy's values (scipy.stats 1.17, computed once; SciPy is not a
dependency) and against their defining properties."""


import numpy as np
import pytest

import parity_stats as stats

OURS = [4.213, 4.25, 4.30, 4.3245, 4.26, 4.28, 4.29]   # no ties: SciPy's 'exact' ignores them
THEIRS = [4.324, 4.323, 4.317, 4.196]


def test_values_match_scipy():
  # ttest_ind(equal_var=False), mannwhitneyu(method='exact'), levene(center='median').
  assert stats.welch_t(OURS, THEIRS)[1] == pytest.approx(0.662488111863433, rel=1e-9)
  assert stats.mann_whitney(OURS, THEIRS)[1] == pytest.approx(0.5272727272727272, rel=1e-12)
  assert stats.brown_forsythe(OURS, THEIRS)[1] == pytest.approx(0.8090074219037405, rel=1e-9)


def test_clear_differences_give_small_p_values():
  rng = np.random.default_rng(0)
  a, b = rng.normal(0, 1, 8), rng.normal(5, 1, 6)
  assert stats.welch_t(a, b)[1] < 0.001
  assert stats.mann_whitney(a, b)[1] == pytest.approx(2 / 3003)   # the most extreme split
  wide = rng.normal(0, 10, 8)
  assert stats.brown_forsythe(a, wide)[1] < 0.01 and stats.welch_t(a, a + 1e-3)[1] > 0.9


def test_ties_and_constant_samples():
  # Midranks: the pooled permutation distribution is symmetric, so equal samples give p = 1.
  assert stats.mann_whitney([1, 2, 2], [1, 2, 2])[1] == 1.0
  # A tie across samples: midranks 4.5, 4.5; U = 0.5 of centre 14. As extreme: the two
  # splits giving x ranks 1, 2, 3 and either 4.5, and x = the top four ranks: 3 of 330.
  assert stats.mann_whitney([1, 2, 3, 4.5], [4.5, 6, 7, 8, 9, 10, 11]) == (0.5,
                                                                          pytest.approx(3 / 330))
  assert np.isnan(stats.welch_t([1, 1], [1, 1])[1])
  assert np.isnan(stats.brown_forsythe([1, 1], [2, 2])[1])
  assert set(stats.compare(OURS, THEIRS)) == {'welch_p', 'rank_p', 'spread_p'}


def test_prediction_interval_is_mean_plus_t_sd_sqrt_1_plus_1_over_n():
  # n = 4, mean 2.5, sd sqrt(5/3); t(0.995, 3 df) = 5.8409 (tables); Bonferroni over 2
  # comparisons: t(0.9975, 3) = 7.4533.
  low, high = stats.prediction_interval([1.0, 2.0, 3.0, 4.0], alpha=0.01)
  half = 5.8409 * np.sqrt(5 / 3) * np.sqrt(1.25)
  np.testing.assert_allclose([low, high], [2.5 - half, 2.5 + half], rtol=1e-4)
  low2, high2 = stats.prediction_interval([1.0, 2.0, 3.0, 4.0], alpha=0.01, comparisons=2)
  np.testing.assert_allclose(high2 - 2.5, 7.4533 * np.sqrt(5 / 3) * np.sqrt(1.25), rtol=1e-4)
