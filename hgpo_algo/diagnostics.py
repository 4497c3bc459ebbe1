"""The context-consistency report: how much the history levels split GiGPO's step groups.

GiGPO pools every visit of a state within a task group (level 0), although the agents' prompts show
different histories. For each level ``j = 0..K`` the report gives the number of level-``j`` groups, their
mean size, the share of steps in singleton groups and the share of level-0 group members whose ``j``-step
history differs from the most common one in their level-0 group: the context inconsistency HGPO removes.
When the records carry ``prompt_keys``, it also measures that inconsistency on the prompts themselves: the
share of members of level-``j`` groups (``context="states"``) whose prompt showed other history items than
the group's most common prompt (``prompt_mixed_share``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from hgpo_algo.grouping import Grouping, combine_codes
from hgpo_algo.levels import history_levels
from hgpo_algo.records import TrajectoryBatch

__all__ = ["LevelReport", "context_report", "format_report", "prompt_codes"]


@dataclass(frozen=True)
class LevelReport:
    """One level of the report. Shares are fractions in ``[0, 1]``."""

    level: int
    steps: int
    groups: int
    mean_group_size: float
    singleton_share: float
    inconsistent_share: float
    prompt_mixed_share: float | None = None

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def _majority_outsiders(groups: np.ndarray, labels: np.ndarray, n_groups: int, sizes: np.ndarray) -> int:
    """Members of groups with 2+ members whose label differs from their group's most common label."""
    pair = Grouping.from_codes(combine_codes(groups, labels))
    group_of_pair = groups[pair.perm[pair.starts]]
    majority = np.zeros(n_groups, dtype=np.int64)
    np.maximum.at(majority, group_of_pair, pair.counts)
    return int((sizes - majority)[sizes >= 2].sum())


def prompt_codes(batch: TrajectoryBatch) -> np.ndarray | None:
    """``(n,)`` dense int64 code of each row's whole shown history (its ``prompt_keys``), or None."""
    if batch.prompt_offsets is None or batch.prompt_items is None:
        return None
    starts, lengths = batch.prompt_offsets[:-1], np.diff(batch.prompt_offsets)
    code = Grouping.from_codes(lengths).codes
    for p in range(int(lengths.max()) if batch.n else 0):
        item = np.zeros(batch.n, dtype=np.int64)
        has = lengths > p
        item[has] = batch.prompt_items[starts[has] + p] + 1
        code = Grouping.from_codes(combine_codes(code, item)).codes
    return code


def context_report(batch: TrajectoryBatch, K: int) -> list[LevelReport]:
    """Per-level group statistics of ``batch`` for levels ``0..min(K, longest - 1)`` (deeper ones are empty).

    ``inconsistent_share`` at level ``j`` counts, over the members of level-0 groups with two or more
    members, those whose history of ``min(j, t)`` previous states differs from their group's majority
    history (a step with fewer than ``j`` predecessors has a shorter history, hence a different one).
    ``prompt_mixed_share`` (None without ``prompt_keys``) counts, over the members of level-``j`` groups with
    two or more members, those whose prompt showed other history items than their group's majority.
    """
    levels = history_levels(batch, K)
    level0 = levels[0].grouping
    pooled = level0.size_per_row() >= 2
    n_pooled = int(pooled.sum())
    prompts = prompt_codes(batch)
    # history[r]: a code of row r's history truncated to depth min(j, t); offsets keep depths apart
    history = np.zeros(batch.n, dtype=np.int64)
    offset = 0
    out = []
    for level in levels:
        g = level.grouping
        history[level.rows] = g.codes + offset
        offset += g.n_groups
        members = int(level.rows.shape[0])
        inconsistent = 0.0
        if level.depth > 0 and n_pooled:
            outsiders = _majority_outsiders(level0.codes[pooled], history[pooled], level0.n_groups, level0.counts)
            inconsistent = outsiders / n_pooled
        mixed = None
        if prompts is not None:
            in_pools = g.size_per_row() >= 2
            n_in_pools = int(in_pools.sum())
            outsiders = _majority_outsiders(g.codes, prompts[level.rows], g.n_groups, g.counts) if n_in_pools else 0
            mixed = outsiders / n_in_pools if n_in_pools else 0.0
        out.append(
            LevelReport(
                level=level.depth,
                steps=members,
                groups=g.n_groups,
                mean_group_size=members / g.n_groups if g.n_groups else 0.0,
                singleton_share=float((g.counts == 1).sum()) / members if members else 0.0,
                inconsistent_share=inconsistent,
                prompt_mixed_share=mixed,
            )
        )
    return out


def format_report(report: list[LevelReport]) -> str:
    """The report as a fixed-width text table."""
    with_prompts = any(r.prompt_mixed_share is not None for r in report)
    lines = ["level   steps   groups  mean size  singleton  inconsistent" + ("  prompts mixed" if with_prompts else "")]
    for r in report:
        line = (
            f"{r.level:>5} {r.steps:>7} {r.groups:>8} {r.mean_group_size:>10.2f} "
            f"{100 * r.singleton_share:>9.1f}% {100 * r.inconsistent_share:>11.1f}%"
        )
        if with_prompts:
            line += f"{100 * r.prompt_mixed_share:>14.1f}%" if r.prompt_mixed_share is not None else f"{'-':>15}"
        lines.append(line)
    return "\n".join(lines)
