"""The parity harness's statistics on the original's own ensemble (no training here)."""

import copy

import pytest

import parity_protocol as parity


@pytest.fixture(scope='module')
def ensemble(reference_dir):
  """The original's runs in the default EMA order: main.py's."""
  return parity.ensemble(str(reference_dir))


def _shifted(record, quantity, delta):
  record = copy.deepcopy(record)
  kind, step = quantity.split('@')
  for row in record['eval']:
    if row['step'] == int(step):
      row[kind] += delta
  return record


def test_the_default_ensemble_is_main_pys_order(reference_dir, ensemble):
  name = parity.ENSEMBLE_JSON['before_update']
  assert parity.load_reference(str(reference_dir), name)['ema_order'] == 'mainpy'
  assert len(ensemble) >= 6
  # Its own check: every run's EMA averaged the pre-update weights, never the post-update.
  for run in ensemble:
    assert all(read['after'] == 0 and read['before'] > read['neither'] for read in run['ema_reads'])


def test_quantities_of_the_originals_runs(ensemble, reference_dir):
  full = parity.quantities(ensemble[0])
  assert list(full) == list(parity.QUANTITIES)
  assert full['raw@200'] == pytest.approx(4.2626, abs=1e-4)   # its unperturbed run
  after = parity.ensemble(str(reference_dir), 'after_update')
  assert parity.quantities(after[0])['raw@200'] == pytest.approx(4.3236, abs=1e-4)
  evals_only = [r for r in after if 'steps' not in r][0]
  assert set(parity.quantities(evals_only)) == {q for q in parity.QUANTITIES
                                                if not q.startswith('train')}


def test_band_passes_the_originals_runs_and_catches_a_shift(ensemble):
  for record in ensemble:
    assert parity.outside_band(record, ensemble) == []
  # The EMA at step 50 barely varies between runs (sd 0.004): 0.1 is far outside.
  failures = parity.outside_band(_shifted(ensemble[0], 'ema@50', 0.1), ensemble)
  assert [f[0] for f in failures] == ['ema@50']


def test_ensemble_comparison(ensemble):
  same = parity.compare_ensembles(ensemble, ensemble)
  assert [row['quantity'] for row in same] == list(parity.QUANTITIES)
  assert all(row['welch_p'] == pytest.approx(1.0) for row in same)
  moved = [_shifted(r, 'raw@100', 0.5) for r in ensemble]
  row = [r for r in parity.compare_ensembles(moved, ensemble) if r['quantity'] == 'raw@100'][0]
  assert row['welch_p'] < 1e-3 and row['ours'][0] == pytest.approx(row['theirs'][0] + 0.5)
  table = parity.format_comparison(same)
  assert table.splitlines()[0].startswith('quantity')
  assert len(table.splitlines()) == len(parity.QUANTITIES) + 1
