"""``MemoryWindow``: the agent's memory of the episode (any :mod:`wrappers.memories` memory), its keys,
and the prompt it renders."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import gymnasium as gym

from hgpo_algo.defaults import HISTORY_LEVELS
from hgpo_algo.state_keys import text_state_key
from wrappers.memories import Memory, MemoryEntry, ObservationWindow
from wrappers.templates import PromptTemplate, load_template

__all__ = ["DEFAULT_HISTORY_LENGTH", "MemoryWindow", "template_for"]

DEFAULT_HISTORY_LENGTH = HISTORY_LEVELS
"""The same number as HGPO's default K: the history levels then match what the prompt shows."""


class _ShownItem(NamedTuple):
    """One shown memory entry: its ``text`` in the prompt and ``key`` (the default item key of that text,
    or None when the memory keys items its own way)."""

    entry: MemoryEntry
    text: str
    key: Any


def template_for(env: gym.Env) -> str | Path:
    """The prompt template an environment declares (``metadata["prompt_template"]``), else ``generic``.

    An environment names its own template (a TOML path, a built-in name) in its metadata, the way it
    declares its render modes; the wrappers never guess it from the environment's id.
    """
    declared = (getattr(env, "metadata", None) or {}).get("prompt_template")
    return declared if declared else "generic"


class MemoryWindow(gym.Wrapper):
    """Remembers the episode with a :class:`~wrappers.memories.Memory` and renders the agent's prompt.

    The default memory is :class:`~wrappers.memories.ObservationWindow`: the last ``history_length``
    (observation, action) pairs. After ``reset`` and every ``step``, ``info`` carries:

    * ``history``: the ``(observation, action)`` pairs of the entries the prompt shows, oldest first;
    * ``context_keys``: the state keys of those entries' observations, oldest first (what step records
      call ``context_keys``: HGPO's history levels with ``context="states"``);
    * ``prompt_keys``: one key per shown item, of exactly the text the prompt shows for it
      (``context="prompt"`` groups by these);
    * ``prompt``: the prompt for the next decision, rendered with the template;
    * ``task``: the task sentence; ``step_count``: steps taken so far in the episode;
    * ``observation``: the current observation as text (what the prompt shows as current).

    The environment (or a :class:`~wrappers.state_key.StateKey` wrapper beneath this one) must provide
    ``info["state_key"]``. Admissible actions come from ``info["admissible_commands"]`` when present.

    Args:
        env: a text environment.
        history_length: H of the default memory (default 2, HGPO's default K); ignored with ``memory``.
        template: a TOML path, the built-in ``generic``, or a :class:`~wrappers.templates.PromptTemplate`;
            default: the template the environment declares in ``metadata["prompt_template"]``.
        memory: any :class:`~wrappers.memories.Memory` (e.g. ``ActionWindow(2)``, ``FullHistory(max_tokens=
            1024, tokenizer=tok)`` or your own).
    """

    def __init__(
        self,
        env: gym.Env,
        history_length: int = DEFAULT_HISTORY_LENGTH,
        template: str | Path | PromptTemplate | None = None,
        memory: Memory | None = None,
    ) -> None:
        super().__init__(env)
        if memory is None:
            memory = ObservationWindow(history_length)
        elif not isinstance(memory, Memory):
            raise TypeError(f"memory must be a wrappers.memories.Memory, got {type(memory).__name__}")
        self.memory = memory
        self.history_length = int(getattr(memory, "history_length", history_length))
        self.template = load_template(template if template is not None else template_for(env))
        # the default item key hashes the item's text, so it is kept with the text; a memory's own may not be pure
        self._keys_with_text = type(memory).item_key is Memory.item_key
        self._shown_items: dict[int, _ShownItem] = {}  # last step's items, by id() of their entries
        self._rendered: dict[int, _ShownItem] = {}  # this step's
        self._observation = ""
        self._key: Any = ""
        self._task = ""
        self._steps = 0

    def _state_key(self, info: dict[str, Any]) -> Any:
        try:
            return info["state_key"]
        except KeyError:
            raise KeyError(
                "MemoryWindow needs info['state_key'] from the environment; wrap it with wrappers.StateKey first"
            ) from None

    def _item(self, entry: MemoryEntry) -> _ShownItem:
        """``entry`` as the prompt shows it: rendered (and keyed) once, then reused while it stays shown.

        Items are found by ``id(entry)``: a cached item holds its entry, so no other object can have that id.
        """
        item = self._rendered.get(id(entry)) or self._shown_items.get(id(entry))
        if item is None:
            text = self.template.render_item(
                self.memory.name, index=entry.step, observation=entry.observation, action=entry.action
            )
            item = _ShownItem(entry, text, text_state_key(text) if self._keys_with_text else None)
        self._rendered[id(entry)] = item
        return item

    def _render(self, entry: MemoryEntry) -> str:
        return self._item(entry).text

    def _shown(self) -> list[_ShownItem]:
        """The items the next prompt shows, oldest first; only they (and the entries the memory rendered to
        choose them) stay cached for the next step."""
        self._rendered = {}
        items = [self._item(entry) for entry in self.memory.shown(self._render)]
        self._shown_items = self._rendered
        return items

    def _annotate(self, info: dict[str, Any]) -> dict[str, Any]:
        info = dict(info)
        shown = self._shown()
        texts = [item.text for item in shown]
        info["history"] = [(item.entry.observation, item.entry.action) for item in shown]
        info["context_keys"] = [item.entry.state_key for item in shown]
        if self._keys_with_text:
            info["prompt_keys"] = [item.key for item in shown]
        else:
            info["prompt_keys"] = [self.memory.item_key(item.entry, item.text) for item in shown]
        info["task"] = self._task
        info["step_count"] = self._steps
        info["observation"] = self._observation
        info["prompt"] = self.template.render(
            task=self._task,
            observation=self._observation,
            admissible_actions=info.get("admissible_commands"),
            step_count=self._steps,
            items=texts,
            history_length=self.history_length,
            memory=self.memory.name,
        )
        return info

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        observation, info = self.env.reset(**kwargs)
        self.memory.reset()
        self._shown_items = {}
        self._steps = 0
        self._observation, self._key = str(observation), self._state_key(info)
        self._task = info.get("task") or self.template.find_task(self._observation) or ""
        return observation, self._annotate(info)

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        observation, reward, terminated, truncated, info = self.env.step(action)
        shown = info.get("parsed_action", action)
        self._steps += 1
        self.memory.remember(MemoryEntry(self._steps, self._observation, self._key, str(shown)))
        self._observation, self._key = str(observation), self._state_key(info)
        return observation, reward, terminated, truncated, self._annotate(info)
