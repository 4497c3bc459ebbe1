"""Property tests: generated bad input at the record loader (every field, every type, every input format) and
at every option of `hgpo advantages`. The contract: exit 0 with every record written, or exit 2 with one line
naming the problem, no traceback, nothing written, and the input byte-identical afterwards.

Bounded by the suite's hypothesis profile; ``HYPOTHESIS_PROFILE=long`` runs many more examples.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import math
import os
import re
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hgpo_algo.advantages_cli import _estimator_flags, main, option_flag
from hgpo_algo.estimators import option_specs
from hgpo_algo.options import COMMON_OPTIONS
from hgpo_algo.record_io import RecordFile, read_records, write_records
from tests.algo.vectors import TV1_RECORDS

FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

SCHEMA_FIELDS = ["group_id", "traj_id", "step", "state_key", "reward", "invalid", "context_keys"]
TEXT = st.text(st.characters(codec=None), max_size=6)  # surrogates and control characters included
SCALARS = (
    st.none() | st.booleans() | st.integers() | st.integers(-(2**70), 2**70) | st.floats() | TEXT
    | st.sampled_from([0, 1, -1, 2**63, 2**64, 1e300, -1e300, 1.5, "", "NaN", "1", "A", "t0", "g"])
)
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=2),
                      max_leaves=6)


def _dump(rows) -> bytes:
    return b"".join(json.dumps(r, ensure_ascii=True, allow_nan=True).encode() + b"\n" for r in rows)


def _write_input(path: Path, rows) -> None:
    if path.name.endswith(".parquet"):
        write_records(str(path), RecordFile("x", rows=rows))
    elif path.name.endswith(".gz"):
        path.write_bytes(gzip.compress(_dump(rows), mtime=0))
    else:
        path.write_bytes(_dump(rows))


def _run(capsysbinary, argv):
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse: usage errors (2) and --help (0)
        code = exc.code
    out, err = capsysbinary.readouterr()
    return code, out, err.decode("utf-8", "backslashreplace")


def _check_contract(workdir: Path, src: Path, before: bytes, target: str, code, out: bytes, err: str) -> None:
    assert src.read_bytes() == before, "the input changed"
    assert "Traceback" not in err
    leftovers = [p.name for p in workdir.iterdir() if p.name.endswith(".tmp")]
    assert not leftovers, leftovers
    if code == 2:
        assert err.count("\n") == 1 and err.startswith("hgpo advantages: error: "), err
        assert out == b"", "partial output on stdout"
        assert target == "-" or not Path(target).exists(), "partial output file"
    else:
        assert code == 0, (code, err)


def _check_output(target: str, out: bytes, n: int) -> list[dict]:
    if target == "-":
        rows = [json.loads(line) for line in out.splitlines()]
    else:
        got = read_records(target)
        rows = got.rows if got.rows is not None else got.table.to_pylist()
    assert len(rows) == n
    assert all(math.isfinite(r["advantage"]) and math.isfinite(r["return"]) for r in rows)
    return rows


@FUZZ
@given(
    field=st.sampled_from([*SCHEMA_FIELDS, "extra"]),
    value=VALUES,
    drop=st.booleans(),
    index=st.integers(0, len(TV1_RECORDS) - 1),
    source=st.sampled_from(["in.jsonl", "in.jsonl.gz", "in.parquet"]),
    target=st.sampled_from(["out.jsonl", "out.jsonl.gz", "out.parquet", "-"]),
)
def test_record_loader_fuzz(capsysbinary, field, value, drop, index, source, target):
    rows = [dict(r) for r in TV1_RECORDS]
    if drop and field in rows[index]:
        del rows[index][field]
    else:
        rows[index][field] = value
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        src = workdir / source
        _write_input(src, rows)
        before = src.read_bytes()
        out_path = target if target == "-" else str(workdir / target)
        code, out, err = _run(capsysbinary, [str(src), "-o", out_path])
        _check_contract(workdir, src, before, out_path, code, out, err)
        if code == 2:
            where = re.escape(str(src)) + (r":\d+: record \d+" if "jsonl" in source else r": record \d+")
            assert re.search(where, err), err  # names the file, the line (JSONL) and the record
        else:
            written = _check_output(out_path, out, len(rows))
            jsonl_only = "parquet" not in source + target  # Parquet may turn ints beside floats into floats
            if field == "extra" and not drop and target != "-" and jsonl_only:
                assert json.dumps(written[index]["extra"], allow_nan=True) == json.dumps(value, allow_nan=True)


@FUZZ
@given(
    lines=st.lists(st.binary(max_size=12) | st.sampled_from([b"{}", b"[]", b"null", b'{"a": NaN}', b"\xef\xbb\xbf"]),
                   min_size=0, max_size=3),
    at=st.integers(0, len(TV1_RECORDS)),
    gz=st.booleans(),
)
def test_junk_lines_fuzz(capsysbinary, lines, at, gz):
    body = _dump(TV1_RECORDS).splitlines(keepends=True)
    body[at:at] = [line.replace(b"\n", b" ") + b"\n" for line in lines]
    data = b"".join(body)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        src = workdir / ("in.jsonl.gz" if gz else "in.jsonl")
        src.write_bytes(gzip.compress(data, mtime=0) if gz else data)
        before = src.read_bytes()
        code, out, err = _run(capsysbinary, [str(src), "-o", "-"])
        _check_contract(workdir, src, before, "-", code, out, err)
        if code == 0:
            _check_output("-", out, len(TV1_RECORDS))


ALL_FLAGS = {option_flag(name): name for name in [*COMMON_OPTIONS, *_estimator_flags()]}
OPTION_TEXT = (
    st.text(st.characters(codec=None), max_size=8)
    | st.floats().map(repr) | st.integers().map(str) | st.integers(-5, 2000).map(str)
    | st.sampled_from(["inf", "-inf", "nan", "1e308", "-0", "0", "1", "2", "0.5", "true", "false", "1e-320",
                       "mean_norm", "mean_std_norm", "per_trajectory", "cross_steps", " 3 ", "--K", "-"])
)


@FUZZ
@given(
    estimator=st.sampled_from(["grpo", "gigpo", "hgpo"]),
    flags=st.lists(st.tuples(st.sampled_from(sorted(ALL_FLAGS)), OPTION_TEXT), min_size=1, max_size=3),
    target=st.sampled_from(["out.jsonl", "-"]),
)
def test_cli_options_fuzz(capsysbinary, estimator, flags, target):
    argv = ["--estimator", estimator]
    for flag, text in flags:
        name = ALL_FLAGS[flag]
        spec = COMMON_OPTIONS.get(name) or option_specs("hgpo" if name != "omega" else "gigpo").get(name)
        argv += [flag] if spec is not None and spec.kind is bool else [f"{flag}={text}"]
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        src = workdir / "in.jsonl"
        src.write_bytes(_dump(TV1_RECORDS))
        before = src.read_bytes()
        out_path = target if target == "-" else str(workdir / target)
        code, out, err = _run(capsysbinary, [str(src), "-o", out_path, *argv])
        _check_contract(workdir, src, before, out_path, code, out, err)
        if code == 2:
            named = [f for f, _ in flags if f in err or f"argument {f}" in err]
            assert named or "level weight" in err, err  # the message names an offending flag
        else:
            _check_output(out_path, out, len(TV1_RECORDS))
            for flag, text in dict(flags).items():  # every value that passed (the last of a flag) is valid
                name = ALL_FLAGS[flag]
                spec = COMMON_OPTIONS.get(name) or option_specs(estimator)[name]
                if spec.kind is not bool:
                    with contextlib.suppress(ValueError):
                        spec.parse(text, flag)
                        continue
                    raise AssertionError(f"{flag}={text!r} was accepted but its spec refuses it")


@FUZZ
@given(argv=st.lists(st.sampled_from([*ALL_FLAGS, "-o", "--estimator", "--report", "-", "x.jsonl", "--no-base-group"])
                     | st.text(st.characters(codec=None), max_size=6), max_size=6))
def test_any_argv_fuzz(capsysbinary, argv):
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.jsonl"
        src.write_bytes(_dump(TV1_RECORDS))
        before = src.read_bytes()
        here = os.getcwd()
        os.chdir(tmp)  # relative names in argv ("x.jsonl", "-o in.jsonl") resolve beside the input
        try:
            code, out, err = _run(capsysbinary, [*argv])
        finally:
            os.chdir(here)
        assert code in (0, 1, 2) or code >= 128, (code, err)
        assert src.read_bytes() == before and "Traceback" not in err
        if code == 2:
            assert err.count("\n") == 1 or err.startswith("usage:"), err
