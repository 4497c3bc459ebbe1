"""Fixtures for the ALFWorld tests: the shared real data (skipped when absent) and generated games."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from tests.extras import require

require("gymnasium", extra="alfworld")

SHARED = Path(__file__).parents[3] / ".." / "shared" / "data" / "alfworld"
SPLIT_FILES = ("train", "valid_seen", "valid_unseen", "valid_train")


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not (SHARED / "games" / "valid_seen.jsonl.gz").is_file():
        pytest.skip("../shared/data/alfworld is not present")
    return SHARED.resolve()


def read_rows(shared: Path, split: str) -> list[dict]:
    with gzip.open(shared / "games" / f"{split}.jsonl.gz", "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def sample_rows(shared: Path, splits: tuple[str, ...], per_type: int) -> list[dict]:
    """The first ``per_type`` games of each task type of each split (a fixed, spread sample)."""
    rows = []
    for split in splits:
        seen: dict[str, int] = {}
        for row in read_rows(shared, split):
            if seen.get(row["task_type"], 0) < per_type:
                seen[row["task_type"]] = seen.get(row["task_type"], 0) + 1
                rows.append(row)
    return rows


@pytest.fixture(scope="session")
def shared_logic(shared_dir):
    from hgpo_envs.alfworld.logic import Logic

    return Logic.from_dir(shared_dir / "logic")


@pytest.fixture(scope="session")
def package_logic():
    require("alfworld", extra="textworld", reason="the generated games read alfred.pddl/.twl2 from the alfworld package")
    from hgpo_envs.alfworld.logic import find_logic

    return find_logic()


@pytest.fixture(scope="session")
def generated_records():
    """Twelve generated games (two per task type), seed 7."""
    from hgpo_envs.alfworld.generator import generate_games

    return list(generate_games(12, seed=7))


@pytest.fixture(scope="session")
def generated_file(tmp_path_factory, generated_records) -> Path:
    from hgpo_envs.alfworld.gameset import write_packed

    path = tmp_path_factory.mktemp("generated") / "generated.jsonl.gz"
    write_packed(generated_records, path)
    return path


def need_textworld() -> None:
    """Skip (fail under CI) unless the ``textworld`` extra (TextWorld + the alfworld package) is installed."""
    require("textworld", extra="textworld")
    require("alfworld", extra="textworld")


def stock_env():
    """The stock stack: TextWorld's PddlEnv wrapped by ALFWorld's AlfredDemangler (no shuffle)."""
    need_textworld()
    import textworld
    from alfworld.agents.environment.alfred_tw_env import AlfredDemangler
    from textworld.envs import PddlEnv

    infos = textworld.EnvInfos(won=True, admissible_commands=True, moves=True)
    return AlfredDemangler(shuffle=False)(PddlEnv(infos))


def fast_env():
    need_textworld()
    import textworld

    from hgpo_envs.alfworld.engine import FastPddlEnv

    return FastPddlEnv(textworld.EnvInfos(won=True, admissible_commands=True, moves=True))
