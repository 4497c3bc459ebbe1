"""Rollout providers by name: how ``hgpo_algo``'s applications get rollouts without importing the wrappers.

A provider is a function ``(env_id, policy, n_groups, group_size, **options) -> step records``, named
``"module:function"``; the default, ``wrappers.rollout:collect_groups``, is loaded only when called for, the
way Gymnasium loads environment entry points, so ``hgpo_algo`` keeps no dependency on the wrappers.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

__all__ = ["DEFAULT_PROVIDER", "load_rollout_provider"]

DEFAULT_PROVIDER = "wrappers.rollout:collect_groups"


def load_rollout_provider(spec: str = DEFAULT_PROVIDER) -> Callable[..., list[dict[str, Any]]]:
    """The rollout function named ``"module:function"``."""
    module_name, _, attr = spec.partition(":")
    if not attr:
        raise ValueError(f"rollout provider must look like 'module:function', got {spec!r}")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ImportError(f"cannot load rollout provider {spec!r}: {exc}") from None
