"""Fixed play protocols and their transcripts, to compare two ALFWorld engines on the same games.

The protocol of one game (:func:`play_protocol`): the stored walkthrough from a reset, then ``runs``
seeded runs, each a reset followed by ``admissible`` uniformly random admissible commands with
``inadmissible`` commands that are not admissible at that moment mixed in at random positions. The
reference engine chooses the commands; another engine replays exactly the recorded commands
(:func:`replay_protocol`) and every step is compared (:func:`first_difference`).

A transcript is plain JSON: ``{"runs": [{"reset": step, "steps": [step, ...]}, ...]}`` where a step
is ``{"command", "obs", "admissible", "reward", "terminated", "won", "moves", "valid"}``.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable
from typing import Any

__all__ = ["PROTOCOL_VERSION", "first_difference", "game_digest", "play_protocol", "replay_protocol"]

#: Bump when the protocol (not an engine) changes: cached transcripts of another version are ignored.
PROTOCOL_VERSION = 1

_NONSENSE = ("fly to the moon", "take", "go to", "look around", "open the door", "inventory please", "")


def game_digest(domain: str, grammar: str, pddl_problem: str, walkthrough: list[str]) -> str:
    """A digest of everything that defines a game (cached transcripts are keyed by it)."""
    h = hashlib.blake2b(digest_size=16)
    for part in (domain, grammar, pddl_problem, json.dumps(walkthrough)):
        h.update(part.encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()


def _step_record(command: str | None, obs: str, reward: float, terminated: bool, info: dict) -> dict:
    return {
        "command": command,
        "obs": obs,
        "admissible": list(info["admissible_commands"]),
        "reward": float(reward),
        "terminated": bool(terminated),
        "won": bool(info["won"]),
        "moves": int(info["moves"]),
        "valid": bool(info["is_action_valid"]),
    }


def _inadmissible(rng: random.Random, admissible: list[str], seen: list[str]) -> str:
    """A command that is not admissible now: one admissible earlier, a mangled one, or nonsense."""
    current = set(admissible)
    for _ in range(20):
        kind = rng.randrange(4)
        if kind == 0 and seen:
            command = rng.choice(seen)
        elif kind == 1:
            command = rng.choice(admissible)
            command = command[:1].upper() + command[1:]
        elif kind == 2:
            words = rng.choice(admissible).split()
            command = " ".join(words[: max(1, len(words) - 1)])
        else:
            command = rng.choice(_NONSENSE)
        if command.strip() not in current:
            return command
    return "fly to the moon"


Reset = Callable[[], tuple[str, dict]]
Step = Callable[[str], tuple[str, float, bool, bool, dict]]


def play_protocol(
    reset: Reset, step: Step, walkthrough: list[str], seed: int, runs: int = 3, admissible: int = 50,
    inadmissible: int = 10,
) -> dict[str, Any]:
    """Play the protocol on one game through ``reset()``/``step(command)`` (Gymnasium signatures) and
    return its transcript; ``seed`` fixes every random choice given the engine's answers."""
    out: list[dict] = []
    obs, info = reset()
    run = {"reset": _step_record(None, obs, 0.0, False, info), "steps": []}
    for command in walkthrough:
        obs, reward, terminated, _, info = step(command)
        run["steps"].append(_step_record(command, obs, reward, terminated, info))
    out.append(run)
    for r in range(runs):
        rng = random.Random(f"{seed}:{r}")
        total = admissible + inadmissible
        bad = set(rng.sample(range(total), inadmissible))
        obs, info = reset()
        run = {"reset": _step_record(None, obs, 0.0, False, info), "steps": []}
        seen: list[str] = []
        for i in range(total):
            current = info["admissible_commands"]
            command = _inadmissible(rng, current, seen) if i in bad else rng.choice(current)
            seen.append(command)
            obs, reward, terminated, _, info = step(command)
            run["steps"].append(_step_record(command, obs, reward, terminated, info))
        out.append(run)
    return {"version": PROTOCOL_VERSION, "runs": out}


def replay_protocol(reset: Reset, step: Step, transcript: dict[str, Any]) -> dict[str, Any]:
    """Replay the commands of ``transcript`` on another engine; returns that engine's transcript."""
    out = []
    for ref in transcript["runs"]:
        obs, info = reset()
        run = {"reset": _step_record(None, obs, 0.0, False, info), "steps": []}
        for ref_step in ref["steps"]:
            obs, reward, terminated, _, info = step(ref_step["command"])
            run["steps"].append(_step_record(ref_step["command"], obs, reward, terminated, info))
        out.append(run)
    return {"version": transcript.get("version", PROTOCOL_VERSION), "runs": out}


def first_difference(reference: dict[str, Any], other: dict[str, Any]) -> str | None:
    """``None`` when both transcripts are equal, else a description of the first differing step."""
    if len(reference["runs"]) != len(other["runs"]):
        return f"{len(reference['runs'])} runs vs {len(other['runs'])}"
    for r, (a, b) in enumerate(zip(reference["runs"], other["runs"], strict=True)):
        pairs = [("reset", a["reset"], b["reset"])]
        pairs += [(f"step {i}", x, y) for i, (x, y) in enumerate(zip(a["steps"], b["steps"], strict=False))]
        for where, x, y in pairs:
            for key in x:
                if x[key] != y.get(key):
                    return f"run {r} {where} ({x['command']!r}): {key} {x[key]!r} != {y.get(key)!r}"
        if len(a["steps"]) != len(b["steps"]):
            return f"run {r}: {len(a['steps'])} steps vs {len(b['steps'])}"
    return None
