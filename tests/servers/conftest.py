"""Fixtures for the WebShop server tests.

Real data is read from ``../shared/data/webshop`` (relative to the repository root) and tests that
need it skip when it is absent; everything else runs on synthetic catalogues.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data" / "webshop"
DOCS = DATA / "resources_1k_documents.jsonl"
INS = DATA / "items_ins_v2_1000.json"
DERIVED = DATA / "derived"
NOUNS = DERIVED / "title_nouns_en_core_web_sm_3.8.0.json"
HGPO = Path(sys.executable).with_name("hgpo")


def need_data(*paths: Path) -> None:
    for p in paths:
        if not p.exists():
            pytest.skip(f"real WebShop data not available: {p}")


@pytest.fixture(scope="session")
def real_catalog():
    need_data(DOCS, INS)
    from servers.webshop.catalog import Catalog

    return Catalog.load(DOCS, instructions=INS)


@pytest.fixture(scope="session")
def real_index(real_catalog):
    from servers.webshop.search import SearchIndex

    return SearchIndex.build(real_catalog.asins, real_catalog.iter_contents())


@pytest.fixture(scope="session")
def real_shop(real_catalog, real_index):
    need_data(NOUNS)
    from servers.webshop.goals import GoalSet
    from servers.webshop.reward import TitleNouns
    from servers.webshop.shop import Shop

    return Shop(real_catalog, real_index, GoalSet(real_catalog), nouns=TitleNouns.from_file(NOUNS), seed=0)


@pytest.fixture(scope="session")
def synthetic_shop(tmp_path_factory):
    from servers.webshop.loader import ShopConfig, load_shop

    return load_shop(ShopConfig(synthetic_products=600, index_dir=str(tmp_path_factory.mktemp("idx")), seed=1))


@pytest.fixture(scope="session")
def cache_env(tmp_path_factory) -> dict[str, str]:
    env = dict(os.environ)
    env["HGPO_WEBSHOP_CACHE"] = str(tmp_path_factory.mktemp("webshop-cache"))
    return env


class LiveServer:
    """A real ``hgpo webshop serve`` process on a loopback port."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path, timeout: float = 60.0) -> None:
        self.log = log
        # stderr goes to a file: a pipe nobody reads could fill up and block the server
        with open(log, "w") as f:
            self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=f, env=env, cwd=ROOT)
        deadline = time.monotonic() + timeout
        self.url = ""
        while time.monotonic() < deadline and self.proc.poll() is None:
            m = re.search(r"serving on (http://\S+)", log.read_text())
            if m:
                self.url = m.group(1)
                break
            time.sleep(0.05)
        if not self.url:
            self.stop()
            raise RuntimeError("server did not start: " + log.read_text())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@pytest.fixture(scope="session")
def live_server(cache_env, tmp_path_factory):
    """The server with its defaults (synthetic catalogue) on an ephemeral loopback port."""
    log = tmp_path_factory.mktemp("live") / "server.log"
    server = LiveServer([str(HGPO), "webshop", "serve", "--port", "0", "--workers", "8", "--seed", "0"], cache_env, log)
    yield server
    server.stop()
