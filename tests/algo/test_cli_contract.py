"""`hgpo advantages` under hostile input: exit 2 with one line naming file, line, record and field, nothing
written, the input untouched (issue 15, items 8-12)."""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hgpo_algo import compute_advantages
from hgpo_algo.advantages_cli import main
from tests.algo.vectors import TV1, TV1_RECORDS
from tests.extras import require

CLI = [sys.executable, "-m", "hgpo_algo.advantages_cli"]


def jsonl(rows) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in rows)


def run(capsysbinary, *argv: str):
    code = main(list(argv))
    out, err = capsysbinary.readouterr()
    return code, out, err.decode("utf-8", "backslashreplace")


def assert_refused(tmp_path: Path, code: int, out: bytes, err: str, *expected: str) -> None:
    """Exit 2, one line naming the problem, nothing on stdout, no output or temporary file left."""
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("hgpo advantages: error: "), err
    assert "Traceback" not in err and out == b""
    for text in expected:
        assert text in err, (text, err)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(("out", ".out"))]


@pytest.fixture
def src(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_bytes(jsonl(TV1_RECORDS))
    return path


def bad_line(tmp_path: Path, line: str, at: int = 1) -> Path:
    rows = [json.dumps(r) for r in TV1_RECORDS]
    rows[at] = line
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(rows) + "\n")
    return path


# -- item 8: tracebacks that are now exit 2 -------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('{"group_id": "g", "traj_id": "t0", "step": 1, "state_key": "B", "reward": ' + "9" * 5000 + "}",
         "in.jsonl:2: record 1: invalid JSON (Exceeds the limit (4300 digits)"),
        ('{"group_id": "g", "traj_id": "t0", "step": 1, "state_key": "B", "reward": 0, "x": '
         + "[" * 1000 + "]" * 1000 + "}", "in.jsonl:2: record 1: nested deeper than 100 levels"),
        ('{"group_id": "g", "traj_id": "t0", "step": 1, "state_key": "B", "reward": 0, "x": '
         + "[" * 150 + "]" * 150 + "}", "in.jsonl:2: record 1: field 'x' is nested deeper than 100 levels"),
    ],
)
def test_literals_and_nesting_beyond_limits(tmp_path, capsysbinary, line, expected):
    path = bad_line(tmp_path, line)
    before = path.read_bytes()
    assert_refused(tmp_path, *run(capsysbinary, str(path), "-o", str(tmp_path / "out.jsonl")), expected)
    assert path.read_bytes() == before


def test_corrupted_gzip_body(tmp_path, capsysbinary):
    body = bytearray(gzip.compress(jsonl(TV1_RECORDS * 50), mtime=0))
    body[len(body) // 2] ^= 0x55
    path = tmp_path / "in.jsonl.gz"
    path.write_bytes(bytes(body))
    assert_refused(tmp_path, *run(capsysbinary, str(path), "-o", str(tmp_path / "out.jsonl")),
                   "in.jsonl.gz: cannot read (not a valid gzip stream")


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet", "-"])
def test_lone_surrogates_and_empty_structs_in_extra_fields_survive(tmp_path, capsysbinary, suffix):
    rows = [dict(r, note="bad \ud800 text", empty={}) for r in TV1_RECORDS]
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"".join(json.dumps(r).encode("ascii") + b"\n" for r in rows))  # \ud800 escapes
    out = "-" if suffix == "-" else str(tmp_path / f"out{suffix}")
    code, stdout, err = run(capsysbinary, str(path), "-o", out)
    assert code == 0, err
    if suffix == ".parquet":
        from hgpo_algo.record_io import read_records

        got = read_records(out).rows
    else:
        text = stdout if suffix == "-" else Path(out).read_bytes()
        text.decode("utf-8")  # the output is valid UTF-8: the surrogate is written as its escape
        got = [json.loads(line) for line in text.splitlines()]
    assert [r["note"] for r in got] == [r["note"] for r in rows]
    assert all(r["empty"] == {} for r in got)


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--weight-offset", "-5", "--alpha", "0.5"], "option --weight-offset must be a finite number in (0, 1000000], got -5.0"),
        (["--weight-offset", "1000000", "--alpha", "-100"], "level weight"),
    ],
)
def test_weights_that_are_not_finite_positive_reals(tmp_path, capsysbinary, src, flags, expected):
    assert_refused(tmp_path, *run(capsysbinary, str(src), "-o", str(tmp_path / "out.jsonl"), *flags), expected)


# -- item 9: every type error names file, line, record and field ---------------------------------------

BAD_VALUES = {
    "group_id": ["", None, True, 1.5, [1], {"a": 1}, 2**64, "x\ud800"],
    "traj_id": [True, 1.5, [1], {"a": 1}, 2**64, "\ud800"],
    "step": ["1", True, 1.5, [1], {"a": 1}, 2**64, -1, 1e300, None],
    "state_key": [True, 1.5, [1], {"a": 1}, 2**64, "\ud800", None],
    "reward": ["1.0", True, [1], {"a": 1}, None, 2**1100],
    "invalid": ["yes", 2, [1], {"a": 1}, 0.5],
    "context_keys": ["A", 5, [{"a": 1}], {"a": 1}, True],
}
CASES = [(f, v) for f, vs in BAD_VALUES.items() for v in vs if not (f == "group_id" and v == "")]


@pytest.mark.parametrize(("field", "value"), CASES, ids=[f"{f}={v!r}"[:40] for f, v in CASES])
def test_type_errors_name_line_record_and_field(tmp_path, capsysbinary, field, value):
    rows = [dict(r) for r in TV1_RECORDS]
    rows[5][field] = value
    path = tmp_path / "in.jsonl"
    path.write_bytes(jsonl(rows))
    code, out, err = run(capsysbinary, str(path), "-o", str(tmp_path / "out.jsonl"))
    if field == "group_id" and isinstance(value, str) and "\ud800" not in value:
        expected_field = "group_id"  # a valid id: the trajectory is now in two groups
    else:
        expected_field = field
    assert_refused(tmp_path, code, out, err, "in.jsonl:6: record 5", f"'{expected_field}'")
    assert "RuntimeWarning" not in err


def test_step_1e300_is_named_without_numpy_warnings(tmp_path):
    rows = [dict(r) for r in TV1_RECORDS]
    rows[1]["step"] = 1e300
    path = tmp_path / "in.jsonl"
    path.write_bytes(jsonl(rows))
    proc = subprocess.run([*CLI, str(path), "-o", str(tmp_path / "out.jsonl")], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "in.jsonl:2: record 1 (traj_id='t0', step=1e+300): field 'step' must be an integer in [0, 2**63), got 1e+300" in proc.stderr


def test_garbage_parquet_is_one_line(tmp_path, capsysbinary):
    path = tmp_path / "in.parquet"
    path.write_bytes(b"PAR1\nthis is\nnot parquet\nPAR1")
    assert_refused(tmp_path, *run(capsysbinary, str(path), "-o", str(tmp_path / "out.jsonl")), "in.parquet: cannot read")


# -- item 10: K is bounded and levels stop at the longest trajectory -----------------------------------


def test_huge_K_is_refused_at_once(tmp_path, capsysbinary, src):
    t0 = time.perf_counter()
    assert_refused(tmp_path, *run(capsysbinary, str(src), "-o", str(tmp_path / "out.jsonl"), "--K", "1" + "0" * 20),
                   "option --K must be an integer in [0, 1024], got 100000000000000000000")
    assert time.perf_counter() - t0 < 5


def test_K_beyond_the_longest_trajectory_equals_its_length():
    deep = compute_advantages(TV1_RECORDS, "hgpo", K=1024, diagnostics=True)
    np.testing.assert_array_equal(deep.advantages, compute_advantages(TV1_RECORDS, "hgpo", K=4).advantages)
    assert deep.diagnostics["level_advantages"].shape == (17, 5)  # longest trajectory: 5 steps


# -- item 11: option values validated in the CLI as in the API -----------------------------------------


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--alpha", "inf"], "option --alpha must be a finite number in [-100, 100], got inf"),
        (["--alpha", "nan"], "option --alpha must be a finite number in [-100, 100], got nan"),
        (["--gamma", "1e308"], "option --gamma must be a finite number in [0, 1], got 1e+308"),
        (["--gamma", "-0.5"], "option --gamma must be a finite number in [0, 1]"),
        (["--invalid-penalty", "nan"], "option --invalid-penalty must be a finite number >= 0"),
        (["--weight-offset", "nan"], "option --weight-offset must be a finite number in (0, 1000000]"),
        (["--weight-offset", "-2"], "option --weight-offset must be a finite number in (0, 1000000], got -2.0"),
        (["--estimator", "gigpo", "--omega", "inf"], "option --omega must be a finite number >= 0, got inf"),
        (["--estimator", "gigpo", "--omega", "-1"], "option --omega must be a finite number >= 0"),
        (["--K", "-1"], "option --K must be an integer in [0, 1024], got -1"),
        (["--K", "2.5"], "option --K must be an integer in [0, 1024], got '2.5'"),
        (["--mode", "zscore"], "option --mode must be one of mean_std_norm, mean_norm, got 'zscore'"),
        (["--episode-stats", "x"], "option --episode-stats must be one of cross_steps, per_trajectory"),
        (["--estimator", "grpo", "--omega", "1"], "option --omega does not apply to estimator 'grpo'"),
        (["--estimator", "grpo", "--base-group"], "option --base-group does not apply to estimator 'grpo'"),
    ],
)
def test_option_values_validated(tmp_path, capsysbinary, src, flags, expected):
    assert_refused(tmp_path, *run(capsysbinary, str(src), "-o", str(tmp_path / "out.jsonl"), *flags), expected)


def test_flags_come_from_the_registry(tmp_path, capsysbinary, src):
    from hgpo_algo.estimators import _OPTION_SPECS, ESTIMATORS, EstimatorOutput, register_estimator
    from hgpo_algo.options import OptionSpec

    @register_estimator("scaled-grpo", {"scale_by": OptionSpec(float, 1.0, "scale", minimum=0.0)})
    def scaled(inputs, *, scale_by: float = 1.0) -> EstimatorOutput:
        return EstimatorOutput(ESTIMATORS["grpo"](inputs).advantages * scale_by)

    try:
        out = tmp_path / "out.jsonl"
        code, _, err = run(capsysbinary, str(src), "-o", str(out), "--estimator", "scaled-grpo", "--scale-by", "2")
        assert code == 0, err
        got = [json.loads(line)["advantage"] for line in out.read_text().splitlines()]
        np.testing.assert_allclose(got, 2 * np.array(TV1["grpo_cross_steps"]), atol=1e-5)
        out.unlink()
        assert_refused(tmp_path, *run(capsysbinary, str(src), "-o", str(out), "--estimator", "scaled-grpo",
                                      "--scale-by", "-1"), "option --scale-by must be a finite number >= 0")
    finally:
        del ESTIMATORS["scaled-grpo"], _OPTION_SPECS["scaled-grpo"]


# -- item 12: no data loss, one rule per decision ------------------------------------------------------


def test_field_only_in_a_later_record_survives_parquet(tmp_path, capsysbinary):
    rows = [dict(r) for r in TV1_RECORDS]
    rows[1]["note"] = "only here"
    rows[2]["varies"] = 1
    rows[3]["varies"] = "one"
    src = tmp_path / "in.jsonl"
    src.write_bytes(jsonl(rows))
    out = tmp_path / "out.parquet"
    code, _, err = run(capsysbinary, str(src), "-o", str(out))
    assert code == 0, err
    table = pq.read_table(out)
    assert table.column("note").to_pylist()[:3] == [None, "only here", None]
    assert table.column_names[-2:] == ["return", "advantage"]
    back = tmp_path / "back.jsonl"
    assert run(capsysbinary, str(out), "-o", str(back))[0] == 0
    got = [json.loads(line) for line in back.read_text().splitlines()]
    assert got[1]["note"] == "only here" and got[2]["varies"] == 1 and got[3]["varies"] == "one"


def test_dictionary_encoded_id_columns_are_accepted(tmp_path, capsysbinary):
    pd = require("pandas", extra="dev")
    frame = pd.DataFrame(TV1_RECORDS)
    for name in ("group_id", "traj_id", "state_key"):
        frame[name] = frame[name].astype("category")
    src = tmp_path / "in.parquet"
    frame.to_parquet(src)
    assert pa.types.is_dictionary(pq.read_schema(src).field("traj_id").type)
    out = tmp_path / "out.jsonl"
    code, _, err = run(capsysbinary, str(src), "-o", str(out))
    assert code == 0, err
    got = [json.loads(line)["advantage"] for line in out.read_text().splitlines()]
    np.testing.assert_allclose(got, TV1["hgpo_offset2"], atol=1e-5)


@pytest.mark.parametrize("rewards", ["all", "one"])
def test_bool_rewards_are_refused_alike(tmp_path, capsysbinary, rewards):
    rows = [dict(r) for r in TV1_RECORDS]
    for i, r in enumerate(rows):
        if rewards == "all" or i == 3:
            r["reward"] = r["reward"] > 0
    from hgpo_algo.record_io import RecordFile, write_records

    first = 0 if rewards == "all" else 3
    for suffix in (".jsonl", ".parquet"):
        src = tmp_path / f"in{suffix}"
        write_records(str(src), RecordFile("x", rows=rows))  # Parquet: a bool column, or JSON text when mixed
        where = f"in.jsonl:{first + 1}: record {first}" if suffix == ".jsonl" else f"in.parquet: record {first}"
        assert_refused(tmp_path, *run(capsysbinary, str(src), "-o", str(tmp_path / "out.jsonl")), where,
                       "field 'reward' must be a number, got ")


@pytest.mark.parametrize("content", [b"", b"\n\n  \n", b"\x1c\x1d\x1e\x1f\n\x0b\x0c\n", b"\x00\x01"])
def test_empty_and_control_character_files_are_refused(tmp_path, capsysbinary, content):
    src = tmp_path / "in.jsonl"
    src.write_bytes(content)
    code, out, err = run(capsysbinary, str(src), "-o", str(tmp_path / "out.jsonl"))
    expected = "no step records" if not content.strip(b" \t\r\n") else "in.jsonl:1: record 0: invalid JSON"
    assert_refused(tmp_path, code, out, err, expected)


def test_empty_stdin_is_refused():
    proc = subprocess.run([*CLI, "-", "-o", "-"], input=b"", capture_output=True)
    assert proc.returncode == 2 and proc.stdout == b""
    assert proc.stderr == b"hgpo advantages: error: <stdin>: no step records (the input is empty or only blank lines)\n"


def test_output_equal_to_input_is_refused(tmp_path, capsysbinary, src):
    before = src.read_bytes()
    link = tmp_path / "link.jsonl"
    link.symlink_to(src)
    hard = tmp_path / "hard.jsonl"
    os.link(src, hard)
    for target in (src, link, hard, Path(str(src).replace("/in.jsonl", "/./in.jsonl"))):
        code, out, err = run(capsysbinary, str(src), "-o", str(target))
        assert code == 2 and "the output is the input file" in err and err.count("\n") == 1
    assert src.read_bytes() == before


def test_sigterm_during_write_removes_the_temporary_file(tmp_path, capsysbinary, src, monkeypatch):
    real = pq.write_table

    def interrupted(table, where, **kw):
        real(table, where, **kw)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises here

    monkeypatch.setattr(pq, "write_table", interrupted)
    code, out, err = run(capsysbinary, str(src), "-o", str(tmp_path / "out.parquet"))
    assert code == 128 + signal.SIGTERM and err.count("\n") == 1 and "stopped by signal" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL or callable(signal.getsignal(signal.SIGTERM))


def _wait_until_reading_stdin(pid: int, timeout: float = 60.0) -> None:
    """Until the process blocks in read(0, ...) (its handlers are installed by then); Linux /proc."""
    syscall = Path(f"/proc/{pid}/syscall")
    if not syscall.exists():
        time.sleep(5.0)
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            fields = syscall.read_text().split()
            if fields[:2] in (["0", "0x0"], ["63", "0x0"]):  # read() on fd 0 (x86-64, aarch64)
                time.sleep(0.2)
                return
        time.sleep(0.05)
    time.sleep(1.0)


def test_sigterm_of_the_process_leaves_nothing(tmp_path):
    out = tmp_path / "out.jsonl"
    proc = subprocess.Popen([*CLI, "-", "-o", str(out)], stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdin.write(jsonl(TV1_RECORDS))
    proc.stdin.flush()
    _wait_until_reading_stdin(proc.pid)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert err.count(b"\n") == 1 and b"Traceback" not in err
    assert list(tmp_path.iterdir()) == []
