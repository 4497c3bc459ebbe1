"""The context-consistency report, checked against counts derived by hand on TV1."""

from __future__ import annotations

import pytest

from hgpo_algo import compute_advantages, context_report, format_report, load_batch
from tests.algo.vectors import TV1_RECORDS, TV4_RECORDS


def test_tv1_report_by_hand():
    # Level-0 pools of 2+ members: A(4) B(3) C(4) G(2) X(3) = 16 members; H is a singleton.
    # Level 1 (previous key): B has prevs A,X,A; C has B,X,B,B; X has A,A,C -> 3 of 16 differ from the majority.
    # Level 2 (two previous keys, truncated at the start): B: (A),(A,X),(A); C: (A,B),(A,X),(X,B),(A,B);
    # X: (A),(A),(B,C) -> 1 + 2 + 1 = 4 of 16.
    report = context_report(load_batch(TV1_RECORDS), K=2)
    assert [(r.level, r.steps, r.groups) for r in report] == [(0, 17, 6), (1, 13, 8), (2, 9, 7)]
    assert report[0].singleton_share == pytest.approx(1 / 17)
    assert report[1].singleton_share == pytest.approx(4 / 13)  # XC, CH, XB, CX
    assert [r.inconsistent_share for r in report] == pytest.approx([0.0, 3 / 16, 4 / 16])
    assert report[1].mean_group_size == pytest.approx(13 / 8)


def test_identical_histories_are_consistent():
    report = context_report(load_batch(TV4_RECORDS), K=3)
    assert all(r.inconsistent_share == 0.0 for r in report)
    assert [r.groups for r in report] == [7, 6, 4, 2]


def test_report_through_api_and_formatting():
    result = compute_advantages(TV1_RECORDS, "gigpo", report=True, report_levels=1)
    assert len(result.report) == 2
    text = format_report(result.report)
    assert text.splitlines()[0].split() == ["level", "steps", "groups", "mean", "size", "singleton", "inconsistent"]
    assert "18.8%" in text
