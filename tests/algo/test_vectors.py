"""Every test vector of the advantage spec, for the vectorised estimators and the loop reference."""

from __future__ import annotations

import numpy as np
import pytest

from hgpo_algo import compute_advantages
from tests.algo import reference as ref
from tests.algo.vectors import TV1, TV1_RECORDS, TV2, TV3, TV3_RECORDS, TV4, TV4_RECORDS

STD_TOL = 1e-5
MEAN_TOL = 1e-4

CASES = [
    # (name, records, estimator, options, expected, tolerance)
    ("tv1-grpo-cross", TV1_RECORDS, "grpo", {}, TV1["grpo_cross_steps"], STD_TOL),
    ("tv1-grpo-per-traj", TV1_RECORDS, "grpo", {"episode_stats": "per_trajectory"}, TV1["grpo_per_trajectory"], STD_TOL),
    ("tv1-gigpo", TV1_RECORDS, "gigpo", {}, TV1["gigpo"], STD_TOL),
    ("tv1-hgpo-offset2", TV1_RECORDS, "hgpo", {}, TV1["hgpo_offset2"], STD_TOL),
    ("tv1-hgpo-offset1", TV1_RECORDS, "hgpo", {"weight_offset": 1}, TV1["hgpo_offset1"], STD_TOL),
    ("tv1-hgpo-K0", TV1_RECORDS, "hgpo", {"K": 0}, TV1["hgpo_K0"], STD_TOL),
    ("tv1-hgpo-K1", TV1_RECORDS, "hgpo", {"K": 1}, TV1["hgpo_K1"], STD_TOL),
    ("tv1-hgpo-alpha0", TV1_RECORDS, "hgpo", {"alpha": 0.0}, TV1["hgpo_K2_alpha0"], STD_TOL),
    ("tv2-grpo", TV1_RECORDS, "grpo", {"mode": "mean_norm"}, TV2["grpo_cross_steps"], MEAN_TOL),
    ("tv2-gigpo", TV1_RECORDS, "gigpo", {"mode": "mean_norm"}, TV2["gigpo"], MEAN_TOL),
    ("tv2-hgpo", TV1_RECORDS, "hgpo", {"mode": "mean_norm"}, TV2["hgpo_offset2"], MEAN_TOL),
    ("tv3-grpo", TV3_RECORDS, "grpo", {}, TV3["grpo_cross_steps"], STD_TOL),
    ("tv3-gigpo", TV3_RECORDS, "gigpo", {}, TV3["gigpo"], STD_TOL),
    ("tv3-hgpo", TV3_RECORDS, "hgpo", {}, TV3["hgpo"], STD_TOL),
    ("tv3-hgpo-base-group", TV3_RECORDS, "hgpo", {"base_group": True}, TV3["hgpo_base_group"], STD_TOL),
    ("tv4-hgpo", TV4_RECORDS, "hgpo", {}, TV4["hgpo"], STD_TOL),
    ("tv4-gigpo", TV4_RECORDS, "gigpo", {}, TV4["gigpo"], STD_TOL),
]

REFERENCE = {"grpo": ref.grpo, "gigpo": ref.gigpo, "hgpo": ref.hgpo}


@pytest.mark.parametrize(("name", "records", "estimator", "options", "expected", "tol"), CASES, ids=[c[0] for c in CASES])
def test_vectorised_matches_spec(name, records, estimator, options, expected, tol):
    result = compute_advantages(records, estimator, **options)
    assert result.advantages.dtype == np.float64
    np.testing.assert_allclose(result.advantages, expected, rtol=0, atol=tol)


@pytest.mark.parametrize(("name", "records", "estimator", "options", "expected", "tol"), CASES, ids=[c[0] for c in CASES])
def test_reference_matches_spec(name, records, estimator, options, expected, tol):
    np.testing.assert_allclose(REFERENCE[estimator](records, **options), expected, rtol=0, atol=tol)


def test_returns_match_spec():
    result = compute_advantages(TV1_RECORDS, "grpo")
    np.testing.assert_allclose(result.returns, TV1["ghat"], rtol=0, atol=STD_TOL)
    np.testing.assert_allclose(ref.returns(TV1_RECORDS), TV1["ghat"], rtol=0, atol=STD_TOL)


def test_gigpo_step_term_matches_spec():
    result = compute_advantages(TV1_RECORDS, "gigpo", diagnostics=True)
    np.testing.assert_allclose(result.diagnostics["step_advantage"], TV1["gigpo_step"], rtol=0, atol=STD_TOL)


def test_worked_example_row_t2_s3():
    """The spec's worked row: level 0 gives +1, level 1 gives +0.70711, level 2 is a singleton."""
    result = compute_advantages(TV1_RECORDS, "hgpo", diagnostics=True)
    row = 11  # t2 s3, key C, window X,B,C
    levels = result.diagnostics["level_advantages"][row]
    np.testing.assert_allclose(levels[:2], [1.0, 0.70711], atol=1e-5)
    assert np.isnan(levels[2])
    assert result.diagnostics["level_group_sizes"][row].tolist() == [4, 3, 1]
    assert result.advantages[row] == pytest.approx((2 * levels[0] + 3 * levels[1]) / (5 + 1e-6), abs=1e-12)


def test_float64_guard_gives_exact_zeros():
    """Six identical successes: their shared states get exactly 0, not float32 noise."""
    result = compute_advantages(TV4_RECORDS, "hgpo")
    success_later_steps = result.advantages[: 6 * 4].reshape(6, 4)[:, 1:]
    assert (success_later_steps == 0.0).all()
