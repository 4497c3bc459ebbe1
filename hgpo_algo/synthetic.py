"""Synthetic group rollouts with realistic state-key repetition, for demos, tests and benchmarks.

Each task group is a random graph of ``n_states`` states (every state has ``branching`` actions leading to
random states) with start state 0 and goal state ``n_states - 1``. ``group_size`` agents act uniformly at
random; an action is invalid with probability ``invalid_rate`` (the agent stays put). Reaching the goal ends
the episode with reward 1; otherwise the episode is cut at ``max_steps``. Loops in the graph make agents
revisit states with different histories, which is what separates GiGPO's and HGPO's groups.
"""

from __future__ import annotations

import numpy as np

__all__ = ["synthetic_rollouts"]


def synthetic_rollouts(
    n_groups: int,
    group_size: int,
    *,
    max_steps: int = 50,
    n_states: int = 20,
    branching: int = 3,
    invalid_rate: float = 0.05,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Rollouts as a mapping of equally long columns (one row per step, ordered by trajectory then step).

    Returns:
        ``group_id`` (int64), ``traj_id`` (int64), ``step`` (int64), ``state_key`` (str, e.g. ``"s7"``; the
        same names recur in every group, as real observations do), ``reward`` (float64), ``invalid`` (bool),
        ``won`` (bool, on every step of a winning trajectory).
    """
    if n_groups < 1 or group_size < 1 or max_steps < 1 or n_states < 2 or branching < 1:
        raise ValueError("n_groups, group_size, max_steps, branching must be >= 1 and n_states >= 2")
    rng = np.random.default_rng(seed)
    transitions = rng.integers(0, n_states, size=(n_groups, n_states, branching))
    n_traj = n_groups * group_size
    group = np.repeat(np.arange(n_groups), group_size)
    state = np.zeros(n_traj, dtype=np.int64)
    alive = np.ones(n_traj, dtype=bool)
    won = np.zeros(n_traj, dtype=bool)
    columns: dict[str, list[np.ndarray]] = {k: [] for k in ("traj", "step", "state", "reward", "invalid")}
    for t in range(max_steps):
        idx = np.flatnonzero(alive)
        if idx.size == 0:
            break
        action = rng.integers(0, branching, size=idx.size)
        invalid = rng.random(idx.size) < invalid_rate
        nxt = np.where(invalid, state[idx], transitions[group[idx], state[idx], action])
        reached = nxt == n_states - 1
        columns["traj"].append(idx)
        columns["step"].append(np.full(idx.size, t))
        columns["state"].append(state[idx])
        columns["reward"].append(reached.astype(np.float64))
        columns["invalid"].append(invalid)
        state[idx] = nxt
        won[idx[reached]] = True
        alive[idx[reached]] = False
    traj = np.concatenate(columns["traj"])
    step = np.concatenate(columns["step"])
    order = np.lexsort((step, traj))
    traj, step = traj[order], step[order]
    names = np.array([f"s{i}" for i in range(n_states)], dtype=object)
    return {
        "group_id": group[traj],
        "traj_id": traj,
        "step": step,
        "state_key": names[np.concatenate(columns["state"])[order]],
        "reward": np.concatenate(columns["reward"])[order],
        "invalid": np.concatenate(columns["invalid"])[order],
        "won": won[traj],
    }
