"""Task files for verl: one Parquet row per task (reset seed), the prompt verl's dataset needs.

verl's ``RLHFDataset`` reads rows with a chat ``prompt``; our agent loop replaces the user turn with the
environment's memory-window prompt and keeps the system turn, and reads the task from
``extra_info`` (``seed``, ``index``). Every rollout of a group plays the same row, so the group starts
from one state. ``python -m hgpo.integrations.verl.tasks --env hgpo/ALFWorld-v0 --out DIR`` writes
``DIR/train.parquet`` and ``DIR/val.parquet``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["DEFAULT_SYSTEM_PROMPT", "task_rows", "write_task_files"]

DEFAULT_SYSTEM_PROMPT = "You are an expert agent acting in a text environment. Follow the format rules exactly."
AGENT_NAME = "hgpo_gym_env"  # = hgpo.integrations.verl.agent_loop.AGENT_NAME (that module needs verl)


def task_rows(env_id: str, seeds: range | list[int], system_prompt: str = DEFAULT_SYSTEM_PROMPT) -> list[dict[str, Any]]:
    """One row per reset seed: ``prompt`` (system + placeholder user turn), ``agent_name``, ``extra_info``."""
    return [
        {
            "data_source": env_id,
            "agent_name": AGENT_NAME,
            "prompt": [{"role": "system", "content": system_prompt},
                       {"role": "user", "content": "(the environment's prompt)"}],
            "extra_info": {"seed": int(seed), "index": i},
        }
        for i, seed in enumerate(seeds)
    ]


def write_task_files(env_id: str, out: str | Path, *, n_train: int = 1024, n_val: int = 128, seed: int = 0,
                     system_prompt: str = DEFAULT_SYSTEM_PROMPT) -> tuple[Path, Path]:
    """Write ``train.parquet`` (seeds ``seed ..``) and ``val.parquet`` (the next ``n_val`` seeds)."""
    if n_train < 1 or n_val < 0:
        raise ValueError(f"need n_train >= 1 and n_val >= 0, got {n_train} and {n_val}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, seeds in (("train", range(seed, seed + n_train)), ("val", range(seed + n_train, seed + n_train + n_val))):
        path = out / f"{name}.parquet"
        pq.write_table(pa.Table.from_pylist(task_rows(env_id, seeds, system_prompt)), path)
        paths.append(path)
    return paths[0], paths[1]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m hgpo.integrations.verl.tasks", description=__doc__.split("\n")[0])
    parser.add_argument("--env", required=True, help="Gymnasium id, e.g. hgpo/ALFWorld-v0")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--train", type=int, default=1024, help="number of training tasks")
    parser.add_argument("--val", type=int, default=128, help="number of validation tasks")
    parser.add_argument("--seed", type=int, default=0, help="first reset seed")
    args = parser.parse_args(argv)
    train, val = write_task_files(args.env, args.out, n_train=args.train, n_val=args.val, seed=args.seed)
    print(f"wrote {train} and {val}")


if __name__ == "__main__":
    main()
