"""Advantage estimators: a registry of pure functions over validated step records.

Every estimator has the signature ``fn(inputs: EstimatorInputs, **options) -> EstimatorOutput`` and works
on canonical-order arrays (see :class:`~hgpo_algo.records.TrajectoryBatch`). Its keyword-only parameters
are its options; their defaults are the published ones. Register a new estimator with
``@register_estimator("name")``; :func:`hgpo_algo.compute_advantages` then accepts ``estimator="name"``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from hgpo_algo import defaults
from hgpo_algo.grouping import EPS, NORM_MODES, Grouping, NormMode, combine_codes
from hgpo_algo.levels import CONTEXTS, history_levels
from hgpo_algo.options import MAX_HISTORY_LEVELS, OptionSpec
from hgpo_algo.records import TrajectoryBatch

__all__ = [
    "EPISODE_STATS",
    "ESTIMATORS",
    "EstimatorInputs",
    "EstimatorOutput",
    "check_options",
    "estimator_options",
    "get_estimator",
    "gigpo_advantage",
    "grpo_advantage",
    "hgpo_advantage",
    "option_specs",
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
_OPTION_SPECS: dict[str, dict[str, OptionSpec]] = {}


def _specs_from_signature(fn: Estimator) -> dict[str, OptionSpec]:
    """Specs for an estimator registered without any: the type of each keyword-only default, no range."""
    specs = {}
    for p in inspect.signature(fn).parameters.values():
        if p.kind is not inspect.Parameter.KEYWORD_ONLY:
            continue
        kind = type(p.default)
        if kind not in (int, float, bool, str):
            raise TypeError(f"option {p.name!r} of {fn.__name__}: give an OptionSpec (default {p.default!r})")
        specs[p.name] = OptionSpec(kind, p.default, f"option {p.name} of {fn.__name__}")
    return specs


def register_estimator(
    name: str, options: Mapping[str, OptionSpec] | None = None
) -> Callable[[Estimator], Estimator]:
    """Decorator: make ``fn`` available as ``compute_advantages(..., estimator=name)``.

    ``options`` maps each keyword-only parameter of ``fn`` to its :class:`~hgpo_algo.options.OptionSpec`
    (type, default, range, help); without it, specs are derived from the parameters' defaults. The CLI
    builds a flag for every option (``--weight-offset`` for ``weight_offset``).
    """

    def deco(fn: Estimator) -> Estimator:
        if name in ESTIMATORS:
            raise ValueError(f"estimator {name!r} is already registered")
        specs = dict(options) if options is not None else _specs_from_signature(fn)
        params = {
            p.name: p.default
            for p in inspect.signature(fn).parameters.values()
            if p.kind is inspect.Parameter.KEYWORD_ONLY
        }
        if set(params) != set(specs):
            raise ValueError(
                f"estimator {name!r}: option specs {sorted(specs)} do not match its keyword-only "
                f"parameters {sorted(params)}"
            )
        for option, spec in specs.items():
            if params[option] != spec.default:
                raise ValueError(f"estimator {name!r}: option {option!r} defaults differ ({params[option]!r} "
                                 f"in the signature, {spec.default!r} in the spec)")
        ESTIMATORS[name] = fn
        _OPTION_SPECS[name] = specs
        return fn

    return deco


def get_estimator(name: str) -> Estimator:
    try:
        return ESTIMATORS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown estimator {name!r} (choose from {', '.join(sorted(ESTIMATORS))})") from None


def option_specs(name: str) -> dict[str, OptionSpec]:
    """The :class:`~hgpo_algo.options.OptionSpec` of every option of estimator ``name``."""
    get_estimator(name)
    return dict(_OPTION_SPECS[name])


def estimator_options(name: str) -> dict[str, Any]:
    """The options of an estimator with their defaults."""
    return {option: spec.default for option, spec in option_specs(name).items()}


def check_options(name: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """Every option of estimator ``name``: the given ones validated and coerced, the others at default.

    Raises:
        ValueError: an unknown estimator or option, or a value of the wrong type or out of range, e.g.
            ``hgpo option 'alpha' must be a finite number in [-100, 100], got inf``.
    """
    specs = option_specs(name)
    if not isinstance(options, Mapping):
        raise TypeError(f"options must be a mapping of option names to values, not {type(options).__name__}")
    unknown = sorted(map(str, set(options) - set(specs)))
    if unknown:
        raise ValueError(
            f"unknown option(s) {', '.join(map(repr, unknown))} for estimator {name!r} "
            f"(its options: {', '.join(specs) or 'none'})"
        )
    return {
        option: spec.check(options[option], f"{name} option {option!r}") if option in options else spec.default
        for option, spec in specs.items()
    }


_MODE = OptionSpec(str, defaults.NORM_MODE, "group normalisation", choices=NORM_MODES)
_EPISODE_STATS = OptionSpec(
    str, defaults.EPISODE_STATS, "episode statistics: over all steps of a group, or one score per trajectory",
    choices=EPISODE_STATS,
)
_OMEGA = OptionSpec(float, defaults.OMEGA, "weight of the step term", minimum=0.0)
_HGPO_OPTIONS = {
    "K": OptionSpec(int, defaults.HISTORY_LEVELS, "deepest history level (the memory window H)",
                    minimum=0, maximum=MAX_HISTORY_LEVELS),
    "alpha": OptionSpec(float, defaults.ALPHA, "level-weight exponent", minimum=-100.0, maximum=100.0),
    "weight_offset": OptionSpec(float, defaults.WEIGHT_OFFSET, "level-weight offset: rho_j = (j + offset) ** alpha",
                                minimum=0.0, maximum=1e6, exclusive_minimum=True),
    "mode": _MODE,
    "base_group": OptionSpec(bool, False, "add GRPO's episode advantage as one more item"),
    "episode_stats": _EPISODE_STATS,
    "context": OptionSpec(str, defaults.CONTEXT, "what history levels compare: previous states, or the "
                          "history items the prompt showed (the records' prompt_keys)", choices=CONTEXTS),
}


# --------------------------------------------------------------------------------------------------
# GRPO


@register_estimator("grpo", {"mode": _MODE, "episode_stats": _EPISODE_STATS})
def grpo_advantage(
    inputs: EstimatorInputs,
    *,
    mode: NormMode = defaults.NORM_MODE,  # type: ignore[assignment]
    episode_stats: EpisodeStats = defaults.EPISODE_STATS,  # type: ignore[assignment]
) -> EstimatorOutput:
    """Episode-level advantage, normalised within each task group.

    ``cross_steps`` (the public GiGPO/GRPO code): mean and sample std over all step records of the group,
    each carrying ``S[t]``. ``per_trajectory`` (textbook): one score per trajectory, the mean of its
    ``S[t]`` (its reward sum minus ``lambda`` times its share of invalid steps), normalised over the
    group's trajectories with the sample std and broadcast to the trajectory's steps. A group with a single
    record (trajectory) is normalised with mean 0 and std 1; an all-equal group gets 0.
    """
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


@register_estimator("gigpo", {"mode": _MODE, "episode_stats": _EPISODE_STATS, "omega": _OMEGA})
def gigpo_advantage(
    inputs: EstimatorInputs,
    *,
    mode: NormMode = defaults.NORM_MODE,  # type: ignore[assignment]
    episode_stats: EpisodeStats = defaults.EPISODE_STATS,  # type: ignore[assignment]
    omega: float = defaults.OMEGA,
) -> EstimatorOutput:
    """GiGPO: ``A = A_E + omega * A_S`` with ``A_E`` GRPO's episode term and ``A_S`` the step term."""
    episode = grpo_advantage(inputs, mode=mode, episode_stats=episode_stats).advantages
    step = step_group_advantage(inputs, mode)
    return EstimatorOutput(episode + omega * step, {"episode_advantage": episode, "step_advantage": step})


# --------------------------------------------------------------------------------------------------
# HGPO


def _level_weights(n_levels: int, alpha: float, weight_offset: float) -> np.ndarray:
    """``rho_j = (j + weight_offset) ** alpha`` for ``j < n_levels``, ``(n_levels,)`` float64, checked."""
    if weight_offset <= 0:
        raise ValueError(f"hgpo option 'weight_offset' must be > 0, got {weight_offset!r}")
    with np.errstate(over="ignore", under="ignore"):
        rho = (np.arange(n_levels, dtype=np.float64) + float(weight_offset)) ** float(alpha)
        total = rho.sum()
    bad = ~(np.isfinite(rho) & (rho > np.finfo(np.float64).tiny))
    if bad.any() or not np.isfinite(total):
        j = int(np.flatnonzero(bad)[0]) if bad.any() else n_levels - 1
        raise ValueError(
            f"hgpo options alpha={alpha!r}, weight_offset={weight_offset!r} give level weight "
            f"rho_{j} = ({j} + {weight_offset!r}) ** {alpha!r} = {rho[j]!r}, or a sum that is not a finite "
            "positive float64: choose a smaller |alpha|"
        )
    return rho


@register_estimator("hgpo", _HGPO_OPTIONS)
def hgpo_advantage(
    inputs: EstimatorInputs,
    *,
    K: int = defaults.HISTORY_LEVELS,
    alpha: float = defaults.ALPHA,
    weight_offset: float = defaults.WEIGHT_OFFSET,
    mode: NormMode = defaults.NORM_MODE,  # type: ignore[assignment]
    base_group: bool = False,
    episode_stats: EpisodeStats = defaults.EPISODE_STATS,  # type: ignore[assignment]
    context: str = defaults.CONTEXT,
) -> EstimatorOutput:
    """HGPO: a weighted mean of advantages from nested history-consistent groups.

    For each level ``j = 0..K`` (see :mod:`hgpo_algo.levels`), ``Ghat`` is normalised within every group of
    two or more members with the *population* std; each member receives the item ``(j, a_j)``. Items equal
    to exactly 0 are dropped; the advantage is ``sum(rho_j * a_j) / (sum(rho_j) + eps)`` over the rest with
    ``rho_j = (j + weight_offset) ** alpha``, or 0 when no item remains. ``base_group`` adds GRPO's episode
    advantage as one more item of weight 1 (same zero filter). ``context`` picks what a level's history
    is: the trajectory's previous states (``states``, released) or the items the prompt showed
    (``prompt``: the records' ``prompt_keys``).

    Levels deeper than the longest trajectory are empty, so only ``D = min(K, longest - 1)`` levels are
    built. Diagnostics: ``level_advantages`` ``(n, D + 1)`` (NaN where the step has no item at that level)
    and ``level_group_sizes`` ``(n, D + 1)`` (0 where the step is not in the level).

    Raises:
        ValueError: ``K``, ``alpha`` and ``weight_offset`` give a level weight that is not a finite positive
            float64 (e.g. ``(1e6 + 1000) ** 100``).
    """
    batch = inputs.batch
    n = batch.n
    levels = history_levels(batch, K, context)
    rho = _level_weights(len(levels), alpha, weight_offset)
    weighted = np.zeros(n, dtype=np.float64)
    weights = np.zeros(n, dtype=np.float64)
    diagnostics: dict[str, np.ndarray] = {}
    if inputs.want_diagnostics:
        level_adv = diagnostics["level_advantages"] = np.full((n, len(levels)), np.nan)
        level_size = diagnostics["level_group_sizes"] = np.zeros((n, len(levels)), dtype=np.int64)
    for level in levels:
        a = level.grouping.normalize(inputs.returns[level.rows], mode=mode, ddof=0, singleton="zero")
        if inputs.want_diagnostics:
            sizes = level.grouping.size_per_row()
            level_size[level.rows, level.depth] = sizes
            level_adv[level.rows[sizes >= 2], level.depth] = a[sizes >= 2]
        keep = a != 0.0
        weighted[level.rows[keep]] += rho[level.depth] * a[keep]
        weights[level.rows[keep]] += rho[level.depth]
    if base_group:
        episode = grpo_advantage(inputs, mode=mode, episode_stats=episode_stats).advantages
        keep = episode != 0.0
        weighted[keep] += episode[keep]
        weights[keep] += 1.0
        if inputs.want_diagnostics:
            diagnostics["episode_advantage"] = episode
    adv = np.where(weights > 0, weighted / (weights + EPS), 0.0)
    return EstimatorOutput(adv, diagnostics)
