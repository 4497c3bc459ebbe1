"""Engine semantics (upstream text-env actions) and session lifecycle."""

from __future__ import annotations

import time

import pytest

from servers.webshop.sessions import Session, SessionStore, StoreFull, UnknownSession
from servers.webshop.shop import Conflict, Forbidden, NotFound
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
    page, ok, _ = shop.step(s, f"search[{goal.instruction_text}]")
    assert ok and page.kind == "results" and "Page 1 (Total results:" in page.text()
    page, ok, _ = shop.step(s, f"click[{page.clickables()[2]}]")  # first product (after back / next)
    assert ok and page.kind == "item"
    # go to the goal product directly through a search on its title, then choose options and buy
    product = shop.catalog.product(shop.catalog.index_of(goal.asin))
    page, _, _ = shop.step(s, f"search[{product['Title']}]")
    assert goal.asin.lower() in page.clickables()
    page, ok, _ = shop.step(s, f"click[{goal.asin.lower()}]")
    assert ok and page.kind == "item" and goal.asin in s.visited
    for name, value in goal.goal_options.items():
        page, ok, _ = shop.step(s, f"click[{value}]")
        assert ok and s.options[name] == value
    page, ok, _ = shop.step(s, "click[features]")
    assert ok and page.kind == "item_sub"
    page, ok, _ = shop.step(s, "click[< prev]")
    assert ok and page.kind == "item" and s.options == dict(goal.goal_options)
    page, ok, _ = shop.step(s, "click[buy now]")
    assert ok and page.done and page.kind == "done" and page.reward == s.reward > 0
    assert page.clickables() == []
    # unlike upstream, a purchase ends the episode for good: later actions are refused, nothing changes
    for action in ("search[anything]", "click[buy now]"):
        with pytest.raises(Conflict, match="ended with a purchase"):
            shop.step(s, action)
    with pytest.raises(Conflict):
        shop.buy(s, goal.asin, {})
    with pytest.raises(Conflict):
        shop.visit_search(s)
    assert s.reward == page.reward and s.bought["options"] == dict(goal.goal_options)
    assert shop.buy(s, goal.asin, dict(goal.goal_options)).reward == page.reward  # a reload of the done page


def test_invalid_actions_are_noops(synthetic_shop) -> None:
    shop = synthetic_shop
    s = shop.new_session("noop", goal=0)
    shop.visit_search(s)
    for action in ["", "search[]", "Search[x]", "click[search]", "click[nothing here]", "jump[x]", "buy now", "click[]"]:
        page, ok, _ = shop.step(s, action)
        assert not ok and page.kind == "search" and page.reward == 0.0 and not page.done
    page, ok, _ = shop.step(s, "search[red] trailing text")  # text after the final ] is ignored
    assert ok and s.keywords == ["red"]
    page, ok, _ = shop.step(s, "click[NEXT >]")  # the argument is lower-cased
    assert ok and s.page == 2
    page, ok, _ = shop.step(s, "click[< prev]")
    assert ok and s.page == 1
    with pytest.raises(BadRequest):
        shop.step(s, "search[" + "x" * 3000 + "]")


def test_back_to_search_resets_but_keeps_goal(synthetic_shop) -> None:
    shop = synthetic_shop
    s = shop.new_session("back", goal=3)
    shop.visit_search(s)
    page, _, _ = shop.step(s, "search[shirt]")
    asin = page.clickables()[2]
    shop.step(s, f"click[{asin}]")
    assert s.visited
    page, ok, _ = shop.step(s, "click[back to search]")
    assert ok and page.kind == "search" and not s.visited and s.keywords is None and s.goal_index == 3


def test_item_prev_returns_to_results_and_clears_options(synthetic_shop) -> None:
    shop = synthetic_shop
    gi, goal = _with_options(shop)
    s = shop.new_session("prev", goal=gi)
    product = shop.catalog.product(shop.catalog.index_of(goal.asin))
    shop.step(s, f"search[{product['Title']}]")
    shop.step(s, f"click[{goal.asin.lower()}]")
    shop.step(s, f"click[{next(iter(goal.goal_options.values()))}]")
    page, ok, _ = shop.step(s, "click[< prev]")
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
    store = SessionStore(ttl=0.2, max_sessions=3, idle_after=0)
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


def test_a_full_store_evicts_only_idle_sessions_least_recently_used_first() -> None:
    """A flood of new ids cannot push out an episode in use: eviction takes idle sessions only."""
    store = SessionStore(ttl=60, max_sessions=3, idle_after=0.2)
    for sid in ("old", "active", "other"):
        store.add(Session(sid=sid, goal_index=0, goal={}))
    time.sleep(0.25)
    store.get("active")  # an episode still playing
    store.add(Session(sid="flood1", goal_index=0, goal={}))  # evicts the least recently used idle one
    assert "old" not in store and "active" in store and store.evicted == 1
    store.add(Session(sid="flood2", goal_index=0, goal={}))  # "other" is idle too
    assert "other" not in store and "active" in store
    for k in range(3, 10):  # now every session was used within idle_after: new ids are refused
        with pytest.raises(StoreFull, match="none has been idle"):
            store.add(Session(sid=f"flood{k}", goal_index=0, goal={}))
    assert "active" in store and len(store) == 3 and store.evicted == 2


def test_sessions_are_owned_and_restarted_only_by_their_owner(synthetic_shop) -> None:
    shop = synthetic_shop
    s = shop.start("owned1", 3, None, "secret", reset=False)
    assert s.token == "secret" and s.goal_index == 3
    for token, reset in ((None, False), ("secret", False), ("wrong", True), (None, True)):
        with pytest.raises(Conflict, match="in use"):
            shop.start("owned1", 7, None, token, reset=reset)
    assert shop.session("owned1").goal_index == 3  # nothing changed
    again = shop.start("owned1", 7, None, "secret", reset=True)
    assert again.goal_index == 7 and again.token == "secret" and shop.session("owned1") is again
    with pytest.raises(Forbidden):
        shop.owned("owned1", "wrong")
    with pytest.raises(Forbidden):
        shop.close("owned1", None)
    assert shop.owned("owned1", "secret") is again
    fresh = shop.start(None, 0, None, None, reset=False)
    assert len(fresh.token) >= 24 and len(fresh.sid) == 32  # a random id and token
    html_session = shop.session("htmlonly", create=True)  # the site's sessions have no owner
    assert html_session.token is None and shop.owned("htmlonly", None) is html_session
    with pytest.raises(Conflict):
        shop.start("htmlonly", 0, None, "mine now", reset=True)


def test_numbered_steps_are_applied_once(synthetic_shop) -> None:
    shop = synthetic_shop
    s = shop.start("numbered", 0, None, "t", reset=False)
    shop.visit_search(s)
    page1, ok, repeated = shop.step(s, "search[shirt]", 1)
    assert ok and not repeated and s.steps == 1
    page2, ok, repeated = shop.step(s, "click[next >]", 2)
    assert "Page 2 " in page2.text() and not repeated
    again, ok, repeated = shop.step(s, "click[next >]", 2)  # the answer was lost: sent again
    assert repeated and again is page2 and s.steps == 2 and "Page 2 " in shop.current_page(s).text()
    with pytest.raises(Conflict, match="another action"):
        shop.step(s, "click[< prev]", 2)
    for number in (1, 4, 99):
        with pytest.raises(Conflict, match="out of order"):
            shop.step(s, "click[next >]", number)
    page3, _, _ = shop.step(s, "click[next >]", 3)
    assert "Page 3 " in page3.text() and s.steps == 3
    shop.step(s, "click[next >]")  # unnumbered: applied as the next step
    assert s.steps == 4 and "Page 4 " in shop.current_page(s).text()


@pytest.mark.parametrize("sid", ["abc\n", ".", "..", "...", "a" * 129, "", "a/b", "é"])
def test_session_ids_match_in_full_and_are_never_only_dots(sid: str) -> None:
    from servers.webshop.urls import valid_session_id

    assert not valid_session_id(sid)
    assert valid_session_id("a.b") and valid_session_id("fixed_3") and valid_session_id(".a")
