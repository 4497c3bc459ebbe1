"""``hgpo demo``: the main job on embedded defaults.

Collects group rollouts on ALFWorld (generated games unless real data is configured) and WebShop (the
embedded server) with an epsilon-expert policy through :func:`wrappers.collect_groups`, writes the step
records, computes GRPO, GiGPO and HGPO advantages on them once (the same computation as ``hgpo
advantages``, whose equivalent command is printed), writes each estimator's output file, and prints a
summary (success rate, steps, advantage statistics, the per-level context-consistency report) and a plot.
``--env synthetic`` uses the built-in random-graph tasks instead (no environment extras needed).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from hgpo_algo.defaults import HISTORY_LEVELS

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
    p.add_argument("--K", type=int, default=HISTORY_LEVELS, dest="K",
                   help=f"HGPO history levels = memory window (default: {HISTORY_LEVELS})")
    p.add_argument("--backend", default="sync", choices=["sync", "process", "ray"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-plot", action="store_true", help="skip the plot")
    return p


def _rollouts(name: str, args: argparse.Namespace, path: Path) -> list[dict[str, Any]]:
    """The step records of one environment, also written to ``path``."""
    if name == "synthetic":
        import pyarrow as pa

        from hgpo_algo.synthetic import synthetic_rollouts

        rows = pa.table(synthetic_rollouts(args.groups, args.group_size, n_states=12, seed=args.seed)).to_pylist()
        from wrappers.sinks import open_sink

        sink = open_sink(path)
        for row in rows:
            sink.write(row)
        sink.close()
        return rows
    import hgpo_envs  # noqa: F401  (registers the environment ids)
    from wrappers import collect_groups
    from wrappers.policies import Expert

    return collect_groups(
        ENVIRONMENTS[name],
        Expert(epsilon=args.epsilon, seed=args.seed),
        args.groups,
        args.group_size,
        backend=args.backend,
        seed=args.seed,
        history_length=args.K,
        include=("action",),
        sink=path,
        progress=True,
    )


def _estimator_options(name: str, estimator: str, K: int) -> dict[str, Any]:
    options: dict[str, Any] = {"K": K} if estimator == "hgpo" else {}
    if name == "webshop":
        options["mode"] = "mean_norm"  # the WebShop setting of the papers
    return options


def _advantages(name: str, rows: list[dict[str, Any]], path: Path, out: Path, K: int) -> dict[str, Any]:
    """Each estimator's advantages (written as ``hgpo advantages`` would) and HGPO's consistency report."""
    from hgpo_algo.api import compute_advantages
    from hgpo_algo.record_io import RecordFile, write_records

    advantages, report = {}, None
    source = RecordFile(str(path), rows=rows)
    for estimator in ESTIMATORS:
        options = _estimator_options(name, estimator, K)
        target = out / f"{name}_advantages_{estimator}.parquet"
        flags = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in options.items())
        print(f"= hgpo advantages {path} -o {target} --estimator {estimator} {flags}".rstrip())
        want_report = estimator == "hgpo"
        result = compute_advantages(rows, estimator, report=want_report, report_levels=max(K, 4), **options)
        write_records(str(target), source.with_columns({"return": result.returns, "advantage": result.advantages}))
        advantages[estimator] = result.advantages
        if want_report:
            report = result.report
    return {"advantages": advantages, "report": report}


def _summary(rows: list[dict[str, Any]], path: Path) -> None:
    import numpy as np

    ends = [r for r in rows if r.get("done", False)] or _last_steps(rows)
    won = np.array([bool(r.get("won", r["reward"] > 0)) for r in ends])
    lengths = np.array([r["step"] + 1 for r in ends])
    print(f"success rate {won.mean():.1%}; steps per episode: median {np.median(lengths):.0f}, max {lengths.max()}")
    print(f"step records: {path}")


def _last_steps(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    last: dict[Any, dict[str, Any]] = {}
    for r in rows:
        if r["traj_id"] not in last or r["step"] > last[r["traj_id"]]["step"]:
            last[r["traj_id"]] = r
    return list(last.values())


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    from hgpo_algo.diagnostics import format_report

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
        path = out / f"{name}_rollouts.jsonl"
        try:
            rows = _rollouts(name, args, path)
        except ImportError as exc:
            print(f"hgpo demo: error: {name} needs its extra: {exc}", file=sys.stderr)
            return 2
        _summary(rows, path)
        results[name] = _advantages(name, rows, path, out, args.K)
        print("advantage per step     mean      std   share zero")
        for est, adv in results[name]["advantages"].items():
            print(f"  {est:<16}{adv.mean():>9.3f}{adv.std():>9.3f}{(adv == 0).mean():>12.1%}")
        print(f"context consistency of the step groups (HGPO uses levels 0..{args.K}; deeper ones for reference):")
        print(format_report(results[name]["report"] or []))
    if not args.no_plot:
        plot = _plot(out / "demo.png", results)
        if plot:
            print(f"\nplot: {plot}")
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
        if all(r.prompt_mixed_share is not None for r in report):
            left.plot(levels, [100 * r.prompt_mixed_share for r in report], "^:",
                      label="prompt differs from the group's majority")
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
