"""The JSON API for environment clients (a Flask blueprint): service, goals, owned sessions, steps.

A session made here has an owner's token (chosen by the client in the ``X-WebShop-Token`` header, or
made by the server and returned as ``session_token``); the ``/api/sessions/<sid>`` routes need it.
Steps may carry their step number (``"step": n``): repeating the last number with the same action
answers the stored result, so a client may resend a step whose answer it lost. ``GET /api/info``
publishes the protocol's constants, which clients read instead of keeping copies.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from . import urls
from .shop import ACTION_PATTERN, MAX_ACTION_CHARS, PER_PAGE, TOP_K, NotFound
from .web import MAX_BODY_BYTES, TOKEN_HEADER, json_body, render, shop, sid_arg, token

__all__ = ["PROTOCOL", "api"]

api = Blueprint("api", __name__)

#: The protocol's constants, as ``GET /api/info`` publishes them under ``"protocol"``.
PROTOCOL = {
    "version": 2,
    "action_pattern": ACTION_PATTERN,
    "action_pattern_flags": ["DOTALL"],
    "max_action_chars": MAX_ACTION_CHARS,
    "max_query_chars": urls.MAX_KEYWORDS_CHARS,
    "max_options_chars": urls.MAX_OPTIONS_CHARS,
    "max_page": urls.MAX_PAGE,
    "max_body_bytes": MAX_BODY_BYTES,
    "session_id_pattern": urls.SESSION_ID_PATTERN,
    "token_header": TOKEN_HEADER,
    "sub_pages": list(urls.SUB_PAGES),
    "results_per_page": PER_PAGE,
    "max_results": TOP_K,
    "text": "valid Unicode only: a lone surrogate anywhere is a 400",
}
_START_FIELDS = {"session_id": "str", "goal": "int", "seed": "int", "reset": "bool"}
_STEP_FIELDS = {"action": "str", "step": "int"}


@api.get("/health")
def health() -> Response:
    s = shop()
    return jsonify({"status": "ok", "products": len(s.catalog), "goals": len(s.goals), "sessions": len(s.sessions)})


@api.get("/api/info")
def info() -> Response:
    s = shop()
    return jsonify(
        {
            "products": len(s.catalog),
            "catalog": s.catalog.source,
            "goals": len(s.goals),
            "goal_kind": "human" if s.goals.human else "synthetic",
            "title_nouns": s.nouns.source,
            "options_mode": s.options_mode,
            "show_attrs": s.show_attrs,
            "session_ttl": s.sessions.ttl,
            "session_idle_after": s.sessions.idle_after,
            "max_sessions": s.sessions.max_sessions,
            "protocol": PROTOCOL,
        }
    )


@api.get("/api/goals")
def goals() -> Response:
    n = len(shop().goals)
    test = shop().goals.split("test")
    return jsonify({"count": n, "splits": {"test": [test.start, test.stop], "train": [test.stop, n]}})


@api.get("/api/goals/<int(signed=True):i>")
def goal(i: int) -> Response:
    n = len(shop().goals)
    if not 0 <= i < n:
        raise NotFound(f"goal index {i} out of range [0, {n})")
    return jsonify({"index": i, **shop().goals[i].as_dict()})


@api.post("/api/sessions")
def start() -> Response:
    body = json_body(_START_FIELDS)
    sid = body["session_id"]
    if sid is not None:
        sid_arg(sid)
    s = shop().start(sid, body["goal"], body["seed"], token(), bool(body["reset"]))
    with s.lock:
        page = shop().visit_search(s)
        return render(page, 201, {"goal": s.goal, "session_token": s.token, "step": 0})


@api.get("/api/sessions/<sid>")
def current(sid: str) -> Response:
    s = shop().owned(sid_arg(sid), token())
    with s.lock:
        return render(shop().current_page(s), 200, {"step": s.steps})


@api.post("/api/sessions/<sid>/step")
def step(sid: str) -> Response:
    body = json_body(_STEP_FIELDS)
    if body["action"] is None:
        raise urls.BadRequest('body must be {"action": "search[...]" or "click[...]", "step"?: n}')
    s = shop().owned(sid_arg(sid), token())
    with s.lock:
        page, valid, repeated = shop().step(s, body["action"], body["step"])
        return render(page, 200, {"valid": valid, "step": s.last_step[0], "repeated": repeated})


@api.get("/api/sessions/<sid>/goal")
def session_goal(sid: str) -> Response:
    s = shop().owned(sid_arg(sid), token())
    return jsonify({"index": s.goal_index, **s.goal})


@api.delete("/api/sessions/<sid>")
def close(sid: str) -> Response:
    shop().close(sid_arg(sid), token())
    return Response(status=204)
