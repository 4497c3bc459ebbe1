"""``Decision``: what a policy returns for one prompt, an action and a payload for that step's record."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Decision", "as_decision", "split_decision"]


@dataclass(frozen=True)
class Decision:
    """One policy output: the ``action`` sent to the environment and a ``payload`` kept on the step record.

    ``action`` is the command (or the raw model text when the stack parses actions). ``payload`` is
    anything the trainer needs back with the step: token ids, log-probabilities, features, a value
    estimate. The recorder stores it as the record's ``payload`` field, so a trainer reads its batch
    straight from the records; nothing is rejoined afterwards.

        >>> Decision("go to shelf 1", {"response_ids": [7, 9]}).payload["response_ids"]
        [7, 9]
    """

    action: Any
    payload: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.payload, Mapping):
            raise TypeError(f"Decision.payload must be a mapping, got {type(self.payload).__name__}")


def as_decision(output: Any) -> Decision:
    """A policy output as a :class:`Decision` (a bare action gets an empty payload)."""
    return output if isinstance(output, Decision) else Decision(output)


def split_decision(output: Any) -> tuple[Any, Mapping[str, Any] | None]:
    """``(action, payload)`` of a policy output; a bare action has no payload (None), and is not wrapped in a
    :class:`Decision` on the way (the rollout's per-step path)."""
    if isinstance(output, Decision):
        return output.action, output.payload
    return output, None
