"""The README's main job runs end to end on embedded defaults and writes its outputs."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from hgpo_algo.cli import main as hgpo_main


def run_demo(tmp_path, capsys, env):
    out = tmp_path / "demo"
    assert hgpo_main(["demo", "--env", env, "--out", str(out), "--groups", "2", "--group-size", "3"]) == 0
    text = capsys.readouterr().out
    assert "success rate" in text and "inconsistent" in text
    steps = sum(1 for _ in open(out / f"{env}_rollouts.jsonl"))
    for estimator in ("grpo", "gigpo", "hgpo"):
        table = pq.read_table(out / f"{env}_advantages_{estimator}.parquet")
        assert table.num_rows == steps and {"return", "advantage"} <= set(table.column_names)
    pytest.importorskip("matplotlib")
    assert (out / "demo.png").stat().st_size > 10_000


def test_demo_on_synthetic_tasks(tmp_path, capsys):
    run_demo(tmp_path, capsys, "synthetic")


def test_demo_on_alfworld(tmp_path, capsys):
    pytest.importorskip("textworld")
    run_demo(tmp_path, capsys, "alfworld")


def test_demo_rejects_unknown_environment(capsys):
    assert hgpo_main(["demo", "--env", "atari"]) == 2
    assert "unknown environment(s) ['atari']" in capsys.readouterr().err


def test_demo_on_webshop(tmp_path, capsys):
    pytest.importorskip("flask")
    run_demo(tmp_path, capsys, "webshop")
