"""Fixtures for the WebShop environment tests: WebShop servers started as separate processes.

Every server here is a real server subprocess on a loopback port, started through the one launcher,
:class:`hgpo_envs.webshop.embedded.EmbeddedServer`. The synthetic default catalogue needs no data; the
real 1k catalogue is read from ``../shared/data/webshop`` and its tests skip when that is absent.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.extras import require

ROOT = Path(__file__).resolve().parents[3]
DATA = ROOT.parent / "shared" / "data" / "webshop"
REAL_SERVER = {
    "catalog": DATA / "resources_1k_documents.jsonl",
    "instructions": DATA / "items_ins_v2_1000.json",
    "title_nouns": DATA / "derived" / "title_nouns_en_core_web_sm_3.8.0.json",
}


@pytest.fixture(scope="session", autouse=True)
def _server_dependencies() -> None:
    """Every test here runs a WebShop server process: it needs the webshop extra."""
    for module in ("flask", "waitress"):
        require(module, extra="webshop")


def start_server(**options):
    """A server subprocess with ``options`` (``serve`` flags with underscores) on a loopback port."""
    from hgpo_envs.webshop.embedded import EmbeddedServer

    return EmbeddedServer(options, startup_timeout=120.0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def server() -> Iterator:
    """A separately started server on the synthetic default catalogue (shared by the session)."""
    with start_server() as srv:
        yield srv


@pytest.fixture(scope="session")
def real_server() -> Iterator:
    """A server on the real 1k catalogue (skips when ../shared/data/webshop is absent)."""
    for path in REAL_SERVER.values():
        if not path.exists():
            pytest.skip(f"real WebShop data not available: {path}")
    with start_server(**REAL_SERVER) as srv:
        yield srv


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
