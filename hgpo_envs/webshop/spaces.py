"""Gymnasium text spaces for WebShop pages: any Unicode text, not only a fixed character list.

Product titles and descriptions hold accented letters, CJK text, emoji, ``½``, ``™`` and so on, and a
new catalogue can hold any character, so a fixed ``charset`` cannot cover the pages. :class:`UnicodeText`
accepts every string of Unicode scalar values (no lone surrogates, which cannot be sent as UTF-8) within
its length bounds. ``sample()`` still draws from a finite ``sample_charset`` (printable ASCII by default),
which is all that random exploration and ``check_env`` need.
"""

from __future__ import annotations

import string
from typing import Any

from gymnasium import spaces

__all__ = ["SAMPLE_CHARSET", "UnicodeText"]

#: Characters that ``sample()`` draws from: printable ASCII (letters, digits, punctuation, space).
SAMPLE_CHARSET = string.ascii_letters + string.digits + string.punctuation + " "


def _is_scalar_text(x: str) -> bool:
    try:
        x.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        return False
    return True


class UnicodeText(spaces.Text):
    """Strings of ``min_length`` to ``max_length`` Unicode characters (any scalar value).

    Args:
        max_length: longest accepted string, in characters.
        min_length: shortest accepted string (default 0).
        sample_charset: characters used by ``sample()`` (default :data:`SAMPLE_CHARSET`).
    """

    def __init__(
        self, max_length: int, min_length: int = 0, sample_charset: str = SAMPLE_CHARSET, seed: Any = None
    ) -> None:
        super().__init__(max_length=max_length, min_length=min_length, charset=sample_charset, seed=seed)

    def contains(self, x: Any) -> bool:
        return isinstance(x, str) and self.min_length <= len(x) <= self.max_length and _is_scalar_text(x)

    def __repr__(self) -> str:
        return f"UnicodeText({self.min_length}, {self.max_length})"

    def __eq__(self, other: object, /) -> bool:
        return (
            isinstance(other, UnicodeText)
            and self.min_length == other.min_length
            and self.max_length == other.max_length
        )

    __hash__ = None  # type: ignore[assignment]
