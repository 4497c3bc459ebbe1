"""``StateKey``: put a canonical ``info["state_key"]`` on any text environment."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym

from hgpo_algo.state_keys import text_state_key

__all__ = ["StateKey", "text_state_key"]

KeyFn = Callable[[Any, dict[str, Any]], str]


def _observation_key(observation: Any, info: dict[str, Any]) -> str:
    if not isinstance(observation, str):
        raise TypeError(
            f"StateKey's default key needs text observations, got {type(observation).__name__}; pass key_fn="
        )
    return text_state_key(observation)


class StateKey(gym.Wrapper):
    """Adds ``info["state_key"]``: a stable key of the observation the agent sees next.

    Args:
        env: any Gymnasium environment.
        key_fn: ``key_fn(observation, info) -> str``; default: BLAKE2b of the observation text
            (:func:`hgpo_algo.records.text_state_key`), identical in every process and run.
        overwrite: replace a key the environment already provides (default: keep it).
    """

    def __init__(self, env: gym.Env, key_fn: KeyFn | None = None, *, overwrite: bool = False) -> None:
        super().__init__(env)
        self._key_fn = key_fn or _observation_key
        self._overwrite = overwrite

    def _tag(self, observation: Any, info: dict[str, Any]) -> dict[str, Any]:
        if self._overwrite or "state_key" not in info:
            info = dict(info)
            info["state_key"] = self._key_fn(observation, info)
        return info

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        observation, info = self.env.reset(**kwargs)
        return observation, self._tag(observation, info)

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        observation, reward, terminated, truncated, info = self.env.step(action)
        return observation, reward, terminated, truncated, self._tag(observation, info)
