"""Parity of the native ALFWorld engine with the TextWorld-backed one, on every real game.

For each game the TextWorld-backed engine (``engine="textworld"``) plays the protocol of
:mod:`hgpo_envs.alfworld.transcripts` (the stored walkthrough, then 3 seeded runs of 50 random
admissible + 10 random inadmissible commands); its transcripts are cached OUTSIDE the repository (they
derive from the data), one file per game, so an interrupted run keeps what it made and later runs
compare in minutes. The native engine then replays every cached transcript; every observation,
admissible list, reward, ``terminated``, ``won``, ``moves`` and ``is_action_valid`` must be equal, every
walkthrough must win on its last command, and the native expert's plan from the start must be no longer
than the walkthrough.

    python benchmarks/alfworld_parity.py reference [--workers 2] [--limit N]   # fill the cache (slow)
    python benchmarks/alfworld_parity.py compare [--workers 2]                  # native vs the cache

``--cache`` defaults to ``$HGPO_CACHE/alfworld_parity`` or ``~/.cache/hgpo/alfworld_parity``. Games are
processed small splits first, then train in a seeded order, so a partial cache spans every split and type.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "alfworld"
SPLITS = ("valid_seen", "valid_unseen", "valid_train", "train")


def default_cache() -> Path:
    base = os.environ.get("HGPO_CACHE")
    return Path(base).expanduser() / "alfworld_parity" if base else Path.home() / ".cache" / "hgpo" / "alfworld_parity"


def game_order(data: Path) -> list[tuple[str, int]]:
    """(split, game_index) of every game: the small splits in order, then train in a seeded order."""
    from hgpo_envs.alfworld.gameset import read_packed

    order: list[tuple[str, int]] = []
    for split in SPLITS:
        n = len(read_packed(data / "games" / f"{split}.jsonl.gz"))
        indices = list(range(n))
        if split == "train":
            random.Random(0).shuffle(indices)
        order += [(split, i) for i in indices]
    return order


_ENVS: dict[tuple[str, str], object] = {}


def _env(data: str, split: str, engine: str):
    from hgpo_envs.alfworld.env import ALFWorldEnv

    key = (split, engine)
    if key not in _ENVS:
        _ENVS[key] = ALFWorldEnv(data_dir=str(Path(data) / "games" / f"{split}.jsonl.gz"), engine=engine)
    return _ENVS[key]


def _game_key(env, index: int) -> tuple[str, list[str]]:
    from hgpo_envs.alfworld.transcripts import game_digest

    record = env.game_set.games[index]
    logic = env.game_set.logic
    return game_digest(logic.domain, logic.grammar, record.pddl_problem + record.task_desc, record.walkthrough), list(
        record.walkthrough
    )


def cache_path(cache: Path, split: str, index: int, digest: str) -> Path:
    from hgpo_envs.alfworld.transcripts import PROTOCOL_VERSION

    return cache / f"v{PROTOCOL_VERSION}" / split / f"{index:04d}-{digest[:16]}.json.gz"


def _reference_job(data: str, cache: str, items: list[tuple[str, int]]) -> int:
    from hgpo_envs.alfworld.transcripts import play_protocol

    made = 0
    for split, index in items:
        env = _env(data, split, "textworld")
        digest, walkthrough = _game_key(env, index)
        path = cache_path(Path(cache), split, index, digest)
        if path.is_file():
            continue
        transcript = play_protocol(
            lambda env=env, index=index: env.reset(options={"game_index": index}), env.step, walkthrough,
            seed=int(digest[:8], 16),
        )
        transcript.update(split=split, game_index=index, digest=digest)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
        with gzip.open(tmp, "wt", encoding="utf-8") as f:
            json.dump(transcript, f)
        tmp.replace(path)
        made += 1
    return made


def _compare_job(data: str, cache: str, items: list[tuple[str, int]]) -> list[dict]:
    from hgpo_envs.alfworld.transcripts import first_difference, replay_protocol

    results = []
    for split, index in items:
        env = _env(data, split, "native")
        digest, walkthrough = _game_key(env, index)
        path = cache_path(Path(cache), split, index, digest)
        if not path.is_file():
            continue
        with gzip.open(path, "rt", encoding="utf-8") as f:
            reference = json.load(f)
        start = time.perf_counter()
        mine = replay_protocol(lambda env=env, index=index: env.reset(options={"game_index": index}), env.step, reference)
        seconds = time.perf_counter() - start
        diff = first_difference(reference, mine)
        walk = mine["runs"][0]["steps"]
        won_last = bool(walk) and walk[-1]["won"] and not any(s["won"] for s in walk[:-1])
        env.reset(options={"game_index": index})
        plan = env.unwrapped.expert_plan_from_state()
        results.append({
            "split": split, "index": index, "task_type": env.game_set.games[index].task_type, "diff": diff,
            "walkthrough_wins": won_last, "walkthrough_len": len(walkthrough),
            "expert_len": None if plan is None else len(plan), "steps": sum(len(r["steps"]) for r in mine["runs"]),
            "seconds": seconds,
        })
    return results


def _split_work(items: list, workers: int) -> list[list]:
    return [items[w::workers] for w in range(workers)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mode", choices=("reference", "compare"))
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--cache", type=Path, default=None)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--limit", type=int, default=None, help="only the first N games of the order")
    args = parser.parse_args(argv)
    cache = args.cache or default_cache()
    if not (args.data / "games" / "train.jsonl.gz").is_file():
        raise SystemExit(f"alfworld_parity: no packed games under {args.data}/games")
    order = game_order(args.data)[: args.limit]
    start = time.perf_counter()
    job = _reference_job if args.mode == "reference" else _compare_job
    with ProcessPoolExecutor(args.workers) as pool:
        # Chunks of 20 games, round-robin: an interrupted run leaves a prefix of the order done.
        chunks = [order[i : i + 20] for i in range(0, len(order), 20)]
        futures = [pool.submit(job, str(args.data), str(cache), chunk) for chunk in chunks]
        outputs = [f.result() for f in futures]
    elapsed = time.perf_counter() - start
    if args.mode == "reference":
        print(f"reference transcripts: {sum(outputs)} new, cache {cache}, {elapsed:.0f} s")
        return 0
    results = [r for out in outputs for r in out]
    by_split = Counter(r["split"] for r in results)
    by_type = Counter(r["task_type"] for r in results)
    mismatches = [r for r in results if r["diff"] is not None]
    losers = [r for r in results if not r["walkthrough_wins"]]
    longer = [r for r in results if r["expert_len"] is None or r["expert_len"] > r["walkthrough_len"]]
    shorter = sum(1 for r in results if r["expert_len"] is not None and r["expert_len"] < r["walkthrough_len"])
    steps = sum(r["steps"] for r in results)
    print(f"games compared: {len(results)} of {len(order)} ({', '.join(f'{k} {v}' for k, v in sorted(by_split.items()))})")
    print(f"task types: {', '.join(f'{k} {v}' for k, v in sorted(by_type.items()))}")
    print(f"steps compared: {steps}; mismatching games: {len(mismatches)}; walkthroughs not winning: {len(losers)}")
    print(f"expert plan longer than walkthrough (or none): {len(longer)}; shorter: {shorter}")
    print(f"native replay: {sum(r['seconds'] for r in results):.1f} s for {steps} steps; wall {elapsed:.0f} s")
    for r in (mismatches + losers + longer)[:10]:
        print(f"  {r['split']}[{r['index']}] {r['task_type']}: diff={r['diff']} wins={r['walkthrough_wins']} "
              f"expert={r['expert_len']} walkthrough={r['walkthrough_len']}")
    return 1 if mismatches or losers or longer else 0


if __name__ == "__main__":
    raise SystemExit(main())
