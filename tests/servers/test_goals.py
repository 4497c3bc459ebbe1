"""Goals: counts, the seed-233 order, splits, seeded price ceilings."""

from __future__ import annotations

import random

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from servers.webshop.catalog import Catalog
from servers.webshop.goals import NO_CEILING, GoalSet, price_ceilings

from .conftest import DOCS, need_data


@given(st.lists(st.floats(min_value=0.0, max_value=2000.0, allow_nan=False), min_size=1, max_size=50), st.integers(0, 99))
def test_price_ceiling_rule(prices: list[float], seed: int) -> None:
    ceilings = price_ceilings(np.array(prices), np.random.default_rng(seed))
    for p, c in zip(prices, ceilings, strict=True):
        above = [v for v in range(10, 1000, 10) if v > p][:4]
        if len(above) >= 2:
            assert c in above[1:]  # the larger of two distinct picks is never the first
        else:
            assert c == NO_CEILING


def test_ceiling_distribution_matches_upstream() -> None:
    # upstream: sorted(random.sample(first_four, 2))[1] -> P(2nd)=1/6, P(3rd)=2/6, P(4th)=3/6
    c = price_ceilings(np.full(60000, 5.0), np.random.default_rng(0))
    freq = [np.mean(c == v) for v in (20.0, 30.0, 40.0)]
    assert np.allclose(freq, [1 / 6, 2 / 6, 3 / 6], atol=0.01)


def test_small_catalogue_goals(real_catalog) -> None:
    goals = GoalSet(real_catalog)
    assert len(goals) == 6910
    # expected order from the spec (seed-233 shuffle of the upstream goal list)
    assert [goals[i].asin for i in (0, 1, 2, 500)] == ["B0743JKHBV", "B09QCP4579", "B099WH1RTM", "B094Q7B3SS"]
    assert goals[0].instruction_text.startswith(
        'Find me double sided, machine washable decorative pillows with printing technology with size: 28" x 28"'
    )
    assert goals[1].goal_options == {"color": "black", "size": "3x-large"}
    assert goals[500].instruction_text.startswith("Find me") and "color: a01#black, and size: large" in goals[500].instruction_text
    assert list(goals.split("test")) == list(range(500)) and goals.split("train") == range(500, 6910)
    # reproducible: same texts and ceilings in a second build (upstream's were not)
    again = GoalSet(real_catalog)
    assert all(goals[i] == again[i] for i in range(0, 6910, 97))
    for i in range(0, 6910, 131):
        g = goals[i]
        price = real_catalog.price(real_catalog.index_of(g.asin))
        assert g.price_upper > price
        assert g.instruction_text.endswith(f", and price lower than {g.price_upper:.2f} dollars")
    # weights recomputed the plain way from the materialised goals
    counts: dict[str, int] = {}
    all_goals = [goals[i] for i in range(len(goals))]
    for g in all_goals:
        for a in g.attributes:
            counts[a] = counts.get(a, 0) + 1
    for g in all_goals[::50]:
        assert g.weight == sum(1 / counts[a] for a in g.attributes) / len(g.attributes)


def test_shuffle_is_random_seed_233() -> None:
    n = 6910
    expected = list(range(n))
    random.seed(233)
    random.shuffle(expected)
    perm = list(range(n))
    random.Random(233).shuffle(perm)
    assert perm == expected


def test_human_goals() -> None:
    need_data(DOCS)
    goals = GoalSet(Catalog.load(DOCS), human=True)
    assert len(goals) == 13
    g = goals[0]
    assert isinstance(g.goal_options, list) and g.weight == 1.0 and not g.instruction_text.startswith(".")


def test_sampling_uses_weights(synthetic_shop) -> None:
    goals = synthetic_shop.goals
    rng = random.Random(5)
    draws = [goals.sample(rng) for _ in range(4000)]
    assert 0 in draws or goals.weights[0] < 1e-3
    assert goals.sample(random.Random(9)) == goals.sample(random.Random(9))


def test_large_shuffle_orders_are_cached(tmp_path, monkeypatch) -> None:
    from servers.webshop.goals import shuffle_order

    monkeypatch.setenv("HGPO_WEBSHOP_CACHE", str(tmp_path))
    n = 150_001
    expected = list(range(n))
    random.Random(233).shuffle(expected)
    first = shuffle_order(n)
    assert (tmp_path / f"shuffle-233-{n}.npy").exists()
    assert first.tolist() == expected and shuffle_order(n).tolist() == expected
    assert shuffle_order(10).tolist() == shuffle_order(10, cache=False).tolist()
