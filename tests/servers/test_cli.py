"""``hgpo webshop``: argument errors (exit 2, one line), generate, index."""

from __future__ import annotations

import subprocess

import pytest

from servers.webshop import cli

from .conftest import HGPO


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["bogus"],
        ["serve", "--port", "abc"],
        ["serve", "--port", "70000"],
        ["serve", "--workers", "0"],
        ["serve", "--goals", "robots"],
        ["generate", "--products", "-3", "--out", "x"],
        ["generate", "--out", "x"],
    ],
)
def test_usage_errors_exit_2_with_one_line(argv: list[str], capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "error" in err


def test_missing_files_exit_2(capsys, tmp_path) -> None:
    assert cli.main(["serve", "--catalog", str(tmp_path / "none.jsonl")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no such file" in err
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    assert cli.main(["index", "--catalog", str(bad), "--index-dir", str(tmp_path / "i")]) == 2


def test_generate_and_index(tmp_path, capsys) -> None:
    out = tmp_path / "cat.jsonl"
    assert cli.main(["generate", "--products", "500", "--out", str(out)]) == 0
    assert sum(1 for _ in open(out)) == 500
    assert cli.main(["index", "--catalog", str(out), "--index-dir", str(tmp_path / "idx")]) == 0
    assert (tmp_path / "idx" / "meta.json").exists()
    assert "index ready: 500 documents" in capsys.readouterr().out


def test_module_entry_point() -> None:
    """``python -m servers.webshop``: what the environments' launcher and the Docker image run."""
    import sys

    res = subprocess.run([sys.executable, "-m", "servers.webshop", "serve", "--help"], capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0 and "--request-timeout" in res.stdout and "--exit-on-stdin-eof" in res.stdout
    res = subprocess.run([sys.executable, "-m", "servers.webshop", "serve", "--request-timeout", "0"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and res.stderr.strip().count("\n") == 0 and "must be positive" in res.stderr


def test_console_script_dispatch() -> None:
    res = subprocess.run([str(HGPO), "webshop", "--help"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and "serve" in res.stdout
    res = subprocess.run([str(HGPO), "webshop", "serve", "--port", "x"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and res.stderr.strip().count("\n") == 0
