"""The parity benchmark modes run end to end (a few steps; printed, never pass/fail)."""

import json

import pytest

import parity_protocol as parity
import parity_runs


@pytest.mark.slow
def test_training_parity_prints_beside_the_original(reference_dir, tfds_dir):
  lines = []
  result = parity_runs.training_parity(str(reference_dir), str(tfds_dir), steps=2,
                                             perturb_seed=0, log=lines.append,
                                             test_examples=50)
  ref_steps = json.loads((reference_dir / parity.PARITY_JSON).read_text())['steps']
  # A 1e-6 perturbation moves the first losses by far less than the 1e-3 tolerance.
  assert [r['step'] for r in result['steps']] == [1, 2]
  for ours, theirs in zip(result['steps'], ref_steps):
    assert abs(ours['bpd'] - theirs['bpd']) < 1e-3
  assert [e['step'] for e in result['eval']] == [2] and result['norm_ratios'] == {}
  assert 'seed 0' in lines[0] and lines[-1].startswith('step    2 test  ours: raw ')
