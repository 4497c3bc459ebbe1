"""One page model, three views: HTML for browsers, upstream's ``text``/``text_rich`` observations, JSON.

A :class:`Page` is an ordered list of :class:`Node` s (visible text, buttons, product links, option
choices, the search box), in the document order of upstream's templates. From it:

- ``text``: every visible text node, stripped, joined with ``" [SEP] "`` (upstream's ``text`` mode);
- ``text_rich``: one line per node; buttons ``[button] t [button_]``; option values
  ``  [clicked button] t [clicked button_]`` when ``"t"`` (with double quotes) occurs in the chosen
  options' JSON, else ``  [button] t [button_]``, and each clicked value prepends
  ``You have clicked t.``; product links ``[button] ASIN [button_]``, or a blank line and
  ``[clicked button] ASIN [clicked button_]`` once visited in the session (upstream's ``text_rich``);
- ``clickables``: lower-cased button texts, then lower-cased product links, then option values, as
  upstream's ``get_available_actions`` builds them (a dict: a repeated text keeps its first position
  and its last element);
- ``html``: a plain page with no scripts and no external assets; options are links, buttons are
  forms, everything user-controlled is escaped.

The done page shows what was bought and the score, never the target (upstream hides the target with
CSS only; text extraction reads it).
"""

from __future__ import annotations

import hashlib
import html
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from . import urls

__all__ = ["Node", "Page", "done_page", "item_page", "results_page", "search_page", "sub_page"]


@dataclass
class Node:
    """One element. ``kind``: text | button | link | option | search_box.

    ``target`` is the URL a click leads to (HTML view); ``value`` the option value (option) or ASIN
    (link); ``group`` the option name; ``visited`` marks product links opened in this session.
    """

    kind: str
    text: str = ""
    target: str | Callable[[], str] = ""  # a URL, or a function making it (built only for HTML)
    value: str = ""
    group: str = ""
    visited: bool = False
    css: str = ""

    def href(self) -> str:
        return self.target() if callable(self.target) else self.target


@dataclass
class Page:
    """A rendered page of a session; ``kind``: search | results | item | item_sub | done."""

    kind: str
    url: str
    nodes: list[Node]
    options_json: str = ""
    reward: float = 0.0
    done: bool = False
    reward_info: dict[str, Any] | None = None
    state: dict[str, Any] = field(default_factory=dict)
    heading: str = ""  # shown in the HTML view only (e.g. the current query), not an observation node

    @property
    def has_search_bar(self) -> bool:
        return any(n.kind == "search_box" for n in self.nodes)

    def text(self) -> str:
        return " [SEP] ".join(t for n in self.nodes if (t := n.text.strip()))

    def text_rich(self) -> str:
        lines: list[str] = []
        clicked: list[str] = []
        for n in self.nodes:
            t = n.text.strip()
            if not t:
                continue
            if n.kind == "button":
                lines.append(f"[button] {t} [button_]")
            elif n.kind == "option":
                if f'"{t}"' in self.options_json:
                    lines.append(f"  [clicked button] {t} [clicked button_]")
                    clicked.append(t)
                else:
                    lines.append(f"  [button] {t} [button_]")
            elif n.kind == "link":
                lines.append(f"\n[clicked button] {t} [clicked button_]" if n.visited else f"[button] {t} [button_]")
            else:
                lines.append(t)
        prefix = "".join(f"You have clicked {t}.\n" for t in reversed(clicked))
        return prefix + "".join(line + "\n" for line in lines)

    def clickable_map(self) -> dict[str, Node]:
        """Clickable text -> element, in upstream's order and overwrite rules."""
        out: dict[str, Node] = {}
        for n in self.nodes:
            if n.kind == "button":
                out[n.text.lower()] = n
        for n in self.nodes:
            if n.kind == "link":
                out[n.text.lower()] = n
        for n in self.nodes:
            if n.kind == "option":
                out[n.value] = n
        return out

    def clickables(self) -> list[str]:
        return list(self.clickable_map())

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "page": self.kind,
            "url": self.url,
            "observation": {"text": self.text(), "text_rich": self.text_rich()},
            "clickables": self.clickables(),
            "has_search_bar": self.has_search_bar,
            "reward": self.reward,
            "done": self.done,
        }
        if self.reward_info is not None:
            data["reward_info"] = self.reward_info
        data.update(self.state)
        return data

    def to_html(self) -> str:
        e = html.escape
        body: list[str] = []
        group = None
        for n in self.nodes:
            if n.kind != "option" and group is not None:
                body.append("</div>")
                group = None
            if n.kind == "text":
                body.append(f'<p class="{e(n.css or "txt")}">{e(n.text)}</p>')
            elif n.kind == "button" and n.css == "search-button":
                continue  # rendered inside the search form
            elif n.kind == "button":
                body.append(
                    f'<form method="post" action="{e(n.href())}" class="inline">'
                    f'<button type="submit" class="btn">{e(n.text)}</button></form>'
                )
            elif n.kind == "link":
                cls = "product-link visited" if n.visited else "product-link"
                body.append(f'<p class="asin"><a class="{cls}" href="{e(n.href())}">{e(n.text)}</a></p>')
            elif n.kind == "option":
                if group is None:
                    body.append('<div class="options">')
                    group = n.group
                checked = " checked" if n.css == "chosen" else ""
                rid = e(f"radio_{n.group}_{n.value}")
                body.append(
                    f'<input type="radio" id="{rid}" name="{e(n.group)}" value="{e(n.value)}"{checked} disabled>'
                    f'<label for="{rid}"><a href="{e(n.href())}">{e(n.text)}</a></label>'
                )
            elif n.kind == "search_box":
                body.append(
                    f'<form method="post" action="{e(n.href())}" class="search">'
                    '<input id="search_input" type="text" name="search_query" maxlength="1000" '
                    'placeholder="Search..." required autofocus> '
                    '<button type="submit" class="btn">Search</button></form>'
                )
        if group is not None:
            body.append("</div>")
        return (
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>WebShop</title><style>{CSS}</style></head>\n<body><main>\n"
            + (f'<p class="heading">{e(self.heading)}</p>\n' if self.heading else "")
            + "\n".join(body)
            + "\n</main></body></html>\n"
        )


CSS = (
    "body{font-family:system-ui,sans-serif;margin:2em;max-width:60em}"
    ".inline{display:inline-block;margin:0 .5em .5em 0}.btn{padding:.3em .8em;cursor:pointer}"
    ".instruction{font-weight:bold}.options a{margin:0 .6em 0 .2em}.visited{color:purple}"
    ".title{font-size:1.3em;font-weight:bold}.asin{margin-bottom:0}"
)


def _instruction(instruction: str) -> list[Node]:
    return [Node("text", "Instruction:", css="instruction"), Node("text", instruction, css="instruction")]


def search_page(sid: str, instruction: str) -> Page:
    """The search page: title, instruction, search box and its Search button."""
    nodes = [
        Node("text", "WebShop", css="title"),
        *_instruction(instruction),
        Node("search_box", target=urls.search_url(sid)),
        # the Search button is part of the search form in HTML; listed for text and clickables
        Node("button", "Search", target=urls.search_url(sid), css="search-button"),
    ]
    return Page("search", urls.search_url(sid), nodes)


def results_page(
    sid: str,
    instruction: str,
    keywords: list[str],
    page: int,
    total: int,
    products: list[dict[str, Any]],
    visited: set[str],
) -> Page:
    """Results page ``page`` (10 per page) of ``total`` hits; ``products`` are this page's products."""
    nodes = [
        *_instruction(instruction),
        Node("button", "Back to Search", target=urls.search_url(sid)),
        Node("text", f"Page {page} (Total results: {total})"),
    ]
    if page > 1:
        nodes.append(Node("button", "< Prev", target=partial(urls.results_url, sid, keywords, page - 1)))
    # upstream shows Next > even on the last page
    nodes.append(Node("button", "Next >", target=partial(urls.results_url, sid, keywords, page + 1)))
    for p in products:
        asin = p["asin"]
        nodes.append(
            Node("link", asin, target=partial(urls.item_url, sid, asin, keywords, page, {}), value=asin, visited=asin in visited)
        )
        nodes.append(Node("text", p.get("Title") or "", css="product-title"))
        nodes.append(Node("text", p.get("Price") or "", css="price"))
    return Page("results", urls.results_url(sid, keywords, page), nodes, heading=f"Results for: {' '.join(keywords)}")


def item_page(
    sid: str,
    instruction: str,
    product: dict[str, Any],
    keywords: list[str],
    page: int,
    options: dict[str, str],
    show_attrs: bool = False,
) -> Page:
    """Item page of ``product`` with the chosen ``options`` (option name -> value)."""
    asin = product["asin"]
    nodes = [
        *_instruction(instruction),
        Node("button", "Back to Search", target=urls.search_url(sid)),
        Node("button", "< Prev", target=partial(urls.results_url, sid, keywords, page)),
    ]
    for name, values in (product.get("options") or {}).items():
        nodes.append(Node("text", name, css="option-name"))
        for value in values:
            chosen = {**options, name: value}
            nodes.append(
                Node(
                    "option",
                    value,
                    target=partial(urls.item_url, sid, asin, keywords, page, chosen),
                    value=value,
                    group=name,
                    css="chosen" if options.get(name) == value else "",
                )
            )
    nodes += [
        Node("text", product.get("Title") or "", css="title"),
        Node("text", f"Price: {product.get('Price', '')}"),
        Node("text", f"Rating: {product.get('Rating', 'N.A.')}"),
    ]
    subs = ["Description", "Features", "Reviews"] + (["Attributes"] if show_attrs else [])
    for sub in subs:
        nodes.append(Node("button", sub, target=partial(urls.sub_page_url, sid, asin, keywords, page, sub, options)))
    nodes.append(Node("button", "Buy Now", target=partial(urls.done_url, sid, asin, options)))
    return Page("item", urls.item_url(sid, asin, keywords, page, options), nodes, options_json=json.dumps(options))


def sub_page(
    sid: str,
    instruction: str,
    product: dict[str, Any],
    keywords: list[str],
    page: int,
    sub: str,
    options: dict[str, str],
) -> Page:
    """Description / Features / Reviews / Attributes page of ``product``."""
    asin = product["asin"]
    nodes = [
        *_instruction(instruction),
        Node("button", "Back to Search", target=urls.search_url(sid)),
        Node("button", "< Prev", target=partial(urls.item_url, sid, asin, keywords, page, options)),
    ]
    if sub == "Description":
        nodes.append(Node("text", product.get("Description") or ""))
    elif sub == "Features":
        nodes += [Node("text", b) for b in product.get("BulletPoints") or [] if isinstance(b, str)]
    elif sub == "Reviews":
        for r in product.get("Reviews") or []:
            nodes.append(Node("text", str(r)))
    elif sub == "Attributes":
        nodes += [Node("text", str(a)) for a in product.get("Attributes") or []]
        nodes += [
            Node("text", str(product.get("category") or "")),
            Node("text", str(product.get("query") or "")),
            Node("text", str(product.get("product_category") or "")),
        ]
    return Page("item_sub", urls.sub_page_url(sid, asin, keywords, page, sub, options), nodes)


def completion_code(sid: str) -> str:
    """Upstream's thank-you code: first 10 hex digits of SHA-1(session id), upper case."""
    return hashlib.sha1(sid.encode("utf-8")).hexdigest()[:10].upper()


def done_page(sid: str, asin: str, options: dict[str, str], reward: float, reward_info: dict[str, Any]) -> Page:
    """Thank-you page with what was bought and the score (never the target)."""
    nodes = [
        Node("text", "Thank you for shopping with us!", css="title"),
        Node("text", "Your code:"),
        Node("text", completion_code(sid)),
        Node("text", "(Paste it in your MTurk interface.)"),
        Node("text", "Purchased"),
        Node("text", "asin"),
        Node("text", asin),
        Node("text", "options"),
        Node("text", json.dumps(options)),
        Node("text", "Your score (min 0.0, max 1.0)"),
        Node("text", str(reward)),
    ]
    return Page("done", urls.done_url(sid, asin, options), nodes, reward=reward, done=True, reward_info=reward_info)
