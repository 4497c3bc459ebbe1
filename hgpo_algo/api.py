"""``compute_advantages``: step records in, per-step returns and advantages out (input order, float64)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hgpo_algo.diagnostics import LevelReport, context_report
from hgpo_algo.estimators import EstimatorInputs, estimator_options, get_estimator
from hgpo_algo.records import TrajectoryBatch, load_batch
from hgpo_algo.returns import episode_scores, penalized_returns

__all__ = ["AdvantageResult", "compute_advantages", "memory_window_length"]

DEFAULT_GAMMA = 0.95
DEFAULT_INVALID_PENALTY = 0.1


@dataclass
class AdvantageResult:
    """Per-record outputs aligned with the input order.

    Attributes:
        advantages: ``(n,)`` float64 scalar advantage per step (trainers broadcast it over the step's tokens).
        returns: ``(n,)`` float64 ``Ghat``: discounted return minus the step's own invalid-action penalty.
        estimator: the estimator's name; ``options``: every option it ran with, defaults included.
        diagnostics: estimator-specific ``(n, ...)`` arrays in input order (on request), e.g. HGPO's
            ``level_advantages`` ``(n, K + 1)``.
        report: the per-level context-consistency report (on request).
    """

    advantages: np.ndarray
    returns: np.ndarray
    estimator: str
    options: dict[str, Any]
    diagnostics: dict[str, np.ndarray] = field(default_factory=dict)
    report: list[LevelReport] | None = None


def memory_window_length(batch: TrajectoryBatch) -> int | None:
    """The memory-window length H the records were made with, read off their ``context_keys``.

    Known when some record has more predecessors than the longest context (the window was full); else None.
    """
    if batch.context_length is None or batch.n == 0:
        return None
    longest = int(batch.context_length.max())
    if longest < 0 or not ((batch.step > longest) & (batch.context_length >= 0)).any():
        return None
    return longest


def _warn_if_window_differs(batch: TrajectoryBatch, K: int) -> None:
    H = memory_window_length(batch)
    if H is not None and H != K:
        warnings.warn(
            f"HGPO K={K} differs from the memory window H={H} of the records (their context_keys): the "
            "history levels then do not match what the agent's prompt showed",
            UserWarning,
            stacklevel=3,
        )


def compute_advantages(
    records: Any,
    estimator: str = "hgpo",
    *,
    gamma: float = DEFAULT_GAMMA,
    invalid_penalty: float = DEFAULT_INVALID_PENALTY,
    diagnostics: bool = False,
    report: bool = False,
    report_levels: int | None = None,
    **options: Any,
) -> AdvantageResult:
    """Compute per-step advantages with a registered estimator (``grpo``, ``gigpo``, ``hgpo``, ...).

    Args:
        records: step records: a sequence of dicts or :class:`~hgpo_algo.records.StepRecord`, a mapping of
            columns, a pandas DataFrame or a pyarrow Table. Any order; compute before padding.
        estimator: registered estimator name.
        gamma: discount of the per-step returns.
        invalid_penalty: ``lambda``, subtracted from the return and episode score of invalid steps.
        diagnostics: also return the estimator's per-record diagnostics.
        report: also compute the context-consistency report for levels ``0..report_levels``
            (default: the estimator's ``K``, else 2).
        **options: the estimator's options (see :func:`~hgpo_algo.estimators.estimator_options`).

    Raises:
        StepRecordError: the records break the schema (the message names the record and field).
        ValueError: unknown estimator, unknown option or a bad option value.
    """
    fn = get_estimator(estimator)
    known = estimator_options(estimator)
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ValueError(
            f"unknown option(s) {', '.join(map(repr, unknown))} for estimator {estimator!r} "
            f"(its options: {', '.join(known) or 'none'})"
        )
    for name, value in (("gamma", gamma), ("invalid_penalty", invalid_penalty)):
        if not np.isfinite(value):
            raise ValueError(f"{name} must be finite, got {value!r}")
    batch: TrajectoryBatch = load_batch(records)
    inputs = EstimatorInputs(
        batch=batch,
        returns=penalized_returns(batch, gamma, invalid_penalty),
        episode_scores=episode_scores(batch, invalid_penalty),
        invalid_penalty=invalid_penalty,
        want_diagnostics=diagnostics,
    )
    if "K" in known:
        _warn_if_window_differs(batch, int(options.get("K", known["K"])))
    out = fn(inputs, **options)
    result = AdvantageResult(
        advantages=batch.to_input_order(out.advantages),
        returns=batch.to_input_order(inputs.returns),
        estimator=estimator,
        options={"gamma": gamma, "invalid_penalty": invalid_penalty, **known, **options},
    )
    if diagnostics:
        result.diagnostics = {name: batch.to_input_order(arr) for name, arr in out.diagnostics.items()}
    if report:
        depth = report_levels if report_levels is not None else int(result.options.get("K", 2))
        result.report = context_report(batch, depth)
    return result
