"""Agent memories: what the prompt remembers of the episode, and one key per item it shows.

A :class:`Memory` is told every step (:meth:`Memory.remember`) and decides which of them the next prompt
shows (:meth:`Memory.shown`, oldest first). :class:`~wrappers.memory.MemoryWindow` renders the shown
entries with the environment's template (a ``[memories.NAME]`` table of the template may give a memory its
own wording) and reports, per shown item, ``info["prompt_keys"]``: the key of exactly the text the prompt
shows for it, so HGPO can group steps by what their prompts showed (``context="prompt"``).

Built in: :class:`ObservationWindow` (the last H observation/action pairs, the default),
:class:`ActionWindow` (the last H actions only, with the step count, as verl-agent's prompts do) and
:class:`FullHistory` (everything, the oldest items dropped first to fit a token budget, or a character
budget without a tokenizer). A memory of your own is a subclass with ``remember`` and ``shown``:

    >>> class EveryOtherStep(Memory):
    ...     name = "every_other"
    ...     def __init__(self):
    ...         self.entries = []
    ...     def reset(self):
    ...         self.entries.clear()
    ...     def remember(self, entry):
    ...         self.entries.append(entry)
    ...     def shown(self, render):
    ...         return self.entries[-1::-2][::-1]
    >>> memory = EveryOtherStep()
    >>> for t in range(1, 6):
    ...     memory.remember(MemoryEntry(step=t, observation=f"room {t}", state_key=f"k{t}", action="go east"))
    >>> [entry.step for entry in memory.shown(render=str)]
    [1, 3, 5]
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hgpo_algo.state_keys import text_state_key

__all__ = ["MEMORY_NAMES", "ActionWindow", "FullHistory", "Memory", "MemoryEntry", "ObservationWindow", "memory_by_name"]


@dataclass(frozen=True)
class MemoryEntry:
    """One step as a memory keeps it: the ``step`` number (1-based) of the action, the ``observation`` it
    was taken on, that observation's ``state_key``, and the ``action`` (as the environment received it)."""

    step: int
    observation: str
    state_key: Any
    action: str


Render = Callable[[MemoryEntry], str]
"""How the prompt shows one entry (the template's ``history_item`` for this memory)."""


class Memory(ABC):
    """What a prompt remembers. ``name`` picks the template's ``[memories.NAME]`` wording, if it has one."""

    name: str = "window"

    @abstractmethod
    def reset(self) -> None:
        """Forget everything (a new episode starts)."""

    @abstractmethod
    def remember(self, entry: MemoryEntry) -> None:
        """Keep what is needed of one step."""

    @abstractmethod
    def shown(self, render: Render) -> list[MemoryEntry]:
        """The entries the next prompt shows, oldest first; ``render(entry)`` is the text it shows for one."""

    def item_key(self, entry: MemoryEntry, text: str) -> Any:
        """The key of one shown item: by default the key of exactly the text the prompt shows for it."""
        return text_state_key(text)


class ObservationWindow(Memory):
    """The last ``history_length`` observation/action pairs (the released HGPO/GiGPO prompts)."""

    name = "window"

    def __init__(self, history_length: int = 2) -> None:
        if int(history_length) != history_length or history_length < 0:
            raise ValueError(f"history_length must be a non-negative integer, got {history_length!r}")
        self.history_length = int(history_length)
        self._entries: deque[MemoryEntry] = deque(maxlen=self.history_length)

    def reset(self) -> None:
        self._entries.clear()

    def remember(self, entry: MemoryEntry) -> None:
        if self.history_length:
            self._entries.append(entry)

    def shown(self, render: Render) -> list[MemoryEntry]:
        return list(self._entries)


class ActionWindow(ObservationWindow):
    """The last ``history_length`` actions only; the prompt's step count says how far the episode is."""

    name = "actions"


class FullHistory(Memory):
    """Every step so far, the oldest dropped first until the shown items fit the budget.

    Args:
        max_tokens: budget in tokens of the shown items' text (with ``tokenizer``: a Hugging Face
            tokenizer or any ``text -> sequence of ids`` callable).
        max_chars: budget in characters, when there is no tokenizer.
        tokenizer: counts tokens; required with ``max_tokens``.
        separator: the text between items in the prompt (counted in the budget).
    """

    name = "full"

    def __init__(
        self,
        max_tokens: int | None = None,
        *,
        max_chars: int | None = None,
        tokenizer: Any = None,
        separator: str = "\n",
    ) -> None:
        if (max_tokens is None) == (max_chars is None):
            raise ValueError("FullHistory needs exactly one budget: max_tokens (with a tokenizer) or max_chars")
        budget = max_tokens if max_tokens is not None else max_chars
        if int(budget) != budget or budget < 0:
            raise ValueError(f"the budget must be a non-negative integer, got {budget!r}")
        if max_tokens is not None and tokenizer is None:
            raise ValueError("max_tokens needs a tokenizer to count tokens (or give max_chars instead)")
        self.budget = int(budget)
        self.tokenizer = tokenizer
        self.separator = separator
        self._entries: list[MemoryEntry] = []

    def __deepcopy__(self, memo: dict) -> FullHistory:
        # a copy per environment shares the tokenizer (it only counts) and starts empty
        twin = copy.copy(self)
        twin._entries = list(self._entries)
        return twin

    def _size(self, text: str) -> int:
        if self.tokenizer is None:
            return len(text)
        ids = self.tokenizer(text)
        if isinstance(ids, dict) or hasattr(ids, "input_ids"):  # a Hugging Face tokenizer's BatchEncoding
            ids = ids["input_ids"]
        return len(ids)

    def reset(self) -> None:
        self._entries.clear()

    def remember(self, entry: MemoryEntry) -> None:
        self._entries.append(entry)

    def shown(self, render: Render) -> list[MemoryEntry]:
        kept: list[MemoryEntry] = []
        used = 0
        for entry in reversed(self._entries):  # newest first, so the oldest are the ones dropped
            cost = self._size(render(entry)) + (self._size(self.separator) if kept else 0)
            if used + cost > self.budget:
                break
            kept.append(entry)
            used += cost
        return kept[::-1]


#: The built-in memories by the names configs use (``memory: actions``).
MEMORY_NAMES: tuple[str, ...] = ("window", "actions", "full")


def memory_by_name(name: str, history_length: int, *, max_tokens: int | None = None, tokenizer: Any = None) -> Memory:
    """A built-in memory: ``window`` / ``actions`` of ``history_length`` items, or ``full`` within
    ``max_tokens`` tokens of ``tokenizer`` (with no tokenizer, ``max_tokens`` counts characters)."""
    if name == "window":
        return ObservationWindow(history_length)
    if name == "actions":
        return ActionWindow(history_length)
    if name == "full":
        if max_tokens is None:
            raise ValueError("memory 'full' needs a budget (max_tokens)")
        if tokenizer is None:
            return FullHistory(max_chars=max_tokens)
        return FullHistory(max_tokens, tokenizer=tokenizer)
    raise ValueError(f"unknown memory {name!r} (choose from {', '.join(MEMORY_NAMES)}, or pass a Memory)")
