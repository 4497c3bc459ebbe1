"""hgpo/ALFWorld-v0: registration, semantics, info keys, determinism, options and errors."""

from __future__ import annotations

import subprocess
import sys

import gymnasium as gym
import pytest

import hgpo_envs  # noqa: F401  (registers the environments)
from hgpo_algo.records import text_state_key
from hgpo_envs.alfworld.env import ALFWorldEnv
from hgpo_envs.alfworld.tasks import TASK_TYPES

INFO_KEYS = {"admissible_commands", "won", "task_type", "game_id", "state_key", "expert_plan", "is_action_valid"}


@pytest.fixture()
def gen_env(generated_file):
    env = ALFWorldEnv(data_dir=generated_file)
    yield env
    env.close()


def test_import_is_light_and_registers():
    code = (
        "import sys, hgpo_envs, gymnasium as gym\n"
        "assert 'hgpo/ALFWorld-v0' in gym.registry\n"
        "heavy = [m for m in ('textworld', 'alfworld', 'fast_downward', 'hgpo_envs.alfworld.env') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_make_with_module_prefix_and_time_limit(generated_file):
    env = gym.make("hgpo_envs:hgpo/ALFWorld-v0", data_dir=str(generated_file), max_episode_steps=3)
    obs, info = env.reset(seed=0)
    assert "Your task is to: " in obs and INFO_KEYS <= set(info)
    results = [env.step("look") for _ in range(3)]
    assert [r[3] for r in results] == [False, False, True]  # truncated at the limit
    assert not any(r[2] for r in results)
    assert env.spec.max_episode_steps == 3
    env.close()
    assert gym.spec("hgpo/ALFWorld-v0").max_episode_steps == 50


def test_default_is_generated_without_data(monkeypatch):
    monkeypatch.delenv("ALFWORLD_DATA", raising=False)
    env = gym.make("hgpo/ALFWorld-v0", generated_games=12)
    assert env.unwrapped.game_set.name == "generated" and env.unwrapped.num_games == 12
    obs, info = env.reset(options={"game_index": 1})
    assert info["task_type"] == TASK_TYPES[1] and info["game_index"] == 1
    env.close()


def test_check_env_passes(gen_env):
    from gymnasium.utils.env_checker import check_env

    check_env(gen_env, skip_render_check=True)


def test_walkthrough_wins_with_reward_and_termination(gen_env):
    for index in range(gen_env.num_games):
        obs, info = gen_env.reset(options={"game_index": index})
        assert info["game_index"] == index and not info["won"]
        assert gen_env.observation_space.contains(obs)
        rewards = []
        for command in info["expert_plan"]:
            assert command in info["admissible_commands"]
            obs, reward, terminated, truncated, info = gen_env.step(command)
            assert info["is_action_valid"] and not truncated
            assert gen_env.observation_space.contains(obs)
            rewards.append(reward)
        assert terminated and info["won"]
        assert rewards == [0.0] * (len(rewards) - 1) + [1.0]


def test_invalid_command_changes_nothing(gen_env):
    obs0, info0 = gen_env.reset(options={"game_index": 0})
    first = info0["expert_plan"][0]
    obs, reward, terminated, truncated, info = gen_env.step("fly to the moon")
    assert obs == "Nothing happens."
    assert not info["is_action_valid"] and reward == 0.0 and not terminated
    assert info["admissible_commands"] == info0["admissible_commands"] and info["moves"] == 0
    # Matching is exact (case-sensitive) after stripping whitespace.
    assert gen_env.step(first.upper())[4]["is_action_valid"] is False
    obs, _, _, _, info = gen_env.step(f"  {first}  ")
    assert info["is_action_valid"] and info["moves"] == 1 and obs != "Nothing happens."


def test_state_key_is_canonical_across_processes(gen_env):
    obs, info = gen_env.reset(options={"game_index": 2})
    assert info["state_key"] == text_state_key(obs)
    code = "import sys; from hgpo_algo.records import text_state_key as k; print(k(sys.stdin.read()))"
    out = subprocess.run([sys.executable, "-c", code], input=obs, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == info["state_key"]
    assert text_state_key("Nothing happens.") != text_state_key("Nothing happens")


def test_reset_seed_is_deterministic(generated_file):
    def transcript(seed: int) -> list:
        env = ALFWorldEnv(data_dir=generated_file)
        obs, info = env.reset(seed=seed)
        out = [obs, info["game_id"]]
        for command in info["admissible_commands"][:4]:
            out.append(env.step(command)[0])
        env.close()
        return out

    assert transcript(5) == transcript(5)
    games = {tuple(transcript(s)[:2]) for s in range(6)}
    assert len(games) > 1  # different seeds reach different games


def test_game_index_enumerates_split_and_rejects_bad_index(gen_env):
    ids = [gen_env.reset(options={"game_index": i})[1]["game_id"] for i in range(gen_env.num_games)]
    assert len(set(ids)) == gen_env.num_games == 12
    for bad in (-1, 12, 1.5, "0", True):
        with pytest.raises(ValueError, match="game_index"):
            gen_env.reset(options={"game_index": bad})
    with pytest.raises(ValueError, match="unknown reset option"):
        gen_env.reset(options={"level": 3})


def test_task_type_filter(generated_file):
    env = ALFWorldEnv(data_dir=generated_file, task_types=["pick_two_obj_and_place"])
    assert env.num_games == 2
    assert {env.reset(options={"game_index": i})[1]["task_type"] for i in range(2)} == {"pick_two_obj_and_place"}
    env.close()


def test_in_env_step_limit(generated_file):
    env = ALFWorldEnv(data_dir=generated_file, max_episode_steps=2)
    env.reset(seed=1)
    assert env.step("look")[3] is False and env.step("look")[3] is True
    env.close()


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"split": "test"}, ValueError, "unknown split 'test'"),
        ({"task_types": ["pick_and_fly"]}, ValueError, "unknown task type"),
        ({"data_dir": "/nonexistent/alfworld"}, FileNotFoundError, "/nonexistent/alfworld"),
        ({"data_dir": "/nonexistent/x.jsonl.gz"}, FileNotFoundError, "x.jsonl.gz"),
        ({"split": "generated", "data_dir": "/tmp"}, ValueError, "takes no data_dir"),
        ({"render_mode": "rgb_array", "split": "generated"}, ValueError, "render_mode"),
    ],
)
def test_bad_options_raise_clear_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        ALFWorldEnv(**kwargs)


def test_real_split_without_data_names_the_fix(monkeypatch):
    monkeypatch.delenv("ALFWORLD_DATA", raising=False)
    with pytest.raises(FileNotFoundError, match="hgpo alfworld download"):
        ALFWorldEnv(split="eval_in_distribution")


def test_step_before_reset_and_bad_action_type(gen_env):
    with pytest.raises(gym.error.ResetNeeded, match="reset"):
        gen_env.step("look")
    gen_env.reset(seed=0)
    with pytest.raises(TypeError, match="str"):
        gen_env.step(3)


def test_real_splits_sizes_and_aliases(shared_dir):
    sizes = {"eval_in_distribution": 140, "eval_out_of_distribution": 134, "valid_seen": 140, "valid_train": 200}
    for split, size in sizes.items():
        env = ALFWorldEnv(split=split, data_dir=shared_dir)
        assert env.num_games == size
    env = ALFWorldEnv(split="eval_out_of_distribution", data_dir=shared_dir, task_types=["look_at_obj_in_light"])
    assert env.num_games == 18


def test_alfworld_data_variable_is_the_default(shared_dir, monkeypatch):
    monkeypatch.setenv("ALFWORLD_DATA", str(shared_dir))
    env = ALFWorldEnv(split="eval_out_of_distribution")
    obs, info = env.reset(options={"game_index": 0})
    assert env.num_games == 134 and info["game_id"].startswith("json_2.1.1/valid_unseen/")
    assert info["expert_plan"] and obs.startswith("-= Welcome to TextWorld, ALFRED! =-")
    env.close()


def test_packed_file_split_mismatch(shared_dir):
    with pytest.raises(ValueError, match="holds no game of split 'train'"):
        ALFWorldEnv(split="train", data_dir=shared_dir / "games" / "valid_seen.jsonl.gz")


def test_render_ansi(generated_file):
    env = ALFWorldEnv(data_dir=generated_file, render_mode="ansi")
    obs, _ = env.reset(seed=0)
    assert env.render() == obs
    env.close()
