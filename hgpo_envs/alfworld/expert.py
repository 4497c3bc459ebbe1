"""An expert for ALFWorld from any state: the next command of a shortest winning plan.

A* search (admissible estimate: goal facts still missing) over native states (:class:`hgpo_envs.alfworld.native.NativeGame`), bounded by a
node budget. A search step is one useful action, preceded by a ``go to`` when it must happen elsewhere
(cost 2, else 1); a lone ``go to`` is a step only when it wins. This loses no optimal plan: ``go to``
reaches any receptacle in one move, so an optimal plan never has two ``go to`` in a row nor one that
ends nowhere useful. Pruning, exact for ALFWorld's goal forms:

* actions that add nothing used by a precondition or the goal (``look``, ``examine``, ``inventory``,
  ``help``, ``close``) are never useful;
* object actions only for *relevant* objects: those the goal's static literals allow (e.g. every apple
  for "put a hot apple in fridge") and the object in hand;
* ``open`` only right before the take or put that needs it (``opened`` serves nothing else, so opening
  earlier is never better);
* a goal object is only put into a receptacle the goal allows (an intermediate place never shortens a
  plan: the object must end there anyway, and only one object can be held).
"""

from __future__ import annotations

import heapq
import itertools
from collections import defaultdict

from hgpo_envs.alfworld.native import NativeGame

__all__ = ["DEFAULT_BUDGET", "expert_plan", "plan_key"]

#: Expanded search nodes before giving up (the real games need at most a few thousand).
DEFAULT_BUDGET = 50_000
_MOVE = "gotolocation"
_LOCATION = "atlocation"
_OPEN = "openobject"
_OPENED = "opened"
_HOLDS = "holds"


def _goal_candidates(game: NativeGame, literals: list, var: str, type_: str) -> list[str]:
    """The objects of type ``type_`` that goal variable ``var`` may take, by the goal's static literals."""
    cands = [o for o, t in game.types.items() if game.domain.is_subtype(t, type_)]
    for positive, pred, terms in literals:
        if pred in game.fluent_preds or pred == "=" or var not in terms:
            continue
        if any(t.startswith("?") and t != var for t in terms):
            continue
        cands = [o for o in cands if ((pred, *(o if t == var else t for t in terms)) in game.static_facts) == positive]
    return cands


class _Plan:
    """Per-game data of the search, computed once per :class:`NativeGame` (facts as the game's slots)."""

    def __init__(self, game: NativeGame) -> None:
        relevant_preds: set[str] = set()
        for op in game.ops:
            for variant in op.variants:
                relevant_preds.update(game.pred_of(s) for s in variant[0] | variant[1])
        for literals, _ in game.goal:
            relevant_preds.update(pred for _, pred, _ in literals if pred in game.fluent_preds)
        self.relevant = frozenset(s for s in game.universe if game.pred_of(s) in relevant_preds)
        self.location_of = {s: game.fact(s)[2] for s in game.slots_of(_LOCATION)}
        self.held_of = {s: game.fact(s)[2] for s in game.slots_of(_HOLDS)}
        self.opened_of = {s: game.fact(s)[1] for s in game.slots_of(_OPENED)}
        self.location_slots = frozenset(self.location_of)
        self.held_slots = frozenset(self.held_of)
        # Candidates of each goal variable from its static literals.
        self.goal_objects: set[str] = set()
        for literals, variables in game.goal:
            for var, type_ in variables:
                self.goal_objects.update(_goal_candidates(game, literals, var, type_))
        self.moves: dict[str, list] = defaultdict(list)  # target location -> goto variants
        self.opens: dict[str, list] = defaultdict(list)  # receptacle -> open variants
        self.actions: list[tuple] = []  # (op, variant, location or None, other positives but opened, negatives)
        for op in game.ops:
            for variant in op.variants:
                self._add_action(game, op, variant, relevant_preds)
        self.object_type = {o for o, t in game.types.items() if t == "object"}
        self._heuristic_setup(game)
        # Actions on goal objects only (always considered), and those also involving one other object.
        self.goal_actions: list[tuple] = []
        self.by_object: dict[str, list[tuple]] = defaultdict(list)
        for entry in self.actions:
            others = {a for a in entry[0].args if a in self.object_type and a not in self.goal_objects}
            if not others:
                self.goal_actions.append(entry)
            elif len(others) == 1:
                self.by_object[next(iter(others))].append(entry)

    def _add_action(self, game: NativeGame, op, variant: tuple, relevant_preds: set) -> None:
        pos, neg, add, _delete, cond = variant
        if op.name == _MOVE:
            target = next((self.location_of[s] for s in add if s in self.location_of), None)
            if target is not None:
                self.moves[target].append((op, variant))
            return
        if op.name == _OPEN:
            self.opens[op.args[-1]].append((op, variant))
            return
        if not any(game.pred_of(s) in relevant_preds for s in add) and not cond:
            return
        loc = next((self.location_of[s] for s in pos if s in self.location_of), None)
        rest = tuple(s for s in pos if s not in self.location_of and s not in self.opened_of)
        self.actions.append((op, variant, loc, rest, neg))

    def _heuristic_setup(self, game: NativeGame) -> None:
        """An admissible A* estimate from the game's ground goal instances: the unsatisfied goal facts of
        the closest instance divided by the most goal facts one action adds. No estimate (plain
        uniform-cost search) with too many instances or negated goal facts."""
        goal_preds = {lit[1] for literals, _ in game.goal for lit in literals if lit[1] in game.fluent_preds}
        most = 1
        for op in game.ops:
            for variant in op.variants:
                most = max(most, sum(1 for s in variant[2] if game.pred_of(s) in goal_preds))
        self.max_goal_adds = most
        self.bindings: tuple[tuple[frozenset, frozenset], ...] | None = game.goals
        if len(game.goals) > 3000 or any(neg for _, neg in game.goals):
            self.bindings = None

    def estimate(self, state: frozenset) -> int:
        """A lower bound of the remaining plan cost."""
        if not self.bindings:
            return 0
        best = min(len(pos - state) for pos, _ in self.bindings)
        return -(-best // self.max_goal_adds)

    def location(self, state: frozenset) -> str | None:
        """Where the agent is."""
        for s in state & self.location_slots:
            return self.location_of[s]
        return None


_PLANS: dict[int, tuple[NativeGame, _Plan]] = {}


def _plan_data(game: NativeGame) -> _Plan:
    found = _PLANS.get(id(game))
    if found is None or found[0] is not game:
        if len(_PLANS) > 64:
            _PLANS.clear()
        found = _PLANS[id(game)] = (game, _Plan(game))
    return found[1]


def plan_key(game: NativeGame, state: frozenset) -> frozenset:
    """The part of a state that a plan depends on (facts of predicates used by preconditions or the goal)."""
    return state & _plan_data(game).relevant


def _first_applicable(game: NativeGame, entries, state: frozenset) -> tuple[frozenset, str] | None:
    """(next state, command) of the first of ``entries`` ((op, variant) pairs) applicable in ``state``."""
    for op, variant in entries:
        if variant[0] <= state and state.isdisjoint(variant[1]):
            return game.apply(state, variant), game.command(op, state)
    return None


def _successors(game: NativeGame, data: _Plan, s: frozenset) -> list[tuple[int, frozenset, tuple[str, ...]]]:
    """(cost, state, commands) of every search step from ``s``: a useful action, preceded by the ``go to``
    and the ``open`` it needs; a lone ``go to`` only when it wins."""
    here = data.location(s)
    moved: dict[str, tuple[frozenset, str] | None] = {}

    def move_to(loc: str) -> tuple[frozenset, str] | None:
        if loc not in moved:
            moved[loc] = _first_applicable(game, data.moves.get(loc, ()), s)
        return moved[loc]

    successors = []
    candidates = list(data.goal_actions)
    for obj in {data.held_of[h] for h in s & data.held_slots} - data.goal_objects:
        candidates += data.by_object.get(obj, ())
    for op, variant, loc, rest, neg in candidates:
        if op.name == "putobject" and op.args[2] in data.goal_objects and op.args[3] not in data.goal_objects:
            continue
        if not all(f in s for f in rest):
            continue
        s1, prefix = s, ()
        if loc is not None and loc != here:
            moved_state = move_to(loc)
            if moved_state is None:
                continue
            s1, prefix = moved_state[0], (moved_state[1],)
        if not s1.isdisjoint(neg):
            continue
        missing = variant[0] - s1
        if missing:
            # The one thing missing may be an opened receptacle: open it right before (never earlier).
            if len(missing) != 1 or next(iter(missing)) not in data.opened_of:
                continue
            opened = _first_applicable(game, data.opens.get(data.opened_of[next(iter(missing))], ()), s1)
            if opened is None:
                continue
            s1, prefix = opened[0], (*prefix, opened[1])
            if not s1.isdisjoint(neg) or not variant[0] <= s1:
                continue
        successors.append((len(prefix) + 1, game.apply(s1, variant), (*prefix, game.command(op, s1))))
    for loc in data.moves:
        if loc != here:
            moved_state = move_to(loc)
            if moved_state is not None and game.won(moved_state[0]):
                successors.append((1, moved_state[0], (moved_state[1],)))
    return successors


def expert_plan(game: NativeGame, state: frozenset, budget: int = DEFAULT_BUDGET) -> list[str] | None:
    """Commands of a shortest plan from ``state`` to a win (``[]`` when already won), or ``None`` when
    none is found within ``budget`` expanded nodes."""
    if game.won(state):
        return []
    data = _plan_data(game)
    relevant = data.relevant
    counter = itertools.count()
    frontier = [(data.estimate(state), 0, next(counter), state, ())]
    best = {state & relevant: 0}
    expanded = 0
    while frontier and expanded < budget:
        _, cost, _, s, plan = heapq.heappop(frontier)
        if best.get(s & relevant, cost) < cost:
            continue
        if game.won(s):
            return list(plan)
        expanded += 1
        for step_cost, s2, commands in _successors(game, data, s):
            k = s2 & relevant
            c = cost + step_cost
            if c < best.get(k, c + 1):
                best[k] = c
                heapq.heappush(frontier, (c + data.estimate(s2), c, next(counter), s2, plan + commands))
    return None
