"""HGPO's hierarchy of history-consistent groups.

A step at position ``t`` belongs to levels ``j = 0..min(K, t)``; its level-``j`` key is
``(group_id, state_key[t-j], ..., state_key[t])``. Level 0 pools every visit of a state within a task group
(GiGPO's step group); deeper levels split it by the ``j`` previous states, so the levels are nested.

That is ``context="states"``, the released method: the history is the trajectory's previous states,
whatever the prompt showed. With ``context="prompt"`` the history is what the prompt showed: a step
belongs to level ``j`` when its prompt showed at least ``j`` history items, and its key is ``(group_id,
state_key[t], prompt_keys[-j], ..., prompt_keys[-1])`` (the records' ``prompt_keys``). For a memory that
shows the last H observations keyed by their state keys, both contexts give the same groups.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hgpo_algo.grouping import Grouping, combine_codes
from hgpo_algo.records import TrajectoryBatch

__all__ = ["CONTEXTS", "Level", "history_levels"]

#: What a history level compares: the trajectory's previous states, or the items the prompt showed.
CONTEXTS: tuple[str, ...] = ("states", "prompt")


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


def history_levels(batch: TrajectoryBatch, K: int, context: str = "states") -> list[Level]:
    """Levels ``0..min(K, deepest)`` of ``batch`` (see the module docstring); deeper levels would be empty.

    ``deepest`` is the longest trajectory minus one (``states``) or the most items any prompt showed
    (``prompt``). One level is built per history depth, each from the previous one, so the work is
    ``O(n * min(K, deepest))`` whatever ``K`` is; an empty batch has the single (empty) level 0.
    """
    if isinstance(K, bool) or not isinstance(K, (int, np.integer)) or K < 0:
        raise ValueError(f"K must be a non-negative integer, got {K!r}")
    if context not in CONTEXTS:
        raise ValueError(f"unknown context {context!r} (choose from {', '.join(CONTEXTS)})")
    rows = np.arange(batch.n, dtype=np.int64)
    grouping = Grouping.from_codes(combine_codes(batch.group, batch.key))
    levels = [Level(0, rows, grouping)]
    if context == "prompt":
        if batch.prompt_offsets is None or batch.prompt_items is None:
            raise ValueError("context='prompt' needs the records' prompt_keys (wrappers.MemoryWindow reports them)")
        ends = batch.prompt_offsets[1:]
        depth = ends - batch.prompt_offsets[:-1]  # items shown per row
        items = batch.prompt_items
    else:
        depth = batch.step
    deepest = min(int(K), int(depth.max()) if batch.n else 0)
    code_of_row = grouping.codes  # dense code of the previous level, indexed like `rows`
    for j in range(1, deepest + 1):
        keep = depth[rows] >= j
        rows = rows[keep]
        previous = items[ends[rows] - j] if context == "prompt" else batch.key[rows - j]
        grouping = Grouping.from_codes(combine_codes(code_of_row[keep], previous))
        levels.append(Level(j, rows, grouping))
        code_of_row = grouping.codes
    return levels
