"""The ``hgpo`` command dispatcher: subcommands from the ``hgpo.commands`` entry points."""

from __future__ import annotations

import subprocess
import sys

from hgpo.cli import main


def test_help_lists_every_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in ("advantages", "alfworld", "demo", "train", "webshop"):
        assert f"  {name}" in out


def test_unknown_command_is_one_line_and_exit_2(capsys):
    assert main(["fly"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("hgpo: error: unknown command 'fly'")


def test_version_and_the_installed_script():
    done = subprocess.run([sys.executable, "-m", "hgpo.cli", "--version"], capture_output=True, text=True, check=True)
    assert done.stdout.startswith("hgpo ")
