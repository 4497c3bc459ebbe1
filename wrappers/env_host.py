"""``EnvHost``: a set of wrapped environments addressed by slot number, as one worker runs them.

Every rollout backend (in-process, worker processes, Ray actors) runs the same ``EnvHost`` behind its own
transport, so all of them build, reset and step environments identically.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym

from wrappers.action_parser import ActionParser
from wrappers.memory import DEFAULT_HISTORY_LENGTH, MemoryWindow
from wrappers.state_key import StateKey
from wrappers.templates import PromptTemplate

__all__ = ["EnvHost", "EnvSpec", "Transition", "make_env"]

Transition = tuple[Any, float, bool, bool, dict[str, Any]]


@dataclass(frozen=True)
class EnvSpec:
    """How to build one environment with the rollout wrapper stack (picklable for worker processes).

    ``env_id`` is a registered id (``"hgpo/ALFWorld-v0"``, ``"module:Id-v0"``) or a picklable factory
    ``() -> gym.Env``. The stack, inside out: the environment, an optional ``TimeLimit(max_steps)``,
    :class:`StateKey`, :class:`MemoryWindow` and, with ``parse_actions``, :class:`ActionParser`.
    """

    env_id: str | Callable[[], gym.Env]
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    history_length: int = DEFAULT_HISTORY_LENGTH
    template: str | Path | PromptTemplate | None = None
    parse_actions: bool = False
    parser_options: dict[str, Any] = field(default_factory=dict)
    max_steps: int | None = None


def _registered_make(env_id: str, kwargs: dict[str, Any]) -> gym.Env:
    if ":" not in env_id and env_id not in gym.registry:
        # our ids register on import of hgpo_envs; a spawned worker has not imported it yet
        try:
            importlib.import_module("hgpo_envs")
        except ImportError:
            pass
    return gym.make(env_id, **kwargs)


def make_env(spec: EnvSpec) -> gym.Env:
    """Build the wrapped environment that :class:`EnvSpec` describes."""
    env = _registered_make(spec.env_id, spec.env_kwargs) if isinstance(spec.env_id, str) else spec.env_id()
    if spec.max_steps is not None:
        env = gym.wrappers.TimeLimit(env, max_episode_steps=spec.max_steps)
    env = StateKey(env)
    env = MemoryWindow(env, history_length=spec.history_length, template=spec.template)
    if spec.parse_actions:
        env = ActionParser(env, **spec.parser_options)
    return env


class EnvHost:
    """Environments by slot number; each method takes and returns plain, picklable data."""

    def __init__(self) -> None:
        self._envs: dict[int, gym.Env] = {}

    def ping(self) -> int:
        import os

        return os.getpid()

    def make(self, slots: list[int], spec: EnvSpec) -> None:
        for slot in slots:
            if slot in self._envs:
                self._envs[slot].close()
            self._envs[slot] = make_env(spec)

    def reset(self, requests: list[tuple[int, int | None, dict[str, Any] | None]]) -> list[tuple[Any, dict]]:
        """``[(slot, seed, options), ...]`` -> ``[(observation, info), ...]``."""
        return [self._envs[slot].reset(seed=seed, options=options) for slot, seed, options in requests]

    def step(self, requests: list[tuple[int, Any]]) -> list[Transition]:
        """``[(slot, action), ...]`` -> ``[(observation, reward, terminated, truncated, info), ...]``."""
        out = []
        for slot, action in requests:
            obs, reward, terminated, truncated, info = self._envs[slot].step(action)
            out.append((obs, float(reward), bool(terminated), bool(truncated), info))
        return out

    def replay(self, slot: int, seed: int | None, options: dict[str, Any] | None, actions: list[Any]) -> Any:
        """Reset ``slot`` and step it through ``actions``; returns the last observation (for checking)."""
        env = self._envs[slot]
        obs, _ = env.reset(seed=seed, options=options)
        for action in actions:
            obs = env.step(action)[0]
        return obs

    def close(self) -> None:
        for env in self._envs.values():
            env.close()
        self._envs.clear()
