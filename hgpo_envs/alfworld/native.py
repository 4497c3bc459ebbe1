"""The native ALFWorld engine: ALFWorld's PDDL domain and TextWorld grammar interpreted directly.

Produces the same observations, admissible commands (same strings, same order), wins and move counts as
the TextWorld-backed engine (:mod:`hgpo_envs.alfworld.engine`), in pure Python with no C++ build:

* :class:`NativeGame`: one problem grounded once (:func:`hgpo_envs.alfworld.pddl.ground`) with the
  entities' displayed names and each operator's command text; cached per (domain, grammar, problem).
* :class:`NativeEngine`: ``load(game)`` / ``reset()`` / ``step(command)`` on a state that is a
  ``frozenset`` of true fluent facts plus TextWorld's ``not_*`` marker facts (a deleted atom leaves a
  ``not_<pred>`` fact until it is added again; the grammar's ``not_inreceptacle`` queries read them).
  ``get_state()`` / ``set_state()`` copy a state in O(1).
"""

from __future__ import annotations

import functools
import json
from collections import OrderedDict, defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from hgpo_envs.alfworld.game_cache import cache_file, read_cached, write_cached
from hgpo_envs.alfworld.grammar import Entity, TextLogic, derive, parse_query, parse_twl2
from hgpo_envs.alfworld.names import alfred_names
from hgpo_envs.alfworld.pddl import Domain, Grounding, ground, parse_domain, parse_problem

__all__ = ["NOTHING_HAPPENS", "NativeEngine", "NativeGame", "NativeState", "native_game"]

NOTHING_HAPPENS = "Nothing happens."


@dataclass(frozen=True)
class NativeState:
    """A copyable engine state: true fluent facts (with ``not_*`` markers) and the move count."""

    facts: frozenset
    moves: int


class _Op:
    """A ground operator with its variants compiled for fast checks."""

    __slots__ = ("args", "command", "index", "mapping", "name", "variants")

    def __init__(self, index: int, name: str, args: tuple, mapping: dict, variants: list) -> None:
        self.index = index
        self.name = name
        self.args = args
        self.mapping = mapping  # (placeholder, type) -> id
        # (positive facts, negative facts, adds, deletes, conditional effects)
        self.variants = variants
        self.command: str | None = None


def _is_static_query(query: str, fluent_preds: frozenset) -> bool:
    return all(pred not in fluent_preds and not pred.startswith("not_") for pred, _ in parse_query(query))


class NativeGame:
    """A problem grounded once: operators, static facts, entities, texts. Shared read-only by engines."""

    def __init__(self, domain_text: str, grammar_text: str, problem_text: str) -> None:
        self.domain: Domain = _domain(domain_text)
        self.text: TextLogic = _text_logic(grammar_text)
        problem = parse_problem(problem_text)
        self.grounding: Grounding = ground(self.domain, problem)
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
        self.init_state = frozenset(f for f in g.init if f[0] in g.fluents)
        params = {a.name: a.parameters for a in self.domain.actions}
        self.ops: list[_Op] = []
        for op in g.operators:
            mapping = {(p.lstrip("?"), t): arg for (p, t), arg in zip(params[op.name], op.args, strict=True)}
            variants = []
            for pre, add, delete, cond in op.variants:
                pos = frozenset(f for f, v in pre if v)
                neg = frozenset(f for f, v in pre if not v)
                variants.append((pos, neg, add, delete, cond))
            self.ops.append(_Op(len(self.ops), op.name, op.args, mapping, variants))
        g.operators = []  # now held as self.ops
        # Index every variant by its rarest positive precondition fact; variants without one are always checked.
        frequency: dict[tuple, int] = defaultdict(int)
        for op in self.ops:
            for variant in op.variants:
                for fact in variant[0]:
                    frequency[fact] += 1
        self.anchored: dict[tuple, list[tuple[_Op, tuple]]] = defaultdict(list)
        self.unanchored: list[tuple[_Op, tuple]] = []
        for op in self.ops:
            for variant in op.variants:
                if variant[0]:
                    anchor = min(variant[0], key=lambda f: (frequency[f], f))
                    self.anchored[anchor].append((op, variant))
                else:
                    self.unanchored.append((op, variant))
        self._static_commands = {
            name: _is_static_query_text(text.template, self.fluent_preds) for name, text in self.text.actions.items()
        }
        self._intro: str | None = None
        self._static_index: dict[tuple, list] = {}
        # The goal as ground instances: won when one holds (a few per ALFWorld game).
        self.goals: tuple[tuple[frozenset, frozenset], ...] = tuple(
            (frozenset(pos), frozenset(neg)) for pos, neg in g.goal_instances
        )
        self._type_cache: dict[tuple[str, str], bool] = {}

    # -- queries over a state ------------------------------------------------------------------------

    def facts_of(self, state: frozenset, pred: str, cache: dict) -> list[tuple]:
        """Sorted argument tuples of ``pred`` in ``state`` (static or fluent)."""
        if pred not in self.fluent_preds and not pred.startswith("not_"):
            return self.static_by_pred.get(pred, [])
        found = cache.get(pred)
        if found is None:
            found = sorted(f[1:] for f in state if f[0] == pred)
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

    def applicable(self, state: frozenset) -> list[tuple[_Op, tuple]]:
        """Applicable operators (each with its first applicable variant), in operator order."""
        found: dict[int, tuple[_Op, tuple]] = {}
        anchored = self.anchored
        candidates = list(self.unanchored)
        for fact in state:
            entries = anchored.get(fact)
            if entries:
                candidates += entries
        for op, variant in candidates:
            if variant[0] <= state and state.isdisjoint(variant[1]):
                previous = found.get(op.index)
                if previous is None or op.variants.index(variant) < op.variants.index(previous[1]):
                    found[op.index] = (op, variant)
        return [found[i] for i in sorted(found)]

    def command(self, op: _Op, state: frozenset) -> str:
        if op.command is not None:
            return op.command
        text = self.text.actions.get(op.name)
        if text is None:
            raise ValueError(f"the grammar has no template for action {op.name!r}")
        command = self.derive(state, text.template, op.mapping)
        if self._static_commands.get(op.name):
            op.command = command
        return command

    def apply(self, state: frozenset, variant: tuple) -> frozenset:
        _, _, add, delete, conditional = variant
        facts = set(state)
        effects: list[tuple[tuple, bool]] = [(f, True) for f in add] + [(f, False) for f in delete]
        for conjuncts, c_add, c_del, binding in conditional:
            if any(self._holds(state, lits, binding) for lits, _ in conjuncts):
                effects += [(f, True) for f in c_add] + [(f, False) for f in c_del]
        for fact, positive in effects:
            if positive:
                facts.discard(("not_" + fact[0], *fact[1:]))
                facts.add(fact)
            else:
                facts.discard(fact)
                facts.add(("not_" + fact[0], *fact[1:]))
        return frozenset(facts)

    def _true(self, state: frozenset, fact: tuple) -> bool:
        if fact[0] in self.fluent_preds:
            return fact in state
        return fact in self.grounding.static

    def _holds(self, state: frozenset, literals: list, binding: dict) -> bool:
        for positive, pred, terms in literals:
            args = tuple(binding.get(t, t) for t in terms)
            if pred == "=":
                if (args[0] == args[1]) != positive:
                    return False
            elif self._true(state, (pred, *args)) != positive:
                return False
        return True

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
        return state

    def intro(self) -> str:
        if self._intro is None:
            self._intro = self.derive(self.init_state, "#intro#", {})
        return self._intro

    def feedback(self, op: _Op, state: frozenset) -> str:
        text = self.text.actions[op.name]
        return self.derive(state, text.feedback, op.mapping)


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


