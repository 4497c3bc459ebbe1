"""What the environments know about one WebShop page, from the server's JSON view or from a browser.

:class:`PageView` holds the page kind, its observations, clickables and reward, and the navigation
state encoded in its URL (product, keywords, results page, chosen options). URLs follow upstream's
scheme (``servers/webshop/app.py``): percent-encoded path segments holding a Python list repr of the
keywords and a dict repr (or JSON) of the options. Parsing them is a few string operations, no HTML.

:func:`canonical_text` and :func:`page_state_key` give the page's state key: the same page gives the
same key in every process and session (the only session-dependent text, the done page's completion
code, is blanked).
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from hgpo_algo.state_keys import text_state_key

__all__ = [
    "NAV_BUTTONS",
    "PageView",
    "admissible_commands",
    "canonical_text",
    "page_state_key",
    "parse_url",
    "result_candidates",
]

#: Clickables of a results page that are not products.
NAV_BUTTONS = frozenset({"back to search", "< prev", "next >"})
_TOTAL = re.compile(r"Page (\d+) \(Total results: (\d+)\)")
_CODE = re.compile(r"(Your code:(?: \[SEP\] |\n))[0-9A-F]{10}")
_KINDS = {"search_results": "results", "item_page": "item", "item_sub_page": "item_sub", "done": "done"}


def _literal(segment: str) -> Any:
    try:
        return json.loads(segment)
    except ValueError:
        try:
            return ast.literal_eval(segment)
        except (ValueError, SyntaxError):
            return None


def _keywords(segment: str) -> list[str]:
    value = _literal(segment) if segment.startswith("[") else [segment]
    return [str(k) for k in value] if isinstance(value, list) else []


def _options(segment: str) -> dict[str, str]:
    value = _literal(segment)
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def parse_url(url: str) -> dict[str, Any]:
    """Navigation state of a WebShop URL (path, or full URL with scheme and host).

    Returns ``{"kind", "session_id", "asin", "keywords", "page_number", "sub_page", "options"}``; fields
    that the URL does not carry are ``None`` (``options``: ``{}``).
    """
    path = url.split("://", 1)[-1]
    if "://" in url:
        path = "/" + path.split("/", 1)[1] if "/" in path else "/"
    path = path.split("?", 1)[0].split("#", 1)[0]
    parts = [unquote(p) for p in path.strip("/").split("/")]
    out: dict[str, Any] = {
        "kind": "search", "session_id": parts[0] if parts else None, "asin": None, "keywords": None,
        "page_number": None, "sub_page": None, "options": {},
    }
    head = parts[0] if parts else ""
    if head not in _KINDS or len(parts) < 2:
        return out
    out["kind"] = _KINDS[head]
    out["session_id"] = parts[1]
    rest = parts[2:]
    try:
        if head == "search_results" and len(rest) >= 2:
            out["keywords"], out["page_number"] = _keywords(rest[0]), int(rest[1])
        elif head == "item_page" and len(rest) >= 4:
            out["asin"], out["keywords"], out["page_number"] = rest[0], _keywords(rest[1]), int(rest[2])
            out["options"] = _options(rest[3])
        elif head == "item_sub_page" and len(rest) >= 5:
            out["asin"], out["keywords"], out["page_number"] = rest[0], _keywords(rest[1]), int(rest[2])
            out["sub_page"], out["options"] = rest[3], _options(rest[4])
        elif head == "done" and len(rest) >= 2:
            out["asin"], out["options"] = rest[0], _options(rest[1])
    except ValueError:
        pass
    return out


@dataclass
class PageView:
    """One page as an environment sees it.

    ``kind``: search | results | item | item_sub | done. ``text``/``text_rich``: upstream's observation
    formats. ``clickables``: lower-cased clickable texts in upstream's order. ``reward``: the purchase
    score in [0, 1] (done page only). ``url``: the page's path; the navigation fields come from it.
    """

    kind: str
    url: str
    text: str
    text_rich: str
    clickables: list[str]
    has_search_bar: bool
    reward: float = 0.0
    done: bool = False
    session_id: str | None = None
    asin: str | None = None
    keywords: list[str] | None = None
    page_number: int | None = None
    sub_page: str | None = None
    options: dict[str, str] = field(default_factory=dict)
    reward_info: dict[str, Any] | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PageView:
        """From the server's page JSON (``POST /api/sessions``, ``.../step``, ``GET /api/sessions/<sid>``)."""
        nav = parse_url(data["url"])
        obs = data["observation"]
        return cls(
            kind=data.get("page") or nav["kind"],
            url=data["url"],
            text=obs["text"],
            text_rich=obs["text_rich"],
            clickables=list(data["clickables"]),
            has_search_bar=bool(data["has_search_bar"]),
            reward=float(data.get("reward") or 0.0),
            done=bool(data.get("done")),
            session_id=data.get("session_id") or nav["session_id"],
            asin=nav["asin"],
            keywords=nav["keywords"],
            page_number=nav["page_number"],
            sub_page=nav["sub_page"],
            options=nav["options"],
            reward_info=data.get("reward_info"),
        )

    def observation(self, mode: str) -> str:
        """The ``text`` or ``text_rich`` observation. On the done page the completion code (derived from
        the session id) reads ``None``, as in upstream's text environment, so the same actions give the
        same observations in every session."""
        text = self.text_rich if mode == "text_rich" else self.text
        if self.kind == "done":
            text = _CODE.sub(r"\g<1>None", text)
        return text

    def total_results(self) -> int | None:
        """``n`` of ``Page p (Total results: n)`` on a results page, else ``None``."""
        m = _TOTAL.search(self.text) if self.kind == "results" else None
        return int(m.group(2)) if m else None


def canonical_text(view: PageView, mode: str) -> str:
    """The page text that the state key hashes: the ``text`` observation (``text_rich`` for the
    ``text_rich`` and ``html`` modes, which show chosen options and visited products), with the done
    page's session-derived completion code replaced by ``None``. It never contains the session id."""
    return view.observation("text" if mode == "text" else "text_rich")


def page_state_key(view: PageView, mode: str) -> str:
    """Canonical state key of the page (BLAKE2b-128 hex of :func:`canonical_text`)."""
    return text_state_key(canonical_text(view, mode))


def admissible_commands(view: PageView, instruction: str) -> list[str]:
    """Full action strings that are valid on this page.

    ``search[<instruction>]`` when the page has a search bar (the search page; any non-empty query is
    valid there, the instruction is the concrete one listed), then ``click[<c>]`` for every clickable
    except ``search`` (upstream treats that click as a no-op). The done page has none.
    """
    if view.done:
        return []
    out = [f"search[{instruction}]"] if view.has_search_bar else []
    out += [f"click[{c}]" for c in view.clickables if c != "search"]
    return out


def result_candidates(view: PageView) -> list[tuple[str, str, str]]:
    """Products listed on a results page: ``(asin_lower, title, price_text)`` in page order."""
    if view.kind != "results":
        return []
    asins = [c for c in view.clickables if c not in NAV_BUTTONS]
    parts = view.text.split(" [SEP] ")
    where = {p: i for i, p in enumerate(parts)}
    out = []
    for a in asins:
        i = where.get(a.upper())
        title = price = ""
        if i is not None:
            nxt = parts[i + 1 : i + 3]
            if nxt and nxt[0].startswith("$"):
                price = nxt[0]
            else:
                title = nxt[0] if nxt else ""
                price = nxt[1] if len(nxt) > 1 and nxt[1].startswith("$") else ""
        out.append((a, title, price))
    return out
