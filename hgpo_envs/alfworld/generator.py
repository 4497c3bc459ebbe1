"""Offline procedural ALFWorld games over ALFWorld's PDDL domain and ALFRED's vocabulary.

Each game is a new household scene: receptacles at their own locations (some of them closed
containers), the task's target object(s) and distractor objects placed where ALFRED's affordances allow,
a goal of one of the six task types (the goal forms of the real games), a task sentence from ALFWorld's
templates and a walkthrough built with the scene. A game is kept only when playing its walkthrough in
the engine wins exactly on the last command, with every command admissible and the goal not already
holding at reset; otherwise the next candidate (same seed, next attempt) is tried.

Game ``i`` of ``(seed, task_types, config)`` is always the same game, so a generated split can be made
lazily (:class:`GeneratedGames`) or written once (:func:`generate_games`).
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from hgpo_envs.alfworld.gameset import GameRecord
from hgpo_envs.alfworld.logic import Logic, find_logic
from hgpo_envs.alfworld.tasks import TASK_TEMPLATES, check_task_types
from hgpo_envs.alfworld.vocabulary import Vocabulary, vocabulary

__all__ = ["GeneratedGames", "GeneratorConfig", "generate_game", "generate_games", "verify_game"]

# Receptacles a desk lamp stands on in ALFRED scenes.
_LAMP_HOLDERS = ("Desk", "Dresser", "SideTable")
_APPLIANCE = {
    "pick_heat_then_place_in_recep": "Microwave",
    "pick_cool_then_place_in_recep": "Fridge",
    "pick_clean_then_place_in_recep": "SinkBasin",
}
_MAX_ATTEMPTS = 50


@dataclass(frozen=True)
class GeneratorConfig:
    """Difficulty knobs (inclusive ranges, drawn per game).

    receptacles: receptacles in the scene (locations to search), the required ones included.
    distractors: objects besides the target(s).
    closed_containers: openable receptacles (cabinets, drawers, safes; fridge/microwave count too).
    target_copies: extra instances of the target class besides the needed one(s).
    """

    receptacles: tuple[int, int] = (6, 14)
    distractors: tuple[int, int] = (3, 12)
    closed_containers: tuple[int, int] = (1, 4)
    target_copies: tuple[int, int] = (0, 1)

    def __post_init__(self) -> None:
        for name in ("receptacles", "distractors", "closed_containers", "target_copies"):
            lo, hi = getattr(self, name)
            if not 0 <= lo <= hi:
                raise ValueError(f"{name} must be a range 0 <= lo <= hi, got {(lo, hi)}")
        if self.receptacles[0] < 4:
            raise ValueError("receptacles must be at least 4 (goal, source, appliance, one more)")


def _coord(value: int) -> str:
    sign = "_plus_" if value >= 0 else "_minus_"
    return f"{sign}{abs(value) // 100:02d}_dot_{abs(value) % 100:02d}"


class _Scene:
    """A scene under construction: entities, facts and the names the engine will display."""

    def __init__(self, rng: random.Random, vocab: Vocabulary) -> None:
        self.rng = rng
        self.vocab = vocab
        self.ids: set[str] = set()
        self.receptacles: list[tuple[str, str, str]] = []  # (id, class, location)
        self.objects: list[tuple[str, str, str]] = []  # (id, class, receptacle id)
        self.lamps: list[str] = []

    def _new_id(self, cls: str) -> str:
        while True:
            x, y, z = (self.rng.randint(-499, 499) for _ in range(3))
            if cls == "SinkBasin":
                id_ = f"Sink_bar_{_coord(x)}_bar_{_coord(y)}_bar_{_coord(z)}_bar_SinkBasin"
            elif cls == "BathtubBasin":
                id_ = f"Bathtub_bar_{_coord(x)}_bar_{_coord(y)}_bar_{_coord(z)}_bar_BathtubBasin"
            else:
                id_ = f"{cls}_bar_{_coord(x)}_bar_{_coord(y)}_bar_{_coord(z)}"
            if id_.lower() not in self.ids:
                self.ids.add(id_.lower())
                return id_

    def add_receptacle(self, cls: str) -> str:
        id_ = self._new_id(cls)
        loc = f"loc_bar_{len(self.receptacles)}_bar_{self.rng.randint(0, 9)}_bar_{self.rng.randrange(4)}_bar_30"
        self.receptacles.append((id_, cls, loc))
        return id_

    def add_object(self, cls: str, receptacle: str, lamp: bool = False) -> str:
        id_ = self._new_id(cls)
        self.objects.append((id_, cls, receptacle))
        if lamp:
            self.lamps.append(id_)
        return id_

    def location(self, receptacle: str) -> str:
        return next(loc for r, _, loc in self.receptacles if r == receptacle)

    def rclass(self, receptacle: str) -> str:
        return next(cls for r, cls, _ in self.receptacles if r == receptacle)

    def names(self) -> dict[str, str]:
        from hgpo_envs.alfworld.names import alfred_names

        ids = [r for r, _, _ in self.receptacles] + [o for o, _, _ in self.objects]
        lowered = alfred_names([i.lower() for i in ids])
        return {i: lowered[i.lower()] for i in ids}

    def problem(self, name: str, goal: str) -> str:
        vocab = self.vocab
        rtypes = sorted(vocab.receptacle_classes)
        otypes = sorted(set(vocab.all_object_types) - set(rtypes))
        start = "loc_bar_99_bar_99_bar_0_bar_30"
        locations = sorted({loc for _, _, loc in self.receptacles} | {start})
        lines = ["", f"(define (problem {name})", "(:domain alfred)", "(:objects", "agent1 - agent"]
        lines += [f"        {t}Type - otype" for t in otypes]
        lines += [f"        {t}Type - rtype" for t in rtypes]
        lines += [f"        {o} - object" for o, _, _ in self.objects]
        lines += [f"        {r} - receptacle" for r, _, _ in self.receptacles]
        lines += [f"        {loc} - location" for loc in locations]
        lines += ["        )", "    ", "(:init", ""]
        present_r = sorted({cls for _, cls, _ in self.receptacles})
        present_o = sorted({cls for _, cls, _ in self.objects})
        init = [f"(atLocation agent1 {start})"]
        init += [f"(canContain {r}Type {o}Type)" for r in present_r for o in present_o if o in vocab.can_contain[r]]
        for r, cls, loc in self.receptacles:
            init += [f"(receptacleType {r} {cls}Type)", f"(receptacleAtLocation {r} {loc})"]
            if cls in vocab.openable:
                init.append(f"(openable {r})")
        for o, cls, r in self.objects:
            init.append(f"(objectType {o} {cls}Type)")
            if o in self.lamps:
                init.append(f"(toggleable {o})")
            else:
                init.append(f"(pickupable {o})")
                for prop, members in (("heatable", vocab.heatable), ("coolable", vocab.coolable),
                                      ("cleanable", vocab.cleanable)):
                    if cls in members:
                        init.append(f"({prop} {o})")
                if cls in vocab.receptacle_objects:
                    init.append(f"(isReceptacleObject {o})")
            init += [f"(inReceptacle {o} {r})", f"(objectAtLocation {o} {self.location(r)})"]
        lines += [f"        {fact}" for fact in init]
        lines += ["        )", "", goal, ")", ""]
        return "\n".join(lines)


def _goal(task_type: str, obj: str, recep: str) -> str:
    if task_type == "look_at_obj_in_light":
        return f"""(:goal
    (and
        (exists (?ot - object ?r - receptacle ?a - agent ?l - location)
            (and
                (objectType ?ot DeskLampType)
                (toggleable ?ot)
                (isToggled ?ot)
                (receptacleAtLocation ?r ?l)
                (atLocation ?a ?l)
                (inReceptacle ?ot ?r)
            )
        )
        (exists (?o - object ?a - agent)
            (and
                (objectType ?o {obj}Type)
                (holds ?a ?o)
            )
        )
    )
)"""
    if task_type == "pick_two_obj_and_place":
        return f"""(:goal
    (and
        (exists (?r - receptacle)
            (exists (?o1 - object)
                (and
                    (objectType ?o1 {obj}Type)
                    (receptacleType ?r {recep}Type)
                    (inReceptacle ?o1 ?r)
                    (exists (?o2 - object)
                        (and
                            (not (= ?o1 ?o2))
                            (objectType ?o2 {obj}Type)
                            (receptacleType ?r {recep}Type)
                            (inReceptacle ?o2 ?r)
                        )
                    )
                )
            )
        )
    )
)"""
    extra = {
        "pick_clean_then_place_in_recep": "(cleanable ?o)\n                    (isClean ?o)",
        "pick_heat_then_place_in_recep": "(heatable ?o)\n                    (isHot ?o)",
        "pick_cool_then_place_in_recep": "(coolable ?o)\n                    (isCool ?o)",
    }.get(task_type, "")
    return f"""(:goal
    (and
        (exists (?r - receptacle)
            (exists (?o - object)
                (and
                    {extra}
                    (objectType ?o {obj}Type)
                    (receptacleType ?r {recep}Type)
                    (inReceptacle ?o ?r)
                )
            )
        )
    )
)"""


def _candidate(rng: random.Random, task_type: str, config: GeneratorConfig, vocab: Vocabulary) -> tuple[_Scene, str, str, list]:
    """One candidate scene; returns (scene, object class, goal receptacle class, plan steps)."""
    appliance = _APPLIANCE.get(task_type)
    pool = {
        "pick_heat_then_place_in_recep": vocab.heatable,
        "pick_cool_then_place_in_recep": vocab.coolable,
        "pick_clean_then_place_in_recep": vocab.cleanable,
    }.get(task_type, frozenset(vocab.object_classes))
    objects = sorted(set(vocab.object_classes) & pool)
    obj = rng.choice(objects)
    holders = [r for r in vocab.holders(obj) if r != appliance and r not in ("BathtubBasin",)]
    if task_type == "look_at_obj_in_light":
        goal_recep = "DeskLamp"
        required = [rng.choice(_LAMP_HOLDERS)]
        sources = holders
    else:
        goal_recep = rng.choice(holders)
        required = [goal_recep] + ([appliance] if appliance else [])
        sources = [r for r in holders if r != goal_recep]
    if not sources:
        raise _Retry
    source_classes = [rng.choice(sources) for _ in range(2 if task_type == "pick_two_obj_and_place" else 1)]
    required += source_classes

    scene = _Scene(rng, vocab)
    n_receptacles = max(rng.randint(*config.receptacles), len(required))
    n_closed = rng.randint(*config.closed_containers)
    openable = sorted(c for c in vocab.receptacle_classes if c in vocab.openable and c not in ("Microwave", "Fridge"))
    others = [c for c in vocab.receptacle_classes if c not in vocab.openable and c not in ("BathtubBasin",)]
    extra = [rng.choice(openable) for _ in range(n_closed)]
    while len(required) + len(extra) < n_receptacles:
        extra.append(rng.choice(others))
    classes = required + extra
    # Required receptacles first (their ids are remembered), the rest in random order.
    ids = [scene.add_receptacle(c) for c in classes]
    goal_ids = {i for i, c in zip(ids, classes, strict=True) if c == goal_recep}
    source_ids = ids[len(required) - len(source_classes) : len(required)]

    steps: list[tuple[str, ...]] = []
    if task_type == "look_at_obj_in_light":
        lamp_holder = ids[0]
        lamp = scene.add_object("DeskLamp", lamp_holder, lamp=True)
        target = scene.add_object(obj, source_ids[0])
        steps = [("take", target, source_ids[0]), ("goto", lamp_holder), ("use", lamp)]
    elif task_type == "pick_two_obj_and_place":
        goal_id = ids[0]
        first = scene.add_object(obj, source_ids[0])
        second = scene.add_object(obj, source_ids[1])
        steps = [("take", first, source_ids[0]), ("move", first, goal_id),
                 ("take", second, source_ids[1]), ("move", second, goal_id)]
    else:
        goal_id = ids[0]
        target = scene.add_object(obj, source_ids[0])
        steps = [("take", target, source_ids[0])]
        if appliance:
            verb = {"Microwave": "heat", "Fridge": "cool", "SinkBasin": "clean"}[appliance]
            steps.append((verb, target, ids[1]))
        steps.append(("move", target, goal_id))

    # Extra copies of the target class and distractors, never in a goal-class receptacle
    # (the goal must not hold at reset).
    free = [i for i in ids if i not in goal_ids]
    for _ in range(rng.randint(*config.target_copies)):
        fits = [i for i in free if obj in vocab.can_contain[scene.rclass(i)]]
        if fits:
            scene.add_object(obj, rng.choice(fits))
    distractor_classes = [c for c in vocab.object_classes if c != obj]
    for _ in range(rng.randint(*config.distractors)):
        cls = rng.choice(distractor_classes)
        fits = [i for i in ids if cls in vocab.can_contain[scene.rclass(i)]]
        if fits:
            scene.add_object(cls, rng.choice(fits))
    return scene, obj, goal_recep, steps


class _Retry(Exception):
    pass


def _walkthrough(scene: _Scene, steps: list[tuple[str, ...]], openable: frozenset[str]) -> list[str]:
    """Commands for the plan steps, with the moves and openings they need."""
    names = scene.names()
    here, opened, commands = None, set(), []

    def go(receptacle: str) -> None:
        nonlocal here
        if here != scene.location(receptacle):
            commands.append(f"go to {names[receptacle]}")
            here = scene.location(receptacle)

    def open_(receptacle: str) -> None:
        if scene.rclass(receptacle) in openable and receptacle not in opened:
            commands.append(f"open {names[receptacle]}")
            opened.add(receptacle)

    for step in steps:
        verb = step[0]
        if verb == "take":
            _, obj, recep = step
            go(recep)
            open_(recep)
            commands.append(f"take {names[obj]} from {names[recep]}")
        elif verb == "move":
            _, obj, recep = step
            go(recep)
            open_(recep)
            commands.append(f"move {names[obj]} to {names[recep]}")
        elif verb in ("heat", "cool", "clean"):
            _, obj, recep = step
            go(recep)
            commands.append(f"{verb} {names[obj]} with {names[recep]}")
        elif verb == "goto":
            go(step[1])
        elif verb == "use":
            commands.append(f"use {names[step[1]]}")
    return commands


def verify_game(record: GameRecord, logic: Logic, engine: Any = None) -> str | None:
    """Play the walkthrough in the engine (default: the native one; any object with its ``load`` /
    ``reset`` / ``step`` interface). Returns ``None`` when it wins exactly on its last command with every
    command admissible and the goal not holding at reset, else the reason it fails."""
    from hgpo_envs.alfworld.native import NativeEngine

    engine = engine or NativeEngine()
    engine.load(logic.game(record.task_desc, record.pddl_problem, record.walkthrough))
    _, admissible, won, _ = engine.reset()
    if won:
        return "the goal holds at reset"
    for i, command in enumerate(record.walkthrough):
        if command not in admissible:
            return f"step {i}: {command!r} is not admissible"
        _, admissible, won, _ = engine.step(command)
        if won != (i == len(record.walkthrough) - 1):
            return f"step {i}: won={won} after {command!r}"
    return None if record.walkthrough else "empty walkthrough"


def generate_game(
    seed: int,
    index: int,
    task_type: str,
    config: GeneratorConfig = GeneratorConfig(),
    logic: Logic | None = None,
    engine: Any = None,
) -> GameRecord:
    """Game ``index`` of the set made with ``seed``: a verified, solvable game of ``task_type``."""
    check_task_types([task_type])
    vocab = vocabulary()
    logic = logic or find_logic()
    failures = []
    for attempt in range(_MAX_ATTEMPTS):
        rng = random.Random(f"hgpo-alfworld-gen:{seed}:{index}:{attempt}")
        try:
            scene, obj, recep, steps = _candidate(rng, task_type, config, vocab)
        except _Retry:
            continue
        task_id = f"gen_s{seed}_i{index:06d}"
        template = rng.choice(TASK_TEMPLATES[task_type])
        record = GameRecord(
            path=f"generated/{task_type}-{obj}-None-{recep}-0/{task_id}/game.tw-pddl",
            split="generated",
            task_type=task_type,
            object_target=obj,
            mrecep_target="",
            parent_target=recep,
            scene_num=0,
            task_id=task_id,
            task_desc=template.format(obj=obj.lower(), recep=recep.lower()),
            human_task_descs=None,
            walkthrough=_walkthrough(scene, steps, vocab.openable),
            pddl_problem=scene.problem(f"plan_{task_id}", _goal(task_type, obj, recep)),
            extra={"generator": {"seed": seed, "index": index, "attempt": attempt,
                                 "config": {k: list(v) for k, v in asdict(config).items()}}},
        )
        failure = verify_game(record, logic, engine)
        if failure is None:
            return record
        failures.append(failure)
    raise RuntimeError(f"no solvable {task_type} game for seed {seed}, index {index}: {failures[:3]}")


def _task_type_of(index: int, task_types: Sequence[str]) -> str:
    return task_types[index % len(task_types)]


def generate_games(
    n: int,
    seed: int,
    task_types: Sequence[str] | None = None,
    config: GeneratorConfig = GeneratorConfig(),
    logic: Logic | None = None,
) -> Iterator[GameRecord]:
    """``n`` verified games; task types cycle through ``task_types`` so that every type is covered."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    from hgpo_envs.alfworld.native import NativeEngine

    types = check_task_types(task_types)
    logic = logic or find_logic()
    engine = NativeEngine()
    for i in range(n):
        yield generate_game(seed, i, _task_type_of(i, types), config, logic, engine)


class GeneratedGames(Sequence[GameRecord]):
    """The generated split as a lazy sequence: game ``i`` is made (and verified) on first access.

    Args:
        n: number of games. seed: set seed. task_types: types to cycle through (default all six).
    """

    def __init__(self, n: int, seed: int = 0, task_types: Sequence[str] | None = None,
                 config: GeneratorConfig = GeneratorConfig()) -> None:
        if n < 1:
            raise ValueError(f"generated_games must be >= 1, got {n}")
        self.n = n
        self.seed = seed
        self.task_types = check_task_types(task_types)
        self.config = config
        self.logic = find_logic()
        self._cache: dict[int, GameRecord] = {}
        self._engine: Any = None

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self.n))]
        if not -self.n <= index < self.n:
            raise IndexError(f"game index {index} out of range [0, {self.n})")
        index %= self.n
        if index not in self._cache:
            if self._engine is None:
                from hgpo_envs.alfworld.native import NativeEngine

                self._engine = NativeEngine()
            self._cache[index] = generate_game(self.seed, index, _task_type_of(index, self.task_types),
                                               self.config, self.logic, self._engine)
        return self._cache[index]

