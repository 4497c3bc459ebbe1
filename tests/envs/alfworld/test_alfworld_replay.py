"""Stored walkthroughs win through the Gymnasium environment: real games (every split and task type,
when ../shared is present) and generated games (always)."""

from __future__ import annotations

import pytest

from hgpo_envs.alfworld.env import ALFWorldEnv
from hgpo_envs.alfworld.tasks import TASK_TYPES

from .conftest import SPLIT_FILES


def _replay(env: ALFWorldEnv, index: int) -> tuple[bool, int]:
    _, info = env.reset(options={"game_index": index})
    steps = 0
    for command in info["expert_plan"]:
        assert not info["won"], f"{info['game_id']}: won before its last command"
        assert command in info["admissible_commands"], f"{info['game_id']}: {command!r} not admissible"
        _, reward, terminated, _, info = env.step(command)
        steps += 1
    return terminated and reward == 1.0, steps


@pytest.mark.parametrize("split", SPLIT_FILES)
def test_real_walkthroughs_win(shared_dir, split):
    # The first game of each task type of the split.
    env = ALFWorldEnv(data_dir=shared_dir / "games" / f"{split}.jsonl.gz")
    first: dict[str, int] = {}
    for index, record in enumerate(env.game_set.games):
        first.setdefault(record.task_type, index)
    assert set(first) == set(TASK_TYPES)
    for task_type, index in first.items():
        won, steps = _replay(env, index)
        assert won, (split, task_type, index)
        assert steps == len(env.game_set.games[index].walkthrough)
    env.close()


def test_generated_walkthroughs_win():
    env = ALFWorldEnv(split="generated", generated_games=18, generator_seed=11)
    for index in range(env.num_games):
        won, _ = _replay(env, index)
        assert won, index
    env.close()
