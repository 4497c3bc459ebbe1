"""Shopping sessions: isolated per id, bounded in number, expired when idle, closable.

Upstream keeps every session forever in a module-level dict. Here a :class:`SessionStore` holds at
most ``max_sessions`` sessions and drops sessions idle for more than ``ttl`` seconds; ``close`` removes
one at once. When the store is full, a new session evicts the least recently used session that has
been idle for at least ``idle_after`` seconds; if every session was used more recently than that (an
active episode, or a flood of new ids), the new session is refused with :class:`StoreFull` instead, so
browsing new ids can never push out a running episode. Each session has its own lock, so concurrent
requests on one session are serialised while different sessions run in parallel.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Session", "SessionInUse", "SessionStore", "StoreFull", "UnknownSession"]


class UnknownSession(KeyError):
    """No live session has this id (never created, closed, or expired)."""


class SessionInUse(KeyError):
    """A session with this id exists already (and is not the one being replaced)."""


class StoreFull(RuntimeError):
    """``max_sessions`` live sessions, none idle long enough to evict: the server answers 503."""


@dataclass
class Session:
    """Navigation state of one session (what upstream keeps in ``user_sessions`` and the text env)."""

    sid: str
    goal_index: int
    goal: dict[str, Any]
    seed: int | None = None
    kind: str = "search"  # current page kind
    keywords: list[str] | None = None
    page: int = 1
    asin: str | None = None
    options: dict[str, str] = field(default_factory=dict)
    sub_page: str | None = None
    visited: set[str] = field(default_factory=set)
    done: bool = False
    reward: float = 0.0
    reward_info: dict[str, Any] | None = None
    bought: dict[str, Any] | None = None
    steps: int = 0  # JSON-API steps applied (the step number of the last one)
    last_step: Any = None  # (step number, action, page, valid) of the last JSON-API step, for repeats
    token: str | None = None  # owner's secret (sessions made through the JSON API); None: id only
    last_page: Any = None  # the page last shown (a servers.webshop.pages.Page), reused by actions
    last_seen: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


class SessionStore:
    """Thread-safe session table: idle expiry after ``ttl`` seconds; when full, eviction of the least
    recently used session idle for ``idle_after`` seconds or more (else :class:`StoreFull`)."""

    def __init__(self, ttl: float = 3600.0, max_sessions: int = 50_000, idle_after: float = 60.0) -> None:
        if ttl <= 0 or max_sessions <= 0 or idle_after < 0:
            raise ValueError("ttl and max_sessions must be positive, idle_after >= 0")
        self.ttl = ttl
        self.max_sessions = max_sessions
        self.idle_after = min(idle_after, ttl)
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._lock = threading.Lock()
        self._last_sweep = time.monotonic()
        self.expired = 0
        self.evicted = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)

    def __contains__(self, sid: str) -> bool:
        with self._lock:
            return sid in self._sessions

    def get(self, sid: str) -> Session:
        """The live session ``sid`` (marked as used now); raises :class:`UnknownSession`."""
        now = time.monotonic()
        with self._lock:
            self._sweep(now)
            s = self._sessions.get(sid)
            if s is None or now - s.last_seen > self.ttl:
                if s is not None:
                    del self._sessions[sid]
                    self.expired += 1
                raise UnknownSession(sid)
            s.last_seen = now
            self._sessions.move_to_end(sid)
            return s

    def add(self, session: Session, replace: Session | None = None) -> Session:
        """Insert a new session, or put ``session`` in the place of ``replace`` (a restart).

        Raises :class:`SessionInUse` when another session holds the id, and :class:`StoreFull` when
        the store is full and no session is idle enough to evict (nothing is evicted then).
        """
        now = time.monotonic()
        with self._lock:
            self._sweep(now)
            held = self._sessions.get(session.sid)
            if held is not None and held is not replace:
                raise SessionInUse(session.sid)
            if held is None and len(self._sessions) >= self.max_sessions:
                _, oldest = next(iter(self._sessions.items()))  # LRU order: the oldest is the most idle
                if now - oldest.last_seen < self.idle_after:
                    raise StoreFull(
                        f"the server holds its maximum of {self.max_sessions} sessions and none has been idle "
                        f"for {self.idle_after:g} s; retry later or close finished sessions"
                    )
                self._sessions.popitem(last=False)
                self.evicted += 1
            session.last_seen = now
            self._sessions[session.sid] = session
            self._sessions.move_to_end(session.sid)
            return session

    def close(self, sid: str) -> bool:
        """Remove ``sid``; True when it existed."""
        with self._lock:
            return self._sessions.pop(sid, None) is not None

    def _sweep(self, now: float) -> None:
        # amortised: at most every ttl/10 seconds, drop idle sessions from the LRU end
        if now - self._last_sweep < min(self.ttl / 10, 60.0):
            return
        self._last_sweep = now
        while self._sessions:
            sid, s = next(iter(self._sessions.items()))
            if now - s.last_seen <= self.ttl:
                break
            del self._sessions[sid]
            self.expired += 1
