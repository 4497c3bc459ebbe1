"""ALFRED's object and receptacle vocabulary, read from the installed ``alfworld`` package.

``alfworld/gen/constants.py`` holds the class lists and affordances (which object classes fit in which
receptacle classes; which are heatable, coolable, cleanable, toggleable). It is loaded from its file so
that the ``alfworld`` package itself (whose import creates ``~/.cache/alfworld``) is never imported.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import lru_cache

from hgpo_envs.alfworld.logic import package_logic_dir

__all__ = ["Vocabulary", "vocabulary"]

_LAMPS = frozenset({"DeskLamp", "FloorLamp"})


@dataclass(frozen=True)
class Vocabulary:
    """Class names (ALFRED spelling, e.g. ``CounterTop``) and their affordances."""

    object_classes: tuple[str, ...]  # pickupable, placeable in some static receptacle
    receptacle_classes: tuple[str, ...]  # static receptacles
    can_contain: dict[str, frozenset[str]]  # receptacle class -> object classes it accepts
    openable: frozenset[str]
    heatable: frozenset[str]
    coolable: frozenset[str]
    cleanable: frozenset[str]
    toggleable: frozenset[str]
    receptacle_objects: frozenset[str]  # movable receptacles (bowl, mug, ...)
    all_object_types: tuple[str, ...]  # every ALFRED class, declared as otype in problems

    def holders(self, object_class: str) -> list[str]:
        """Static receptacle classes that accept ``object_class`` (sorted)."""
        return sorted(r for r in self.receptacle_classes if object_class in self.can_contain[r])


@lru_cache(maxsize=1)
def vocabulary() -> Vocabulary:
    """The vocabulary of the installed ``alfworld`` package (loaded once)."""
    path = package_logic_dir().parent / "gen" / "constants.py"
    spec = importlib.util.spec_from_file_location("_hgpo_alfred_constants", path)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(f"ALFRED constants not found: {path}")
    constants = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(constants)

    movable = frozenset(constants.MOVABLE_RECEPTACLES)
    val = {k: frozenset(v) for k, v in constants.VAL_RECEPTACLE_OBJECTS.items()}
    actions = {k: frozenset(v) for k, v in constants.VAL_ACTION_OBJECTS.items()}
    static = tuple(sorted(k for k in val if k not in movable))
    placeable = set().union(*(val[r] for r in static))
    objects = tuple(sorted(o for o in placeable if "Sliced" not in o and o not in _LAMPS and o not in static))
    return Vocabulary(
        object_classes=objects,
        receptacle_classes=static,
        can_contain={r: val[r] for r in static},
        openable=frozenset(constants.OPENABLE_CLASS_LIST),
        heatable=actions["Heatable"],
        coolable=actions["Coolable"],
        cleanable=actions["Cleanable"],
        toggleable=actions["Toggleable"],
        receptacle_objects=movable,
        all_object_types=tuple(sorted(set(constants.OBJECTS) | set(val))),
    )
