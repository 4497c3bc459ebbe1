"""Upstream WebShop's URL scheme: building and strictly parsing the path segments.

Upstream puts Python ``repr`` values in paths: keywords as a list (``['red', 'dress']``), options as
a dict (``{'size': '8'}``), both percent-encoded by Flask. The text environment writes options as JSON
(``{"size": "8"}``). Both forms are accepted here; anything else is a :class:`BadRequest`.
"""

from __future__ import annotations

import ast
import json
import re
from urllib.parse import quote

__all__ = [
    "MAX_KEYWORDS_CHARS",
    "BadRequest",
    "check_text",
    "done_url",
    "item_url",
    "parse_keywords",
    "parse_options",
    "parse_page",
    "results_url",
    "search_url",
    "sub_page_url",
    "valid_session_id",
]

MAX_KEYWORDS_CHARS = 1000
MAX_OPTIONS_CHARS = 4000
MAX_PAGE = 1000
SUB_PAGES = ("Description", "Features", "Reviews", "Attributes")
#: What a session id may be (full match): 1-128 letters, digits, ``_``, ``.``, ``-``; not only dots.
SESSION_ID_PATTERN = r"[A-Za-z0-9_.\-]{1,128}"
SESSION_ID_RULE = "session id must be 1-128 characters of letters, digits, '_', '.', '-' (not only dots)"
_SESSION_RE = re.compile(SESSION_ID_PATTERN)
_ASIN_RE = re.compile(r"[A-Za-z0-9]{1,10}")
# what a literal parser may raise on hostile input (deep nesting, huge numbers, bad syntax)
_LITERAL_ERRORS = (ValueError, SyntaxError, MemoryError, RecursionError, TypeError)


class BadRequest(ValueError):
    """A malformed request: the server answers 400 with this message."""


def valid_session_id(sid: str) -> bool:
    """``sid`` matches :data:`SESSION_ID_PATTERN` in full and is not only dots (``.``, ``..``)."""
    return isinstance(sid, str) and _SESSION_RE.fullmatch(sid) is not None and sid.strip(".") != ""


def valid_asin(asin: str) -> bool:
    return _ASIN_RE.fullmatch(asin) is not None


def check_text(value: str, what: str) -> str:
    """``value`` if it is valid Unicode text (every character a Unicode scalar value), else
    :class:`BadRequest` naming ``what`` and the first lone surrogate. The one rule for every entry
    point (URL segments, form fields, JSON strings): text that cannot be written as UTF-8 is refused."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = value[exc.start]
        raise BadRequest(
            f"{what} is not valid Unicode text: lone surrogate U+{ord(bad):04X} at character {exc.start}"
        ) from None
    return value


def _q(segment: str) -> str:
    return quote(segment, safe="")


def search_url(sid: str) -> str:
    return f"/{_q(sid)}"


def results_url(sid: str, keywords: list[str], page: int) -> str:
    return f"/search_results/{_q(sid)}/{_q(repr(list(keywords)))}/{page}"


def item_url(sid: str, asin: str, keywords: list[str], page: int, options: dict[str, str]) -> str:
    return f"/item_page/{_q(sid)}/{_q(asin)}/{_q(repr(list(keywords)))}/{page}/{_q(repr(dict(options)))}"


def sub_page_url(sid: str, asin: str, keywords: list[str], page: int, sub_page: str, options: dict[str, str]) -> str:
    return (
        f"/item_sub_page/{_q(sid)}/{_q(asin)}/{_q(repr(list(keywords)))}/{page}/{_q(sub_page)}/"
        f"{_q(repr(dict(options)))}"
    )


def done_url(sid: str, asin: str, options: dict[str, str]) -> str:
    return f"/done/{_q(sid)}/{_q(asin)}/{_q(repr(dict(options)))}"


def parse_keywords(segment: str) -> list[str]:
    """``"['red', 'dress']"`` -> ``['red', 'dress']``; a segment not starting with ``[`` is one keyword."""
    if len(segment) > MAX_KEYWORDS_CHARS:
        raise BadRequest(f"query too long (more than {MAX_KEYWORDS_CHARS} characters)")
    check_text(segment, "the keywords segment")
    if not segment.startswith("["):
        if not segment.strip():
            raise BadRequest("empty search query")
        return [segment]
    try:
        value = ast.literal_eval(segment)
    except _LITERAL_ERRORS:
        raise BadRequest(f"malformed keywords segment: {segment[:80]!r}") from None
    if not isinstance(value, list) or not all(isinstance(k, str) for k in value):
        raise BadRequest("keywords must be a list of strings, e.g. ['red', 'dress']")
    if not any(k.strip() for k in value):
        raise BadRequest("empty search query")
    for k in value:
        check_text(k, "a search keyword")
    return value


def parse_options(segment: str) -> dict[str, str]:
    """``"{'size': '8'}"`` or ``'{"size": "8"}'`` -> ``{'size': '8'}``."""
    if len(segment) > MAX_OPTIONS_CHARS:
        raise BadRequest("options segment too long")
    if segment.strip() in ("", "{}"):
        return {}
    check_text(segment, "the options segment")
    value: object
    try:
        value = json.loads(segment)
    except (ValueError, RecursionError):
        try:
            value = ast.literal_eval(segment)
        except _LITERAL_ERRORS:
            raise BadRequest(f"malformed options segment: {segment[:80]!r}") from None
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise BadRequest("options must be a dict of strings, e.g. {'size': '8'}")
    for k, v in value.items():
        check_text(k, "an option name")
        check_text(v, "an option value")
    return value


def parse_page(segment: str | int) -> int:
    """A results page number: an integer in [1, 1000]."""
    try:
        page = int(segment)
    except (TypeError, ValueError) as exc:
        raise BadRequest(f"bad page number: {str(segment)[:20]!r}") from exc
    if not 1 <= page <= MAX_PAGE:
        raise BadRequest(f"page number out of range [1, {MAX_PAGE}]: {page}")
    return page
