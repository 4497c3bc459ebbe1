"""The native ALFWorld engine: ALFWorld's PDDL domain and TextWorld grammar interpreted directly.

Produces the same observations, admissible commands (same strings, same order), wins and move counts as
the TextWorld-backed engine (:mod:`hgpo_envs.alfworld.engine`), in pure Python with no C++ build:

* :class:`NativeGame`: one problem grounded once (:func:`hgpo_envs.alfworld.grounding.ground`) with the
  entities' displayed names; its facts are integers (slots: :class:`hgpo_envs.alfworld.grounding.FactCodes`,
  whose order is the order of the fact tuples, so sorted slots list one predicate's facts as TextWorld
  sorts them), operators over those numbers; cached per (domain, grammar, problem) in this process and on
  disk (:mod:`hgpo_envs.alfworld.game_cache`).
* :class:`NativeEngine`: ``load(game)`` / ``reset()`` / ``step(command)`` on a state that is a
  ``frozenset`` of slots: slot ``s`` below ``game.marker`` is fact ``game.fact(s)`` holding, slot
  ``game.marker + s`` TextWorld's ``not_*`` marker of it (a deleted atom leaves a ``not_<pred>`` fact until
  it is added again; the grammar's ``not_inreceptacle`` queries read them). ``get_state()`` /
  ``set_state()`` copy a state in O(1).
"""

from __future__ import annotations

import functools
import json
import re
from bisect import bisect_left
from collections import OrderedDict, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from hgpo_envs.alfworld.game_cache import cache_file, collections_paused, read_cached, write_cached
from hgpo_envs.alfworld.grammar import Entity, TextLogic, derive, parse_query, parse_twl2
from hgpo_envs.alfworld.grounding import FactCodes, Grounding, Reachability, ground
from hgpo_envs.alfworld.join_compiler import CompiledDomain, compile_domain
from hgpo_envs.alfworld.logic import GRAMMAR_PLACEHOLDER, TASK_LINE_RE
from hgpo_envs.alfworld.names import alfred_names
from hgpo_envs.alfworld.pddl import Domain, parse_domain, parse_problem

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


class _OperatorTable:
    """The operators as plain rows of slot tuples: one row per precondition variant (rows in operator,
    then variant order), each variant indexed by its anchor (a positive precondition slot that few
    variants share, chosen by the grounder). Holds no object per operator: an operator's :class:`Op` and
    a row's precondition sets are built on first use."""

    def __init__(self, rows: list[tuple], action_names: tuple[str, ...], object_names: tuple[str, ...]) -> None:
        """``rows``: :attr:`hgpo_envs.alfworld.grounding.Grounding.rows` (sorted: one operator's variants
        are consecutive)."""
        self.names = action_names
        self.object_names = object_names
        columns = zip(*rows, strict=True) if rows else ((),) * 10
        ranks, args, _, _, pos, neg, add, delete, conditional, anchors = columns
        if len(set(zip(ranks, args, strict=True))) == len(rows):  # one variant per operator (ALFWorld's case)
            self.op_name, self.op_args = list(ranks), list(args)
            self.op_rows = list(range(len(rows) + 1))
            self.row_op = self.op_rows[:-1]
        else:
            self._group(ranks, args)
        self.pos, self.neg, self.add, self.delete = pos, neg, add, delete
        self.conditional: dict[int, tuple] = {row: c for row, c in enumerate(conditional) if c}
        anchored: dict[int, list[int]] = defaultdict(list)
        for row, anchor in enumerate(anchors):
            anchored[anchor].append(row)
        self.unanchored = tuple(anchored.pop(-1, ()))
        self.anchored = {s: tuple(rows) for s, rows in anchored.items()}
        self.anchor_slots = frozenset(self.anchored)
        self._ops: dict[int, Op] = {}
        self._checks: dict[int, tuple[frozenset, frozenset]] = {}

    def _group(self, ranks: tuple[int, ...], args: tuple[tuple[int, ...], ...]) -> None:
        """Operators from consecutive rows with the same action and arguments (the variants of one)."""
        self.op_name, self.op_args, self.op_rows, self.row_op = [], [], [], []
        previous = None
        for row, key in enumerate(zip(ranks, args, strict=True)):
            if key != previous:
                previous = key
                self.op_rows.append(row)
                self.op_name.append(key[0])
                self.op_args.append(key[1])
            self.row_op.append(len(self.op_args) - 1)
        self.op_rows.append(len(ranks))

    def op(self, index: int) -> Op:
        """The operator at ``index``."""
        found = self._ops.get(index)
        if found is None:
            variants = tuple(
                (frozenset(self.pos[r]), frozenset(self.neg[r]), self.add[r], self.delete[r], self.conditional.get(r, ()))
                for r in range(self.op_rows[index], self.op_rows[index + 1])
            )
            names = self.object_names
            args = tuple([names[i] for i in self.op_args[index]])
            found = Op(index, self.names[self.op_name[index]], args, variants)
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

    def __init__(self, domain_text: str, grammar_text: str, problem_text: str,
                 reachability: Reachability | None = None) -> None:
        """``reachability``: what grounding this problem found before (from the disk cache), if known."""
        self.domain: Domain = _domain(domain_text)
        self.text: TextLogic = _text_logic(grammar_text)
        g: Grounding = ground(_compiled_domain(domain_text), parse_problem(problem_text), reachability)
        #: What grounding found (to store in the disk cache; :func:`native_game` lets go of it then).
        self.reachability: Reachability | None = g.reachability
        self.types = g.objects  # name -> declared type
        self.goal = g.goal  # the goal in disjunctive normal form
        ids = sorted({arg for fact in g.init_facts for arg in fact[1:]})
        unknown = [i for i in ids if i not in self.types]
        if unknown:
            raise ValueError(f"PDDL problem uses undeclared object(s) {', '.join(unknown[:5])}")
        names = alfred_names(ids)
        self.entities = {i: Entity(i, self.types[i], names[i]) for i in ids}
        self.fluent_preds = g.fluents
        self.static_by_pred: dict[str, list[tuple]] = defaultdict(list)
        for fact in sorted(g.static):
            self.static_by_pred[fact[0]].append(fact[1:])
        self.codes: FactCodes = g.codes
        #: The slot of fact ``s``'s ``not_*`` marker is ``marker + s``.
        self.marker: int = g.codes.limit
        #: Every fluent fact a state can hold, sorted (the goal's and the preconditions' facts may lie outside).
        self.universe: list[int] = g.universe
        self._universe = frozenset(g.universe)
        self.init_state: frozenset = g.init
        # The goal as ground instances: won when one holds (a few per ALFWorld game).
        self.goals: tuple[tuple[frozenset, frozenset], ...] = g.goal_instances
        self._params = {a.name: tuple((p.lstrip("?"), t) for p, t in a.parameters) for a in self.domain.actions}
        self._table = _OperatorTable(g.rows, g.action_names, g.codes.names)
        self._static_commands = {
            name: _is_static_query_text(text.template, self.fluent_preds) for name, text in self.text.actions.items()
        }
        self._commands: dict[int, str] = {}
        self._intro: str | None = None
        self._static_index: dict[tuple, list] = {}
        self._type_cache: dict[tuple[str, str], bool] = {}
        self._slots_of: dict[str, frozenset] = {}
        self._slot_args = _SlotArgs(self)

    # -- facts ---------------------------------------------------------------------------------------

    @functools.cached_property
    def static_facts(self) -> frozenset:
        """The static facts (initial facts of predicates no effect changes): ``(pred, arg, ...)`` tuples."""
        return frozenset((pred, *args) for pred, facts in self.static_by_pred.items() for args in facts)

    def fact(self, slot: int) -> tuple:
        """The fact of a slot: ``(pred, arg, ...)``, a marker as ``("not_" + pred, arg, ...)``."""
        if slot >= self.marker:
            pred, *args = self.codes.fact(slot - self.marker)
            return ("not_" + pred, *args)
        return self.codes.fact(slot)

    def pred_of(self, slot: int) -> str:
        """The predicate of a fact's slot (not of a marker's)."""
        return self.codes.preds[slot // self.codes.span]

    def slots_of(self, pred: str) -> frozenset:
        """The slots of ``pred``'s facts in the universe (``"not_" + pred``: their markers)."""
        found = self._slots_of.get(pred)
        if found is None:
            marker = pred.startswith("not_") and pred[4:] in self.fluent_preds
            slots = self._universe_slots(pred[4:] if marker else pred)
            found = frozenset(s + self.marker for s in slots) if marker else frozenset(slots)
            self._slots_of[pred] = found
        return found

    def _universe_slots(self, pred: str) -> list[int]:
        """The universe's slots of ``pred``, sorted (a bisection: the universe is sorted by predicate)."""
        if pred not in self.fluent_preds:
            return []
        low, high = self.codes.pred_range(pred)
        return self.universe[bisect_left(self.universe, low):bisect_left(self.universe, high)]

    def slot(self, fact: tuple) -> int:
        """The slot of a fluent fact of this game (``("not_" + pred, ...)`` for its marker); ``KeyError`` if
        the game has no such fact."""
        marker = fact[0].startswith("not_") and fact[0][4:] in self.fluent_preds
        code = self.codes.code((fact[0][4:], *fact[1:]) if marker else fact)
        if code not in self._universe:
            raise KeyError(fact)
        return code + self.marker if marker else code

    def state_of(self, facts: Iterable[tuple]) -> frozenset:
        """The state (slots) holding ``facts`` (fluent facts and ``not_*`` markers)."""
        return frozenset(self.slot(f) for f in facts)

    def owns_slots(self, slots: Iterable[int]) -> bool:
        """Whether every slot is this game's: a fact of its universe or such a fact's marker."""
        universe, marker = self._universe, self.marker
        return all(isinstance(s, int) and (s in universe or s - marker in universe) for s in slots)

    def fact_tuples(self, state: frozenset) -> frozenset:
        """The facts of a state spelled out: ``(pred, arg, ...)`` tuples, markers as ``("not_" + pred, ...)``."""
        return frozenset(self.fact(s) for s in state)

    # -- queries over a state ------------------------------------------------------------------------

    def facts_of(self, state: frozenset, pred: str, cache: dict) -> list[tuple]:
        """Sorted argument tuples of ``pred`` in ``state`` (static or fluent)."""
        if pred not in self.fluent_preds and not pred.startswith("not_"):
            return self.static_by_pred.get(pred, [])
        found = cache.get(pred)
        if found is None:
            slots = self.slots_of(pred)
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
        marker = self.marker
        for s in add:
            facts.discard(marker + s)
            facts.add(s)
        for s in delete:
            facts.discard(s)
            facts.add(marker + s)

    def won(self, state: frozenset) -> bool:
        """Whether the goal holds: some ground goal instance's facts are all true and its negated ones not."""
        for pos, neg in self.goals:
            if pos <= state and state.isdisjoint(neg):
                return True
        return False

    def intro(self) -> str:
        if self._intro is None:
            self._intro = self.derive(self.init_state, "#intro#", {})
        return self._intro

    def feedback(self, op: Op, state: frozenset) -> str:
        text = self.text.actions[op.name]
        return self.derive(state, text.feedback, self._mapping(op))


class _SlotArgs(dict):
    """Slot -> the argument names of its fact (a marker's: its fact's), decoded on first use."""

    def __init__(self, game: NativeGame) -> None:
        super().__init__()
        self._game = game

    def __missing__(self, slot: int) -> tuple:
        game = self._game
        args = game.codes.fact(slot - game.marker if slot >= game.marker else slot)[1:]
        self[slot] = args
        return args


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


@functools.lru_cache(maxsize=8)
def _compiled_domain(text: str) -> CompiledDomain:
    """The actions of the PDDL domain ``text`` compiled for grounding."""
    return compile_domain(_domain(text))


@functools.lru_cache(maxsize=64)
def _text_logic(text: str) -> TextLogic:
    """The parsed ``.twl2`` grammar of ``text``. A game's grammar is ALFWorld's with its task sentence
    written in: parsed once with the placeholder, then the sentence is put in the parsed rule."""
    found = TASK_LINE_RE.search(text)
    if found and GRAMMAR_PLACEHOLDER not in text and _PLAIN_TASK.fullmatch(found.group(1)):
        template = _text_logic(text[:found.start(1)] + GRAMMAR_PLACEHOLDER + text[found.end(1):])
        return template.with_text(GRAMMAR_PLACEHOLDER, found.group(1))
    return parse_twl2(text)


#: A task sentence that reads the same in the grammar's JSON and as grammar text.
_PLAIN_TASK = re.compile(r"[A-Za-z0-9 ,'-]*")


def native_game(domain: str, grammar: str, problem: str) -> NativeGame:
    """:class:`NativeGame` of a game: from this process's cache of recent games, else built from the
    reachability found before (the on-disk cache, :mod:`hgpo_envs.alfworld.game_cache`), else grounded now
    (and its reachability written to the disk cache)."""
    key = (domain, grammar, problem)
    game = _GAMES.get(key)
    if game is None:
        path = cache_file(domain, grammar, problem)
        found = read_cached(path, Reachability)
        with collections_paused():  # grounding makes many small objects and no cycles
            try:
                game = NativeGame(domain, grammar, problem, found)
            except ValueError:
                if found is None:
                    raise
                found = None  # a reachability that does not fit: ground again (and overwrite it)
                game = NativeGame(domain, grammar, problem)
        if found is None:
            write_cached(path, game.reachability)
        game.reachability = None  # the operator table holds what it gave
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
        if not isinstance(state.facts, frozenset) or not self.game.owns_slots(state.facts):
            raise ValueError("state.facts must be a frozenset of this game's slots (its facts and their markers)")
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


