"""The offline generator: all six task types, verified walkthroughs, determinism, knobs, CLI."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from hgpo_envs.alfworld.cli import main as cli
from hgpo_envs.alfworld.env import ALFWorldEnv
from hgpo_envs.alfworld.gameset import read_packed
from hgpo_envs.alfworld.generator import GeneratorConfig, generate_game, generate_games, verify_game
from hgpo_envs.alfworld.tasks import TASK_TEMPLATES, TASK_TYPES

from .conftest import stock_env


def test_covers_all_task_types_with_verified_walkthroughs(generated_records, package_logic):
    assert Counter(r.task_type for r in generated_records) == dict.fromkeys(TASK_TYPES, 2)
    for record in generated_records:
        assert verify_game(record, package_logic) is None
        templates = [t.format(obj=record.object_target.lower(), recep=record.parent_target.lower())
                     for t in TASK_TEMPLATES[record.task_type]]
        assert record.task_desc in templates
        assert record.split == "generated" and record.mrecep_target == ""


def test_stock_engine_also_wins_generated_games(generated_records, package_logic):
    for record in generated_records[::4]:
        env = stock_env()
        env.load(package_logic.game(record.task_desc, record.pddl_problem, record.walkthrough))
        state = env.reset()
        assert not state["won"]
        for command in record.walkthrough:
            assert command in state["admissible_commands"]
            state, _, _ = env.step(command)
        assert state["won"]


def test_same_seed_same_games_other_seed_other_games(generated_records):
    again = list(generate_games(3, seed=7))
    assert again == generated_records[:3]
    other = list(generate_games(3, seed=8))
    assert [r.pddl_problem for r in other] != [r.pddl_problem for r in again]


def test_verify_game_catches_bad_walkthroughs(generated_records, package_logic):
    record = generated_records[0]
    broken = type(record)(**{**record.__dict__, "walkthrough": record.walkthrough[:-1]})
    assert "won=False" in verify_game(broken, package_logic) or "empty" in verify_game(broken, package_logic)
    wrong = type(record)(**{**record.__dict__, "walkthrough": ["fly to the moon"]})
    assert "not admissible" in verify_game(wrong, package_logic)


def _receptacles(problem: str) -> int:
    return len(re.findall(r" - receptacle$", problem, flags=re.M))


def test_difficulty_knobs(package_logic):
    small = GeneratorConfig(receptacles=(4, 4), distractors=(0, 0), closed_containers=(0, 0), target_copies=(0, 0))
    big = GeneratorConfig(receptacles=(16, 16), distractors=(12, 12), closed_containers=(4, 4))
    for task_type in ("pick_and_place_simple", "pick_heat_then_place_in_recep"):
        easy = generate_game(1, 0, task_type, small, package_logic)
        hard = generate_game(1, 0, task_type, big, package_logic)
        assert _receptacles(easy.pddl_problem) == 4 and _receptacles(hard.pddl_problem) == 16
        assert easy.pddl_problem.count("(openable ") <= 1  # only a required appliance may open
        assert hard.pddl_problem.count("(openable ") >= 4
        assert easy.pddl_problem.count("(objectType ") < hard.pddl_problem.count("(objectType ")
    with pytest.raises(ValueError, match="receptacles"):
        GeneratorConfig(receptacles=(5, 2))


def test_unknown_task_type():
    with pytest.raises(ValueError, match="unknown task type"):
        generate_game(0, 0, "juggle")


def test_generate_cli_writes_a_playable_set(tmp_path, capsys):
    out = tmp_path / "gen.jsonl.gz"
    args = ["generate", "--n", "4", "--seed", "3", "--task-types", "pick_two_obj_and_place",
            "look_at_obj_in_light", "--receptacles", "5,8", "-o", str(out), "--no-progress"]
    assert cli(args) == 0
    first = out.read_bytes()
    records = read_packed(out)
    assert [r.task_type for r in records] == ["pick_two_obj_and_place", "look_at_obj_in_light"] * 2
    assert all(5 <= _receptacles(r.pddl_problem) <= 8 for r in records)
    env = ALFWorldEnv(data_dir=out)
    for i in range(env.num_games):
        _, info = env.reset(options={"game_index": i})
        for command in info["expert_plan"]:
            *_, terminated, _, info = env.step(command)
        assert terminated
    assert cli(args) == 0 and out.read_bytes() == first  # byte-identical rerun
    assert cli(["generate", "--n", "2", "--task-types", "nope", "-o", str(out)]) == 2
    assert "unknown task type" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        cli(["generate", "--n", "2", "--receptacles", "a,b", "-o", str(out)])
    assert exc.value.code == 2
