"""``hgpo demo``: the main job on embedded defaults.

Makes a batch of group rollouts (synthetic random-graph tasks, see :mod:`hgpo_algo.synthetic`), writes them
as step records, runs ``hgpo advantages`` on the file for GRPO, GiGPO and HGPO, and prints a summary
(success rate, steps, advantage statistics, the per-level context-consistency report) and a plot.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "run the main job on embedded defaults: rollouts -> step records -> GRPO/GiGPO/HGPO advantages"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hgpo demo", description=__doc__.splitlines()[0])
    p.add_argument("--out", default="out/demo", help="output folder (default: out/demo)")
    p.add_argument("--groups", type=int, default=16, help="task groups (default: 16)")
    p.add_argument("--group-size", type=int, default=8, help="rollouts per task (default: 8)")
    p.add_argument("--max-steps", type=int, default=50, help="step limit per episode (default: 50)")
    p.add_argument("--K", type=int, default=2, dest="K", help="HGPO history levels (default: 2)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-plot", action="store_true", help="skip the plot")
    return p


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    import numpy as np
    import pyarrow as pa

    from hgpo_algo.advantages_cli import main as advantages_main
    from hgpo_algo.diagnostics import format_report
    from hgpo_algo.record_io import read_records
    from hgpo_algo.synthetic import synthetic_rollouts

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cols = synthetic_rollouts(args.groups, args.group_size, max_steps=args.max_steps, n_states=12, seed=args.seed)
    rollouts = out / "rollouts.jsonl"
    rows = pa.table(cols).to_pylist()
    with open(rollouts, "w", encoding="utf-8") as fh:
        import json

        for r in rows:
            fh.write(json.dumps(r) + "\n")

    n_traj = args.groups * args.group_size
    first = np.r_[True, cols["traj_id"][1:] != cols["traj_id"][:-1]]
    won = cols["won"][first]
    lengths = np.bincount(cols["traj_id"])
    print(f"rollouts: {args.groups} tasks x {args.group_size} = {n_traj} episodes, {len(rows):,} steps")
    print(f"success rate {won.mean():.1%}, steps per episode: median {np.median(lengths):.0f}, max {lengths.max()}")
    print(f"step records: {rollouts}")

    advantages = {}
    for estimator in ("grpo", "gigpo", "hgpo"):
        target = out / f"advantages_{estimator}.parquet"
        argv_adv = [str(rollouts), "-o", str(target), "--estimator", estimator]
        if estimator == "hgpo":
            argv_adv += ["--K", str(args.K)]
        print(f"\n$ hgpo advantages {' '.join(argv_adv)}")
        status = advantages_main(argv_adv)
        if status:
            return status
        advantages[estimator] = np.asarray(read_records(str(target)).table.column("advantage"))

    print("\nadvantage per step     mean      std   share zero")
    for name, adv in advantages.items():
        print(f"  {name:<16}{adv.mean():>9.3f}{adv.std():>9.3f}{(adv == 0).mean():>12.1%}")

    from hgpo_algo.api import compute_advantages

    report = compute_advantages(rows, "hgpo", K=args.K, report=True, report_levels=max(args.K, 4)).report
    assert report is not None
    if not args.no_plot:
        path = _plot(out / "demo.png", advantages, report)
        if path:
            print(f"\nplot: {path}")
    print(f"\ncontext consistency of the step groups (HGPO uses levels 0..{args.K}; deeper ones for reference):")
    print(format_report(report))
    return 0


def _plot(path: Path, advantages: dict, report: list) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib is not installed: pip install 'hgpo[plot]' for the plot)", file=sys.stderr)
        return None
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    levels = [r.level for r in report]
    left.plot(levels, [100 * r.inconsistent_share for r in report], "o-", label="history differs from majority")
    left.plot(levels, [100 * r.singleton_share for r in report], "s--", label="steps in singleton groups")
    left.set(xlabel="history level j", ylabel="% of steps", title="Context consistency of step groups")
    left.set_xticks(levels)
    left.legend()
    gigpo, hgpo = advantages["gigpo"], advantages["hgpo"]
    right.scatter(gigpo, hgpo, s=4, alpha=0.3)
    right.axhline(0, color="grey", lw=0.5)
    right.axvline(0, color="grey", lw=0.5)
    right.set(xlabel="GiGPO advantage", ylabel="HGPO advantage", title="Per-step advantages")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
