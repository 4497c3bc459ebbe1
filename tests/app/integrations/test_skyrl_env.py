"""Our environments through ``skyrl_gym.make``: full multi-turn episodes, memory-window prompts, state keys.

Runs wherever skyrl-gym is installed: in the verl virtualenv (``make test-verl``, which installs the
``skyrl`` extra) and in the main one once its test extras include ``skyrl``.
"""

from __future__ import annotations

import importlib.util
import os

import pytest

from tests.extras import require
from tests.wrappers.textgame import ENV_ID

IN_VERL_VENV = os.environ.get("HGPO_TEST_VENV") == "verl"
if not IN_VERL_VENV and importlib.util.find_spec("skyrl_gym") is None:
    pytest.skip("skyrl-gym is not in this virtualenv's test extras: make test-verl runs it", allow_module_level=True)

skyrl_gym = require("skyrl_gym", extra="skyrl")

from hgpo.integrations.skyrl import env as skyrl_env  # after the gate: imports skyrl_gym
from hgpo.integrations.skyrl.advantage import stepwise_metadata
from hgpo_algo import compute_advantages
from wrappers.action_parser import parse_action


def act(command: str) -> str:
    return f"<think>go</think><action>{command}</action>"


def play(env, policy, system: str = "You are an agent.") -> tuple[list, list[dict], dict]:
    """One episode the way SkyRL's generator runs it: init, then step until done."""
    messages, meta = env.init([{"role": "system", "content": system}, {"role": "user", "content": "task"}])
    assert messages[0] == {"role": "system", "content": system}
    assert messages[-1]["role"] == "user"
    chat, outputs = list(messages), []
    while True:
        out = env.step(policy(env))
        outputs.append(out)
        chat += [{"role": "assistant", "content": "..."}, *out["observations"]]
        if out["done"]:
            return chat, outputs, meta
        assert len(out["observations"]) == 1 and out["observations"][0]["role"] == "user"


def test_registered_ids():
    assert set(skyrl_env.register_envs()) == {"hgpo-alfworld", "hgpo-webshop", "hgpo-text"}
    for name in skyrl_env.ENV_CLASSES:
        assert name in skyrl_gym.registry


def test_text_game_full_episode_with_memory_window_and_state_keys():
    env = skyrl_gym.make("hgpo-text", env_config={"env_id": ENV_ID, "history_length": 2},
                         extras={"seed": 0, "options": {"treasure": 3}, "group_id": "g", "traj_id": "t0"})
    assert isinstance(env, skyrl_gym.envs.base_text_env.BaseTextEnv)
    script = iter([act("go east"), act("look"), "oops, no tags", act("go east"), act("go east")])
    chat, outputs, first = play(env, lambda e: next(script))
    assert [o["reward"] for o in outputs] == [0.0, 0.0, 0.0, 0.0, 1.0]
    assert [o["metadata"]["step"] for o in outputs] == [0, 1, 2, 3, 4]
    # the step's state key is that of what the agent saw before acting; context keys: the H before it
    keys = [first["state_key"]] + [o["metadata"]["next_state"]["state_key"] for o in outputs[:-1]]
    assert [o["metadata"]["state_key"] for o in outputs] == keys
    assert [len(o["metadata"]["context_keys"]) for o in outputs] == [0, 1, 2, 2, 2]
    assert outputs[3]["metadata"]["context_keys"] == keys[1:3]
    assert [o["metadata"]["invalid"] for o in outputs] == [False, False, True, False, False]
    # the prompts are memory-window prompts: the last observation/action pairs, not the whole chat
    last_prompt = outputs[-2]["observations"][0]["content"]
    assert "The last 2 observation(s)" in last_prompt and "You are in room 2" in last_prompt
    assert "room 0" not in last_prompt and chat[-2]["content"] == last_prompt
    assert outputs[-1]["observations"] == [] and outputs[-1]["metadata"]["won"]
    metrics = env.get_metrics()
    assert metrics["won"] == 1.0 and metrics["steps"] == 5 and metrics["state_keys"] == keys
    records = [o["metadata"]["record"] for o in outputs]
    assert {r["group_id"] for r in records} == {"g"} and {r["traj_id"] for r in records} == {"t0"}
    with pytest.raises(RuntimeError, match="after the episode ended"):
        env.step(act("look"))
    env.close()


def test_turn_limit_and_bad_config():
    env = skyrl_gym.make("hgpo-text", env_config={"env_id": ENV_ID}, extras={"seed": 1, "max_turns": 3})
    _, outputs, _ = play(env, lambda e: act("look"))
    assert len(outputs) == 3 and outputs[-1]["done"]
    with pytest.raises(ValueError, match="unknown env_config key"):
        skyrl_gym.make("hgpo-text", env_config={"env_id": ENV_ID, "histroy_length": 2})
    with pytest.raises(ValueError, match="needs an 'env_id'"):
        skyrl_gym.make("hgpo-text", env_config={})


def test_groups_of_episodes_give_valid_records_and_stepwise_metadata():
    """Two tasks x three rollouts, as SkyRL's generator plays them; records feed compute_advantages."""
    records, env_metrics, is_last = [], [], []
    for g, treasure in enumerate((2, 3)):
        for m in range(3):
            env = skyrl_gym.make("hgpo-text", env_config={"env_id": ENV_ID},
                                 extras={"seed": g, "options": {"treasure": treasure}, "group_id": g,
                                         "traj_id": f"{g}-{m}", "max_turns": 6})
            moves = iter(["go east"] * m + ["look", "go west"] * 3 + ["go east"] * 6)
            _, outputs, _ = play(env, lambda e, moves=moves: act(next(moves)))
            records += [o["metadata"]["record"] for o in outputs]
            env_metrics += [{}] * (len(outputs) - 1) + [env.get_metrics()]
            is_last += [False] * (len(outputs) - 1) + [True]
    result = compute_advantages(records, "hgpo", K=2)
    assert result.advantages.shape == (len(records),) and abs(result.advantages).sum() > 0
    meta = stepwise_metadata(env_metrics, is_last)
    assert meta["state_keys"] == [r["state_key"] for r in records]
    assert meta["invalid"] == [r["invalid"] for r in records]


def test_webshop_full_episode_with_the_oracle():
    require("flask", extra="webshop")
    env = skyrl_gym.make("hgpo-webshop", extras={"seed": 0})
    _, outputs, _ = play(env, lambda e: act(e.last_info["expert_action"]))
    assert outputs[-1]["done"] and outputs[-1]["reward"] > 0
    assert all(not o["metadata"]["invalid"] for o in outputs)
    env.close()


def test_alfworld_full_episode_with_the_walkthrough():
    if IN_VERL_VENV:
        pytest.skip("the alfworld extra is not in the verl virtualenv; the main test run covers it")
    require("alfworld", extra="textworld")  # ALFWorld's domain and grammar files
    env = skyrl_gym.make("hgpo-alfworld", env_config={"max_steps": 50}, extras={"seed": 0})
    messages, _ = env.init([])
    plan = iter(env.last_info["expert_plan"])
    outputs = []
    while not (outputs and outputs[-1]["done"]):
        outputs.append(env.step(act(next(plan))))
    assert outputs[-1]["reward"] == 1.0 and outputs[-1]["metadata"]["won"]
    assert parse_action(act("x")).action == "x"
    env.close()
