"""The Flask app through its test client: upstream routes, JSON view, JSON API, and every bad input."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from servers.webshop.app import create_app
from servers.webshop.urls import item_url, results_url


@pytest.fixture(scope="module")
def client(synthetic_shop):
    app = create_app(synthetic_shop)
    assert not app.debug
    return app.test_client()


def _json(resp):
    assert resp.headers["Content-Type"].startswith("application/json"), resp.data[:200]
    return json.loads(resp.data)


def test_health_and_info(client, synthetic_shop) -> None:
    assert _json(client.get("/health")) == {
        "status": "ok", "products": 600, "goals": len(synthetic_shop.goals), "sessions": len(synthetic_shop.sessions)
    }
    info = _json(client.get("/api/info"))
    assert info["products"] == 600 and info["goal_kind"] == "synthetic" and info["title_nouns"] == "heuristic-v1"
    goals = _json(client.get("/api/goals"))
    assert goals["splits"]["test"] == [0, 500]
    assert _json(client.get("/api/goals/0"))["index"] == 0


def test_html_flow_like_upstream(client, synthetic_shop) -> None:
    resp = client.get("/")
    assert resp.status_code == 302
    sid = resp.headers["Location"].rsplit("/", 1)[-1]
    page = client.get(f"/{sid}")
    assert page.status_code == 200 and b'id="search_input"' in page.data
    resp = client.post(f"/{sid}", data={"search_query": "Cotton Shirt"})
    assert resp.status_code == 303
    assert resp.headers["Location"] == results_url(sid, ["cotton", "shirt"], 1)
    html = client.get(resp.headers["Location"]).data.decode()
    assert "Page 1 (Total results: " in html and 'class="product-link"' in html
    asin = synthetic_shop.catalog.asins[0]
    item = client.post(item_url(sid, asin, ["cotton", "shirt"], 1, {}))
    assert item.status_code == 200 and b"Buy Now" in item.data
    done = client.post(f"/done/{sid}/{asin}/{quote(repr({}))}")
    assert done.status_code == 200 and b"Your score" in done.data


def test_json_view_of_html_routes(client) -> None:
    client.get("/jsonview")
    url = results_url("jsonview", ["red"], 1)
    a = _json(client.get(url + "?format=json"))
    b = _json(client.get(url, headers={"Accept": "application/json"}))
    assert a == b and a["page"] == "results" and a["clickables"][:2] == ["back to search", "next >"]
    assert set(a["observation"]) == {"text", "text_rich"} and a["has_search_bar"] is False
    html = client.get(url, headers={"Accept": "text/html,application/json;q=0.9"})
    assert html.headers["Content-Type"].startswith("text/html")
    # text-env URL forms are accepted too: a bare keyword and JSON options
    assert client.get("/search_results/jsonview/red/1?format=json").status_code == 200


def test_json_api_episode(client, synthetic_shop) -> None:
    created = client.post("/api/sessions", json={"session_id": "api1", "goal": 5})
    assert created.status_code == 201
    data = _json(created)
    assert data["goal"]["asin"] == synthetic_shop.goals[5].asin and data["goal_index"] == 5
    assert data["page"] == "search" and data["has_search_bar"] and data["step"] == 0
    own = {"X-WebShop-Token": data["session_token"]}

    def step(action: str) -> dict:
        return _json(client.post("/api/sessions/api1/step", json={"action": action}, headers=own))

    page = step(f"search[{data['goal']['instruction_text']}]")
    assert page["valid"] and page["page"] == "results" and page["step"] == 1 and page["repeated"] is False
    noop = step("click[no such thing]")
    assert noop["valid"] is False and noop["page"] == "results" and noop["reward"] == 0.0
    assert step(f"click[{page['clickables'][2]}]")["page"] == "item"
    done = step("click[buy now]")
    assert done["done"] and 0.0 <= done["reward"] <= 1.0 and "r_type" in done["reward_info"]
    assert _json(client.get("/api/sessions/api1", headers=own))["page"] == "done"
    assert _json(client.get("/api/sessions/api1/goal", headers=own))["index"] == 5
    seeded = [_json(client.post("/api/sessions", json={"seed": 7}))["goal_index"] for _ in range(2)]
    assert seeded[0] == seeded[1]
    assert client.delete("/api/sessions/api1", headers=own).status_code == 204
    assert client.get("/api/sessions/api1", headers=own).status_code == 404


BAD = [
    ("get", "/search_results/nosuch/%5B%27a%27%5D/1", 404),
    ("get", "/search_results/bad1/%5B%27a%27%5D/0", 400),
    ("get", "/search_results/bad1/%5B%27a%27%5D/x", 400),
    ("get", "/search_results/bad1/%5B%27a%27%5D/99999", 400),
    ("get", "/search_results/bad1/%5Bboom/1", 400),
    ("get", "/search_results/bad1/%5B1%2C2%5D/1", 400),
    ("get", "/search_results/bad1/" + quote(repr(["x" * 2000])) + "/1", 400),
    ("get", "/item_page/bad1/B000000000/%5B%27a%27%5D/1/%7B%7D", 404),
    ("get", "/item_page/bad1/<script>/%5B%27a%27%5D/1/%7B%7D", 404),
    ("get", "/item_page/bad1/SY00000000/%5B%27a%27%5D/1/%7B%27size%27%3A%27huge%27%7D", 400),
    ("get", "/item_page/bad1/SY00000000/%5B%27a%27%5D/1/%5B1%5D", 400),
    ("get", "/item_sub_page/bad1/SY00000000/%5B%27a%27%5D/1/Secret/%7B%7D", 400),
    ("get", "/done/bad1/SY00000000/notadict", 400),
    ("get", "/done/bad1/SY00000000/" + quote("{'a': 1}"), 400),
    ("get", "/api/sessions/zz", 404),
    ("get", "/api/goals/999999", 404),
    ("get", "/api/goals/-1", 404),
    ("post", "/api/sessions/bad1/step", 400),
    ("get", "/..", 400),
    ("get", "/.", 400),
    ("get", "/search_results/.../%5B%27a%27%5D/1", 400),
    ("get", "/abc%0A", 400),
    ("delete", "/api/sessions/never", 404),
    ("put", "/api/sessions", 405),
    ("get", "/" + "x" * 200, 400),
    ("get", "/fixed_notanumber", 400),
]


@pytest.mark.parametrize(("method", "url", "status"), BAD)
def test_bad_inputs_get_clear_4xx(client, method: str, url: str, status: int) -> None:
    client.get("/bad1")
    resp = getattr(client, method)(url, headers={"Accept": "application/json"})
    assert resp.status_code == status
    body = _json(resp)
    assert body["status"] == status and body["error"] and "Traceback" not in body["error"]


def test_bad_json_bodies(client) -> None:
    client.post("/api/sessions", json={"session_id": "body1"}, headers={"X-WebShop-Token": "t-body1"})
    own = {"X-WebShop-Token": "t-body1"}
    for payload in ([1], "x", {"action": 3}, {"nope": 1}, {"action": "click[x]", "step": "1"}, {"action": "x", "step": 0}):
        resp = client.post("/api/sessions/body1/step", json=payload, headers=own)
        assert resp.status_code == 400 and _json(resp)["valid"] is False, payload
    bad = client.post("/api/sessions/body1/step", data=b"{not json", content_type="application/json", headers=own)
    assert bad.status_code == 400
    assert client.post("/api/sessions", json={"goal": "3"}).status_code == 400
    assert client.post("/api/sessions", json={"goal": True}).status_code == 400
    assert client.post("/api/sessions", json={"session_id": "a/b"}).status_code == 400
    assert client.post("/api/sessions", data=b"x" * 100_000, content_type="application/json").status_code == 413
    assert client.post("/body1", data={"search_query": "q" * 2000}).status_code == 400
    assert client.post("/body1", data={"search_query": "   "}).status_code == 400


def test_html_errors_are_escaped(client) -> None:
    resp = client.get("/search_results/x/%5B%3Cscript%3E/1")
    assert resp.status_code == 400 and resp.headers["Content-Type"].startswith("text/html")
    assert b"<script>" not in resp.data and b"&lt;script&gt;" in resp.data


def test_search_for_script_shows_text(client) -> None:
    client.get("/xss")
    html = client.get(results_url("xss", ["<script>alert(1)</script>"], 1)).data.decode()
    assert "<script" not in html.lower() and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(min_size=1, max_size=60))
def test_arbitrary_paths_and_actions_never_500(client, text: str) -> None:
    own = {"X-WebShop-Token": "t-fuzz"}
    client.post("/api/sessions", json={"session_id": "fuzz", "reset": True}, headers=own)
    for resp in (
        client.get("/search_results/fuzz/" + quote(text, safe="") + "/1"),
        client.get("/item_page/fuzz/" + quote(text, safe="") + "/a/1/%7B%7D"),
        client.get("/done/fuzz/SY00000000/" + quote(text, safe="")),
        client.post("/api/sessions/fuzz/step", json={"action": text}, headers=own),
        client.post("/api/sessions/fuzz/step", json={"action": f"click[{text}]"}, headers=own),
    ):
        assert resp.status_code < 500, resp.data[:300]


# ---------------------------------------------------------------------- hostile input (issue 15)
def _error_line(resp, status: int) -> str:
    assert resp.status_code == status, resp.data[:300]
    body = _json(resp)
    assert body["status"] == status and "\n" not in body["error"] and "Traceback" not in body["error"]
    return body["error"]


@pytest.mark.parametrize("depth", [100, 1000, 20_000])
def test_deeply_nested_json_bodies_are_a_400(client, depth: int) -> None:
    own = {"X-WebShop-Token": "t-nest"}
    client.post("/api/sessions", json={"session_id": "nest", "reset": True}, headers=own)
    for nested in ("[" * depth + "]" * depth, '{"action": ' + "[" * depth + "]" * depth + "}"):
        for url in ("/api/sessions", "/api/sessions/nest/step"):
            resp = client.post(url, data=nested, content_type="application/json", headers=own)
            message = _error_line(resp, 400)
            assert depth < 1000 or "nested too deeply" in message, message


@pytest.mark.parametrize("route", ["/done/opt1/SY00000000/{}", "/item_page/opt1/SY00000000/a/1/{}",
                                   "/item_sub_page/opt1/SY00000000/a/1/Features/{}"])
@pytest.mark.parametrize("segment", ["[" * 1000 + "]" * 1000, "{" * 1000 + "}" * 1000, '{"a": ' * 600 + "}" * 600,
                                     "{'a': " + "(" * 500 + ")" * 500 + "}", "{'a': " + "9" * 5000 + "}"])
def test_nested_or_huge_option_segments_are_a_400(client, route: str, segment: str) -> None:
    client.get("/opt1")
    resp = client.get(route.format(quote(segment, safe="")), headers={"Accept": "application/json"})
    _error_line(resp, 400)


def test_text_that_is_not_unicode_is_refused_everywhere(client) -> None:
    """One rule: a lone surrogate in any text (action, keywords, options, query, JSON field) is a 400."""
    own = {"X-WebShop-Token": "t-sur"}
    client.post("/api/sessions", json={"session_id": "sur", "reset": True}, headers=own)
    for action in ("search[\ud800 shoes]", "click[\udfff]", "\ud800"):
        resp = client.post("/api/sessions/sur/step", data=json.dumps({"action": action}),
                           content_type="application/json", headers=own)
        assert "lone surrogate U+D" in _error_line(resp, 400) and _json(resp)["valid"] is False
    for path in (
        "/search_results/sur/" + quote('["\\ud800"]') + "/1",
        "/search_results/sur/" + quote("['\\udc80 shoes']") + "/1",
        "/item_page/sur/SY00000000/a/1/" + quote('{"size": "\\ud800"}'),
        "/done/sur/SY00000000/" + quote("{'\\ud800': 'x'}"),
    ):
        for accept in ("application/json", "text/html"):
            resp = client.get(path, headers={"Accept": accept})
            assert resp.status_code == 400, (path, resp.data[:200])
    resp = client.post("/api/sessions", data=json.dumps({"session_id": "\ud800"}), content_type="application/json")
    _error_line(resp, 400)
    # the session was not changed by any of it
    assert _json(client.get("/api/sessions/sur", headers=own))["page"] == "search"


def test_purchases_end_the_episode_and_sessions_are_owned(client, synthetic_shop) -> None:
    mine = {"X-WebShop-Token": "mine"}
    created = client.post("/api/sessions", json={"session_id": "own1", "goal": 2}, headers=mine)
    assert created.status_code == 201 and _json(created)["session_token"] == "mine"
    # someone else cannot restart it, step it, read it or close it
    for body, headers in (({"session_id": "own1", "goal": 7}, {}), ({"session_id": "own1", "reset": True}, {}),
                          ({"session_id": "own1", "reset": True}, {"X-WebShop-Token": "theirs"}),
                          ({"session_id": "own1"}, mine)):
        assert "in use" in _error_line(client.post("/api/sessions", json=body, headers=headers), 409)
    for headers in ({}, {"X-WebShop-Token": "theirs"}):
        _error_line(client.post("/api/sessions/own1/step", json={"action": "search[x]"}, headers=headers), 403)
        _error_line(client.delete("/api/sessions/own1", headers=headers), 403)
        _error_line(client.get("/api/sessions/own1/goal", headers=headers), 403)
    assert _json(client.get("/api/sessions/own1", headers=mine))["goal_index"] == 2
    # buy, then nothing more happens in it
    goal = synthetic_shop.goals[2]
    client.post("/api/sessions/own1/step", json={"action": f"search[{goal.instruction_text}]"}, headers=mine)
    done = client.post(f"/done/own1/{goal.asin}/{quote(repr({}))}", headers={"Accept": "application/json"})
    reward = _json(done)["reward"]
    for action in ("click[buy now]", "search[other]"):
        resp = client.post("/api/sessions/own1/step", json={"action": action}, headers=mine)
        assert "ended with a purchase" in _error_line(resp, 409)
    other = synthetic_shop.catalog.asins[5]
    for path in (f"/done/own1/{other}/{quote(repr({}))}", "/search_results/own1/shoes/1", "/own1"):
        assert client.get(path, headers={"Accept": "application/json"}).status_code == 409, path
    again = client.get(f"/done/own1/{goal.asin}/{quote(repr({}))}", headers={"Accept": "application/json"})
    assert _json(again)["reward"] == reward  # a reload shows the same purchase
    assert _json(client.get("/api/sessions/own1", headers=mine))["session_reward"] == reward
    # the owner restarts it explicitly
    restarted = client.post("/api/sessions", json={"session_id": "own1", "goal": 4, "reset": True}, headers=mine)
    assert restarted.status_code == 201 and _json(restarted)["goal_index"] == 4 and not _json(restarted)["session_done"]


def test_browsing_new_ids_cannot_evict_an_active_episode(synthetic_shop) -> None:
    from servers.webshop.shop import Shop

    small = Shop(synthetic_shop.catalog, synthetic_shop.index, synthetic_shop.goals, max_sessions=4)
    c = create_app(small).test_client()
    mine = {"X-WebShop-Token": "t"}
    assert c.post("/api/sessions", json={"session_id": "episode"}, headers=mine).status_code == 201
    statuses = [c.get(f"/flood{i}").status_code for i in range(40)]  # bodiless GETs of new ids
    assert statuses[:3] == [200] * 3 and set(statuses[3:]) == {503}
    resp = c.get("/flood99", headers={"Accept": "application/json"})
    assert "maximum of 4 sessions" in _error_line(resp, 503) and resp.headers["Retry-After"]
    assert c.post("/api/sessions/episode/step", json={"action": "search[shirt]"}, headers=mine).status_code == 200


def test_html_pages_carry_security_headers(client) -> None:
    page = client.get("/headers1")
    assert page.status_code == 200
    error = client.get("/search_results/nosuch/a/1")
    for resp in (page, error):
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["X-Frame-Options"] == "DENY"
        csp = resp.headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "script-src" not in csp
    assert client.get("/health").headers["X-Content-Type-Options"] == "nosniff"


def test_numbered_steps_over_the_api(client) -> None:
    own = {"X-WebShop-Token": "t-num"}
    client.post("/api/sessions", json={"session_id": "num", "goal": 0, "reset": True}, headers=own)

    def step(action: str, n: int):
        return client.post("/api/sessions/num/step", json={"action": action, "step": n}, headers=own)

    first = _json(step("search[shirt]", 1))
    second = _json(step("click[next >]", 2))
    repeat = _json(step("click[next >]", 2))
    assert second["repeated"] is False and repeat["repeated"] is True
    assert {**repeat, "repeated": False} == second and "Page 2 " in repeat["observation"]["text"]
    assert first["step"] == 1 and second["step"] == 2
    assert "out of order" in _error_line(step("click[next >]", 5), 409)
    assert _json(client.get("/api/sessions/num", headers=own))["step"] == 2
