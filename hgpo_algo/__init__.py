"""Group-based advantage estimators (GRPO, GiGPO, HGPO) over plain step records.

    >>> from hgpo_algo import compute_advantages
    >>> records = [
    ...     {"group_id": 0, "traj_id": "a", "step": 0, "state_key": "s", "reward": 1.0},
    ...     {"group_id": 0, "traj_id": "b", "step": 0, "state_key": "s", "reward": 0.0},
    ... ]
    >>> compute_advantages(records, estimator="grpo").advantages.round(4).tolist()
    [0.7071, -0.7071]

The public names load on first use (PEP 562), so ``import hgpo_algo.state_keys`` stays free of NumPy and
pyarrow for the environments that only need a state key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "AdvantageResult": "hgpo_algo.api",
    "compute_advantages": "hgpo_algo.api",
    "LevelReport": "hgpo_algo.diagnostics",
    "context_report": "hgpo_algo.diagnostics",
    "format_report": "hgpo_algo.diagnostics",
    "ESTIMATORS": "hgpo_algo.estimators",
    "check_options": "hgpo_algo.estimators",
    "estimator_options": "hgpo_algo.estimators",
    "option_specs": "hgpo_algo.estimators",
    "OptionSpec": "hgpo_algo.options",
    "open_writer": "hgpo_algo.record_io",
    "register_estimator": "hgpo_algo.estimators",
    "REQUIRED_FIELDS": "hgpo_algo.records",
    "StepRecord": "hgpo_algo.records",
    "StepRecordError": "hgpo_algo.records",
    "TrajectoryBatch": "hgpo_algo.records",
    "load_batch": "hgpo_algo.records",
    "text_state_key": "hgpo_algo.state_keys",
}

__all__ = [
    "ESTIMATORS",
    "REQUIRED_FIELDS",
    "AdvantageResult",
    "LevelReport",
    "OptionSpec",
    "StepRecord",
    "StepRecordError",
    "TrajectoryBatch",
    "check_options",
    "compute_advantages",
    "context_report",
    "estimator_options",
    "format_report",
    "load_batch",
    "open_writer",
    "option_specs",
    "register_estimator",
    "text_state_key",
]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
    from hgpo_algo.api import AdvantageResult, compute_advantages
    from hgpo_algo.diagnostics import LevelReport, context_report, format_report
    from hgpo_algo.estimators import (
        ESTIMATORS,
        check_options,
        estimator_options,
        option_specs,
        register_estimator,
    )
    from hgpo_algo.options import OptionSpec
    from hgpo_algo.record_io import open_writer
    from hgpo_algo.records import REQUIRED_FIELDS, StepRecord, StepRecordError, TrajectoryBatch, load_batch
    from hgpo_algo.state_keys import text_state_key


if sorted(__all__) != sorted(_EXPORTS):  # pragma: no cover - kept in step by hand
    raise ImportError("hgpo_algo.__all__ and its lazy exports differ")


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'hgpo_algo' has no attribute {name!r}")
    value = getattr(_load(module), name)
    globals()[name] = value
    return value


def _load(module: str) -> Any:
    """The submodule, by static imports (no import by string name)."""
    if module == "hgpo_algo.api":
        from hgpo_algo import api as loaded
    elif module == "hgpo_algo.diagnostics":
        from hgpo_algo import diagnostics as loaded
    elif module == "hgpo_algo.estimators":
        from hgpo_algo import estimators as loaded
    elif module == "hgpo_algo.records":
        from hgpo_algo import records as loaded
    elif module == "hgpo_algo.options":
        from hgpo_algo import options as loaded
    elif module == "hgpo_algo.record_io":
        from hgpo_algo import record_io as loaded
    else:
        from hgpo_algo import state_keys as loaded
    return loaded


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
