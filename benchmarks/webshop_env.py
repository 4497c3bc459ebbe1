"""Step time of hgpo/WebShop-v0 on loopback, beside upstream's figure and a naive client in the same run.

    python benchmarks/webshop_env.py [--episodes 200] [--browser-episodes 0] [--json out.json]

For each catalogue (the synthetic default, and the real 1k catalogue when ``../shared/data/webshop``
is present) it starts a server process (``EmbeddedServer``, the one launcher), then plays ``--episodes`` test
goals (in ten rounds interleaved between the catalogues, so that load from other processes falls on
both alike) with the scripted expert, detours included (every third step of an episode is a random
admissible action), and reports the median / p90 / p99 time of ``env.step`` (search steps and click
steps apart) and of ``env.reset``. Beside it:

- **upstream**: about 40 ms per step for princeton-nlp/WebShop's ``WebAgentTextEnv`` on the same small
  catalogue (500 steps + 100 resets in 19.8 s, 2 cores, Python 3.11; not re-run here: it needs Java,
  pyserini and a 6.6 GB environment);
- **naive client, same run**: the same actions as JSON requests through ``requests.Session`` (what a
  straightforward client would do), to show what the client side costs.

The goal is a median step under 5 ms. ``--browser-episodes N`` also times hgpo/WebShopBrowser-v0.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from hgpo_envs.webshop.embedded import EmbeddedServer
from hgpo_envs.webshop.env import WebShopEnv

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "webshop"
REAL_CATALOGUE = {
    "catalog": DATA / "resources_1k_documents.jsonl",
    "instructions": DATA / "items_ins_v2_1000.json",
    "title_nouns": DATA / "derived" / "title_nouns_en_core_web_sm_3.8.0.json",
}

UPSTREAM_STEP_MS = 40.0


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1000.0 if values else float("nan")


def play(env, episodes: int, seed: int = 0, first_goal: int = 0) -> dict[str, list]:
    rng = np.random.default_rng(seed)
    out: dict[str, list] = {"search": [], "click": [], "reset": [], "actions": [], "scores": []}
    for e in range(episodes):
        t = time.perf_counter()
        _, info = env.reset(options={"goal_index": (first_goal + e) % env.num_goals})
        out["reset"].append(time.perf_counter() - t)
        score = 0.0
        for k in range(15):
            commands = info["admissible_commands"]
            action = info["expert_action"]
            if k % 3 == 2 and commands:
                action = commands[int(rng.integers(len(commands)))]
            t = time.perf_counter()
            _, r, term, _, info = env.step(action)
            dt = time.perf_counter() - t
            out["search" if action.startswith("search[") else "click"].append(dt)
            out["actions"].append(action)
            if term:
                score = r
                break
        out["scores"].append(score)
    return out


def naive_client(url: str, actions_per_episode: list[list[str]], goals: list[int]) -> list[float]:
    import requests

    times = []
    with requests.Session() as s:
        for goal, actions in zip(goals, actions_per_episode, strict=True):
            created = s.post(f"{url}/api/sessions", json={"goal": goal}).json()
            sid = created["session_id"]
            s.headers["X-WebShop-Token"] = created["session_token"]
            for a in actions:
                t = time.perf_counter()
                s.post(f"{url}/api/sessions/{sid}/step", json={"action": a}).json()
                times.append(time.perf_counter() - t)
            s.delete(f"{url}/api/sessions/{sid}")
    return times


def episodes_of(env, episodes: int) -> tuple[list[int], list[list[str]]]:
    """The expert's action lists of the first episodes (for the naive client)."""
    goals, lists = [], []
    for e in range(episodes):
        _, info = env.reset(options={"goal_index": e})
        actions = []
        for _ in range(15):
            a = info["expert_action"]
            actions.append(a)
            _, _, term, _, info = env.step(a)
            if term:
                break
        goals.append(env.goal_number(e))
        lists.append(actions)
    return goals, lists


def bench(catalogues: dict[str, dict], episodes: int, browser_episodes: int, rounds: int = 10) -> list[dict]:
    """Time every catalogue's server with rounds interleaved, so load from other processes on the
    machine falls on all of them alike."""
    from hgpo_envs.webshop.client import WebShopClient

    # each server is its own process, started by the one launcher
    servers = {name: EmbeddedServer(options, startup_timeout=300) for name, options in catalogues.items()}
    try:
        envs = {name: WebShopEnv(server_url=srv.url, split="test") for name, srv in servers.items()}
        for env in envs.values():
            play(env, 5, seed=99)  # warm up (search caches, connection)
        acc = {name: {"search": [], "click": [], "reset": [], "scores": [], "naive": []} for name in envs}
        lists = {name: episodes_of(env, min(episodes, 100)) for name, env in envs.items()}
        per_round = max(1, episodes // rounds)
        for r in range(rounds):
            for name, env in envs.items():
                res = play(env, per_round, seed=r, first_goal=r * per_round)
                for key in ("search", "click", "reset", "scores"):
                    acc[name][key] += res[key]
                goals, actions = lists[name]
                k = len(goals) // rounds or 1
                acc[name]["naive"] += naive_client(servers[name].url, actions[r * k : (r + 1) * k], goals[r * k : (r + 1) * k])
        rows = []
        for name, env in envs.items():
            a = acc[name]
            steps = a["search"] + a["click"]
            c = WebShopClient(servers[name].url)
            row = {
                "catalogue": name,
                "products": c.health()["products"],
                "episodes": len(a["scores"]),
                "steps": len(steps),
                "step_median_ms": pct(steps, 50),
                "step_p90_ms": pct(steps, 90),
                "step_p99_ms": pct(steps, 99),
                "search_median_ms": pct(a["search"], 50),
                "click_median_ms": pct(a["click"], 50),
                "reset_median_ms": pct(a["reset"], 50),
                "naive_requests_step_median_ms": pct(a["naive"], 50),
                "expert_with_detours_mean_score": statistics.fmean(a["scores"]),
            }
            c.close()
            env.close()
            if browser_episodes:
                from hgpo_envs.webshop.browser import WebShopBrowserEnv

                benv = WebShopBrowserEnv(server_url=servers[name].url, split="test", observation_mode="text")
                play(benv, 1, seed=99)
                bres = play(benv, browser_episodes)
                benv.close()
                row["browser_step_median_ms"] = pct(bres["search"] + bres["click"], 50)
            rows.append(row)
        return rows
    finally:
        for srv in servers.values():
            srv.stop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--episodes", type=int, default=200)
    p.add_argument("--browser-episodes", type=int, default=0)
    p.add_argument("--json", help="also write the rows to this JSON file")
    args = p.parse_args(argv)
    catalogues: dict[str, dict] = {"synthetic default": {}}
    if all(p.exists() for p in REAL_CATALOGUE.values()):
        catalogues["real 1k (shared/data/webshop)"] = REAL_CATALOGUE
    else:
        print("real 1k catalogue not found beside the project: skipped", file=sys.stderr)
    rows = bench(catalogues, args.episodes, args.browser_episodes)
    print(f"hgpo/WebShop-v0 on loopback, {args.episodes} test episodes each (expert + random detours)")
    print(f"upstream WebAgentTextEnv, small catalogue (spec, not re-run): ~{UPSTREAM_STEP_MS:.0f} ms per step")
    for r in rows:
        print(f"\n{r['catalogue']}: {r['products']} products, {r['steps']} steps")
        print(
            f"  step   median {r['step_median_ms']:.2f} ms  p90 {r['step_p90_ms']:.2f}  p99 {r['step_p99_ms']:.2f}"
            f"   ({UPSTREAM_STEP_MS / r['step_median_ms']:.0f}x faster than upstream's ~{UPSTREAM_STEP_MS:.0f} ms)"
        )
        print(f"  search median {r['search_median_ms']:.2f} ms   click median {r['click_median_ms']:.2f} ms"
              f"   reset median {r['reset_median_ms']:.2f} ms")
        print(f"  same steps through requests.Session (naive client, same run): median "
              f"{r['naive_requests_step_median_ms']:.2f} ms")
        if "browser_step_median_ms" in r:
            print(f"  hgpo/WebShopBrowser-v0 (headless Chromium): median {r['browser_step_median_ms']:.1f} ms per step")
        print(f"  goal: median under 5 ms -> {'met' if r['step_median_ms'] < 5 else 'NOT met'}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
