"""Replay every stored walkthrough of an ALFWorld split through hgpo/ALFWorld-v0 and count the wins.

Every walkthrough must win: each command admissible when issued, the win exactly on the last one.

    python benchmarks/alfworld_replay.py --split valid_seen [--data ../shared/data/alfworld] [--workers 2] [--engine native|textworld]
    python benchmarks/alfworld_replay.py --split generated --games 200

Splits: train, valid_seen, valid_unseen, valid_train (packed files under --data/games/), or generated.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# benchmarks/alfworld.py would shadow the `alfworld` package: keep this folder off the path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "alfworld"


def _env_kwargs(args: argparse.Namespace) -> dict:
    if args.split == "generated":
        return {"split": "generated", "generated_games": args.games, "generator_seed": args.seed}
    path = args.data / "games" / f"{args.split}.jsonl.gz"
    if not path.is_file():
        raise SystemExit(f"alfworld_replay: no packed split at {path}")
    return {"data_dir": str(path)}


def _replay(kwargs: dict, indices: list[int]) -> list[tuple[int, str, bool, str, float]]:
    from hgpo_envs.alfworld.env import ALFWorldEnv

    env = ALFWorldEnv(**kwargs)
    out = []
    for index in indices:
        start = time.perf_counter()
        _, info = env.reset(options={"game_index": index})
        problem, won = "", False
        plan = info["expert_plan"]
        for i, command in enumerate(plan):
            if info["won"]:
                problem = f"won before step {i}"
                break
            if command not in info["admissible_commands"]:
                problem = f"step {i} {command!r} not admissible"
                break
            _, _, won, _, info = env.step(command)
        if not problem and not won:
            problem = "not won after the last command"
        out.append((index, info["task_type"], won and not problem, problem, time.perf_counter() - start))
    env.close()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--split", required=True,
                        choices=["train", "valid_seen", "valid_unseen", "valid_train", "generated"])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--games", type=int, default=120, help="size of the generated split")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated split")
    parser.add_argument("--engine", default="native", choices=["native", "textworld"])
    args = parser.parse_args(argv)

    from hgpo_envs.alfworld.env import ALFWorldEnv

    kwargs = {**_env_kwargs(args), "engine": args.engine}
    n = ALFWorldEnv(**kwargs).num_games if args.split != "generated" else args.games
    chunks = [list(range(w, n, args.workers)) for w in range(args.workers)]
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        results = [r for part in pool.map(_replay, [kwargs] * len(chunks), chunks) for r in part]
    wall = time.perf_counter() - start
    wins = sum(r[2] for r in results)
    by_type_total = Counter(r[1] for r in results)
    by_type_won = Counter(r[1] for r in results if r[2])
    print(f"split {args.split} ({args.engine} engine): {wins}/{len(results)} walkthroughs won "
          f"({wall:.0f} s wall on {args.workers} processes, median {statistics.median(r[4] for r in results):.2f} s "
          "per game incl. load and reset)")
    for task_type in sorted(by_type_total):
        print(f"  {task_type:<32} {by_type_won[task_type]}/{by_type_total[task_type]}")
    for index, task_type, ok, problem, _ in sorted(results):
        if not ok:
            print(f"  FAILED game {index} ({task_type}): {problem}")
    return 0 if wins == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
