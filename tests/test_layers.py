"""The layering rule, checked on the source: every import points down the picture, never up or around.

    servers  <-  hgpo_envs  <-  wrappers  <-  hgpo (applications)        hgpo_algo: imports nothing of ours

``hgpo_envs`` may import ``hgpo_algo`` and reach ``servers`` only over HTTP (it starts the server as a
process, never imports it); ``servers`` stands alone. No package imports one of ours by a string
(``importlib.import_module``/``__import__``), except the command dispatcher, which loads the subcommands
named by the ``hgpo.commands`` entry points.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

OURS = ("hgpo", "hgpo_algo", "hgpo_envs", "wrappers", "servers")
#: What each package may import of ours (besides itself).
ALLOWED = {
    "hgpo_algo": set(),
    "servers": set(),
    "hgpo_envs": {"hgpo_algo"},
    "wrappers": {"hgpo_algo"},
    "hgpo": {"hgpo_algo", "hgpo_envs", "wrappers", "servers"},
}
#: The only module allowed to import our packages by name at run time.
DISPATCHER = Path("hgpo/cli.py")


def python_files(package: str) -> list[Path]:
    return sorted(p for p in (REPO_ROOT / package).rglob("*.py") if "__pycache__" not in p.parts)


def imported_packages(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, top-level package) of every import statement, relative imports excluded."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.lineno, node.module.split(".")[0]))
    return out


def imports_by_string(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, call) of ``import_module(...)`` / ``__import__(...)`` calls."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            fn = node.func
            name = fn.attr if isinstance(fn, ast.Attribute) else fn.id if isinstance(fn, ast.Name) else ""
            if name in ("import_module", "__import__"):
                out.append((node.lineno, ast.unparse(node)))
    return out


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_imports_point_down(package):
    wrong = []
    for path in python_files(package):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for line, imported in imported_packages(tree):
            if imported in OURS and imported != package and imported not in ALLOWED[package]:
                wrong.append(f"{path.relative_to(REPO_ROOT)}:{line} imports {imported}")
    assert not wrong, f"{package} may import only {sorted(ALLOWED[package]) or 'nothing'} of ours:\n" + "\n".join(wrong)


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_no_imports_by_string(package):
    found = []
    for path in python_files(package):
        if path.relative_to(REPO_ROOT) == DISPATCHER:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        found += [f"{path.relative_to(REPO_ROOT)}:{line}: {call}" for line, call in imports_by_string(tree)]
    assert not found, "imports by string name (only the command dispatcher may):\n" + "\n".join(found)


def test_the_checker_sees_a_violation(tmp_path):
    """The rule can fail: an upward import and an import by string are both found."""
    tree = ast.parse("import wrappers.rollout\nfrom hgpo.trainer import TrainConfig\nimportlib.import_module('x')\n")
    assert [p for _, p in imported_packages(tree)] == ["wrappers", "hgpo"]
    assert imports_by_string(tree) == [(3, "importlib.import_module('x')")]


def test_hgpo_algo_imports_stay_light():
    """``import hgpo_algo.state_keys`` (what environments need) pulls in neither NumPy nor pyarrow."""
    import subprocess
    import sys

    code = "import sys, hgpo_algo.state_keys, hgpo_algo.defaults; print('numpy' in sys.modules, 'pyarrow' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, check=True)
    assert done.stdout.split() == ["False", "False"]
