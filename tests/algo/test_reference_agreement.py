"""The vectorised estimators agree with the plain-loop reference on random batches (to 1e-9)."""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from hgpo_algo import compute_advantages
from hgpo_algo.synthetic import synthetic_rollouts
from tests.algo import reference as ref

TOL = 1e-9


@st.composite
def batches(draw):
    """Random groups of random trajectories over a small key alphabet, shuffled, with invalid steps."""
    n_groups = draw(st.integers(1, 4))
    alphabet = draw(st.sampled_from(["AB", "ABC", "ABCDE"]))
    reward_values = draw(st.sampled_from([(0.0, 1.0), (0.0, 10.0), (0.0, 0.5, 1.0, -1.0)]))
    records = []
    for g in range(n_groups):
        for k in range(draw(st.integers(1, 5))):
            length = draw(st.integers(1, 7))
            for t in range(length):
                records.append(
                    {
                        "group_id": f"g{g}",
                        "traj_id": f"g{g}t{k}",
                        "step": t,
                        "state_key": draw(st.sampled_from(alphabet)),
                        "reward": draw(st.sampled_from(reward_values)),
                        "invalid": draw(st.booleans()),
                    }
                )
    random.Random(draw(st.integers(0, 2**16))).shuffle(records)
    return records


MODES = st.sampled_from(["mean_std_norm", "mean_norm"])
STATS = st.sampled_from(["cross_steps", "per_trajectory"])


def assert_agree(records, estimator, **options):
    got = compute_advantages(records, estimator, **options).advantages
    want = {"grpo": ref.grpo, "gigpo": ref.gigpo, "hgpo": ref.hgpo}[estimator](records, **options)
    np.testing.assert_allclose(got, want, rtol=0, atol=TOL)


@given(batches(), MODES, STATS)
def test_grpo_agrees(records, mode, stats):
    assert_agree(records, "grpo", mode=mode, episode_stats=stats)


@given(batches(), MODES, STATS, st.sampled_from([0.0, 1.0, 0.5]))
def test_gigpo_agrees(records, mode, stats, omega):
    assert_agree(records, "gigpo", mode=mode, episode_stats=stats, omega=omega)


@given(
    batches(),
    st.integers(0, 4),
    st.sampled_from([0.0, 1.0, 2.0]),
    st.sampled_from([1, 2]),
    MODES,
    st.booleans(),
    STATS,
)
def test_hgpo_agrees(records, K, alpha, offset, mode, base_group, stats):
    assert_agree(
        records, "hgpo", K=K, alpha=alpha, weight_offset=offset, mode=mode, base_group=base_group, episode_stats=stats
    )


@given(batches(), st.sampled_from([0.0, 0.9, 0.95, 1.0]), st.sampled_from([0.0, 0.1, 0.5]))
def test_returns_agree(records, gamma, lam):
    got = compute_advantages(records, "grpo", gamma=gamma, invalid_penalty=lam).returns
    np.testing.assert_allclose(got, ref.returns(records, gamma, lam), rtol=0, atol=TOL)


@given(batches())
def test_input_order_does_not_matter(records):
    """Advantages follow their records through any permutation of the input."""
    base = compute_advantages(records, "hgpo").advantages
    perm = np.random.default_rng(len(records)).permutation(len(records))
    shuffled = compute_advantages([records[i] for i in perm], "hgpo").advantages
    np.testing.assert_allclose(shuffled, base[perm], rtol=0, atol=TOL)


@given(batches())
def test_groups_are_scoped(records):
    """Adding a copy of the batch under other group ids leaves every original advantage unchanged."""
    base = compute_advantages(records, "hgpo").advantages
    copy = [dict(r, group_id="copy-" + r["group_id"], traj_id="copy-" + r["traj_id"]) for r in records]
    both = compute_advantages(records + copy, "hgpo").advantages
    np.testing.assert_allclose(both[: len(records)], base, rtol=0, atol=TOL)
    np.testing.assert_allclose(both[len(records) :], base, rtol=0, atol=TOL)


@given(batches())
def test_hgpo_K0_is_gigpo_step_term_with_population_std(records):
    """Spec consequence: K=0 HGPO equals GiGPO's step term (population std), no episode term."""
    got = compute_advantages(records, "hgpo", K=0).advantages
    ghat = ref.returns(records)
    pools = {}
    for i, r in enumerate(records):
        pools.setdefault((r["group_id"], r["state_key"]), []).append(i)
    want = []
    for i, r in enumerate(records):
        idx = pools[(r["group_id"], r["state_key"])]
        xs = [ghat[k] for k in idx]
        a = 0.0 if len(idx) < 2 else ref._normalize(ghat[i], xs, "mean_std_norm", ddof=0)
        want.append(a * 2 / (2 + ref.EPS) if a != 0.0 else 0.0)
    np.testing.assert_allclose(got, want, rtol=0, atol=TOL)


def test_large_alpha_approaches_deepest_level():
    records = ref_records = synthetic_records(seed=3)
    result = compute_advantages(records, "hgpo", K=3, alpha=60.0, diagnostics=True)
    levels = result.diagnostics["level_advantages"]
    deepest = np.full(len(ref_records), np.nan)
    for j in range(4):
        has = ~np.isnan(levels[:, j]) & (levels[:, j] != 0.0)
        deepest[has] = levels[has, j]
    ok = ~np.isnan(deepest)
    np.testing.assert_allclose(result.advantages[ok], deepest[ok], rtol=1e-6, atol=1e-6)


def synthetic_records(seed: int) -> list[dict]:
    cols = synthetic_rollouts(6, 5, max_steps=12, n_states=6, seed=seed)
    return pa.table(cols).to_pylist()


def test_synthetic_rollouts_agree_with_reference():
    records = synthetic_records(seed=11)
    for K in (0, 2, 4):
        assert_agree(records, "hgpo", K=K)
    assert_agree(records, "gigpo")
    assert_agree(records, "grpo", episode_stats="per_trajectory")


def test_input_kinds_agree():
    """List of dicts, StepRecord objects, a mapping of columns, a DataFrame and an Arrow table agree."""
    import pandas as pd

    from hgpo_algo import StepRecord

    cols = synthetic_rollouts(3, 4, max_steps=10, n_states=5, seed=5)
    table = pa.table(cols)
    rows = table.to_pylist()
    objects = [
        StepRecord(r["group_id"], r["traj_id"], r["step"], r["state_key"], r["reward"], r["invalid"]) for r in rows
    ]
    base = compute_advantages(rows, "hgpo").advantages
    for kind in (table, cols, pd.DataFrame(cols), objects):
        np.testing.assert_array_equal(compute_advantages(kind, "hgpo").advantages, base)
