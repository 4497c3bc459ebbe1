"""Fixtures for the WebShop environment tests: WebShop servers started as separate processes.

Every server here is a real ``hgpo webshop serve`` subprocess on a loopback port. The synthetic
default catalogue needs no data; the real 1k catalogue is read from ``../shared/data/webshop`` and its
tests skip when that is absent.
"""

from __future__ import annotations

import importlib.util
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
DATA = ROOT.parent / "shared" / "data" / "webshop"
REAL_SERVER_ARGS = [
    "--catalog", str(DATA / "resources_1k_documents.jsonl"),
    "--instructions", str(DATA / "items_ins_v2_1000.json"),
    "--title-nouns", str(DATA / "derived" / "title_nouns_en_core_web_sm_3.8.0.json"),
]
_SERVING = re.compile(r"webshop: serving on (http://\S+)")


class ServerProcess:
    """A ``hgpo webshop serve`` subprocess; ``url`` once it listens."""

    def __init__(self, *args: str, port: int = 0, timeout: float = 120.0) -> None:
        self.args = list(args)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hgpo_algo.cli", "webshop", "serve", "--port", str(port), *args],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        self.url = ""
        deadline = time.monotonic() + timeout
        lines = []
        assert self.proc.stderr is not None
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                break
            lines.append(line)
            m = _SERVING.search(line)
            if m:
                self.url = m.group(1)
                break
        if not self.url:
            self.stop()
            raise RuntimeError("WebShop server did not start:\n" + "".join(lines))
        self.port = int(self.url.rsplit(":", 1)[1])
        # keep reading stderr so the server never blocks on a full pipe
        import threading

        threading.Thread(target=lambda: [None for _ in self.proc.stderr], daemon=True).start()  # type: ignore[union-attr]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@pytest.fixture(scope="session", autouse=True)
def _server_dependencies() -> None:
    """Every test here runs a WebShop server process: skip, saying why, without its dependencies."""
    missing = [m for m in ("flask", "waitress") if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"the WebShop server needs {', '.join(missing)} (pip install 'hgpo[webshop]')")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def server() -> Iterator[ServerProcess]:
    """A separately started server on the synthetic default catalogue (shared by the session)."""
    srv = ServerProcess()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def real_server() -> Iterator[ServerProcess]:
    """A server on the real 1k catalogue (skips when ../shared/data/webshop is absent)."""
    for arg in REAL_SERVER_ARGS[1::2]:
        if not Path(arg).exists():
            pytest.skip(f"real WebShop data not available: {arg}")
    srv = ServerProcess(*REAL_SERVER_ARGS)
    yield srv
    srv.stop()


@pytest.fixture
def make_env(server):
    """``make_env(**kwargs)``: a WebShopEnv on the shared server, closed after the test."""
    from hgpo_envs.webshop.env import WebShopEnv

    envs = []

    def make(**kwargs):
        kwargs.setdefault("server_url", server.url)
        env = WebShopEnv(**kwargs)
        envs.append(env)
        return env

    yield make
    for env in envs:
        env.close()


def play(env, actions=None, *, goal_index=None, seed=None, limit=30):
    """Play one episode (the expert's actions when ``actions`` is None); returns the steps as
    ``[(action, observation, reward, terminated, truncated, info)]`` after ``(None, obs, 0, False, False, info)``."""
    options = {"goal_index": goal_index} if goal_index is not None else None
    obs, info = env.reset(seed=seed, options=options)
    out = [(None, obs, 0.0, False, False, info)]
    todo = list(actions) if actions is not None else None
    for _ in range(limit):
        if todo is not None:
            if not todo:
                break
            action = todo.pop(0)
        else:
            action = info["expert_action"]
        obs, reward, terminated, truncated, info = env.step(action)
        out.append((action, obs, reward, terminated, truncated, info))
        if terminated or truncated:
            break
    return out
