"""A small deterministic text game for wrapper tests: a real Gymnasium environment, not a mock.

Rooms 0..n-1 on a line; the agent starts in room 0 and must reach the treasure room (chosen by the reset
seed). Commands: ``go east``, ``go west``, ``look``; anything else is invalid and changes nothing.
Reaching the treasure gives reward 1 and ends the episode. ``crash_file``: when that file exists, the
process exits abruptly at the step that first enters room 2 (and the file is removed), to test worker
replacement (with ``crash_once=False`` the file stays and every such step crashes).
"""

from __future__ import annotations

import os
from typing import Any

import gymnasium as gym
from gymnasium import spaces

ENV_ID = "tests.wrappers.textgame:Corridor-v0"


class Corridor(gym.Env):
    metadata = {"render_modes": []}

    def __init__(self, n_rooms: int = 5, crash_file: str | None = None, crash_once: bool = True) -> None:
        self.n_rooms = n_rooms
        self.crash_file = crash_file
        self.crash_once = crash_once
        charset = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,:!'-\n"
        self.observation_space = spaces.Text(max_length=400, charset=charset)
        self.action_space = spaces.Text(max_length=40, charset=charset)
        self.room = 0
        self.treasure = 1

    def _describe(self) -> str:
        exits = [d for d, ok in (("east", self.room < self.n_rooms - 1), ("west", self.room > 0)) if ok]
        return f"You are in room {self.room}. Exits: {', '.join(exits)}."

    def _commands(self) -> list[str]:
        cmds = ["look"]
        if self.room < self.n_rooms - 1:
            cmds.append("go east")
        if self.room > 0:
            cmds.append("go west")
        return cmds

    def _info(self, valid: bool = True) -> dict[str, Any]:
        return {"admissible_commands": self._commands(), "won": self.room == self.treasure, "is_action_valid": valid}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.treasure = int(self.np_random.integers(1, self.n_rooms))
        if options and "treasure" in options:
            self.treasure = int(options["treasure"])
        self.room = 0
        return f"Your task is to: find the treasure.\n{self._describe()}", self._info()

    def step(self, action: str):
        if action not in self._commands():
            return "Nothing happens.", 0.0, False, False, self._info(valid=False)
        if action == "go east":
            self.room += 1
        elif action == "go west":
            self.room -= 1
        if self.crash_file and self.room == 2 and os.path.exists(self.crash_file):
            if self.crash_once:
                os.remove(self.crash_file)
            os._exit(3)
        won = self.room == self.treasure
        text = "You found the treasure!" if won else self._describe()
        return text, 1.0 if won else 0.0, won, False, self._info()


gym.register("Corridor-v0", entry_point=Corridor, max_episode_steps=12)
