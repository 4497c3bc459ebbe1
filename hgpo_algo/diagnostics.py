"""The context-consistency report: how much the history levels split GiGPO's step groups.

GiGPO pools every visit of a state within a task group (level 0), although the agents' prompts show
different histories. For each level ``j = 0..K`` the report gives the number of level-``j`` groups, their
mean size, the share of steps in singleton groups and the share of level-0 group members whose ``j``-step
history differs from the most common one in their level-0 group: the context inconsistency HGPO removes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from hgpo_algo.grouping import Grouping, combine_codes
from hgpo_algo.levels import history_levels
from hgpo_algo.records import TrajectoryBatch

__all__ = ["LevelReport", "context_report", "format_report"]


@dataclass(frozen=True)
class LevelReport:
    """One level of the report. Shares are fractions in ``[0, 1]``."""

    level: int
    steps: int
    groups: int
    mean_group_size: float
    singleton_share: float
    inconsistent_share: float

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def context_report(batch: TrajectoryBatch, K: int) -> list[LevelReport]:
    """Per-level group statistics of ``batch`` for levels ``0..min(K, longest - 1)`` (deeper ones are empty).

    ``inconsistent_share`` at level ``j`` counts, over the members of level-0 groups with two or more
    members, those whose history of ``min(j, t)`` previous states differs from their group's majority
    history (a step with fewer than ``j`` predecessors has a shorter history, hence a different one).
    """
    levels = history_levels(batch, K)
    level0 = levels[0].grouping
    pooled = level0.size_per_row() >= 2
    n_pooled = int(pooled.sum())
    # history[r]: a code of row r's history truncated to depth min(j, t); offsets keep depths apart
    history = np.zeros(batch.n, dtype=np.int64)
    offset = 0
    out = []
    for level in levels:
        g = level.grouping
        history[level.rows] = g.codes + offset
        offset += g.n_groups
        members = int(level.rows.shape[0])
        if level.depth == 0 or n_pooled == 0:
            inconsistent = 0.0
        else:
            pair = Grouping.from_codes(combine_codes(level0.codes[pooled], history[pooled]))
            group_of_pair = level0.codes[pooled][pair.perm[pair.starts]]
            majority = np.zeros(level0.n_groups, dtype=np.int64)
            np.maximum.at(majority, group_of_pair, pair.counts)
            sizes = level0.counts
            inconsistent = float((sizes - majority)[sizes >= 2].sum()) / n_pooled
        out.append(
            LevelReport(
                level=level.depth,
                steps=members,
                groups=g.n_groups,
                mean_group_size=members / g.n_groups if g.n_groups else 0.0,
                singleton_share=float((g.counts == 1).sum()) / members if members else 0.0,
                inconsistent_share=inconsistent,
            )
        )
    return out


def format_report(report: list[LevelReport]) -> str:
    """The report as a fixed-width text table."""
    lines = [
        "level   steps   groups  mean size  singleton  inconsistent",
    ]
    for r in report:
        lines.append(
            f"{r.level:>5} {r.steps:>7} {r.groups:>8} {r.mean_group_size:>10.2f} "
            f"{100 * r.singleton_share:>9.1f}% {100 * r.inconsistent_share:>11.1f}%"
        )
    return "\n".join(lines)
