"""The shop engine: catalogue + search + goals + reward + sessions, navigated by URL or by action.

Both front ends of :mod:`servers.webshop.app` go through :class:`Shop`: the upstream URL routes
(``visit_*`` and ``buy``) and the text-environment actions (``step`` with ``search[...]`` /
``click[...]``). Every navigation updates the session and returns a :class:`~servers.webshop.pages.Page`.

Sessions made through the JSON API (:meth:`Shop.start`) have an owner's token: only its holder may
restart, step or close them. A purchase ends a session's episode for good: later navigation is a
:class:`Conflict` that changes nothing. JSON-API steps may carry their step number (:meth:`Shop.step`):
a repeated number answers the stored result instead of applying the action twice.

Action semantics are upstream's ``WebAgentTextEnv.step``: ``name[arg]`` parsed greedily from the
start (text after the final ``]`` ignored), ``arg`` lower-cased; ``search[kw]`` works on any page;
``click[x]`` needs ``x`` among the page's clickables (and not ``search``); anything else is a no-op
that returns the same page with reward 0. Going back to a results page clears the chosen product and
options; ``back to search`` also clears the keywords and the visited set; the goal is kept.
"""

from __future__ import annotations

import dataclasses
import hmac
import random
import re
import secrets
import threading
from collections import OrderedDict
from typing import Any

from . import pages as P
from .catalog import Catalog
from .goals import GoalSet
from .reward import TitleNouns, score_purchase
from .search import SearchIndex
from .sessions import Session, SessionInUse, SessionStore, UnknownSession
from .urls import SUB_PAGES, BadRequest, check_text

__all__ = ["ACTION_PATTERN", "MAX_ACTION_CHARS", "Conflict", "Forbidden", "NotFound", "Shop"]

TOP_K = 50
PER_PAGE = 10
#: Longest action ``POST /api/sessions/<sid>/step`` takes, in characters.
MAX_ACTION_CHARS = 2000
#: An action is ``name[arg]``: this pattern matched from the start (``re.DOTALL``); text after the last
#: ``]`` is ignored; ``search[...]`` on any page, ``click[...]`` on a clickable of the page.
ACTION_PATTERN = r"(.+)\[(.+)\]"
_ACTION_RE = re.compile(ACTION_PATTERN, re.DOTALL)


class NotFound(LookupError):
    """An unknown session, product or goal: the server answers 404 with this message."""


class Conflict(RuntimeError):
    """The request conflicts with the session's state (in use, finished, step out of order): 409."""


class Forbidden(PermissionError):
    """The session belongs to another client (missing or wrong session token): 403."""


class Shop:
    """Everything one WebShop server needs, shared by all sessions (thread-safe)."""

    def __init__(
        self,
        catalog: Catalog,
        index: SearchIndex,
        goals: GoalSet,
        nouns: TitleNouns | None = None,
        show_attrs: bool = False,
        session_ttl: float = 3600.0,
        max_sessions: int = 50_000,
        seed: int | None = None,
        session_idle: float = 60.0,
        options_mode: str = "upstream",
    ) -> None:
        if len(index.doc_ids) != len(catalog):
            raise ValueError("search index and catalogue have different sizes")
        self.catalog = catalog
        self.index = index
        self.goals = goals
        self.nouns = nouns or TitleNouns()
        self.show_attrs = show_attrs
        self.options_mode = options_mode
        self.sessions = SessionStore(ttl=session_ttl, max_sessions=max_sessions, idle_after=session_idle)
        self._rng = random.Random(seed)
        self._rng_lock = threading.Lock()
        self._search_cache: OrderedDict[tuple[str, ...], list[int]] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._facets: dict[str, dict[str, list[int]]] | None = None
        self._facets_lock = threading.Lock()

    # ------------------------------------------------------------------ search
    def search(self, keywords: list[str], rng: random.Random | None = None) -> list[int]:
        """Product indices for ``keywords`` (upstream ``get_top_n_product_from_keywords``).

        ``<r>``: 50 random products; ``<a> attr``: products with that attribute; ``<c> category``;
        ``<q> query``: products of that category / scraping query; otherwise BM25 top 50.
        """
        head = keywords[0] if keywords else ""
        if head == "<r>":
            r = rng or random.Random()
            return r.sample(range(len(self.catalog)), min(TOP_K, len(self.catalog)))
        if head in ("<a>", "<c>", "<q>"):
            facets = self._facet_maps()
            key = {"<a>": "attribute", "<c>": "category", "<q>": "query"}[head]
            value = keywords[1] if head == "<c>" and len(keywords) > 1 else " ".join(keywords[1:])
            return list(facets[key].get(value, []))
        query = " ".join(keywords)
        ck = tuple(keywords)
        with self._cache_lock:
            hit = self._search_cache.get(ck)
            if hit is not None:
                self._search_cache.move_to_end(ck)
                return hit
        result = [doc for doc, _ in self.index.search(query, TOP_K)]
        with self._cache_lock:
            self._search_cache[ck] = result
            if len(self._search_cache) > 4096:
                self._search_cache.popitem(last=False)
        return result

    def _facet_maps(self) -> dict[str, dict[str, list[int]]]:
        with self._facets_lock:
            if self._facets is None:
                attr: dict[str, list[int]] = {}
                cat: dict[str, list[int]] = {}
                qry: dict[str, list[int]] = {}
                for i in range(len(self.catalog)):
                    p = self.catalog.product(i)
                    for a in p.get("Attributes") or []:
                        attr.setdefault(a, []).append(i)
                    cat.setdefault(p.get("category", ""), []).append(i)
                    qry.setdefault(p.get("query", ""), []).append(i)
                self._facets = {"attribute": attr, "category": cat, "query": qry}
            return self._facets

    # ------------------------------------------------------------------ sessions
    def new_session(
        self,
        sid: str | None = None,
        goal: int | None = None,
        seed: int | None = None,
        token: str | None = None,
        replace: Session | None = None,
    ) -> Session:
        """Create session ``sid`` (a random id when ``None``) with goal index ``goal``, or one drawn by
        weight; ``replace``: the session it restarts. ``seed`` makes the weighted draw (and ``<r>``
        searches) reproducible; ``token`` is the owner's secret. Raises :class:`Conflict` when another
        session holds ``sid``."""
        if sid is None:
            sid = secrets.token_hex(16)
        if len(self.goals) == 0:
            raise NotFound("this catalogue has no goals (no instructions were loaded)")
        if goal is None:
            if seed is not None:
                goal = self.goals.sample(random.Random(seed))
            else:
                with self._rng_lock:
                    goal = self.goals.sample(self._rng)
        if not 0 <= goal < len(self.goals):
            raise NotFound(f"goal index {goal} out of range [0, {len(self.goals)})")
        g = self.goals[goal].as_dict()
        try:
            return self.sessions.add(Session(sid=sid, goal_index=goal, goal=g, seed=seed, token=token), replace)
        except SessionInUse:
            raise Conflict(f"session {sid!r} is in use (it was just created by another request)") from None

    def start(
        self, sid: str | None, goal: int | None, seed: int | None, token: str | None, reset: bool
    ) -> Session:
        """``POST /api/sessions``: a new owned session, or the restart of the caller's own session.

        An existing ``sid`` is restarted only with ``reset`` and its token; otherwise :class:`Conflict`
        (nobody can restart someone else's episode). ``token`` ``None``: a new random token.
        """
        if sid is not None:
            try:
                held: Session | None = self.sessions.get(sid)
            except UnknownSession:
                held = None
            if held is not None:
                if not (reset and held.token is not None and self.owns(held, token)):
                    raise Conflict(
                        f"session {sid!r} is in use; only its owner can restart it, with \"reset\": true "
                        "and its session token"
                    )
                with held.lock:
                    return self.new_session(sid, goal=goal, seed=seed, token=held.token, replace=held)
        return self.new_session(sid, goal=goal, seed=seed, token=token or secrets.token_urlsafe(24))

    @staticmethod
    def owns(s: Session, token: str | None) -> bool:
        """True when ``token`` may act on ``s`` (sessions made on the HTML site have no token)."""
        if s.token is None:
            return True
        return token is not None and hmac.compare_digest(s.token.encode(), token.encode())

    def owned(self, sid: str, token: str | None) -> Session:
        """The live session ``sid`` if ``token`` may act on it, else :class:`Forbidden`/:class:`NotFound`."""
        s = self.session(sid)
        if not self.owns(s, token):
            raise Forbidden(f"session {sid!r} belongs to another client (send its X-WebShop-Token header)")
        return s

    def session(self, sid: str, create: bool = False) -> Session:
        """The live session ``sid``; with ``create``, a new one as upstream's site makes it.

        A new id containing ``fixed`` (e.g. ``fixed_12``) gets the goal after the last ``_``.
        """
        try:
            return self.sessions.get(sid)
        except UnknownSession:
            if not create:
                raise NotFound(f"unknown session {sid!r} (never started, closed or expired)") from None
        goal = None
        if "fixed" in sid:
            tail = sid.rsplit("_", 1)[-1]
            if not tail.isdigit():
                raise BadRequest(f"session id {sid!r} contains 'fixed' but does not end in _<goal number>")
            goal = int(tail)
        try:
            return self.new_session(sid, goal=goal)
        except Conflict:  # created by a concurrent request a moment ago
            try:
                return self.sessions.get(sid)
            except UnknownSession:
                raise Conflict(f"session {sid!r} was created and closed by concurrent requests; retry") from None

    def close(self, sid: str, token: str | None = None) -> None:
        self.owned(sid, token)
        if not self.sessions.close(sid):
            raise NotFound(f"unknown session {sid!r}")

    @staticmethod
    def check_open(s: Session) -> None:
        if s.done:
            raise Conflict(
                f"session {s.sid!r} ended with a purchase (reward {s.reward:g}); nothing more can happen in it: "
                "start a new session (or restart yours with \"reset\": true)"
            )

    # ------------------------------------------------------------------ pages
    def _product_index(self, asin: str) -> int:
        i = self.catalog.index_of(asin)
        if i is None:
            raise NotFound(f"unknown product {asin!r}")
        return i

    def _check_options(self, product: dict[str, Any], options: dict[str, str]) -> None:
        available = product.get("options") or {}
        for name, value in options.items():
            if name not in available:
                raise BadRequest(f"product {product['asin']} has no option {name!r}")
            if value not in available[name]:
                raise BadRequest(f"{value!r} is not a value of option {name!r} of product {product['asin']}")

    def _state(self, s: Session) -> dict[str, Any]:
        return {
            "session_id": s.sid,
            "goal_index": s.goal_index,
            "instruction_text": s.goal["instruction_text"],
            "session_done": s.done,
            "session_reward": s.reward,
        }

    def _finish(self, s: Session, page: P.Page) -> P.Page:
        page.state = self._state(s)
        s.kind = page.kind
        s.last_page = page
        return page

    def visit_search(self, s: Session) -> P.Page:
        self.check_open(s)
        s.keywords, s.asin, s.options, s.sub_page, s.page = None, None, {}, None, 1
        s.visited = set()
        return self._finish(s, P.search_page(s.sid, s.goal["instruction_text"]))

    def visit_results(self, s: Session, keywords: list[str], page: int) -> P.Page:
        self.check_open(s)
        hits = self.search(keywords, rng=random.Random(s.seed) if s.seed is not None else None)
        shown = [self.catalog.product(i) for i in hits[(page - 1) * PER_PAGE : page * PER_PAGE]]
        s.keywords, s.page, s.asin, s.options, s.sub_page = list(keywords), page, None, {}, None
        return self._finish(
            s, P.results_page(s.sid, s.goal["instruction_text"], keywords, page, len(hits), shown, s.visited)
        )

    def visit_item(self, s: Session, asin: str, keywords: list[str], page: int, options: dict[str, str]) -> P.Page:
        self.check_open(s)
        product = self.catalog.product(self._product_index(asin))
        self._check_options(product, options)
        s.keywords, s.page, s.asin, s.options, s.sub_page = list(keywords), page, asin, dict(options), None
        s.visited.add(asin)
        return self._finish(
            s, P.item_page(s.sid, s.goal["instruction_text"], product, keywords, page, options, self.show_attrs)
        )

    def visit_sub(
        self, s: Session, asin: str, keywords: list[str], page: int, sub: str, options: dict[str, str]
    ) -> P.Page:
        self.check_open(s)
        if sub not in SUB_PAGES or (sub == "Attributes" and not self.show_attrs):
            shown = ", ".join(SUB_PAGES if self.show_attrs else SUB_PAGES[:3])
            raise BadRequest(f"unknown sub page {sub!r} (one of {shown})")
        product = self.catalog.product(self._product_index(asin))
        self._check_options(product, options)
        s.keywords, s.page, s.asin, s.options, s.sub_page = list(keywords), page, asin, dict(options), sub
        return self._finish(s, P.sub_page(s.sid, s.goal["instruction_text"], product, keywords, page, sub, options))

    def buy(self, s: Session, asin: str, options: dict[str, str]) -> P.Page:
        if s.done and s.bought is not None and (s.bought["asin"], s.bought["options"]) == (asin, options):
            return self.current_page(s)  # the purchase's own page again (a reload): nothing changes
        self.check_open(s)
        i = self._product_index(asin)
        product = self.catalog.product(i)
        self._check_options(product, options)
        reward, info = score_purchase(
            product, s.goal, self.catalog.price(i), options, nouns=self.nouns, options_mode=self.options_mode
        )
        s.done, s.reward, s.reward_info = True, reward, info
        s.bought = {"asin": asin, "options": dict(options), "price": self.catalog.price(i)}
        s.asin, s.options = asin, dict(options)
        return self._finish(s, P.done_page(s.sid, asin, options, reward, info))

    def current_page(self, s: Session) -> P.Page:
        """The session's current page (the last one shown; re-rendered if there is none)."""
        if s.last_page is not None:
            return s.last_page
        if s.kind == "results" and s.keywords is not None:
            return self.visit_results(s, s.keywords, s.page)
        if s.kind == "item" and s.asin is not None and s.keywords is not None:
            return self.visit_item(s, s.asin, s.keywords, s.page, s.options)
        if s.kind == "item_sub" and s.asin is not None and s.keywords is not None and s.sub_page:
            return self.visit_sub(s, s.asin, s.keywords, s.page, s.sub_page, s.options)
        if s.kind == "done" and s.bought is not None:
            page = P.done_page(s.sid, s.bought["asin"], s.bought["options"], s.reward, s.reward_info or {})
            return self._finish(s, page)
        return self._finish(s, P.search_page(s.sid, s.goal["instruction_text"]))

    # ------------------------------------------------------------------ actions
    def step(self, s: Session, action: str, number: int | None = None) -> tuple[P.Page, bool, bool]:
        """Apply a text-env action; returns ``(page, valid, repeated)`` (an invalid action leaves the page).

        ``number``: the step number the caller expects this to be (1 after a reset). The session's
        last step number again, with the same action, answers that step's stored result
        (``repeated``) without applying anything; any other number but the next one is a
        :class:`Conflict`. ``None``: applied as the next step, unchecked.
        """
        check_text(action, "the action")
        if len(action) > MAX_ACTION_CHARS:
            raise BadRequest(f"action longer than {MAX_ACTION_CHARS} characters")
        if number is not None:
            last = s.last_step
            if last is not None and number == last[0]:
                if action != last[1]:
                    raise Conflict(f"step {number} was already taken with another action ({last[1][:80]!r})")
                return last[2], last[3], True
            if number != s.steps + 1:
                raise Conflict(f"step {number} is out of order: the next step of session {s.sid!r} is {s.steps + 1}")
        self.check_open(s)
        page, valid = self._apply(s, action)
        s.steps += 1
        s.last_step = (s.steps, action, page, valid)
        return page, valid, False

    def _apply(self, s: Session, action: str) -> tuple[P.Page, bool]:
        m = _ACTION_RE.match(action)
        current = self.current_page(s)
        if m is None:
            return self._noop(current), False
        name, arg = m.group(1), m.group(2).lower()
        if name == "search" and arg:
            return self.visit_results(s, arg.split(" "), 1), True
        if name != "click" or arg == "search":
            return self._noop(current), False
        target = current.clickable_map().get(arg)
        if target is None:
            return self._noop(current), False
        return self._click(s, current, target), True

    @staticmethod
    def _noop(page: P.Page) -> P.Page:
        # a copy: the session's current page keeps its own reward and done flag
        return dataclasses.replace(page, reward=0.0, done=False, reward_info=None)

    def _click(self, s: Session, current: P.Page, node: P.Node) -> P.Page:
        label = node.text.lower()
        kw = s.keywords or []
        if node.kind == "link":
            return self.visit_item(s, node.value.upper(), kw, s.page, {})
        if node.kind == "option" and s.asin is not None:
            return self.visit_item(s, s.asin, kw, s.page, {**s.options, node.group.lower(): node.value})
        if label == "back to search":
            return self.visit_search(s)
        if label == "buy now" and s.asin is not None:
            return self.buy(s, s.asin, s.options)
        if label == "next >":
            return self.visit_results(s, kw, s.page + 1)
        if label == "< prev":
            if current.kind == "results":
                return self.visit_results(s, kw, max(s.page - 1, 1))
            if current.kind == "item_sub" and s.asin is not None:
                return self.visit_item(s, s.asin, kw, s.page, s.options)
            return self.visit_results(s, kw, s.page)
        if current.kind == "item" and s.asin is not None and node.text in SUB_PAGES:
            return self.visit_sub(s, s.asin, kw, s.page, node.text, s.options)
        return self._noop(current)
