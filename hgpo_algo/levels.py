"""HGPO's hierarchy of history-consistent groups.

A step at position ``t`` belongs to levels ``j = 0..min(K, t)``; its level-``j`` key is
``(group_id, state_key[t-j], ..., state_key[t])``. Level 0 pools every visit of a state within a task group
(GiGPO's step group); deeper levels split it by the ``j`` previous states, so the levels are nested.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hgpo_algo.grouping import Grouping, combine_codes
from hgpo_algo.records import TrajectoryBatch

__all__ = ["Level", "history_levels"]


@dataclass(frozen=True)
class Level:
    """The groups of one history level.

    Attributes:
        depth: ``j``, the number of previous states in the key.
        rows: ``(m_j,)`` canonical rows that belong to this level (steps with ``t >= j``).
        grouping: the groups over those rows (``grouping.codes`` is dense per level).
    """

    depth: int
    rows: np.ndarray
    grouping: Grouping


def history_levels(batch: TrajectoryBatch, K: int) -> list[Level]:
    """Levels ``0..min(K, longest - 1)`` of ``batch``: a level deeper than the longest trajectory is empty.

    One level is built per history depth, each from the previous one, so the work is
    ``O(n * min(K, longest))`` whatever ``K`` is; an empty batch has the single (empty) level 0.
    """
    if isinstance(K, bool) or not isinstance(K, (int, np.integer)) or K < 0:
        raise ValueError(f"K must be a non-negative integer, got {K!r}")
    rows = np.arange(batch.n, dtype=np.int64)
    grouping = Grouping.from_codes(combine_codes(batch.group, batch.key))
    levels = [Level(0, rows, grouping)]
    deepest = min(int(K), int(batch.step.max()) if batch.n else 0)
    code_of_row = grouping.codes  # dense code of the previous level, indexed like `rows`
    for j in range(1, deepest + 1):
        keep = batch.step[rows] >= j
        rows = rows[keep]
        grouping = Grouping.from_codes(combine_codes(code_of_row[keep], batch.key[rows - j]))
        levels.append(Level(j, rows, grouping))
        code_of_row = grouping.codes
    return levels
