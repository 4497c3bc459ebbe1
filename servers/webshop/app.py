"""The WebShop web server: upstream's site and URL scheme, plus a JSON view for environment clients.

Create it with :func:`create_app` (a Flask app factory) and serve it with :mod:`servers.webshop.serve`.

HTML routes (upstream's scheme; GET or POST)
--------------------------------------------
``/``                                               redirect to a new session's search page
``/<sid>``                                          search page; a new ``sid`` starts a session
                                                    (``fixed_<n>`` gets goal n, others a goal drawn
                                                    by weight); POST ``search_query`` redirects to
``/search_results/<sid>/<keywords>/<page>``         results, 10 per page from the top 50
``/item_page/<sid>/<asin>/<keywords>/<page>/<options>``                 item page
``/item_sub_page/<sid>/<asin>/<keywords>/<page>/<sub_page>/<options>``  Description, Features,
                                                                         Reviews (Attributes with
                                                                         ``show_attrs``)
``/done/<sid>/<asin>/<options>``                    buys, scores, shows the reward

``<keywords>`` is a Python list repr (``['red', 'dress']``) or one bare keyword, ``<options>`` a dict
repr or JSON (``{'size': '8'}``), percent-encoded. Any of these URLs answers with the page's JSON
instead of HTML when asked with ``?format=json`` or ``Accept: application/json``.

JSON API (for environment clients; request and response bodies are JSON)
------------------------------------------------------------------------
``GET  /health``                         ``{"status": "ok", "products", "goals", "sessions"}`` (ready)
``GET  /api/info``                       catalogue, goals and reward settings
``GET  /api/goals``                      ``{"count", "splits": {"test": [0, 500], "train": [500, n]}}``
``GET  /api/goals/<i>``                  goal record ``i`` (upstream's fields)
``POST /api/sessions``                   body ``{"session_id"?: str, "goal"?: int, "seed"?: int}``:
                                         start (or restart) a session on goal ``goal``, or on a goal
                                         drawn by weight (reproducibly with ``seed``); 201 + page JSON
                                         + ``"goal"`` (the goal record)
``GET  /api/sessions/<sid>``             the current page JSON
``POST /api/sessions/<sid>/step``        body ``{"action": "search[red dress]" | "click[buy now]"}``:
                                         upstream text-env semantics; page JSON + ``"valid"`` (false:
                                         the action was a no-op, as upstream)
``GET  /api/sessions/<sid>/goal``        the session's goal record
``DELETE /api/sessions/<sid>``           close the session (204)

Page JSON: ``{"page": "search"|"results"|"item"|"item_sub"|"done", "url", "observation": {"text",
"text_rich"}, "clickables": [...], "has_search_bar", "reward", "done", "reward_info"? (done page),
"session_id", "goal_index", "instruction_text", "session_done", "session_reward"}``. ``reward`` is the
purchase reward R in [0, 1] on the done page and 0 elsewhere.

Errors: malformed input answers 400, unknown session/product/goal 404, wrong method 405, oversized
body 413; the body is ``{"error": message, "status": code}`` for JSON requests and a short escaped
HTML page otherwise. Sessions idle for ``session_ttl`` seconds expire.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, jsonify, redirect, request
from werkzeug.exceptions import HTTPException

from . import urls
from .pages import Page
from .shop import NotFound, Shop
from .urls import BadRequest

__all__ = ["create_app"]

log = logging.getLogger("servers.webshop")
MAX_BODY_BYTES = 64 * 1024


def _wants_json() -> bool:
    if request.path.startswith("/api/") or request.path == "/health":
        return True
    if request.args.get("format") == "json":
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and request.accept_mimetypes["application/json"] > request.accept_mimetypes["text/html"]


def _error(status: int, message: str) -> Response:
    if _wants_json():
        resp = jsonify({"error": message, "status": status})
    else:
        body = (
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>WebShop error</title></head>"
            f"<body><h1>{status}</h1><p>{html.escape(message)}</p></body></html>"
        )
        resp = Response(body, mimetype="text/html")
    resp.status_code = status
    return resp


def _render(page: Page, status: int = 200, extra: dict[str, Any] | None = None) -> Response:
    if _wants_json():
        data = page.to_json()
        if extra:
            data.update(extra)
        resp = jsonify(data)
    else:
        resp = Response(page.to_html(), mimetype="text/html")
    resp.status_code = status
    return resp


def _sid(sid: str) -> str:
    if not urls.valid_session_id(sid):
        raise BadRequest("session id must be 1-128 characters of letters, digits, '_', '.', '-'")
    return sid


def _asin(asin: str) -> str:
    if not urls.valid_asin(asin):
        raise NotFound(f"unknown product {asin[:20]!r}")
    return asin


def _json_body() -> dict[str, Any]:
    if not request.data:
        return {}
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise BadRequest("request body must be a JSON object")
    return data


def _int_field(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"{name!r} must be an integer")
    return value


def create_app(shop: Shop) -> Flask:
    """A Flask app serving ``shop``. Debug mode is off and cannot be turned on through the app."""
    app = Flask(__name__, static_folder=None)
    app.config.update(MAX_CONTENT_LENGTH=MAX_BODY_BYTES, DEBUG=False, PROPAGATE_EXCEPTIONS=False)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["webshop"] = shop

    @app.errorhandler(BadRequest)
    def _bad(exc: BadRequest) -> Response:
        return _error(400, str(exc))

    @app.errorhandler(NotFound)
    def _missing(exc: NotFound) -> Response:
        return _error(404, str(exc.args[0]) if exc.args else "not found")

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        return _error(exc.code or 500, exc.description or exc.name)

    @app.errorhandler(Exception)
    def _crash(exc: Exception) -> Response:
        log.exception("internal error on %s %s", request.method, request.path)
        return _error(500, "internal server error")

    def locked(sid: str, create: bool, fn: Callable[..., Page]) -> Page:
        s = shop.session(_sid(sid), create=create)
        with s.lock:
            return fn(s)

    # ------------------------------------------------------------------ service
    @app.get("/health")
    def health() -> Response:
        return jsonify(
            {"status": "ok", "products": len(shop.catalog), "goals": len(shop.goals), "sessions": len(shop.sessions)}
        )

    @app.get("/favicon.ico")
    @app.get("/robots.txt")
    def _no_asset() -> Response:
        return Response(status=204)

    @app.get("/")
    def root() -> Response:
        s = shop.new_session()
        return redirect(urls.search_url(s.sid), code=302)

    # ------------------------------------------------------------------ upstream routes
    @app.route("/<sid>", methods=["GET", "POST"])
    def index(sid: str) -> Response:
        query = request.form.get("search_query") if request.method == "POST" else None
        if query is not None:
            if len(query) > urls.MAX_KEYWORDS_CHARS:
                raise BadRequest(f"query too long (more than {urls.MAX_KEYWORDS_CHARS} characters)")
            keywords = query.lower().split(" ")
            if not query.strip():
                raise BadRequest("empty search query")
            s = shop.session(_sid(sid), create=True)
            return redirect(urls.results_url(s.sid, keywords, 1), code=303)
        return _render(locked(sid, True, shop.visit_search))

    @app.route("/search_results/<sid>/<path:keywords>/<page>", methods=["GET", "POST"])
    def search_results(sid: str, keywords: str, page: str) -> Response:
        kw, p = urls.parse_keywords(keywords), urls.parse_page(page)
        return _render(locked(sid, False, lambda s: shop.visit_results(s, kw, p)))

    @app.route("/item_page/<sid>/<asin>/<path:keywords>/<page>/<options>", methods=["GET", "POST"])
    def item_page(sid: str, asin: str, keywords: str, page: str, options: str) -> Response:
        kw, p, opts = urls.parse_keywords(keywords), urls.parse_page(page), urls.parse_options(options)
        a = _asin(asin)
        return _render(locked(sid, False, lambda s: shop.visit_item(s, a, kw, p, opts)))

    @app.route("/item_sub_page/<sid>/<asin>/<path:keywords>/<page>/<sub_page>/<options>", methods=["GET", "POST"])
    def item_sub_page(sid: str, asin: str, keywords: str, page: str, sub_page: str, options: str) -> Response:
        kw, p, opts = urls.parse_keywords(keywords), urls.parse_page(page), urls.parse_options(options)
        a = _asin(asin)
        return _render(locked(sid, False, lambda s: shop.visit_sub(s, a, kw, p, sub_page, opts)))

    @app.route("/done/<sid>/<asin>/<options>", methods=["GET", "POST"])
    def done(sid: str, asin: str, options: str) -> Response:
        opts = urls.parse_options(options)
        a = _asin(asin)
        return _render(locked(sid, False, lambda s: shop.buy(s, a, opts)))

    # ------------------------------------------------------------------ JSON API
    @app.get("/api/info")
    def info() -> Response:
        return jsonify(
            {
                "products": len(shop.catalog),
                "catalog": shop.catalog.source,
                "goals": len(shop.goals),
                "goal_kind": "human" if shop.goals.human else "synthetic",
                "title_nouns": shop.nouns.source,
                "options_mode": shop.options_mode,
                "show_attrs": shop.show_attrs,
                "session_ttl": shop.sessions.ttl,
                "max_sessions": shop.sessions.max_sessions,
            }
        )

    @app.get("/api/goals")
    def goals() -> Response:
        n = len(shop.goals)
        test = shop.goals.split("test")
        return jsonify({"count": n, "splits": {"test": [test.start, test.stop], "train": [test.stop, n]}})

    @app.get("/api/goals/<int(signed=True):i>")
    def goal(i: int) -> Response:
        if not 0 <= i < len(shop.goals):
            raise NotFound(f"goal index {i} out of range [0, {len(shop.goals)})")
        return jsonify({"index": i, **shop.goals[i].as_dict()})

    @app.post("/api/sessions")
    def start() -> Response:
        body = _json_body()
        sid = body.get("session_id")
        if sid is not None and (not isinstance(sid, str) or not urls.valid_session_id(sid)):
            raise BadRequest("session_id must be 1-128 characters of letters, digits, '_', '.', '-'")
        s = shop.new_session(sid, goal=_int_field(body, "goal"), seed=_int_field(body, "seed"))
        with s.lock:
            page = shop.visit_search(s)
        return _render(page, 201, {"goal": s.goal})

    @app.get("/api/sessions/<sid>")
    def current(sid: str) -> Response:
        return _render(locked(sid, False, shop.current_page))

    @app.post("/api/sessions/<sid>/step")
    def step(sid: str) -> Response:
        body = _json_body()
        action = body.get("action")
        if not isinstance(action, str):
            raise BadRequest("body must be {\"action\": \"search[...]\" or \"click[...]\"}")
        s = shop.session(_sid(sid))
        with s.lock:
            page, valid = shop.step(s, action)
        return _render(page, 200, {"valid": valid})

    @app.get("/api/sessions/<sid>/goal")
    def session_goal(sid: str) -> Response:
        s = shop.session(_sid(sid))
        return jsonify({"index": s.goal_index, **s.goal})

    @app.delete("/api/sessions/<sid>")
    def close(sid: str) -> Response:
        shop.close(_sid(sid))
        return Response(status=204)

    return app
