"""Optional extras in tests: skip when an extra is missing, except under CI, where a missing extra fails.

``pytest.importorskip`` turns a broken install into silent skips. Tests call :func:`require` instead: on
a developer's machine a missing extra skips the test with the install command in the reason; with
``CI=true`` (what ``.ci/run`` sets) it fails the test, so CI cannot pass without testing every extra.

    torch = require("torch", extra="train")
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest

__all__ = ["in_ci", "require"]


def in_ci() -> bool:
    """True when running under CI (``CI`` set to a true value, as CI services and ``.ci/run`` do)."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def require(module: str, *, extra: str, reason: str | None = None) -> ModuleType:
    """Import ``module`` or skip (fail under CI) naming ``pip install 'hgpo[extra]'``."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        why = reason or f"{module} is not installed (pip install -e '.[{extra}]'): {exc}"
        if in_ci():
            pytest.fail(f"CI=true and a test extra is missing: {why}", pytrace=False)
        pytest.skip(why, allow_module_level=True)
