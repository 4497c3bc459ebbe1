"""The ALFWorld PDDL domain and TextWorld grammar, and building a playable game from them."""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["GRAMMAR_PLACEHOLDER", "TASK_LINE_RE", "Logic", "find_logic", "package_logic_dir"]

#: The text that stands for the task sentence in a grammar template.
GRAMMAR_PLACEHOLDER = "UNKNOWN GOAL"
#: The grammar rule text that holds the task sentence (group 1), as it appears in a game's grammar.
TASK_LINE_RE = re.compile(r"Your task is to: (.*?)\.\"")


@dataclass(frozen=True)
class Logic:
    """A PDDL domain (``alfred.pddl`` text) and a grammar template (``alfred.twl2`` text whose task line
    reads ``Your task is to: UNKNOWN GOAL.``)."""

    domain: str
    grammar: str
    source: str = ""

    @classmethod
    def from_dir(cls, folder: Path) -> Logic:
        folder = Path(folder)
        return cls(
            domain=(folder / "alfred.pddl").read_text(encoding="utf-8"),
            grammar=(folder / "alfred.twl2").read_text(encoding="utf-8"),
            source=str(folder),
        )

    def game(self, task_desc: str, pddl_problem: str, walkthrough: list[str] | None) -> dict[str, Any]:
        """The ``game.tw-pddl`` object of a game (what ``PddlEnv.load`` accepts)."""
        return {
            "pddl_domain": self.domain,
            "grammar": self.grammar.replace(GRAMMAR_PLACEHOLDER, task_desc),
            "pddl_problem": pddl_problem,
            "solvable": True,
            "walkthrough": list(walkthrough) if walkthrough is not None else None,
        }


def package_logic_dir() -> Path:
    """``alfworld/data`` of the installed ``alfworld`` package, found without importing it (importing
    ``alfworld`` creates ``~/.cache/alfworld`` and sets ``ALFWORLD_DATA``)."""
    spec = importlib.util.find_spec("alfworld")
    if spec is not None and not spec.submodule_search_locations:
        raise FileNotFoundError(f"`alfworld` resolves to {spec.origin}, not to the alfworld package (shadowed?)")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the ALFWorld domain and grammar (alfred.pddl, alfred.twl2) come from a data folder's logic/ or "
            "from the `alfworld` package, which is not installed: pass data_dir=..., run `hgpo alfworld "
            "download`, or install the package's data without its TextWorld dependency: "
            "pip install --no-deps 'alfworld>=0.4.2,<0.6' (a pure-Python wheel; nothing to build)"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "data"
    if not (folder / "alfred.pddl").is_file() or not (folder / "alfred.twl2").is_file():
        raise FileNotFoundError(f"alfred.pddl/alfred.twl2 not found in {folder}")
    return folder


def find_logic(near: Path | None = None) -> Logic:
    """The logic that goes with a game set.

    Looks for ``logic/alfred.pddl`` + ``logic/alfred.twl2`` next to ``near`` or one folder up (the layout
    of ``$ALFWORLD_DATA`` and of a packed data folder: ``games/x.jsonl.gz`` beside ``logic/``), then falls
    back to the copies shipped in the installed ``alfworld`` package.
    """
    if near is not None:
        near = Path(near)
        base = near if near.is_dir() else near.parent
        for folder in (base / "logic", base.parent / "logic"):
            if (folder / "alfred.pddl").is_file() and (folder / "alfred.twl2").is_file():
                return Logic.from_dir(folder)
    return Logic.from_dir(package_logic_dir())
