"""Stock TextWorld/ALFWorld, our TextWorld-backed engine and our native engine, same games and actions, one run.

Stock = ``textworld.envs.PddlEnv`` wrapped by ALFWorld's ``AlfredDemangler(shuffle=False)`` (what
ALFWorld's ``AlfredTWEnv`` runs per game); textworld = ``hgpo_envs.alfworld.engine.FastPddlEnv``
(``engine="textworld"``); native = ``hgpo_envs.alfworld.native.NativeEngine`` (``engine="native"``, the
default; ``native+disk``: the same engine reading its on-disk cache of grounded games). For each game the stock engine picks uniformly random admissible commands; the others replay
exactly those commands and every observation, admissible list and win is compared (the run fails if any
differs). Prints medians (ms) of load, first reset, load + first reset (what a new game costs; the native
engine's per-process game cache is cleared first), a second reset of the same game, and step, with the
native engine's ratios against both; then the native engine's memory per environment (RSS growth with
``--memory-envs`` engines each holding a different game). Goals (issue 14): step <= 0.2 ms, new game
<= 10 ms, reset <= 1 ms, <= 20 MB per environment, 128 environments under 1 GB.

    python benchmarks/alfworld.py [--games 20] [--steps 30] [--seed 0] [--memory-envs 128] [--data ../shared/data/alfworld]

Without real data (no ``--data`` folder) it runs on generated games.
"""

from __future__ import annotations

import argparse
import atexit
import gc
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# This file is named alfworld.py: keep its folder off the path so that `import alfworld` finds the package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "alfworld"


def _games(data: Path, n: int, seed: int) -> tuple[list[dict], str]:
    from hgpo_envs.alfworld.gameset import read_packed
    from hgpo_envs.alfworld.logic import Logic, find_logic

    if (data / "games" / "valid_seen.jsonl.gz").is_file():
        logic = Logic.from_dir(data / "logic")
        records = read_packed(data / "games" / "valid_seen.jsonl.gz")
        records += read_packed(data / "games" / "valid_unseen.jsonl.gz")
        source = f"{n} random real games of valid_seen + valid_unseen ({data})"
    else:
        from hgpo_envs.alfworld.generator import generate_games

        logic = find_logic()
        records = list(generate_games(n, seed=seed))
        source = f"{n} generated games (no real data at {data})"
    picked = random.Random(seed).sample(records, min(n, len(records)))
    return [logic.game(r.task_desc, r.pddl_problem, r.walkthrough) for r in picked], source


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, (time.perf_counter() - start) * 1000.0


class _Stock:
    """Stock TextWorld + ALFWorld's demangler, behind the (feedback, admissible, won) interface."""

    def __init__(self, fast: bool) -> None:
        import textworld

        infos = textworld.EnvInfos(won=True, admissible_commands=True)
        if fast:
            from hgpo_envs.alfworld.engine import FastPddlEnv

            self.env = FastPddlEnv(infos)
        else:
            from alfworld.agents.environment.alfred_tw_env import AlfredDemangler
            from textworld.envs import PddlEnv

            self.env = AlfredDemangler(shuffle=False)(PddlEnv(infos))

    def load(self, game: dict) -> None:
        self.env.load(game)

    def reset(self) -> tuple:
        state = self.env.reset()
        return state.feedback, state["admissible_commands"], state["won"]

    def step(self, command: str) -> tuple:
        state = self.env.step(command)[0]
        return state.feedback, state["admissible_commands"], state["won"]


class _Native:
    """The native engine. ``disk=False``: a game never seen on this machine (its file removed from the
    run's own disk cache first), grounded and written to the cache as the engine does by default;
    ``disk=True``: the same game's reachability read back from that cache, as a second process would."""

    def __init__(self, disk: bool) -> None:
        from hgpo_envs.alfworld.native import NativeEngine

        self.env = NativeEngine()
        self.disk = disk

    def forget(self, game: dict) -> None:
        """Before a timed load: nothing of the game in this process; for ``disk=False``, nor on disk."""
        from hgpo_envs.alfworld import game_cache, native

        native._GAMES.clear()
        if not self.disk:
            path = game_cache.cache_file(game["pddl_domain"], game["grammar"], game["pddl_problem"])
            if path is not None:
                path.unlink(missing_ok=True)

    def load(self, game: dict) -> None:
        self.env.load(game)

    def reset(self) -> tuple:
        return self.env.reset()[:3]

    def step(self, command: str) -> tuple:
        return self.env.step(command)[:3]


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _memory(data: Path, n: int, seed: int) -> tuple[float, float, float]:
    """Native engines each holding a different game: (traced MB per environment, RSS growth MB for all n,
    RSS of the process MB)."""
    import tracemalloc

    from hgpo_envs.alfworld import native
    from hgpo_envs.alfworld.native import NativeEngine

    games, _ = _games(data, n, seed + 1)
    gc.collect()
    native._GAMES.clear()
    saved = native._GAMES_SIZE
    native._GAMES_SIZE = n + 1
    try:
        base = _rss_mb()
        tracemalloc.start()
        engines = []
        for game in games:
            engine = NativeEngine()
            engine.load(game)
            engine.reset()
            engines.append(engine)
        gc.collect()
        traced, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        total = _rss_mb()
        used = total - base
    finally:
        native._GAMES_SIZE = saved
        native._GAMES.clear()
    return traced / 2**20 / len(games), used, total


ENGINES = ("stock", "textworld", "native", "native+disk")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--games", type=int, default=20)
    parser.add_argument("--steps", type=int, default=30, help="random admissible commands per game")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--memory-envs", type=int, default=128, help="native environments held for the memory figure")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args(argv)

    games, source = _games(args.data, args.games, args.seed)
    os.environ["HGPO_ALFWORLD_CACHE"] = cache = tempfile.mkdtemp(prefix="hgpo-bench-cache-")  # this run's own
    atexit.register(shutil.rmtree, cache, ignore_errors=True)
    engines = {"stock": _Stock(fast=False), "textworld": _Stock(fast=True), "native": _Native(disk=False),
               "native+disk": _Native(disk=True)}
    rng = random.Random(args.seed)
    times: dict[str, dict[str, list[float]]] = {name: {} for name in ENGINES}
    mismatches = steps_total = 0
    for game in games:
        transcripts = {}
        commands: list[str] = []
        for name in ENGINES:
            env, t = engines[name], times[name]
            if isinstance(env, _Native):
                env.forget(game)
            _, ms_load = _timed(lambda env=env, game=game: env.load(game))
            state, ms_reset = _timed(env.reset)
            t.setdefault("load", []).append(ms_load)
            t.setdefault("first reset", []).append(ms_reset)
            t.setdefault("load + first reset", []).append(ms_load + ms_reset)
            transcript = [tuple(state)]
            for i in range(args.steps):
                if name == "stock":
                    commands.append(rng.choice(state[1]))
                state, ms = _timed(lambda env=env, c=commands[i]: env.step(c))
                t.setdefault("step", []).append(ms)
                transcript.append(tuple(state))
            _, ms = _timed(env.reset)
            t.setdefault("reset again", []).append(ms)
            transcripts[name] = transcript
        steps_total += args.steps
        for name in ENGINES[1:]:
            mismatches += sum(a != b for a, b in zip(transcripts["stock"], transcripts[name], strict=True))

    print(f"ALFWorld engine benchmark: {source}, {args.steps} random admissible commands each "
          f"({steps_total} steps per engine)")
    print(f"{'median ms':<20} {'stock':>9} {'textworld':>10} {'native':>9} {'vs stock':>9} {'vs textworld':>13}"
          f" {'native+disk':>12} {'vs stock':>9} {'vs textworld':>13}")
    med = {name: {k: statistics.median(v) for k, v in times[name].items()} for name in ENGINES}
    for key in ("load", "first reset", "load + first reset", "reset again", "step"):
        s, tw, n, d = (med[name][key] for name in ENGINES)
        print(f"{key:<20} {s:>9.2f} {tw:>10.2f} {n:>9.3f} {s / n:>8.1f}x {tw / n:>12.1f}x"
              f" {d:>12.3f} {s / d:>8.1f}x {tw / d:>12.1f}x")
    per_env, total, rss = _memory(args.data, args.memory_envs, args.seed)
    print(f"native memory: {per_env:.2f} MB per environment (traced), {args.memory_envs} environments with "
          f"distinct games: +{total:.0f} MB RSS, process RSS {rss:.0f} MB")
    compared = (len(ENGINES) - 1) * (steps_total + len(games))
    print(f"transcript mismatches (textworld, native and native+disk vs stock): {mismatches} of {compared}")
    goals = {
        "step <= 0.2 ms": med["native"]["step"] <= 0.2,
        "new game <= 10 ms (grounded now)": med["native"]["load + first reset"] <= 10,
        "new game <= 10 ms (disk cache)": med["native+disk"]["load + first reset"] <= 10,
        "reset of the same game <= 1 ms": med["native"]["reset again"] <= 1,
        "<= 20 MB per environment": per_env <= 20,
        f"{args.memory_envs} environments in one process < 1 GB": rss < 1024,
    }
    print("goals: " + "; ".join(f"{k}: {'met' if v else 'NOT met'}" for k, v in goals.items()))
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
