"""``TrainConfig``: every setting of the reference trainer, typed, validated on load; YAML in and out.

Defaults are the published ones and come from :mod:`hgpo_algo.defaults`. The estimator's options live in
the ``estimator_options`` mapping and are checked against the estimator registry, so a newly registered
estimator's options are settable here (and from ``hgpo train --set``) without touching this file.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hgpo_algo import defaults
from wrappers.memories import MEMORY_NAMES

__all__ = ["CHOICES", "LEGACY_OPTION_KEYS", "ConfigError", "TrainConfig"]

#: Settings that take one of a few words (the loss settings' words come from ``hgpo_algo.losses``).
CHOICES: dict[str, tuple[str, ...]] = {
    "backend": ("sync", "process", "ray"),
    "memory": MEMORY_NAMES,
    "device": ("auto", "cpu", "cuda", "mps"),
    "dtype": ("auto", "float32", "bfloat16", "float16"),
}
#: Top-level keys of earlier configs that are estimator options now (``K: 4`` still works).
LEGACY_OPTION_KEYS = ("K", "alpha", "weight_offset", "mode", "base_group", "episode_stats", "omega")


class ConfigError(ValueError):
    """A setting is unknown, of the wrong type or out of range; the message has one line per problem."""


@dataclass
class TrainConfig:
    """Settings of ``hgpo train``. Defaults follow the HGPO paper's ALFWorld setup.

    Rollouts: ``tasks_per_batch`` groups of ``group_size`` episodes per iteration, ``max_steps`` steps per
    episode (the environment's step limit), prompts with a ``memory`` of the episode: ``window`` (the last
    ``history_length`` observation/action pairs; default length: the estimator's ``K``, else
    :data:`hgpo_algo.defaults.HISTORY_LEVELS`), ``actions`` (the last ``history_length`` actions only) or
    ``full`` (the whole history cut to ``memory_tokens`` tokens of the model's tokenizer); any other
    :class:`wrappers.Memory` can be given to :class:`~hgpo.trainer.trainer.Trainer` directly. Evaluation plays
    ``eval_tasks`` enumerated tasks, reset with ``{eval_task_option: i}`` (``game_index`` for ALFWorld,
    ``goal_index`` for WebShop).
    """

    model: str = ""
    output_dir: str = "out/train"
    env_id: str = "hgpo/ALFWorld-v0"
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    backend: str = "sync"
    iterations: int = 100
    seed: int = 0
    # rollouts
    group_size: int = 8
    tasks_per_batch: int = 16
    max_steps: int = 50
    history_length: int | None = None
    memory: str = "window"
    memory_tokens: int = 1024
    require_think: bool = False
    max_prompt_tokens: int = 2048
    max_new_tokens: int = 256
    temperature: float = 1.0
    top_p: float = 1.0
    # advantages
    estimator: str = "hgpo"
    estimator_options: dict[str, Any] = field(default_factory=dict)
    gamma: float = defaults.GAMMA
    invalid_penalty: float = defaults.INVALID_PENALTY
    # optimisation
    lr: float = 1e-6
    weight_decay: float = 0.0
    ppo_epochs: int = 1
    mini_batch_size: int = 64
    micro_batch_size: int = 8
    clip_ratio: float = defaults.CLIP_RATIO
    loss_agg: str = defaults.LOSS_AGG
    kl_coef: float = defaults.KL_COEF
    kl_kind: str = defaults.KL_KIND
    entropy_coef: float = defaults.ENTROPY_COEF
    max_grad_norm: float = 1.0
    # evaluation and bookkeeping
    eval_env_kwargs: dict[str, Any] = field(default_factory=dict)
    eval_tasks: int = 32
    eval_task_option: str = "game_index"
    eval_every: int = 10
    save_every: int = 10
    device: str = "auto"
    dtype: str = "auto"
    progress: bool = True

    @property
    def window(self) -> int:
        """H, the memory window the prompts show."""
        if self.history_length is not None:
            return self.history_length
        return int(self.checked_estimator_options().get("K", defaults.HISTORY_LEVELS))

    def checked_estimator_options(self) -> dict[str, Any]:
        """Every option of the estimator, validated (``hgpo_algo.estimators.check_options``)."""
        from hgpo_algo.estimators import check_options

        return check_options(self.estimator, self.estimator_options)

    def validate(self) -> None:
        """Check every setting's type and range; raises :class:`ConfigError` listing all problems."""
        problems = [p for f in dataclasses.fields(self) if (p := _check_field(self, f)) is not None]
        if not problems:
            problems += _check_ranges(self)
        if problems:
            raise ConfigError("\n".join(problems))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def save(self, path: str | Path) -> None:
        import yaml

        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False), encoding="utf-8")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """A validated config from a mapping; legacy top-level estimator options move into the mapping."""
        if not isinstance(data, dict):
            raise ConfigError(f"a config must be a mapping of settings, not {type(data).__name__}")
        data = dict(data)
        options = data.get("estimator_options") or {}
        if not isinstance(options, dict):
            raise ConfigError(f"estimator_options must be a mapping, got {options!r}")
        options = dict(options)
        for key in LEGACY_OPTION_KEYS:
            if key in data:
                options.setdefault(key, data.pop(key))
        if options:
            data["estimator_options"] = options
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(map(str, set(data) - known))
        if unknown:
            raise ConfigError(f"unknown config key(s): {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        config = cls(**data)
        config.validate()
        return config

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        import yaml

        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"config file not found: {path}")
        try:
            data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
        try:
            return cls.from_dict(data)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None


def _check_field(config: TrainConfig, f: dataclasses.Field) -> str | None:
    """One line naming the problem with field ``f``, or None; coerces numbers written as strings."""
    value = getattr(config, f.name)
    hint = typing.get_type_hints(TrainConfig)[f.name]
    allowed = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    if value is None and type(None) in allowed:
        return None
    kind = next(t for t in allowed if t is not type(None))
    kind = typing.get_origin(kind) or kind
    if kind is float and isinstance(value, str):
        try:  # YAML 1.1 reads 1e-6 (no dot) as a string
            value = float(value)
        except ValueError:
            return f"{f.name} must be a number, got {value!r}"
        setattr(config, f.name, value)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
        setattr(config, f.name, value)
    if kind is int and isinstance(value, float) and value.is_integer():
        value = int(value)
        setattr(config, f.name, value)
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        return f"{f.name} must be {_kind_name(kind)}, got {value!r}"
    if kind is float and not math.isfinite(value):
        return f"{f.name} must be finite, got {value!r}"
    choices = _choices().get(f.name)
    if choices is not None and value not in choices:
        return f"{f.name} must be one of {', '.join(choices)}, got {value!r}"
    return None


def _choices() -> dict[str, tuple[str, ...]]:
    from hgpo_algo.losses import AGG_MODES, KL_KINDS  # torch: the trainer needs it anyway

    return {**CHOICES, "loss_agg": AGG_MODES, "kl_kind": KL_KINDS}


def _kind_name(kind: type) -> str:
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false", dict: "a mapping"}.get(
        kind, kind.__name__
    )


def _check_ranges(c: TrainConfig) -> list[str]:
    from hgpo_algo.estimators import ESTIMATORS

    problems = []
    for name in ("group_size", "tasks_per_batch", "max_steps", "iterations", "micro_batch_size", "mini_batch_size",
                 "ppo_epochs", "max_prompt_tokens", "max_new_tokens", "memory_tokens"):
        if getattr(c, name) < 1:
            problems.append(f"{name} must be >= 1, got {getattr(c, name)}")
    for name in ("eval_tasks", "eval_every", "save_every", "seed"):
        if getattr(c, name) < 0:
            problems.append(f"{name} must be >= 0, got {getattr(c, name)}")
    for name in ("lr", "weight_decay", "kl_coef", "entropy_coef", "clip_ratio", "temperature", "invalid_penalty"):
        if getattr(c, name) < 0:
            problems.append(f"{name} must be >= 0, got {getattr(c, name)}")
    if not 0.0 < c.top_p <= 1.0:
        problems.append(f"top_p must be in (0, 1], got {c.top_p}")
    if not 0.0 <= c.gamma <= 1.0:
        problems.append(f"gamma must be in [0, 1], got {c.gamma}")
    if c.max_grad_norm <= 0:
        problems.append(f"max_grad_norm must be > 0, got {c.max_grad_norm}")
    if c.history_length is not None and c.history_length < 0:
        problems.append(f"history_length must be >= 0, got {c.history_length}")
    if c.micro_batch_size > c.mini_batch_size:
        problems.append("micro_batch_size must not exceed mini_batch_size")
    if c.estimator not in ESTIMATORS:
        problems.append(f"estimator must be one of {', '.join(sorted(ESTIMATORS))}, got {c.estimator!r}")
    else:
        try:
            checked = c.checked_estimator_options()
            c.estimator_options = {k: checked[k] for k in c.estimator_options}  # coerced, defaults left out
        except (TypeError, ValueError) as exc:
            problems.append(f"estimator_options: {exc}")
    return problems
