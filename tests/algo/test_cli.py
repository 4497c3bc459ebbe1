"""`hgpo advantages` end to end: formats, untouched fields, report, and one-line errors with status 2."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hgpo_algo.advantages_cli import main as advantages_main
from tests.algo.vectors import TV1, TV1_RECORDS

HGPO = [sys.executable, "-m", "hgpo_algo.advantages_cli"]


def hgpo_main(argv: list[str]) -> int:
    """``hgpo advantages ...`` in-process (``argv[0]`` is the command name)."""
    assert argv[0] == "advantages"
    return advantages_main(argv[1:])


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def read_jsonl(path: Path):
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as fh:
        return [json.loads(line) for line in fh]


@pytest.fixture
def tv1_file(tmp_path):
    rows = [dict(r, observation=f"obs {i}", meta={"nested": [i, None]}) for i, r in enumerate(TV1_RECORDS)]
    return write_jsonl(tmp_path / "in.jsonl", rows), rows


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz", ".parquet"])
def test_formats_round_trip_with_fields_untouched(tmp_path, tv1_file, suffix):
    src, rows = tv1_file
    out = tmp_path / f"out{suffix}"
    assert hgpo_main(["advantages", str(src), "-o", str(out), "--estimator", "hgpo"]) == 0
    got = pq.read_table(out).to_pylist() if suffix == ".parquet" else read_jsonl(out)
    assert len(got) == len(rows)
    for before, after in zip(rows, got, strict=True):
        assert {k: after[k] for k in before} == before
        assert list(after)[-2:] == ["return", "advantage"]
    np.testing.assert_allclose([r["advantage"] for r in got], TV1["hgpo_offset2"], atol=1e-5)
    np.testing.assert_allclose([r["return"] for r in got], TV1["ghat"], atol=1e-5)


def test_parquet_input(tmp_path):
    src = tmp_path / "in.parquet"
    pq.write_table(pa.Table.from_pylist(TV1_RECORDS), src)
    out = tmp_path / "out.jsonl"
    assert hgpo_main(["advantages", str(src), "-o", str(out), "--estimator", "gigpo", "--mode", "mean_norm"]) == 0
    np.testing.assert_allclose([r["advantage"] for r in read_jsonl(out)], [
        9.09993, 7.71422, 9.45588, 4.70588, -9.47382, -8.15203, -10.04412, -5.29412,
        8.67124, 10.42172, 7.71422, 9.45588, 4.70588, -9.47382, -11.31078, -10.04412, -8.15203,
    ], atol=1e-4)


def test_gzip_output_is_byte_stable(tmp_path, tv1_file):
    src, _ = tv1_file
    a, b = tmp_path / "a.jsonl.gz", tmp_path / "b.jsonl.gz"
    hgpo_main(["advantages", str(src), "-o", str(a)])
    hgpo_main(["advantages", str(src), "-o", str(b)])
    assert a.read_bytes() == b.read_bytes()


def test_stdin_stdout_and_report(tv1_file):
    src, _ = tv1_file
    proc = subprocess.run(
        [*HGPO, "-", "-o", "-", "--K", "1", "--report"],
        input=src.read_text(), capture_output=True, text=True, check=True,
    )
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    np.testing.assert_allclose([r["advantage"] for r in rows], TV1["hgpo_K1"], atol=1e-5)
    assert "inconsistent" in proc.stderr and "17 records" in proc.stderr


def test_options_reach_the_estimator(tmp_path, tv1_file):
    src, _ = tv1_file
    out = tmp_path / "o.jsonl"
    assert hgpo_main(["advantages", str(src), "-o", str(out), "--alpha", "0"]) == 0
    np.testing.assert_allclose([r["advantage"] for r in read_jsonl(out)], TV1["hgpo_K2_alpha0"], atol=1e-5)
    assert hgpo_main(["advantages", str(src), "-o", str(out), "--estimator", "grpo",
                      "--episode-stats", "per_trajectory"]) == 0
    np.testing.assert_allclose([r["advantage"] for r in read_jsonl(out)], TV1["grpo_per_trajectory"], atol=1e-5)


def run_cli(*args, stdin=None):
    assert args[0] == "advantages"
    return subprocess.run([*HGPO, *args[1:]], input=stdin, capture_output=True, text=True)


@pytest.mark.parametrize(
    ("rows_patch", "expected"),
    [
        ({"reward": None}, "in.jsonl:6: record 5 (traj_id='t1', step=1): missing field 'reward'"),
        ({"reward": "NaN"}, "in.jsonl:6: record 5 (traj_id='t1', step=1): field 'reward' must be a number, got 'NaN'"),
        ({"step": 0}, "in.jsonl:6: record 5 (traj_id='t1', step=0): duplicate (traj_id, step)"),
        ({"group_id": "h"}, "trajectory appears in two groups"),
    ],
)
def test_bad_records_exit_2_with_one_line(tmp_path, rows_patch, expected):
    rows = [dict(r) for r in TV1_RECORDS]
    rows[5].update(rows_patch)
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out.jsonl"
    proc = run_cli("advantages", str(src), "-o", str(out))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and expected in proc.stderr
    assert not out.exists()


def test_nan_reward_literal(tmp_path):
    src = tmp_path / "in.jsonl"
    lines = [json.dumps(r) for r in TV1_RECORDS]
    lines[3] = lines[3].replace('"reward": 10.0', '"reward": NaN')
    src.write_text("\n".join(lines) + "\n")
    proc = run_cli("advantages", str(src), "-o", str(tmp_path / "o.jsonl"))
    assert proc.returncode == 2 and "in.jsonl:4: record 3 (traj_id='t0', step=3): field 'reward' is not finite" in proc.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--estimator", "ppo"], "unknown estimator 'ppo'"),
        (["--estimator", "grpo", "--K", "2"], "option --K does not apply to estimator 'grpo'"),
        (["--mode", "zscore"], "option --mode must be one of mean_std_norm, mean_norm, got 'zscore'"),
        (["--K", "two"], "option --K must be an integer in [0, 1024], got 'two'"),
        (["--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_bad_options_exit_2_with_one_line(tv1_file, tmp_path, args, expected):
    src, _ = tv1_file
    proc = run_cli("advantages", str(src), "-o", str(tmp_path / "o.jsonl"), *args)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and expected in proc.stderr


def test_bad_files_exit_2(tmp_path):
    missing = run_cli("advantages", str(tmp_path / "nope.jsonl"), "-o", "-")
    assert missing.returncode == 2 and "nope.jsonl: no such file" in missing.stderr
    broken = tmp_path / "broken.jsonl"
    broken.write_text(json.dumps(TV1_RECORDS[0]) + "\n{not json\n")
    proc = run_cli("advantages", str(broken), "-o", "-")
    assert proc.returncode == 2 and "broken.jsonl:2: record 1: invalid JSON" in proc.stderr
    src = write_jsonl(tmp_path / "in.jsonl", TV1_RECORDS)
    proc = run_cli("advantages", str(src), "-o", str(tmp_path / "out.csv"))
    assert proc.returncode == 2 and "unknown file type" in proc.stderr
