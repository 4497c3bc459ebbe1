"""The study's pure helpers: the cell bias/variance decomposition and the noisy-expert policy."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

_SPEC = importlib.util.spec_from_file_location(
    "hgpo_benchmarks_study", Path(__file__).resolve().parents[3] / "benchmarks" / "study.py")
study = importlib.util.module_from_spec(_SPEC)
sys.modules[_SPEC.name] = study  # dataclasses look their module up by name
_SPEC.loader.exec_module(study)


def test_cell_stats_recovers_a_known_bias_and_variance():
    rng = np.random.default_rng(0)
    cells = np.repeat(np.arange(200), 50)
    truth = np.repeat(rng.normal(size=200), 50)
    adv = truth + 0.5 + rng.normal(scale=2.0, size=truth.size)  # bias 0.5, variance 4
    stats = study._cell_stats(adv, truth, cells)
    assert stats["bias2"] == pytest.approx(0.25, abs=0.05)
    assert stats["variance"] == pytest.approx(4.0, rel=0.05)
    assert stats["mse"] == pytest.approx(4.25, rel=0.05)


def test_noisy_expert_follows_the_plan_and_walks_back_after_a_detour():
    graph = study.GameGraph(plan=["go to a", "take x from a", "go to b", "move x to b"], root=0, root_key="r",
                            admissible={0: ["go to a", "go to b", "look"], 1: ["go to a", "go to b", "look"]},
                            edges={}, env_steps=0)
    commands, probs = study.policy_probs(graph, 0, 0, epsilon=0.3)
    assert probs.sum() == pytest.approx(1.0)
    assert probs[commands.index("go to a")] == pytest.approx(0.7 + 0.1)
    # pointer 1 ("take x from a") is not admissible away from a: walk back to the last plan "go to"
    commands, probs = study.policy_probs(graph, 1, 1, epsilon=0.3)
    assert probs[commands.index("go to a")] == pytest.approx(0.8)
    assert study.next_pointer(graph, 0, "go to a") == 1 and study.next_pointer(graph, 0, "look") == 0
