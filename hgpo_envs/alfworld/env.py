"""``hgpo/ALFWorld-v0``: ALFWorld's text games as a Gymnasium environment (native engine by default)."""

from __future__ import annotations

import os
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
from gymnasium import spaces

from hgpo_algo.state_keys import text_state_key
from hgpo_envs.alfworld.expert import expert_plan, plan_key
from hgpo_envs.alfworld.gameset import GameRecord
from hgpo_envs.alfworld.native import NativeEngine, NativeState
from hgpo_envs.alfworld.sources import GameSet, resolve_games
from hgpo_envs.alfworld.tasks import check_task_types

__all__ = ["CHARSET", "ENGINES", "ALFWorldEnv", "ALFWorldState"]

#: Characters of observations and commands: printable ASCII plus whitespace (the games are ASCII).
CHARSET = frozenset(string.printable)
MAX_OBSERVATION_CHARS = 16_384
MAX_COMMAND_CHARS = 512
#: ``engine`` values: ``native`` (our interpreter of ALFWorld's domain) or ``textworld`` (TextWorld's PDDL engine).
ENGINES = ("native", "textworld")


@dataclass(frozen=True)
class ALFWorldState:
    """A copy of an episode (``ALFWorldEnv.get_state()``): the game, the engine state and the counters."""

    game_index: int
    engine_state: NativeState
    elapsed: int
    observation: str
    plan: tuple[str, ...] | None


_GAME_SETS: dict[tuple, GameSet] = {}


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
        engine: ``"native"`` (:mod:`hgpo_envs.alfworld.native`, pure Python, the default) or
            ``"textworld"`` (TextWorld's PDDL engine with our caches; needs the ``textworld`` extra). Both
            give byte-identical observations, admissible lists, rewards and ``info``
            (``benchmarks/alfworld_parity.py``).
        expert: add ``info["expert_action"]`` (a shortest-plan search, :mod:`hgpo_envs.alfworld.expert`,
            tens of milliseconds to seconds per new state; the plan is kept while the agent follows it).
            Off by default so that rollouts pay no search; ``wrappers.policies.Expert`` then follows
            ``expert_plan`` (the stored walkthrough) and needs ``expert=True`` to recover off plan.

    ``reset(seed=s)`` picks the same game for the same seed; ``reset(options={"game_index": i})`` plays
    game i of the split (``0 <= i < num_games``), the way to enumerate an evaluation split.

    ``info`` keys: ``admissible_commands`` (sorted list), ``won``, ``task_type``, ``task_desc``,
    ``game_id``, ``game_index``, ``state_key`` (``hgpo_algo.records.text_state_key`` of the observation:
    BLAKE2b-128 hex of its text, the same in every process), ``expert_plan``
    (the stored walkthrough), ``is_action_valid`` (the command was admissible; ``True`` at reset),
    ``moves`` (successful commands so far), ``expert_action`` (the next command of a shortest winning plan
    from the current state, ``None`` when won or no plan is found within the search budget; only with
    ``expert=True``).

    ``env.unwrapped.get_state()`` / ``set_state(state)`` copy and restore an episode (native engine; the
    state is a small immutable object), and the environment pickles without its game set or caches.
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
        engine: str = "native",
        expert: bool = False,
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"unknown render_mode {render_mode!r}; known: {self.metadata['render_modes']}")
        if max_episode_steps is not None and max_episode_steps < 1:
            raise ValueError(f"max_episode_steps must be >= 1, got {max_episode_steps}")
        if engine not in ENGINES:
            raise ValueError(f"unknown engine {engine!r}; known: {', '.join(ENGINES)}")
        self.engine = engine
        self.expert = bool(expert)
        self.task_types = check_task_types(task_types)
        self._games_key = (split, None if data_dir is None else str(data_dir), self.task_types, generated_games,
                           generator_seed, os.environ.get("ALFWORLD_DATA"))
        self.game_set: GameSet = _game_set(self._games_key)
        if len(self.game_set) == 0:
            raise ValueError(f"no game in {self.game_set.name} for task types {', '.join(self.task_types)}")
        self.max_episode_steps = max_episode_steps
        self.render_mode = render_mode
        self.observation_space = spaces.Text(max_length=MAX_OBSERVATION_CHARS, min_length=0, charset=CHARSET)
        self.action_space = spaces.Text(max_length=MAX_COMMAND_CHARS, min_length=0, charset=CHARSET)
        self._reset_fields()

    def _reset_fields(self) -> None:
        self._engine: Any = None
        self._native: NativeEngine | None = None  # the engine (native) or its shadow for the expert (textworld)
        self._loaded_index: int | None = None
        self._record: GameRecord | None = None
        self._game_index = -1
        self._last_observation = ""
        self._admissible: list[str] = []
        self._elapsed = 0
        self._plan: tuple[str, ...] | None = None
        self._plan_key: frozenset | None = None

    @property
    def num_games(self) -> int:
        """Number of games in the split (after the task-type filter)."""
        return len(self.game_set)

    def _load(self, index: int) -> None:
        if self._engine is None:
            if self.engine == "native":
                self._engine = self._native = NativeEngine()
            else:
                from hgpo_envs.alfworld.engine import TextWorldEngine

                self._engine = TextWorldEngine()
                self._native = NativeEngine() if self.expert else None
        if self._loaded_index != index:
            record = self.game_set.games[index]
            game = self.game_set.logic.game(record.task_desc, record.pddl_problem, record.walkthrough)
            self._engine.load(game)
            if self._native is not None and self._native is not self._engine:
                self._native.load(game)
            self._record = record
            self._loaded_index = index

    # -- the expert ----------------------------------------------------------------------------------

    def _relevant_key(self) -> frozenset:
        return plan_key(self._native.game, self._native.state)

    def _expert_action(self, won: bool) -> str | None:
        if won or self._native is None:
            return None
        key = self._relevant_key()
        if self._plan is None or key != self._plan_key:
            plan = expert_plan(self._native.game, self._native.state)
            self._plan = None if plan is None else tuple(plan)
            self._plan_key = key
        return self._plan[0] if self._plan else None

    def _advance_plan(self, command: str, valid: bool) -> None:
        if self._plan and valid and command.strip() == self._plan[0]:
            # The rest of a shortest plan is a shortest plan from the next state.
            self._plan = self._plan[1:]
            self._plan_key = self._relevant_key()

    def expert_plan_from_state(self) -> list[str] | None:
        """A shortest winning plan from the current state (``[]`` when won; ``None`` when none is found)."""
        if self._native is None or self._native.game is None:
            raise gym.error.ResetNeeded("call reset() before expert_plan_from_state()")
        return expert_plan(self._native.game, self._native.state)

    # -- Gymnasium API -------------------------------------------------------------------------------

    def _info(self, won: bool, moves: int, valid: bool) -> dict[str, Any]:
        record = self._record
        if record is None:
            raise gym.error.ResetNeeded("call reset() before step()")
        info = {
            "admissible_commands": list(self._admissible),
            "won": bool(won),
            "task_type": record.task_type,
            "task_desc": record.task_desc,
            "game_id": record.game_id,
            "game_index": self._game_index,
            "state_key": text_state_key(self._last_observation),
            "expert_plan": list(record.walkthrough),
            "is_action_valid": valid,
            "moves": int(moves),
        }
        if self.expert:
            info["expert_action"] = self._expert_action(won)
        return info

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
        self._load(index)
        feedback, admissible, won, moves = self._engine.reset()
        if self._native is not None and self._native is not self._engine:
            self._native.reset()
        self._plan = self._plan_key = None
        self._elapsed = 0
        self._last_observation = feedback
        self._admissible = list(admissible)
        info = self._info(won, moves, True)
        if self.render_mode == "human":
            self.render()
        return feedback, info

    def step(self, action: str) -> tuple[str, float, bool, bool, dict]:
        if self._engine is None or self._record is None:
            raise gym.error.ResetNeeded("call reset() before step()")
        if not isinstance(action, str):
            raise TypeError(f"action must be a str command, got {type(action).__name__}")
        valid = action.strip() in self._admissible
        feedback, admissible, won, moves = self._engine.step(action)
        if self._native is not None and self._native is not self._engine:
            self._native.step(action)
        self._advance_plan(action, valid)
        self._elapsed += 1
        self._last_observation = feedback
        self._admissible = list(admissible)
        terminated = bool(won)
        truncated = not terminated and self.max_episode_steps is not None and self._elapsed >= self.max_episode_steps
        info = self._info(won, moves, valid)
        if self.render_mode == "human":
            self.render()
        return feedback, (1.0 if won else 0.0), terminated, truncated, info

    def render(self) -> str | None:
        if self.render_mode == "ansi":
            return self._last_observation
        if self.render_mode == "human":
            print(self._last_observation)
        return None

    def close(self) -> None:
        if self._engine is not None and hasattr(self._engine, "close"):
            self._engine.close()
        self._engine = self._native = None
        self._loaded_index = None

    # -- copying episodes ----------------------------------------------------------------------------

    def get_state(self) -> ALFWorldState:
        """The current episode as a small immutable object (native engine only)."""
        if self.engine != "native":
            raise ValueError("get_state() needs engine='native' (TextWorld's engine state cannot be copied)")
        if self._native is None or self._record is None:
            raise gym.error.ResetNeeded("call reset() before get_state()")
        return ALFWorldState(self._game_index, self._native.get_state(), self._elapsed, self._last_observation,
                             self._plan)

    def set_state(self, state: ALFWorldState) -> None:
        """Continue from a state taken by :meth:`get_state` (of this environment or one with the same games)."""
        if self.engine != "native":
            raise ValueError("set_state() needs engine='native'")
        if not isinstance(state, ALFWorldState):
            raise TypeError(f"expected an ALFWorldState, got {type(state).__name__}")
        if not 0 <= state.game_index < self.num_games:
            raise ValueError(f"state.game_index {state.game_index} is not in [0, {self.num_games})")
        self._game_index = state.game_index
        self._load(state.game_index)
        self._native.set_state(state.engine_state)
        self._elapsed = state.elapsed
        self._last_observation = state.observation
        self._admissible = list(self._native.admissible)
        self._plan = state.plan
        self._plan_key = self._relevant_key() if state.plan is not None else None

    def __getstate__(self) -> dict:
        # The game set is found again from the constructor arguments; the engine is rebuilt from the state.
        saved = {k: v for k, v in self.__dict__.items() if k not in ("game_set", "_engine", "_native", "_record")}
        saved["_episode"] = self.get_state() if self.engine == "native" and self._record is not None else None
        return saved

    def __setstate__(self, saved: dict) -> None:
        episode = saved.pop("_episode", None)
        self.__dict__.update(saved)
        self.game_set = _game_set(self._games_key)
        self._engine = self._native = None
        self._record = None
        self._loaded_index = None
        if episode is not None:
            self.set_state(episode)


def _game_set(key: tuple) -> GameSet:
    """The game set for the constructor arguments, shared by the environments of a process."""
    found = _GAME_SETS.get(key)
    if found is None:
        split, data_dir, task_types, generated_games, generator_seed, _ = key
        found = resolve_games(split, data_dir, task_types, generated_games, generator_seed)
        if len(_GAME_SETS) >= 16:
            _GAME_SETS.pop(next(iter(_GAME_SETS)))
        _GAME_SETS[key] = found
    return found
