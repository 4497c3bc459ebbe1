"""HGPO in TRL: ``HGPOGRPOTrainer`` trains a Hugging Face model step-wise with TRL's ``GRPOTrainer``.

``pip install 'hgpo[trl]'``. Each agent step is one sample (the memory-window prompt and the model's action
text), rollouts are group rollouts through :func:`wrappers.collect_groups`, and advantages come from
:func:`hgpo_algo.compute_advantages` with any registered estimator; TRL's loss, optimiser, logging,
checkpoints and gradient accumulation are used as they are.

    from hgpo.integrations.trl import HGPOConfig, HGPOGRPOTrainer

Names are imported lazily, so ``hgpo --help`` does not import TRL.
"""

from __future__ import annotations

from typing import Any

__all__ = ["TESTED_TRL", "HGPOConfig", "HGPOGRPOTrainer", "Rollout", "TRLIncompatibleError", "task_dataset"]


def __getattr__(name: str) -> Any:
    if name == "HGPOConfig":
        from hgpo.integrations.trl.config import HGPOConfig

        return HGPOConfig
    if name in ("HGPOGRPOTrainer", "Rollout", "task_dataset"):
        from hgpo.integrations.trl import trainer

        return getattr(trainer, name)
    if name in ("TESTED_TRL", "TRLIncompatibleError"):
        from hgpo.integrations.trl import compat

        return getattr(compat, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
