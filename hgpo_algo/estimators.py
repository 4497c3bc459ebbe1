"""Advantage estimators: a registry of pure functions over validated step records.

Every estimator has the signature ``fn(inputs: EstimatorInputs, **options) -> EstimatorOutput`` and works
on canonical-order arrays (see :class:`~hgpo_algo.records.TrajectoryBatch`). Its keyword-only parameters
are its options; their defaults are the published ones. Register a new estimator with
``@register_estimator("name")``; :func:`hgpo_algo.compute_advantages` then accepts ``estimator="name"``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from hgpo_algo.grouping import EPS, NORM_MODES, Grouping, NormMode, combine_codes
from hgpo_algo.levels import history_levels
from hgpo_algo.records import TrajectoryBatch

__all__ = [
    "EPISODE_STATS",
    "ESTIMATORS",
    "EstimatorInputs",
    "EstimatorOutput",
    "estimator_options",
    "get_estimator",
    "gigpo_advantage",
    "grpo_advantage",
    "hgpo_advantage",
    "register_estimator",
]

EpisodeStats = Literal["cross_steps", "per_trajectory"]
EPISODE_STATS: tuple[str, ...] = ("cross_steps", "per_trajectory")


@dataclass(frozen=True)
class EstimatorInputs:
    """What every estimator receives. Arrays are ``(n,)`` float64 in canonical order.

    Attributes:
        batch: the validated records.
        returns: ``Ghat``, discounted return minus the step's own invalid-action penalty.
        episode_scores: ``S[t] = R - lambda * invalid[t]`` with ``R`` the trajectory's reward sum.
        invalid_penalty: ``lambda``.
        want_diagnostics: the caller asked for per-record diagnostics (estimators may skip them otherwise).
    """

    batch: TrajectoryBatch
    returns: np.ndarray
    episode_scores: np.ndarray
    invalid_penalty: float
    want_diagnostics: bool = False


@dataclass
class EstimatorOutput:
    """``advantages``: ``(n,)`` float64, canonical order; ``diagnostics``: estimator-specific arrays."""

    advantages: np.ndarray
    diagnostics: dict[str, np.ndarray] = field(default_factory=dict)


Estimator = Callable[..., EstimatorOutput]
ESTIMATORS: dict[str, Estimator] = {}


def register_estimator(name: str) -> Callable[[Estimator], Estimator]:
    """Decorator: make ``fn`` available as ``compute_advantages(..., estimator=name)``."""

    def deco(fn: Estimator) -> Estimator:
        if name in ESTIMATORS:
            raise ValueError(f"estimator {name!r} is already registered")
        ESTIMATORS[name] = fn
        return fn

    return deco


def get_estimator(name: str) -> Estimator:
    try:
        return ESTIMATORS[name]
    except KeyError:
        raise ValueError(f"unknown estimator {name!r} (choose from {', '.join(sorted(ESTIMATORS))})") from None


def estimator_options(name: str) -> dict[str, Any]:
    """The options of an estimator with their defaults."""
    sig = inspect.signature(get_estimator(name))
    return {p.name: p.default for p in sig.parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY}


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r} (choose from {', '.join(choices)})")


# --------------------------------------------------------------------------------------------------
# GRPO


@register_estimator("grpo")
def grpo_advantage(
    inputs: EstimatorInputs,
    *,
    mode: NormMode = "mean_std_norm",
    episode_stats: EpisodeStats = "cross_steps",
) -> EstimatorOutput:
    """Episode-level advantage, normalised within each task group.

    ``cross_steps`` (the public GiGPO/GRPO code): mean and sample std over all step records of the group,
    each carrying ``S[t]``. ``per_trajectory`` (textbook): one score per trajectory, the mean of its
    ``S[t]`` (its reward sum minus ``lambda`` times its share of invalid steps), normalised over the
    group's trajectories with the sample std and broadcast to the trajectory's steps. A group with a single
    record (trajectory) is normalised with mean 0 and std 1; an all-equal group gets 0.
    """
    _check_choice("mode", mode, NORM_MODES)
    _check_choice("episode_stats", episode_stats, EPISODE_STATS)
    batch = inputs.batch
    if episode_stats == "cross_steps":
        adv = Grouping.from_codes(batch.group).normalize(inputs.episode_scores, mode=mode, ddof=1, singleton="unit")
        return EstimatorOutput(adv)
    if batch.n == 0:
        return EstimatorOutput(np.zeros(0, dtype=np.float64))
    scores = np.add.reduceat(inputs.episode_scores, batch.traj_start) / batch.traj_length
    per_traj = Grouping.from_codes(batch.group[batch.traj_start]).normalize(
        scores, mode=mode, ddof=1, singleton="unit"
    )
    return EstimatorOutput(np.repeat(per_traj, batch.traj_length))


# --------------------------------------------------------------------------------------------------
# GiGPO


def step_group_advantage(inputs: EstimatorInputs, mode: NormMode) -> np.ndarray:
    """GiGPO's step term ``A_S``: ``Ghat`` normalised over every visit of the same state in the group.

    Sample std; a pool of one gets 0. ``(n,)`` float64, canonical order.
    """
    batch = inputs.batch
    grouping = Grouping.from_codes(combine_codes(batch.group, batch.key))
    return grouping.normalize(inputs.returns, mode=mode, ddof=1, singleton="zero")


@register_estimator("gigpo")
def gigpo_advantage(
    inputs: EstimatorInputs,
    *,
    mode: NormMode = "mean_std_norm",
    episode_stats: EpisodeStats = "cross_steps",
    omega: float = 1.0,
) -> EstimatorOutput:
    """GiGPO: ``A = A_E + omega * A_S`` with ``A_E`` GRPO's episode term and ``A_S`` the step term."""
    _check_choice("mode", mode, NORM_MODES)
    episode = grpo_advantage(inputs, mode=mode, episode_stats=episode_stats).advantages
    step = step_group_advantage(inputs, mode)
    return EstimatorOutput(episode + omega * step, {"episode_advantage": episode, "step_advantage": step})


# --------------------------------------------------------------------------------------------------
# HGPO


@register_estimator("hgpo")
def hgpo_advantage(
    inputs: EstimatorInputs,
    *,
    K: int = 2,
    alpha: float = 1.0,
    weight_offset: float = 2.0,
    mode: NormMode = "mean_std_norm",
    base_group: bool = False,
    episode_stats: EpisodeStats = "cross_steps",
) -> EstimatorOutput:
    """HGPO: a weighted mean of advantages from nested history-consistent groups.

    For each level ``j = 0..K`` (see :mod:`hgpo_algo.levels`), ``Ghat`` is normalised within every group of
    two or more members with the *population* std; each member receives the item ``(j, a_j)``. Items equal
    to exactly 0 are dropped; the advantage is ``sum(rho_j * a_j) / (sum(rho_j) + eps)`` over the rest with
    ``rho_j = (j + weight_offset) ** alpha``, or 0 when no item remains. ``base_group`` adds GRPO's episode
    advantage as one more item of weight 1 (same zero filter).

    Diagnostics: ``level_advantages`` ``(n, K + 1)`` (NaN where the step has no item at that level) and
    ``level_group_sizes`` ``(n, K + 1)`` (0 where the step is not in the level).
    """
    _check_choice("mode", mode, NORM_MODES)
    if int(K) != K or K < 0:
        raise ValueError(f"K must be a non-negative integer, got {K!r}")
    K = int(K)
    batch = inputs.batch
    n = batch.n
    weighted = np.zeros(n, dtype=np.float64)
    weights = np.zeros(n, dtype=np.float64)
    diagnostics: dict[str, np.ndarray] = {}
    if inputs.want_diagnostics:
        level_adv = diagnostics["level_advantages"] = np.full((n, K + 1), np.nan)
        level_size = diagnostics["level_group_sizes"] = np.zeros((n, K + 1), dtype=np.int64)
    for level in history_levels(batch, K):
        a = level.grouping.normalize(inputs.returns[level.rows], mode=mode, ddof=0, singleton="zero")
        if inputs.want_diagnostics:
            sizes = level.grouping.size_per_row()
            level_size[level.rows, level.depth] = sizes
            level_adv[level.rows[sizes >= 2], level.depth] = a[sizes >= 2]
        keep = a != 0.0
        rho = (level.depth + weight_offset) ** alpha
        weighted[level.rows[keep]] += rho * a[keep]
        weights[level.rows[keep]] += rho
    if base_group:
        episode = grpo_advantage(inputs, mode=mode, episode_stats=episode_stats).advantages
        keep = episode != 0.0
        weighted[keep] += episode[keep]
        weights[keep] += 1.0
        if inputs.want_diagnostics:
            diagnostics["episode_advantage"] = episode
    adv = np.where(weights > 0, weighted / (weights + EPS), 0.0)
    return EstimatorOutput(adv, diagnostics)
