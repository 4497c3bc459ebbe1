"""``hgpo demo``: the main job on embedded defaults.

Collects group rollouts on ALFWorld (generated games unless real data is configured) and WebShop (the
embedded server) with an epsilon-expert policy, writes them as step records, runs ``hgpo advantages`` on
each file for GRPO, GiGPO and HGPO, and prints a summary (success rate, steps, advantage statistics, the
per-level context-consistency report) and a plot. ``--env synthetic`` uses the built-in random-graph tasks
instead (no environment extras needed).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

HELP = "run the main job: group rollouts on ALFWorld and WebShop -> step records -> GRPO/GiGPO/HGPO advantages"

ENVIRONMENTS = {"alfworld": "hgpo/ALFWorld-v0", "webshop": "hgpo/WebShop-v0"}
ESTIMATORS = ("grpo", "gigpo", "hgpo")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hgpo demo", description=__doc__.splitlines()[0])
    p.add_argument("--env", default="alfworld,webshop", help="comma list of alfworld, webshop, synthetic")
    p.add_argument("--out", default="out/demo", help="output folder (default: out/demo)")
    p.add_argument("--groups", type=int, default=8, help="task groups per environment (default: 8)")
    p.add_argument("--group-size", type=int, default=4, help="rollouts per task (default: 4)")
    p.add_argument("--epsilon", type=float, default=0.3, help="random-action rate of the expert policy (default: 0.3)")
    p.add_argument("--K", type=int, default=2, dest="K", help="HGPO history levels = memory window (default: 2)")
    p.add_argument("--backend", default="sync", choices=["sync", "process", "ray"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-plot", action="store_true", help="skip the plot")
    return p


def _rollouts(name: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    if name == "synthetic":
        import pyarrow as pa

        from hgpo_algo.synthetic import synthetic_rollouts

        cols = synthetic_rollouts(args.groups, args.group_size, n_states=12, seed=args.seed)
        return pa.table(cols).to_pylist()
    from hgpo_algo.providers import DEFAULT_EXPERT_POLICY, load_by_name, load_rollout_provider

    collect = load_rollout_provider()
    Expert = load_by_name(DEFAULT_EXPERT_POLICY, "policy")  # shipped with the rollout provider's package
    return collect(
        ENVIRONMENTS[name],
        Expert(epsilon=args.epsilon, seed=args.seed),
        args.groups,
        args.group_size,
        backend=args.backend,
        seed=args.seed,
        history_length=args.K,
        include=("action",),
        progress=True,
    )


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    import numpy as np

    from hgpo_algo.advantages_cli import main as advantages_main
    from hgpo_algo.api import compute_advantages
    from hgpo_algo.diagnostics import format_report
    from hgpo_algo.record_io import read_records

    names = [n.strip() for n in args.env.split(",") if n.strip()]
    unknown = [n for n in names if n not in (*ENVIRONMENTS, "synthetic")]
    if unknown or not names:
        print(f"hgpo demo: error: unknown environment(s) {unknown} (alfworld, webshop, synthetic)", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, Any]] = {}
    for name in names:
        policy = "uniform random actions" if name == "synthetic" else f"expert with epsilon {args.epsilon}"
        print(f"\n=== {name}: {args.groups} tasks x {args.group_size} rollouts, {policy}")
        try:
            rows = _rollouts(name, args)
        except ImportError as exc:
            print(f"hgpo demo: error: {name} needs its extra: {exc}", file=sys.stderr)
            return 2
        path = out / f"{name}_rollouts.jsonl"
        with open(path, "w", encoding="utf-8") as fh:
            for r in rows:
                fh.write(json.dumps(r) + "\n")
        last_step: dict[Any, int] = {}
        for r in rows:
            last_step[r["traj_id"]] = max(last_step.get(r["traj_id"], -1), r["step"])
        ends = [r for r in rows if r["step"] == last_step[r["traj_id"]]]
        won = np.array([bool(r.get("won", r["reward"] > 0)) for r in ends])
        lengths = np.array([r["step"] + 1 for r in ends])
        print(f"success rate {won.mean():.1%}; steps per episode: median {np.median(lengths):.0f}, max {lengths.max()}")
        print(f"step records: {path}")
        advantages = {}
        for estimator in ESTIMATORS:
            target = out / f"{name}_advantages_{estimator}.parquet"
            argv_adv = [str(path), "-o", str(target), "--estimator", estimator]
            if estimator == "hgpo":
                argv_adv += ["--K", str(args.K)]
            if name == "webshop":
                argv_adv += ["--mode", "mean_norm"]  # the WebShop setting of the papers
            print(f"$ hgpo advantages {' '.join(argv_adv)}")
            status = advantages_main(argv_adv)
            if status:
                return status
            advantages[estimator] = np.asarray(read_records(str(target)).table.column("advantage"))
        print("advantage per step     mean      std   share zero")
        for est, adv in advantages.items():
            print(f"  {est:<16}{adv.mean():>9.3f}{adv.std():>9.3f}{(adv == 0).mean():>12.1%}")
        report = compute_advantages(rows, "hgpo", K=args.K, report=True, report_levels=max(args.K, 4)).report
        print(f"context consistency of the step groups (HGPO uses levels 0..{args.K}; deeper ones for reference):")
        print(format_report(report or []))
        results[name] = {"advantages": advantages, "report": report}
    if not args.no_plot:
        path = _plot(out / "demo.png", results)
        if path:
            print(f"\nplot: {path}")
    return 0


def _plot(path: Path, results: dict[str, dict[str, Any]]) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib is not installed: pip install 'hgpo[plot]' for the plot)", file=sys.stderr)
        return None
    fig, axes = plt.subplots(len(results), 2, figsize=(11, 3.8 * len(results)), squeeze=False)
    for row, (name, res) in enumerate(results.items()):
        left, right = axes[row]
        report = res["report"]
        levels = [r.level for r in report]
        left.plot(levels, [100 * r.inconsistent_share for r in report], "o-", label="history differs from majority")
        left.plot(levels, [100 * r.singleton_share for r in report], "s--", label="steps in singleton groups")
        left.set(xlabel="history level j", ylabel="% of steps", title=f"{name}: context consistency of step groups")
        left.set_xticks(levels)
        left.legend()
        gigpo, hgpo = res["advantages"]["gigpo"], res["advantages"]["hgpo"]
        right.scatter(gigpo, hgpo, s=6, alpha=0.35)
        right.axhline(0, color="grey", lw=0.5)
        right.axvline(0, color="grey", lw=0.5)
        right.set(xlabel="GiGPO advantage", ylabel="HGPO advantage", title=f"{name}: per-step advantages")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
