"""A keep-alive JSON client for the WebShop server's API (``servers/webshop/app.py``), over HTTP only.

One :class:`WebShopClient` holds one persistent ``http.client`` connection (no ``requests``: its
per-request proxy and netrc look-ups cost more than the server's own work on a loopback step). Every
call has a timeout; failures become one of three exceptions with a message that names the server:

- :class:`ServerUnavailable`: nothing answers (refused, reset, timed out);
- :class:`SessionLost`: the server answers but no longer knows the session (restarted, expired, closed);
- :class:`ServerError`: any other error status (the server's own message is kept).

A request that fails on a *reused* connection because the server had closed it (the classic
keep-alive race, or a connection dropped after the server answered) is retried once on a fresh
connection; nothing else is retried here. Retrying a step is safe because steps are numbered: the
server answers a repeated step number with the stored result instead of applying the action again.

A client made with a ``token`` sends it (``X-WebShop-Token``) with every request: it owns the
sessions it starts, and only it may step, restart, read or close them.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
from typing import Any
from urllib.parse import quote, urlsplit

__all__ = ["ServerError", "ServerUnavailable", "SessionLost", "WebShopClient", "WebShopError"]

_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, ConnectionAbortedError)


class WebShopError(RuntimeError):
    """Base class of the client's errors."""


class ServerUnavailable(WebShopError):
    """The server did not answer (connection refused or reset, or a timeout)."""


class SessionLost(WebShopError):
    """The server does not know the session any more (it restarted, or the session expired or closed)."""


class ServerError(WebShopError):
    """The server answered with an error status; ``status`` is the HTTP code."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class _Stale(Exception):
    """A reused connection was found closed (internal: :meth:`WebShopClient._send` retries once)."""


class WebShopClient:
    """JSON calls to one WebShop server.

    Args:
        url: base URL, e.g. ``http://127.0.0.1:3000`` (http only; a path prefix is allowed).
        timeout: seconds allowed for connecting and for each read of one request.
        token: the owner's secret sent with every request (``None``: the server makes one per session).
    """

    TOKEN_HEADER = "X-WebShop-Token"

    def __init__(self, url: str, timeout: float = 30.0, token: str | None = None) -> None:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"WebShop server URL must look like http://HOST:PORT, got {url!r}")
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        self.url = f"http://{parts.netloc}{parts.path.rstrip('/')}"
        self.host = parts.hostname
        self.port = parts.port or 80
        self.prefix = parts.path.rstrip("/")
        self.timeout = float(timeout)
        self.token = token
        self._conn: http.client.HTTPConnection | None = None

    # ------------------------------------------------------------------ transport
    def _connection(self) -> tuple[http.client.HTTPConnection, bool]:
        if self._conn is not None:
            return self._conn, True
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        conn.connect()
        # small request/response pairs: do not wait for Nagle's algorithm
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._conn = conn
        return conn, False

    def close(self) -> None:
        """Drop the connection (a later call opens a new one)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _send(self, method: str, path: str, data: bytes | None, accept: str) -> tuple[int, bytes]:
        headers = {"Accept": accept}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if self.token is not None:
            headers[self.TOKEN_HEADER] = self.token
        try:
            return self._exchange(method, path, data, headers)
        except _Stale as stale:  # the server closed a reused connection: once more, on a fresh one
            try:
                return self._exchange(method, path, data, headers, retry=True)
            except _Stale as again:
                raise ServerUnavailable(
                    f"WebShop server at {self.url} dropped {method} {path}: {again.__cause__!r}"
                ) from stale.__cause__

    def _exchange(
        self, method: str, path: str, data: bytes | None, headers: dict[str, str], retry: bool = False
    ) -> tuple[int, bytes]:
        reused = False
        try:
            conn, reused = self._connection()
            conn.request(method, self.prefix + path, body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
            if resp.will_close:
                self.close()
            return resp.status, raw
        except _STALE as exc:
            self.close()
            if reused or retry:
                raise _Stale() from exc
            raise ServerUnavailable(f"WebShop server at {self.url} dropped {method} {path}: {exc!r}") from exc
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            what = "timed out" if isinstance(exc, TimeoutError) else "is unreachable"
            raise ServerUnavailable(
                f"WebShop server at {self.url} {what} ({method} {path}, timeout {self.timeout:g} s): {exc!r}"
            ) from exc

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        """One request; returns ``(status, decoded JSON body or None)``. Raises :class:`ServerUnavailable`."""
        data = json.dumps(body).encode("utf-8") if body is not None else None
        status, raw = self._send(method, path, data, "application/json")
        try:
            payload = json.loads(raw) if raw else None
        except ValueError as exc:
            raise ServerError(
                f"WebShop server at {self.url} sent non-JSON for {method} {path} (status {status})", status
            ) from exc
        return status, payload

    def html(self, path: str) -> str:
        """``GET path`` as ``text/html`` (a page's HTML view)."""
        status, raw = self._send("GET", path, None, "text/html")
        if status != 200:
            raise ServerError(f"WebShop server at {self.url}: GET {path} -> {status}", status)
        return raw.decode("utf-8", errors="replace")

    def call(self, method: str, path: str, body: dict[str, Any] | None = None, sid: str | None = None) -> Any:
        """A request that must succeed (2xx): returns the JSON body, else raises (see module doc)."""
        status, payload = self.request(method, path, body)
        if 200 <= status < 300:
            return payload
        message = payload.get("error") if isinstance(payload, dict) else None
        message = message or f"HTTP {status}"
        if status == 404 and sid is not None and "session" in message:
            raise SessionLost(f"WebShop server at {self.url} lost session {sid!r}: {message}")
        raise ServerError(f"WebShop server at {self.url}: {method} {path} -> {status}: {message}", status)

    # ------------------------------------------------------------------ API
    def health(self) -> dict[str, Any]:
        """``GET /health``: ``{"status": "ok", "products", "goals", "sessions"}``."""
        return self.call("GET", "/health")

    def wait_ready(self, timeout: float, process_alive: Any = None) -> dict[str, Any]:
        """Poll ``/health`` until it answers (at most ``timeout`` seconds). ``process_alive()``, when
        given, is checked between polls so a server process that died is reported at once."""
        deadline = time.monotonic() + timeout
        delay = 0.02
        while True:
            try:
                return self.health()
            except (ServerUnavailable, ServerError) as exc:
                if process_alive is not None and not process_alive():
                    raise ServerUnavailable(f"WebShop server process for {self.url} exited") from exc
                if time.monotonic() + delay > deadline:
                    raise ServerUnavailable(
                        f"WebShop server at {self.url} not ready after {timeout:g} s: {exc}"
                    ) from exc
                time.sleep(delay)
                delay = min(delay * 2, 0.5)

    def goals(self) -> dict[str, Any]:
        """``GET /api/goals``: ``{"count", "splits": {"test": [a, b], "train": [b, n]}}``."""
        return self.call("GET", "/api/goals")

    def info(self) -> dict[str, Any]:
        """``GET /api/info``: the server's settings and, under ``"protocol"``, the protocol's constants."""
        return self.call("GET", "/api/info")

    def start(self, goal: int, session_id: str | None = None, reset: bool = False) -> dict[str, Any]:
        """``POST /api/sessions``: a session on goal ``goal`` (``reset``: restart our own ``session_id``);
        page JSON plus ``"goal"`` (the record) and ``"session_token"``."""
        body: dict[str, Any] = {"goal": int(goal)}
        if session_id is not None:
            body["session_id"] = session_id
        if reset:
            body["reset"] = True
        return self.call("POST", "/api/sessions", body)

    def step(self, sid: str, action: str, number: int | None = None) -> dict[str, Any]:
        """``POST /api/sessions/<sid>/step``: page JSON plus ``"valid"``, ``"step"`` and ``"repeated"``.
        ``number``: the step number this is (1 after a reset), which makes resending it safe."""
        body: dict[str, Any] = {"action": action}
        if number is not None:
            body["step"] = int(number)
        return self.call("POST", f"/api/sessions/{quote(sid, safe='')}/step", body, sid=sid)

    def page(self, sid: str) -> dict[str, Any]:
        """``GET /api/sessions/<sid>``: the session's current page JSON (and its ``"step"`` count)."""
        return self.call("GET", f"/api/sessions/{quote(sid, safe='')}", sid=sid)

    def end(self, sid: str) -> None:
        """``DELETE /api/sessions/<sid>``; an unknown session or an unreachable server is ignored."""
        try:
            self.request("DELETE", f"/api/sessions/{quote(sid, safe='')}")
        except WebShopError:
            pass
