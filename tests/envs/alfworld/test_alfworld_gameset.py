"""Packed sets (reader, byte-stable writer) and `hgpo alfworld pack` on upstream-layout folders."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from hgpo_envs.alfworld.cli import main as cli
from hgpo_envs.alfworld.env import ALFWorldEnv
from hgpo_envs.alfworld.gameset import GameRecord, pack_games, read_packed, write_packed


def _write_upstream(root: Path, records: list[GameRecord], logic, split: str = "valid_seen") -> list[Path]:
    """Lay generated games out as ALFWorld's json_2.1.1/<split>/<task>/<trial>/game.tw-pddl."""
    files = []
    for i, record in enumerate(records):
        folder = f"{record.task_type}-{record.object_target}-None-{record.parent_target}-{100 + i}"
        trial = root / "json_2.1.1" / split / folder / f"trial_T2019_{i:06d}"
        trial.mkdir(parents=True)
        game = logic.game(record.task_desc, record.pddl_problem, record.walkthrough)
        (trial / "game.tw-pddl").write_text(json.dumps(game))
        (trial / "traj_data.json").write_text(json.dumps({"turk_annotations": {"anns": [{"task_desc": f"human {i}"}]}}))
        files.append(trial / "game.tw-pddl")
    return files


def test_write_packed_is_byte_stable_and_round_trips(tmp_path, generated_records):
    a, b = tmp_path / "a.jsonl.gz", tmp_path / "sub" / "b.jsonl.gz"
    assert write_packed(generated_records, a) == len(generated_records)
    write_packed(generated_records, b)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes()[4:8] == b"\0\0\0\0"  # gzip mtime 0
    assert read_packed(a) == generated_records


def test_read_packed_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"missing\.jsonl\.gz"):
        read_packed(tmp_path / "missing.jsonl.gz")
    bad = tmp_path / "bad.jsonl.gz"
    with gzip.open(bad, "wt") as f:
        f.write('{"task_type": "pick_and_place_simple"}\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl\.gz:1: .*lacks field"):
        read_packed(bad)


def test_shared_packed_sets_read_fast(shared_dir):
    import time

    start = time.perf_counter()
    records = read_packed(shared_dir / "games" / "train.jsonl.gz")
    assert len(records) == 3553 and time.perf_counter() - start < 20
    assert {r.split for r in records} == {"train"}


def test_pack_reproduces_shared_rows(shared_dir, tmp_path):
    out = tmp_path / "packed" / "valid_unseen.jsonl.gz"
    assert cli(["pack", str(shared_dir / "samples"), "-o", str(out)]) == 0
    ours = {r.path: r for r in read_packed(out)}
    shared = {r.path: r for r in read_packed(shared_dir / "games" / "valid_unseen.jsonl.gz")}
    assert len(ours) == 12
    for path, record in ours.items():
        ref = shared[path]
        for name in ("split", "task_type", "object_target", "mrecep_target", "parent_target", "scene_num",
                     "task_id", "task_desc", "walkthrough", "pddl_problem"):
            assert getattr(record, name) == getattr(ref, name), (path, name)
    # The games' own logic is written beside the packed file: the domain and grammar template.
    assert (out.parent / "logic" / "alfred.pddl").read_bytes() == (shared_dir / "logic" / "alfred.pddl").read_bytes()
    assert (out.parent / "logic" / "alfred.twl2").read_bytes() == (shared_dir / "logic" / "alfred.twl2").read_bytes()


def test_pack_applies_alfworld_filter_and_env_plays_both_forms(tmp_path, generated_records, package_logic):
    root = tmp_path / "alfworld"
    files = _write_upstream(root, generated_records[:6], package_logic)
    # ALFWorld's filter: 'movable'/'Sliced' paths and unsolvable games do not count.
    unsolvable = json.loads(files[0].read_text())
    unsolvable["solvable"] = False
    files[0].write_text(json.dumps(unsolvable))
    sliced = files[1].parent.parent.with_name(files[1].parent.parent.name.replace("-None-", "-Sliced-"))
    files[1].parent.parent.rename(sliced)
    records, logic = pack_games(root, "valid_seen")
    assert len(records) == 4 and logic.grammar == package_logic.grammar
    assert records[0].human_task_descs == ["human 2"] and records[0].split == "valid_seen"

    out = tmp_path / "out" / "valid_seen.jsonl.gz"
    assert cli(["pack", str(root), "-o", str(out), "--split", "valid_seen"]) == 0
    from_folder = ALFWorldEnv(split="eval_in_distribution", data_dir=root)
    from_packed = ALFWorldEnv(data_dir=out)
    assert from_folder.num_games == from_packed.num_games == 4
    for i in range(4):
        a, info_a = from_folder.reset(options={"game_index": i})
        b, info_b = from_packed.reset(options={"game_index": i})
        assert a == b and info_a["game_id"] == info_b["game_id"]
        for command in info_a["expert_plan"]:
            assert from_folder.step(command)[0] == from_packed.step(command)[0]


def test_pack_rejects_mixed_releases(tmp_path, generated_records, package_logic):
    root = tmp_path / "mixed"
    files = _write_upstream(root, generated_records[:2], package_logic)
    game = json.loads(files[1].read_text())
    game["grammar"] = game["grammar"].replace("You arrive at", "You reach")
    files[1].write_text(json.dumps(game))
    with pytest.raises(ValueError, match="mixed releases"):
        pack_games(root)


def test_pack_cli_bad_input(tmp_path, capsys):
    assert cli(["pack", str(tmp_path / "nope"), "-o", str(tmp_path / "x.jsonl.gz")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not found" in err[0]
    (tmp_path / "empty" / "json_2.1.1" / "train").mkdir(parents=True)
    assert cli(["pack", str(tmp_path / "empty"), "-o", str(tmp_path / "x.jsonl.gz")]) == 2
    with pytest.raises(SystemExit) as exc:
        cli(["pack", str(tmp_path)])  # -o missing
    assert exc.value.code == 2
