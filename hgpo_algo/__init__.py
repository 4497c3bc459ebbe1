"""Group-based advantage estimators (GRPO, GiGPO, HGPO) over plain step records.

    >>> from hgpo_algo import compute_advantages
    >>> result = compute_advantages(records, estimator="hgpo", K=2, alpha=1.0)
    >>> result.advantages, result.returns   # float64 arrays aligned with the input order
"""

from hgpo_algo.api import AdvantageResult, compute_advantages
from hgpo_algo.diagnostics import LevelReport, context_report, format_report
from hgpo_algo.estimators import ESTIMATORS, estimator_options, register_estimator
from hgpo_algo.records import REQUIRED_FIELDS, StepRecord, StepRecordError, TrajectoryBatch, load_batch

__all__ = [
    "ESTIMATORS",
    "REQUIRED_FIELDS",
    "AdvantageResult",
    "LevelReport",
    "StepRecord",
    "StepRecordError",
    "TrajectoryBatch",
    "compute_advantages",
    "context_report",
    "estimator_options",
    "format_report",
    "load_batch",
    "register_estimator",
]
