"""Stock TextWorld/ALFWorld engine against ours, on the same games and actions, in one run.

Stock = ``textworld.envs.PddlEnv`` wrapped by ALFWorld's ``AlfredDemangler(shuffle=False)`` (what
ALFWorld's ``AlfredTWEnv`` runs per game); ours = ``hgpo_envs.alfworld.engine.FastPddlEnv``. For each game
the stock engine picks uniformly random admissible commands; ours then replays exactly those commands and
every observation and admissible list is compared (the run fails if any differs). Prints medians (ms) of
load, first reset, load + first reset (what a new game costs), a second reset of the same game, and step,
with the ratios. Goals: step >= 4x, new-game reset >= 3x.

    python benchmarks/alfworld.py [--games 20] [--steps 30] [--seed 0] [--data ../shared/data/alfworld]

Without real data (no ``--data`` folder) it runs on generated games.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--games", type=int, default=20)
    parser.add_argument("--steps", type=int, default=30, help="random admissible commands per game")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args(argv)

    import textworld
    from alfworld.agents.environment.alfred_tw_env import AlfredDemangler
    from textworld.envs import PddlEnv

    from hgpo_envs.alfworld.engine import FastPddlEnv

    games, source = _games(args.data, args.games, args.seed)
    infos = textworld.EnvInfos(won=True, admissible_commands=True)
    stock = AlfredDemangler(shuffle=False)(PddlEnv(infos))
    ours = FastPddlEnv(infos)
    rng = random.Random(args.seed)
    times: dict[str, dict[str, list[float]]] = {name: {} for name in ("stock", "ours")}
    mismatches = steps_total = 0
    for game in games:
        transcripts = {}
        commands: list[str] = []
        for name, env in (("stock", stock), ("ours", ours)):
            t = times[name]
            _, ms_load = _timed(lambda env=env, game=game: env.load(game))
            state, ms_reset = _timed(env.reset)
            t.setdefault("load", []).append(ms_load)
            t.setdefault("first reset", []).append(ms_reset)
            t.setdefault("load + first reset", []).append(ms_load + ms_reset)
            transcript = [(state.feedback, state["admissible_commands"])]
            for i in range(args.steps):
                if name == "stock":
                    commands.append(rng.choice(state["admissible_commands"]))
                (state, _, _), ms = _timed(lambda env=env, c=commands[i]: env.step(c))
                t.setdefault("step", []).append(ms)
                transcript.append((state.feedback, state["admissible_commands"], state["won"]))
            _, ms = _timed(env.reset)
            t.setdefault("reset again", []).append(ms)
            transcripts[name] = transcript
        steps_total += args.steps
        mismatches += sum(a != b for a, b in zip(transcripts["stock"], transcripts["ours"], strict=True))

    print(f"ALFWorld engine benchmark: {source}, {args.steps} random admissible commands each "
          f"({steps_total} steps per engine)")
    print(f"{'median ms':<20} {'stock':>10} {'ours':>10} {'speed-up':>9}")
    for key in ("load", "first reset", "load + first reset", "reset again", "step"):
        s, o = statistics.median(times["stock"][key]), statistics.median(times["ours"][key])
        print(f"{key:<20} {s:>10.1f} {o:>10.1f} {s / o:>8.1f}x")
    step_ratio = statistics.median(times["stock"]["step"]) / statistics.median(times["ours"]["step"])
    reset_ratio = (statistics.median(times["stock"]["load + first reset"])
                   / statistics.median(times["ours"]["load + first reset"]))
    print(f"transcript mismatches: {mismatches} of {steps_total + len(games)} observations")
    print(f"goals: step >= 4x: {'met' if step_ratio >= 4 else 'NOT met'} ({step_ratio:.1f}x); "
          f"new-game reset >= 3x: {'met' if reset_ratio >= 3 else 'NOT met'} ({reset_ratio:.1f}x)")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
