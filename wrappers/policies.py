"""Policies for demos and tests: callables ``policy(prompts, infos) -> actions`` for ``collect_groups``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["Expert", "RandomAdmissible"]


def _admissible(info: dict[str, Any]) -> list[str]:
    commands = info.get("admissible_commands")
    if not commands:
        raise ValueError("this policy needs info['admissible_commands'] from the environment")
    return list(commands)


def _wrap(action: str, tagged: bool) -> str:
    return f"<think>policy choice</think><action>{action}</action>" if tagged else action


class RandomAdmissible:
    """Picks uniformly among ``info["admissible_commands"]``; reproducible for a given seed and call order.

    ``tagged=True`` answers in the ``<think>..</think><action>..</action>`` format for ``ActionParser``.
    """

    def __init__(self, seed: int = 0, *, tagged: bool = False) -> None:
        self.rng = np.random.default_rng(seed)
        self.tagged = tagged

    def __call__(self, prompts: Sequence[str], infos: Sequence[dict[str, Any]]) -> list[str]:
        out = []
        for info in infos:
            commands = _admissible(info)
            out.append(_wrap(commands[int(self.rng.integers(len(commands)))], self.tagged))
        return out


class Expert:
    """Follows the environment's expert, with probability ``epsilon`` of a random admissible action instead.

    Uses ``info["expert_action"]`` when the environment gives the expert's next action for the current
    state (e.g. WebShop's scripted oracle); otherwise follows ``info["expert_plan"]`` (ALFWorld's stored
    walkthrough) with a per-episode pointer. After a random detour the next plan action may not be
    admissible: the policy then returns to the plan's last ``go to`` location when it can, else acts at
    random. ``epsilon=0`` replays the walkthrough exactly.

    Episodes are told apart by ``info["episode"]`` (``collect_groups`` sets it); a ``step_count`` of 0
    starts a new one.
    """

    def __init__(self, epsilon: float = 0.0, seed: int = 0, *, tagged: bool = False) -> None:
        if not 0.0 <= epsilon <= 1.0:
            raise ValueError(f"epsilon must be in [0, 1], got {epsilon}")
        self.epsilon = epsilon
        self.rng = np.random.default_rng(seed)
        self.tagged = tagged
        self._next: dict[Any, int] = {}

    def _plan_action(self, info: dict[str, Any], commands: list[str]) -> str | None:
        plan = info.get("expert_plan")
        if not plan:
            return None
        episode = info.get("episode")
        if info.get("step_count", 0) == 0:
            self._next[episode] = 0
        k = self._next.get(episode, 0)
        if k < len(plan) and plan[k] in commands:
            self._next[episode] = k + 1
            return plan[k]
        for action in reversed(plan[:k]):
            if action.startswith("go to ") and action in commands:
                return action
        return None

    def __call__(self, prompts: Sequence[str], infos: Sequence[dict[str, Any]]) -> list[str]:
        out = []
        for info in infos:
            commands = _admissible(info)
            explore = self.rng.random() < self.epsilon
            action = None if explore else info.get("expert_action") or self._plan_action(info, commands)
            if action is None:
                action = commands[int(self.rng.integers(len(commands)))]
            out.append(_wrap(action, self.tagged))
        return out
