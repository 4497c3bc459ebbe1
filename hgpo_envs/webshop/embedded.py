"""The embedded WebShop server: one subprocess per process and option set, shared by reference count.

``WebShopEnv(server_url=None)`` calls :func:`acquire`; it starts ``hgpo webshop serve`` (through
``python -m hgpo_algo.cli``, so no server code is imported here) on a free loopback port, waits until
``/health`` answers, and hands out the same server to every later environment of the process with the
same ``server_options``. :func:`release` stops it when its last environment closes; an ``atexit`` hook
stops whatever is left. The child also exits by itself when its parent dies (it watches its stdin
pipe, which closes with the parent), so a killed trainer leaves no server behind.

``server_options`` keys are the ``serve`` flags with underscores: ``catalog``, ``instructions``,
``human_goals``, ``goals`` (synthetic|human), ``title_nouns``, ``index_dir``, ``workers``,
``synthetic_products``, ``synthetic_seed``, ``seed``, ``session_ttl``, ``max_sessions``,
``show_attrs`` (bool), ``options_mode``, ``port`` (default 0: any free port). The host is always
127.0.0.1.
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
from collections.abc import Mapping
from typing import Any

from hgpo_envs.webshop.client import ServerUnavailable, WebShopClient

__all__ = ["EmbeddedServer", "acquire", "active_servers", "release", "shutdown_all"]

_SERVING = re.compile(r"webshop: serving on (http://\S+)")

# Runs in the child: exit when the parent's end of stdin closes, then serve in the foreground.
_CHILD = (
    "import os, sys, threading\n"
    "def _watch():\n"
    "    try:\n"
    "        sys.stdin.buffer.read()\n"
    "    finally:\n"
    "        os._exit(0)\n"
    "threading.Thread(target=_watch, daemon=True).start()\n"
    "from hgpo_algo.cli import main\n"
    "sys.exit(main(['webshop', 'serve'] + sys.argv[1:]))\n"
)


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
    """One running server subprocess. ``url`` is its base URL; ``refs`` the environments using it."""

    def __init__(self, options: Mapping[str, Any], startup_timeout: float) -> None:
        self.options = dict(options)
        self.refs = 0
        self.owner_pid = os.getpid()
        self.log: collections.deque[str] = collections.deque(maxlen=40)
        self._url_found = threading.Event()
        self.url = ""
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _CHILD, *_flags(self.options)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
        )
        threading.Thread(target=self._drain, name="webshop-server-log", daemon=True).start()
        try:
            self._wait_started(startup_timeout)
        except BaseException:
            self.stop()
            raise

    def _drain(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
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
                    f"(options {self.options}):\n{self.tail()}"
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
