"""A PDDL reader for ALFWorld's domain (``alfred.pddl``) and problems, standard library only.

Covers what ALFWorld uses: typed objects, predicates, actions with ``and``/``or``/``not``/``exists``/``=``
preconditions, add/delete and ``when`` effects (``increase`` of action costs is ignored), and existential
goals. Names are lower-cased, as fast-downward's reader does. Conditions come out in disjunctive normal
form (:func:`dnf`), effects as adds, deletes and ``when`` effects (:func:`effects`); grounding is
:mod:`hgpo_envs.alfworld.grounding`'s.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

__all__ = ["Action", "Domain", "PddlError", "Problem", "dnf", "effects", "parse_domain", "parse_problem", "rename"]

Fact = tuple  # (predicate, arg, ...)
Literal = tuple  # (positive: bool, predicate, terms) with terms variable names ("?x") or constants

_COMMENT_RE = re.compile(r";[^\n]*")


class PddlError(ValueError):
    """A PDDL text this reader does not understand (the message names the construct)."""


def _tokens(text: str) -> list[str]:
    """Parentheses and the runs of other non-blank characters, lower-cased, comments dropped."""
    if ";" in text:
        text = _COMMENT_RE.sub("", text)
    return text.lower().replace("(", " ( ").replace(")", " ) ").split()


def _sexpr(text: str) -> list:
    stack: list[list] = [[]]
    for token in _tokens(text):
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


def rename(formula, mapping: dict[str, str]):
    if isinstance(formula, str):
        return mapping.get(formula, formula)
    return [rename(f, mapping) for f in formula]


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
        body = rename(formula[2], mapping)
        return [(lits, [(mapping[v], t) for v, t in variables] + ev) for lits, ev in dnf(body)]
    if head in ("forall", "imply", "when"):
        raise PddlError(f"'{head}' in a condition is not supported")
    if not all(isinstance(a, str) for a in formula):
        raise PddlError(f"unsupported condition {formula}")
    return [([(not negate, head, tuple(formula[1:]))], [])]


def effects(formula) -> tuple[list[tuple], list[tuple], list[tuple]]:
    """(adds, deletes, conditional) where adds/deletes are (pred, terms) and conditional entries are
    (condition formula, adds, deletes)."""
    adds, dels, conds = [], [], []
    if not formula:
        return adds, dels, conds
    head = formula[0]
    if head == "and":
        for f in formula[1:]:
            a, d, c = effects(f)
            adds += a
            dels += d
            conds += c
    elif head == "not":
        atom = formula[1]
        dels.append((atom[0], tuple(atom[1:])))
    elif head == "when":
        a, d, c = effects(formula[2])
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
