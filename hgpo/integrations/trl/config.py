"""``HGPOConfig``: TRL's ``GRPOConfig`` plus the settings of step-wise agent training on our environments.

Every ``GRPOConfig`` / ``TrainingArguments`` field keeps its TRL meaning (optimiser, schedule, logging,
checkpoints, gradient accumulation, ``loss_type``, ``beta``, ``epsilon``, generation settings). Two change
meaning because a sample is an agent step, not a completion:

* ``num_generations`` is the group size: how many episodes play each task from the same initial state.
* ``generation_batch_size`` (``per_device_train_batch_size * steps_per_generation`` by default) counts
  *episodes*: one rollout plays ``generation_batch_size // num_generations`` tasks. Its step samples (a
  varying number) are split evenly over the ``steps_per_generation`` accumulation steps.

Advantage settings default to the published ones (:mod:`hgpo_algo.defaults`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from trl import GRPOConfig

from hgpo_algo import defaults
from wrappers.memories import MEMORY_NAMES

__all__ = ["ROLLOUT_BACKENDS", "HGPOConfig"]

ROLLOUT_BACKENDS = ("sync", "process", "ray")


def _mapping(name: str, value: Any) -> dict[str, Any]:
    """A dict from a dict, a JSON object string (the command line) or None."""
    if value is None:
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except json.JSONDecodeError as exc:
            raise ValueError(f"{name} must be a JSON object, got {value!r} ({exc.msg})") from None
    if not isinstance(value, dict):
        raise ValueError(f"{name} must be a mapping, got {value!r}")
    return dict(value)


@dataclass
class HGPOConfig(GRPOConfig):
    """``GRPOConfig`` for :class:`~hgpo.integrations.trl.HGPOGRPOTrainer` (see the module docstring)."""

    env_id: str = field(
        default="hgpo/ALFWorld-v0",
        metadata={"help": "Gymnasium id of a text environment (hgpo/ALFWorld-v0, hgpo/WebShop-v0, ...)."},
    )
    env_kwargs: dict | str | None = field(
        default=None, metadata={"help": "Keyword arguments of gym.make (a JSON object on the command line)."}
    )
    estimator: str = field(default="hgpo", metadata={"help": "A registered estimator: grpo, gigpo, hgpo, ..."})
    estimator_options: dict | str | None = field(
        default=None,
        metadata={"help": 'Options of the estimator, e.g. {"K": 2, "alpha": 1.0} (JSON on the command line).'},
    )
    gamma: float = field(default=defaults.GAMMA, metadata={"help": "Discount of the step returns."})
    invalid_penalty: float = field(
        default=defaults.INVALID_PENALTY,
        metadata={"help": "Subtracted from the return of a step whose action could not be parsed."},
    )
    history_length: int | None = field(
        default=None,
        metadata={"help": "Memory window H of the prompts (default: the estimator's K, else 2)."},
    )
    memory: str = field(
        default="window",
        metadata={"help": "What prompts remember: window (last H observation/action pairs), actions (last H "
                          "actions only) or full (the whole history within memory_tokens tokens); or pass any "
                          "wrappers.Memory to HGPOGRPOTrainer(memory=...)."},
    )
    memory_tokens: int = field(default=1024, metadata={"help": "Token budget of memory=full."})
    max_episode_steps: int | None = field(
        default=None, metadata={"help": "Episode step limit (default: the environment's own)."}
    )
    max_prompt_tokens: int | None = field(
        default=None, metadata={"help": "Keep the last N prompt tokens (the observation and actions are last)."}
    )
    require_think: bool = field(default=False, metadata={"help": "Require <think>...</think> before <action>."})
    rollout_backend: str = field(
        default="sync", metadata={"help": "Where environments run: sync, process or ray."}
    )
    max_envs: int | None = field(default=None, metadata={"help": "At most this many environments at once."})

    def __post_init__(self) -> None:
        # The dataset only paces the loop (one row per task group); keep every column for the rollout.
        if self.remove_unused_columns is None:
            self.remove_unused_columns = False
        super().__post_init__()
        from hgpo_algo.estimators import check_options

        self.env_kwargs = _mapping("env_kwargs", self.env_kwargs)
        self.estimator_options = check_options(self.estimator, _mapping("estimator_options", self.estimator_options))
        problems = []
        if self.rollout_backend not in ROLLOUT_BACKENDS:
            problems.append(f"rollout_backend must be one of {', '.join(ROLLOUT_BACKENDS)}, got {self.rollout_backend!r}")
        if not 0.0 <= self.gamma <= 1.0:
            problems.append(f"gamma must be in [0, 1], got {self.gamma}")
        if self.invalid_penalty < 0:
            problems.append(f"invalid_penalty must be >= 0, got {self.invalid_penalty}")
        if self.memory not in MEMORY_NAMES:
            problems.append(f"memory must be one of {', '.join(MEMORY_NAMES)}, got {self.memory!r}")
        if self.memory_tokens < 1:
            problems.append(f"memory_tokens must be >= 1, got {self.memory_tokens}")
        for name in ("history_length", "max_episode_steps", "max_prompt_tokens", "max_envs"):
            value = getattr(self, name)
            if value is not None and value < (0 if name == "history_length" else 1):
                problems.append(f"{name} must be >= {0 if name == 'history_length' else 1}, got {value}")
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def window(self) -> int:
        """H, the memory window the prompts show: ``history_length``, else the estimator's K, else 2."""
        if self.history_length is not None:
            return self.history_length
        return int(self.estimator_options.get("K", defaults.HISTORY_LEVELS))
