"""Bounded load test of the WebShop server on loopback: many concurrent sessions doing full episodes,
and how new clients fare while slow connections (slowloris) hold every connection slot.

Each virtual user loops: start a session (seeded goal) -> search the instruction -> open a result ->
pick an option value if there is one -> open Features -> back -> buy -> close the session. It reports
requests/s, latency p50/p99, errors (non-2xx, bad JSON, transport failures: must be 0) and the
server's RSS before and after.

``--slowloris N`` then holds N slow connections (more than the server's ``--max-connections``, which
is 32 for a server started here) that send a request's first line and never finish it, silent or
dripping one header line every 2 s, and times new clients' ``GET /health`` meanwhile (see
:func:`slowloris`).

    python benchmarks/webshop_load.py                      # starts its own server (synthetic catalogue)
    python benchmarks/webshop_load.py --sessions 64 --episodes 2000 --max-seconds 120
    python benchmarks/webshop_load.py --episodes 0 --slowloris 48   # only the slow-connection figures
    python benchmarks/webshop_load.py --url http://127.0.0.1:3000 --pid 1234   # an already running server

Only loopback URLs are accepted; the run is bounded by ``--episodes`` and ``--max-seconds``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import requests

ROOT = Path(__file__).resolve().parents[1]


def rss_mb(pid: int) -> float:
    """Resident set size of process ``pid`` in MB (Linux /proc)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    episodes: int = 0
    rewards: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _user(url: str, seed: int, stats: Stats, stop_at: float, budget: list[int], budget_lock: threading.Lock) -> None:
    rng = random.Random(seed)
    http = requests.Session()

    def call(method: str, path: str, body: dict | None = None) -> dict | None:
        t = time.perf_counter()
        try:
            resp = http.request(method, url + path, json=body, timeout=30)
            dt = time.perf_counter() - t
            data = resp.json() if resp.content else {}
            ok = resp.status_code < 300
        except (requests.RequestException, ValueError) as exc:
            dt, data, ok = time.perf_counter() - t, None, False
            with stats.lock:
                stats.errors.append(f"{method} {path}: {type(exc).__name__}: {exc}")
        with stats.lock:
            stats.latencies.append(dt)
            if data is not None and not ok:
                stats.errors.append(f"{method} {path}: HTTP {resp.status_code} {str(data)[:200]}")
        return data if ok else None

    while time.monotonic() < stop_at:
        with budget_lock:
            if budget[0] <= 0:
                return
            budget[0] -= 1
        http.headers.pop("X-WebShop-Token", None)
        start = call("POST", "/api/sessions", {"seed": rng.randrange(1 << 30)})
        if start is None:
            continue
        sid = start["session_id"]
        if start.get("session_token"):  # (servers before protocol 2 have no tokens)
            http.headers["X-WebShop-Token"] = start["session_token"]

        def step(action: str, sid: str = sid) -> dict | None:
            return call("POST", f"/api/sessions/{sid}/step", {"action": action})

        page = step(f"search[{start['instruction_text']}]")
        products = [c for c in (page or {}).get("clickables", []) if c not in ("back to search", "next >", "< prev")]
        if products:
            page = step(f"click[{rng.choice(products)}]")
            options = [c for c in (page or {}).get("clickables", [])
                       if c not in ("back to search", "< prev", "description", "features", "reviews", "buy now")]
            if options:
                page = step(f"click[{rng.choice(options)}]")
            step("click[features]")
            step("click[< prev]")
            done = step("click[buy now]")
            if done is not None:
                with stats.lock:
                    stats.rewards.append(done["reward"])
        call("DELETE", f"/api/sessions/{sid}")
        with stats.lock:
            stats.episodes += 1


def run_load(url: str, sessions: int = 64, episodes: int = 2000, max_seconds: float = 120.0, seed: int = 0) -> dict:
    """Drive ``sessions`` concurrent users at ``url`` (loopback only); returns the figures."""
    host = urlparse(url).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError(f"load tests only run against loopback, not {host!r}")
    stats = Stats()
    budget, budget_lock = [episodes], threading.Lock()
    stop_at = time.monotonic() + max_seconds
    t0 = time.perf_counter()
    threads = [
        threading.Thread(target=_user, args=(url, seed * 100_003 + k, stats, stop_at, budget, budget_lock), daemon=True)
        for k in range(sessions)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max_seconds + 60)
    wall = time.perf_counter() - t0
    lat = np.array(stats.latencies) * 1e3
    return {
        "sessions": sessions,
        "episodes": stats.episodes,
        "requests": len(lat),
        "seconds": round(wall, 2),
        "req_per_s": round(len(lat) / wall, 1),
        "p50_ms": round(float(np.percentile(lat, 50)), 2) if len(lat) else None,
        "p99_ms": round(float(np.percentile(lat, 99)), 2) if len(lat) else None,
        "errors": len(stats.errors),
        "first_errors": stats.errors[:5],
        "mean_reward": round(float(np.mean(stats.rewards)), 3) if stats.rewards else None,
    }


def _probe(host: str, port: int, timeout: float) -> tuple[bool, float]:
    """One new client: connect, ``GET /health``; returns (answered, seconds)."""
    t = time.perf_counter()
    try:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
        conn.request("GET", "/health")
        ok = conn.getresponse().status == 200
        conn.close()
    except OSError:
        ok = False
    return ok, time.perf_counter() - t


def slowloris(url: str, holders: int, drip: float = 2.0, probes: int = 3, probe_timeout: float = 75.0) -> dict:
    """Hold ``holders`` slow connections and time new clients meanwhile.

    Every holder sends the start of a request (``GET /health`` and one header line) and then, when
    ``drip`` > 0, one more header line every ``drip`` seconds, never finishing it (slowloris); with
    ``drip`` 0 it stays silent. With more holders than the server's ``--max-connections``, a server that
    lets a slow connection keep its slot shuts every new client out. ``probes`` new clients, one after
    the other, each ``GET /health`` with ``probe_timeout``: their latencies, and how many holders the
    server closed.
    """
    parts = urlparse(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    socks: list[socket.socket] = []
    for _ in range(holders):
        sock = socket.create_connection((host, port), timeout=10)
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        socks.append(sock)
    stop = threading.Event()

    def dribble() -> None:
        while not stop.wait(drip):
            for sock in socks:
                try:
                    sock.sendall(b"X-Slow: 1\r\n")
                except OSError:
                    pass

    dripper = threading.Thread(target=dribble, daemon=True)
    if drip > 0:
        dripper.start()
    time.sleep(1.0)
    results = [_probe(host, port, probe_timeout) for _ in range(probes)]
    stop.set()
    closed = 0
    for sock in socks:
        sock.setblocking(False)
        try:
            closed += sock.recv(1 << 16) == b""
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
        sock.close()
    seconds = [round(dt, 2) for _, dt in results]
    return {
        "holders": holders,
        "drip_s": drip,
        "probes_answered": sum(ok for ok, _ in results),
        "probes": probes,
        "probe_seconds": seconds,
        "probe_median_s": round(float(np.median(seconds)), 2),
        "probe_timeout_s": probe_timeout,
        "holders_closed_by_server": closed,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", help="an already running server (loopback); default: start one")
    ap.add_argument("--pid", type=int, help="pid of that server, for RSS")
    ap.add_argument("--sessions", type=int, default=64)
    ap.add_argument("--episodes", type=int, default=2000)
    ap.add_argument("--max-seconds", type=float, default=120.0)
    ap.add_argument("--slowloris", type=int, default=0, help="slow connections to hold (0: skip that part)")
    ap.add_argument("--probe-timeout", type=float, default=75.0, help="seconds a new client waits (slowloris)")
    args = ap.parse_args()
    server = None
    if args.url is None:
        from hgpo_envs.webshop.embedded import EmbeddedServer

        server = EmbeddedServer({"workers": 16, "max_connections": 32 if args.slowloris else 1024}, startup_timeout=600)
        url, pid = server.url, server.pid
    else:
        url, pid = args.url.rstrip("/"), args.pid
    try:
        before = rss_mb(pid) if pid else None
        result = run_load(url, args.sessions, args.episodes, args.max_seconds) if args.episodes else {"errors": 0}
        result["rss_mb_before"] = round(before, 1) if before else None
        result["rss_mb_after"] = round(rss_mb(pid), 1) if pid else None
        result["live_sessions_after"] = requests.get(url + "/health", timeout=10).json()["sessions"]
        if args.slowloris:
            result["slowloris"] = [
                slowloris(url, args.slowloris, drip=drip, probes=3, probe_timeout=args.probe_timeout)
                for drip in (0.0, 2.0)
            ]
    finally:
        if server is not None:
            server.stop()
    print(json.dumps(result, indent=2))
    return 0 if result["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
