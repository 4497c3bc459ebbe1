"""Memories: the observation window (default), actions only, the full history under a budget, your own."""

from __future__ import annotations

import gymnasium as gym
import pytest

from hgpo_algo.state_keys import text_state_key
from tests.wrappers.textgame import ENV_ID
from wrappers import (
    ActionWindow,
    FullHistory,
    Memory,
    MemoryEntry,
    MemoryWindow,
    ObservationWindow,
    StateKey,
    StepRecorder,
    collect_groups,
)

START = "Your task is to: find the treasure.\nYou are in room 0. Exits: east."


def play(memory, actions=("go east", "look", "go east"), **options):
    env = MemoryWindow(StateKey(gym.make(ENV_ID, n_rooms=6)), memory=memory, **options)
    _, info = env.reset(seed=0, options={"treasure": 5})
    infos = [info]
    for action in actions:
        infos.append(env.step(action)[-1])
    return env, infos


def test_default_memory_is_the_observation_window():
    _, by_default = play(None, history_length=2)
    _, explicit = play(ObservationWindow(2))
    assert by_default == explicit
    last = explicit[-1]
    assert len(last["history"]) == 2 and last["context_keys"] == [explicit[1]["state_key"], explicit[2]["state_key"]]


def test_prompt_keys_key_exactly_the_shown_text():
    for memory in (ObservationWindow(2), ActionWindow(2), FullHistory(max_chars=10_000)):
        env, infos = play(memory)
        last = infos[-1]
        entries = memory.shown(env._render)
        texts = [env._render(e) for e in entries]
        assert last["prompt_keys"] == [text_state_key(t) for t in texts]
        assert all(t in last["prompt"] for t in texts)


def test_actions_only_memory_shows_no_past_observation():
    _, infos = play(ActionWindow(2), actions=("go east", "go east", "look"))
    prompt = infos[-1]["prompt"]
    assert "Your last 2 action(s):" in prompt and "[step 2] go east" in prompt and "[step 3] look" in prompt
    assert "You are in room 1" not in prompt and "You have taken 3 step(s)" in prompt
    # context keys are still the trajectory's state keys of those steps (the released grouping)
    assert infos[-1]["context_keys"] == [infos[1]["state_key"], infos[2]["state_key"]]


def test_full_history_drops_the_oldest_items_first():
    actions = ["go east", "look", "go east", "look", "go east"]
    _, everything = play(FullHistory(max_chars=100_000), actions=actions)
    assert [len(i["history"]) for i in everything] == [0, 1, 2, 3, 4, 5]
    env, cut = play(FullHistory(max_chars=120), actions=actions)
    shown = cut[-1]["history"]
    assert 0 < len(shown) < 5 and shown == everything[-1]["history"][-len(shown):]
    texts = [env._render(e) for e in env.memory.shown(env._render)]
    assert sum(map(len, texts)) + len(texts) - 1 <= 120
    # a tokenizer budget: whitespace tokens here, any callable text -> ids works (a Hugging Face tokenizer too)
    _, by_tokens = play(FullHistory(max_tokens=20, tokenizer=str.split), actions=actions)
    assert 0 < len(by_tokens[-1]["history"]) < 5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({}, "exactly one budget"), ({"max_chars": 5, "max_tokens": 5}, "exactly one budget"),
     ({"max_tokens": 10}, "needs a tokenizer"), ({"max_chars": -1}, "non-negative integer")],
)
def test_full_history_arguments_are_checked(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FullHistory(**kwargs)


class LastObservationOnly(Memory):
    """A user's memory: the latest observation only, keyed by its state key."""

    name = "latest"

    def __init__(self):
        self.entries = []

    def reset(self):
        self.entries.clear()

    def remember(self, entry: MemoryEntry):
        self.entries.append(entry)

    def shown(self, render):
        return self.entries[-1:]

    def item_key(self, entry, text):
        return entry.state_key


def test_a_memory_of_your_own_plugs_in_everywhere():
    _, infos = play(LastObservationOnly())
    assert [len(i["history"]) for i in infos] == [0, 1, 1, 1]
    assert infos[-1]["prompt_keys"] == infos[-1]["context_keys"] == [infos[2]["state_key"]]
    with pytest.raises(TypeError, match=r"must be a wrappers\.memories\.Memory"):
        MemoryWindow(StateKey(gym.make(ENV_ID)), memory="actions")
    # rollouts give every environment its own copy, and records carry the prompt keys
    records = collect_groups(ENV_ID, lambda p, i: ["go east"] * len(p), 2, 2, memory=LastObservationOnly(),
                             env_kwargs={"n_rooms": 6}, task_options=[{"treasure": 4}] * 2, progress=False)
    for r in records:
        assert r["prompt_keys"] == r["context_keys"] == ([] if r["step"] == 0 else r["context_keys"][-1:])
    recorder = StepRecorder(MemoryWindow(StateKey(gym.make(ENV_ID)), memory=ActionWindow(1)))
    recorder.reset(seed=0)
    recorder.step("go east")
    recorder.step("look")
    assert len(recorder.records[1]["prompt_keys"]) == 1 and recorder.records[0]["prompt_keys"] == []


class WindowKeyedByStates(ObservationWindow):
    """The observation window, each shown item keyed by its observation's state key alone."""

    def item_key(self, entry, text):
        return entry.state_key


def test_hgpo_context_on_real_rollouts():
    """Grouping by the prompt equals grouping by states for a window keyed by its states; an actions-only
    memory makes the states' groups mix prompts that differ, which the report measures."""
    import numpy as np

    from hgpo_algo import compute_advantages
    from wrappers.policies import RandomAdmissible

    def rollout(memory):
        return collect_groups(ENV_ID, RandomAdmissible(3), 3, 4, seed=2, memory=memory,
                              env_kwargs={"n_rooms": 5}, progress=False)

    keyed = rollout(WindowKeyedByStates(2))
    np.testing.assert_array_equal(compute_advantages(keyed, "hgpo", K=2).advantages,
                                  compute_advantages(keyed, "hgpo", K=2, context="prompt").advantages)
    actions = rollout(ActionWindow(2))
    report = compute_advantages(actions, "hgpo", K=2, report=True).report
    assert report[1].prompt_mixed_share > 0
    assert not np.array_equal(compute_advantages(actions, "hgpo", K=2).advantages,
                              compute_advantages(actions, "hgpo", K=2, context="prompt").advantages)


def test_built_in_memories_by_name():
    from wrappers.memories import MEMORY_NAMES, memory_by_name

    assert [type(memory_by_name(n, 3, max_tokens=50)).__name__ for n in MEMORY_NAMES] == [
        "ObservationWindow", "ActionWindow", "FullHistory"]
    assert memory_by_name("actions", 3).history_length == 3
    assert memory_by_name("full", 2, max_tokens=50, tokenizer=str.split).tokenizer is str.split
    with pytest.raises(ValueError, match="unknown memory 'tokens'"):
        memory_by_name("tokens", 2)
    with pytest.raises(ValueError, match="needs a budget"):
        memory_by_name("full", 2)
