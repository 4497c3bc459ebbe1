"""The native engine: parity with the TextWorld-backed engine, the expert, state copies, hostile input."""

from __future__ import annotations

import dataclasses
import pickle
import random
import subprocess
import sys
from collections import defaultdict

import gymnasium as gym
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hgpo_envs.alfworld.env import ALFWorldEnv
from hgpo_envs.alfworld.grammar import GrammarError, parse_symbols, parse_twl2
from hgpo_envs.alfworld.native import NativeState
from hgpo_envs.alfworld.pddl import PddlError, parse_domain, parse_problem
from hgpo_envs.alfworld.tasks import TASK_TYPES
from hgpo_envs.alfworld.transcripts import first_difference, play_protocol, replay_protocol

from .conftest import SPLIT_FILES, need_textworld

#: The CI parity sample: this many games per (split, task type) cell, seeded (>= 100 games in all).
PER_CELL = 5


def _parity_sample(shared_dir) -> list[tuple[str, int]]:
    rng = random.Random(14)
    picked = []
    for split in SPLIT_FILES:
        env = ALFWorldEnv(data_dir=shared_dir / "games" / f"{split}.jsonl.gz", expert=False)
        cells = defaultdict(list)
        for index, record in enumerate(env.game_set.games):
            cells[record.task_type].append(index)
        assert set(cells) == set(TASK_TYPES)
        for task_type in TASK_TYPES:
            picked += [(split, i) for i in sorted(rng.sample(cells[task_type], PER_CELL))]
    return picked


def _compare(reference_env, native_env, index: int, runs: int, admissible: int, inadmissible: int) -> None:
    infos: dict[str, list] = {"ref": [], "native": []}

    def recorder(env, name):
        def reset():
            obs, info = env.reset(options={"game_index": index})
            infos[name].append(info)
            return obs, info

        def step(command):
            out = env.step(command)
            infos[name].append(out[4])
            return out

        return reset, step

    walkthrough = reference_env.game_set.games[index].walkthrough
    reference = play_protocol(*recorder(reference_env, "ref"), walkthrough, seed=index, runs=runs,
                              admissible=admissible, inadmissible=inadmissible)
    mine = replay_protocol(*recorder(native_env, "native"), reference)
    assert first_difference(reference, mine) is None, (index, first_difference(reference, mine))
    assert infos["ref"] == infos["native"]  # every info field, byte for byte
    walk = mine["runs"][0]["steps"]
    assert walk[-1]["won"] and walk[-1]["terminated"] and not any(s["won"] for s in walk[:-1])


def test_parity_with_textworld_engine_on_a_seeded_sample_of_real_games(shared_dir):
    # >= 100 games covering every split and task type: walkthrough + a run of 20 random admissible and
    # 4 random inadmissible commands, every observation, admissible list, reward and info compared.
    need_textworld()
    sample = _parity_sample(shared_dir)
    assert len(sample) >= 100
    envs = {}
    for split, index in sample:
        if split not in envs:
            path = shared_dir / "games" / f"{split}.jsonl.gz"
            envs[split] = (ALFWorldEnv(data_dir=path, engine="textworld", expert=False),
                           ALFWorldEnv(data_dir=path, engine="native", expert=False))
        _compare(*envs[split], index, runs=1, admissible=20, inadmissible=4)


def test_parity_on_generated_games(generated_file):
    need_textworld()
    reference = ALFWorldEnv(data_dir=generated_file, engine="textworld", expert=False)
    native = ALFWorldEnv(data_dir=generated_file, engine="native", expert=False)
    for index in range(native.num_games):
        _compare(reference, native, index, runs=1, admissible=25, inadmissible=5)


def test_expert_info_is_the_same_in_both_engines(generated_file):
    need_textworld()
    a = ALFWorldEnv(data_dir=generated_file, engine="textworld", expert=True)
    b = ALFWorldEnv(data_dir=generated_file, engine="native", expert=True)
    _, ia = a.reset(options={"game_index": 3})
    _, ib = b.reset(options={"game_index": 3})
    for command in ["look", "go to fridge 1", "fly"] + [None] * 12:
        assert ia == ib
        if ia["won"]:
            break
        command = command or ia["expert_action"]
        ia, ib = a.step(command)[4], b.step(command)[4]
    assert ia["won"] and ib["won"]


def test_textworld_engine_is_not_imported_by_the_native_path():
    code = (
        "import hgpo_envs.alfworld.env, hgpo_envs.alfworld.native, hgpo_envs.alfworld.expert, sys\n"
        "heavy = [m for m in ('textworld', 'alfworld', 'fast_downward', 'tatsu') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- the expert ---------------------------------------------------------------------------------------


def test_expert_is_never_longer_than_the_walkthrough(shared_dir):
    # Two games per task type of each small split; the full check over all games is in the parity benchmark.
    for split in ("valid_seen", "valid_unseen"):
        env = ALFWorldEnv(data_dir=shared_dir / "games" / f"{split}.jsonl.gz")
        seen: dict[str, int] = defaultdict(int)
        for index, record in enumerate(env.game_set.games):
            if seen[record.task_type] >= 2:
                continue
            seen[record.task_type] += 1
            env.reset(options={"game_index": index})
            plan = env.expert_plan_from_state()
            assert plan is not None and len(plan) <= len(record.walkthrough), (split, index, plan)
            for command in plan:
                _, reward, terminated, _, _ = env.step(command)
            assert terminated and reward == 1.0


def test_expert_recovers_after_off_plan_actions(gen_env_native):
    env = gen_env_native
    rng = random.Random(5)
    for index in range(0, env.num_games, 3):
        _, info = env.reset(options={"game_index": index})
        for _ in range(6):  # wander off
            _, _, terminated, _, info = env.step(rng.choice(info["admissible_commands"]))
        steps = 0
        while not info["won"] and steps < 30:
            assert info["expert_action"] in info["admissible_commands"]
            _, _, terminated, _, info = env.step(info["expert_action"])
            steps += 1
        assert info["won"] and info["expert_action"] is None


@pytest.fixture()
def gen_env_native(generated_file):
    env = ALFWorldEnv(data_dir=generated_file, engine="native", expert=True)
    yield env
    env.close()


# --- copies of episodes ---------------------------------------------------------------------------------


def _play(env, commands):
    return [env.step(c) for c in commands]


def test_get_state_set_state_forks_an_episode(gen_env_native):
    env = gen_env_native
    _, info = env.reset(options={"game_index": 5})
    env.step(info["admissible_commands"][0])
    state = env.get_state()
    commands = info["expert_plan"] + ["look", "inventory"]
    first = _play(env, commands)
    env.set_state(state)
    assert _play(env, commands) == first
    other = ALFWorldEnv(data_dir=env._games_key[1], engine="native", expert=True)
    other.set_state(state)
    assert _play(other, commands) == first


def test_pickled_environment_continues_the_episode(gen_env_native):
    env = gen_env_native
    _, info = env.reset(options={"game_index": 2})
    env.step(info["expert_plan"][0])
    blob = pickle.dumps(env)
    assert len(blob) < 100_000  # no game set, no grounded game
    clone = pickle.loads(blob)
    rest = info["expert_plan"][1:]
    assert _play(clone, rest) == _play(env, rest)


def test_state_copy_errors_are_clear(generated_file):
    env = ALFWorldEnv(data_dir=generated_file)
    with pytest.raises(gym.error.ResetNeeded):
        env.get_state()
    with pytest.raises(TypeError, match="ALFWorldState"):
        env.set_state("nope")
    env.reset(seed=0)
    state = env.get_state()
    foreign = dataclasses.replace(state, engine_state=NativeState(frozenset({10**6}), 0))
    with pytest.raises(ValueError, match="this game's slots"):
        env.set_state(foreign)
    assert env.get_state() == state  # nothing lost


def test_states_spell_out_as_facts_and_back(gen_env_native):
    env = gen_env_native
    env.reset(seed=0)
    game = env.unwrapped._native.game
    facts = game.fact_tuples(env.unwrapped.get_state().engine_state.facts)
    assert any(f[0] == "atlocation" for f in facts)
    assert game.state_of(facts) == env.unwrapped.get_state().engine_state.facts
    with pytest.raises(KeyError):
        game.slot(("atlocation", "nobody", "nowhere"))


def test_a_game_read_back_from_the_disk_cache_plays_the_same(generated_file, tmp_path, monkeypatch):
    from hgpo_envs.alfworld import native

    monkeypatch.setenv("HGPO_ALFWORLD_CACHE", str(tmp_path))
    record = ALFWorldEnv(data_dir=generated_file).game_set
    game = record.logic.game(record.games[0].task_desc, record.games[0].pddl_problem, record.games[0].walkthrough)
    native._GAMES.clear()
    fresh = native.NativeEngine()
    fresh.load(game)  # grounds and writes the cache
    assert list(tmp_path.rglob("*.pkl.z"))
    native._GAMES.clear()
    cached = native.NativeEngine()
    cached.load(game)  # reads it back
    assert cached.game is not fresh.game
    rng = random.Random(0)
    a, b = fresh.reset(), cached.reset()
    for _ in range(40):
        assert a == b
        command = rng.choice(a[1])
        a, b = fresh.step(command), cached.step(command)
    assert a == b


# --- hostile input ----------------------------------------------------------------------------------


@pytest.mark.parametrize("expression", ["__import__('os').system('true')", "o.__class__", "f(o)"])
def test_grammar_expressions_cannot_run_code(expression):
    with pytest.raises(GrammarError, match=r"unsupported|cannot parse"):
        parse_symbols.__wrapped__("{" + expression + "}")


@given(st.text(max_size=60))
@settings(max_examples=200, deadline=None)
def test_symbol_parser_never_crashes_unexpectedly(text):
    try:
        symbols = parse_symbols.__wrapped__(text)
    except GrammarError:
        return
    assert symbols


@pytest.mark.parametrize("text, match", [
    ("(define (domain x)", "unbalanced"),
    ("(define (domain x)))", "unbalanced"),
    ("(foo)", "define"),
    ("(define (domain x) (:derived (p) (q)))", "unsupported domain section"),
])
def test_bad_domains_raise_clear_errors(text, match):
    with pytest.raises(PddlError, match=match):
        parse_domain(text)


def test_bad_problem_and_logic_raise_clear_errors():
    with pytest.raises(PddlError, match="unsupported problem section"):
        parse_problem("(define (problem p) (:constraints x))")
    with pytest.raises(GrammarError, match="cannot read"):
        parse_twl2("action X { template :: \"a\"; feedback :: \"b\"; } garbage")
    with pytest.raises(GrammarError, match="lacks a template"):
        parse_twl2("action X { feedback :: \"b\"; }")


_TOY_DOMAIN = """(define (domain toy) (:types thing box - object)
  (:predicates (kind ?t - thing ?k - object) (in ?t - thing ?b - box) (hot ?t - thing) (near ?b - box))
  (:action put :parameters (?t - thing ?b - box) :precondition (near ?b) :effect (in ?t ?b))
  (:action heat :parameters (?t - thing) :precondition (and) :effect (hot ?t)))"""


def _toy_problem(goal: str) -> str:
    return f"""(define (problem p) (:domain toy)
      (:objects a1 a2 c1 - thing b1 b2 - box apple cup - object)
      (:init (kind a1 apple) (kind a2 apple) (kind c1 cup) (near b1))
      (:goal {goal}))"""


def _goal_instances(goal: str) -> list[tuple[tuple, tuple]]:
    """The toy problem's ground goal instances spelled out: (facts that must hold, that must not), sorted."""
    from hgpo_envs.alfworld.grounding import ground
    from hgpo_envs.alfworld.join_compiler import compile_domain

    g = ground(compile_domain(parse_domain(_TOY_DOMAIN)), parse_problem(_toy_problem(goal)))
    return sorted((tuple(sorted(map(g.codes.fact, pos))), tuple(sorted(map(g.codes.fact, neg))))
                  for pos, neg in g.goal_instances)


def test_goal_instances_are_the_reachable_bindings_of_the_goal():
    # Hand-computed: ?t ranges over the apples a1, a2 (static kind); only b1 is ever near, so in(?t, b2)
    # is unreachable and b2 gives no instance.
    goal = "(exists (?t - thing ?b - box) (and (kind ?t apple) (hot ?t) (in ?t ?b)))"
    assert _goal_instances(goal) == [
        ((("hot", "a1"), ("in", "a1", "b1")), ()),
        ((("hot", "a2"), ("in", "a2", "b1")), ()),
    ]
    # Two distinct apples in b1, and a negated fluent literal: the cup must not be hot. (?x, ?y) = (a1, a2)
    # and (a2, a1) ask for the same facts: one instance.
    goal = ("(exists (?x - thing ?y - thing) (and (kind ?x apple) (kind ?y apple) (not (= ?x ?y))"
            " (in ?x b1) (in ?y b1) (not (hot c1))))")
    assert _goal_instances(goal) == [((("in", "a1", "b1"), ("in", "a2", "b1")), (("hot", "c1"),))]


def test_won_checks_the_ground_goal_instances():
    from hgpo_envs.alfworld.native import NativeGame

    goal = "(exists (?t - thing) (and (kind ?t apple) (hot ?t) (not (hot c1))))"
    game = NativeGame(_TOY_DOMAIN, 'grammar :: """{}""";', _toy_problem(goal))
    assert not game.won(game.init_state)
    assert game.won(game.init_state | game.state_of([("hot", "a2")]))
    assert not game.won(game.init_state | game.state_of([("hot", "a2"), ("hot", "c1")]))
    assert not game.won(game.init_state | game.state_of([("hot", "c1")]))


@pytest.mark.parametrize("action, match", [
    ("(:action a :parameters (?t - thing) :precondition (hot ?x) :effect (hot ?t))",
     r"action a, precondition: variable \?x in \(hot \?x\) is not declared"),
    ("(:action a :parameters (?t - thing) :precondition (and) :effect (in ?t ?b))",
     r"action a, effect: variable \?b"),
    ("(:action a :parameters (?t - thing) :precondition (and) :effect (hot (?t)))",
     r"action a, effect: a list \['\?t'\] where a term of \(hot ...\) belongs"),
    ("(:action a :parameters (?t - thing) :precondition (exists (?b - box) (in ?t ?c)) :effect (hot ?t))",
     r"variable \?c"),
    ("(:action a :parameters (?t - thing) :precondition (and) :effect (not hot))", "expected an atom"),
])
def test_undeclared_variables_and_malformed_atoms_are_named(action, match):
    text = _TOY_DOMAIN.replace("(:action heat", action + " (:action heat")
    with pytest.raises(PddlError, match=match):
        parse_domain(text)


def test_a_goal_with_an_unbound_variable_is_named():
    with pytest.raises(PddlError, match=r"goal: variable \?t in \(hot \?t\) is not declared"):
        parse_problem(_toy_problem("(and (hot ?t))"))
    # bound by exists: fine
    parse_problem(_toy_problem("(exists (?t - thing) (hot ?t))"))


@given(st.text(alphabet=st.sampled_from(list("(); \t\n\x0bxY?-=é")), max_size=80))
@settings(max_examples=300, deadline=None)
def test_pddl_tokens_are_parentheses_and_runs_of_other_characters(text):
    import re

    from hgpo_envs.alfworld.pddl import _tokens

    expected = re.findall(r"\(|\)|[^\s()]+", re.sub(r";[^\n]*", "", text).lower())
    assert _tokens(text) == expected


def test_a_games_grammar_is_its_template_with_the_task_sentence(generated_file):
    from hgpo_envs.alfworld import native
    from hgpo_envs.alfworld.grammar import parse_twl2

    logic = ALFWorldEnv(data_dir=generated_file).game_set.logic
    for task in ("put a clean mug in coffeemachine", "look at bowl under the desklamp, then 2 more",
                 "put a mug (clean) in #coffeemachine#"):  # the last: not plain text, parsed in full
        grammar = logic.game(task, "", None)["grammar"]
        assert native._text_logic(grammar) == parse_twl2(grammar)


def test_a_cached_reachability_that_does_not_fit_is_grounded_again(generated_file, tmp_path, monkeypatch):
    from hgpo_envs.alfworld import native
    from hgpo_envs.alfworld.game_cache import cache_file, read_cached, write_cached
    from hgpo_envs.alfworld.grounding import Reachability

    monkeypatch.setenv("HGPO_ALFWORLD_CACHE", str(tmp_path))
    game_set = ALFWorldEnv(data_dir=generated_file).game_set
    record = game_set.games[0]
    texts = game_set.logic.game(record.task_desc, record.pddl_problem, record.walkthrough)
    path = cache_file(texts["pddl_domain"], texts["grammar"], texts["pddl_problem"])
    write_cached(path, Reachability(((),), (), ()))  # one conjunct: not this domain's
    native._GAMES.clear()
    engine = native.NativeEngine()
    engine.load(texts)
    obs, admissible, won, _ = engine.reset()
    assert admissible and not won
    assert len(read_cached(path, Reachability).bindings) > 1  # overwritten with the real one
