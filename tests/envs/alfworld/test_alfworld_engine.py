"""Our cached engine against the stock stack (PddlEnv + AlfredDemangler): identical transcripts."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from .conftest import fast_env, need_textworld, sample_rows, stock_env

need_textworld()


def _play_both(game: dict, commands_rng: random.Random, steps: int, episodes: int = 1) -> int:
    """Play stock and ours side by side on random admissible commands (and some invalid ones); return
    the number of compared steps. Fails on the first difference."""
    stock, ours = stock_env(), fast_env()
    stock.load(game)
    ours.load(game)
    for episode in range(episodes):  # a second episode checks that reset restores the initial state
        a, b = stock.reset(), ours.reset()
        assert a.feedback == b.feedback
        assert a["admissible_commands"] == b["admissible_commands"]
        for i in range(steps):
            if i % 5 == 4:
                command = commands_rng.choice(["fly to the moon", "Go to fridge 1", "  look  ", "take"])
            else:
                command = commands_rng.choice(a["admissible_commands"])
            a, score_a, done_a = stock.step(command)
            b, score_b, done_b = ours.step(command)
            assert b.feedback == a.feedback, (episode, i, command)
            assert b["admissible_commands"] == a["admissible_commands"], (episode, i, command)
            assert (score_b, done_b, b["won"], b["moves"]) == (score_a, done_a, a["won"], a["moves"])
    return episodes * steps


def test_transcripts_identical_on_real_games(shared_dir, shared_logic):
    # One game per task type, alternating splits; random admissible actions plus invalid commands.
    rows = sample_rows(shared_dir, ("valid_unseen",), 1)
    rng = random.Random(0)
    for row in rows:
        game = shared_logic.game(row["task_desc"], row["pddl_problem"], row["walkthrough"])
        assert _play_both(game, rng, 8) == 8


@pytest.mark.slow
def test_transcripts_identical_on_more_real_games(shared_dir, shared_logic):
    rows = sample_rows(shared_dir, ("valid_seen", "valid_unseen", "valid_train"), 2)
    rng = random.Random(2)
    for row in rows:
        game = shared_logic.game(row["task_desc"], row["pddl_problem"], row["walkthrough"])
        _play_both(game, rng, 25, episodes=2)


def test_walkthrough_transcripts_identical_on_real_game(shared_dir, shared_logic):
    row = sample_rows(shared_dir, ("valid_seen",), 1)[5]
    game = shared_logic.game(row["task_desc"], row["pddl_problem"], row["walkthrough"])
    stock, ours = stock_env(), fast_env()
    stock.load(game)
    ours.load(game)
    stock.reset()
    ours.reset()
    for command in row["walkthrough"]:
        a, _, _ = stock.step(command)
        b, _, _ = ours.step(command)
        assert a.feedback == b.feedback
    assert a["won"] and b["won"]


def test_transcripts_identical_on_generated_games(generated_records, package_logic):
    rng = random.Random(1)
    for record in generated_records[:3]:
        game = package_logic.game(record.task_desc, record.pddl_problem, record.walkthrough)
        _play_both(game, rng, 8, episodes=2)


def test_original_game_file_loads_from_disk(shared_dir):
    # The engine accepts a path to an original game.tw-pddl, as the stock one does.
    game_file = next((shared_dir / "samples").glob("json_2.1.1/*/*/*/game.tw-pddl"))
    stock, ours = stock_env(), fast_env()
    stock.load(str(game_file))
    ours.load(str(game_file))
    assert stock.reset().feedback == ours.reset().feedback


_ID_CLASSES = ["Cabinet", "Drawer", "Sink", "CounterTop", "Apple"]


@st.composite
def _entity_ids(draw):
    ids = set()
    for _ in range(draw(st.integers(1, 25))):
        cls = draw(st.sampled_from(_ID_CLASSES))
        coords = draw(st.lists(st.integers(-300, 300), min_size=3, max_size=3))
        suffix = "_bar_".join(("_plus_" if c >= 0 else "_minus_") + f"{abs(c):03d}" for c in coords)
        id_ = f"{cls}_bar_{suffix}" + ("_bar_SinkBasin" if cls == "Sink" else "")
        ids.add(id_.lower())
    ids |= set(draw(st.lists(st.sampled_from(["agent1", "appletype", "loc_bar_1_bar_2"]), max_size=3)))
    return sorted(ids)


@settings(max_examples=60, deadline=None)
@given(_entity_ids())
def test_alfred_names_match_alfworld_demangler(ids):
    from alfworld.agents.utils.misc import Demangler
    from textworld.generator.game import EntityInfo

    from hgpo_envs.alfworld.engine import alfred_names

    infos = {i: EntityInfo(i, "t") for i in ids}
    demangler = Demangler(game_infos=infos, shuffle=False)
    assert alfred_names(list(ids)) == {i: demangler.demangle_alfred_name(i) for i in ids}


def test_policy_commands_plan_from_current_state(generated_records, package_logic):
    """The lazily made replanning task plans from the current state, like the stock engine."""
    import textworld

    from hgpo_envs.alfworld.engine import FastPddlEnv

    record = generated_records[0]
    game = package_logic.game(record.task_desc, record.pddl_problem, record.walkthrough)
    ours = FastPddlEnv(textworld.EnvInfos(won=True, admissible_commands=True, policy_commands=True))
    ours.load(game)
    ours.reset()
    ours.step(record.walkthrough[0])
    state, _, _ = ours.step(record.walkthrough[1])
    plan = state["policy_commands"]
    assert plan, "no plan from a solvable state"
    for command in plan:
        assert command in state["admissible_commands"]
        state, _, done = ours.step(command)
    assert done


@pytest.mark.parametrize("bad", [{"pddl_domain": "", "grammar": "{}", "pddl_problem": ""}])
def test_broken_game_raises(bad):
    with pytest.raises(Exception):  # noqa: B017 - any parser error is fine, silence is not
        fast_env().load(bad)
