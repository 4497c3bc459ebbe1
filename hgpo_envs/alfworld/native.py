"""The native ALFWorld engine: ALFWorld's PDDL domain and TextWorld grammar interpreted directly.

Produces the same observations, admissible commands (same strings, same order), wins and move counts as
the TextWorld-backed engine (:mod:`hgpo_envs.alfworld.engine`), in pure Python with no C++ build:

* :class:`NativeGame`: one problem grounded once (:func:`hgpo_envs.alfworld.pddl.ground`) with the
  entities' displayed names; its fluent facts numbered (``facts``: slot -> fact, sorted, so one
  predicate's facts are sorted as TextWorld sorts them), operators over those numbers; cached per
  (domain, grammar, problem) in this process and on disk (:mod:`hgpo_envs.alfworld.game_cache`).
* :class:`NativeEngine`: ``load(game)`` / ``reset()`` / ``step(command)`` on a state that is a
  ``frozenset`` of slots: slot ``i < n`` is ``facts[i]`` holding, slot ``n + i`` TextWorld's ``not_*``
  marker of it (a deleted atom leaves a ``not_<pred>`` fact until it is added again; the grammar's
  ``not_inreceptacle`` queries read them). ``get_state()`` / ``set_state()`` copy a state in O(1).
"""

from __future__ import annotations

import functools
import json
from collections import OrderedDict, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from hgpo_envs.alfworld.game_cache import cache_file, read_cached, write_cached
from hgpo_envs.alfworld.grammar import Entity, TextLogic, derive, parse_query, parse_twl2
from hgpo_envs.alfworld.names import alfred_names
from hgpo_envs.alfworld.pddl import Domain, Grounding, ground, parse_domain, parse_problem

__all__ = ["NOTHING_HAPPENS", "NativeEngine", "NativeGame", "NativeState", "Op", "native_game"]

NOTHING_HAPPENS = "Nothing happens."


@dataclass(frozen=True)
class NativeState:
    """A copyable engine state: the slots of true fluent facts and ``not_*`` markers, and the move count
    (:meth:`NativeGame.fact_tuples` spells the slots out)."""

    facts: frozenset
    moves: int


class Op(NamedTuple):
    """A ground operator. Each variant is ``(positive slots, negative slots, added slots, deleted slots,
    conditional effects)``; a conditional effect is ``(disjuncts, added, deleted)`` with each disjunct a
    ``(positive slots, negative slots)`` pair, judged on the state before the action."""

    index: int
    name: str
    args: tuple[str, ...]
    variants: tuple[tuple, ...]


def _is_static_query(query: str, fluent_preds: frozenset) -> bool:
    return all(pred not in fluent_preds and not pred.startswith("not_") for pred, _ in parse_query(query))


def _fluent_facts(g: Grounding) -> set[tuple]:
    """Every fluent fact the game can mention: initial, in preconditions, effects, conditions, the goal."""
    found = {f for f in g.init if f[0] in g.fluents}
    for op in g.operators:
        for pre, add, delete, conditional in op.variants:
            found.update(f for f, _ in pre)
            found.update(add)
            found.update(delete)
            for conjuncts, c_add, c_del, binding in conditional:
                found.update(c_add)
                found.update(c_del)
                for literals, _ in conjuncts:
                    found.update((pred, *(binding.get(t, t) for t in terms)) for _, pred, terms in literals
                                 if pred in g.fluents)
    for pos, neg in g.goal_instances:
        found.update(pos)
        found.update(neg)
    return found


class _OperatorTable:
    """The operators as plain rows of slot tuples: one row per precondition variant (rows in operator,
    then variant order), each variant indexed by its rarest positive precondition slot. Holds no object
    per operator, so a grounded game loads fast; an operator's :class:`Op` and a row's precondition sets
    are built on first use."""

    def __init__(self, ops: list[tuple[str, tuple[str, ...], list[tuple]]]) -> None:
        """``ops``: (name, args, variants) per operator, in order, as :meth:`NativeGame._compile` makes them."""
        self.names = tuple(sorted({name for name, _, _ in ops}))
        name_index = {name: i for i, name in enumerate(self.names)}
        self.op_name = [name_index[name] for name, _, _ in ops]
        self.op_args = [args for _, args, _ in ops]
        self.op_rows = [0]
        self.row_op: list[int] = []
        columns: list[list[tuple]] = [[], [], [], []]  # positive, negative, added, deleted slots
        self.conditional: dict[int, tuple] = {}
        for index, (_, _, variants) in enumerate(ops):
            for variant in variants:
                if variant[4]:
                    self.conditional[len(self.row_op)] = variant[4]
                self.row_op.append(index)
                for column, slots in zip(columns, variant[:4], strict=False):
                    column.append(slots)
            self.op_rows.append(len(self.row_op))
        self.pos, self.neg, self.add, self.delete = columns
        frequency: dict[int, int] = defaultdict(int)
        for slots in self.pos:
            for s in slots:
                frequency[s] += 1
        anchored: dict[int, list[int]] = defaultdict(list)
        unanchored = []
        for row, slots in enumerate(self.pos):
            if slots:
                anchored[min(slots, key=lambda s: (frequency[s], s))].append(row)
            else:
                unanchored.append(row)
        self.anchored = {s: tuple(rows) for s, rows in anchored.items()}
        self.anchor_slots = frozenset(self.anchored)
        self.unanchored = tuple(unanchored)
        self._ops: dict[int, Op] = {}
        self._checks: dict[int, tuple[frozenset, frozenset]] = {}

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_ops"] = {}
        state["_checks"] = {}
        return state

    def op(self, index: int) -> Op:
        """The operator at ``index``."""
        found = self._ops.get(index)
        if found is None:
            variants = tuple(
                (frozenset(self.pos[r]), frozenset(self.neg[r]), self.add[r], self.delete[r], self.conditional.get(r, ()))
                for r in range(self.op_rows[index], self.op_rows[index + 1])
            )
            found = Op(index, self.names[self.op_name[index]], self.op_args[index], variants)
            self._ops[index] = found
        return found

    def all_ops(self) -> list[Op]:
        return [self.op(i) for i in range(len(self.op_args))]

    def applicable(self, state: frozenset) -> list[tuple[Op, tuple]]:
        """(operator, its first applicable variant) of every applicable operator, in operator order."""
        first: dict[int, int] = {}
        checks = self._checks
        row_op = self.row_op
        candidates = list(self.unanchored)
        anchored = self.anchored
        for s in state & self.anchor_slots:
            candidates += anchored[s]
        for row in candidates:
            check = checks.get(row)
            if check is None:
                check = checks[row] = (frozenset(self.pos[row]), frozenset(self.neg[row]))
            if check[0] <= state and state.isdisjoint(check[1]):
                index = row_op[row]
                previous = first.get(index)
                if previous is None or row < previous:
                    first[index] = row
        out = []
        for index in sorted(first):
            op = self._ops.get(index) or self.op(index)
            out.append((op, op.variants[first[index] - self.op_rows[index]]))
        return out


class NativeGame:
    """A problem grounded once: numbered facts, operators, static facts, entities, texts. Shared
    read-only by engines."""

    def __init__(self, domain_text: str, grammar_text: str, problem_text: str) -> None:
        self.domain: Domain = _domain(domain_text)
        self.text: TextLogic = _text_logic(grammar_text)
        self.grounding: Grounding = ground(self.domain, parse_problem(problem_text))
        g = self.grounding
        self.types = dict(g.objects)
        ids = sorted({arg for fact in g.init for arg in fact[1:]})
        unknown = [i for i in ids if i not in self.types]
        if unknown:
            raise ValueError(f"PDDL problem uses undeclared object(s) {', '.join(unknown[:5])}")
        names = alfred_names(ids)
        self.entities = {i: Entity(i, self.types[i], names[i]) for i in ids}
        self.fluent_preds = g.fluents
        self.static_by_pred: dict[str, list[tuple]] = defaultdict(list)
        for fact in sorted(g.static):
            self.static_by_pred[fact[0]].append(fact[1:])
        self._number_facts(sorted(_fluent_facts(g)))
        self._params = {a.name: tuple((p.lstrip("?"), t) for p, t in a.parameters) for a in self.domain.actions}
        self._table = _OperatorTable([self._compile(op) for op in g.operators])
        g.operators = []  # now held by the table
        self._static_commands = {
            name: _is_static_query_text(text.template, self.fluent_preds) for name, text in self.text.actions.items()
        }
        self._commands: dict[int, str] = {}
        self._intro: str | None = None
        self._static_index: dict[tuple, list] = {}
        self._type_cache: dict[tuple[str, str], bool] = {}
        self._slot_of: dict[tuple, int] | None = None

    # -- compiling the grounding ----------------------------------------------------------------------

    def _number_facts(self, facts: list[tuple]) -> None:
        """Slots for ``facts`` (sorted), their markers, per-predicate slot sets, the initial state and goal."""
        self.facts: tuple[tuple, ...] = tuple(facts)
        n = self.n_facts = len(facts)
        slot = {f: i for i, f in enumerate(facts)}
        by_pred: dict[str, list[int]] = defaultdict(list)
        for i, f in enumerate(facts):
            by_pred[f[0]].append(i)
        self._slots_of: dict[str, frozenset] = {}
        for pred, slots in by_pred.items():
            self._slots_of[pred] = frozenset(slots)
            self._slots_of["not_" + pred] = frozenset(n + i for i in slots)
        self._slot_args: tuple[tuple, ...] = tuple(f[1:] for f in facts) * 2
        g = self.grounding
        self.init_state: frozenset = frozenset(slot[f] for f in g.init if f[0] in g.fluents)
        # The goal as ground instances: won when one holds (a few per ALFWorld game).
        self.goals: tuple[tuple[frozenset, frozenset], ...] = tuple(
            (frozenset(slot[f] for f in pos), frozenset(slot[f] for f in neg)) for pos, neg in g.goal_instances
        )
        self._slot_of = slot

    def _compile(self, op) -> tuple[str, tuple[str, ...], list[tuple]]:
        """(name, args, variants) of a grounded operator, facts as slots: per variant the sorted positive and
        negative precondition slots, added and deleted slots, and conditional effects (static literals
        decided)."""
        slot = self._slot_of
        variants = []
        for pre, add, delete, conditional in op.variants:
            variants.append((
                tuple(sorted(slot[f] for f, v in pre if v)), tuple(sorted(slot[f] for f, v in pre if not v)),
                tuple(slot[f] for f in add), tuple(slot[f] for f in delete),
                tuple((self._condition(conjuncts, binding), tuple(slot[f] for f in c_add),
                       tuple(slot[f] for f in c_del)) for conjuncts, c_add, c_del, binding in conditional),
            ))
        return op.name, op.args, variants

    def _condition(self, conjuncts: list, binding: dict) -> tuple[tuple[frozenset, frozenset], ...]:
        """A ``when`` condition as (positive slots, negative slots) disjuncts; statically false ones dropped."""
        static = self.grounding.static
        disjuncts = []
        for literals, _ in conjuncts:
            pos, neg, possible = [], [], True
            for positive, pred, terms in literals:
                args = tuple(binding.get(t, t) for t in terms)
                if pred == "=":
                    possible = (args[0] == args[1]) == positive
                elif pred not in self.fluent_preds:
                    possible = ((pred, *args) in static) == positive
                else:
                    (pos if positive else neg).append(self._slot_of[(pred, *args)])
                if not possible:
                    break
            if possible:
                disjuncts.append((frozenset(pos), frozenset(neg)))
        return tuple(disjuncts)

    # -- facts ---------------------------------------------------------------------------------------

    def slot(self, fact: tuple) -> int:
        """The slot of a fluent fact (``("not_" + pred, ...)`` for its marker); ``KeyError`` if unknown."""
        if self._slot_of is None:
            self._slot_of = {f: i for i, f in enumerate(self.facts)}
        if fact[0].startswith("not_") and fact[0][4:] in self.fluent_preds:
            return self.n_facts + self._slot_of[(fact[0][4:], *fact[1:])]
        return self._slot_of[fact]

    def state_of(self, facts: Iterable[tuple]) -> frozenset:
        """The state (slots) holding ``facts`` (fluent facts and ``not_*`` markers)."""
        return frozenset(self.slot(f) for f in facts)

    def fact_tuples(self, state: frozenset) -> frozenset:
        """The facts of a state spelled out: ``(pred, arg, ...)`` tuples, markers as ``("not_" + pred, ...)``."""
        n = self.n_facts
        return frozenset(self.facts[s] if s < n else ("not_" + self.facts[s - n][0], *self.facts[s - n][1:])
                         for s in state)

    # -- queries over a state ------------------------------------------------------------------------

    def facts_of(self, state: frozenset, pred: str, cache: dict) -> list[tuple]:
        """Sorted argument tuples of ``pred`` in ``state`` (static or fluent)."""
        if pred not in self.fluent_preds and not pred.startswith("not_"):
            return self.static_by_pred.get(pred, [])
        found = cache.get(pred)
        if found is None:
            slots = self._slots_of.get(pred)
            args = self._slot_args
            found = [args[s] for s in sorted(state & slots)] if slots else []
            cache[pred] = found
        return found

    def _lookup(self, state: frozenset, pred: str, position: int, value: str, cache: dict) -> list[tuple]:
        """Sorted argument tuples of ``pred`` whose argument ``position`` is ``value``."""
        key = (pred, position, value)
        static = pred not in self.fluent_preds and not pred.startswith("not_")
        table = self._static_index if static else cache
        found = table.get(key)
        if found is None:
            found = [a for a in self.facts_of(state, pred, cache) if len(a) > position and a[position] == value]
            table[key] = found
        return found

    def _type_ok(self, var: str, type_: str) -> bool:
        key = (var, type_)
        ok = self._type_cache.get(key)
        if ok is None:
            ok = self._type_cache[key] = self.domain.is_subtype(self.types.get(var, "object"), type_)
        return ok

    def assignments(self, state: frozenset, query: str, mapping: Mapping, cache: dict) -> Iterator[dict]:
        """TextWorld's ``State.all_assignments`` for a conjunctive query (full mappings, in its order)."""
        preds = parse_query(query)
        type_ok = self._type_ok
        current = dict(mapping)
        used = set(current.values())

        def rec(depth: int) -> Iterator[dict]:
            if depth == len(preds):
                yield dict(current)
                return
            name, placeholders = preds[depth]
            # Facts sorted as TextWorld sorts them; a bound placeholder narrows them through an index.
            facts = None
            for position, ph in enumerate(placeholders):
                bound = current.get(ph)
                if bound is not None:
                    facts = self._lookup(state, name, position, bound, cache)
                    break
            if facts is None:
                facts = self.facts_of(state, name, cache)
            for args in facts:
                if len(args) != len(placeholders):
                    continue
                added = []
                ok = True
                for ph, var in zip(placeholders, args, strict=True):
                    existing = current.get(ph)
                    if existing is None:
                        if var in used or not type_ok(var, ph[1]):
                            ok = False
                            break
                        current[ph] = var
                        used.add(var)
                        added.append(ph)
                    elif existing != var:
                        ok = False
                        break
                if ok:
                    yield from rec(depth + 1)
                for ph in added:
                    used.discard(current.pop(ph))

        return rec(0)

    def derive(self, state: frozenset, start: str, mapping: Mapping) -> str:
        cache: dict = {}
        variables = {ph[0]: self.entities[var] for ph, var in mapping.items()}
        return derive(
            self.text, start, variables, dict(mapping),
            lambda query, m: self.assignments(state, query, m, cache), self.entities,
        )

    # -- rules ---------------------------------------------------------------------------------------

    @property
    def ops(self) -> list[Op]:
        """Every operator, in order (built from the operator table on first use)."""
        return self._table.all_ops()

    def applicable(self, state: frozenset) -> list[tuple[Op, tuple]]:
        """Applicable operators (each with its first applicable variant), in operator order."""
        return self._table.applicable(state)

    def _mapping(self, op: Op) -> dict:
        """(placeholder, type) -> id of the operator's parameters, as grammar queries bind them."""
        return dict(zip(self._params[op.name], op.args, strict=True))

    def command(self, op: Op, state: frozenset) -> str:
        """The command text of ``op`` in ``state`` (derived once when it depends on static facts only)."""
        command = self._commands.get(op.index)
        if command is not None:
            return command
        text = self.text.actions.get(op.name)
        if text is None:
            raise ValueError(f"the grammar has no template for action {op.name!r}")
        command = self.derive(state, text.template, self._mapping(op))
        if self._static_commands.get(op.name):
            self._commands[op.index] = command
        return command

    def apply(self, state: frozenset, variant: tuple) -> frozenset:
        """The state after a variant's effects: adds, deletes, then each conditional effect whose
        condition held before the action (a delete leaves the fact's ``not_*`` marker, an add clears it)."""
        _, _, add, delete, conditional = variant
        facts = set(state)
        self._change(facts, add, delete)
        for disjuncts, c_add, c_del in conditional:
            if any(pos <= state and state.isdisjoint(neg) for pos, neg in disjuncts):
                self._change(facts, c_add, c_del)
        return frozenset(facts)

    def _change(self, facts: set, add: tuple, delete: tuple) -> None:
        n = self.n_facts
        for s in add:
            facts.discard(n + s)
            facts.add(s)
        for s in delete:
            facts.discard(s)
            facts.add(n + s)

    def won(self, state: frozenset) -> bool:
        """Whether the goal holds: some ground goal instance's facts are all true and its negated ones not."""
        for pos, neg in self.goals:
            if pos <= state and state.isdisjoint(neg):
                return True
        return False

    def __getstate__(self) -> dict:
        # The parsed domain and grammar hold compiled expressions: re-attached from the texts on loading.
        state = dict(self.__dict__)
        state.pop("domain", None)
        state.pop("text", None)
        state["_static_index"] = {}
        state["_type_cache"] = {}
        state["_slot_of"] = None
        state["_commands"] = {}
        return state

    def intro(self) -> str:
        if self._intro is None:
            self._intro = self.derive(self.init_state, "#intro#", {})
        return self._intro

    def feedback(self, op: Op, state: frozenset) -> str:
        text = self.text.actions[op.name]
        return self.derive(state, text.feedback, self._mapping(op))


def _is_static_query_text(template: str, fluent_preds: frozenset) -> bool:
    """Whether a template's text depends only on static facts (then it is derived once per operator)."""
    from hgpo_envs.alfworld.grammar import Conditional, ListOf, Nonterminal, parse_symbols

    for symbol in parse_symbols(template):
        if isinstance(symbol, ListOf):
            symbol = symbol.symbol
        if isinstance(symbol, Nonterminal):
            return False
        if isinstance(symbol, Conditional):
            if isinstance(symbol.expression, Nonterminal):
                return False
            if symbol.given and not _is_static_query(symbol.given, fluent_preds):
                return False
    return True


_GAMES: OrderedDict[tuple[str, str, str], NativeGame] = OrderedDict()
_GAMES_SIZE = 64


@functools.lru_cache(maxsize=8)
def _domain(text: str) -> Domain:
    """The parsed PDDL domain of ``text`` (a few domains per process at most)."""
    return parse_domain(text)


@functools.lru_cache(maxsize=64)
def _text_logic(text: str) -> TextLogic:
    """The parsed ``.twl2`` grammar of ``text``."""
    return parse_twl2(text)


def native_game(domain: str, grammar: str, problem: str) -> NativeGame:
    """:class:`NativeGame` of a game: from this process's cache of recent games, else from the on-disk
    cache (:mod:`hgpo_envs.alfworld.game_cache`), else grounded now (and written to the disk cache)."""
    key = (domain, grammar, problem)
    game = _GAMES.get(key)
    if game is None:
        path = cache_file(domain, grammar, problem)
        game = read_cached(path, NativeGame)
        if game is None:
            game = NativeGame(domain, grammar, problem)
            write_cached(path, game)
        else:
            game.domain = _domain(domain)
            game.text = _text_logic(grammar)
        _GAMES[key] = game
        if len(_GAMES) > _GAMES_SIZE:
            _GAMES.popitem(last=False)
    _GAMES.move_to_end(key)
    return game


class NativeEngine:
    """Plays one loaded game: ``load(game)``, ``reset()``, ``step(command)``.

    ``reset``/``step`` return ``(feedback, admissible_commands, won, moves)``; ``get_state`` /
    ``set_state`` copy and restore the state (a :class:`NativeState`).
    """

    def __init__(self) -> None:
        self.game: NativeGame | None = None
        self._data: dict | None = None
        self.state: frozenset = frozenset()
        self.moves = 0
        self._commands: dict[str, tuple] = {}
        self.admissible: list[str] = []

    def load(self, game: str | Mapping) -> None:
        """Load a ``game.tw-pddl`` (a path or its dict)."""
        if not isinstance(game, Mapping):
            with open(game, encoding="utf-8") as f:
                game = json.load(f)
        missing = [k for k in ("pddl_domain", "grammar", "pddl_problem") if k not in game]
        if missing:
            raise ValueError(f"game lacks field(s) {', '.join(missing)}")
        self._data = {k: game[k] for k in ("pddl_domain", "grammar", "pddl_problem")}
        self.game = native_game(game["pddl_domain"], game["grammar"], game["pddl_problem"])

    def _refresh(self) -> None:
        game = self.game
        commands: dict[str, tuple] = {}
        for op, variant in game.applicable(self.state):
            commands.setdefault(game.command(op, self.state), (op, variant))
        self._commands = commands
        self.admissible = sorted(commands)

    def reset(self) -> tuple[str, list[str], bool, int]:
        if self.game is None:
            raise RuntimeError("load a game before reset()")
        self.state = self.game.init_state
        self.moves = 0
        self._refresh()
        return self.game.intro(), self.admissible, self.game.won(self.state), 0

    def step(self, command: str) -> tuple[str, list[str], bool, int]:
        if self.game is None:
            raise RuntimeError("load a game and reset() before step()")
        found = self._commands.get(command.strip())
        if found is None:
            return NOTHING_HAPPENS, self.admissible, self.game.won(self.state), self.moves
        op, variant = found
        self.state = self.game.apply(self.state, variant)
        self.moves += 1
        feedback = self.game.feedback(op, self.state)
        self._refresh()
        return feedback, self.admissible, self.game.won(self.state), self.moves

    def get_state(self) -> NativeState:
        return NativeState(self.state, self.moves)

    def set_state(self, state: NativeState) -> None:
        if not isinstance(state, NativeState):
            raise TypeError(f"expected a NativeState, got {type(state).__name__}")
        if self.game is None:
            raise RuntimeError("load a game before set_state()")
        slots = 2 * self.game.n_facts
        if not isinstance(state.facts, frozenset) or any(not isinstance(s, int) or not 0 <= s < slots
                                                          for s in state.facts):
            raise ValueError(f"state.facts must be a frozenset of this game's slots (ints in [0, {slots}))")
        self.state = state.facts
        self.moves = state.moves
        self._refresh()

    def __getstate__(self) -> dict:
        # The grounded game is rebuilt (or found in the process cache) on unpickling.
        return {"data": self._data, "state": self.state, "moves": self.moves}

    def __setstate__(self, saved: dict) -> None:
        self.__init__()
        self._data = saved["data"]
        if self._data is not None:
            self.game = native_game(self._data["pddl_domain"], self._data["grammar"], self._data["pddl_problem"])
            self.state = saved["state"]
            self.moves = saved["moves"]
            self._refresh()


