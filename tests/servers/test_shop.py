"""Engine semantics (upstream text-env actions) and session lifecycle."""

from __future__ import annotations

import time

import pytest

from servers.webshop.sessions import Session, SessionStore, UnknownSession
from servers.webshop.shop import NotFound
from servers.webshop.urls import BadRequest


def _with_options(shop):
    """A goal whose product has options, and that product's index."""
    for i in range(len(shop.goals)):
        g = shop.goals[i]
        if g.goal_options:
            return i, g
    raise AssertionError("no goal with options")


def test_episode_by_actions(synthetic_shop) -> None:
    shop = synthetic_shop
    gi, goal = _with_options(shop)
    s = shop.new_session("ep1", goal=gi)
    page = shop.visit_search(s)
    assert page.has_search_bar and page.clickables() == ["search"]
    page, ok = shop.step(s, f"search[{goal.instruction_text}]")
    assert ok and page.kind == "results" and "Page 1 (Total results:" in page.text()
    page, ok = shop.step(s, f"click[{page.clickables()[2]}]")  # first product (after back / next)
    assert ok and page.kind == "item"
    # go to the goal product directly through a search on its title, then choose options and buy
    product = shop.catalog.product(shop.catalog.index_of(goal.asin))
    page, _ = shop.step(s, f"search[{product['Title']}]")
    assert goal.asin.lower() in page.clickables()
    page, ok = shop.step(s, f"click[{goal.asin.lower()}]")
    assert ok and page.kind == "item" and goal.asin in s.visited
    for name, value in goal.goal_options.items():
        page, ok = shop.step(s, f"click[{value}]")
        assert ok and s.options[name] == value
    page, ok = shop.step(s, "click[features]")
    assert ok and page.kind == "item_sub"
    page, ok = shop.step(s, "click[< prev]")
    assert ok and page.kind == "item" and s.options == dict(goal.goal_options)
    page, ok = shop.step(s, "click[buy now]")
    assert ok and page.done and page.kind == "done" and page.reward == s.reward > 0
    assert page.clickables() == []
    # upstream: nothing is locked after buying, a new search still works
    page, ok = shop.step(s, "search[anything]")
    assert ok and page.kind == "results" and not page.done


def test_invalid_actions_are_noops(synthetic_shop) -> None:
    shop = synthetic_shop
    s = shop.new_session("noop", goal=0)
    shop.visit_search(s)
    for action in ["", "search[]", "Search[x]", "click[search]", "click[nothing here]", "jump[x]", "buy now", "click[]"]:
        page, ok = shop.step(s, action)
        assert not ok and page.kind == "search" and page.reward == 0.0 and not page.done
    page, ok = shop.step(s, "search[red] trailing text")  # text after the final ] is ignored
    assert ok and s.keywords == ["red"]
    page, ok = shop.step(s, "click[NEXT >]")  # the argument is lower-cased
    assert ok and s.page == 2
    page, ok = shop.step(s, "click[< prev]")
    assert ok and s.page == 1
    with pytest.raises(BadRequest):
        shop.step(s, "search[" + "x" * 3000 + "]")


def test_back_to_search_resets_but_keeps_goal(synthetic_shop) -> None:
    shop = synthetic_shop
    s = shop.new_session("back", goal=3)
    shop.visit_search(s)
    page, _ = shop.step(s, "search[shirt]")
    asin = page.clickables()[2]
    shop.step(s, f"click[{asin}]")
    assert s.visited
    page, ok = shop.step(s, "click[back to search]")
    assert ok and page.kind == "search" and not s.visited and s.keywords is None and s.goal_index == 3


def test_item_prev_returns_to_results_and_clears_options(synthetic_shop) -> None:
    shop = synthetic_shop
    gi, goal = _with_options(shop)
    s = shop.new_session("prev", goal=gi)
    product = shop.catalog.product(shop.catalog.index_of(goal.asin))
    shop.step(s, f"search[{product['Title']}]")
    shop.step(s, f"click[{goal.asin.lower()}]")
    shop.step(s, f"click[{next(iter(goal.goal_options.values()))}]")
    page, ok = shop.step(s, "click[< prev]")
    assert ok and page.kind == "results" and s.options == {} and s.asin is None


def test_special_keyword_searches(synthetic_shop) -> None:
    shop = synthetic_shop
    assert len(shop.search(["<r>"])) == 50
    cat = shop.catalog.product(0)["category"]
    hits = shop.search(["<c>", cat])
    assert hits and all(shop.catalog.product(i)["category"] == cat for i in hits)
    q = shop.catalog.product(0)["query"]
    assert 0 in shop.search(["<q>", *q.split(" ")])
    attr = shop.catalog.product(0)["Attributes"][0]
    assert 0 in shop.search(["<a>", *attr.split(" ")])


def test_fixed_session_ids_and_errors(synthetic_shop) -> None:
    shop = synthetic_shop
    assert shop.session("fixed_12", create=True).goal_index == 12
    with pytest.raises(BadRequest):
        shop.session("fixed_x", create=True)
    with pytest.raises(NotFound):
        shop.session("fixed_999999", create=True)
    with pytest.raises(NotFound):
        shop.session("never-made")
    s = shop.new_session("opts", goal=0)
    with pytest.raises(NotFound):
        shop.visit_item(s, "NOPE", ["a"], 1, {})
    with pytest.raises(BadRequest):
        shop.visit_item(s, shop.catalog.asins[0], ["a"], 1, {"not an option": "x"})
    with pytest.raises(BadRequest):
        shop.visit_sub(s, shop.catalog.asins[0], ["a"], 1, "Attributes", {})
    shop.close("opts")
    with pytest.raises(NotFound):
        shop.close("opts")


def test_seeded_sessions_are_reproducible(synthetic_shop) -> None:
    a = synthetic_shop.new_session("seed-a", seed=42)
    b = synthetic_shop.new_session("seed-b", seed=42)
    assert a.goal_index == b.goal_index


def test_session_store_expiry_eviction_close() -> None:
    store = SessionStore(ttl=0.2, max_sessions=3)
    for i in range(5):
        store.add(Session(sid=f"s{i}", goal_index=0, goal={}))
    assert len(store) == 3 and "s0" not in store and store.evicted == 2
    store.get("s2")
    time.sleep(0.25)
    with pytest.raises(UnknownSession):
        store.get("s3")
    store.add(Session(sid="new", goal_index=0, goal={}))  # sweeps the idle ones
    assert len(store) == 1 and store.expired >= 2
    assert store.close("new") and not store.close("new")
    with pytest.raises(ValueError):
        SessionStore(ttl=0)
