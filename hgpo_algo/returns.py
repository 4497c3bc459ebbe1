"""Discounted returns, the invalid-action penalty and episode scores over a :class:`TrajectoryBatch`."""

from __future__ import annotations

import numpy as np

from hgpo_algo.records import TrajectoryBatch

__all__ = ["discounted_returns", "episode_scores", "penalized_returns"]


def discounted_returns(batch: TrajectoryBatch, gamma: float) -> np.ndarray:
    """``G[t] = reward[t] + gamma * G[t+1]`` per trajectory, computed backwards; ``(n,)`` float64, canonical.

    The loop runs over step positions (at most the longest trajectory), each iteration vectorised over
    every trajectory still that long, so the arithmetic is exactly the textbook recursion.
    """
    reward = batch.reward
    out = np.zeros_like(reward, dtype=np.float64)
    if batch.n == 0:
        return out
    starts, lengths = batch.traj_start, batch.traj_length
    for t in range(int(lengths.max()) - 1, -1, -1):
        longer = lengths > t
        rows = starts[longer] + t
        has_next = lengths[longer] > t + 1
        nxt = np.where(has_next, out[np.minimum(rows + 1, batch.n - 1)], 0.0)
        out[rows] = reward[rows] + gamma * nxt
    return out


def penalized_returns(batch: TrajectoryBatch, gamma: float, invalid_penalty: float) -> np.ndarray:
    """``Ghat[t] = G[t] - invalid_penalty * invalid[t]``: the penalty is never discounted back. ``(n,)``."""
    return discounted_returns(batch, gamma) - invalid_penalty * batch.invalid


def episode_scores(batch: TrajectoryBatch, invalid_penalty: float) -> np.ndarray:
    """``S[t] = R - invalid_penalty * invalid[t]`` with ``R`` the trajectory's undiscounted reward sum. ``(n,)``."""
    if batch.n == 0:
        return np.zeros(0, dtype=np.float64)
    totals = np.add.reduceat(batch.reward, batch.traj_start)
    return np.repeat(totals, batch.traj_length) - invalid_penalty * batch.invalid
