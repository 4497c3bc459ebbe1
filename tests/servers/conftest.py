"""Fixtures for the WebShop server tests.

Real data is read from ``../shared/data/webshop`` (relative to the repository root) and tests that
need it skip when it is absent; everything else runs on synthetic catalogues.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# HYPOTHESIS_PROFILE=long (registered in tests/conftest.py): many more generated examples for the fuzz
# tests, e.g. HYPOTHESIS_PROFILE=long pytest tests/servers/test_fuzz.py

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


def start_server(options: dict | None = None, env: dict[str, str] | None = None, command: list[str] | None = None):
    """A real server subprocess on a loopback port, through the one launcher (``EmbeddedServer``)."""
    from hgpo_envs.webshop.embedded import EmbeddedServer

    return EmbeddedServer(options or {}, startup_timeout=120.0, env=env, command=command)


@pytest.fixture(scope="session")
def live_server(cache_env):
    """The server with its defaults (synthetic catalogue) on an ephemeral loopback port."""
    with start_server({"workers": 8, "seed": 0}, env=cache_env) as server:
        yield server
