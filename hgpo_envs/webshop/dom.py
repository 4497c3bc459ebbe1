"""Reading a WebShop page out of a browser's DOM: the element list, and the views built from it.

The server's HTML view (``servers/webshop/pages.py``) renders one element per page node, in document
order: ``<p>`` text, ``<button class="btn">`` inside forms, ``<a class="product-link">`` product
links, ``<input type="radio">`` option choices (labelled by a link), ``<input id="search_input">``.
:data:`SNAPSHOT_JS` walks ``<main>`` once and returns them (with the element handles, so a click needs
no second look-up); :func:`nodes_to_view` rebuilds upstream's ``text``/``text_rich`` observations and
clickables from that list with the same rules the server uses for its JSON view, so the two agree
exactly when the HTML is right.
"""

from __future__ import annotations

import json
import re
from typing import Any

from hgpo_envs.webshop.page import PageView, parse_url

__all__ = ["SNAPSHOT_JS", "nodes_to_view", "rich_text", "score_of"]

#: Returns ``{url, title, rendered (innerText), nodes: [{kind, text, value, checked, visited, el}]}`` (elements in document
#: order), or ``null`` while the document is still the one marked ``arguments[0]`` (in ``window.__hgpo``)
#: or is not loaded yet; it then marks the document it read.
SNAPSHOT_JS = r"""
if (arguments[0] !== null && window.__hgpo === arguments[0]) return null;
if (document.readyState !== 'complete') return null;
window.__hgpo = arguments[1];
const main = document.querySelector('main') || document.body;
const out = [];
const walker = document.createTreeWalker(main, NodeFilter.SHOW_ELEMENT);
let el = walker.currentNode;
while ((el = walker.nextNode())) {
  const tag = el.tagName;
  if (tag === 'P') {
    if (el.classList.contains('heading') || el.classList.contains('asin')) continue;
    out.push({kind: 'text', text: el.textContent, el: el});
  } else if (tag === 'BUTTON') {
    out.push({kind: 'button', text: el.textContent, el: el});
  } else if (tag === 'A' && el.classList.contains('product-link')) {
    out.push({kind: 'link', text: el.textContent, visited: el.classList.contains('visited'), el: el});
  } else if (tag === 'INPUT' && el.type === 'radio') {
    const label = el.id ? main.querySelector('label[for="' + CSS.escape(el.id) + '"]') : null;
    const link = label ? (label.querySelector('a') || label) : el;
    out.push({kind: 'option', text: label ? label.textContent : el.value, value: el.value,
              group: el.name, checked: el.checked, el: link});
  } else if (tag === 'INPUT' && el.id === 'search_input') {
    out.push({kind: 'search_box', text: '', el: el});
  }
}
return {url: location.href, title: document.title, rendered: document.body.innerText, nodes: out};
"""

_SCORE_LABEL = "Your score (min 0.0, max 1.0)"
_NUMBER = re.compile(r"^-?[0-9]+(?:\.[0-9]+)?(?:[eE]-?[0-9]+)?$")


def rich_text(nodes: list[dict[str, Any]], options_json: str) -> str:
    """Upstream's ``text_rich`` observation of a node list (``options_json``: the chosen options' JSON)."""
    lines: list[str] = []
    clicked: list[str] = []
    for n in nodes:
        t = (n.get("text") or "").strip()
        if not t:
            continue
        kind = n["kind"]
        if kind == "button":
            lines.append(f"[button] {t} [button_]")
        elif kind == "option":
            if f'"{t}"' in options_json:
                lines.append(f"  [clicked button] {t} [clicked button_]")
                clicked.append(t)
            else:
                lines.append(f"  [button] {t} [button_]")
        elif kind == "link":
            lines.append(f"\n[clicked button] {t} [clicked button_]" if n.get("visited") else f"[button] {t} [button_]")
        else:
            lines.append(t)
    prefix = "".join(f"You have clicked {t}.\n" for t in reversed(clicked))
    return prefix + "".join(line + "\n" for line in lines)


def clickable_map(nodes: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Clickable text -> node: buttons, then product links, then option values; a repeated text keeps
    its first position and its last element (upstream's ``get_available_actions``)."""
    out: dict[str, dict[str, Any]] = {}
    for kind, key in (("button", "text"), ("link", "text"), ("option", "value")):
        for n in nodes:
            if n["kind"] == kind:
                name = n[key] if kind == "option" else n[key].lower()
                out[name] = n
    return out


def score_of(nodes: list[dict[str, Any]]) -> float:
    """The score shown on a done page (the number after ``Your score (min 0.0, max 1.0)``), else 0."""
    texts = [(n.get("text") or "").strip() for n in nodes if n["kind"] == "text"]
    for i, t in enumerate(texts[:-1]):
        if t == _SCORE_LABEL and _NUMBER.match(texts[i + 1]):
            return float(texts[i + 1])
    return 0.0


def nodes_to_view(nodes: list[dict[str, Any]], url: str) -> PageView:
    """A :class:`PageView` from a DOM snapshot and the browser's current URL."""
    nav = parse_url(url)
    kind = nav["kind"]
    path = url.split("://", 1)[-1]
    path = "/" + path.split("/", 1)[1] if "/" in path else "/"
    options_json = json.dumps(nav["options"]) if kind == "item" else ""
    done = kind == "done"
    return PageView(
        kind=kind,
        url=path,
        text=" [SEP] ".join(t for n in nodes if (t := (n.get("text") or "").strip())),
        text_rich=rich_text(nodes, options_json),
        clickables=list(clickable_map(nodes)),
        has_search_bar=any(n["kind"] == "search_box" for n in nodes),
        reward=score_of(nodes) if done else 0.0,
        done=done,
        session_id=nav["session_id"],
        asin=nav["asin"],
        keywords=nav["keywords"],
        page_number=nav["page_number"],
        sub_page=nav["sub_page"],
        options=nav["options"],
    )
