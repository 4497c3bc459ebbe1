"""The README's main job runs end to end on embedded defaults and writes its outputs."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from hgpo_algo.cli import main as hgpo_main


def test_demo_runs_and_writes_outputs(tmp_path, capsys):
    out = tmp_path / "demo"
    assert hgpo_main(["demo", "--out", str(out), "--groups", "4", "--group-size", "4"]) == 0
    text = capsys.readouterr().out
    assert "success rate" in text and "inconsistent" in text
    steps = sum(1 for _ in open(out / "rollouts.jsonl"))
    for estimator in ("grpo", "gigpo", "hgpo"):
        table = pq.read_table(out / f"advantages_{estimator}.parquet")
        assert table.num_rows == steps and {"return", "advantage"} <= set(table.column_names)
    pytest.importorskip("matplotlib")
    assert (out / "demo.png").stat().st_size > 10_000
