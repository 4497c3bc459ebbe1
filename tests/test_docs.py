"""The documentation's examples run: every ``>>>`` example in our packages' docstrings, and every
```python block of README.md, in order, in one namespace (as a reader would paste them)."""

from __future__ import annotations

import doctest
import importlib
import os
import re

import pytest

from tests.conftest import REPO_ROOT

PACKAGES = ("hgpo", "hgpo_algo", "hgpo_envs", "wrappers", "servers")


def modules_with_examples() -> list[str]:
    names = []
    for package in PACKAGES:
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            if ">>>" in path.read_text(encoding="utf-8"):
                parts = path.relative_to(REPO_ROOT).with_suffix("").parts
                names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


@pytest.mark.parametrize("module", modules_with_examples())
def test_docstring_examples(module):
    found = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS, verbose=False)
    assert found.attempted > 0 and found.failed == 0, found


def readme_blocks() -> list[tuple[int, str]]:
    """(line, code) of every ```python block of README.md."""
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    return [(text[: m.start()].count("\n") + 1, m.group(1)) for m in re.finditer(r"^```python\n(.*?)^```", text, re.S | re.M)]


def test_readme_examples_run(tmp_path, monkeypatch):
    blocks = readme_blocks()
    assert blocks, "README.md has no python examples"
    monkeypatch.chdir(tmp_path)  # examples may write files (records.jsonl.gz, ...)
    monkeypatch.setenv("PYTHONPATH", str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    namespace: dict = {"__name__": "__main__"}
    for line, code in blocks:
        try:
            exec(compile(code, f"README.md:{line}", "exec"), namespace)
        except Exception as exc:
            pytest.fail(f"README.md example at line {line} failed: {type(exc).__name__}: {exc}")
