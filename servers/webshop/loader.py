"""Assemble a :class:`~servers.webshop.shop.Shop` from files (or the synthetic default).

The search index is cached on disk under ``index_dir`` (default: ``$HGPO_WEBSHOP_CACHE`` or
``~/.cache/hgpo/webshop``, one sub-directory per corpus fingerprint) and memory-mapped on the next
start. For in-memory catalogues the fingerprint hashes every document; for large file-backed ones it
is the file's path, size and modification time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from .cache import default_cache_dir
from .catalog import Catalog
from .goals import GoalSet
from .reward import TitleNouns
from .search import SearchIndex, corpus_fingerprint
from .shop import Shop

__all__ = ["ShopConfig", "default_cache_dir", "load_shop"]


@dataclass
class ShopConfig:
    """Server settings; paths are optional (no catalogue: a synthetic one of ``synthetic_products``)."""

    catalog: str | None = None
    instructions: str | None = None
    human_goals: str | None = None
    goal_kind: str = "synthetic"  # or "human"
    title_nouns: str | None = None
    index_dir: str | None = None
    synthetic_products: int = 1000
    synthetic_seed: int = 0
    show_attrs: bool = False
    session_ttl: float = 3600.0
    max_sessions: int = 50_000
    session_idle: float = 60.0
    options_mode: str = "upstream"
    index_workers: int = 1
    seed: int | None = None


def _open_catalog(cfg: ShopConfig) -> Catalog:
    if cfg.catalog is None:
        from .synthetic import generate_product

        products = [generate_product(i, cfg.synthetic_seed) for i in range(cfg.synthetic_products)]
        return Catalog.from_products(products, source=f"synthetic(n={cfg.synthetic_products}, seed={cfg.synthetic_seed})")
    for name in ("catalog", "instructions", "human_goals", "title_nouns"):
        value = getattr(cfg, name)
        if value is not None and not Path(value).is_file():
            raise FileNotFoundError(f"--{name.replace('_', '-')}: no such file: {value}")
    return Catalog.load(cfg.catalog, cfg.instructions, cfg.human_goals)


def _fingerprint(catalog: Catalog) -> str:
    path = catalog.documents_path  # file-backed catalogues: identify by the file itself
    if path is not None:
        st = Path(path).stat()
        return f"file:{Path(path).resolve()}:{st.st_size}:{st.st_mtime_ns}"
    return corpus_fingerprint(catalog.asins, [catalog.contents(i) for i in range(len(catalog))])


def load_shop(cfg: ShopConfig, log: bool = False) -> Shop:
    """Load catalogue, index (cached), goals and nouns; ``log`` prints timings to stderr."""
    if cfg.goal_kind not in ("synthetic", "human"):
        raise ValueError(f"goal kind must be 'synthetic' or 'human', not {cfg.goal_kind!r}")
    t0 = time.perf_counter()
    catalog = _open_catalog(cfg)
    t1 = time.perf_counter()
    fp = _fingerprint(catalog)
    index_dir = Path(cfg.index_dir) if cfg.index_dir else default_cache_dir() / f"index-{_short(fp)}"
    index = SearchIndex.load_or_build(index_dir, catalog.asins, catalog.iter_contents, fp, workers=cfg.index_workers)
    t2 = time.perf_counter()
    goals = GoalSet(catalog, human=cfg.goal_kind == "human")
    nouns = TitleNouns.from_file(cfg.title_nouns) if cfg.title_nouns else TitleNouns()
    t3 = time.perf_counter()
    if log:
        import sys

        print(
            f"webshop: {len(catalog)} products ({t1 - t0:.2f} s), index {index_dir} ({t2 - t1:.2f} s), "
            f"{len(goals)} {cfg.goal_kind} goals ({t3 - t2:.2f} s), title nouns: {nouns.source}",
            file=sys.stderr,
        )
    return Shop(
        catalog,
        index,
        goals,
        nouns=nouns,
        show_attrs=cfg.show_attrs,
        session_ttl=cfg.session_ttl,
        max_sessions=cfg.max_sessions,
        session_idle=cfg.session_idle,
        seed=cfg.seed,
        options_mode=cfg.options_mode,
    )


def _short(fp: str) -> str:
    import hashlib

    return hashlib.sha256(fp.encode()).hexdigest()[:16]
