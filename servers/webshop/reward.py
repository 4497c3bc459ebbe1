"""The purchase reward of upstream WebShop (``engine/goal.py`` ``get_reward``), without spaCy.

``R = r_type * (n_att + n_opt + r_price) / (|A| + |O| + 1)`` where

- ``n_att``: goal attributes matched by a product attribute (fuzzy token-set score > 85) or found as a
  substring of the lower-cased title, bullet points or description;
- ``n_opt``: goal options matched (score > 85) by a chosen option value, after colour normalisation;
- ``r_price``: 1 when the purchase price is at most the goal's ``price_upper``;
- ``r_type``: 1, lowered to 0.5 when neither the query, two product-category levels nor more than 20% of
  the goal title's nouns match, to 0.1 when fewer than 10% of those nouns match, to 0 when none do.

Fuzzy matching is thefuzz 0.19's ``token_set_ratio`` with its difflib backend (what upstream's pins
resolve to), reimplemented here: :func:`token_set_ratio`.

Title nouns: upstream tags titles with spaCy at purchase time. Here they come from a
:class:`TitleNouns` table: a precomputed file (``{"nouns": {ASIN: [...]}}``, e.g. the one made with
en_core_web_sm 3.8.0) when given, otherwise our deterministic extractor (:func:`heuristic_nouns`,
recorded as ``"heuristic-v1"``), which only approximates spaCy.

Option matching has upstream's quirk by default (``options_mode="upstream"``): for synthetic goals the
goal options are passed as ``(name, value)`` pairs, so colour normalisation only applies when a whole
element equals a colour word, and the fuzzy match compares against the text ``"name value"``.
``options_mode="values"`` compares goal option values instead (a documented fix; changes rewards).

Deviation: a goal with no attributes gives ``r_att = None`` (upstream divides by zero).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from difflib import SequenceMatcher
from functools import lru_cache
from typing import Any

__all__ = [
    "COLOR_WORDS",
    "TitleNouns",
    "heuristic_nouns",
    "normalize_color",
    "score_purchase",
    "token_set_ratio",
]

# The colour vocabulary of upstream's option normalisation, in the order it is tried.
COLOR_WORDS = (
    "alabaster apricot aqua ash asphalt azure banana beige black blue blush bordeaux bronze brown burgundy "
    "camel camo caramel champagne charcoal cheetah chestnut chocolate christmas coffee cognac copper coral "
    "cranberry cream crystal dark denim eggplant elephant espresso fuchsia gold granite grape graphite grass "
    "gray green grey heather indigo ivory ivy khaki lavender lemon leopard light lilac lime magenta maroon "
    "mauve merlot midnight mint mocha multicolor mushroom mustard natural navy nude olive orange peach pewter "
    "pink plum purple rainbow red rose royal rust sand sapphire seashell silver skull slate steel stone "
    "stonewash sunflower tan taupe teal tiger turquoise violet walnut wheat white wine yellow"
).split()

MATCH_THRESHOLD = 85

_LATIN1 = {c: None for c in range(128, 256)}
_NON_WORD = re.compile(r"(?ui)\W")


def _process(s: Any) -> str:
    """thefuzz ``full_process(force_ascii=True)``: stringify, drop U+0080-U+00FF, blank non-word, lower, strip."""
    s = s if isinstance(s, str) else str(s)
    return _NON_WORD.sub(" ", s.translate(_LATIN1)).lower().strip()


def _ratio(a: str, b: str) -> int:
    if a == b:
        return 100
    if not a or not b:
        return 0
    return round(100 * SequenceMatcher(None, a, b).ratio())  # Python rounds half to even, like thefuzz


@lru_cache(maxsize=65536)
def _token_set_ratio_cached(a: str, b: str) -> int:
    p1, p2 = _process(a), _process(b)
    if not p1 or not p2:
        return 0
    t1, t2 = set(p1.split()), set(p2.split())
    inter = " ".join(sorted(t1 & t2))
    c12 = (inter + " " + " ".join(sorted(t1 - t2))).strip()
    c21 = (inter + " " + " ".join(sorted(t2 - t1))).strip()
    inter = inter.strip()
    return max(_ratio(inter, c12), _ratio(inter, c21), _ratio(c12, c21))


def token_set_ratio(a: Any, b: Any) -> int:
    """thefuzz 0.19 ``fuzz.token_set_ratio`` (difflib backend): an int in [0, 100]; None gives 0."""
    if a is None or b is None:
        return 0
    return _token_set_ratio_cached(a if isinstance(a, str) else str(a), b if isinstance(b, str) else str(b))


def normalize_color(value: Any) -> Any:
    """Upstream ``normalize_color``: the first colour word ``in`` the value replaces it.

    For a string this is a substring test (``"light blue"`` -> ``"blue"``); for a tuple it tests
    element equality (the upstream quirk for synthetic goal options).
    """
    for color in COLOR_WORDS:
        if color in value:
            return color
    return value


_STOP = frozenset(
    "a an and are as at be by for from in into is it its of on or the to with without & + - x "
    "this that these those your you our my his her their we us he she they new".split()
)
_ADJ_SUFFIXES = ("ful", "ous", "ive", "able", "ible", "less", "ish")
_WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*")


def heuristic_nouns(title: str) -> list[str]:
    """Our deterministic stand-in for spaCy's NOUN/PROPN tokens of a product title (``heuristic-v1``).

    Lower-cased word tokens minus function words, tokens with digits and common adjective suffixes.
    """
    out = []
    for tok in _WORD.findall(title.lower()):
        if tok in _STOP or any(ch.isdigit() for ch in tok) or len(tok) < 2:
            continue
        if tok.endswith(_ADJ_SUFFIXES) and len(tok) > 5:
            continue
        out.append(tok)
    return out


class TitleNouns:
    """Title nouns per ASIN: a precomputed table with our heuristic as fallback for missing ASINs."""

    def __init__(self, table: Mapping[str, list[str]] | None = None, source: str = "heuristic-v1") -> None:
        self.table = dict(table or {})
        self.source = source

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> TitleNouns:
        """Load ``{"model": ..., "nouns": {ASIN: [tokens]}}`` (or a bare ``{ASIN: [tokens]}`` mapping)."""
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        table = data.get("nouns", data) if isinstance(data, dict) else None
        if not isinstance(table, dict):
            raise ValueError(f"{path}: expected a JSON object mapping ASIN to a list of nouns")
        return cls(table, source=str(data.get("model", path)) if isinstance(data, dict) else str(path))

    def nouns(self, asin: str | None, title: str) -> list[str]:
        if asin is not None and asin in self.table:
            return list(self.table[asin])
        return heuristic_nouns(title)


_DEFAULT_NOUNS = TitleNouns()


def _type_reward(product: Mapping[str, Any], goal: Mapping[str, Any], nouns: TitleNouns) -> dict[str, Any]:
    query_match = product.get("query") == goal.get("query")
    pc = {x.strip() for x in str(product.get("product_category") or "").split("›")}
    gc = {x.strip() for x in str(goal.get("product_category") or "").split("›")}
    category_match = len(pc & gc) >= 2
    bought = nouns.nouns(product.get("asin"), str(product.get("name") or product.get("Title") or ""))
    wanted = nouns.nouns(goal.get("asin"), str(goal.get("name") or ""))
    title_score = 0.2 if not wanted else len(set(bought) & set(wanted)) / len(wanted)
    r_type = 1.0
    if not (query_match or category_match or title_score > 0.2):
        r_type = 0.5
    if title_score < 0.1:
        r_type = 0.1
    if title_score == 0.0:
        r_type = 0.0
    return {"r_type": r_type, "query_match": query_match, "category_match": category_match, "title_score": title_score}


def _attribute_matches(product: Mapping[str, Any], goal_attrs: Iterable[str]) -> int:
    p_attrs = product.get("Attributes") or []
    title = str(product.get("Title") or "").lower()
    bullets = " ".join(product.get("BulletPoints") or []).lower()
    desc = str(product.get("Description") or "").lower()
    n = 0
    for g in goal_attrs:
        if any(token_set_ratio(p, g) > MATCH_THRESHOLD for p in p_attrs):
            n += 1
        elif g in title or g in bullets or g in desc:
            n += 1
    return n


def _option_matches(chosen: Iterable[Any], wanted: Iterable[Any]) -> int:
    chosen_n = [normalize_color(v) for v in chosen]
    n = 0
    for g in (normalize_color(o) for o in wanted):
        if any(token_set_ratio(v, g) > MATCH_THRESHOLD for v in chosen_n):
            n += 1
    return n


def score_purchase(
    product: Mapping[str, Any],
    goal: Mapping[str, Any],
    price: float,
    options: Mapping[str, str],
    nouns: TitleNouns | None = None,
    options_mode: str = "upstream",
) -> tuple[float, dict[str, Any]]:
    """Reward in [0, 1] for buying ``product`` at ``price`` dollars with chosen ``options``.

    ``goal`` has upstream's goal fields (``asin, name, query, product_category, attributes,
    goal_options, price_upper``). Returns ``(R, info)`` with upstream's verbose fields
    (``r_type, r_att, w_att, query_match, category_match, title_score``, ``r_option, w_option`` when
    the goal has options, ``r_price, w_price``).
    """
    if options_mode not in ("upstream", "values"):
        raise ValueError(f"options_mode must be 'upstream' or 'values', not {options_mode!r}")
    nouns = nouns or _DEFAULT_NOUNS
    type_info = _type_reward(product, goal, nouns)
    attrs = list(goal.get("attributes") or [])
    goal_options = goal.get("goal_options") or []
    if isinstance(goal_options, Mapping):
        wanted: list[Any] = list(goal_options.items()) if options_mode == "upstream" else list(goal_options.values())
    else:
        wanted = list(goal_options)
    n_att = _attribute_matches(product, attrs)
    n_opt = _option_matches(list(options.values()), wanted)
    r_price = float(price) <= float(goal["price_upper"])
    denom = len(attrs) + len(wanted) + 1
    reward = (n_att + n_opt + int(r_price)) / denom * type_info["r_type"]
    info: dict[str, Any] = {
        "r_type": type_info["r_type"],
        "r_att": n_att / len(attrs) if attrs else None,
        "w_att": len(attrs) / denom,
        "query_match": type_info["query_match"],
        "category_match": type_info["category_match"],
        "title_score": type_info["title_score"],
    }
    if wanted:
        info["r_option"] = n_opt / len(wanted)
        info["w_option"] = len(wanted) / denom
    info["r_price"] = r_price
    info["w_price"] = 1 / denom
    return float(reward), info
