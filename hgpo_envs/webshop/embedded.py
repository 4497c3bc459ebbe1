"""Starting WebShop servers: :class:`EmbeddedServer`, the one launcher, and the shared embedded server.

:class:`EmbeddedServer` runs ``python -m servers.webshop serve`` as a subprocess (a process boundary:
no server code is imported here) on a free loopback port and waits until ``/health`` answers; tests
and benchmarks start their servers with it too. ``WebShopEnv(server_url=None)`` calls :func:`acquire`,
which hands out the same server to every environment of the process with the same
``server_options``; :func:`release` stops it when its last environment closes, and an ``atexit``
hook stops whatever is left. The child exits by itself when its parent dies (``--exit-on-stdin-eof``:
it watches its stdin pipe, which closes with the parent), so a killed trainer leaves no server behind.

``server_options`` keys are the ``serve`` flags with underscores: ``catalog``, ``instructions``,
``human_goals``, ``goals`` (synthetic|human), ``title_nouns``, ``index_dir``, ``workers``,
``synthetic_products``, ``synthetic_seed``, ``seed``, ``session_ttl``, ``max_sessions``,
``show_attrs`` (bool), ``options_mode``, ``max_connections``, ``request_timeout``, ``idle_timeout``,
``session_idle``, ``port`` (default 0: any free port). The host is always 127.0.0.1.
"""

from __future__ import annotations

import atexit
import collections
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from hgpo_envs.webshop.client import ServerUnavailable, WebShopClient

__all__ = ["EmbeddedServer", "acquire", "active_servers", "release", "shutdown_all"]

_SERVING = re.compile(r"webshop: serving on (http://\S+)")

#: How the launcher runs the server (``python -m servers.webshop serve``), before the option flags.
SERVE_COMMAND = ("-m", "servers.webshop", "serve", "--exit-on-stdin-eof")


def _flags(options: Mapping[str, Any]) -> list[str]:
    args = ["--host", "127.0.0.1"]
    port = options.get("port", 0)
    args += ["--port", str(int(port))]
    for name, value in sorted(options.items()):
        if name in ("port", "host") or value is None or value is False:
            continue
        flag = "--" + name.replace("_", "-")
        args += [flag] if value is True else [flag, os.fspath(value) if isinstance(value, os.PathLike) else str(value)]
    return args


class EmbeddedServer:
    """One running server subprocess; ``url`` is its base URL, ``refs`` the environments using it.

    Args:
        options: ``serve`` flags with underscores (module notes).
        startup_timeout: seconds allowed until ``/health`` answers (a first start on a large catalogue
            builds its search index).
        env: the child's environment (default: this process's).
        command: a whole command line to run instead of ``python -m servers.webshop serve`` and the
            option flags (e.g. the Docker image's); it must print ``webshop: serving on URL``.

    ``ready_seconds`` is the time from the start to the first ``/health`` answer. Use it as a context
    manager, or call :meth:`stop`.
    """

    def __init__(
        self,
        options: Mapping[str, Any] | None = None,
        startup_timeout: float = 120.0,
        *,
        env: Mapping[str, str] | None = None,
        command: Sequence[str] | None = None,
    ) -> None:
        self.options = dict(options or {})
        self.refs = 0
        self.owner_pid = os.getpid()
        self.log: collections.deque[str] = collections.deque(maxlen=200)
        self._url_found = threading.Event()
        self.url = ""
        started = time.perf_counter()
        argv = list(command) if command is not None else [sys.executable, *SERVE_COMMAND, *_flags(self.options)]
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=dict(env) if env is not None else None,
            text=True,
            errors="replace",
        )
        threading.Thread(target=self._drain, name="webshop-server-log", daemon=True).start()
        try:
            self._wait_started(startup_timeout)
        except BaseException:
            self.stop()
            raise
        self.ready_seconds = time.perf_counter() - started

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    @property
    def pid(self) -> int:
        return self.proc.pid

    def __enter__(self) -> EmbeddedServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _drain(self) -> None:
        for line in self.proc.stderr or ():
            self.log.append(line.rstrip())
            m = _SERVING.search(line)
            if m and not self._url_found.is_set():
                self.url = m.group(1)
                self._url_found.set()

    def tail(self) -> str:
        """The server's last stderr lines (for error messages)."""
        return "\n".join(self.log)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def _wait_started(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self._url_found.wait(0.05):
            if not self.alive():
                self._url_found.wait(0.5)  # let the log reader catch the last lines
                raise ServerUnavailable(
                    f"the embedded WebShop server exited with status {self.proc.returncode} while starting "
                    f"(options {self.options}):\n{self.tail()[-4000:]}"
                )
            if time.monotonic() > deadline:
                raise ServerUnavailable(
                    f"the embedded WebShop server did not start within {timeout:g} s:\n{self.tail()}"
                )
        client = WebShopClient(self.url, timeout=5.0)
        try:
            client.wait_ready(max(deadline - time.monotonic(), 1.0), process_alive=self.alive)
        finally:
            client.close()

    def stop(self, grace: float = 5.0) -> None:
        """Terminate the subprocess (SIGTERM, then SIGKILL after ``grace`` seconds)."""
        if os.getpid() != self.owner_pid:
            return  # a forked copy: the server belongs to the parent
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(grace)
        if self.proc.stdin is not None:
            self.proc.stdin.close()


_lock = threading.Lock()
_servers: dict[str, EmbeddedServer] = {}
_pid = os.getpid()


def _key(options: Mapping[str, Any]) -> str:
    return json.dumps({k: os.fspath(v) if isinstance(v, os.PathLike) else v for k, v in options.items()}, sort_keys=True)


def acquire(options: Mapping[str, Any] | None = None, startup_timeout: float = 120.0) -> EmbeddedServer:
    """The process's embedded server for ``options`` (started now if needed); adds one reference."""
    global _pid
    options = dict(options or {})
    key = _key(options)
    with _lock:
        if _pid != os.getpid():  # forked: servers of the parent are not ours to share or stop
            _servers.clear()
            _pid = os.getpid()
        server = _servers.get(key)
        if server is not None and not server.alive():
            del _servers[key]
            server = None
        if server is None:
            server = EmbeddedServer(options, startup_timeout)
            _servers[key] = server
        server.refs += 1
        return server


def release(server: EmbeddedServer) -> None:
    """Drop one reference; the last one stops the server."""
    with _lock:
        server.refs -= 1
        if server.refs > 0:
            return
        for key, s in list(_servers.items()):
            if s is server:
                del _servers[key]
    server.stop()


def active_servers() -> list[EmbeddedServer]:
    """The embedded servers this process is running (for tests and diagnostics)."""
    with _lock:
        return [s for s in _servers.values() if s.alive()]


def shutdown_all() -> None:
    """Stop every embedded server of this process (registered with ``atexit``)."""
    with _lock:
        servers = list(_servers.values())
        _servers.clear()
    for s in servers:
        s.stop()


atexit.register(shutdown_all)
