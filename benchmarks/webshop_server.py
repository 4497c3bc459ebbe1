"""WebShop server start time, memory and search latency at 1k (real), 100k and 1M (synthetic) products.

For each catalogue: the one-off index build (``python -m servers.webshop index``, timed), then a server start with
the cached index (time until ``GET /health`` answers, RSS), then search latency measured in-process on
the memory-mapped index and over HTTP (``search[...]`` steps), and RSS after the queries.

    python benchmarks/webshop_server.py                    # 1k real (if ../shared/data exists), 100k, 1M
    python benchmarks/webshop_server.py --sizes 1k,100k --queries 500

Goals (issue 4): ready < 2 s and < 300 MB at 1k; < 60 s and < 4 GB at 1M; search p50 < 2 ms at 1k
and < 30 ms at 1M. Synthetic catalogues and indexes are kept in ``--work-dir`` for reuse.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from webshop_load import rss_mb

from hgpo_envs.webshop.embedded import EmbeddedServer
from servers.webshop.search import SearchIndex
from servers.webshop.synthetic import generate_product, write_documents

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "webshop"
SERVER_CLI = [sys.executable, "-m", "servers.webshop"]
GOALS = {"1k": (2.0, 300.0, 2.0), "1M": (60.0, 4096.0, 30.0)}


def _scale(name: str) -> int:
    return {"1k": 1000, "100k": 100_000, "1M": 1_000_000}[name]


def _config(size: str, work: Path) -> tuple[list[str], Path, list[str]] | None:
    """Server arguments, index directory and benchmark queries for one catalogue size."""
    index_dir = work / f"index-{size}"
    if size == "1k":
        docs = DATA / "resources_1k_documents.jsonl"
        if not docs.exists():
            print(f"skip 1k: {docs} not found", file=sys.stderr)
            return None
        args = ["--catalog", str(docs), "--instructions", str(DATA / "items_ins_v2_1000.json"),
                "--title-nouns", str(DATA / "derived" / "title_nouns_en_core_web_sm_3.8.0.json")]
        queries = json.loads((DATA / "derived" / "benchmark_queries_1k.json").read_text())
        return args, index_dir, queries
    n = _scale(size)
    docs = work / f"synthetic-{size}.jsonl"
    if not docs.exists():
        t = time.perf_counter()
        write_documents(docs, n, seed=0, workers=os.cpu_count() or 1)
        print(f"{size}: generated {n} products in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    rng = random.Random(1)
    queries = []
    while len(queries) < 1000:
        p = generate_product(rng.randrange(n))
        queries.append(p.get("instruction_text") or p["Title"].lower())
    return ["--catalog", str(docs)], index_dir, queries


def _options(args: list[str]) -> dict[str, str]:
    """``["--catalog", "x", ...]`` as launcher options ``{"catalog": "x", ...}``."""
    return {flag[2:].replace("-", "_"): value for flag, value in zip(args[::2], args[1::2], strict=True)}


def _build_index(args: list[str], index_dir: Path) -> float | None:
    if (index_dir / "meta.json").exists():
        return None
    if "--title-nouns" in args:  # a reward setting, not an index input
        i = args.index("--title-nouns")
        args = args[:i] + args[i + 2 :]
    t = time.perf_counter()
    subprocess.run([*SERVER_CLI, "index", *args, "--index-dir", str(index_dir), "--workers", str(os.cpu_count() or 1)],
                   check=True)
    return time.perf_counter() - t


def _percentiles(seconds: list[float]) -> tuple[float, float]:
    ms = np.array(seconds) * 1e3
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def bench(size: str, work: Path, n_queries: int) -> dict | None:
    cfg = _config(size, work)
    if cfg is None:
        return None
    args, index_dir, queries = cfg
    queries = queries[:n_queries]
    build = _build_index(args, index_dir)
    server = EmbeddedServer({**_options(args), "index_dir": index_dir, "workers": 4}, startup_timeout=600)
    try:
        ready, rss_ready = server.ready_seconds, rss_mb(server.pid)
        http = requests.Session()
        created = http.post(server.url + "/api/sessions", json={"seed": 0}, timeout=30).json()
        sid = created["session_id"]
        http.headers["X-WebShop-Token"] = created["session_token"]
        lat_http = []
        for q in queries:
            t = time.perf_counter()
            r = http.post(f"{server.url}/api/sessions/{sid}/step", json={"action": f"search[{q}]"}, timeout=60)
            lat_http.append(time.perf_counter() - t)
            assert r.ok, r.text[:200]
        rss_after = rss_mb(server.pid)
    finally:
        server.stop()
    index = SearchIndex.load(index_dir)
    for q in queries[:20]:  # warm the page cache and the stemmer cache
        index.search(q)
    lat = []
    for q in queries:
        t = time.perf_counter()
        index.search(q, 50)
        lat.append(time.perf_counter() - t)
    p50, p99 = _percentiles(lat)
    h50, h99 = _percentiles(lat_http)
    out = {
        "size": size, "products": index.num_docs, "index_build_s": None if build is None else round(build, 1),
        "ready_s": round(ready, 2), "rss_ready_mb": round(rss_ready, 1), "rss_after_queries_mb": round(rss_after, 1),
        "search_p50_ms": round(p50, 3), "search_p99_ms": round(p99, 3),
        "http_search_p50_ms": round(h50, 2), "http_search_p99_ms": round(h99, 2), "queries": len(queries),
    }
    goal = GOALS.get(size)
    if goal:
        out["goals_met"] = ready < goal[0] and rss_after < goal[1] and p50 < goal[2]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1k,100k,1M")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--work-dir", default=str(Path(tempfile.gettempdir()) / "hgpo-webshop-bench"))
    args = ap.parse_args()
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    results = []
    for size in args.sizes.split(","):
        r = bench(size.strip(), work, args.queries)
        if r is not None:
            results.append(r)
            print(json.dumps(r), flush=True)
    print()
    print(f"{'size':>5} {'build s':>8} {'ready s':>8} {'RSS MB':>8} {'RSS after':>9} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'HTTP p50':>8} {'HTTP p99':>8}")
    for r in results:
        print(f"{r['size']:>5} {r['index_build_s'] or '-':>8} {r['ready_s']:>8} {r['rss_ready_mb']:>8} "
              f"{r['rss_after_queries_mb']:>9} {r['search_p50_ms']:>7} {r['search_p99_ms']:>7} "
              f"{r['http_search_p50_ms']:>8} {r['http_search_p99_ms']:>8}")
    return 0 if all(r.get("goals_met", True) for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
