"""GRPO / GiGPO / HGPO step advantages over a verl ``DataProto`` batch (one row = one policy call).

verl's advantage estimators see token rewards, the response mask and the prompt ``uid`` only; HGPO and
GiGPO need, per row, the trajectory, the step index and the state key. They are read here from
``data.non_tensor_batch``, under our field names or verl-agent's, so that a verl-agent batch works as is:

============== ========================================= ==============================================
step record    ``non_tensor_batch`` keys (first found)   when absent
============== ========================================= ==============================================
group_id       ``group_id``, ``uid``                     error
traj_id        ``traj_id``, ``traj_uid``                 error
step           ``step``                                  order of the rows within each trajectory
state_key      ``state_key``, ``anchor_obs``             error (GRPO: one key per row, unused)
reward         ``reward``, ``rewards``                   ``token_level_rewards.sum(-1)`` of the row
invalid        ``invalid``, not ``is_action_valid``      all valid
context_keys   ``context_keys``                          not checked
============== ========================================= ==============================================

Rows whose ``active_masks`` (verl-agent) is false are left out and get zero advantages and returns.
:func:`hgpo_algo.compute_advantages` computes one float64 scalar per row; it is broadcast over the row's
``response_mask`` (``(batch, response_length)``) and written to ``batch["advantages"]`` and
``batch["returns"]`` in the dtype of ``token_level_rewards``, as verl's ``compute_advantage`` does.

:func:`register_estimators` adds our estimators to verl's registry (``@register_adv_est``) under the
names in :data:`VERL_NAMES`. verl 0.9's ``compute_advantage`` passes ``non_tensor_batch`` to registered
estimators only for ``gdpo`` (verl PR #7473 is open), so the registered functions raise a clear error
when called without it: route them through :mod:`hgpo.integrations.verl.trainer`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from hgpo_algo import compute_advantages
from hgpo_algo.estimators import ESTIMATORS

__all__ = [
    "COLUMN_NAMES",
    "VERL_NAMES",
    "compute_advantage",
    "compute_step_advantages",
    "estimator_name",
    "options_from_config",
    "register_estimators",
    "step_records",
]

#: For each step-record field, the ``non_tensor_batch`` keys it is read from, in order of preference.
COLUMN_NAMES: dict[str, tuple[str, ...]] = {
    "group_id": ("group_id", "uid"),
    "traj_id": ("traj_id", "traj_uid"),
    "step": ("step",),
    "state_key": ("state_key", "anchor_obs"),
    "reward": ("reward", "rewards"),
    "invalid": ("invalid",),
    "context_keys": ("context_keys",),
}
#: verl registry name -> hgpo_algo estimator (``grpo`` is taken by verl's own outcome GRPO).
VERL_NAMES: dict[str, str] = {"hgpo": "hgpo", "gigpo": "gigpo", "hgpo_grpo": "grpo"}
#: Config keys that are not estimator options (read separately).
_COMMON = ("gamma", "invalid_penalty")


def estimator_name(name: Any) -> str:
    """The ``hgpo_algo`` estimator a verl name stands for (``hgpo_grpo`` -> ``grpo``; enums by value)."""
    name = str(getattr(name, "value", name))
    if name in VERL_NAMES:
        return VERL_NAMES[name]
    if name in ESTIMATORS:
        return name
    known = sorted(set(VERL_NAMES) | set(ESTIMATORS))
    raise ValueError(f"unknown hgpo estimator {name!r} (known: {', '.join(known)})")


def _plain(value: Any) -> Any:
    """numpy scalars and arrays to Python values (what the record schema accepts)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _find(non_tensor_batch: Mapping[str, Any], field: str, n: int) -> list[Any] | None:
    for key in COLUMN_NAMES[field]:
        if key in non_tensor_batch:
            values = non_tensor_batch[key]
            if len(values) != n:
                raise ValueError(f"non_tensor_batch[{key!r}] has {len(values)} rows, the batch has {n}")
            return [_plain(v) for v in values]
    return None


def _steps_in_row_order(traj_ids: list[Any]) -> list[int]:
    seen: dict[Any, int] = {}
    steps = []
    for traj in traj_ids:
        steps.append(seen.get(traj, 0))
        seen[traj] = steps[-1] + 1
    return steps


def step_records(
    non_tensor_batch: Mapping[str, Any],
    token_level_rewards: torch.Tensor | None = None,
    *,
    need_state_keys: bool = True,
) -> dict[str, list[Any]]:
    """The step records of a batch's rows, as columns (all rows, ``active_masks`` not applied).

    Args:
        non_tensor_batch: verl's per-row arrays (``DataProto.non_tensor_batch``).
        token_level_rewards: ``(batch, response_length)``; each row's reward is its sum when the batch has
            no ``reward``/``rewards`` column.
        need_state_keys: without a state-key column, raise (True) or give each row its own key (False,
            enough for GRPO, which does not read them).

    Raises:
        ValueError: a required column is missing (the message lists the keys looked for) or has the wrong
            length.
    """
    lengths = {len(v) for v in non_tensor_batch.values()}
    if token_level_rewards is not None:
        lengths.add(int(token_level_rewards.shape[0]))
    if len(lengths) > 1:
        raise ValueError(f"the batch's columns differ in length: {sorted(lengths)}")
    n = lengths.pop() if lengths else 0

    def required(field: str) -> list[Any]:
        values = _find(non_tensor_batch, field, n)
        if values is None:
            keys = " or ".join(repr(k) for k in COLUMN_NAMES[field])
            raise ValueError(f"non_tensor_batch has no {field} column (looked for {keys})")
        return values

    cols: dict[str, list[Any]] = {"group_id": required("group_id"), "traj_id": required("traj_id")}
    step = _find(non_tensor_batch, "step", n)
    cols["step"] = step if step is not None else _steps_in_row_order(cols["traj_id"])
    keys = _find(non_tensor_batch, "state_key", n)
    if keys is None and need_state_keys:
        required("state_key")
    # GRPO reads no state keys: one per row (and then no context keys to check against them)
    cols["state_key"] = keys if keys is not None else [f"row{i}" for i in range(n)]

    reward = _find(non_tensor_batch, "reward", n)
    if reward is None:
        if token_level_rewards is None:
            raise ValueError("no reward column ('reward' or 'rewards') and no token_level_rewards to sum")
        reward = token_level_rewards.detach().to(torch.float64).sum(-1).cpu().tolist()
    cols["reward"] = reward

    invalid = _find(non_tensor_batch, "invalid", n)
    if invalid is None and "is_action_valid" in non_tensor_batch:
        invalid = [not bool(v) for v in _plain(np.asarray(non_tensor_batch["is_action_valid"]))]
    if invalid is not None:
        cols["invalid"] = [bool(v) for v in invalid]
    context = _find(non_tensor_batch, "context_keys", n) if keys is not None else None
    if context is not None:
        cols["context_keys"] = context
    return cols


def options_from_config(config: Any, verl_name: str) -> dict[str, Any]:
    """Estimator options from verl's ``algorithm`` config: ``gamma`` and the mapping under the name.

    ``algorithm.gamma`` is the discount; ``algorithm.<verl_name>`` (e.g. ``+algorithm.hgpo.K=4`` on the
    command line) holds the estimator's options and ``invalid_penalty``. Returns ``{}`` for no config.
    """
    if config is None:
        return {}
    get = config.get if hasattr(config, "get") else lambda k, d=None: getattr(config, k, d)
    out: dict[str, Any] = {}
    gamma = get("gamma", None)
    if gamma is not None:
        out["gamma"] = float(gamma)
    section = get(verl_name, None)
    if section is not None:
        if not hasattr(section, "items"):
            raise ValueError(f"algorithm.{verl_name} must be a mapping of estimator options, got {section!r}")
        out.update({str(k): (v.item() if isinstance(v, np.generic) else v) for k, v in section.items()})
    return out


def compute_step_advantages(
    token_level_rewards: torch.Tensor,
    response_mask: torch.Tensor,
    non_tensor_batch: Mapping[str, Any],
    estimator: str = "hgpo",
    **options: Any,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row advantages and returns broadcast over ``response_mask``, both ``(batch, response_length)``.

    ``estimator`` is an ``hgpo_algo`` estimator or a :data:`VERL_NAMES` name; ``options`` go to
    :func:`hgpo_algo.compute_advantages` (``gamma``, ``invalid_penalty`` and the estimator's options).
    """
    name = estimator_name(estimator)
    if response_mask.shape != token_level_rewards.shape:
        raise ValueError(
            f"response_mask {tuple(response_mask.shape)} and token_level_rewards "
            f"{tuple(token_level_rewards.shape)} differ in shape"
        )
    cols = step_records(non_tensor_batch, token_level_rewards, need_state_keys=name != "grpo")
    n = len(cols["traj_id"])
    active = np.ones(n, dtype=bool)
    if "active_masks" in non_tensor_batch:
        active = np.asarray(_plain(np.asarray(non_tensor_batch["active_masks"])), dtype=bool).reshape(n)
    rows = np.flatnonzero(active)
    if rows.size < n:
        cols = {k: [v[i] for i in rows] for k, v in cols.items()}
    result = compute_advantages(cols, name, **options)
    adv = np.zeros(n)
    ret = np.zeros(n)
    adv[rows] = result.advantages
    ret[rows] = result.returns
    mask = response_mask.to(token_level_rewards.dtype)
    device = token_level_rewards.device
    advantages = torch.as_tensor(adv, dtype=mask.dtype, device=device).unsqueeze(-1) * mask
    returns = torch.as_tensor(ret, dtype=mask.dtype, device=device).unsqueeze(-1) * mask
    return advantages, returns


def _response_mask(data: Any) -> torch.Tensor:
    batch = data.batch
    if "response_mask" in batch.keys():
        return batch["response_mask"]
    if "attention_mask" in batch.keys() and "responses" in batch.keys():
        # what verl's compute_response_mask does: the response part of the attention mask
        mask = batch["attention_mask"][:, -batch["responses"].shape[-1]:]
        batch["response_mask"] = mask
        return mask
    raise ValueError("the batch has no 'response_mask' (nor 'attention_mask' and 'responses' to derive it)")


def compute_advantage(data: Any, estimator: str = "hgpo", *, config: Any = None, **options: Any) -> Any:
    """Write ``advantages`` and ``returns`` into a ``DataProto``'s batch; returns the same ``DataProto``.

    Args:
        data: a verl ``DataProto`` with ``batch["token_level_rewards"]`` (or ``token_level_scores``),
            ``batch["response_mask"]`` and the step columns in ``non_tensor_batch`` (see the module doc).
        estimator: ``hgpo``, ``gigpo``, ``hgpo_grpo``/``grpo`` or any registered ``hgpo_algo`` estimator.
        config: verl's ``algorithm`` config; supplies ``gamma`` and ``algorithm.<estimator>`` options.
        **options: options for :func:`hgpo_algo.compute_advantages`, over those from ``config``.
    """
    batch = data.batch
    if "token_level_rewards" in batch.keys():
        rewards = batch["token_level_rewards"]
    elif "token_level_scores" in batch.keys():
        rewards = batch["token_level_scores"]
    else:
        raise ValueError("the batch has no 'token_level_rewards' (nor 'token_level_scores')")
    verl_name = str(getattr(estimator, "value", estimator))
    merged = {**options_from_config(config, verl_name), **options}
    advantages, returns = compute_step_advantages(
        rewards, _response_mask(data), data.non_tensor_batch, estimator, **merged
    )
    batch["advantages"] = advantages
    batch["returns"] = returns
    return data


def _registered(verl_name: str):
    def advantage_fn(
        token_level_rewards: torch.Tensor,
        response_mask: torch.Tensor,
        index: Any = None,
        config: Any = None,
        non_tensor_batch: Mapping[str, Any] | None = None,
        **_: Any,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if non_tensor_batch is None:
            raise ValueError(
                f"advantage estimator {verl_name!r} needs the batch's trajectory ids, steps and state keys, "
                "but verl's compute_advantage passed no non_tensor_batch: call "
                "hgpo.integrations.verl.trainer.compute_advantage (or install_hook()) instead"
            )
        return compute_step_advantages(
            token_level_rewards, response_mask, non_tensor_batch, verl_name,
            **options_from_config(config, verl_name),
        )

    advantage_fn.__name__ = advantage_fn.__qualname__ = f"hgpo_{verl_name}_advantage"
    advantage_fn.__doc__ = f"verl advantage estimator {verl_name!r}: hgpo_algo's {VERL_NAMES[verl_name]!r}."
    return advantage_fn


_FUNCTIONS: dict[str, Any] = {}


def register_estimators() -> dict[str, Any]:
    """Register :data:`VERL_NAMES` in verl's advantage-estimator registry (idempotent); returns them."""
    from verl.trainer.ppo.core_algos import ADV_ESTIMATOR_REGISTRY, register_adv_est

    for verl_name in VERL_NAMES:
        fn = _FUNCTIONS.setdefault(verl_name, _registered(verl_name))
        if ADV_ESTIMATOR_REGISTRY.get(verl_name) is not fn:
            register_adv_est(verl_name)(fn)
    return dict(_FUNCTIONS)
