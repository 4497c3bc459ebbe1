"""Typed options: one :class:`OptionSpec` per option (type, default, range or choices, one-line help).

The estimator registry keeps a spec for every option of every estimator; the API validates the values a
caller passes with :meth:`OptionSpec.check` and the CLI parses its flags with :meth:`OptionSpec.parse`, so
both give the same message for the same bad value::

    >>> spec = OptionSpec(float, 1.0, "level-weight exponent", minimum=-100, maximum=100)
    >>> spec.check(float("inf"), "hgpo option 'alpha'")
    Traceback (most recent call last):
    ...
    ValueError: hgpo option 'alpha' must be a finite number in [-100, 100], got inf

:data:`COMMON_OPTIONS` holds the two options every estimator shares (``gamma``, ``invalid_penalty``).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

from hgpo_algo import defaults

__all__ = ["COMMON_OPTIONS", "MAX_HISTORY_LEVELS", "OptionSpec"]

MAX_HISTORY_LEVELS = 1024
"""The largest HGPO ``K`` accepted: a memory window of more than 1024 states is not a prompt anyone builds."""


def _short(value: Any, limit: int = 60) -> str:
    """``repr(value)``, cut to ``limit`` characters (a 4,000-digit integer makes no readable message)."""
    try:
        text = repr(value)
    except ValueError:  # an int too long for repr
        text = f"<int of {value.bit_length()} bits>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _fmt(x: float) -> str:
    return repr(int(x)) if float(x).is_integer() and abs(x) < 1e15 else repr(x)


@dataclass(frozen=True)
class OptionSpec:
    """One option: ``kind`` (``int``, ``float``, ``bool`` or ``str``), ``default``, ``help`` and its range.

    ``minimum`` / ``maximum`` bound numbers (``exclusive_minimum`` makes the lower bound strict);
    ``choices`` lists the accepted strings. Floats must be finite.
    """

    kind: type
    default: Any
    help: str
    choices: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False

    def __post_init__(self) -> None:
        if self.kind not in (int, float, bool, str):
            raise TypeError(f"OptionSpec kind must be int, float, bool or str, not {self.kind!r}")
        self.check(self.default, "the default")

    def describe(self) -> str:
        """What a value must be, e.g. ``a finite number in (0, 1000000]``."""
        if self.kind is bool:
            return "true or false"
        if self.kind is str:
            return "one of " + ", ".join(self.choices or ()) if self.choices else "a string"
        what = "an integer" if self.kind is int else "a finite number"
        if self.minimum is None and self.maximum is None:
            return what
        if self.maximum is None:
            return f"{what} {'>' if self.exclusive_minimum else '>='} {_fmt(self.minimum)}"  # type: ignore[arg-type]
        if self.minimum is None:
            return f"{what} <= {_fmt(self.maximum)}"
        low = "(" if self.exclusive_minimum else "["
        return f"{what} in {low}{_fmt(self.minimum)}, {_fmt(self.maximum)}]"

    def _in_range(self, x: float) -> bool:
        if self.minimum is not None and (x <= self.minimum if self.exclusive_minimum else x < self.minimum):
            return False
        return self.maximum is None or x <= self.maximum

    def check(self, value: Any, label: str) -> Any:
        """``value`` coerced to a plain ``kind`` (NumPy scalars, integral floats for ints, ints for floats).

        Raises:
            ValueError: ``"<label> must be <describe()>, got <value>"``.
        """
        out = self._coerce(value)
        if out is None:
            raise ValueError(f"{label} must be {self.describe()}, got {_short(value)}")
        return out

    def _coerce(self, value: Any) -> Any:
        if self.kind is bool:
            return bool(value) if isinstance(value, (bool, np.bool_)) else None
        if self.kind is str:
            if isinstance(value, str) and (self.choices is None or value in self.choices):
                return value
            return None
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
            return None
        try:
            x = float(value)
        except (OverflowError, ValueError):  # an int beyond float range
            x = math.inf if value > 0 else -math.inf
        if self.kind is int:
            if isinstance(value, numbers.Integral):
                out: Any = int(value)
            elif math.isfinite(x) and x.is_integer():
                out = int(x)
            else:
                return None
            return out if self._in_range(out) else None
        return x if math.isfinite(x) and self._in_range(x) else None

    def parse(self, text: str, label: str) -> Any:
        """The value of a command-line flag: ``text`` parsed as ``kind``, then :meth:`check`-ed."""
        value: Any = text
        if self.kind is int:
            try:
                value = int(text.strip())
            except ValueError:
                raise ValueError(f"{label} must be {self.describe()}, got {_short(text)}") from None
        elif self.kind is float:
            try:
                value = float(text)
            except ValueError:
                raise ValueError(f"{label} must be {self.describe()}, got {_short(text)}") from None
        elif self.kind is bool:
            value = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}.get(
                text.strip().lower(), text
            )
        return self.check(value, label)


COMMON_OPTIONS: dict[str, OptionSpec] = {
    "gamma": OptionSpec(float, defaults.GAMMA, "discount of the step returns", minimum=0.0, maximum=1.0),
    "invalid_penalty": OptionSpec(
        float, defaults.INVALID_PENALTY, "lambda, subtracted from the return of an invalid step", minimum=0.0
    ),
}
"""Options every estimator shares, passed to ``compute_advantages`` by name."""
