"""Per-step GRPO / GiGPO / HGPO advantages for SkyRL's step-wise training (one batch row = one turn).

SkyRL's ``RayPPOTrainer.compute_advantages_and_returns`` in step-wise mode computes an outcome advantage
from each trajectory's last step and copies it to every step (SkyRL #1278). :func:`stepwise_advantages`
gives every step its own: it reads SkyRL's step-wise ``TrainingInputBatch`` (rows in trajectory order,
``metadata["uids"]`` the prompt of each row = the group, ``metadata["is_last_step"]`` closing each
trajectory, token rewards in ``batch["rewards"]``, the padding rows SkyRL appends counted by
``metadata["pad_size"]``) plus the state keys of the turns, and calls :func:`hgpo_algo.compute_advantages`.

The state keys come from our skyrl-gym environments (:mod:`hgpo.integrations.skyrl.env`): their
``get_metrics()`` at the end of an episode carries the episode's ``state_keys``, ``context_keys`` and
``invalid`` flags, which SkyRL's generator puts in the last step's ``env_metrics``;
:func:`stepwise_metadata` spreads them over the trajectory's rows. :class:`StepWiseAdvantages` is the
trainer hook: a mixin placed before SkyRL's trainer class that does both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from hgpo_algo import compute_advantages

__all__ = ["ESTIMATORS", "METRIC_KEYS", "StepWiseAdvantages", "stepwise_advantages", "stepwise_metadata"]

#: SkyRL ``advantage_estimator`` names routed to hgpo_algo (SkyRL's own ``grpo`` is left to SkyRL).
ESTIMATORS: dict[str, str] = {"hgpo": "hgpo", "gigpo": "gigpo", "hgpo_grpo": "grpo"}
#: The per-episode lists our environments report in ``get_metrics()``.
METRIC_KEYS = ("state_keys", "context_keys", "invalid")


def _trajectories(is_last_step: Sequence[bool]) -> tuple[np.ndarray, np.ndarray]:
    """(trajectory index, step index) of every row, from the flags that close each trajectory."""
    last = np.asarray(is_last_step, dtype=bool)
    if last.size and not last[-1]:
        raise ValueError("is_last_step must close the last trajectory (its final flag is False)")
    traj = np.concatenate([[0], np.cumsum(last[:-1])]).astype(np.int64) if last.size else np.zeros(0, np.int64)
    starts = np.flatnonzero(np.concatenate([[True], last[:-1]])) if last.size else np.zeros(0, np.int64)
    step = np.arange(last.size) - starts[traj]
    return traj, step


def stepwise_metadata(env_metrics: Sequence[Mapping[str, Any]], is_last_step: Sequence[bool]) -> dict[str, list]:
    """``state_keys`` (and ``context_keys``, ``invalid``) per row from the last steps' ``env_metrics``.

    Raises:
        ValueError: a trajectory's last step carries no ``state_keys`` (not one of our environments), or
            a different number of keys than the trajectory has rows.
    """
    traj, _ = _trajectories(is_last_step)
    if len(env_metrics) != len(traj):
        raise ValueError(f"{len(env_metrics)} env_metrics for {len(traj)} rows")
    lasts = np.flatnonzero(np.asarray(is_last_step, dtype=bool))
    out: dict[str, list] = {k: [None] * len(traj) for k in METRIC_KEYS}
    for t, row in enumerate(lasts):
        metrics = env_metrics[row] or {}
        if "state_keys" not in metrics:
            raise ValueError(
                f"row {row} ends a trajectory but its env_metrics has no 'state_keys' "
                "(use the hgpo skyrl-gym environments, hgpo.integrations.skyrl.env)"
            )
        rows = np.flatnonzero(traj == t)
        for key in METRIC_KEYS:
            values = metrics.get(key)
            if values is None:
                continue
            if len(values) != len(rows):
                raise ValueError(f"trajectory ending at row {row}: {len(values)} {key} for {len(rows)} steps")
            for r, v in zip(rows, values, strict=True):
                out[key][r] = v
    return {k: v for k, v in out.items() if any(x is not None for x in v)}


def stepwise_advantages(
    data: Mapping[str, Any], estimator: str = "hgpo", **options: Any
) -> tuple[torch.Tensor, torch.Tensor]:
    """Advantages and returns ``(batch, seqlen)`` of a step-wise ``TrainingInputBatch``, per step.

    Each row's reward is the sum of its token rewards; padding rows (``metadata["pad_size"]``) and tokens
    outside ``response_mask`` get 0. ``options`` go to :func:`hgpo_algo.compute_advantages`.
    """
    name = ESTIMATORS.get(estimator, estimator)
    meta = getattr(data, "metadata", None) or {}
    for key in ("uids", "is_last_step"):
        if key not in meta:
            raise ValueError(f"the batch's metadata has no {key!r} (step-wise training provides it)")
    rewards = data["rewards"]
    mask = data["response_mask"].to(torch.float32)
    n_real = len(rewards) - int(meta.get("pad_size", 0) or 0)
    is_last = list(meta["is_last_step"])[:n_real]
    traj, step = _trajectories(is_last)
    cols: dict[str, Any] = {
        "group_id": [str(u) for u in list(meta["uids"])[:n_real]],
        "traj_id": traj.tolist(),
        "step": step.tolist(),
        "reward": rewards[:n_real].detach().to(torch.float64).sum(-1).cpu().tolist(),
    }
    if "state_keys" in meta:
        cols["state_key"] = list(meta["state_keys"])[:n_real]
        if "context_keys" in meta:
            cols["context_keys"] = list(meta["context_keys"])[:n_real]
    elif name == "grpo":  # GRPO reads no state keys: one per row
        cols["state_key"] = [f"row{i}" for i in range(n_real)]
    else:
        raise ValueError(f"estimator {estimator!r} needs metadata['state_keys'] (see stepwise_metadata)")
    if "invalid" in meta:
        cols["invalid"] = [bool(v) for v in list(meta["invalid"])[:n_real]]
    result = compute_advantages(cols, name, **options)
    adv = torch.zeros(len(rewards), dtype=torch.float32)
    ret = torch.zeros(len(rewards), dtype=torch.float32)
    adv[:n_real] = torch.as_tensor(result.advantages, dtype=torch.float32)
    ret[:n_real] = torch.as_tensor(result.returns, dtype=torch.float32)
    device = mask.device
    return adv.to(device).unsqueeze(-1) * mask, ret.to(device).unsqueeze(-1) * mask


class StepWiseAdvantages:
    """Mixin for SkyRL's trainer: ``class Trainer(StepWiseAdvantages, RayPPOTrainer)``.

    With ``trainer.algorithm.advantage_estimator`` one of :data:`ESTIMATORS` (and step-wise trajectories),
    ``convert_to_training_input`` copies our environments' state keys into the batch metadata and
    ``compute_advantages_and_returns`` writes per-step advantages. Options: the class attribute
    :attr:`hgpo_options` (SkyRL's ``AlgorithmConfig`` is a dataclass without a place for them), updated by
    ``trainer.algorithm.hgpo_options`` where a config has it; the discount is ``trainer.algorithm.gamma``.
    Other estimators go to SkyRL unchanged. SkyRL's ``validate_cfg`` accepts only estimator names in its
    ``AdvantageEstimatorRegistry``: register the name there too.
    """

    #: estimator options for :func:`hgpo_algo.compute_advantages` (e.g. ``{"K": 2, "alpha": 1.0}``)
    hgpo_options: Mapping[str, Any] = {}

    def _hgpo_estimator(self) -> str | None:
        name = str(self.cfg.trainer.algorithm.advantage_estimator)
        return name if name in ESTIMATORS else None

    def convert_to_training_input(self, generator_output: Mapping[str, Any], uids: Sequence[str]) -> Any:
        data = super().convert_to_training_input(generator_output, uids)
        if self._hgpo_estimator() and generator_output.get("is_last_step") is not None:
            data.metadata.update(stepwise_metadata(generator_output["env_metrics"], generator_output["is_last_step"]))
        return data

    def compute_advantages_and_returns(self, data: Any) -> Any:
        name = self._hgpo_estimator()
        if name is None:
            return super().compute_advantages_and_returns(data)
        algorithm = self.cfg.trainer.algorithm
        options = {**self.hgpo_options, **dict(getattr(algorithm, "hgpo_options", None) or {})}
        options.setdefault("gamma", float(algorithm.gamma))
        data["advantages"], data["returns"] = stepwise_advantages(data, name, **options)
        return data
