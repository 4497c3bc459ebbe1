"""``compute_advantages``: step records in, per-step returns and advantages out (input order, float64)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hgpo_algo import defaults
from hgpo_algo.diagnostics import LevelReport, context_report
from hgpo_algo.estimators import EstimatorInputs, check_options, get_estimator
from hgpo_algo.options import COMMON_OPTIONS, MAX_HISTORY_LEVELS, OptionSpec
from hgpo_algo.records import StepRecordError, TrajectoryBatch, load_batch
from hgpo_algo.returns import episode_scores, penalized_returns

__all__ = ["AdvantageResult", "compute_advantages", "memory_window_length"]

DEFAULT_GAMMA = defaults.GAMMA  # aliases kept for callers of earlier releases
DEFAULT_INVALID_PENALTY = defaults.INVALID_PENALTY
_REPORT_LEVELS = OptionSpec(int, defaults.HISTORY_LEVELS, "levels of the report", minimum=0,
                            maximum=MAX_HISTORY_LEVELS)


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
    gamma: float = defaults.GAMMA,
    invalid_penalty: float = defaults.INVALID_PENALTY,
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
        gamma: discount of the per-step returns, in ``[0, 1]``.
        invalid_penalty: ``lambda`` (``>= 0``), subtracted from the return and episode score of invalid steps.
        diagnostics: also return the estimator's per-record diagnostics.
        report: also compute the context-consistency report for levels ``0..report_levels``
            (default: the estimator's ``K``, else 2).
        **options: the estimator's options (see :func:`~hgpo_algo.estimators.option_specs`), each checked
            against its spec by :func:`~hgpo_algo.estimators.check_options`.

    Estimators run under ``np.errstate(over="raise", invalid="raise")``: an overflow is reported, never
    turned into silent zeros or NaN.

    Raises:
        StepRecordError: the records break the schema (the message names the record and field), or their
            rewards are too large for float64 statistics.
        ValueError: unknown estimator, unknown option or a bad option value (the message names the option).
    """
    fn = get_estimator(estimator)
    checked = check_options(estimator, options)
    gamma = COMMON_OPTIONS["gamma"].check(gamma, "option 'gamma'")
    invalid_penalty = COMMON_OPTIONS["invalid_penalty"].check(invalid_penalty, "option 'invalid_penalty'")
    if report_levels is not None:
        report_levels = _REPORT_LEVELS.check(report_levels, "option 'report_levels'")
    batch: TrajectoryBatch = load_batch(records)
    if "K" in checked:
        _warn_if_window_differs(batch, checked["K"])
    try:
        # finite rewards can still overflow float64 sums and squares (1e300): fail instead of returning junk
        with np.errstate(over="raise", invalid="raise"):
            inputs = EstimatorInputs(
                batch=batch,
                returns=penalized_returns(batch, gamma, invalid_penalty),
                episode_scores=episode_scores(batch, invalid_penalty),
                invalid_penalty=invalid_penalty,
                want_diagnostics=diagnostics,
            )
            out = fn(inputs, **checked)
    except FloatingPointError:
        raise _overflow(batch) from None
    if out.advantages.shape != (batch.n,) or not np.isfinite(out.advantages).all():
        raise ValueError(f"estimator {estimator!r} returned advantages that are not {batch.n} finite numbers")
    result = AdvantageResult(
        advantages=batch.to_input_order(out.advantages),
        returns=batch.to_input_order(inputs.returns),
        estimator=estimator,
        options={"gamma": gamma, "invalid_penalty": invalid_penalty, **checked},
    )
    if diagnostics:
        result.diagnostics = {name: batch.to_input_order(arr) for name, arr in out.diagnostics.items()}
    if report:
        depth = report_levels if report_levels is not None else int(result.options.get("K", 2))
        result.report = context_report(batch, depth)
    return result


def _overflow(batch: TrajectoryBatch) -> StepRecordError:
    row = int(np.argmax(np.abs(batch.reward)))
    i = int(batch.order[row])
    return StepRecordError(
        f"record {i}: field 'reward' ({float(batch.reward[row])!r}) is too large: returns or advantages overflow "
        "float64 (scale the rewards down)",
        index=i,
        field="reward",
    )
