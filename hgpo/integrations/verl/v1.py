"""verl 0.9's v1 trainers (``trainer.use_v1=True``, the default) with hgpo's step advantages.

verl's v1 ``PPOTrainer._compute_advantage`` reads a fixed list of fields from TransferQueue (``uid``,
``response_mask``, ``rm_scores``, ...), so the per-step fields our agent loop writes into
``extra_fields`` never reach an estimator. :class:`StepAdvantageMixin` overrides that one method: for
``algorithm.adv_estimator`` in :data:`~hgpo.integrations.verl.advantage.VERL_NAMES` it reads
``response_mask``, ``rm_scores``, ``uid`` and ``extra_fields``, builds a ``DataProto``
(:func:`dataproto_from_fields`), runs :func:`hgpo.integrations.verl.advantage.compute_advantage` and puts
``advantages`` / ``returns`` back as verl does; other estimators go to verl's own method. The trainer
modes ``hgpo_sync``, ``hgpo_colocate_async`` and ``hgpo_separate_async`` (``trainer.v1.trainer_mode``)
are verl's three v1 trainers with the mixin. Estimator options: ``hgpo.estimator_options`` in the
trainer config (verl instantiates ``algorithm`` as a dataclass that takes no extra keys); the discount is
``algorithm.gamma``.

Tested on the CPU with a local Ray instance and TransferQueue's in-memory storage: samples stored as
verl's TransferQueue agent-loop worker stores them, the mixin's ``_compute_advantage``, advantages read
back. A whole v1 training run needs verl's GPU workers.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from tensordict import TensorDict
from verl import DataProto
from verl.trainer.ppo.v1 import (
    PPOTrainerColocateAsync,
    PPOTrainerSeparateAsync,
    PPOTrainerSync,
    register_trainer,
)

from hgpo.integrations.verl import advantage

__all__ = ["STEP_FIELDS", "StepAdvantageMixin", "dataproto_from_fields", "estimator_options"]

#: What the mixin reads from TransferQueue.
STEP_FIELDS = ("response_mask", "rm_scores", "uid", "extra_fields")
_COLUMNS = {key for keys in advantage.COLUMN_NAMES.values() for key in keys} | {"is_action_valid", "active_masks"}


def _object_column(values: list[Any]) -> np.ndarray:
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    return arr


def _as_list(values: Any) -> list[Any]:
    """A non-tensor field as a list (a ``NonTensorStack`` or the list-like tensordict returns)."""
    return list(values.tolist()) if hasattr(values, "tolist") else list(values)


def dataproto_from_fields(data: TensorDict) -> DataProto:
    """A ``DataProto`` from TransferQueue fields: padded ``response_mask`` and ``token_level_rewards``
    (from ``rm_scores``), ``uid`` and every step-record column of ``extra_fields`` in ``non_tensor_batch``.

    Raises:
        ValueError: a field is missing (the message names it).
    """
    missing = [f for f in STEP_FIELDS if f not in data.keys()]
    if missing:
        raise ValueError(f"the TransferQueue fields lack {', '.join(missing)}")
    tensors = TensorDict(
        {"response_mask": data["response_mask"], "token_level_rewards": data["rm_scores"]},
        batch_size=data.batch_size,
    ).to_padded_tensor()
    extras = [dict(e or {}) for e in _as_list(data["extra_fields"])]
    uids = _as_list(data["uid"])
    non_tensors = {"uid": _object_column([str(u) for u in uids])}
    present = set().union(*(e.keys() for e in extras)) & _COLUMNS if extras else set()
    for key in sorted(present):
        non_tensors[key] = _object_column([e.get(key) for e in extras])
    return DataProto.from_dict(
        tensors={"response_mask": tensors["response_mask"], "token_level_rewards": tensors["token_level_rewards"]},
        non_tensors=non_tensors,
    )


def estimator_options(config: Any) -> dict[str, Any]:
    """``algorithm.gamma`` plus ``hgpo.estimator_options`` of a trainer config (plain dict)."""
    out: dict[str, Any] = {"gamma": float(config.algorithm.gamma)}
    section = (config.get("hgpo") or {}).get("estimator_options") or {}
    out.update({str(k): v for k, v in section.items()})
    return out


class StepAdvantageMixin:
    """Put before a verl v1 trainer class: ``class T(StepAdvantageMixin, PPOTrainerSync)``."""

    def _compute_advantage(self, batch: Any, metrics: dict) -> Any:
        name = str(self.config.algorithm.adv_estimator)
        if name not in advantage.VERL_NAMES:
            return super()._compute_advantage(batch, metrics)
        if self.config.algorithm.use_kl_in_reward:
            raise ValueError("algorithm.use_kl_in_reward is not supported with the hgpo estimators (use the KL loss)")
        import transfer_queue as tq
        from verl.workers.utils.padding import response_to_nested

        data = tq.kv_batch_get(keys=batch.keys, partition_id=batch.partition_id, select_fields=list(STEP_FIELDS))
        response_mask = data["response_mask"]
        proto = advantage.compute_advantage(dataproto_from_fields(data), name, **estimator_options(self.config))
        output = TensorDict(
            {field: response_to_nested(proto.batch[field], response_mask) for field in ("advantages", "returns")},
            batch_size=len(batch),
        )
        return tq.kv_batch_put(keys=batch.keys, partition_id=batch.partition_id, fields=output)


@register_trainer("hgpo_sync")
class HGPOTrainerSync(StepAdvantageMixin, PPOTrainerSync):
    """verl's ``sync`` v1 trainer with hgpo's step advantages."""


@register_trainer("hgpo_colocate_async")
class HGPOTrainerColocateAsync(StepAdvantageMixin, PPOTrainerColocateAsync):
    """verl's ``colocate_async`` v1 trainer with hgpo's step advantages."""


@register_trainer("hgpo_separate_async")
class HGPOTrainerSeparateAsync(StepAdvantageMixin, PPOTrainerSeparateAsync):
    """verl's ``separate_async`` v1 trainer with hgpo's step advantages."""
