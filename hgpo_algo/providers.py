"""Rollout providers by name: how ``hgpo_algo``'s applications get rollouts without importing the wrappers.

A provider is a function ``(env_id, policy, n_groups, group_size, **options) -> step records``, named
``"module:function"``; the default, ``wrappers.rollout:collect_groups``, is loaded only when called for, the
way Gymnasium loads environment entry points, so ``hgpo_algo`` keeps no dependency on the wrappers.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

__all__ = ["DEFAULT_EXPERT_POLICY", "DEFAULT_PROVIDER", "load_by_name", "load_rollout_provider"]

DEFAULT_PROVIDER = "wrappers.rollout:collect_groups"
DEFAULT_EXPERT_POLICY = "wrappers.policies:Expert"


def load_by_name(spec: str, what: str = "object") -> Any:
    """The object named ``"module:attribute"``, imported on demand."""
    module_name, _, attr = spec.partition(":")
    if not attr:
        raise ValueError(f"{what} must look like 'module:attribute', got {spec!r}")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ImportError(f"cannot load {what} {spec!r}: {exc}") from None


def load_rollout_provider(spec: str = DEFAULT_PROVIDER) -> Callable[..., list[dict[str, Any]]]:
    """The rollout function named ``"module:function"``."""
    return load_by_name(spec, "rollout provider")
