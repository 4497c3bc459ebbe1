"""A PDDL domain's actions compiled, once per domain, into Python functions that ground them over integer facts.

Each precondition conjunct of each action (its disjunctive normal form, :func:`hgpo_envs.alfworld.pddl.dnf`)
becomes two functions made from generated source (:attr:`Conjunct.source` shows it):

* ``join(world, seen, added)`` enumerates the bindings of the conjunct's variables that the known facts
  allow (nested loops over the facts of each positive literal, looked up by the values already bound,
  with each static negative literal and equality checked as soon as its variables are bound; negative
  fluent literals are not checked: relaxed reachability). A binding not seen before is recorded in
  ``seen`` (key: parameter values, then existential values) and every fact it adds that is not known yet
  is added to the world's codes and appended to ``added`` as ``(relation, args, code)``.
* ``build(world, seen, rows, anchor)`` turns each recorded binding into an operator row ``(action rank,
  args, conjunct index, existential values, positive codes, negative codes, added codes, deleted codes,
  conditional effects, anchor code)``, the anchor being the code of positive fluent literal number
  ``anchor`` (-1 without one): the fluent precondition sorted, effects that cannot change the state given the
  precondition dropped (an add of a fact the precondition requires, a delete of one it forbids), an
  unconditional add winning over a delete of the same fact; a binding whose precondition requires a fact
  both true and false, or that is left without effects, gives no row.

Facts are integers (:class:`hgpo_envs.alfworld.grounding.FactCodes`): the functions compute a fact's code
as ``pred_base + arg0 * weight0 + arg1 * weight1 ...`` from the problem's numbers, which they read from the
``world`` (:class:`hgpo_envs.alfworld.grounding.World`) at each call. The generated source names
variables ``v<i>``, domain constants ``c<i>``, predicate bases ``p<i>``, type members ``t<i>`` and
relations ``r<i>`` / indexes ``x<i>``: indexes into the lists of :class:`CompiledDomain`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from hgpo_envs.alfworld.pddl import Domain, PddlError, dnf, effects

__all__ = ["CompiledDomain", "Conjunct", "compile_domain"]

#: Python refuses more than 20 nested blocks; one loop per positive literal or free variable, plus one.
_MAX_LOOPS = 19


@dataclass
class Conjunct:
    """One precondition conjunct of an action, compiled."""

    action: str
    index: int  # the conjunct's position in the action's precondition DNF
    relations: tuple[int, ...]  # relations of its positive literals (what a new fact there may extend)
    #: Per positive fluent literal (in the text's order), the positions in a binding of its variables: the
    #: literal whose facts vary most over the bindings is the operators' index anchor (``build``'s ``anchor``).
    anchor_vars: tuple[tuple[int, ...], ...]
    source: str
    join: Callable = field(repr=False)
    build: Callable = field(repr=False)


@dataclass
class CompiledDomain:
    """A domain's actions compiled for grounding: the relations, lookups, constants and types the
    generated functions use (problem numbers are made for these, in this order), and the conjuncts."""

    domain: Domain
    preds: tuple[str, ...]  # every predicate a declaration, literal or effect names, sorted
    arity: int  # the largest arity among them
    fluents: frozenset[str]  # predicates some effect changes
    action_names: tuple[str, ...]  # sorted
    relations: list[tuple[str, int]] = field(default_factory=list)  # (predicate, arity)
    indexes: list[tuple[int, tuple[int, ...]]] = field(default_factory=list)  # (relation, bound positions)
    constants: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    conjuncts: list[Conjunct] = field(default_factory=list)

    def relation(self, pred: str, arity: int) -> int:
        key = (pred, arity)
        if key not in self.relations:
            self.relations.append(key)
        return self.relations.index(key)

    def index(self, relation: int, positions: tuple[int, ...]) -> int:
        key = (relation, positions)
        if key not in self.indexes:
            self.indexes.append(key)
        return self.indexes.index(key)

    def constant(self, name: str) -> int:
        if name not in self.constants:
            self.constants.append(name)
        return self.constants.index(name)

    def type_index(self, type_: str) -> int:
        if type_ not in self.types:
            self.types.append(type_)
        return self.types.index(type_)


def compile_domain(domain: Domain) -> CompiledDomain:
    """Compile every action of ``domain`` (one :class:`Conjunct` per conjunct of its precondition)."""
    parsed = []
    fluents: set[str] = set()
    preds: set[str] = set(domain.predicates)
    arity = 0
    for action in domain.actions:
        adds, dels, conds = effects(action.effect)
        conditions = []
        for condition, a, d in conds:
            adds, dels = adds + a, dels + d
            conditions += dnf(condition)
        fluents.update(p for p, _ in adds + dels)
        conjuncts = dnf(action.precondition)
        for pred, terms in adds + dels:
            preds.add(pred)
            arity = max(arity, len(terms))
        for literals, _ in conjuncts + conditions:
            for _, pred, terms in literals:
                if pred != "=":
                    preds.add(pred)
                    arity = max(arity, len(terms))
        parsed.append((action, conjuncts))
    compiled = CompiledDomain(domain, tuple(sorted(preds)), max(arity, 1), frozenset(fluents),
                              tuple(sorted(a.name for a in domain.actions)))
    for action, conjuncts in sorted(parsed, key=lambda item: item[0].name):  # rows come out nearly sorted
        for index, (literals, exists) in enumerate(conjuncts):
            compiled.conjuncts.append(_compile_conjunct(compiled, action, index, literals, exists))
    return compiled


# ---------------------------------------------------------------------------------------------------
# Source generation


class _Source:
    """Lines of generated Python with their indentation, and the names the function reads from the world."""

    def __init__(self, compiled: CompiledDomain, variables: dict[str, int]) -> None:
        self.compiled = compiled
        self.var = variables  # PDDL variable -> its local's number (v<i>)
        self.lines: list[str] = []
        self.depth = 1
        self.used: dict[str, str] = {}  # local -> how the prologue gets it

    def emit(self, line: str) -> None:
        self.lines.append("    " * self.depth + line)

    def term(self, term: str) -> str:
        """The local holding a term's value (a variable's, or a constant's number)."""
        if term.startswith("?"):
            return f"v{self.var[term]}"
        i = self.compiled.constant(term)
        self.used[f"c{i}"] = f"world.constants[{i}]"
        return f"c{i}"

    def code(self, pred: str, terms: tuple[str, ...]) -> str:
        """An expression computing the fact's code."""
        rank = self.compiled.preds.index(pred)
        self.used[f"p{rank}"] = f"world.pred_bases[{rank}]"
        parts = [f"p{rank}"]
        for k, term in enumerate(terms):
            self.used[f"w{k}"] = f"world.weights[{k}]"
            parts.append(f"{self.term(term)} * w{k}")
        return " + ".join(parts)

    def members(self, type_: str) -> str:
        i = self.compiled.type_index(type_)
        self.used[f"t{i}"] = f"world.members[{i}]"
        return f"t{i}"

    def objects(self, type_: str) -> str:
        i = self.compiled.type_index(type_)
        self.used[f"o{i}"] = f"world.objects_of[{i}]"
        return f"o{i}"

    def function(self, header: str) -> str:
        prologue = [f"    {local} = {expr}" for local, expr in sorted(self.used.items())]
        return "\n".join([header, *prologue, *self.lines]) + "\n"


def _join_order(positives: list[tuple], fluents: frozenset) -> list[tuple]:
    """A join order fixed per domain: each next literal shares a bound variable when one can (else none is
    bound yet), then has the fewest unbound variables, then is fluent (fewer facts than static tables in
    the problems seen), then comes first in the text."""
    order: list[tuple] = []
    bound: set[str] = set()
    remaining = list(positives)
    while remaining:
        def rank(item: tuple[int, tuple]) -> tuple:
            i, (_, pred, terms) = item
            variables = {t for t in terms if t.startswith("?")}
            return (bool(bound) and not variables & bound, len(variables - bound), pred not in fluents, i)
        i, best = min(enumerate(remaining), key=rank)
        remaining.pop(i)
        order.append(best)
        bound.update(t for t in best[2] if t.startswith("?"))
    return order


def _check_line(src: _Source, literal: tuple) -> str | None:
    """The ``if ...: continue`` line of a check (a negative static literal or an equality), or None for a
    negative fluent literal (not checked while grounding)."""
    positive, pred, terms = literal
    if pred == "=":
        if len(terms) != 2:
            raise PddlError(f"'=' takes two terms, got {terms}")
        return f"if {src.term(terms[0])} {'!=' if positive else '=='} {src.term(terms[1])}: continue"
    if pred in src.compiled.fluents:
        return None
    return f"if {src.code(pred, terms)} in known: continue"


def _emit_literal(src: _Source, literal: tuple, var_types: dict[str, str], bound: set[str], loops: list) -> None:
    """The loop (or membership test) of one positive literal, binding its new variables and type-checking them."""
    _, pred, terms = literal
    positions, opened, repeats = [], {}, []
    for k, term in enumerate(terms):
        if not term.startswith("?") or term in bound:
            positions.append(k)
        elif term in opened:
            repeats.append((k, term))
        else:
            opened[term] = k
    if not opened:
        src.emit(f"if {src.code(pred, terms)} not in known: continue")
        return
    relation = src.compiled.relation(pred, len(terms))
    if positions:
        index = src.compiled.index(relation, tuple(positions))
        src.used[f"x{index}"] = f"world.indexes[{index}]"
        values = [src.term(terms[k]) for k in positions]
        key = values[0] if len(values) == 1 else f"({', '.join(values)})"
        src.emit(f"for f in x{index}.get({key}, ()):")
    else:
        src.used[f"r{relation}"] = f"world.relations[{relation}]"
        src.emit(f"for f in r{relation}:")
    loops.append(literal)
    src.depth += 1
    if len(opened) == len(terms):
        src.emit(f"{', '.join(src.term(t) for t in terms)}{',' if len(terms) == 1 else ''} = f")
    else:
        for term, k in opened.items():
            src.emit(f"{src.term(term)} = f[{k}]")
    for k, term in repeats:
        src.emit(f"if f[{k}] != {src.term(term)}: continue")
    tests = [f"{src.term(term)} not in {src.members(var_types[term])}" for term in opened]
    src.emit(f"if {' or '.join(tests)}: continue")
    bound.update(opened)


def _effect_filters(src: _Source, pre: list[tuple[str, str, bool]], adds: list[tuple[str, str]],
                    dels: list[tuple[str, str]]) -> None:
    """Lines computing ``add`` and ``delete`` from the (predicate, local) of each add and delete and the
    (predicate, local, positive) of each fluent precondition: a fact is compared only with facts of its own
    predicate."""
    positives = {pred: [c for p, c, positive in pre if p == pred and positive] for pred, _, _ in pre}
    negatives = {pred: [c for p, c, positive in pre if p == pred and not positive] for pred, _, _ in pre}

    for name, facts, excluded in (("add", adds, positives), ("delete", dels, negatives)):
        filters = []
        for i, (pred, local) in enumerate(facts):
            others = [c for p, c in facts[:i] if p == pred]  # repeats
            if name == "delete":
                others += [c for p, c in adds if p == pred]  # an add wins over a delete
            filters.append((local, " and ".join(f"{local} != {o}" for o in others + excluded.get(pred, []))))
        if all(not condition for _, condition in filters):
            src.emit(f"{name} = ({''.join(f'{local}, ' for local, _ in filters)})")
            continue
        src.emit(f"{name} = []")
        for local, condition in filters:
            src.emit(f"if {condition}: {name}.append({local})" if condition else f"{name}.append({local})")
        src.emit(f"{name} = tuple({name})")


def _sorted_tuple(compiled: CompiledDomain, facts: list[tuple[str, str]]) -> str:
    """An expression for the sorted codes of ``facts`` ((predicate, local) pairs) without repeats: codes of
    different predicates sort by predicate, known now; only one predicate's codes are compared at run time."""
    by_pred: dict[str, list[str]] = {}
    for pred, local in facts:
        by_pred.setdefault(pred, []).append(local)
    parts = []
    for pred in sorted(by_pred, key=compiled.preds.index):
        locals_ = by_pred[pred]
        parts.append(locals_[0] if len(locals_) == 1 else f"*sorted({{{', '.join(locals_)}}})")
    return f"({', '.join(parts)}{',' if len(parts) == 1 else ''})"


def _compile_conjunct(compiled: CompiledDomain, action, index: int, literals: list, exists: list) -> Conjunct:
    params = list(action.parameters)
    variables = {v: i for i, (v, _) in enumerate(params + exists)}
    var_types = dict(params + exists)
    key = ", ".join(f"v{i}" for i in range(len(variables))) + ("," if len(variables) == 1 else "")
    adds, dels, conds = effects(action.effect)
    reach_adds = adds + [a for _, cond_adds, _ in conds for a in cond_adds]
    try:
        join_src = _join_source(compiled, variables, var_types, literals, key, reach_adds)
        build_src = _build_source(compiled, variables, literals, key, adds, dels, conds, action, index, len(params))
    except PddlError as e:
        raise PddlError(f"action {action.name}: {e}") from e
    namespace: dict = {}
    source = join_src + "\n" + build_src
    try:
        exec(compile(source, f"<grounding {action.name}/{index}>", "exec"), namespace)
    except SyntaxError as e:
        raise PddlError(f"action {action.name}: its precondition could not be compiled ({e.msg})") from e
    positives = [lit for lit in literals if lit[0] and lit[1] != "="]
    relations = tuple(sorted({compiled.relation(lit[1], len(lit[2])) for lit in positives}))
    anchor_vars = tuple(tuple(sorted({variables[t] for t in terms if t.startswith("?")}))
                        for _, pred, terms in positives if pred in compiled.fluents)
    return Conjunct(action.name, index, relations, anchor_vars, source, namespace["join"], namespace["build"])


def _join_source(compiled: CompiledDomain, variables: dict, var_types: dict, literals: list, key: str,
                 reach_adds: list) -> str:
    src = _Source(compiled, variables)
    src.used["known"] = "world.known"
    src.emit("for _ in (None,):  # a loop to `continue` out of when nothing else loops")
    src.depth += 1
    positives = [lit for lit in literals if lit[0] and lit[1] != "="]
    checks = [lit for lit in literals if not lit[0] or lit[1] == "="]
    bound: set[str] = set()
    loops: list = []
    for literal in _join_order(positives, compiled.fluents):
        _emit_literal(src, literal, var_types, bound, loops)
        for check in [c for c in checks if {t for t in c[2] if t.startswith("?")} <= bound]:
            checks.remove(check)
            line = _check_line(src, check)
            if line:
                src.emit(line)
    for var in variables:
        if var not in bound:  # in no positive literal: every object of its type
            src.emit(f"for {src.term(var)} in {src.objects(var_types[var])}:")
            loops.append(var)
            src.depth += 1
            bound.add(var)
    for check in checks:
        line = _check_line(src, check)
        if line:
            src.emit(line)
    if len(loops) > _MAX_LOOPS:
        raise PddlError(f"{len(loops)} positive literals and free variables in a precondition: too many to compile"
                        f" (at most {_MAX_LOOPS})")
    src.emit(f"k = ({key})")
    src.emit("if k in seen: continue")
    src.emit("seen[k] = None")
    for pred, terms in reach_adds:
        relation = compiled.relation(pred, len(terms))
        args = ", ".join(src.term(t) for t in terms) + ("," if len(terms) == 1 else "")
        src.emit(f"a = {src.code(pred, terms)}")
        src.emit(f"if a not in known: known.add(a); added.append(({relation}, ({args}), a))")
    return src.function("def join(world, seen, added):")


def _build_source(compiled: CompiledDomain, variables: dict, literals: list, key: str, adds: list, dels: list,
                  conds: list, action, index: int, n_params: int) -> str:
    src = _Source(compiled, variables)
    src.emit("for k in seen:")
    src.depth += 1
    if variables:
        src.emit(f"{key} = k")
    pre: list[tuple[str, str, bool]] = []  # (pred, local, positive) of the fluent literals
    for positive, pred, terms in literals:
        if pred != "=" and pred in compiled.fluents:
            local = f"q{len(pre)}"
            src.emit(f"{local} = {src.code(pred, terms)}")
            pre.append((pred, local, positive))
    for i, (pred, a, pa) in enumerate(pre):  # a fact required both true and false: no row
        for pred_b, b, pb in pre[i + 1:]:
            if pred_b == pred and pa != pb:
                src.emit(f"if {a} == {b}: continue")
    effect_locals = {}
    for name, facts in (("a", adds), ("d", dels)):
        effect_locals[name] = []
        for i, (pred, terms) in enumerate(facts):
            src.emit(f"{name}{i} = {src.code(pred, terms)}")
            effect_locals[name].append((pred, f"{name}{i}"))
    _effect_filters(src, pre, effect_locals["a"], effect_locals["d"])
    src.emit(f"pos = {_sorted_tuple(compiled, [(pred, local) for pred, local, positive in pre if positive])}")
    src.emit(f"neg = {_sorted_tuple(compiled, [(pred, local) for pred, local, positive in pre if not positive])}")
    if conds:
        src.used["conditional"] = f"world.conditional_effects({action.name!r})"
        src.emit("cond = conditional(k)")
    else:
        src.emit("cond = ()")
        src.emit("if not add and not delete: continue")
    positives = [local for _, local, positive in pre if positive]
    if len(positives) > 1:
        src.emit(f"anchored = ({', '.join(positives)})[anchor]")
    args = "k" if n_params == len(variables) else f"k[:{n_params}]"
    exists = "()" if n_params == len(variables) else f"k[{n_params}:]"
    rank = compiled.action_names.index(action.name)
    anchored = "anchored" if len(positives) > 1 else positives[0] if positives else "-1"
    src.emit(f"rows.append(({rank}, {args}, {index}, {exists}, pos, neg, add, delete, cond, {anchored}))")
    return src.function("def build(world, seen, rows, anchor):")
