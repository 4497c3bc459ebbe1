"""The grounder (compiled joins over integer facts) against a plain reference grounder, and the fact codes."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hgpo_envs.alfworld import grounding
from hgpo_envs.alfworld.grounding import FactCodes, ground
from hgpo_envs.alfworld.join_compiler import compile_domain
from hgpo_envs.alfworld.pddl import PddlError, dnf, effects, parse_domain, parse_problem

# A domain exercising what the grounder handles: a type hierarchy, constants in literals, disjunctions (one
# operator, several variants), exists, static and fluent negations, equality, a repeated variable, a
# parameter in no positive literal, a nullary predicate, `when` effects, an add that wins over a delete,
# effects the precondition makes void (an operator left without effects is dropped).
TOY_DOMAIN = """(define (domain toy)
 (:types place thing - object box - thing)
 (:predicates (at ?t - thing ?p - place) (link ?a - place ?b - place) (open ?b - box) (lockable ?b - box)
   (in ?t - thing ?b - box) (held ?t - thing) (handsfull) (lit) (same ?a - thing ?b - thing) (hot ?t - thing))
 (:action move :parameters (?t - thing ?from - place ?to - place)
   :precondition (and (at ?t ?from) (or (link ?from ?to) (link ?to ?from)) (not (= ?from ?to)))
   :effect (and (not (at ?t ?from)) (at ?t ?to)))
 (:action open :parameters (?b - box ?p - place)
   :precondition (and (at ?b ?p) (not (open ?b)) (not (lockable ?b)))
   :effect (open ?b))
 (:action take :parameters (?t - thing ?b - box)
   :precondition (and (in ?t ?b) (not (handsfull)) (or (not (lockable ?b)) (open ?b)))
   :effect (and (held ?t) (handsfull) (not (in ?t ?b))))
 (:action put :parameters (?t - thing ?b - box)
   :precondition (and (held ?t) (exists (?p - place) (and (at ?b ?p) (at ?t ?p))))
   :effect (and (in ?t ?b) (not (held ?t)) (not (handsfull)) (held ?t)))
 (:action toggle :parameters (?t - thing)
   :precondition (at ?t home)
   :effect (and (when (lit) (not (lit))) (when (and (not (lit)) (not (lockable ?t))) (lit))))
 (:action twin :parameters (?a - thing ?b - thing)
   :precondition (and (same ?a ?a) (hot ?b) (not (= ?a ?b)))
   :effect (hot ?a))
 (:action warm :parameters (?t - thing ?p - place)
   :precondition (and (at ?t home) (not (hot ?t)))
   :effect (and (hot ?t) (not (hot ?t)) (at ?t ?p)))
 (:action keep :parameters (?t - thing)
   :precondition (held ?t)
   :effect (held ?t)))"""

OBJECTS = {"home": "place", "p1": "place", "p2": "place", "t1": "thing", "t2": "thing", "b1": "box", "b2": "box"}
#: Initial facts a problem may have (hypothesis picks a subset).
CANDIDATES = sorted({
    *(("at", t, p) for t in ("t1", "t2", "b1", "b2") for p in ("home", "p1", "p2")),
    *(("link", a, b) for a in ("home", "p1", "p2") for b in ("home", "p1", "p2")),
    ("lockable", "b1"), ("lockable", "t1"), ("open", "b2"), ("in", "t1", "b1"), ("in", "t2", "b2"),
    ("in", "b2", "b1"), ("held", "t2"), ("handsfull",), ("lit",), ("same", "t1", "t1"), ("same", "b1", "b1"),
    ("same", "t2", "t1"), ("hot", "t2"), ("hot", "b2"),
})


def _problem_text(init: list[tuple], goal: str = "(and)") -> str:
    objects = " ".join(f"{name} - {type_}" for name, type_ in OBJECTS.items())
    facts = " ".join(f"({' '.join(f)})" for f in init)
    return f"(define (problem p) (:domain toy) (:objects {objects}) (:init {facts}) (:goal {goal}))"


# --- the reference: every type-correct binding, checked literal by literal, to a fixpoint -------------


def _objects_of(domain, objects: dict[str, str], type_: str) -> list[str]:
    return sorted(o for o, t in objects.items() if domain.is_subtype(t, type_))


def _value(term: str, binding: dict[str, str]) -> str:
    return binding.get(term, term)


def _fact(pred: str, terms, binding: dict[str, str]) -> tuple:
    return (pred, *(_value(t, binding) for t in terms))


def _relaxed_holds(literals, binding, reachable: set, static: set, fluents) -> bool:
    for positive, pred, terms in literals:
        if pred == "=":
            if (_value(terms[0], binding) == _value(terms[1], binding)) != positive:
                return False
        elif positive and _fact(pred, terms, binding) not in reachable:
            return False
        elif not positive and pred not in fluents and _fact(pred, terms, binding) in static:
            return False
    return True


def _decide(literals, binding, static: set, fluents) -> tuple[frozenset, frozenset] | None:
    """A condition's fluent facts (must hold, must not) with its static literals decided; None when false."""
    pos, neg = set(), set()
    for positive, pred, terms in literals:
        if pred == "=":
            if (_value(terms[0], binding) == _value(terms[1], binding)) != positive:
                return None
        elif pred not in fluents:
            if (_fact(pred, terms, binding) in static) != positive:
                return None
        else:
            (pos if positive else neg).add(_fact(pred, terms, binding))
    return frozenset(pos), frozenset(neg)


def reference_ground(domain_text: str, problem_text: str) -> list[tuple]:
    """Variant rows in names: (action, args, conjunct, existential values, positive facts, negative facts,
    added facts, deleted facts, conditional effects), sorted as the grounder sorts them."""
    domain, problem = parse_domain(domain_text), parse_problem(problem_text)
    objects = problem.objects
    schemas = []
    fluents = set()
    for action in domain.actions:
        adds, dels, conds = effects(action.effect)
        fluents.update(p for p, _ in adds + dels + [e for _, a, d in conds for e in a + d])
        schemas.append((action, dnf(action.precondition), adds, dels, conds))
    static = {f for f in problem.init if f[0] not in fluents}
    reachable = set(problem.init)
    bindings: dict[tuple, dict] = {}
    changed = True
    while changed:
        changed = False
        for action, conjuncts, adds, _, conds in schemas:
            for index, (literals, exists) in enumerate(conjuncts):
                variables = list(action.parameters) + exists
                for values in itertools.product(*(_objects_of(domain, objects, t) for _, t in variables)):
                    binding = dict(zip((v for v, _ in variables), values, strict=True))
                    if not _relaxed_holds(literals, binding, reachable, static, fluents):
                        continue
                    bindings[(action.name, values[:len(action.parameters)], index, values[len(action.parameters):])] = binding
                    for pred, terms in adds + [a for _, cond_adds, _ in conds for a in cond_adds]:
                        fact = _fact(pred, terms, binding)
                        if fact not in reachable:
                            reachable.add(fact)
                            changed = True
    rows = []
    by_name = {s[0].name: s for s in schemas}
    for (name, args, index, exists), binding in sorted(bindings.items()):
        action, conjuncts, adds, dels, conds = by_name[name]
        pos, neg = _decide([lit for lit in conjuncts[index][0] if lit[1] in fluents], binding, static, fluents)
        if pos & neg:
            continue
        added = [_fact(p, t, binding) for p, t in adds]
        deleted = [f for f in (_fact(p, t, binding) for p, t in dels) if f not in added and f not in neg]
        added = [f for f in added if f not in pos]
        conditional = tuple(
            (tuple(d for d in (_decide(lits, binding, static, fluents) for lits, _ in dnf(cond)) if d is not None),
             tuple(_fact(p, t, binding) for p, t in a), tuple(_fact(p, t, binding) for p, t in d))
            for cond, a, d in conds
        )
        if not added and not deleted and not conditional:
            continue
        rows.append((name, args, index, exists, pos, neg, tuple(dict.fromkeys(added)), tuple(dict.fromkeys(deleted)),
                     conditional))
    return rows


def _grounded_rows(domain_text: str, problem_text: str) -> list[tuple]:
    """:func:`ground`'s rows spelled out in names, as :func:`reference_ground` gives them."""
    g = ground(compile_domain(parse_domain(domain_text)), parse_problem(problem_text))
    fact, names = g.codes.fact, g.codes.names
    return [
        (g.action_names[rank], tuple(names[i] for i in args), index, tuple(names[i] for i in exists),
         frozenset(map(fact, pos)), frozenset(map(fact, neg)), tuple(map(fact, add)), tuple(map(fact, delete)),
         tuple((tuple((frozenset(map(fact, p)), frozenset(map(fact, n))) for p, n in disjuncts),
                tuple(map(fact, c_add)), tuple(map(fact, c_del))) for disjuncts, c_add, c_del in conditional))
        for rank, args, index, exists, pos, neg, add, delete, conditional, _ in g.rows
    ]


def test_a_hand_checked_problem():
    init = [("at", "t1", "p1"), ("in", "t1", "b1"), ("link", "p1", "home"), ("at", "b1", "home"), ("in", "t2", "b1")]
    rows = _grounded_rows(TOY_DOMAIN, _problem_text(init))
    assert rows == reference_ground(TOY_DOMAIN, _problem_text(init))
    by_op = {(r[0], r[1], r[2]): r for r in rows}  # (action, args, conjunct) -> row
    # t1 walks p1 -> home by the link read one way (conjunct 0 of the `or`; conjunct 1 would need
    # (link home p1)), and home -> p1 by it read the other way (conjunct 1 only).
    assert ("move", ("t1", "p1", "home"), 0) in by_op and ("move", ("t1", "p1", "home"), 1) not in by_op
    assert ("move", ("t1", "home", "p1"), 1) in by_op and ("move", ("t1", "home", "p1"), 0) not in by_op
    # b1 is not lockable: open b1 at home; take t2 from it by either conjunct (not lockable, or opened).
    assert by_op[("open", ("b1", "home"), 0)][6] == (("open", "b1"),)
    assert ("take", ("t2", "b1"), 0) in by_op and ("take", ("t2", "b1"), 1) in by_op
    # put t1 in b1 where both are: one variant per existential place (warm moves either anywhere), in
    # order. (held t1) is added back, so its delete goes; the add is void (the precondition requires
    # it). What is left: in b1, hands free.
    puts = [r for r in rows if r[:3] == ("put", ("t1", "b1"), 0)]
    assert [r[3] for r in puts] == [("home",), ("p1",), ("p2",)]
    assert all(r[6] == (("in", "t1", "b1"),) and r[7] == (("handsfull",),) for r in puts)
    assert ("put", ("t2", "b1"), 0) not in by_op  # t2 is never at a place
    # keep's only effect is void: no operator. warm's (hot ?t) wins over its delete and is kept; its
    # place is in no positive literal (every place), and (at t1 home) is void at home.
    assert not any(r[0] == "keep" for r in rows)
    assert by_op[("warm", ("t1", "p1"), 0)][6:8] == ((("hot", "t1"), ("at", "t1", "p1")), ())
    assert by_op[("warm", ("t1", "home"), 0)][6:8] == ((("hot", "t1"),), ())
    # toggle's conditional effects: b1 is not lockable, so both `when` conditions stay possible.
    lit = ("lit",)
    assert by_op[("toggle", ("b1",), 0)][8] == (
        (((frozenset({lit}), frozenset()),), (), (lit,)),  # when (lit): delete it
        (((frozenset(), frozenset({lit})),), (lit,), ()),  # when not lit (and b1 not lockable): add it
    )


@given(st.sets(st.sampled_from(CANDIDATES), max_size=14))
@settings(max_examples=120, deadline=None)
def test_compiled_joins_agree_with_the_reference_grounder(init):
    text = _problem_text(sorted(init))
    assert _grounded_rows(TOY_DOMAIN, text) == reference_ground(TOY_DOMAIN, text)


@given(st.lists(st.tuples(st.sampled_from(["a", "bb", "holds", "z"]),
                          st.lists(st.sampled_from(["x", "y1", "y2", "zz"]), max_size=3)), max_size=30))
@settings(max_examples=200, deadline=None)
def test_fact_codes_sort_as_the_facts_and_decode_back(facts):
    facts = [(pred, *args) for pred, args in facts]
    codes = FactCodes(("a", "bb", "holds", "z"), ("", "x", "y1", "y2", "zz"), 3)
    assert sorted(facts) == [codes.fact(c) for c in sorted(codes.code(f) for f in facts)]
    assert len({codes.code(f) for f in facts}) == len(set(facts))
    assert all(0 <= codes.code(f) < codes.limit for f in facts)


def test_unknown_names_have_no_code():
    codes = FactCodes(("at",), ("", "a"), 2)
    for fact in [("at", "b"), ("on", "a"), ("at", "a", "a", "a")]:
        with pytest.raises(KeyError):
            codes.code(fact)


def test_a_goal_with_too_many_instances_is_refused(monkeypatch):
    monkeypatch.setattr(grounding, "MAX_GOAL_INSTANCES", 1)
    init = [("at", "t1", "home"), ("at", "t2", "home")]
    with pytest.raises(PddlError, match="over 1 ground instances"):
        ground(compile_domain(parse_domain(TOY_DOMAIN)),
               parse_problem(_problem_text(init, "(exists (?t - thing) (hot ?t))")))


def test_compiled_source_is_readable():
    compiled = compile_domain(parse_domain(TOY_DOMAIN))
    source = next(c.source for c in compiled.conjuncts if c.action == "put")
    assert source.startswith("def join(world, seen, added):") and "def build(world, seen, rows, anchor):" in source


def test_the_engine_table_keeps_an_operators_variants_in_order():
    from hgpo_envs.alfworld.native import NativeGame

    init = [("at", "t1", "p1"), ("in", "t1", "b1"), ("link", "p1", "home"), ("at", "b1", "home"), ("in", "t2", "b1")]
    game = NativeGame(TOY_DOMAIN, 'grammar :: """{}""";', _problem_text(init))
    rows = _grounded_rows(TOY_DOMAIN, _problem_text(init))
    ops = game.ops
    assert [(op.name, op.args) for op in ops] == list(dict.fromkeys((r[0], r[1]) for r in rows))
    take = next(op for op in ops if (op.name, op.args) == ("take", ("t2", "b1")))
    assert [(game.fact_tuples(v[0]), game.fact_tuples(v[1])) for v in take.variants] == [
        ({("in", "t2", "b1")}, {("handsfull",)}),  # conjunct 0: b1 not lockable (static, compiled away)
        ({("in", "t2", "b1"), ("open", "b1")}, {("handsfull",)}),  # conjunct 1: b1 opened
    ]
    # In a state where both hold, the first variant applies.
    state = game.init_state | game.state_of([("open", "b1")])
    found = dict(((op.name, op.args), variant) for op, variant in game.applicable(state))
    assert found[("take", ("t2", "b1"))] is take.variants[0]
    # put's variants (one per existential place) are only as applicable as their place.
    put = next(op for op in ops if (op.name, op.args) == ("put", ("t1", "b1")))
    held = game.init_state - game.state_of([("in", "t1", "b1")]) | game.state_of([("held", "t1"), ("at", "t1", "home")])
    assert found.get(("put", ("t1", "b1"))) is None
    assert dict(((op.name, op.args), v) for op, v in game.applicable(held))[("put", ("t1", "b1"))] is put.variants[0]


def test_names_never_reach_the_generated_source_as_code():
    # Only numbers and generated identifiers go into the source; a name is at most a quoted string.
    hostile = "a'b\"c\\\\d__import__"
    domain = f"""(define (domain d) (:predicates (p ?x) (q ?x) (lit))
      (:action {hostile} :parameters (?x) :precondition (p ?x) :effect (and (q ?x) (when (lit) (not (lit))))))"""
    compiled = compile_domain(parse_domain(domain))
    assert "__import__" not in compiled.conjuncts[0].source.replace(repr(hostile.lower()), "")
    problem = "(define (problem x) (:domain d) (:objects o1 o2) (:init (p o1) (lit)) (:goal (q o1)))"
    g = ground(compiled, parse_problem(problem))
    assert [(g.action_names[r[0]], [g.codes.names[i] for i in r[1]]) for r in g.rows] == [(hostile.lower(), ["o1"])]


_WHEN_DOMAIN = """(define (domain w) (:types place thing - object)
 (:predicates (at ?t - thing ?p - place) (lit) (big ?t - thing))
 (:action mark :parameters (?t - thing ?p - place) :precondition (at ?t ?p)
   :effect (and (when (and (= ?p home) (not (big ?t))) (lit)) (when (not (= ?p home)) (not (lit))))))"""


def test_when_conditions_decide_equalities_with_constants():
    init = [("at", "t1", "home"), ("at", "t1", "p1"), ("at", "t2", "home"), ("big", "t2")]
    text = _problem_text(init)
    rows = _grounded_rows(_WHEN_DOMAIN, text)
    assert rows == reference_ground(_WHEN_DOMAIN, text)
    lit = ("lit",)
    by_op = {(r[0], r[1]): r[8] for r in rows}
    assert by_op[("mark", ("t1", "home"))] == (
        (((frozenset(), frozenset()),), (lit,), ()),  # at home, t1 not big: lit is added
        ((), (), (lit,)),  # (not (= home home)) is false: never deletes
    )
    assert by_op[("mark", ("t1", "p1"))] == (((), (lit,), ()), (((frozenset(), frozenset()),), (), (lit,)))
    assert by_op[("mark", ("t2", "home"))][0][0] == ()  # t2 is big: the add's condition is false


def test_an_initial_fact_with_too_many_arguments_is_named():
    text = _problem_text([("at", "t1", "home", "p1")])
    with pytest.raises(PddlError, match=r"initial fact \(at t1 home p1\) has more arguments"):
        ground(compile_domain(parse_domain(TOY_DOMAIN)), parse_problem(text))


def test_exists_in_a_when_condition_is_refused_with_its_action():
    domain = """(define (domain e) (:predicates (p ?x) (q ?x) (lit))
      (:action a :parameters (?x) :precondition (p ?x) :effect (when (exists (?y) (q ?y)) (lit))))"""
    problem = "(define (problem x) (:domain e) (:objects o1) (:init (p o1)) (:goal (lit)))"
    with pytest.raises(PddlError, match="action a: 'exists' in a 'when' condition is not supported"):
        ground(compile_domain(parse_domain(domain)), parse_problem(problem))


@pytest.mark.parametrize("precondition, match", [
    ("(= ?x ?x ?x)", r"action a: '=' takes two terms"),
    ("(and " + " ".join(f"(p ?v{i})" for i in range(20)) + ")",
     r"action a: 21 positive literals and free variables in a precondition: too many to compile \(at most 19\)"),
])
def test_preconditions_the_compiler_cannot_take_are_named(precondition, match):
    variables = "?x " + " ".join(f"?v{i}" for i in range(20))
    domain = f"""(define (domain c) (:predicates (p ?x) (q ?x))
      (:action a :parameters ({variables}) :precondition {precondition} :effect (q ?x)))"""
    with pytest.raises(PddlError, match=match):
        compile_domain(parse_domain(domain))
