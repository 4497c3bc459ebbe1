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


def _goal_candidates(game: NativeGame, literals: list, var: str, type_: str) -> list[str]:
    """The objects of type ``type_`` that goal variable ``var`` may take, by the goal's static literals."""
    g = game.grounding
    cands = [o for o, t in g.objects.items() if game.domain.is_subtype(t, type_)]
    for positive, pred, terms in literals:
        if pred in g.fluents or pred == "=" or var not in terms:
            continue
        if any(t.startswith("?") and t != var for t in terms):
            continue
        cands = [o for o in cands if ((pred, *(o if t == var else t for t in terms)) in g.static) == positive]
    return cands


class _Plan:
    """Per-game data of the search, computed once per :class:`NativeGame`."""

    def __init__(self, game: NativeGame) -> None:
        g = game.grounding
        relevant_preds: set[str] = set()
        for op in game.ops:
            for variant in op.variants:
                relevant_preds.update(f[0] for f in variant[0] | variant[1])
        for literals, _ in g.goal:
            relevant_preds.update(pred for _, pred, _ in literals if pred in g.fluents)
        self.relevant_preds = frozenset(relevant_preds)
        # Candidates of each goal variable from its static literals.
        self.goal_objects: set[str] = set()
        for literals, variables in g.goal:
            for var, type_ in variables:
                cands = _goal_candidates(game, literals, var, type_)
                self.goal_objects.update(cands)
        self.moves: dict[str, list] = defaultdict(list)  # target location -> goto variants
        self.opens: dict[str, list] = defaultdict(list)  # receptacle -> open variants
        self.actions: list[tuple] = []  # (op, variant, location or None, other positives, negatives)
        for op in game.ops:
            for variant in op.variants:
                pos, neg, add, _delete, cond = variant
                if op.name == _MOVE:
                    target = next((f[2] for f in add if f[0] == _LOCATION), None)
                    if target is not None:
                        self.moves[target].append((op, variant))
                    continue
                if op.name == _OPEN:
                    self.opens[op.args[-1]].append((op, variant))
                    continue
                if not any(f[0] in self.relevant_preds for f in add) and not cond:
                    continue
                loc = next((f[2] for f in pos if f[0] == _LOCATION), None)
                rest = tuple(f for f in pos if f[0] != _LOCATION)
                self.actions.append((op, variant, loc, rest, neg))
        self.object_type = {o for o, t in g.objects.items() if t == "object"}
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


    def _heuristic_setup(self, game: NativeGame) -> None:
        """An admissible A* estimate from the game's ground goal instances: the unsatisfied goal facts of
        the closest instance divided by the most goal facts one action adds. No estimate (plain
        uniform-cost search) with too many instances or negated goal facts."""
        g = game.grounding
        goal_preds = {lit[1] for literals, _ in g.goal for lit in literals if lit[1] in g.fluents}
        most = 1
        for op in game.ops:
            for variant in op.variants:
                most = max(most, sum(1 for f in variant[2] if f[0] in goal_preds))
        self.max_goal_adds = most
        self.bindings: tuple[tuple[frozenset, frozenset], ...] | None = game.goals
        if len(game.goals) > 3000 or any(neg for _, neg in game.goals):
            self.bindings = None

    def estimate(self, state: frozenset) -> int:
        """A lower bound of the remaining plan cost."""
        if not self.bindings:
            return 0
        best = None
        for pos, _ in self.bindings:
            missing = len(pos - state)
            if best is None or missing < best:
                best = missing
                if best == 0:
                    break
        return -(-best // self.max_goal_adds)


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
    relevant = _plan_data(game).relevant_preds
    return frozenset(f for f in state if f[0] in relevant)


def _agent_location(state: frozenset) -> str | None:
    for f in state:
        if f[0] == _LOCATION:
            return f[2]
    return None


def expert_plan(game: NativeGame, state: frozenset, budget: int = DEFAULT_BUDGET) -> list[str] | None:
    """Commands of a shortest plan from ``state`` to a win (``[]`` when already won), or ``None`` when
    none is found within ``budget`` expanded nodes."""
    if game.won(state):
        return []
    data = _plan_data(game)
    relevant = data.relevant_preds

    def key(s: frozenset) -> frozenset:
        return frozenset(f for f in s if f[0] in relevant)

    counter = itertools.count()
    start_key = key(state)
    frontier = [(data.estimate(state), 0, next(counter), state, ())]
    best = {start_key: 0}
    expanded = 0
    while frontier and expanded < budget:
        _, cost, _, s, plan = heapq.heappop(frontier)
        if best.get(key(s), cost) < cost:
            continue
        if game.won(s):
            return list(plan)
        expanded += 1
        here = _agent_location(s)
        held = {f[2] for f in s if f[0] == "holds"}
        successors = []
        moved: dict[str, tuple[frozenset, str] | None] = {}

        def move_to(loc: str, s: frozenset = s, here: str | None = here, moved: dict = moved):
            if loc not in moved:
                moved[loc] = None
                for op, variant in data.moves.get(loc, ()):
                    pos, neg = variant[0], variant[1]
                    if all(f in s for f in pos) and not any(f in s for f in neg):
                        moved[loc] = (game.apply(s, variant), game.command(op, s))
                        break
            return moved[loc]

        candidates = list(data.goal_actions)
        for obj in held - data.goal_objects:
            candidates += data.by_object.get(obj, ())
        for op, variant, loc, rest, neg in candidates:
            if op.name == "putobject" and op.args[2] in data.goal_objects and op.args[3] not in data.goal_objects:
                continue
            if not all(f in s for f in rest if f[0] != _OPENED):
                continue
            if loc is None or loc == here:
                s1, prefix = s, ()
            else:
                moved_state = move_to(loc)
                if moved_state is None:
                    continue
                s1, prefix = moved_state[0], (moved_state[1],)
            if any(f in s1 for f in neg):
                continue
            missing = [f for f in variant[0] if f not in s1]
            if missing:
                # The one thing missing may be an opened receptacle: open it right before (never earlier).
                if len(missing) != 1 or missing[0][0] != _OPENED:
                    continue
                opened = None
                for open_op, open_variant in data.opens.get(missing[0][1], ()):
                    if all(f in s1 for f in open_variant[0]) and not any(f in s1 for f in open_variant[1]):
                        opened = (game.apply(s1, open_variant), game.command(open_op, s1))
                        break
                if opened is None:
                    continue
                s1, prefix = opened[0], (*prefix, opened[1])
                if any(f in s1 for f in neg) or not all(f in s1 for f in variant[0]):
                    continue
            successors.append((len(prefix) + 1, game.apply(s1, variant), (*prefix, game.command(op, s1))))
        for loc in data.moves:
            if loc == here:
                continue
            moved_state = move_to(loc)
            if moved_state is not None and game.won(moved_state[0]):
                successors.append((1, moved_state[0], (moved_state[1],)))
        for step_cost, s2, commands in successors:
            k = key(s2)
            c = cost + step_cost
            if c < best.get(k, c + 1):
                best[k] = c
                heapq.heappush(frontier, (c + data.estimate(s2), c, next(counter), s2, plan + commands))
    return None
