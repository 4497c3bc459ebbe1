"""``ActionParser``: from raw model text to an environment action, with format validity reported."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym

__all__ = ["ActionParser", "ParsedAction", "parse_action"]


@dataclass(frozen=True)
class ParsedAction:
    """``action`` is None when the format is broken; ``error`` then says why."""

    action: str | None
    error: str | None


_THINK = re.compile(r"<think>(.*?)</think>", re.IGNORECASE | re.DOTALL)


@functools.lru_cache(maxsize=64)
def _tag_pattern(tag: str) -> re.Pattern[str]:
    """The compiled ``<tag>(.*?)</tag>`` pattern (case-insensitive, across lines), built once per tag."""
    return re.compile(rf"<{tag}>(.*?)</{tag}>", re.IGNORECASE | re.DOTALL)


def parse_action(text: str, *, tag: str = "action", require_think: bool = False) -> ParsedAction:
    """Extract the action from ``<action>...</action>`` in model output.

    The format is broken when the text has no complete ``<tag>...</tag>`` pair, more than one, an empty
    one, or (with ``require_think``) no ``<think>...</think>`` block before it. Tags are case-insensitive;
    the action is stripped of surrounding whitespace.
    """
    if not isinstance(text, str):
        return ParsedAction(None, f"model output is {type(text).__name__}, not text")
    pattern = _tag_pattern(tag)
    found = pattern.findall(text)
    if not found:
        return ParsedAction(None, f"no <{tag}>...</{tag}> block")
    if len(found) > 1:
        return ParsedAction(None, f"{len(found)} <{tag}> blocks; expected exactly one")
    action = found[0].strip()
    if not action:
        return ParsedAction(None, f"empty <{tag}> block")
    if require_think:
        think = _THINK.search(text)
        if think is None or not think.group(1).strip():
            return ParsedAction(None, "no <think>...</think> block")
        if think.start() > pattern.search(text).start():  # type: ignore[union-attr]
            return ParsedAction(None, f"<think> block after the <{tag}> block")
    return ParsedAction(action, None)


class ActionParser(gym.Wrapper):
    """Accepts raw model text as the action and passes the parsed action to the environment.

    When the format is broken, ``fallback`` (a string, or ``fallback(raw_text) -> str``; default ``""``,
    which our environments treat as an invalid command that changes nothing) goes to the environment
    instead. ``info`` then carries ``format_valid`` (bool), ``parse_error`` (str or None),
    ``parsed_action`` (what the environment received), ``raw_action`` and ``is_action_valid`` (the format
    was valid and, when the environment reports it, the command was valid too).
    """

    def __init__(
        self,
        env: gym.Env,
        *,
        tag: str = "action",
        require_think: bool = False,
        fallback: str | Callable[[str], str] = "",
    ) -> None:
        super().__init__(env)
        if not re.fullmatch(r"[A-Za-z_][\w-]*", tag):
            raise ValueError(f"tag must be a simple tag name, got {tag!r}")
        self.tag = tag
        self.require_think = require_think
        self.fallback = fallback

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        parsed = parse_action(action, tag=self.tag, require_think=self.require_think)
        if parsed.action is not None:
            env_action = parsed.action
        else:
            env_action = self.fallback(action) if callable(self.fallback) else self.fallback
        observation, reward, terminated, truncated, info = self.env.step(env_action)
        info = dict(info)
        info["format_valid"] = parsed.action is not None
        info["parse_error"] = parsed.error
        info["parsed_action"] = env_action
        info["raw_action"] = action
        info["is_action_valid"] = parsed.action is not None and bool(info.get("is_action_valid", True))
        return observation, reward, terminated, truncated, info
