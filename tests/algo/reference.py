"""Plain-loop reference implementation of the advantage spec, written for reading, not speed.

Each function takes a list of record dicts and returns a list of floats aligned with it. Nothing here is
shared with ``hgpo_algo``; the tests assert that both agree.
"""

from __future__ import annotations

import math
from collections import defaultdict

EPS = 1e-6


def _trajectories(records):
    """traj_id -> list of record indices sorted by step."""
    trajs = defaultdict(list)
    for i, r in enumerate(records):
        trajs[r["traj_id"]].append(i)
    for idx in trajs.values():
        idx.sort(key=lambda i: records[i]["step"])
    return trajs


def _mean(xs):
    return sum(xs) / len(xs)


def _std(xs, ddof):
    m = _mean(xs)
    return math.sqrt(sum((x - m) ** 2 for x in xs) / max(len(xs) - ddof, 1))


def _all_equal(xs):
    return max(xs) - min(xs) <= 1e-9 * max(1.0, abs(_mean(xs)))


def _normalize(x, xs, mode, ddof):
    """Normalise x against the pool xs (caller handles singletons)."""
    if _all_equal(xs):
        return 0.0
    m = _mean(xs)
    dev = x - m
    if abs(dev) <= 1e-9 * max(1.0, abs(m)):  # within rounding of the mean
        return 0.0
    if mode == "mean_norm":
        return dev
    return dev / (_std(xs, ddof) + EPS)


def returns(records, gamma=0.95, lam=0.1):
    out = [0.0] * len(records)
    for idx in _trajectories(records).values():
        g = 0.0
        for i in reversed(idx):
            g = records[i]["reward"] + gamma * g
            out[i] = g - lam * bool(records[i].get("invalid", False))
    return out


def episode_scores(records, lam=0.1):
    out = [0.0] * len(records)
    for idx in _trajectories(records).values():
        total = sum(records[i]["reward"] for i in idx)
        for i in idx:
            out[i] = total - lam * bool(records[i].get("invalid", False))
    return out


def grpo(records, mode="mean_std_norm", episode_stats="cross_steps", lam=0.1):
    scores = episode_scores(records, lam)
    out = [0.0] * len(records)
    if episode_stats == "cross_steps":
        pools = defaultdict(list)
        for i, r in enumerate(records):
            pools[r["group_id"]].append(i)
        for idx in pools.values():
            xs = [scores[i] for i in idx]
            for i in idx:
                if len(xs) == 1:
                    out[i] = scores[i] / (1 + EPS) if mode == "mean_std_norm" else scores[i]
                else:
                    out[i] = _normalize(scores[i], xs, mode, ddof=1)
        return out
    trajs = _trajectories(records)
    traj_score = {t: _mean([scores[i] for i in idx]) for t, idx in trajs.items()}
    by_group = defaultdict(list)
    for t, idx in trajs.items():
        by_group[records[idx[0]]["group_id"]].append(t)
    for ts in by_group.values():
        xs = [traj_score[t] for t in ts]
        for t in ts:
            if len(xs) == 1:
                a = xs[0] / (1 + EPS) if mode == "mean_std_norm" else xs[0]
            else:
                a = _normalize(traj_score[t], xs, mode, ddof=1)
            for i in trajs[t]:
                out[i] = a
    return out


def gigpo(records, mode="mean_std_norm", episode_stats="cross_steps", omega=1.0, gamma=0.95, lam=0.1):
    episode = grpo(records, mode, episode_stats, lam)
    ghat = returns(records, gamma, lam)
    pools = defaultdict(list)
    for i, r in enumerate(records):
        pools[(r["group_id"], r["state_key"])].append(i)
    out = []
    for i, r in enumerate(records):
        idx = pools[(r["group_id"], r["state_key"])]
        step = 0.0 if len(idx) == 1 else _normalize(ghat[i], [ghat[k] for k in idx], mode, ddof=1)
        out.append(episode[i] + omega * step)
    return out


def hgpo(
    records,
    K=2,
    alpha=1.0,
    weight_offset=2,
    mode="mean_std_norm",
    base_group=False,
    episode_stats="cross_steps",
    gamma=0.95,
    lam=0.1,
    context="states",
):
    ghat = returns(records, gamma, lam)
    trajs = _trajectories(records)
    # level_keys[(i, j)] = what record i must share with the others of its level-j pool
    level_keys = {}
    for idx in trajs.values():
        keys = [records[i]["state_key"] for i in idx]
        for t, i in enumerate(idx):
            if context == "prompt":  # the current state and the last j items the prompt showed
                shown = list(records[i]["prompt_keys"])
                for j in range(0, min(K, len(shown)) + 1):
                    last = tuple(shown[len(shown) - j :])
                    level_keys[(i, j)] = (records[i]["group_id"], j, keys[t], last)
                continue
            for j in range(0, min(K, t) + 1):
                level_keys[(i, j)] = (records[i]["group_id"], j, tuple(keys[t - j : t + 1]))
    pools = defaultdict(list)
    for (i, _j), key in level_keys.items():
        pools[key].append(i)
    episode = grpo(records, mode, episode_stats, lam) if base_group else None
    out = []
    for i in range(len(records)):
        items = []
        for j in range(0, K + 1):
            if (i, j) not in level_keys:
                continue
            idx = pools[level_keys[(i, j)]]
            if len(idx) < 2:
                continue
            items.append(((j + weight_offset) ** alpha, _normalize(ghat[i], [ghat[k] for k in idx], mode, ddof=0)))
        if base_group:
            items.append((1.0, episode[i]))
        items = [(w, a) for w, a in items if a != 0.0]
        if not items:
            out.append(0.0)
        else:
            out.append(sum(w * a for w, a in items) / (sum(w for w, _ in items) + EPS))
    return out
