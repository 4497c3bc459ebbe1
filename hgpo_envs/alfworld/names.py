"""Displayed names of ALFRED entity ids (stdlib only; shared by both engines)."""

from __future__ import annotations

from collections import Counter

__all__ = ["alfred_names"]

_CODES = (("_bar_", "|"), ("_minus_", "-"), ("_plus_", "+"), ("_dot_", "."), ("_comma_", ","))


def alfred_names(ids: list[str]) -> dict[str, str]:
    """Displayed names of ALFRED entity ids, as ALFWorld's ``Demangler(shuffle=False)`` assigns them.

    Class = text before the first ``_bar_`` (+ ``basin`` when the id contains ``basin``); within a class,
    numbers count down over the sorted ids (first id gets the class size). Ids without ``_bar_`` keep
    their decoded text and get no number (the name then ends with a space, as in ALFWorld).
    """
    ordered = sorted(ids)
    classes: list[str | None] = []
    for id_ in ordered:
        head, sep, _ = id_.partition("_bar_")
        classes.append(head + ("basin" if "basin" in id_ else "") if sep else None)
    remaining = Counter(c for c in classes if c is not None)
    names = {}
    for id_, cls in zip(ordered, classes, strict=True):
        if cls is None:
            text = id_
            for code, char in _CODES:
                text = text.replace(code, char)
            names[id_] = f"{text} "
        else:
            names[id_] = f"{cls} {remaining[cls]}"
            remaining[cls] -= 1
    return names
