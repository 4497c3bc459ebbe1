"""The WebShop web server: upstream's site and URL scheme, plus a JSON view for environment clients.

Create it with :func:`create_app` (a Flask app factory) and serve it with :mod:`servers.webshop.serve`.
The HTML site is the blueprint :data:`servers.webshop.site.site`, the JSON API
:data:`servers.webshop.api.api`; this module wires them to a shop, maps errors to status codes and
adds the security headers.

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
``GET  /api/info``                       catalogue, goals and reward settings; ``"protocol"``: the
                                         protocol's constants (action pattern and length, limits,
                                         token header) that clients read
``GET  /api/goals``                      ``{"count", "splits": {"test": [0, 500], "train": [500, n]}}``
``GET  /api/goals/<i>``                  goal record ``i`` (upstream's fields)
``POST /api/sessions``                   body ``{"session_id"?: str, "goal"?: int, "seed"?: int,
                                         "reset"?: bool}``: start a session on goal ``goal``, or on a
                                         goal drawn by weight (reproducibly with ``seed``); 201 + page
                                         JSON + ``"goal"`` (the goal record) + ``"session_token"``. An
                                         id in use: 409, unless ``"reset": true`` and its token (restart)
``GET  /api/sessions/<sid>``             the current page JSON
``POST /api/sessions/<sid>/step``        body ``{"action": "search[red dress]" | "click[buy now]",
                                         "step"?: n}``: upstream text-env semantics; page JSON +
                                         ``"valid"`` (false: the action was a no-op, as upstream) +
                                         ``"step"`` + ``"repeated"`` (the stored answer of step n)
``GET  /api/sessions/<sid>/goal``        the session's goal record
``DELETE /api/sessions/<sid>``           close the session (204)

Page JSON: ``{"page": "search"|"results"|"item"|"item_sub"|"done", "url", "observation": {"text",
"text_rich"}, "clickables": [...], "has_search_bar", "reward", "done", "reward_info"? (done page),
"session_id", "goal_index", "instruction_text", "session_done", "session_reward"}``. ``reward`` is the
purchase reward R in [0, 1] on the done page and 0 elsewhere.

The ``/api/sessions/<sid>`` routes need the session's token in ``X-WebShop-Token`` (sessions made
on the HTML site have none and need none).

Errors: malformed input 400 (steps: with ``"valid": false``), a session of another client 403,
unknown session/product/goal 404, wrong method 405, in use / finished / step out of order 409,
oversized body 413, no room for a new session 503; the body is ``{"error": one line, "status":
code}`` for JSON requests and a short escaped HTML page otherwise; never a 500 with a traceback.
Sessions idle for ``session_ttl`` seconds expire.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from .api import api
from .sessions import StoreFull
from .shop import Conflict, Forbidden, NotFound, Shop
from .site import site
from .urls import BadRequest
from .web import MAX_BODY_BYTES, SECURITY_HEADERS, error

__all__ = ["create_app"]

log = logging.getLogger("servers.webshop")


def _step_extra() -> dict[str, bool] | None:
    # a refused step was not applied: say so in the field clients read
    return {"valid": False} if request.endpoint == "api.step" else None


def _register_errors(app: Flask) -> None:
    def handler(status: int):
        def answer(exc: Exception) -> Response:
            return error(status, str(exc.args[0]) if exc.args else type(exc).__name__, _step_extra())

        return answer

    for exc_type, status in ((BadRequest, 400), (Forbidden, 403), (NotFound, 404), (Conflict, 409)):
        app.register_error_handler(exc_type, handler(status))

    @app.errorhandler(StoreFull)
    def _full(exc: StoreFull) -> Response:
        resp = error(503, str(exc))
        resp.headers["Retry-After"] = "5"
        return resp

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        return error(exc.code or 500, exc.description or exc.name, _step_extra())

    @app.errorhandler(Exception)
    def _crash(exc: Exception) -> Response:
        log.exception("internal error on %s %s", request.method, request.path)
        return error(500, "internal server error")


def _security_headers(resp: Response) -> Response:
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    if resp.mimetype == "text/html":
        for name, value in SECURITY_HEADERS.items():
            resp.headers.setdefault(name, value)
    return resp


def create_app(shop: Shop) -> Flask:
    """A Flask app serving ``shop``. Debug mode is off and cannot be turned on through the app."""
    app = Flask(__name__, static_folder=None)
    app.config.update(MAX_CONTENT_LENGTH=MAX_BODY_BYTES, DEBUG=False, PROPAGATE_EXCEPTIONS=False)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["webshop"] = shop
    _register_errors(app)
    app.after_request(_security_headers)
    app.register_blueprint(api)
    app.register_blueprint(site)
    return app
