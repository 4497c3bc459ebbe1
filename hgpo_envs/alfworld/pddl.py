"""A PDDL reader and grounder for ALFWorld's domain (``alfred.pddl``) and problems, standard library only.

Covers what ALFWorld uses: typed objects, predicates, actions with ``and``/``or``/``not``/``exists``/``=``
preconditions, add/delete and ``when`` effects (``increase`` of action costs is ignored), and existential
goals. Names are lower-cased, as fast-downward's reader does.

Grounding (:func:`ground`) follows fast-downward's translation as TextWorld runs it (no relevance
pruning, binary variables): a relaxed reachability fixpoint grounds every operator that can ever apply,
splits disjunctive preconditions into variants, compiles static predicates away, drops effects that
cannot change the state given the variant's precondition (an operator left without effects is dropped),
and an unconditional add wins over a delete of the same atom.
"""

from __future__ import annotations

import itertools
import re
from collections import defaultdict
from dataclasses import dataclass, field

__all__ = ["Action", "Domain", "Grounding", "Operator", "Problem", "ground", "parse_domain", "parse_problem"]

Fact = tuple  # (predicate, arg, ...)
Literal = tuple  # (positive: bool, predicate, terms) with terms variable names ("?x") or constants

_TOKEN_RE = re.compile(r"\(|\)|[^\s()]+")


class PddlError(ValueError):
    """A PDDL text this reader does not understand (the message names the construct)."""


def _sexpr(text: str) -> list:
    text = re.sub(r";[^\n]*", "", text).lower()
    stack: list[list] = [[]]
    for token in _TOKEN_RE.findall(text):
        if token == "(":
            stack.append([])
        elif token == ")":
            if len(stack) == 1:
                raise PddlError("unbalanced ')' in PDDL text")
            done = stack.pop()
            stack[-1].append(done)
        else:
            stack[-1].append(token)
    if len(stack) != 1 or len(stack[0]) != 1:
        raise PddlError("unbalanced parentheses in PDDL text")
    return stack[0][0]


def _typed_list(items: list) -> list[tuple[str, str]]:
    """``?a ?b - t ?c - u`` -> [(?a, t), (?b, t), (?c, u)]; untyped names get ``object``."""
    out: list[tuple[str, str]] = []
    pending: list[str] = []
    i = 0
    while i < len(items):
        item = items[i]
        if item == "-":
            if i + 1 >= len(items) or not isinstance(items[i + 1], str):
                raise PddlError(f"a '-' without a type in {items}")
            out += [(name, items[i + 1]) for name in pending]
            pending = []
            i += 2
            continue
        if not isinstance(item, str):
            raise PddlError(f"unexpected list {item} in a typed list")
        pending.append(item)
        i += 1
    out += [(name, "object") for name in pending]
    return out


@dataclass(frozen=True)
class Action:
    name: str
    parameters: tuple[tuple[str, str], ...]
    precondition: object  # formula (nested lists)
    effect: object


@dataclass(frozen=True)
class Domain:
    name: str
    types: dict[str, str]  # type -> parent type ("object" is the root)
    predicates: tuple[str, ...]
    actions: tuple[Action, ...]

    def is_subtype(self, sub: str, sup: str) -> bool:
        seen = set()
        while sub not in seen:
            if sub == sup:
                return True
            seen.add(sub)
            sub = self.types.get(sub, "object")
        return sup == "object"


@dataclass(frozen=True)
class Problem:
    name: str
    objects: dict[str, str]  # name -> type
    init: tuple[Fact, ...]
    goal: object


def parse_domain(text: str) -> Domain:
    tree = _sexpr(text)
    if not (isinstance(tree, list) and tree[:1] == ["define"]):
        raise PddlError("a PDDL domain starts with (define (domain ...)")
    name, types, predicates, actions = "", {}, [], []
    for part in tree[1:]:
        head = part[0]
        if head == "domain":
            name = part[1]
        elif head == ":types":
            types = {t: parent for t, parent in _typed_list(part[1:]) if t != "object"}
        elif head == ":predicates":
            predicates = [p[0] for p in part[1:]]
        elif head == ":action":
            fields = dict(zip(part[2::2], part[3::2], strict=False))
            params = tuple(_typed_list(fields.get(":parameters", [])))
            actions.append(Action(part[1], params, fields.get(":precondition", []), fields.get(":effect", [])))
        elif head in (":requirements", ":functions", ":constants"):
            continue
        else:
            raise PddlError(f"unsupported domain section {head}")
    return Domain(name, types, tuple(predicates), tuple(actions))


def parse_problem(text: str) -> Problem:
    tree = _sexpr(text)
    if not (isinstance(tree, list) and tree[:1] == ["define"]):
        raise PddlError("a PDDL problem starts with (define (problem ...)")
    name, objects, init, goal = "", {}, [], []
    for part in tree[1:]:
        head = part[0]
        if head == "problem":
            name = part[1]
        elif head == ":objects":
            objects = dict(_typed_list(part[1:]))
        elif head == ":init":
            for atom in part[1:]:
                if atom and atom[0] == "=":  # numeric fluents (distances, costs): not facts
                    continue
                if not all(isinstance(a, str) for a in atom):
                    raise PddlError(f"unsupported init entry {atom}")
                init.append(tuple(atom))
        elif head == ":goal":
            goal = part[1]
        elif head in (":domain", ":metric", ":requirements"):
            continue
        else:
            raise PddlError(f"unsupported problem section {head}")
    return Problem(name, objects, tuple(dict.fromkeys(init)), goal)


# ---------------------------------------------------------------------------------------------------
# Formulas -> disjunctive normal form: a list of (literals, existential variables).


def _rename(formula, mapping: dict[str, str]):
    if isinstance(formula, str):
        return mapping.get(formula, formula)
    return [_rename(f, mapping) for f in formula]


_fresh = itertools.count()


def dnf(formula, negate: bool = False) -> list[tuple[list[Literal], list[tuple[str, str]]]]:
    """Conjunctions of literals (with their existential variables) whose disjunction is ``formula``."""
    if formula == [] or formula is None:
        return [([], [])] if not negate else []
    head = formula[0]
    if head in ("and", "or"):
        conj = (head == "and") != negate
        parts = [dnf(f, negate) for f in formula[1:]]
        if not conj:
            return [c for p in parts for c in p]
        out = [([], [])]
        for p in parts:
            out = [(a + b, va + vb) for a, va in out for b, vb in p]
        return out
    if head == "not":
        return dnf(formula[1], not negate)
    if head == "exists":
        if negate:
            raise PddlError("negated 'exists' is not supported")
        variables = _typed_list(formula[1])
        mapping = {v: f"{v}@{next(_fresh)}" for v, _ in variables}
        body = _rename(formula[2], mapping)
        return [(lits, [(mapping[v], t) for v, t in variables] + ev) for lits, ev in dnf(body)]
    if head in ("forall", "imply", "when"):
        raise PddlError(f"'{head}' in a condition is not supported")
    if not all(isinstance(a, str) for a in formula):
        raise PddlError(f"unsupported condition {formula}")
    return [([(not negate, head, tuple(formula[1:]))], [])]


def _effects(formula) -> tuple[list[tuple], list[tuple], list[tuple]]:
    """(adds, deletes, conditional) where adds/deletes are (pred, terms) and conditional entries are
    (condition formula, adds, deletes)."""
    adds, dels, conds = [], [], []
    if not formula:
        return adds, dels, conds
    head = formula[0]
    if head == "and":
        for f in formula[1:]:
            a, d, c = _effects(f)
            adds += a
            dels += d
            conds += c
    elif head == "not":
        atom = formula[1]
        dels.append((atom[0], tuple(atom[1:])))
    elif head == "when":
        a, d, c = _effects(formula[2])
        if c:
            raise PddlError("nested 'when' effects are not supported")
        conds.append((formula[1], a, d))
    elif head in ("increase", "decrease", "assign"):
        pass
    elif head == "forall":
        raise PddlError("'forall' effects are not supported")
    else:
        adds.append((head, tuple(formula[1:])))
    return adds, dels, conds


# ---------------------------------------------------------------------------------------------------
# Grounding


@dataclass
class Operator:
    """A ground action: ``name`` and ``args`` (one per parameter), its precondition variants (each a
    tuple of (fact, required truth) over non-static facts) with the effects of each variant."""

    name: str
    args: tuple[str, ...]
    variants: list[tuple[tuple[tuple[Fact, bool], ...], tuple[Fact, ...], tuple[Fact, ...], tuple]] = field(
        default_factory=list
    )


@dataclass
class Grounding:
    """Everything fixed for one problem: static facts, fluent predicates, operators, the goal."""

    objects: dict[str, str]
    init: frozenset
    static: frozenset
    fluents: frozenset  # predicates that some effect changes
    operators: list[Operator]
    goal: list[tuple[list[Literal], list[tuple[str, str]]]]
    #: The goal grounded: per reachable binding, (fluent facts that must hold, fluent facts that must not).
    goal_instances: list[tuple[tuple[Fact, ...], tuple[Fact, ...]]] = field(default_factory=list)


def _bind(term: str, binding: dict[str, str]) -> str:
    return binding[term] if term.startswith("?") else term


class _FactIndex:
    """Facts by predicate, indexed by the values at any set of argument positions (built on demand)."""

    def __init__(self) -> None:
        self.by_pred: dict[str, list] = defaultdict(list)
        self._index: dict[tuple[str, tuple[int, ...]], dict[tuple, list]] = {}

    def add(self, fact: tuple) -> None:
        self.by_pred[fact[0]].append(fact)
        for (pred, positions), table in self._index.items():
            if pred == fact[0]:
                table.setdefault(tuple(fact[p] for p in positions), []).append(fact)

    def lookup(self, pred: str, positions: tuple[int, ...], values: tuple) -> list:
        if not positions:
            return self.by_pred.get(pred, [])
        key = (pred, positions)
        table = self._index.get(key)
        if table is None:
            table = {}
            for fact in self.by_pred.get(pred, ()):
                table.setdefault(tuple(fact[p] for p in positions), []).append(fact)
            self._index[key] = table
        return table.get(values, [])


def _join(
    literals: list[Literal], variables: list[tuple[str, str]], facts: _FactIndex, objects_by_type,
    static: frozenset, fluents: frozenset, type_ok,
):
    """Bindings of ``variables`` under which every positive literal is among the known facts and every
    static negative literal / equality holds. Yields dicts."""
    positives = [lit for lit in literals if lit[0] and lit[1] != "="]
    checks = [lit for lit in literals if not lit[0] or lit[1] == "="]
    var_types = dict(variables)
    # Greedy join order: literals sharing bound variables first, then the fewest facts.
    order, bound = [], set()
    remaining = list(positives)
    while remaining:
        best = min(remaining, key=lambda lit: (
            not any(t in bound for t in lit[2]) if bound else False, len(facts.by_pred.get(lit[1], ()))))
        remaining.remove(best)
        order.append(best)
        bound.update(t for t in best[2] if t.startswith("?"))

    # Each check runs once, at the depth where its last variable gets bound (depth len(order): free vars).
    depth_of: dict[str, int] = {}
    for depth, lit in enumerate(order):
        for t in lit[2]:
            if t.startswith("?"):
                depth_of.setdefault(t, depth)
    checks_at: list[list] = [[] for _ in range(len(order) + 1)]
    for lit in checks:
        depth = max((depth_of.get(t, len(order)) for t in lit[2] if t.startswith("?")), default=0)
        checks_at[depth].append(lit)

    def check(binding: dict, lits: list) -> bool:
        for positive, pred, terms in lits:
            args = tuple(binding[t] if t[0] == "?" else t for t in terms)
            if pred == "=":
                if (args[0] == args[1]) != positive:
                    return False
            elif pred not in fluents and ((pred, *args) in static) != positive:
                return False
        return True

    plans = []
    seen_vars: set = set()
    for _, pred, terms in order:
        positions, open_terms = [], []
        for k, term in enumerate(terms):
            if not term.startswith("?") or term in seen_vars:
                positions.append((k + 1, term))
            else:
                open_terms.append((k + 1, term))
                seen_vars.add(term)
        plans.append((pred, tuple(p for p, _ in positions), tuple(t for _, t in positions), tuple(open_terms),
                      len(terms) + 1))
    free = [v for v, _ in variables if v not in seen_vars]
    last_checks = checks_at[len(order)]

    def rec(i: int, binding: dict):
        if i == len(order):
            if not free:
                if check(binding, last_checks):
                    yield dict(binding)
                return
            domains = [objects_by_type(var_types[v]) for v in free]
            for values in itertools.product(*domains):
                full = dict(binding)
                full.update(zip(free, values, strict=True))
                if check(full, last_checks):
                    yield full
            return
        pred, positions, terms_at, open_terms, arity = plans[i]
        values = tuple(binding[t] if t[0] == "?" else t for t in terms_at)
        here = checks_at[i]
        for fact in facts.lookup(pred, positions, values):
            if len(fact) != arity:
                continue
            ok = True
            for k, term in open_terms:
                if not type_ok(var_types[term], fact[k]):
                    ok = False
                    break
                binding[term] = fact[k]
            if ok and (not here or check(binding, here)):
                yield from rec(i + 1, binding)
            for _, term in open_terms:
                binding.pop(term, None)

    yield from rec(0, {})


def ground(domain: Domain, problem: Problem) -> Grounding:
    """Ground every operator of ``domain`` that can apply in some state reachable from ``problem``'s
    initial state (relaxed reachability, as fast-downward grounds)."""
    objects = problem.objects
    by_type: dict[str, list[str]] = defaultdict(list)
    for name, type_ in objects.items():
        by_type[type_].append(name)

    def objects_of(type_: str) -> list[str]:
        return [o for t, names in by_type.items() if domain.is_subtype(t, type_) for o in names]

    def type_ok(type_: str, value: str) -> bool:
        t = objects.get(value)
        return t is not None and domain.is_subtype(t, type_)

    schemas = []
    fluents: set[str] = set()
    for action in domain.actions:
        adds, dels, conds = _effects(action.effect)
        fluents.update(p for p, _ in adds + dels)
        for _, a, d in conds:
            fluents.update(p for p, _ in a + d)
        schemas.append((action, dnf(action.precondition), adds, dels, conds))
    fluents_f = frozenset(fluents)
    init = frozenset(problem.init)
    static = frozenset(f for f in init if f[0] not in fluents_f)

    reachable: set = set(init)
    facts_by_pred = _FactIndex()
    for f in sorted(init):
        facts_by_pred.add(f)
    grounded: dict[tuple, dict] = {}
    # A conjunct is joined again only when a predicate of its positive literals gained facts since.
    version: dict[str, int] = defaultdict(int)
    last_seen: dict[tuple[str, int], tuple] = {}
    changed = True
    while changed:
        changed = False
        for action, conjuncts, adds, _dels, conds in schemas:
            for index, (literals, exist_vars) in enumerate(conjuncts):
                inputs = tuple(version[lit[1]] for lit in literals if lit[0] and lit[1] != "=")
                if last_seen.get((action.name, index)) == inputs:
                    continue
                last_seen[(action.name, index)] = inputs
                variables = list(action.parameters) + exist_vars
                for binding in _join(literals, variables, facts_by_pred, objects_of, static, fluents_f, type_ok):
                    args = tuple(binding[p] for p, _ in action.parameters)
                    key = (action.name, args, index, tuple(binding[v] for v, _ in exist_vars))
                    if key in grounded:
                        continue
                    grounded[key] = binding
                    new_facts = [(p, *(_bind(t, binding) for t in terms)) for p, terms in adds]
                    for _, a, _ in conds:
                        new_facts += [(p, *(_bind(t, binding) for t in terms)) for p, terms in a]
                    for fact in new_facts:
                        if fact not in reachable:
                            reachable.add(fact)
                            facts_by_pred.add(fact)
                            version[fact[0]] += 1
                            changed = True

    operators: dict[tuple[str, tuple], Operator] = {}
    schema_by_name = {s[0].name: s for s in schemas}
    interned: dict[tuple, tuple] = {f: f for f in reachable}  # one tuple object per fact: less memory
    for (name, args, index, _), binding in grounded.items():
        action, conjuncts, adds, dels, conds = schema_by_name[name]
        literals, _ = conjuncts[index]
        pre: dict[Fact, bool] = {}
        feasible = True
        for positive, pred, terms in literals:
            if pred == "=" or pred not in fluents_f:
                continue  # checked while grounding
            fact = (pred, *(_bind(t, binding) for t in terms))
            fact = interned.setdefault(fact, fact)
            if positive and fact not in reachable:
                feasible = False
                break
            if pre.get(fact, positive) != positive:
                feasible = False
                break
            pre[fact] = positive
        if not feasible:
            continue
        add = [interned.setdefault(f, f) for f in ((p, *(_bind(t, binding) for t in terms)) for p, terms in adds)]
        delete = [interned.setdefault(f, f) for f in ((p, *(_bind(t, binding) for t in terms)) for p, terms in dels)]
        add_set = set(add)
        delete = [f for f in delete if f not in add_set]
        # Effects that cannot change the state given the precondition are dropped (fast-downward).
        add = tuple(dict.fromkeys(f for f in add if pre.get(f) is not True))
        delete = tuple(dict.fromkeys(f for f in delete if pre.get(f) is not False))
        conditional = []
        for cond, a, d in conds:
            conditional.append((
                dnf(_rename(cond, {})),
                tuple((p, *(_bind(t, binding) for t in terms)) for p, terms in a),
                tuple((p, *(_bind(t, binding) for t in terms)) for p, terms in d),
                dict(binding),
            ))
        if not add and not delete and not conditional:
            continue
        op = operators.setdefault((name, args), Operator(name, args))
        op.variants.append((tuple(pre.items()), add, delete, tuple(conditional)))
    ordered = sorted(operators.values(), key=lambda op: (op.name, op.args))
    goal = dnf(problem.goal)
    instances = _goal_instances(goal, facts_by_pred, objects_of, static, fluents_f, type_ok, interned)
    return Grounding(
        objects=dict(objects), init=init, static=static, fluents=fluents_f, operators=ordered,
        goal=goal, goal_instances=instances,
    )


#: Ground goal instances a problem may have before :func:`ground` refuses it.
MAX_GOAL_INSTANCES = 100_000


def _goal_instances(goal, facts: _FactIndex, objects_of, static, fluents, type_ok, interned: dict) -> list:
    """Every binding of the goal's variables whose positive literals are reachable and whose static
    literals hold, as (fluent facts that must hold, fluent facts that must not), without repeats."""
    instances: dict[tuple, None] = {}
    for literals, variables in goal:
        for binding in _join(literals, variables, facts, objects_of, static, fluents, type_ok):
            pos, neg = [], []
            for positive, pred, terms in literals:
                if pred == "=" or pred not in fluents:
                    continue  # checked by the join
                fact = (pred, *(_bind(t, binding) for t in terms))
                (pos if positive else neg).append(interned.setdefault(fact, fact))
            instances[(tuple(dict.fromkeys(pos)), tuple(dict.fromkeys(neg)))] = None
            if len(instances) > MAX_GOAL_INSTANCES:
                raise PddlError(f"the goal has over {MAX_GOAL_INSTANCES:,} ground instances")
    return list(instances)
