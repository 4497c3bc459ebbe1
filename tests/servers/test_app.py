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
    assert data["page"] == "search" and data["has_search_bar"]
    step = _json(client.post("/api/sessions/api1/step", json={"action": f"search[{data['goal']['instruction_text']}]"}))
    assert step["valid"] and step["page"] == "results"
    noop = _json(client.post("/api/sessions/api1/step", json={"action": "click[no such thing]"}))
    assert noop["valid"] is False and noop["page"] == "results" and noop["reward"] == 0.0
    step = _json(client.post("/api/sessions/api1/step", json={"action": f"click[{step['clickables'][2]}]"}))
    assert step["page"] == "item"
    done = _json(client.post("/api/sessions/api1/step", json={"action": "click[buy now]"}))
    assert done["done"] and 0.0 <= done["reward"] <= 1.0 and "r_type" in done["reward_info"]
    assert _json(client.get("/api/sessions/api1"))["page"] == "done"
    assert _json(client.get("/api/sessions/api1/goal"))["index"] == 5
    seeded = [_json(client.post("/api/sessions", json={"seed": 7}))["goal_index"] for _ in range(2)]
    assert seeded[0] == seeded[1]
    assert client.delete("/api/sessions/api1").status_code == 204
    assert client.get("/api/sessions/api1").status_code == 404


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
    client.post("/api/sessions", json={"session_id": "body1"})
    for payload in ([1], "x", {"action": 3}, {"nope": 1}):
        assert client.post("/api/sessions/body1/step", json=payload).status_code == 400
    assert client.post("/api/sessions/body1/step", data=b"{not json", content_type="application/json").status_code == 400
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
    client.post("/api/sessions", json={"session_id": "fuzz"})
    for resp in (
        client.get("/search_results/fuzz/" + quote(text, safe="") + "/1"),
        client.get("/item_page/fuzz/" + quote(text, safe="") + "/a/1/%7B%7D"),
        client.get("/done/fuzz/SY00000000/" + quote(text, safe="")),
        client.post("/api/sessions/fuzz/step", json={"action": text}),
        client.post("/api/sessions/fuzz/step", json={"action": f"click[{text}]"}),
    ):
        assert resp.status_code < 500, resp.data[:300]
