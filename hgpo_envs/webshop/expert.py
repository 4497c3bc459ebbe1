"""A scripted WebShop oracle: the next action towards the goal product, from the current page.

It knows the goal record (target ASIN, name, options, price ceiling) and plays:

1. on the search page: ``search[<instruction>]``;
2. on a results page of that search: open the target when it is listed; otherwise page on with
   ``next >`` while later pages hold products; once every page of the (at most 50) results has been
   seen without the target, open the best candidate seen (most title words shared with the goal
   product's name, then within the price ceiling, then search rank), going back with ``< prev`` to
   the page that lists it;
3. on the chosen product's page: choose each goal option the page offers and has not chosen yet
   (``click[<value>]``), then ``click[buy now]``;
4. anywhere else (another product, a sub page, results of another query): go back (``< prev`` or
   ``back to search``).

Every action it proposes is among the page's admissible commands. It needs no server access: the
pages seen so far in the episode are all it remembers (:meth:`Oracle.observe`).
"""

from __future__ import annotations

import math
import re
from typing import Any

from hgpo_envs.webshop.page import PageView, result_candidates

__all__ = ["Oracle"]

_WORD = re.compile(r"[a-z0-9]+")
_PRICE = re.compile(r"\$\s*([0-9]+(?:\.[0-9]+)?)")
PER_PAGE = 10


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def _price(text: str) -> float:
    m = _PRICE.search(text)
    return float(m.group(1)) if m else math.inf


class Oracle:
    """Scripted expert for one episode of one goal.

    Args:
        goal: the goal record (``asin``, ``name``, ``instruction_text``, ``goal_options`` (a dict of
            option name -> value for synthetic goals, a list of values for human goals),
            ``price_upper``).
    """

    def __init__(self, goal: dict[str, Any]) -> None:
        self.goal = goal
        self.instruction = goal["instruction_text"]
        self.query = self.instruction.lower().split(" ")
        self.target = str(goal["asin"]).lower()
        self.name_words = _words(goal.get("name") or "")
        self.price_upper = float(goal.get("price_upper") or math.inf)
        # results of the instruction query: page number -> [(asin, title, price text)]
        self.seen: dict[int, list[tuple[str, str, str]]] = {}
        self.total: int | None = None

    def observe(self, view: PageView) -> None:
        """Remember the products of a results page of the instruction query."""
        if view.kind == "results" and view.keywords == self.query and view.page_number is not None:
            self.seen[view.page_number] = result_candidates(view)
            self.total = view.total_results()

    # ------------------------------------------------------------------ choice of product
    def _pages(self) -> int:
        return max(1, math.ceil((self.total or 0) / PER_PAGE))

    def _exhausted(self) -> bool:
        return self.total is not None and all(p in self.seen for p in range(1, self._pages() + 1))

    def _target_page(self) -> int | None:
        for p, items in sorted(self.seen.items()):
            if any(a == self.target for a, _, _ in items):
                return p
        return None

    def best_candidate(self) -> tuple[str, int] | None:
        """``(asin, page)`` of the best product seen for the instruction query, or ``None``."""
        best: tuple[tuple[float, int, int], str, int] | None = None
        rank = 0
        for p, items in sorted(self.seen.items()):
            for asin, title, price in items:
                overlap = len(self.name_words & _words(title)) / max(len(self.name_words), 1)
                key = (overlap, int(_price(price) <= self.price_upper), -rank)
                if best is None or key > best[0]:
                    best = (key, asin, p)
                rank += 1
        return (best[1], best[2]) if best else None

    def chosen(self) -> tuple[str, int] | None:
        """The product to buy and its results page: the target when listed, else (once every results
        page has been seen) the best candidate; ``None`` while undecided."""
        page = self._target_page()
        if page is not None:
            return self.target, page
        return self.best_candidate() if self._exhausted() else None

    # ------------------------------------------------------------------ actions
    def _option_clicks(self, view: PageView) -> str | None:
        chosen_values = set(view.options.values())
        wanted = self.goal.get("goal_options") or {}
        pairs = wanted.items() if isinstance(wanted, dict) else [(None, v) for v in wanted]
        for name, value in pairs:
            v = str(value).lower()
            if name is not None and view.options.get(str(name).lower()) == v:
                continue
            if v in chosen_values or v not in view.clickables:
                continue
            return f"click[{v}]"
        return None

    def next_action(self, view: PageView) -> str | None:
        """The oracle's next action on ``view`` (``None`` on the done page)."""
        self.observe(view)
        if view.done or view.kind == "done":
            return None
        if view.kind == "search":
            return f"search[{self.instruction}]"
        if view.kind == "results":
            return self._on_results(view)
        if view.kind == "item":
            pick = self.chosen()
            if view.asin is not None and (view.asin.lower() == self.target or (pick and view.asin.lower() == pick[0])):
                return self._option_clicks(view) or "click[buy now]"
            return "click[< prev]"
        return "click[< prev]"  # a sub page: back to its product

    def _on_results(self, view: PageView) -> str:
        if view.keywords != self.query:
            return "click[back to search]"
        if self.target in view.clickables:
            return f"click[{self.target}]"
        here = view.page_number or 1
        pick = self.chosen()
        if pick is None:
            if here < self._pages() and "next >" in view.clickables:
                return "click[next >]"
            # pages before this one were skipped (the agent jumped ahead): go back to see them
            return "click[< prev]" if "< prev" in view.clickables else "click[back to search]"
        asin, page = pick
        if page == here and asin in view.clickables:
            return f"click[{asin}]"
        if page < here and "< prev" in view.clickables:
            return "click[< prev]"
        return "click[next >]"
