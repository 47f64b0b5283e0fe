"""Training against the original's recorded runs: the first Adam steps (default), and one
perturbed 200-step run inside the distribution of the original's runs (slow), which the
injected bugs must fail."""

import pytest

import parity_protocol as parity


def test_first_training_steps_match_the_original(reference_dir, tfds_dir):
  """Steps 1-3 of the deterministic parity run: the Adam update is the original's.

  Step 2's bpd is the first to see an update, and it is sensitive to the rule: a 1%
  larger learning rate moves it by 5e-3, Adam epsilon 1e-8 instead of 1e-6 by 2e-3,
  beta2 0.999 by 7e-4 (measured), so 1e-4 there pins the update down; the auxiliary
  head's bpd (13.2 at step 2) moves by 6e-3 to 4e-2 under the same changes. From step
  3 on, float rounding differences start to grow (the original's own 1e-6-perturbed
  run differs by up to 0.011 within 5 steps); the issue's tolerance there is 1e-3.
  """
  ref, _, _, step = parity.protocol(str(reference_dir), str(tfds_dir))
  for k, tolerance in ((1, 1e-4), (2, 1e-4), (3, 1e-3)):
    bpd, aux = step(k)
    expected = ref['steps'][k - 1]
    assert float(bpd) == pytest.approx(expected['bpd'], abs=tolerance), k
    assert float(aux) == pytest.approx(expected['bpd_embedding'], rel=1e-4), k


@pytest.mark.slow   # a second trainer; the check above is the default one
def test_first_training_steps_check_can_fail(reference_dir, tfds_dir):
  """A learning rate 1% off is far outside the step-2 tolerance above."""
  ref, _, _, step = parity.protocol(str(reference_dir), str(tfds_dir),
                                    ['train.learning_rate=0.00101'])
  step(1)
  assert abs(float(step(2)[0]) - ref['steps'][1]['bpd']) > 1e-3


# name -> (config overrides, expected to pass)
PARITY_VARIANTS = {
    'ours': ((), True),
    'bug: EMA decay 0.9995': (('train.polyak_decay=0.9995',), False),
    'bug: Adam epsilon 1e-8': (('train.adam_epsilon=1e-8',), False),
    'bug: learning rate 1e-3 * 1.1': (('train.learning_rate=0.0011',), False),
}


@pytest.mark.slow
@pytest.mark.parametrize('variant', list(PARITY_VARIANTS))
def test_training_parity_inside_the_originals_ensemble(reference_dir, tfds_dir, variant):
  """One perturbed run of the protocol against the distribution of the original's runs.

  Passes when every quantity (raw and EMA test bpd at steps 50, 100, 200; train bpd
  at steps 2 and 3; mean train bpd over steps 1-50, 51-100, 101-200) lies inside the
  prediction interval of the original's runs (parity.outside_band: a correct run
  fails with probability <= 1%). Replaces the deterministic step-200 test: training
  is chaotic, so one run cannot be pinned to one run of the original (BUILD.md,
  "Training parity"). Each variant is one 200-step run; the bugs must fail it.
  """
  overrides, should_pass = PARITY_VARIANTS[variant]
  theirs = parity.ensemble(str(reference_dir))   # main.py's EMA order, as our default
  # A run already outside the band stops there: a bug fails in seconds, not minutes.
  record = parity.run(str(reference_dir), str(tfds_dir), perturb_seed=7, overrides=overrides,
                      stop=lambda r: bool(parity.outside_band(r, theirs)))
  failures = parity.outside_band(record, theirs)
  print(f'{variant}: ' + ('inside the band everywhere' if not failures else '; '.join(
      f'{q} {v:.4f} outside [{lo:.4f}, {hi:.4f}]' for q, v, lo, hi in failures)))
  assert (not failures) == should_pass, failures
