"""``hgpo/ALFWorld-v0``: ALFWorld's text games as a Gymnasium environment on TextWorld's PDDL engine."""

from __future__ import annotations

import os
import string
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
from gymnasium import spaces

from hgpo_algo.state_keys import text_state_key
from hgpo_envs.alfworld.gameset import GameRecord
from hgpo_envs.alfworld.sources import GameSet, resolve_games
from hgpo_envs.alfworld.tasks import check_task_types

__all__ = ["CHARSET", "ALFWorldEnv"]

#: Characters of observations and commands: printable ASCII plus whitespace (the games are ASCII).
CHARSET = frozenset(string.printable)
MAX_OBSERVATION_CHARS = 16_384
MAX_COMMAND_CHARS = 512


class ALFWorldEnv(gym.Env[str, str]):
    """ALFWorld household tasks as text: observation = the game's text, action = one text command.

    Reward is 1.0 on the step that wins, else 0.0; ``terminated`` on the win. Episodes have no step limit
    of their own (``gym.make`` adds a ``TimeLimit`` of ``max_episode_steps=50``, which sets ``truncated``).

    Args:
        split: ``train``, ``eval_in_distribution`` (valid_seen, 140 games), ``eval_out_of_distribution``
            (valid_unseen, 134 games), ``valid_train``, or ``generated``. Default: ``train`` when data is
            found, else ``generated``.
        data_dir: an upstream ALFWorld data folder (``json_2.1.1/<split>/...``), a packed data folder
            (``games/<split>.jsonl.gz``) or a packed ``*.jsonl.gz`` file. Default: ``$ALFWORLD_DATA``,
            then the generated games.
        task_types: keep only these task types (``None``: all six).
        max_episode_steps: truncate after this many steps inside the env (``None``: leave it to the
            ``TimeLimit`` wrapper that ``gym.make`` adds).
        generated_games: size of the ``generated`` split.
        generator_seed: seed of the ``generated`` split (game i is the same for the same seed).
        render_mode: ``"ansi"`` (``render()`` returns the last observation) or ``"human"`` (prints it).

    ``reset(seed=s)`` picks the same game for the same seed; ``reset(options={"game_index": i})`` plays
    game i of the split (``0 <= i < num_games``), the way to enumerate an evaluation split.

    ``info`` keys: ``admissible_commands`` (sorted list), ``won``, ``task_type``, ``task_desc``,
    ``game_id``, ``game_index``, ``state_key`` (``hgpo_algo.records.text_state_key`` of the observation:
    BLAKE2b-128 hex of its text, the same in every process), ``expert_plan``
    (the stored walkthrough), ``is_action_valid`` (the command was admissible; ``True`` at reset),
    ``moves`` (successful commands so far).
    """

    metadata: ClassVar[dict[str, Any]] = {
        "render_modes": ["ansi", "human"],
        "render_fps": 4,
        # the prompt that wrappers.MemoryWindow renders for this environment (a TOML file, user-replaceable)
        "prompt_template": str(Path(__file__).with_name("prompt.toml")),
    }

    def __init__(
        self,
        split: str | None = None,
        data_dir: str | os.PathLike | None = None,
        task_types: list[str] | tuple[str, ...] | None = None,
        max_episode_steps: int | None = None,
        generated_games: int = 1000,
        generator_seed: int = 0,
        render_mode: str | None = None,
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"unknown render_mode {render_mode!r}; known: {self.metadata['render_modes']}")
        if max_episode_steps is not None and max_episode_steps < 1:
            raise ValueError(f"max_episode_steps must be >= 1, got {max_episode_steps}")
        self.task_types = check_task_types(task_types)
        self.game_set: GameSet = resolve_games(split, data_dir, self.task_types, generated_games, generator_seed)
        if len(self.game_set) == 0:
            raise ValueError(f"no game in {self.game_set.name} for task types {', '.join(self.task_types)}")
        self.max_episode_steps = max_episode_steps
        self.render_mode = render_mode
        self.observation_space = spaces.Text(max_length=MAX_OBSERVATION_CHARS, min_length=0, charset=CHARSET)
        self.action_space = spaces.Text(max_length=MAX_COMMAND_CHARS, min_length=0, charset=CHARSET)
        self._engine: Any = None
        self._loaded_index: int | None = None
        self._record: GameRecord | None = None
        self._game_index = -1
        self._last_observation = ""
        self._admissible: list[str] = []
        self._elapsed = 0

    @property
    def num_games(self) -> int:
        """Number of games in the split (after the task-type filter)."""
        return len(self.game_set)

    @property
    def split_name(self) -> str:
        return self.game_set.name

    def _engine_for(self, index: int) -> Any:
        if self._engine is None:
            import textworld

            from hgpo_envs.alfworld.engine import FastPddlEnv

            self._engine = FastPddlEnv(textworld.EnvInfos(won=True, admissible_commands=True, moves=True))
        if self._loaded_index != index:
            self._record = self.game_set.games[index]
            record = self._record
            self._engine.load(self.game_set.logic.game(record.task_desc, record.pddl_problem, record.walkthrough))
            self._loaded_index = index
        return self._engine

    def _info(self, state: Any, valid: bool) -> dict[str, Any]:
        record = self._record
        assert record is not None
        return {
            "admissible_commands": list(state["admissible_commands"]),
            "won": bool(state["won"]),
            "task_type": record.task_type,
            "task_desc": record.task_desc,
            "game_id": record.game_id,
            "game_index": self._game_index,
            "state_key": text_state_key(state.feedback),
            "expert_plan": list(record.walkthrough),
            "is_action_valid": valid,
            "moves": int(state["moves"]),
        }

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict]:
        super().reset(seed=seed)
        options = options or {}
        unknown = set(options) - {"game_index"}
        if unknown:
            raise ValueError(f"unknown reset option(s) {sorted(unknown)}; known: ['game_index']")
        if options.get("game_index") is not None:
            index = options["game_index"]
            if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < self.num_games:
                raise ValueError(f"game_index must be an int in [0, {self.num_games}), got {index!r}")
        else:
            index = int(self.np_random.integers(self.num_games))
        self._game_index = index
        state = self._engine_for(index).reset()
        self._elapsed = 0
        self._last_observation = state.feedback
        self._admissible = list(state["admissible_commands"])
        info = self._info(state, True)
        if self.render_mode == "human":
            self.render()
        return state.feedback, info

    def step(self, action: str) -> tuple[str, float, bool, bool, dict]:
        if self._engine is None or self._record is None:
            raise RuntimeError("call reset() before step()")
        if not isinstance(action, str):
            raise TypeError(f"action must be a str command, got {type(action).__name__}")
        valid = action.strip() in self._admissible
        state, _, _ = self._engine.step(action)
        self._elapsed += 1
        won = bool(state["won"])
        self._last_observation = state.feedback
        self._admissible = list(state["admissible_commands"])
        terminated = won
        truncated = not terminated and self.max_episode_steps is not None and self._elapsed >= self.max_episode_steps
        info = self._info(state, valid)
        if self.render_mode == "human":
            self.render()
        return state.feedback, (1.0 if won else 0.0), terminated, truncated, info

    def render(self) -> str | None:
        if self.render_mode == "ansi":
            return self._last_observation
        if self.render_mode == "human":
            print(self._last_observation)
        return None

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None
            self._loaded_index = None
