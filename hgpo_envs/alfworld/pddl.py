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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from operator import itemgetter

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
            action = Action(part[1], params, fields.get(":precondition", []), fields.get(":effect", []))
            bound = frozenset(v for v, _ in params)
            _check_condition(action.precondition, bound, f"action {action.name}, precondition")
            _check_effect(action.effect, bound, f"action {action.name}, effect")
            actions.append(action)
        elif head in (":requirements", ":functions", ":constants"):
            continue
        else:
            raise PddlError(f"unsupported domain section {head}")
    return Domain(name, types, tuple(predicates), tuple(actions))


def _check_atom(atom, bound: frozenset, where: str) -> None:
    """An atom is ``(predicate term ...)`` with string terms whose variables are declared."""
    if not isinstance(atom, list) or not atom or not isinstance(atom[0], str):
        raise PddlError(f"{where}: expected an atom (predicate term ...), got {atom}")
    for term in atom[1:]:
        if not isinstance(term, str):
            raise PddlError(f"{where}: a list {term} where a term of ({atom[0]} ...) belongs")
        if term.startswith("?") and term not in bound:
            raise PddlError(f"{where}: variable {term} in ({' '.join(map(str, atom))}) is not declared")


def _check_condition(formula, bound: frozenset, where: str) -> None:
    """Every atom of a condition well formed, its variables parameters or bound by an enclosing ``exists``."""
    if not formula:
        return
    if not isinstance(formula, list):
        raise PddlError(f"{where}: expected a formula, got {formula!r}")
    head = formula[0]
    if head in ("and", "or"):
        for part in formula[1:]:
            _check_condition(part, bound, where)
    elif head == "not":
        if len(formula) != 2:
            raise PddlError(f"{where}: (not ...) takes one formula, got {formula}")
        _check_condition(formula[1], bound, where)
    elif head == "exists":
        if len(formula) != 3 or not isinstance(formula[1], list):
            raise PddlError(f"{where}: expected (exists (?x - type ...) formula), got {formula}")
        _check_condition(formula[2], bound | {v for v, _ in _typed_list(formula[1])}, where)
    elif head in ("forall", "imply", "when"):
        return  # refused with their own message when the condition is normalised
    else:
        _check_atom(formula, bound, where)


def _check_effect(formula, bound: frozenset, where: str) -> None:
    """Every added or deleted atom of an effect well formed, with declared variables."""
    if not formula:
        return
    if not isinstance(formula, list):
        raise PddlError(f"{where}: expected an effect, got {formula!r}")
    head = formula[0]
    if head == "and":
        for part in formula[1:]:
            _check_effect(part, bound, where)
    elif head == "not":
        if len(formula) != 2:
            raise PddlError(f"{where}: (not ...) takes one atom, got {formula}")
        _check_atom(formula[1], bound, where)
    elif head == "when":
        if len(formula) != 3:
            raise PddlError(f"{where}: expected (when condition effect), got {formula}")
        _check_condition(formula[1], bound, where)
        _check_effect(formula[2], bound, where)
    elif head in ("increase", "decrease", "assign", "forall"):
        return  # costs are ignored; forall is refused when effects are read
    else:
        _check_atom(formula, bound, where)


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
            if len(part) != 2:
                raise PddlError(f"(:goal ...) takes one formula, got {len(part) - 1}")
            goal = part[1]
            _check_condition(goal, frozenset(), "goal")
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
    """A term's value: a variable's from ``binding``, a constant as it is."""
    return binding[term] if term.startswith("?") else term


def _bind_fact(pred: str, terms: tuple[str, ...], binding: dict[str, str]) -> Fact:
    """The fact ``(pred, *terms)`` with variables replaced by their values in ``binding``."""
    return (pred, *[binding[t] if t.startswith("?") else t for t in terms])


#: A literal's or effect's fact compiled for one job, instantiating it under many bindings:
#: (predicate, terms, getter of the values or None when a term is not a variable, one term only).
_FactTemplate = tuple[str, tuple[str, ...], "Callable[[dict[str, str]], object] | None", bool]


def _template(pred: str, terms: tuple[str, ...]) -> _FactTemplate:
    """The template of ``(pred, *terms)``: an ``itemgetter`` over the binding when every term is a variable."""
    if terms and all(isinstance(t, str) and t.startswith("?") for t in terms):
        return pred, terms, itemgetter(*terms), len(terms) == 1
    return pred, terms, None, False


def _instantiate(templates: tuple[_FactTemplate, ...], binding: dict[str, str]) -> list[Fact]:
    """The facts of ``templates`` under ``binding``, in order (as :func:`_bind_fact` builds them)."""
    facts = []
    for pred, terms, getter, single in templates:
        if getter is None:
            facts.append(_bind_fact(pred, terms, binding))
        elif single:
            facts.append((pred, getter(binding)))
        else:
            facts.append((pred, *getter(binding)))
    return facts


class _FactIndex:
    """Facts by predicate, indexed by the values at any set of argument positions (built on demand).

    The lists it hands out are live: facts added later are appended to them, and a join iterating over
    one sees them (the grounding fixpoint relies on this order)."""

    def __init__(self) -> None:
        self.by_pred: dict[str, list] = defaultdict(list)
        self._index: dict[tuple[str, tuple[int, ...]], dict[tuple, list]] = {}
        self._tables_of_pred: dict[str, list[tuple[tuple[int, ...], dict[tuple, list]]]] = defaultdict(list)

    def add(self, fact: tuple) -> None:
        self.by_pred[fact[0]].append(fact)
        for positions, table in self._tables_of_pred.get(fact[0], ()):
            table.setdefault(tuple([fact[p] for p in positions]), []).append(fact)

    def lookup(self, pred: str, positions: tuple[int, ...], values: tuple) -> list:
        if not positions:
            return self.by_pred.get(pred, [])
        key = (pred, positions)
        table = self._index.get(key)
        if table is None:
            table = {}
            for fact in self.by_pred.get(pred, ()):
                table.setdefault(tuple([fact[p] for p in positions]), []).append(fact)
            self._index[key] = table
            self._tables_of_pred[pred].append((positions, table))
        return table.get(values, [])


class _ObjectTypes:
    """The problem's objects by declared type, answering "which objects are of (a subtype of) this type"
    in the declaration order of the types (answers are cached per type)."""

    def __init__(self, domain: Domain, objects: dict[str, str]) -> None:
        self._domain = domain
        self._names_by_type: dict[str, list[str]] = defaultdict(list)
        for name, type_ in objects.items():
            self._names_by_type[type_].append(name)
        self._objects_of: dict[str, tuple[str, ...]] = {}
        self._members: dict[str, frozenset[str]] = {}

    def objects_of(self, type_: str) -> tuple[str, ...]:
        """Objects whose type is ``type_`` or a subtype of it, grouped by type in declaration order."""
        found = self._objects_of.get(type_)
        if found is None:
            is_subtype = self._domain.is_subtype
            found = tuple(o for t, names in self._names_by_type.items() if is_subtype(t, type_) for o in names)
            self._objects_of[type_] = found
        return found

    def members(self, type_: str) -> frozenset[str]:
        """The set of :meth:`objects_of` ``type_`` (membership is the type check of a binding)."""
        found = self._members.get(type_)
        if found is None:
            found = self._members[type_] = frozenset(self.objects_of(type_))
        return found


class _Undeclared:
    """The allowed values of a variable that no parameter or ``exists`` declares: testing a value fails
    with ``KeyError`` (as looking its type up does), only when a fact reaches the test."""

    def __init__(self, variable: str) -> None:
        self.variable = variable

    def __contains__(self, value: object) -> bool:
        raise KeyError(self.variable)


@dataclass(frozen=True)
class _JoinStep:
    """One positive literal of a join, in join order. Facts of ``pred`` with ``arity`` entries (the
    predicate included) are looked up by the values of ``terms_at`` (constants or variables bound by
    earlier steps) at fact positions ``positions``; each match binds ``open_terms`` (fact position,
    variable, allowed values), then ``checks`` (literals whose last variable this step binds) must hold."""

    pred: str
    positions: tuple[int, ...]
    terms_at: tuple[str, ...]
    open_terms: tuple[tuple[int, str, frozenset[str] | _Undeclared], ...]
    arity: int
    checks: tuple[Literal, ...]
    #: binding -> the values of ``terms_at`` (the lookup key).
    values_of: Callable[[dict[str, str]], tuple[str, ...]]


@dataclass(frozen=True)
class _JoinPlan:
    """A join's steps, then its ``free`` variables (in no positive literal) with their ``free_domains``
    (objects per variable) and the ``last_checks`` that run once every variable is bound."""

    steps: tuple[_JoinStep, ...]
    free: tuple[str, ...]
    free_domains: tuple[tuple[str, ...], ...]
    last_checks: tuple[Literal, ...]


def _join_order(positives: list[Literal], facts: _FactIndex) -> list[Literal]:
    """Greedy join order: literals sharing bound variables first, then the fewest facts (ties: first)."""
    order: list[Literal] = []
    bound: set[str] = set()
    remaining = list(positives)
    while remaining:
        best = min(remaining, key=lambda lit: (
            not any(t in bound for t in lit[2]) if bound else False, len(facts.by_pred.get(lit[1], ()))))
        remaining.remove(best)
        order.append(best)
        bound.update(t for t in best[2] if t.startswith("?"))
    return order


def _place_checks(order: list[Literal], checks: list[Literal]) -> list[list[Literal]]:
    """Checks per depth: each runs once, at the step binding its last variable (depth ``len(order)``:
    after the free variables are bound)."""
    depth_of: dict[str, int] = {}
    for depth, lit in enumerate(order):
        for t in lit[2]:
            if t.startswith("?"):
                depth_of.setdefault(t, depth)
    checks_at: list[list[Literal]] = [[] for _ in range(len(order) + 1)]
    for lit in checks:
        depth = max((depth_of.get(t, len(order)) for t in lit[2] if t.startswith("?")), default=0)
        checks_at[depth].append(lit)
    return checks_at


def _plan_join(
    literals: list[Literal], variables: list[tuple[str, str]], facts: _FactIndex, types: _ObjectTypes,
) -> _JoinPlan:
    """The join of ``literals`` over ``variables``: its order, where each check runs, how each positive
    literal is looked up and which variables it binds."""
    positives = [lit for lit in literals if lit[0] and lit[1] != "="]
    checks = [lit for lit in literals if not lit[0] or lit[1] == "="]
    var_types = dict(variables)
    order = _join_order(positives, facts)
    checks_at = _place_checks(order, checks)
    steps: list[_JoinStep] = []
    seen_vars: set[str] = set()
    for depth, (_, pred, terms) in enumerate(order):
        positions, terms_at, open_terms = [], [], []
        for k, term in enumerate(terms):
            if not term.startswith("?") or term in seen_vars:
                positions.append(k + 1)
                terms_at.append(term)
            else:
                allowed = types.members(var_types[term]) if term in var_types else _Undeclared(term)
                open_terms.append((k + 1, term, allowed))
                seen_vars.add(term)
        steps.append(_JoinStep(pred, tuple(positions), tuple(terms_at), tuple(open_terms), len(terms) + 1,
                               tuple(checks_at[depth]), _lookup_key(tuple(terms_at))))
    free = tuple(v for v, _ in variables if v not in seen_vars)
    free_domains = tuple(types.objects_of(var_types[v]) for v in free)
    return _JoinPlan(tuple(steps), free, free_domains, tuple(checks_at[len(order)]))


def _holds(binding: dict[str, str], checks: tuple[Literal, ...], static: frozenset, fluents: frozenset) -> bool:
    """Whether every equality and every static literal among ``checks`` holds under ``binding``
    (fluent literals are not checked: any state may make them true)."""
    for positive, pred, terms in checks:
        args = tuple([binding[t] if t[0] == "?" else t for t in terms])
        if pred == "=":
            if (args[0] == args[1]) != positive:
                return False
        elif pred not in fluents and ((pred, *args) in static) != positive:
            return False
    return True


def _complete(
    plan: _JoinPlan, binding: dict[str, str], static: frozenset, fluents: frozenset,
) -> Iterator[dict[str, str]]:
    """The full bindings extending ``binding`` (every step bound) over the free variables' objects that
    pass the last checks: fresh dicts."""
    if not plan.free:
        if _holds(binding, plan.last_checks, static, fluents):
            yield dict(binding)
        return
    for values in itertools.product(*plan.free_domains):
        full = dict(binding)
        full.update(zip(plan.free, values, strict=True))
        if _holds(full, plan.last_checks, static, fluents):
            yield full


def _enumerate(
    plan: _JoinPlan, facts: _FactIndex, static: frozenset, fluents: frozenset,
) -> Iterator[dict[str, str]]:
    """Depth-first enumeration of the plan's bindings, one live fact iterator per step (an explicit
    stack: the same order as the recursive definition, without a generator per level)."""
    steps, binding = plan.steps, {}
    if not steps:
        yield from _complete(plan, binding, static, fluents)
        return
    last, free, last_checks = len(steps) - 1, plan.free, plan.last_checks
    stack = [iter(_candidates(steps[0], binding, facts))]
    while stack:
        depth = len(stack) - 1
        step = steps[depth]
        arity, open_terms, checks = step.arity, step.open_terms, step.checks
        for fact in stack[depth]:
            if len(fact) != arity:
                continue
            ok = True
            for k, term, allowed in open_terms:
                if fact[k] not in allowed:
                    ok = False
                    break
                binding[term] = fact[k]
            if ok and (not checks or _holds(binding, checks, static, fluents)):
                if depth < last:
                    stack.append(iter(_candidates(steps[depth + 1], binding, facts)))
                    break  # this step's variables stay bound until the deeper steps are exhausted
                if free:
                    yield from _complete(plan, binding, static, fluents)
                elif not last_checks or _holds(binding, last_checks, static, fluents):
                    yield dict(binding)
            for _, term, _ in open_terms:
                binding.pop(term, None)
        else:
            stack.pop()
            if depth:
                for _, term, _ in steps[depth - 1].open_terms:
                    binding.pop(term, None)


def _lookup_key(terms_at: tuple[str, ...]) -> Callable[[dict[str, str]], tuple[str, ...]]:
    """A function from a binding to the values of ``terms_at`` (variables' values, constants as they are)."""
    if all(t[0] == "?" for t in terms_at):
        return _values_getter(list(terms_at))
    return lambda binding: tuple([binding[t] if t[0] == "?" else t for t in terms_at])


def _candidates(step: _JoinStep, binding: dict[str, str], facts: _FactIndex) -> list:
    """The (live) list of facts matching ``step``'s already bound terms."""
    return facts.lookup(step.pred, step.positions, step.values_of(binding))


def _join(
    literals: list[Literal], variables: list[tuple[str, str]], facts: _FactIndex, types: _ObjectTypes,
    static: frozenset, fluents: frozenset,
) -> Iterator[dict[str, str]]:
    """Bindings of ``variables`` under which every positive literal is among the known facts and every
    static negative literal / equality holds: fresh dicts, planned now (the join order reads how many
    facts each predicate has: iterate at once) and enumerated lazily."""
    return _enumerate(_plan_join(literals, variables, facts, types), facts, static, fluents)


@dataclass(frozen=True)
class _Schema:
    """An action prepared for grounding: its precondition as conjuncts (literals, existential
    variables), its unconditional adds/deletes as (predicate, terms) and its ``when`` effects."""

    action: Action
    conjuncts: list[tuple[list[Literal], list[tuple[str, str]]]]
    adds: list[tuple[str, tuple[str, ...]]]
    dels: list[tuple[str, tuple[str, ...]]]
    conds: list[tuple[object, list, list]]
    #: Every add, conditional ones included: what a binding makes reachable.
    reachable_adds: tuple[_FactTemplate, ...]
    add_templates: tuple[_FactTemplate, ...]
    delete_templates: tuple[_FactTemplate, ...]
    #: Per conjunct, its fluent literals (not ``=``, not static) in order: the required truth of each
    #: and their templates.
    fluent_truths: tuple[tuple[bool, ...], ...]
    fluent_templates: tuple[tuple[_FactTemplate, ...], ...]


def _prepare_schemas(domain: Domain) -> tuple[list[_Schema], frozenset[str]]:
    """The domain's actions as schemas, and the fluent predicates (those some effect changes)."""
    prepared = []
    fluents: set[str] = set()
    for action in domain.actions:
        adds, dels, conds = _effects(action.effect)
        fluents.update(p for p, _ in adds + dels)
        for _, a, d in conds:
            fluents.update(p for p, _ in a + d)
        prepared.append((action, dnf(action.precondition), adds, dels, conds))
    fluent_preds = frozenset(fluents)
    schemas = []
    for action, conjuncts, adds, dels, conds in prepared:
        reachable_adds = tuple(_template(*add) for add in adds) + tuple(
            _template(*add) for _, a, _ in conds for add in a)
        fluent_literals = [[lit for lit in literals if lit[1] != "=" and lit[1] in fluent_preds]
                           for literals, _ in conjuncts]
        schemas.append(_Schema(
            action, conjuncts, adds, dels, conds, reachable_adds,
            tuple(_template(*add) for add in adds), tuple(_template(*d) for d in dels),
            tuple(tuple(lit[0] for lit in lits) for lits in fluent_literals),
            tuple(tuple(_template(lit[1], lit[2]) for lit in lits) for lits in fluent_literals),
        ))
    return schemas, fluent_preds


def _values_getter(names: list[str]) -> Callable[[dict[str, str]], tuple[str, ...]]:
    """A function from a binding to the tuple of the values of ``names`` (a ``KeyError`` names a missing one)."""
    if len(names) > 1:
        return itemgetter(*names)
    if names:
        name = names[0]
        return lambda binding: (binding[name],)
    return lambda binding: ()


def _reach(
    schemas: list[_Schema], reachable: set, facts: _FactIndex, types: _ObjectTypes, static: frozenset,
    fluents: frozenset,
) -> dict[tuple, dict[str, str]]:
    """The relaxed-reachability fixpoint: every binding of every conjunct of every schema that the facts
    reachable from the initial ones allow, keyed (action name, args, conjunct index, existential values)
    in discovery order. Grows ``reachable`` and ``facts`` with every fact some binding adds."""
    grounded: dict[tuple, dict[str, str]] = {}
    # A conjunct is joined again only when a predicate of its positive literals gained facts since.
    version: dict[str, int] = defaultdict(int)
    last_seen: dict[tuple[str, int], tuple] = {}
    changed = True
    while changed:
        changed = False
        for schema in schemas:
            name, parameters = schema.action.name, schema.action.parameters
            args_of = _values_getter([p for p, _ in parameters])
            for index, (literals, exist_vars) in enumerate(schema.conjuncts):
                inputs = tuple(version[lit[1]] for lit in literals if lit[0] and lit[1] != "=")
                if last_seen.get((name, index)) == inputs:
                    continue
                last_seen[(name, index)] = inputs
                exist_values_of = _values_getter([v for v, _ in exist_vars])
                for binding in _join(literals, list(parameters) + exist_vars, facts, types, static, fluents):
                    key = (name, args_of(binding), index, exist_values_of(binding))
                    if key in grounded:
                        continue
                    grounded[key] = binding
                    for fact in _instantiate(schema.reachable_adds, binding):
                        if fact not in reachable:
                            reachable.add(fact)
                            facts.add(fact)
                            version[fact[0]] += 1
                            changed = True
    return grounded


def _fluent_precondition(
    schema: _Schema, index: int, binding: dict[str, str], reachable: set, interned: dict,
) -> dict[Fact, bool] | None:
    """The ground precondition of conjunct ``index`` over fluent facts (fact -> required truth; the rest
    was checked while grounding), or None when it cannot hold (a positive fact never reachable, or a
    fact required both true and false)."""
    pre: dict[Fact, bool] = {}
    facts = _instantiate(schema.fluent_templates[index], binding)
    for positive, fact in zip(schema.fluent_truths[index], facts, strict=True):
        fact = interned.setdefault(fact, fact)
        if positive and fact not in reachable:
            return None
        if pre.get(fact, positive) != positive:
            return None
        pre[fact] = positive
    return pre


def _effective_effects(
    schema: _Schema, binding: dict[str, str], pre: dict[Fact, bool], interned: dict,
) -> tuple[tuple[Fact, ...], tuple[Fact, ...]]:
    """(adds, deletes) of a binding without repeats: an add wins over a delete of the same fact, and
    effects that cannot change the state given the precondition are dropped (fast-downward)."""
    setdefault = interned.setdefault
    add = [setdefault(f, f) for f in _instantiate(schema.add_templates, binding)]
    delete = [setdefault(f, f) for f in _instantiate(schema.delete_templates, binding)]
    if delete:
        add_set = set(add)
        delete = [f for f in delete if f not in add_set]
    return (tuple(dict.fromkeys([f for f in add if pre.get(f) is not True])),
            tuple(dict.fromkeys([f for f in delete if pre.get(f) is not False])))


def _conditional_effects(schema: _Schema, binding: dict[str, str]) -> tuple:
    """The ``when`` effects of a binding: (condition in DNF, adds, deletes, the binding) per effect."""
    if not schema.conds:
        return ()
    return tuple(
        (dnf(_rename(cond, {})),
         tuple(_bind_fact(p, terms, binding) for p, terms in a),
         tuple(_bind_fact(p, terms, binding) for p, terms in d),
         dict(binding))
        for cond, a, d in schema.conds
    )


def _build_operators(
    grounded: dict[tuple, dict[str, str]], schemas: list[_Schema], reachable: set, fluents: frozenset,
    interned: dict,
) -> list[Operator]:
    """Operators sorted by (name, args), their variants in discovery order; a binding whose precondition
    cannot hold, or that is left without effects, gives no variant."""
    operators: dict[tuple[str, tuple], Operator] = {}
    schema_by_name = {s.action.name: s for s in schemas}
    for (name, args, index, _), binding in grounded.items():
        schema = schema_by_name[name]
        pre = _fluent_precondition(schema, index, binding, reachable, interned)
        if pre is None:
            continue
        add, delete = _effective_effects(schema, binding, pre, interned)
        conditional = _conditional_effects(schema, binding)
        if not add and not delete and not conditional:
            continue
        op = operators.get((name, args))
        if op is None:
            op = operators[(name, args)] = Operator(name, args)
        op.variants.append((tuple(pre.items()), add, delete, conditional))
    return sorted(operators.values(), key=lambda op: (op.name, op.args))


def ground(domain: Domain, problem: Problem) -> Grounding:
    """Ground every operator of ``domain`` that can apply in some state reachable from ``problem``'s
    initial state (relaxed reachability, as fast-downward grounds)."""
    types = _ObjectTypes(domain, problem.objects)
    schemas, fluents = _prepare_schemas(domain)
    init = frozenset(problem.init)
    static = frozenset(f for f in init if f[0] not in fluents)
    reachable: set = set(init)
    facts = _FactIndex()
    for f in sorted(init):
        facts.add(f)
    grounded = _reach(schemas, reachable, facts, types, static, fluents)
    interned: dict[tuple, tuple] = {f: f for f in reachable}  # one tuple object per fact: less memory
    operators = _build_operators(grounded, schemas, reachable, fluents, interned)
    goal = dnf(problem.goal)
    instances = _goal_instances(goal, facts, types, static, fluents, interned)
    return Grounding(
        objects=dict(problem.objects), init=init, static=static, fluents=fluents, operators=operators,
        goal=goal, goal_instances=instances,
    )


#: Ground goal instances a problem may have before :func:`ground` refuses it.
MAX_GOAL_INSTANCES = 100_000


def _goal_instances(
    goal: list[tuple[list[Literal], list[tuple[str, str]]]], facts: _FactIndex, types: _ObjectTypes,
    static: frozenset, fluents: frozenset, interned: dict,
) -> list[tuple[tuple[Fact, ...], tuple[Fact, ...]]]:
    """Every binding of the goal's variables whose positive literals are reachable and whose static
    literals hold, as (fluent facts that must hold, fluent facts that must not), without repeats."""
    instances: dict[tuple, None] = {}
    for literals, variables in goal:
        for binding in _join(literals, variables, facts, types, static, fluents):
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
