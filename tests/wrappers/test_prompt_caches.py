"""What MemoryWindow and PromptTemplate keep between steps changes nothing: every prompt, history item and
item key equals one rendered afresh with ``str.format_map`` and hashed again, after every step."""

from __future__ import annotations

import gymnasium as gym
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hgpo_algo.state_keys import text_state_key
from tests.conftest import REPO_ROOT
from tests.wrappers.textgame import ENV_ID
from wrappers import MemoryWindow, PromptTemplate, StateKey, load_template
from wrappers.memories import ActionWindow, FullHistory, Memory, MemoryEntry, ObservationWindow
from wrappers.templates import _formatter

ALFWORLD_TEMPLATE = REPO_ROOT / "hgpo_envs" / "alfworld" / "prompt.toml"


def fresh_item(template: PromptTemplate, memory: Memory, entry: MemoryEntry) -> str:
    """One history item rendered from scratch with ``str.format_map``."""
    item = template.memories.get(memory.name, {}).get("history_item", template.history_item)
    return item.format_map({"index": entry.step, "observation": entry.observation, "action": entry.action})


def fresh_prompt(template: PromptTemplate, memory: Memory, info: dict, shown: list[MemoryEntry]) -> tuple[str, list]:
    """The prompt and item keys rendered from scratch with ``str.format_map`` (no cache, no compiled template)."""
    wording = template.memories.get(memory.name, {})
    texts = [fresh_item(template, memory, e) for e in shown]
    values = {
        "task": info["task"],
        "observation": info["observation"],
        "admissible_actions": template.action_separator.join(info.get("admissible_commands") or []),
        "step_count": info["step_count"],
        "step_number": info["step_count"] + 1,
        "history": template.history_separator.join(texts),
        "history_count": len(texts),
        "history_length": getattr(memory, "history_length", 2),
    }
    text = template.first if not texts else wording.get("with_history", template.with_history)
    return text.format_map(values), [memory.item_key(e, t) for e, t in zip(shown, texts, strict=True)]


class Rewritten(Memory):
    """A memory that shows new entries it makes up at every call (no entry object is ever shown twice)."""

    name = "rewritten"

    def __init__(self) -> None:
        self.entries: list[MemoryEntry] = []

    def reset(self) -> None:
        self.entries.clear()

    def remember(self, entry: MemoryEntry) -> None:
        self.entries.append(entry)

    def shown(self, render):
        return [MemoryEntry(e.step, e.observation.upper(), e.state_key, e.action) for e in self.entries[-2:]]


class Counting(ObservationWindow):
    """A window whose item keys number the calls: a key that is not a function of the text alone."""

    def __init__(self, history_length: int) -> None:
        super().__init__(history_length)
        self.calls = 0

    def item_key(self, entry, text):
        self.calls += 1
        return f"{self.calls}:{text_state_key(text)}"


MEMORIES = {
    "window0": lambda: ObservationWindow(0),
    "window1": lambda: ObservationWindow(1),
    "window3": lambda: ObservationWindow(3),
    "actions": lambda: ActionWindow(2),
    "full": lambda: FullHistory(max_chars=180),
    "rewritten": Rewritten,
    "counting": lambda: Counting(2),
}


@settings(max_examples=40, deadline=None)
@given(
    memory=st.sampled_from(sorted(MEMORIES)),
    template=st.sampled_from([None, str(ALFWORLD_TEMPLATE)]),
    episodes=st.lists(st.lists(st.sampled_from(["go east", "go west", "look", "dance"]), max_size=12),
                      min_size=1, max_size=3),
)
def test_prompts_and_keys_equal_a_fresh_render_after_every_step(memory, template, episodes):
    mem = MEMORIES[memory]()
    env = MemoryWindow(StateKey(gym.make(ENV_ID, n_rooms=8)), memory=mem, template=template)
    twin = MEMORIES[memory]()  # replays the same steps, to know what the memory shows without the wrapper

    def check(info):
        shown = twin.shown(lambda entry: fresh_item(env.template, twin, entry))
        prompt, keys = fresh_prompt(env.template, twin, info, shown)
        assert info["prompt"] == prompt
        assert info["history"] == [(e.observation, e.action) for e in shown]
        assert info["context_keys"] == [e.state_key for e in shown]
        assert info["prompt_keys"] == keys

    for seed, actions in enumerate(episodes):
        obs, info = env.reset(seed=seed)
        twin.reset()
        check(info)
        for t, action in enumerate(actions, start=1):
            twin.remember(MemoryEntry(t, info["observation"], info["state_key"], action))
            obs, reward, terminated, truncated, info = env.step(action)
            check(info)
            if terminated or truncated:
                break


FIELD = st.sampled_from(["task", "observation", "step_count", "history_count"])
SPEC = st.sampled_from(["", ">12", "<3", "^9", "*^7", ".4", "d", "x", "05", ",", "s"])
LITERAL = st.text(alphabet=list("ab %\n\tü€{}"), max_size=6).map(lambda s: s.replace("{", "{{").replace("}", "}}"))


@st.composite
def format_strings(draw) -> str:
    parts = []
    for _ in range(draw(st.integers(0, 5))):
        parts.append(draw(LITERAL))
        conversion = draw(st.sampled_from(["", "!r", "!s", "!a"]))
        spec = draw(SPEC)
        parts.append("{" + draw(FIELD) + conversion + (":" + spec if spec else "") + "}")
    parts.append(draw(LITERAL))
    return "".join(parts)


class Shown:
    """A value with its own ``__format__``, as an environment's task object might be."""

    def __format__(self, spec: str) -> str:
        return f"<shown {spec!r}>"

    def __repr__(self) -> str:
        return "Shown()"


@settings(max_examples=300, deadline=None)
@given(
    text=format_strings(),
    task=st.one_of(st.text(max_size=8), st.just(Shown())),
    observation=st.text(max_size=20),
    step_count=st.integers(-5, 10**6),
)
def test_compiled_format_strings_equal_format_map(text, task, observation, step_count):
    values = {"task": task, "observation": observation, "step_count": step_count, "history_count": 2}
    try:
        expected = text.format_map(values)
    except (ValueError, TypeError) as exc:
        with pytest.raises(type(exc)):
            _formatter(text)(values)
    else:
        assert _formatter(text)(values) == expected


def test_nested_format_specs_keep_format_map():
    template = "{observation:>{step_count}}|{task}"
    assert _formatter(template)({"observation": "ab", "step_count": 4, "task": "t"}) == "  ab|t"


def test_templates_render_as_format_map():
    template = load_template(ALFWORLD_TEMPLATE)
    values = dict(task="t", observation="o", admissible_actions=["look", "go east"], step_count=3,
                  items=["i1", "i2"], history_length=2)
    for memory in ("window", "actions", "full", "unknown"):
        wording = template.memories.get(memory, {}).get("with_history", template.with_history)
        expected = wording.format_map({
            "task": "t", "observation": "o", "admissible_actions": "look\ngo east", "step_count": 3,
            "step_number": 4, "history": "i1\ni2", "history_count": 2, "history_length": 2,
        })
        assert template.render(**values, memory=memory) == expected
        item = template.memories.get(memory, {}).get("history_item", template.history_item)
        assert template.render_item(memory, index=2, observation="o", action="a") == item.format(
            index=2, observation="o", action="a")
