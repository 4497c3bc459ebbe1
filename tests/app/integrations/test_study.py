"""``benchmarks/study.py --quick`` runs end to end and writes its tables, raw numbers and plots."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.slow
def test_study_quick_smoke(tmp_path):
    pytest.importorskip("sb3_contrib")
    pytest.importorskip("textworld")
    pytest.importorskip("matplotlib")
    out = tmp_path / "study"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "study.py"), "--quick", "--out", str(out)],
                   check=True, cwd=ROOT, timeout=1200)
    tables = (out / "tables.md").read_text()
    assert "GRPO" in tables and "HGPO K=2 a=1" in tables and "| hgpo |" in tables
    quality = json.loads((out / "estimator_quality.json").read_text())
    assert {r["estimator"] for r in quality["rows"]} >= {"GRPO", "GiGPO", "HGPO K=4 a=2"}
    for row in quality["rows"]:  # the decomposition is internally consistent
        assert row["variance"] >= 0 and row["mse"] >= 0 and -1 <= row["corr"] <= 1
    learning = json.loads((out / "learning.json").read_text())
    assert {r["estimator"] for r in learning["runs"]} == {"grpo", "gigpo", "hgpo"}
    assert (out / "estimator_quality.png").stat().st_size > 0 and (out / "learning_curves.png").stat().st_size > 0
