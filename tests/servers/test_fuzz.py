"""Generated hostile input at every route and every JSON API field: the server's contract holds.

The contract: never a 5xx, never a traceback; an error is a 4xx whose body names the problem in one
line (``{"error", "status"}`` for JSON requests, a short escaped page for HTML). The examples per
test come from the Hypothesis profile (``ci``: bounded for CI; ``HYPOTHESIS_PROFILE=long`` for a long
run, registered in ``tests/servers/conftest.py``).
"""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from servers.webshop.app import create_app
from servers.webshop.web import TOKEN_HEADER

SID, TOKEN = "fuzzed", "fuzz-token"
fixture_ok = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(scope="module")
def client(synthetic_shop):
    return create_app(synthetic_shop).test_client()


def fresh_session(client) -> str:
    """Our session, new for every example (a fuzzed request may have bought, closed it, or let the HTML
    site recreate the id without an owner)."""
    client.delete(f"/api/sessions/{SID}", headers={TOKEN_HEADER: TOKEN})
    resp = client.post("/api/sessions", json={"session_id": SID, "goal": 0}, headers={TOKEN_HEADER: TOKEN})
    assert resp.status_code == 201, resp.get_data()[:200]
    return SID


# ---------------------------------------------------------------------- strategies
# every character class, lone surrogates included
any_char = st.characters(codec=None, categories=["L", "M", "N", "P", "S", "Z", "C"])
text = st.text(any_char, max_size=80)


def _nested(depth: int, kind: str) -> str:
    opening, closing = {"list": ("[", "]"), "dict": ('{"a": ', "}"), "tuple": ("(", ")"), "py": ("{'a': ", "}")}[kind]
    return opening * depth + closing * depth


nested = st.builds(_nested, st.integers(1, 3000), st.sampled_from(["list", "dict", "tuple", "py"]))
json_scalar = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(-(2**200), 2**200),
                        st.floats(allow_nan=True, allow_infinity=True), text)
json_value = st.recursive(json_scalar, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
                          max_leaves=12)
literal = json_value.map(repr) | json_value.map(lambda v: json.dumps(v, allow_nan=True))
segment_text = st.one_of(text, nested, literal, st.just(""), st.sampled_from([".", "..", "...", "\n", "%", "%00", "[]", "{}"]),
                         st.integers(-(2**70), 2**70).map(str), st.text("9", min_size=4000, max_size=6000))


def _encode(value: str | bytes) -> str:
    raw = value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")
    return quote(raw, safe="")


segment = st.one_of(segment_text.map(_encode), st.binary(max_size=60).map(_encode))
accept = st.sampled_from(["application/json", "text/html", "*/*", "", "text/html;q=0.1, application/json;q=0.9",
                          "garbage/;;;q=x"])
method = st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"])


def assert_contract(resp, wants_json: bool | None = None) -> None:
    """No 5xx, no traceback; errors are one line naming the problem."""
    body = resp.get_data()
    assert resp.status_code < 500, body[:300]
    assert b"Traceback" not in body and b'File "' not in body
    if resp.status_code < 400 or resp.request.method == "HEAD":  # HEAD: status and headers only
        return
    if resp.mimetype == "application/json":
        data = json.loads(body)
        assert data["status"] == resp.status_code and isinstance(data["error"], str)
        assert data["error"] and "\n" not in data["error"]
    else:
        assert resp.mimetype == "text/html", resp.mimetype
        assert body.count(b"<p>") == 1 and b"<script" not in body.lower()
    if wants_json:
        assert resp.mimetype == "application/json"


# ---------------------------------------------------------------------- routes
ROUTES = [
    "/{sid}",
    "/search_results/{sid}/{kw}/{page}",
    "/item_page/{sid}/{asin}/{kw}/{page}/{opts}",
    "/item_sub_page/{sid}/{asin}/{kw}/{page}/{sub}/{opts}",
    "/done/{sid}/{asin}/{opts}",
    "/api/sessions/{sid}",
    "/api/sessions/{sid}/step",
    "/api/sessions/{sid}/goal",
    "/api/goals/{page}",
]
VALID = {"sid": SID, "asin": "SY00000000", "kw": quote("['shirt']"), "page": "1", "sub": "Features", "opts": "%7B%7D"}


@fixture_ok
@given(route=st.sampled_from(ROUTES), bad=st.sets(st.sampled_from(sorted(VALID)), min_size=1),
       values=st.lists(segment, min_size=6, max_size=6), method=method, accept=accept)
def test_every_route_with_bad_segments(client, route, bad, values, method, accept) -> None:
    fresh_session(client)
    filled = {name: (values[i] if name in bad else VALID[name]) for i, name in enumerate(sorted(VALID))}
    path = route.format(**filled)
    resp = client.open(path, method=method, headers={"Accept": accept, TOKEN_HEADER: TOKEN})
    assert_contract(resp, wants_json=path.startswith("/api/") and resp.status_code >= 400)


@fixture_ok
# (a leading "//" would make the test client read a host name)
@given(path=st.lists(segment, min_size=1, max_size=7).map(lambda parts: "/x" + "/".join(parts)), method=method,
       accept=accept, query=st.dictionaries(st.text(max_size=8), st.text(max_size=20), max_size=3))
def test_arbitrary_paths(client, path, method, accept, query) -> None:
    assert_contract(client.open(path, method=method, headers={"Accept": accept}, query_string=query))


# ---------------------------------------------------------------------- JSON API fields
START_FIELDS = ["session_id", "goal", "seed", "reset"]
STEP_FIELDS = ["action", "step"]
field_values = st.one_of(json_value, st.integers(-(2**80), 2**80), text)
nested_json = st.builds(_nested, st.integers(1, 3000), st.sampled_from(["list", "dict"]))


def _body(fields: list[str]):
    known = st.dictionaries(st.sampled_from(fields), field_values, max_size=len(fields))
    extra = st.dictionaries(text, json_value, max_size=2)
    as_json = st.tuples(known, extra).map(lambda kv: json.dumps({**kv[0], **kv[1]}, allow_nan=True).encode())
    deep_field = st.tuples(st.sampled_from(fields), nested_json).map(lambda fv: f'{{"{fv[0]}": {fv[1]}}}'.encode())
    huge_int = st.tuples(st.sampled_from(fields), st.integers(4000, 6000)).map(
        lambda fn: f'{{"{fn[0]}": {"7" * fn[1]}}}'.encode())
    raw = st.one_of(st.binary(max_size=200), nested.map(str.encode), json_value.map(lambda v: json.dumps(v).encode()),
                    deep_field, huge_int,
                    text.map(lambda t: json.dumps(t).encode()), st.just(b'{"action": "\\ud800"}'))
    return st.one_of(as_json, raw)


token_header = st.one_of(st.none(), st.just(TOKEN), st.text(st.characters(min_codepoint=32, max_codepoint=255), max_size=300))


@fixture_ok
@given(body=_body(START_FIELDS), token=token_header, content_type=st.sampled_from(["application/json", "text/plain", ""]))
def test_session_start_fields(client, body, token, content_type) -> None:
    fresh_session(client)
    headers = {} if token is None else {TOKEN_HEADER: token}
    resp = client.post("/api/sessions", data=body, content_type=content_type, headers=headers)
    assert_contract(resp, wants_json=True)
    if resp.status_code == 201:
        data = json.loads(resp.get_data())
        assert data["page"] == "search" and data["session_token"]


@fixture_ok
@given(body=_body(STEP_FIELDS), token=token_header)
def test_step_fields(client, body, token) -> None:
    session = fresh_session(client)
    headers = {} if token is None else {TOKEN_HEADER: token}
    resp = client.post(f"/api/sessions/{session}/step", data=body, content_type="application/json", headers=headers)
    assert_contract(resp, wants_json=True)
    data = json.loads(resp.get_data())
    if resp.status_code == 400:
        assert data["valid"] is False  # a refused step says so where clients look
    if resp.status_code == 200:
        assert isinstance(data["valid"], bool) and data["step"] >= 1


@fixture_ok
@given(action=st.one_of(text, text.map(lambda t: f"search[{t}]"), text.map(lambda t: f"click[{t}]"),
                        nested.map(lambda s: f"search[{s}]")), number=st.one_of(st.none(), st.integers(-5, 5)))
def test_step_actions(client, action, number) -> None:
    session = fresh_session(client)
    body = {"action": action} if number is None else {"action": action, "step": number}
    resp = client.post(f"/api/sessions/{session}/step", data=json.dumps(body), content_type="application/json",
                       headers={TOKEN_HEADER: TOKEN})
    assert_contract(resp, wants_json=True)
    status = resp.status_code
    if number is not None and number not in (1,):
        assert status in (400, 409), (number, status)  # out of order (or not a step number at all)


@fixture_ok
@given(query=segment_text, accept=accept)
def test_search_form(client, query, accept) -> None:
    session = fresh_session(client)
    resp = client.post(f"/{session}", data={"search_query": query.encode("utf-8", "surrogatepass")},
                       headers={"Accept": accept})
    assert_contract(resp)


# ---------------------------------------------------------------------- raw HTTP at the real server
@fixture_ok
@given(head=st.binary(max_size=300), line=st.sampled_from([b"GET / HTTP/1.1\r\n", b"POST /api/sessions HTTP/1.1\r\n",
                                                          b"GET /api/sessions/x/step HTTP/1.0\r\n", b""]))
def test_garbage_on_the_wire_gets_a_4xx_or_a_close(live_server, head, line) -> None:
    """Bytes that are not HTTP, or a request line followed by garbage: an error status or a closed
    connection, and the server keeps answering."""
    import socket

    with socket.create_connection(("127.0.0.1", live_server.port), timeout=10) as sock:
        sock.sendall(line + head + b"\r\n\r\n")
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    if answer:
        status = int(answer.split(b" ", 2)[1])
        assert status < 500 and b"Traceback" not in answer, answer[:300]
