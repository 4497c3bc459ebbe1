"""The README's main job runs end to end on embedded defaults and writes its outputs."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq

from hgpo.cli import main as hgpo_main
from tests.extras import require


def run_demo(tmp_path, capsys, env):
    out = tmp_path / "demo"
    assert hgpo_main(["demo", "--env", env, "--out", str(out), "--groups", "2", "--group-size", "3"]) == 0
    text = capsys.readouterr().out
    assert "success rate" in text and "inconsistent" in text
    steps = sum(1 for _ in open(out / f"{env}_rollouts.jsonl"))
    for estimator in ("grpo", "gigpo", "hgpo"):
        table = pq.read_table(out / f"{env}_advantages_{estimator}.parquet")
        assert table.num_rows == steps and {"return", "advantage"} <= set(table.column_names)
        # the command the demo prints gives the same advantages from the written records
        (command,) = [line for line in text.splitlines() if line.startswith("= hgpo advantages") and
                      f"--estimator {estimator}" in line]
        argv = command.split()[2:]
        argv[argv.index("-o") + 1] = str(tmp_path / f"again_{estimator}.parquet")
        assert hgpo_main(argv) == 0
        again = pq.read_table(tmp_path / f"again_{estimator}.parquet").column("advantage").to_numpy()
        np.testing.assert_array_equal(again, table.column("advantage").to_numpy())
    capsys.readouterr()
    require("matplotlib", extra="plot")
    assert (out / "demo.png").stat().st_size > 10_000


def test_demo_on_synthetic_tasks(tmp_path, capsys):
    run_demo(tmp_path, capsys, "synthetic")


def test_demo_on_alfworld(tmp_path, capsys):
    run_demo(tmp_path, capsys, "alfworld")


def test_demo_rejects_unknown_environment(capsys):
    assert hgpo_main(["demo", "--env", "atari"]) == 2
    assert "unknown environment(s) ['atari']" in capsys.readouterr().err


def test_demo_on_webshop(tmp_path, capsys):
    require("flask", extra="webshop")
    run_demo(tmp_path, capsys, "webshop")
