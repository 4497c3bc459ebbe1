"""What both blueprints share: reading a request strictly, and answering in JSON or HTML.

Every request value is checked here or in :mod:`servers.webshop.urls` before the shop sees it: JSON
bodies must be one flat object of known fields with the right types (deep nesting, huge numbers and
text that is not valid Unicode are a 400 like any other malformed body), session ids match in full.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from typing import Any

from flask import Response, current_app, jsonify, request

from . import urls
from .pages import CSS, Page
from .shop import NotFound, Shop
from .urls import BadRequest, check_text

__all__ = [
    "MAX_BODY_BYTES",
    "SECURITY_HEADERS",
    "TOKEN_HEADER",
    "asin_arg",
    "error",
    "json_body",
    "render",
    "shop",
    "sid_arg",
    "token",
    "wants_json",
]

MAX_BODY_BYTES = 64 * 1024
#: Header carrying a session's owner token on the JSON API's session routes.
TOKEN_HEADER = "X-WebShop-Token"
MAX_TOKEN_CHARS = 256
_STYLE_HASH = base64.b64encode(hashlib.sha256(CSS.encode()).digest()).decode()
#: Sent with every HTML page: no sniffing, no framing, no scripts, the site's own stylesheet only.
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
}


def shop() -> Shop:
    """The :class:`~servers.webshop.shop.Shop` of the running app."""
    return current_app.extensions["webshop"]


def wants_json() -> bool:
    if request.path.startswith("/api/") or request.path == "/health":
        return True
    if request.args.get("format") == "json":
        return True
    accept = request.accept_mimetypes
    best = accept.best_match(["text/html", "application/json"])
    return best == "application/json" and accept["application/json"] > accept["text/html"]


def error(status: int, message: str, extra: dict[str, Any] | None = None) -> Response:
    """``{"error": message, "status": status, **extra}`` for JSON requests, else a short escaped page.
    ``message`` is cut to its first line: errors are one line."""
    message = (message.strip().splitlines() or [""])[0][:500] or "error"
    if wants_json():
        resp = jsonify({"error": message, "status": status, **(extra or {})})
    else:
        body = (
            '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>WebShop error</title></head>'
            f"<body><h1>{status}</h1><p>{html.escape(message)}</p></body></html>"
        )
        resp = Response(body.encode("utf-8", "replace"), mimetype="text/html")
    resp.status_code = status
    return resp


def render(page: Page, status: int = 200, extra: dict[str, Any] | None = None) -> Response:
    """The page as JSON (plus ``extra``) or as HTML, as the request asks."""
    if wants_json():
        data = page.to_json()
        if extra:
            data.update(extra)
        resp = jsonify(data)
    else:
        # every entry point refuses non-Unicode text; "replace" only guards against a catalogue holding some
        resp = Response(page.to_html().encode("utf-8", "replace"), mimetype="text/html")
    resp.status_code = status
    return resp


def sid_arg(sid: str) -> str:
    if not urls.valid_session_id(sid):
        raise BadRequest(urls.SESSION_ID_RULE)
    return sid


def asin_arg(asin: str) -> str:
    if not urls.valid_asin(asin):
        raise NotFound(f"unknown product {asin[:20]!r}")
    return asin


def token() -> str | None:
    """The request's session token header, if any."""
    value = request.headers.get(TOKEN_HEADER)
    if value is None:
        return None
    if not 1 <= len(value) <= MAX_TOKEN_CHARS:
        raise BadRequest(f"{TOKEN_HEADER} must be 1-{MAX_TOKEN_CHARS} characters")
    return value


def _field(name: str, value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind == "str":
        if not isinstance(value, str):
            raise BadRequest(f"{name!r} must be a string, not {type(value).__name__}")
        return check_text(value, repr(name))
    if kind == "bool":
        if not isinstance(value, bool):
            raise BadRequest(f"{name!r} must be true or false, not {type(value).__name__}")
        return value
    lo, hi = {"goal": (0, 2**31), "seed": (-(2**63), 2**63), "step": (1, 2**31)}[name]
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"{name!r} must be an integer, not {type(value).__name__}")
    if not lo <= value < hi:
        raise BadRequest(f"{name!r} out of range [{lo}, {hi})")
    return value


def json_body(fields: dict[str, str]) -> dict[str, Any]:
    """The request body as one JSON object with only ``fields`` (name -> "str" | "int" | "bool");
    a missing field reads ``None``; anything else is a :class:`BadRequest` naming the problem."""
    raw = request.get_data(cache=True)
    data: Any = {}
    if raw:
        try:
            data = json.loads(raw)
        except RecursionError:
            raise BadRequest("request body is nested too deeply") from None
        except ValueError as exc:  # also bad UTF-8 and integers of more than 4300 digits
            raise BadRequest(f"request body is not valid JSON: {str(exc).splitlines()[0][:120]}") from None
    if not isinstance(data, dict):
        raise BadRequest(f"request body must be a JSON object with fields {sorted(fields)}")
    unknown = sorted(repr(k) for k in data if k not in fields)
    if unknown:
        raise BadRequest(f"unknown field(s) {', '.join(unknown)[:200]}; known: {sorted(fields)}")
    return {name: _field(name, data.get(name), kind) for name, kind in fields.items()}
