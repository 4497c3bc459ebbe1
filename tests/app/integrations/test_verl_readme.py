"""README's "verl and SkyRL" examples run as written (the Python of each ``... python - <<'EOF'`` block).

Runs in the verl virtualenv (``make test-verl``), which has verl, skyrl-gym and the WebShop extra.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT
from tests.extras import require

if os.environ.get("HGPO_TEST_VENV") != "verl" and importlib.util.find_spec("verl") is None:
    pytest.skip("verl runs in its own virtualenv: make test-verl", allow_module_level=True)

require("verl", extra="verl")
require("skyrl_gym", extra="skyrl")


def section_scripts() -> list[tuple[int, str]]:
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("## verl and SkyRL")
    end = text.index("\n## ", start + 1)
    pattern = re.compile(r"^```bash\n\S*python - <<'EOF'[^\n]*\n(.*?)^EOF\n```", re.S | re.M)
    return [(text[: start + m.start()].count("\n") + 1, m.group(1)) for m in pattern.finditer(text[start:end])]


def test_the_section_has_both_examples():
    scripts = [code for _, code in section_scripts()]
    assert len(scripts) == 2
    assert "from verl import DataProto" in scripts[0] and "skyrl_gym.make" in scripts[1]


@pytest.mark.parametrize("index", [0, 1], ids=["verl", "skyrl"])
def test_example_runs(index, tmp_path):
    line, code = section_scripts()[index]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = subprocess.run([sys.executable, "-"], input=code, capture_output=True, text=True, cwd=tmp_path,
                         env=env, timeout=300, check=False)
    assert out.returncode == 0, f"README.md:{line}: {out.stderr[-2000:]}"
    if index == 0:
        assert "tensor(" in out.stdout
    else:
        reward = float(out.stdout.split()[0])
        assert reward > 0
