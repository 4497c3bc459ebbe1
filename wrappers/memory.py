"""``MemoryWindow``: the last H observation/action pairs, their state keys, and the agent's prompt."""

from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import Any

import gymnasium as gym

from wrappers.templates import PromptTemplate, load_template

__all__ = ["DEFAULT_HISTORY_LENGTH", "MemoryWindow", "template_for"]

DEFAULT_HISTORY_LENGTH = 2
"""The same number as HGPO's default K: the history levels then match what the prompt shows."""


def template_for(env: gym.Env) -> str | Path:
    """The prompt template an environment declares (``metadata["prompt_template"]``), else ``generic``.

    An environment names its own template (a TOML path, a built-in name) in its metadata, the way it
    declares its render modes; the wrappers never guess it from the environment's id.
    """
    declared = (getattr(env, "metadata", None) or {}).get("prompt_template")
    return declared if declared else "generic"


class MemoryWindow(gym.Wrapper):
    """Keeps the last ``history_length`` (observation, action) pairs and renders the agent's prompt.

    After ``reset`` and every ``step``, ``info`` carries:

    * ``history``: list of up to H ``(observation, action)`` pairs before the current observation, oldest
      first;
    * ``context_keys``: the state keys of those H observations, oldest first (what step records call
      ``context_keys``);
    * ``prompt``: the prompt for the next decision, rendered with the template;
    * ``task``: the task sentence; ``step_count``: steps taken so far in the episode;
    * ``observation``: the current observation as text (what the prompt shows as current).

    The environment (or a :class:`~wrappers.state_key.StateKey` wrapper beneath this one) must provide
    ``info["state_key"]``. Admissible actions come from ``info["admissible_commands"]`` when present.

    Args:
        env: a text environment.
        history_length: H, the number of pairs shown (default 2, HGPO's default K).
        template: a TOML path, the built-in ``generic``, or a :class:`~wrappers.templates.PromptTemplate`;
            default: the template the environment declares in ``metadata["prompt_template"]``.
    """

    def __init__(
        self,
        env: gym.Env,
        history_length: int = DEFAULT_HISTORY_LENGTH,
        template: str | Path | PromptTemplate | None = None,
    ) -> None:
        super().__init__(env)
        if int(history_length) != history_length or history_length < 0:
            raise ValueError(f"history_length must be a non-negative integer, got {history_length!r}")
        self.history_length = int(history_length)
        self.template = load_template(template if template is not None else template_for(env))
        self._pairs: deque[tuple[str, str]] = deque(maxlen=self.history_length)
        self._keys: deque[str] = deque(maxlen=self.history_length)
        self._observation = ""
        self._key = ""
        self._task = ""
        self._steps = 0

    def _state_key(self, info: dict[str, Any]) -> str:
        try:
            return info["state_key"]
        except KeyError:
            raise KeyError(
                "MemoryWindow needs info['state_key'] from the environment; wrap it with wrappers.StateKey first"
            ) from None

    def _annotate(self, observation: Any, info: dict[str, Any]) -> dict[str, Any]:
        info = dict(info)
        history = list(self._pairs)
        info["history"] = history
        info["context_keys"] = list(self._keys)
        info["task"] = self._task
        info["step_count"] = self._steps
        info["observation"] = str(observation)
        info["prompt"] = self.template.render(
            task=self._task,
            observation=str(observation),
            admissible_actions=info.get("admissible_commands"),
            step_count=self._steps,
            history=history,
            history_length=self.history_length,
        )
        return info

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        observation, info = self.env.reset(**kwargs)
        self._pairs.clear()
        self._keys.clear()
        self._steps = 0
        self._observation, self._key = str(observation), self._state_key(info)
        self._task = info.get("task") or self.template.find_task(self._observation) or ""
        return observation, self._annotate(observation, info)

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        observation, reward, terminated, truncated, info = self.env.step(action)
        shown = info.get("parsed_action", action)
        if self.history_length:
            self._pairs.append((self._observation, str(shown)))
            self._keys.append(self._key)
        self._steps += 1
        self._observation, self._key = str(observation), self._state_key(info)
        return observation, reward, terminated, truncated, self._annotate(observation, info)
