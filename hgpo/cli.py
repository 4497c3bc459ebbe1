"""The ``hgpo`` command: a thin dispatcher over subcommands that each package owns.

Subcommands are found through the ``hgpo.commands`` entry-point group (see ``pyproject.toml``). Each
entry names a module that defines ``HELP`` (one line) and ``main(argv: list[str]) -> int``; the module is
imported only when its command runs or when ``hgpo --help`` lists the commands, so it must keep its heavy
imports inside ``main``.
"""

from __future__ import annotations

import importlib
import sys
from importlib.metadata import entry_points
from types import ModuleType

__all__ = ["main"]


def _commands() -> dict[str, str]:
    """Command name -> module path, from the installed entry points."""
    return {ep.name: ep.value for ep in entry_points(group="hgpo.commands")}


def _load(module_path: str) -> ModuleType:
    return importlib.import_module(module_path.split(":")[0])


def _usage(commands: dict[str, str]) -> str:
    lines = ["usage: hgpo COMMAND [ARGS...]", "", "Train LLM agents on long-horizon text tasks with HGPO.", "", "commands:"]
    for name in sorted(commands):
        try:
            help_line = getattr(_load(commands[name]), "HELP", "")
        except ImportError as exc:  # an optional extra is not installed
            help_line = f"(unavailable: {exc})"
        lines.append(f"  {name:<12} {help_line}")
    lines += ["", "Run `hgpo COMMAND --help` for the options of a command."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = _commands()
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage(commands))
        return 0
    if argv[0] == "--version":
        from importlib.metadata import version

        print(f"hgpo {version('hgpo')}")
        return 0
    name, rest = argv[0], argv[1:]
    if name not in commands:
        known = ", ".join(sorted(commands)) or "none (is hgpo installed?)"
        print(f"hgpo: error: unknown command {name!r} (known: {known})", file=sys.stderr)
        return 2
    return int(_load(commands[name]).main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
