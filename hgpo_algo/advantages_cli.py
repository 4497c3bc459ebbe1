"""``hgpo advantages``: add ``return`` and ``advantage`` to every record of a step-record file.

The contract (README, "Advantages over step records"): exit 0 and the output written; or exit 2, one line
on stderr naming the file, line, record and field (or the option), and nothing written: no output file,
no byte on stdout, the input untouched. The estimator flags are built from the estimator registry, so a
newly registered estimator gets a flag per option without a change here.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

HELP = "compute GRPO / GiGPO / HGPO advantages for a file of step records"

_PROG = "hgpo advantages"


class _Failure(Exception):
    """Bad input: reported as one line on stderr with exit status 2."""


class _Terminated(BaseException):
    """SIGTERM / SIGHUP arrived: unwind (removing temporary files) and exit 128 + signal."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _one_line(text: str) -> str:
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape", "backslashreplace").decode() for ch in text)


def _say(message: str) -> None:
    line = f"{_PROG}: {_one_line(message)}\n"
    try:
        sys.stderr.write(line)
    except UnicodeEncodeError:
        sys.stderr.write(line.encode("ascii", "backslashreplace").decode("ascii"))
    sys.stderr.flush()


class _OneLineParser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line on stderr, exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {_one_line(message)}\n")


def option_flag(name: str) -> str:
    """The command-line flag of estimator option ``name``: ``--K`` for ``K``, ``--weight-offset`` for ``weight_offset``."""
    return "--K" if name == "K" else "--" + name.replace("_", "-")


def _estimator_flags() -> dict[str, tuple[Any, list[str]]]:
    """Option name -> (its spec in the first estimator that has it, the estimators that have it)."""
    from hgpo_algo.estimators import ESTIMATORS, option_specs

    flags: dict[str, tuple[Any, list[str]]] = {}
    for estimator in ESTIMATORS:
        for name, spec in option_specs(estimator).items():
            flags.setdefault(name, (spec, []))[1].append(estimator)
    return flags


def _help(spec: Any, owners: list[str]) -> str:
    default = spec.default if not isinstance(spec.default, bool) else str(spec.default).lower()
    text = f"{', '.join(owners)}: {spec.help}; {spec.describe()} (default: {default})"
    return text.replace("%", "%%")


def build_parser() -> argparse.ArgumentParser:
    from hgpo_algo.estimators import ESTIMATORS
    from hgpo_algo.options import COMMON_OPTIONS

    p = _OneLineParser(
        prog=_PROG,
        description="Read step records (.jsonl, .jsonl.gz, .parquet, or - for JSONL on stdin), compute "
        "per-step returns and advantages, and write every record with every input field untouched plus "
        "`return` and `advantage`. Bad input: exit 2, one line on stderr, nothing written.",
    )
    p.add_argument("input", help="input records: .jsonl, .jsonl.gz, .parquet or -")
    p.add_argument("-o", "--output", required=True, help="output file (format by suffix) or - for stdout")
    p.add_argument("--estimator", default="hgpo", help=f"{', '.join(ESTIMATORS)} (default: hgpo)")
    for name, spec in COMMON_OPTIONS.items():
        p.add_argument(option_flag(name), dest=name, metavar="X", help=_help(spec, ["all"]))
    group = p.add_argument_group("estimator options (only those that apply to the chosen estimator)")
    for name, (spec, owners) in _estimator_flags().items():
        if spec.kind is bool:
            group.add_argument(option_flag(name), dest=name, action=argparse.BooleanOptionalAction,
                               default=None, help=_help(spec, owners))
        else:
            metavar = "{" + ",".join(spec.choices) + "}" if spec.choices else ("N" if spec.kind is int else "X")
            group.add_argument(option_flag(name), dest=name, metavar=metavar, help=_help(spec, owners))
    p.add_argument("--report", action="store_true", help="print the per-level context-consistency report")
    return p


def _options(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """(shared options, estimator options) from the flags, each parsed and checked by its spec."""
    from hgpo_algo.estimators import ESTIMATORS, option_specs
    from hgpo_algo.options import COMMON_OPTIONS

    if args.estimator not in ESTIMATORS:
        raise _Failure(f"unknown estimator {args.estimator!r} (choose from {', '.join(sorted(ESTIMATORS))})")
    specs = option_specs(args.estimator)
    shared, options = {}, {}
    for name, spec in COMMON_OPTIONS.items():
        text = getattr(args, name)
        shared[name] = spec.default if text is None else _parse(spec, text, option_flag(name))
    for name in _estimator_flags():
        value = getattr(args, name)
        if value is None:
            continue
        if name not in specs:
            raise _Failure(f"option {option_flag(name)} does not apply to estimator {args.estimator!r}")
        spec = specs[name]
        options[name] = spec.check(value, f"option {option_flag(name)}") if isinstance(value, bool) else _parse(
            spec, value, option_flag(name)
        )
    return shared, options


def _parse(spec: Any, text: str, flag: str) -> Any:
    try:
        return spec.parse(text, f"option {flag}")
    except ValueError as exc:
        raise _Failure(str(exc)) from None


def _check_paths(source: str, target: str) -> None:
    from hgpo_algo.record_io import RecordFileError, file_format

    try:
        file_format(target)
        file_format(source)
    except RecordFileError as exc:
        raise _Failure(str(exc)) from None
    if target == "-":
        return
    out = Path(target)
    if not out.parent.is_dir():
        raise _Failure(f"{target}: cannot write (no such directory: {out.parent})")
    if out.is_dir():
        raise _Failure(f"{target}: cannot write (a directory)")
    if source != "-" and Path(source).exists() and out.exists():
        if os.path.samefile(source, target):
            raise _Failure(f"{target}: the output is the input file (write to another file, then move it)")


def _run(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    from hgpo_algo.api import compute_advantages
    from hgpo_algo.diagnostics import format_report
    from hgpo_algo.record_io import RecordFileError, read_records, write_records
    from hgpo_algo.records import StepRecordError

    shared, options = _options(args)
    _check_paths(args.input, args.output)
    try:
        source = read_records(args.input)
    except RecordFileError as exc:
        raise _Failure(str(exc)) from None
    if len(source) == 0:
        raise _Failure(f"{source.path}: no step records (the input is empty or only blank lines)")
    try:
        with warnings.catch_warnings(record=True) as caught:  # shown only on success: a failure is one line
            warnings.simplefilter("always")
            result = compute_advantages(source.records, args.estimator, report=args.report, **shared, **options)
    except StepRecordError as exc:
        raise _Failure(f"{source.where(exc.index)}: {exc}") from None
    except ValueError as exc:
        raise _Failure(str(exc)) from None
    try:
        write_records(args.output, source.with_columns({"return": result.returns, "advantage": result.advantages}))
    except RecordFileError as exc:
        raise _Failure(str(exc)) from None
    except OSError as exc:
        raise _Failure(f"{args.output}: cannot write ({exc.strerror or exc})") from None
    for warning in caught:
        _say(f"warning: {warning.message}")
    if result.report is not None:
        out = sys.stderr if args.output == "-" else sys.stdout
        print(f"{len(source)} records, estimator {args.estimator}", file=out)
        print(format_report(result.report), file=out)
    return 0


@contextlib.contextmanager
def _signals_unwind() -> Iterator[None]:
    """SIGTERM and SIGHUP raise :class:`_Terminated`, so ``finally`` blocks remove temporary files."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise _Terminated(signum)

    wanted = [s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s is not None]
    previous = {s: signal.signal(s, handler) for s in wanted}
    try:
        yield
    finally:
        for s, old in previous.items():
            signal.signal(s, old)


def main(argv: list[str]) -> int:
    """Run ``hgpo advantages`` with ``argv`` (without the command name); returns the exit status."""
    try:
        with _signals_unwind():
            return _run(argv)
    except _Failure as exc:
        _say(f"error: {exc}")
        return 2
    except _Terminated as exc:
        _say(f"stopped by signal {exc.signum}; nothing written")
        return 128 + exc.signum
    except KeyboardInterrupt:
        _say("interrupted; nothing written")
        return 130
    except BrokenPipeError:
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        _say("error: the reader of the output went away (broken pipe)")
        return 1
    except MemoryError:
        _say("error: out of memory")
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
