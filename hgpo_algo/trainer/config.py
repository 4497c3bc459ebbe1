"""``TrainConfig``: every setting of the reference trainer, with the published defaults; YAML in and out."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hgpo_algo.providers import DEFAULT_PROVIDER

__all__ = ["TrainConfig"]


@dataclass
class TrainConfig:
    """Settings of ``hgpo train``. Defaults follow the HGPO paper's ALFWorld setup.

    Rollouts: ``tasks_per_batch`` groups of ``group_size`` episodes per iteration, ``max_steps`` steps per
    episode, prompts with a memory window of ``history_length`` (= HGPO's ``K`` unless set).
    """

    model: str = ""
    output_dir: str = "out/train"
    env_id: str = "hgpo/ALFWorld-v0"
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    rollout_provider: str = DEFAULT_PROVIDER
    backend: str = "sync"
    iterations: int = 100
    seed: int = 0
    # rollouts
    group_size: int = 8
    tasks_per_batch: int = 16
    max_steps: int = 50
    history_length: int | None = None
    require_think: bool = False
    max_prompt_tokens: int = 2048
    max_new_tokens: int = 256
    temperature: float = 1.0
    top_p: float = 1.0
    # advantages
    estimator: str = "hgpo"
    K: int = 2
    alpha: float = 1.0
    weight_offset: float = 2.0
    mode: str = "mean_std_norm"
    base_group: bool = False
    gamma: float = 0.95
    invalid_penalty: float = 0.1
    # optimisation
    lr: float = 1e-6
    weight_decay: float = 0.0
    ppo_epochs: int = 1
    mini_batch_size: int = 64
    micro_batch_size: int = 8
    clip_ratio: float = 0.2
    loss_agg: str = "token-mean"
    kl_coef: float = 0.01
    kl_kind: str = "low_var_kl"
    entropy_coef: float = 0.0
    max_grad_norm: float = 1.0
    # evaluation and bookkeeping
    eval_env_kwargs: dict[str, Any] = field(default_factory=dict)
    eval_tasks: int = 32
    eval_every: int = 10
    save_every: int = 10
    device: str = "auto"
    dtype: str = "auto"
    progress: bool = True

    @property
    def window(self) -> int:
        return self.K if self.history_length is None else self.history_length

    def estimator_options(self) -> dict[str, Any]:
        """Options for ``compute_advantages`` (only those the estimator takes)."""
        from hgpo_algo.estimators import estimator_options

        known = estimator_options(self.estimator)
        candidates = {
            "K": self.K,
            "alpha": self.alpha,
            "weight_offset": self.weight_offset,
            "mode": self.mode,
            "base_group": self.base_group,
        }
        return {k: v for k, v in candidates.items() if k in known}

    def validate(self) -> None:
        from hgpo_algo.estimators import ESTIMATORS

        if self.estimator not in ESTIMATORS:
            raise ValueError(f"unknown estimator {self.estimator!r} (choose from {', '.join(sorted(ESTIMATORS))})")
        for name in ("group_size", "tasks_per_batch", "max_steps", "iterations", "micro_batch_size", "mini_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.micro_batch_size > self.mini_batch_size:
            raise ValueError("micro_batch_size must not exceed mini_batch_size")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def save(self, path: str | Path) -> None:
        import yaml

        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False), encoding="utf-8")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown config key(s): {', '.join(unknown)}")
        return cls(**data)

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        import yaml

        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"config file not found: {path}")
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{path}: a config must be a mapping of settings")
        return cls.from_dict(data)
