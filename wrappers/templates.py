"""Prompt templates for :class:`~wrappers.memory.MemoryWindow`: plain TOML data, replaceable by users.

A template file defines ``first`` (the prompt before any action), ``with_history`` (later prompts),
``history_item`` (one observation/action pair), ``task_pattern`` (a regex with a ``task`` group that finds
the task in the first observation, or empty), and the separators used to join admissible actions and
history items. A table ``[memories.NAME]`` may replace ``with_history`` and ``history_item`` for the memory of
that name (see :mod:`wrappers.memories`: ``window``, ``actions``, ``full``, or a user's own); a memory without
a table uses the top-level ones. ``generic`` is built in (``templates/generic.toml``); an environment ships its own template
and declares its path in ``metadata["prompt_template"]`` (ALFWorld's and WebShop's live beside them).
"""

from __future__ import annotations

import functools
import re
import string
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["BUILTIN_TEMPLATES", "PromptTemplate", "load_template"]

BUILTIN_TEMPLATES = ("generic",)

PROMPT_FIELDS = {
    "task",
    "observation",
    "admissible_actions",
    "step_count",
    "step_number",
    "history",
    "history_count",
    "history_length",
}
ITEM_FIELDS = {"index", "observation", "action"}

_CONVERSIONS: dict[str, Callable[[Any], Any]] = {"s": str, "r": repr, "a": ascii}


@functools.lru_cache(maxsize=256)
def _formatter(text: str) -> Callable[[Mapping[str, Any]], str]:
    """``text.format_map`` as a function of the values, parsed once instead of at every call.

    The same output as ``text.format_map(values)`` (the parts come from the same parser, each field is
    ``format(conversion(value), spec)``), in about half the time for the long prompts of the templates.
    A format spec with a nested field (``{a:{b}}``) keeps ``str.format_map``.
    """
    parts = tuple(string.Formatter().parse(text))
    if any(spec and "{" in spec for _, _, spec, _ in parts):
        return text.format_map
    pieces = tuple(
        (literal, name, spec or "", _CONVERSIONS[conversion] if conversion else None)
        for literal, name, spec, conversion in parts
    )

    def render(values: Mapping[str, Any]) -> str:
        out = []
        for literal, name, spec, convert in pieces:
            out.append(literal)
            if name is not None:
                value = values[name] if convert is None else convert(values[name])
                out.append(value if type(value) is str and not spec else format(value, spec))
        return "".join(out)

    return render


@dataclass(frozen=True)
class PromptTemplate:
    """A prompt template (see module docstring). ``source`` says where it came from, for messages."""

    first: str
    with_history: str
    history_item: str
    task_pattern: str = ""
    action_separator: str = "\n"
    history_separator: str = "\n"
    source: str = "<inline>"
    memories: dict[str, dict[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        checks = [
            ("first", self.first, PROMPT_FIELDS),
            ("with_history", self.with_history, PROMPT_FIELDS),
            ("history_item", self.history_item, ITEM_FIELDS),
        ]
        for memory, table in self.memories.items():
            if not isinstance(table, dict) or set(table) - {"with_history", "history_item"}:
                raise ValueError(
                    f"template {self.source}: [memories.{memory}] may set only with_history and history_item"
                )
            checks += [(f"memories.{memory}.with_history", table.get("with_history", ""), PROMPT_FIELDS),
                       (f"memories.{memory}.history_item", table.get("history_item", ""), ITEM_FIELDS)]
        for name, text, allowed in checks:
            try:
                used = {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}
            except ValueError as exc:
                raise ValueError(f"template {self.source}: {name} is not a valid format string ({exc})") from None
            unknown = sorted(used - allowed)
            if unknown:
                raise ValueError(
                    f"template {self.source}: {name} uses unknown placeholder(s) {', '.join(unknown)} "
                    f"(allowed: {', '.join(sorted(allowed))})"
                )
        if self.task_pattern:
            try:
                compiled = re.compile(self.task_pattern)
            except re.error as exc:
                raise ValueError(f"template {self.source}: task_pattern is not a valid regex ({exc})") from None
            if "task" not in compiled.groupindex:
                raise ValueError(f"template {self.source}: task_pattern needs a named group (?P<task>...)")

    def find_task(self, observation: str) -> str | None:
        """The task sentence in an observation, by ``task_pattern`` (None when absent)."""
        if not self.task_pattern:
            return None
        match = re.search(self.task_pattern, observation)
        return match.group("task").strip() if match else None

    def render_item(self, memory: str, *, index: int, observation: str, action: str) -> str:
        """One history item as the prompt shows it, with memory ``memory``'s ``history_item``."""
        item = self.memories.get(memory, {}).get("history_item", self.history_item)
        return _formatter(item)({"index": index, "observation": observation, "action": action})

    def render(
        self,
        *,
        task: str,
        observation: str,
        admissible_actions: list[str] | None,
        step_count: int,
        items: list[str],
        history_length: int,
        memory: str = "window",
    ) -> str:
        """The prompt for the decision after ``step_count`` steps; ``items`` are the rendered history items."""
        values: dict[str, Any] = {
            "task": task,
            "observation": observation,
            "admissible_actions": self.action_separator.join(admissible_actions or []),
            "step_count": step_count,
            "step_number": step_count + 1,
            "history": self.history_separator.join(items),
            "history_count": len(items),
            "history_length": history_length,
        }
        if not items:
            return _formatter(self.first)(values)
        return _formatter(self.memories.get(memory, {}).get("with_history", self.with_history))(values)


def load_template(template: str | Path | PromptTemplate) -> PromptTemplate:
    """A built-in template by name, a TOML file by path, or a :class:`PromptTemplate` as is."""
    if isinstance(template, PromptTemplate):
        return template
    if isinstance(template, str) and template in BUILTIN_TEMPLATES:
        text = resources.files("wrappers").joinpath("templates", f"{template}.toml").read_text(encoding="utf-8")
        source = f"built-in '{template}'"
    else:
        path = Path(template)
        if not path.is_file():
            raise FileNotFoundError(
                f"prompt template {str(template)!r} is neither a built-in ({', '.join(BUILTIN_TEMPLATES)}) "
                "nor an existing TOML file"
            )
        text, source = path.read_text(encoding="utf-8"), str(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"template {source}: invalid TOML ({exc})") from None
    missing = [k for k in ("first", "with_history", "history_item") if k not in data]
    if missing:
        raise ValueError(f"template {source}: missing key(s) {', '.join(missing)}")
    known = {"first", "with_history", "history_item", "task_pattern", "action_separator", "history_separator",
             "memories"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"template {source}: unknown key(s) {', '.join(unknown)}")
    return PromptTemplate(source=source, **data)
