"""``hgpo advantages``: add ``return`` and ``advantage`` to every record of a step-record file."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

HELP = "compute GRPO / GiGPO / HGPO advantages for a file of step records"


class _OneLineParser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line on stderr, exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    p = _OneLineParser(
        prog="hgpo advantages",
        description="Read step records (.jsonl, .jsonl.gz, .parquet, or - for JSONL on stdin), compute "
        "per-step returns and advantages, and write every record with every input field untouched plus "
        "`return` and `advantage`.",
    )
    p.add_argument("input", help="input records: .jsonl, .jsonl.gz, .parquet or -")
    p.add_argument("-o", "--output", required=True, help="output file (format by suffix) or - for stdout")
    p.add_argument("--estimator", default="hgpo", help="grpo, gigpo or hgpo (default: hgpo)")
    p.add_argument("--gamma", type=float, default=0.95, help="discount (default: 0.95)")
    p.add_argument("--invalid-penalty", type=float, default=0.1, help="lambda for invalid steps (default: 0.1)")
    opts = p.add_argument_group("estimator options (only those that apply to the chosen estimator)")
    opts.add_argument("--K", type=int, dest="K", help="HGPO history levels (default: 2)")
    opts.add_argument("--alpha", type=float, help="HGPO level-weight exponent (default: 1.0)")
    opts.add_argument("--weight-offset", type=float, help="HGPO: rho_j = (j + offset)^alpha (default: 2)")
    opts.add_argument("--mode", choices=["mean_std_norm", "mean_norm"], help="normalisation (default: mean_std_norm)")
    opts.add_argument("--base-group", action="store_true", default=None, help="HGPO: add the GRPO episode item")
    opts.add_argument(
        "--episode-stats", choices=["cross_steps", "per_trajectory"], help="GRPO statistics (default: cross_steps)"
    )
    opts.add_argument("--omega", type=float, help="GiGPO step-term weight (default: 1.0)")
    p.add_argument("--report", action="store_true", help="print the per-level context-consistency report")
    return p


OPTION_FLAGS = {
    "K": "--K",
    "alpha": "--alpha",
    "weight_offset": "--weight-offset",
    "mode": "--mode",
    "base_group": "--base-group",
    "episode_stats": "--episode-stats",
    "omega": "--omega",
}


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    from hgpo_algo.api import compute_advantages
    from hgpo_algo.diagnostics import format_report
    from hgpo_algo.estimators import ESTIMATORS, estimator_options
    from hgpo_algo.record_io import RecordFileError, file_format, read_records, write_records
    from hgpo_algo.records import StepRecordError

    def fail(message: str) -> int:
        print(f"hgpo advantages: error: {message}", file=sys.stderr)
        return 2

    if args.estimator not in ESTIMATORS:
        return fail(f"unknown estimator {args.estimator!r} (choose from {', '.join(sorted(ESTIMATORS))})")
    known = estimator_options(args.estimator)
    options = {name: getattr(args, name) for name in OPTION_FLAGS if getattr(args, name) is not None}
    for name in options:
        if name not in known:
            return fail(f"option {OPTION_FLAGS[name]} does not apply to estimator {args.estimator!r}")
    try:
        file_format(args.output)
        source = read_records(args.input)
    except RecordFileError as exc:
        return fail(str(exc))
    try:
        result = compute_advantages(
            source.records,
            args.estimator,
            gamma=args.gamma,
            invalid_penalty=args.invalid_penalty,
            report=args.report,
            **options,
        )
    except StepRecordError as exc:
        return fail(f"{source.where(exc.index)}: {exc}")
    except ValueError as exc:
        return fail(str(exc))
    try:
        write_records(args.output, source.with_columns({"return": result.returns, "advantage": result.advantages}))
    except (RecordFileError, OSError) as exc:
        return fail(f"{args.output}: cannot write ({exc})")
    if result.report is not None:
        out = sys.stderr if args.output == "-" else sys.stdout
        print(f"{len(source)} records, estimator {args.estimator}", file=out)
        print(format_report(result.report), file=out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
