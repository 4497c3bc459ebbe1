"""StateKey, MemoryWindow, ActionParser and StepRecorder on a real text game."""

from __future__ import annotations

import gzip

import gymnasium as gym
import numpy as np
import pytest

from hgpo_algo import compute_advantages
from hgpo_algo.state_keys import text_state_key
from tests.conftest import REPO_ROOT
from tests.wrappers.textgame import ENV_ID
from wrappers import (
    ActionParser,
    MemoryWindow,
    PromptTemplate,
    StateKey,
    StepRecorder,
    load_template,
    parse_action,
)

K = text_state_key
START = "Your task is to: find the treasure.\nYou are in room 0. Exits: east."
ROOM1 = "You are in room 1. Exits: east, west."
WIN = "You found the treasure!"
ALFWORLD_TEMPLATE = REPO_ROOT / "hgpo_envs" / "alfworld" / "prompt.toml"
WEBSHOP_TEMPLATE = REPO_ROOT / "hgpo_envs" / "webshop" / "prompt.toml"


def stack(history_length=2, template=None, **parser):
    env = MemoryWindow(StateKey(gym.make(ENV_ID)), history_length=history_length, template=template)
    return ActionParser(env, **parser) if parser else env


def test_state_key_added_kept_or_overwritten():
    env = StateKey(gym.make(ENV_ID))
    obs, info = env.reset(seed=0)
    assert info["state_key"] == K(obs) == K(START)
    obs, *_, info = env.step("go east")
    assert info["state_key"] == K(ROOM1)

    class Keyed(gym.Wrapper):
        def reset(self, **kw):
            obs, info = self.env.reset(**kw)
            return obs, {**info, "state_key": "env-key"}

    assert StateKey(Keyed(gym.make(ENV_ID))).reset(seed=0)[1]["state_key"] == "env-key"
    custom = StateKey(Keyed(gym.make(ENV_ID)), key_fn=lambda o, i: o[:4], overwrite=True)
    assert custom.reset(seed=0)[1]["state_key"] == "Your"


def test_memory_window_history_keys_and_prompt():
    env = stack(history_length=2, template=ALFWORLD_TEMPLATE)
    obs0, info = env.reset(seed=0, options={"treasure": 3})
    assert info["history"] == [] and info["context_keys"] == [] and info["step_count"] == 0
    assert info["task"] == "find the treasure."
    assert "Your task: find the treasure." in info["prompt"] and "look\ngo east" in info["prompt"]
    obs1, *_, info = env.step("go east")
    assert info["history"] == [(START, "go east")] and info["context_keys"] == [K(START)]
    obs2, *_, info = env.step("look")
    obs3, *_, info = env.step("go east")
    # only the last two pairs, oldest first
    assert info["history"] == [(ROOM1, "look"), (ROOM1, "go east")]
    assert info["context_keys"] == [K(ROOM1), K(ROOM1)]
    assert info["step_count"] == 3
    prompt = info["prompt"]
    assert "You have taken 3 step(s)" in prompt and "You are now at step 4" in prompt
    assert "[step 2] observation: You are in room 1." in prompt and "[step 3] action: go east" in prompt
    assert "[step 1]" not in prompt


def test_memory_window_zero_history():
    env = stack(history_length=0)
    env.reset(seed=0)
    *_, info = env.step("go east")
    assert info["history"] == [] and info["context_keys"] == [] and info["step_count"] == 1


def test_memory_window_needs_state_key():
    env = MemoryWindow(gym.make(ENV_ID))
    with pytest.raises(KeyError, match=r"wrap it with wrappers.StateKey"):
        env.reset(seed=0)


def test_templates_are_data(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(
        'task_pattern = "task is to: (?P<task>.+)"\n'
        'first = "T={task} O={observation}"\n'
        'with_history = "{history} | {observation}"\n'
        'history_item = "<{index}:{action}>"\n'
    )
    env = stack(template=path)
    assert env.reset(seed=0)[1]["prompt"] == f"T=find the treasure. O={START}"
    assert env.step("go east")[-1]["prompt"] == f"<1:go east> | {ROOM1}"
    for template in (ALFWORLD_TEMPLATE, WEBSHOP_TEMPLATE, "generic"):
        assert isinstance(load_template(template), PromptTemplate)


def test_environment_declares_its_template(tmp_path):
    """The template comes from the environment's metadata, never from its id."""
    path = tmp_path / "declared.toml"
    path.write_text('first = "declared {observation}"\nwith_history = "{observation}"\nhistory_item = ""\n')

    class Declaring(gym.Wrapper):
        metadata = {"render_modes": [], "prompt_template": str(path)}

    assert MemoryWindow(StateKey(Declaring(gym.make(ENV_ID)))).reset(seed=0)[1]["prompt"] == f"declared {START}"
    generic = load_template("generic")
    prompt = MemoryWindow(StateKey(gym.make(ENV_ID))).reset(seed=0)[1]["prompt"]
    assert prompt.startswith(generic.first.split("{")[0])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('first = "{bogus}"\nwith_history = ""\nhistory_item = ""\n', "unknown placeholder(s) bogus"),
        ('first = ""\nwith_history = ""\n', "missing key(s) history_item"),
        ('first = ""\nwith_history = ""\nhistory_item = ""\ncolour = 1\n', "unknown key(s) colour"),
        ('task_pattern = "(x)"\nfirst = ""\nwith_history = ""\nhistory_item = ""\n', "needs a named group"),
        ("first = [", "invalid TOML"),
    ],
)
def test_bad_templates_are_named(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=r"bad\.toml") as info:
        load_template(path)
    assert message in str(info.value)
    with pytest.raises(FileNotFoundError, match="neither a built-in"):
        load_template("nonexistent-template")


@pytest.mark.parametrize(
    ("text", "require_think", "action", "error"),
    [
        ("<think>east</think><action>go east</action>", True, "go east", None),
        ("<ACTION>  look </ACTION>", False, "look", None),
        ("go east", False, None, "no <action>...</action> block"),
        ("<action>look</action><action>go east</action>", False, None, "2 <action> blocks"),
        ("<action>   </action>", False, None, "empty <action> block"),
        ("<action>look</action>", True, None, "no <think>...</think> block"),
        ("<action>look</action><think>why</think>", True, None, "<think> block after"),
        ("<action>go east", False, None, "no <action>...</action> block"),
    ],
)
def test_parse_action(text, require_think, action, error):
    parsed = parse_action(text, require_think=require_think)
    assert parsed.action == action
    assert (parsed.error is None) if error is None else error in parsed.error


def test_action_parser_passes_fallback_and_reports():
    env = stack(require_think=True)
    env.reset(seed=0, options={"treasure": 3})
    obs, reward, term, trunc, info = env.step("<think>go</think><action>go east</action>")
    assert obs == ROOM1 and info["format_valid"] and info["is_action_valid"] and info["parse_error"] is None
    obs, reward, term, trunc, info = env.step("go west please")
    assert obs == "Nothing happens." and reward == 0.0
    assert not info["format_valid"] and not info["is_action_valid"]
    assert info["parse_error"] == "no <action>...</action> block" and info["parsed_action"] == ""
    # the window shows the parsed action, not the raw model text
    assert info["history"][-1] == (ROOM1, "")
    # well-formed but inadmissible: format valid, action invalid
    *_, info = env.step("<think>x</think><action>fly</action>")
    assert info["format_valid"] and not info["is_action_valid"]


def test_step_recorder_matches_hand_derived_records(tmp_path):
    env = StepRecorder(stack(history_length=2, require_think=False), group_id="g", traj_id="t")
    env.reset(seed=0, options={"treasure": 2})
    for text in ("<action>look</action>", "<action>go east</action>", "oops", "<action>go east</action>"):
        env.step(text)
    got = [{k: r[k] for k in ("step", "state_key", "reward", "invalid", "context_keys", "done", "won", "action")}
           for r in env.records]
    # "look" in room 0 shows the room without the task line: a different observation, a different key
    s0, r0, r1, nothing = K(START), K("You are in room 0. Exits: east."), K(ROOM1), K("Nothing happens.")
    assert got == [
        {"step": 0, "state_key": s0, "reward": 0.0, "invalid": False, "context_keys": [], "done": False, "won": False, "action": "look"},
        {"step": 1, "state_key": r0, "reward": 0.0, "invalid": False, "context_keys": [s0], "done": False, "won": False, "action": "go east"},
        {"step": 2, "state_key": r1, "reward": 0.0, "invalid": True, "context_keys": [s0, r0], "done": False, "won": False, "action": ""},
        {"step": 3, "state_key": nothing, "reward": 1.0, "invalid": False, "context_keys": [r0, r1], "done": True, "won": True, "action": "go east"},
    ]
    assert [r["group_id"] for r in env.records] == ["g"] * 4 and env.records[3]["observation"] == "Nothing happens."
    assert env.records[0]["prompt"].startswith("Current observation:")
    # records go straight into the estimators, context_keys checked against the trajectory
    result = compute_advantages(env.records, "hgpo", invalid_penalty=0.1)
    np.testing.assert_allclose(result.returns, [0.857375, 0.9025, 0.95 - 0.1, 1.0])


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz", ".parquet"])
def test_step_recorder_file_sinks(tmp_path, suffix):
    from hgpo_algo.record_io import read_records

    path = tmp_path / f"records{suffix}"
    env = StepRecorder(stack(), sink=str(path), group_id=7, include=("action",), info_fields=("is_action_valid",))
    for episode in range(2):
        env.reset(seed=episode, options={"treasure": 1})
        env.step("go east")
    env.close()
    rows = read_records(str(path)).records
    rows = rows.to_pylist() if hasattr(rows, "to_pylist") else rows
    assert [(r["traj_id"], r["step"], r["action"], r["is_action_valid"]) for r in rows] == [
        ("7-0", 0, "go east", True),
        ("7-1", 0, "go east", True),
    ]


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz", ".parquet"])
def test_sinks_and_the_advantages_command_write_the_same_bytes(tmp_path, suffix):
    """One writer: a sink file equals what hgpo_algo.record_io writes for the same records (NaN included)."""
    from hgpo_algo.record_io import RecordFile, write_records
    from wrappers.sinks import open_sink

    rows = [{"group_id": 0, "traj_id": "a", "step": 0, "state_key": "s", "reward": 1.0, "note": float("nan")},
            {"group_id": 0, "traj_id": "a", "step": 1, "state_key": "t", "reward": 0.0, "late": [1, 2]}]
    sink = open_sink(tmp_path / f"sink{suffix}")
    for row in rows:
        sink.write(row)
    sink.close()
    write_records(str(tmp_path / f"cli{suffix}"), RecordFile("x", rows=rows))
    sink_bytes, cli_bytes = (tmp_path / f"sink{suffix}").read_bytes(), (tmp_path / f"cli{suffix}").read_bytes()
    if suffix == ".jsonl.gz":  # the sink flushes per record, so its deflate blocks differ: compare the text
        sink_bytes, cli_bytes = gzip.decompress(sink_bytes), gzip.decompress(cli_bytes)
    assert sink_bytes == cli_bytes


def test_step_recorder_rejects_bad_configuration():
    with pytest.raises(ValueError, match="unknown include field"):
        StepRecorder(stack(), include=("thoughts",))
    with pytest.raises(ValueError, match=r"records\.csv: unknown file type"):
        StepRecorder(stack(), sink="records.csv")
    env = StepRecorder(stack(), traj_id="fixed")
    env.reset(seed=0)
    with pytest.raises(ValueError, match="second episode"):
        env.reset(seed=0)
