"""Grounding a PDDL problem into integer facts and operator rows, as fast-downward's translator grounds it.

:func:`ground` follows fast-downward's translation as TextWorld runs it (no relevance pruning, binary
variables): a relaxed reachability fixpoint grounds every operator that can ever apply, disjunctive
preconditions split into variants, static predicates are compiled away, effects that cannot change the
state given the variant's precondition are dropped (an operator left without effects is dropped) and an
unconditional add wins over a delete of the same atom. The joins run as functions compiled once per domain
(:mod:`hgpo_envs.alfworld.join_compiler`); the goal, different in every problem, is joined by a small
interpreter (:func:`goal_instances`).

Facts are integers (:class:`FactCodes`), whose order is the order of the fact tuples, so that a sorted list
of codes lists facts as TextWorld sorts them.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Callable
from dataclasses import dataclass

from hgpo_envs.alfworld.join_compiler import CompiledDomain
from hgpo_envs.alfworld.pddl import PddlError, Problem, dnf, effects, rename

__all__ = ["MAX_GOAL_INSTANCES", "FactCodes", "Grounding", "Reachability", "World", "goal_instances", "ground"]

Fact = tuple  # (predicate, name, ...)

#: Ground goal instances a problem may have before :func:`ground` refuses it.
MAX_GOAL_INSTANCES = 100_000


class FactCodes:
    """Facts as integers: names numbered 1.. and predicates 0.. in sorted order, a fact's code
    ``pred * base**arity + sum(name_i * base**(arity - 1 - i))`` (``base`` = names + 1, so a missing
    argument counts 0 and a shorter fact sorts first, as tuples do).

    >>> codes = FactCodes(("at", "holds"), ("", "a", "b"), 2)
    >>> codes.code(("holds", "a", "b")), codes.fact(14), codes.code(("at", "b"))
    (14, ('holds', 'a', 'b'), 6)
    """

    def __init__(self, preds: tuple[str, ...], names: tuple[str, ...], arity: int) -> None:
        self.preds, self.names, self.arity = preds, names, arity  # names[0] is "" (no name)
        base = len(names)
        self._pred_rank = {p: i for i, p in enumerate(preds)}
        self._name_id = {n: i for i, n in enumerate(names) if i}
        self.span = base ** arity  # codes per predicate
        self.weights = tuple(base ** (arity - 1 - k) for k in range(arity))

    @property
    def limit(self) -> int:
        """One more than the largest code."""
        return len(self.preds) * self.span

    def name_id(self, name: str) -> int:
        """The number of a name (``KeyError`` for an unknown one)."""
        return self._name_id[name]

    def name_ids(self) -> dict[str, int]:
        """Every name's number (a view: do not change it)."""
        return self._name_id

    def knows(self, pred: str, arity: int) -> bool:
        """Whether facts of ``pred`` with ``arity`` arguments have codes."""
        return pred in self._pred_rank and arity <= self.arity

    def pred_bases(self) -> tuple[int, ...]:
        return tuple(i * self.span for i in range(len(self.preds)))

    def code(self, fact: Fact) -> int:
        """The code of ``(pred, name, ...)``; ``KeyError`` for an unknown predicate or name or too many names."""
        if len(fact) - 1 > self.arity:
            raise KeyError(fact)
        return self.code_of_ids(fact[0], tuple(map(self._name_id.__getitem__, fact[1:])))

    def code_of_ids(self, pred: str, ids: tuple[int, ...]) -> int:
        """The code of ``pred`` over name numbers (at most :attr:`arity` of them)."""
        return self._pred_rank[pred] * self.span + sum(map(operator.mul, ids, self.weights))

    def pred_range(self, pred: str) -> tuple[int, int]:
        """Codes ``[low, high)`` of the predicate's facts."""
        low = self._pred_rank[pred] * self.span
        return low, low + self.span

    def fact(self, code: int) -> Fact:
        """The fact of a code: ``(pred, name, ...)``."""
        rank, rest = divmod(code, self.span)
        names = []
        for weight in self.weights:
            digit, rest = divmod(rest, weight)
            if not digit:
                break
            names.append(self.names[digit])
        return (self.preds[rank], *names)


class World:
    """One problem's facts while grounding: the numbers the compiled functions read, every known fact as a
    code (``known``: static and reachable) and as argument ids per relation, with the indexes the joins use."""

    def __init__(self, compiled: CompiledDomain, problem: Problem, codes: FactCodes) -> None:
        self.compiled = compiled
        self.codes = codes
        domain = compiled.domain
        self.pred_bases = codes.pred_bases()
        self.weights = codes.weights
        self.constants = tuple(codes.name_id(c) for c in compiled.constants)
        by_type: dict[str, list[int]] = {}
        for name, type_ in problem.objects.items():
            by_type.setdefault(type_, []).append(codes.name_id(name))
        self.objects_of = tuple(
            tuple(i for t, ids in by_type.items() if domain.is_subtype(t, wanted) for i in ids)
            for wanted in compiled.types
        )
        self.members = tuple(frozenset(ids) for ids in self.objects_of)
        self.facts: dict[tuple[str, int], list[tuple[int, ...]]] = {}  # (pred, arity) -> argument ids
        self.known: set[int] = set()
        self.relations = [self.facts.setdefault(key, []) for key in compiled.relations]
        self.indexes: list[dict] = [{} for _ in compiled.indexes]
        self._indexes_of: list[list[tuple[dict, tuple[int, ...]]]] = [[] for _ in compiled.relations]
        for (relation, positions), table in zip(compiled.indexes, self.indexes, strict=True):
            self._indexes_of[relation].append((table, positions))
        self._relation_of = {key: i for i, key in enumerate(compiled.relations)}
        self._conditional: dict[str, Callable] = {}
        self._fact_sets: dict[tuple[str, int], set] = {}  # for static literals only: not updated
        self._facts_at: dict[tuple[str, int, int], dict] = {}  # for the goal, once grounded
        self.problem = problem

    def add_init(self, facts: tuple[Fact, ...]) -> None:
        """Enter the initial facts (their codes when the domain knows their predicate)."""
        lookup = self.codes.name_ids().__getitem__
        groups: dict[tuple[str, int], list[tuple[int, ...]]] = {}
        for fact in facts:
            ids = tuple(map(lookup, fact[1:]))
            found = groups.get((fact[0], len(ids)))
            if found is None:
                groups[(fact[0], len(ids))] = [ids]
            else:
                found.append(ids)
        for (pred, arity), group in groups.items():
            self.facts.setdefault((pred, arity), []).extend(group)
            relation = self._relation_of.get((pred, arity))
            if relation is not None:
                for table, positions in self._indexes_of[relation]:
                    _index_all(table, positions, group)
            if self.codes.knows(pred, arity):  # code_of_ids, with the predicate's base found once
                base = self.codes.pred_range(pred)[0]
                self.known.update(base + sum(map(operator.mul, ids, self.weights)) for ids in group)

    def fact_set(self, pred: str, arity: int) -> set[tuple[int, ...]]:
        """The argument ids of the known facts of ``pred`` with ``arity`` arguments, as a set."""
        key = (pred, arity)
        found = self._fact_sets.get(key)
        if found is None:
            found = self._fact_sets[key] = set(self.facts.get(key, ()))
        return found

    def facts_at(self, pred: str, arity: int, position: int) -> dict[int, list[tuple[int, ...]]]:
        """The known facts of ``pred`` with ``arity`` arguments by their id at ``position`` (once grounded:
        not updated)."""
        key = (pred, arity, position)
        found = self._facts_at.get(key)
        if found is None:
            found = self._facts_at[key] = {}
            for ids in self.facts.get((pred, arity), ()):
                found.setdefault(ids[position], []).append(ids)
        return found

    def add_reached(self, added: list[tuple[int, tuple[int, ...], int]]) -> None:
        """Enter facts a join found reachable (their codes are already known): ``(relation, ids, code)`` each."""
        by_relation: dict[int, list[tuple[int, ...]]] = {}
        for relation, ids, _ in added:
            by_relation.setdefault(relation, []).append(ids)
        for relation, group in by_relation.items():
            self.relations[relation].extend(group)
            for table, positions in self._indexes_of[relation]:
                _index_all(table, positions, group)

    def conditional_effects(self, action: str) -> Callable[[tuple], tuple]:
        """A function from a binding of ``action``'s parameters (ids) to its ``when`` effects:
        ``(disjuncts, added codes, deleted codes)`` each, a disjunct ``(positive codes, negative codes)``
        over fluent facts, statically false disjuncts dropped (judged on the state before the action)."""
        found = self._conditional.get(action)
        if found is None:
            found = self._conditional[action] = self._make_conditional(action)
        return found

    def _make_conditional(self, name: str) -> Callable[[tuple], tuple]:
        action = next(a for a in self.compiled.domain.actions if a.name == name)
        params = [v for v, _ in action.parameters]
        _, _, conds = effects(action.effect)
        prepared = [(dnf(rename(cond, {})), adds, dels) for cond, adds, dels in conds]
        fluents, codes, known = self.compiled.fluents, self.codes, self.known

        def code(pred: str, terms: tuple, binding: dict) -> int:
            return codes.code_of_ids(pred, tuple(binding[t] if t.startswith("?") else codes.name_id(t) for t in terms))

        def of_binding(ids: tuple) -> tuple:
            binding = dict(zip(params, ids, strict=False))
            out = []
            for conjuncts, adds, dels in prepared:
                disjuncts = []
                for literals, exists in conjuncts:
                    if exists:
                        raise PddlError(f"action {name}: 'exists' in a 'when' condition is not supported")
                    pos, neg, possible = [], [], True
                    for positive, pred, terms in literals:
                        if pred == "=":
                            values = [binding[t] if t.startswith("?") else codes.name_id(t) for t in terms]
                            possible = (values[0] == values[1]) == positive
                        elif pred not in fluents:
                            possible = (code(pred, terms, binding) in known) == positive
                        else:
                            (pos if positive else neg).append(code(pred, terms, binding))
                        if not possible:
                            break
                    if possible:
                        disjuncts.append((frozenset(pos), frozenset(neg)))
                out.append((tuple(disjuncts), tuple(code(p, t, binding) for p, t in adds),
                            tuple(code(p, t, binding) for p, t in dels)))
            return tuple(out)

        return of_binding


@dataclass(frozen=True)
class Reachability:
    """What relaxed reachability finds for one problem, the costly part of grounding (what the disk cache
    stores; the rest is derived from it and the texts in a few milliseconds)."""

    #: Per compiled conjunct (in :attr:`CompiledDomain.conjuncts` order), its bindings: parameter then
    #: existential ids.
    bindings: tuple[tuple[tuple[int, ...], ...], ...]
    reached: tuple[int, ...]  # codes of the fluent facts found reachable (beyond the initial ones)
    #: Per reachable binding of the goal: (fluent codes that must hold, fluent codes that must not).
    goal_instances: tuple[tuple[frozenset, frozenset], ...]


@dataclass
class Grounding:
    """Everything fixed for one problem: its names and fact codes, the initial fluent facts, operator rows
    (sorted by action name, then arguments as names sort, then variant), the goal and its ground instances."""

    objects: dict[str, str]  # name -> declared type
    codes: FactCodes
    fluents: frozenset[str]
    init_facts: tuple[Fact, ...]  # the problem's :init, as written (lower-cased)
    static: frozenset[Fact]  # initial facts of predicates no effect changes
    init: frozenset[int]  # codes of the initial fluent facts
    #: (action rank, argument ids, conjunct index, existential ids, positive codes, negative codes, added
    #: codes, deleted codes, conditional effects, anchor code) per operator variant; the anchor is the
    #: positive fluent precondition to index the variant by (-1: none).
    rows: list[tuple]
    action_names: tuple[str, ...]
    goal: list[tuple[list, list[tuple[str, str]]]]
    #: Per reachable binding of the goal: (fluent codes that must hold, fluent codes that must not).
    goal_instances: tuple[tuple[frozenset, frozenset], ...]
    #: Every fluent fact a state can hold (initial, reachable, deleted), sorted.
    universe: list[int]
    reachability: Reachability | None = None


def _index_all(table: dict, positions: tuple[int, ...], group: list[tuple[int, ...]]) -> None:
    """Add argument-id tuples to an index by their ids at ``positions`` (one position: the id itself)."""
    if len(positions) == 1:
        (p,) = positions
        for ids in group:
            found = table.get(ids[p])
            if found is None:
                table[ids[p]] = [ids]
            else:
                found.append(ids)
        return
    for ids in group:
        key = tuple([ids[p] for p in positions])
        found = table.get(key)
        if found is None:
            table[key] = [ids]
        else:
            found.append(ids)


def _names(compiled: CompiledDomain, problem: Problem, goal: list) -> tuple[str, ...]:
    """Every name a fact or a literal may hold: objects, initial facts' arguments, constants of the domain
    and of the goal; sorted, after the empty name 0."""
    names = set(problem.objects) | set(compiled.constants)
    for fact in problem.init:
        names.update(fact[1:])

    for literals, _ in goal:
        for _, _, terms in literals:
            names.update(t for t in terms if not t.startswith("?"))
    return ("", *sorted(names))


def _reach(compiled: CompiledDomain, world: World, reached: list[int]) -> list[dict]:
    """The relaxed-reachability fixpoint: per conjunct, its bindings (a dict used as an ordered set); the
    codes of the facts found reachable are appended to ``reached``. A conjunct is joined again only when a
    relation of its positive literals gained facts since."""
    seen: list[dict] = [{} for _ in compiled.conjuncts]
    version = [0] * len(compiled.relations)
    last: list[tuple | None] = [None] * len(compiled.conjuncts)
    changed = True
    while changed:
        changed = False
        for i, conjunct in enumerate(compiled.conjuncts):
            inputs = tuple(version[r] for r in conjunct.relations)
            if last[i] == inputs:
                continue
            last[i] = inputs
            added: list = []
            conjunct.join(world, seen[i], added)
            if added:
                changed = True
                world.add_reached(added)
                for relation, _, code in added:
                    version[relation] += 1
                    reached.append(code)
    return seen


def ground(compiled: CompiledDomain, problem: Problem, reachability: Reachability | None = None) -> Grounding:
    """Ground every operator of the compiled domain that can apply in some state reachable from
    ``problem``'s initial state (relaxed reachability, as fast-downward grounds), or build the operators
    from a ``reachability`` found before for the same domain and problem."""
    goal = dnf(problem.goal)
    codes = FactCodes(compiled.preds, _names(compiled, problem, goal), compiled.arity)
    fluents = compiled.fluents
    wrong = [f for f in problem.init if f[0] in fluents and len(f) - 1 > compiled.arity]
    if wrong:
        raise PddlError(f"initial fact ({' '.join(wrong[0])}) has more arguments than the domain's predicates")
    world = World(compiled, problem, codes)
    world.add_init(problem.init)
    init = frozenset(codes.code(f) for f in problem.init if f[0] in fluents)
    if reachability is None:
        reached: list[int] = []
        seen = _reach(compiled, world, reached)
        reachability = Reachability(tuple(tuple(s) for s in seen), tuple(reached), goal_instances(world, goal))
    elif len(reachability.bindings) != len(compiled.conjuncts):
        raise ValueError(f"reachability of {len(reachability.bindings)} conjuncts for a domain of "
                         f"{len(compiled.conjuncts)}")
    rows: list[tuple] = []
    for conjunct, bindings in zip(compiled.conjuncts, reachability.bindings, strict=True):
        # In action order, sorted: runs of sorted rows.
        conjunct.build(world, sorted(bindings), rows, _anchor_literal(conjunct.anchor_vars, bindings))
    # Merging the runs: (action rank, argument ids, conjunct, existential ids) never repeat, so the rest of
    # a row is never compared.
    rows.sort()
    universe = set(init)
    universe.update(reachability.reached)
    universe.update(itertools.chain.from_iterable(row[7] for row in rows))
    for row in rows:
        for _, _, deleted in row[8]:
            universe.update(deleted)
    return Grounding(
        objects=dict(problem.objects), codes=codes, fluents=fluents, init_facts=problem.init,
        static=frozenset(f for f in problem.init if f[0] not in fluents), init=init, rows=rows,
        action_names=compiled.action_names, goal=goal, goal_instances=reachability.goal_instances,
        universe=sorted(universe), reachability=reachability,
    )


def _anchor_literal(anchor_vars: tuple[tuple[int, ...], ...], bindings: tuple[tuple[int, ...], ...]) -> int:
    """Which positive fluent literal to index a conjunct's operators by: the one whose facts vary most over
    its bindings, so that each fact holds the fewest operators (ties: the first; 0 without bindings)."""
    if len(anchor_vars) < 2 or not bindings:
        return 0
    columns = list(zip(*bindings, strict=True))
    distinct = [len(set(zip(*(columns[i] for i in positions), strict=True))) if positions else 1
                for positions in anchor_vars]
    return distinct.index(max(distinct))


def _term_value(term: str, binding: dict[str, int], codes: FactCodes) -> int:
    return binding[term] if term.startswith("?") else codes.name_id(term)


def goal_instances(world: World, goal: list) -> tuple[tuple[frozenset, frozenset], ...]:
    """Every binding of the goal's variables whose positive literals are known facts and whose static
    literals hold, as (fluent codes that must hold, fluent codes that must not), without repeats."""
    codes, fluents = world.codes, world.compiled.fluents
    types = {t: frozenset(ids) for t, ids in zip(world.compiled.types, world.objects_of, strict=True)}
    instances: dict[tuple, None] = {}
    for literals, variables in goal:
        var_types = dict(variables)
        members = {v: _type_members(world, types, t) for v, t in variables}
        positives = [lit for lit in literals if lit[0] and lit[1] != "="]
        for binding in _bindings(world, _goal_order(positives), {}, members):
            for var in var_types:
                if var not in binding:
                    break
            else:
                _add_instance(instances, literals, binding, codes, fluents, world.fact_set)
                continue
            free = [v for v in var_types if v not in binding]
            for values in itertools.product(*(sorted(members[v]) for v in free)):
                _add_instance(instances, literals, {**binding, **dict(zip(free, values, strict=True))}, codes,
                              fluents, world.fact_set)
        if len(instances) > MAX_GOAL_INSTANCES:
            raise PddlError(f"the goal has over {MAX_GOAL_INSTANCES:,} ground instances")
    return tuple(instances)


def _type_members(world: World, types: dict[str, frozenset], type_: str) -> frozenset:
    found = types.get(type_)
    if found is None:
        domain = world.compiled.domain
        found = frozenset(world.codes.name_id(n) for n, t in world.problem.objects.items()
                          if domain.is_subtype(t, type_))
        types[type_] = found
    return found


def _goal_order(positives: list) -> list:
    """Literals with the fewest unbound variables first (constants and earlier literals bind), ties in text order."""
    order, bound, remaining = [], set(), list(positives)
    while remaining:
        best = min(remaining, key=lambda lit: len({t for t in lit[2] if t.startswith("?")} - bound))
        remaining.remove(best)
        order.append(best)
        bound.update(t for t in best[2] if t.startswith("?"))
    return order


def _bindings(world: World, positives: list, binding: dict[str, int], members: dict[str, frozenset]):
    """Bindings extending ``binding`` under which every literal of ``positives`` is a known fact (fresh
    dicts); a literal with a bound term reads only the facts with that value there."""
    if not positives:
        yield dict(binding)
        return
    _, pred, terms = positives[0]
    name_id = world.codes.name_ids()
    candidates = world.facts.get((pred, len(terms)), ())
    for k, term in enumerate(terms):
        value = binding.get(term) if term.startswith("?") else name_id.get(term, -1)
        if value is not None:
            candidates = world.facts_at(pred, len(terms), k).get(value, ())
            break
    for ids in candidates:
        extended = dict(binding)
        for term, value in zip(terms, ids, strict=True):
            if term.startswith("?"):
                if extended.setdefault(term, value) != value or value not in members[term]:
                    break
            elif name_id.get(term) != value:
                break
        else:
            yield from _bindings(world, positives[1:], extended, members)


def _add_instance(instances: dict, literals: list, binding: dict[str, int], codes: FactCodes, fluents: frozenset,
                  static_facts: Callable[[str, int], set]) -> None:
    """Record the binding's fluent facts when its equalities and static literals hold."""
    pos, neg = [], []
    for positive, pred, terms in literals:
        values = tuple(_term_value(t, binding, codes) for t in terms)
        if pred == "=":
            if (values[0] == values[1]) != positive:
                return
        elif pred not in fluents:
            if not positive and values in static_facts(pred, len(values)):
                return
        else:
            (pos if positive else neg).append(codes.code_of_ids(pred, values))
    instances[(frozenset(pos), frozenset(neg))] = None
