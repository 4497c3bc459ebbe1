"""``EnvHost``: a set of wrapped environments addressed by slot number, as one worker runs them.

Every rollout backend (in-process, worker processes, Ray actors) runs the same ``EnvHost`` behind its own
transport, so all of them build, reset and step environments identically.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym

from wrappers.action_parser import ActionParser
from wrappers.memories import Memory
from wrappers.memory import DEFAULT_HISTORY_LENGTH, MemoryWindow
from wrappers.state_key import StateKey
from wrappers.templates import PromptTemplate

__all__ = ["EnvHost", "EnvSpec", "Transition", "make_env"]

Transition = tuple[Any, float, bool, bool, dict[str, Any]]


@dataclass(frozen=True)
class EnvSpec:
    """How to build one environment with the rollout wrapper stack (picklable for worker processes).

    ``env_id`` is a registered id (``"hgpo/ALFWorld-v0"``, ``"module:Id-v0"``), Gymnasium's own
    ``EnvSpec`` of one, or a picklable factory ``() -> gym.Env``. The stack, inside out: the environment
    (``gym.make(..., max_episode_steps=max_steps)``: the registered step limit is replaced, never stacked;
    a factory's environment gets a ``TimeLimit``), :class:`StateKey`, :class:`MemoryWindow` (with a copy
    of ``memory``, or the window of ``history_length``) and, with ``parse_actions``, :class:`ActionParser`.
    """

    env_id: str | gym.envs.registration.EnvSpec | Callable[[], gym.Env]
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    history_length: int = DEFAULT_HISTORY_LENGTH
    template: str | Path | PromptTemplate | None = None
    parse_actions: bool = False
    parser_options: dict[str, Any] = field(default_factory=dict)
    max_steps: int | None = None
    memory: Memory | None = None

    def resolved(self) -> EnvSpec:
        """This spec with a registered id replaced by its Gymnasium ``EnvSpec``.

        A worker process that receives the ``EnvSpec`` imports the environment's entry point itself, so it
        needs no registration of its own (and the wrappers import no environment package by name).
        """
        if not isinstance(self.env_id, str):
            return self
        try:
            # gymnasium's own lookup: "module:id" imports the module that registers the id
            registered = gym.envs.registration._find_spec(self.env_id)
        except gym.error.Error as exc:
            raise gym.error.Error(
                f"{exc} (import the package that registers {self.env_id!r} first, e.g. `import hgpo_envs`, "
                "or name it as 'module:id')"
            ) from None
        return dataclasses.replace(self, env_id=registered)


def make_env(spec: EnvSpec) -> gym.Env:
    """Build the wrapped environment that :class:`EnvSpec` describes."""
    if callable(spec.env_id):  # a factory (an id or Gymnasium's EnvSpec goes to gym.make)
        env = spec.env_id()
        if spec.max_steps is not None:
            env = gym.wrappers.TimeLimit(env, max_episode_steps=spec.max_steps)
    else:
        limit = {} if spec.max_steps is None else {"max_episode_steps": spec.max_steps}
        env = gym.make(spec.env_id, **limit, **spec.env_kwargs)
    env = StateKey(env)
    memory = copy.deepcopy(spec.memory) if spec.memory is not None else None  # a fresh one per environment
    env = MemoryWindow(env, history_length=spec.history_length, template=spec.template, memory=memory)
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
