"""`hgpo alfworld cache prepare/info/clear` and the cache maintenance functions, on generated games."""

from __future__ import annotations

import os
import re

import pytest

from hgpo_envs.alfworld import game_cache, grounding, native
from hgpo_envs.alfworld.cli import main as cli
from hgpo_envs.alfworld.game_cache import (
    cache_dir,
    cache_file,
    cache_root,
    clear_folders,
    read_cached,
    version_folders,
)
from hgpo_envs.alfworld.grounding import Reachability
from hgpo_envs.alfworld.native import NativeEngine, NativeGame, native_game
from hgpo_envs.alfworld.prepare import GameTexts, prepare_games
from hgpo_envs.alfworld.sources import resolve_games
from hgpo_envs.alfworld.tasks import TASK_TYPES


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A cache root of its own under tmp_path, and an empty in-process cache of games."""
    root = tmp_path / "cache"
    monkeypatch.setenv("HGPO_ALFWORLD_CACHE", str(root))
    native._GAMES.clear()
    yield root
    native._GAMES.clear()


def _texts(path, count: int | None = None) -> list[GameTexts]:
    games = resolve_games(None, path, TASK_TYPES)
    out = []
    for record in list(games.games)[:count]:
        game = games.logic.game(record.task_desc, record.pddl_problem, record.walkthrough)
        out.append(GameTexts(record.game_id, game["pddl_domain"], game["grammar"], game["pddl_problem"]))
    return out


def _cache_files(folder) -> list:
    return sorted(p for p in folder.iterdir() if game_cache.CACHE_FILE_RE.fullmatch(p.name))


def test_prepare_fills_the_cache_then_skips_and_games_load_from_disk(cache, generated_file, capsys, monkeypatch):
    texts = _texts(generated_file)
    assert cli(["cache", "prepare", str(generated_file), "--workers", "2", "--no-progress"]) == 0
    out = capsys.readouterr().out
    folder = cache_dir()
    assert folder.parent == cache and folder.name.startswith(f"v{game_cache.CACHE_VERSION}-")
    files = _cache_files(folder)
    assert len(files) == len(texts) == 12
    assert {f.name for f in files} == {cache_file(t.domain, t.grammar, t.problem).name for t in texts}
    assert "generated.jsonl.gz: 12 games" in out
    assert re.search(r"grounded 12 games, 0 already cached, in [\d.]+ s \(2 workers, [\d.]+ CPU-s, median \d+ ms a game\)",
                     out)
    assert f"cache folder {folder}: 12 files" in out

    # A second run opens nothing and grounds nothing.
    mtimes = [f.stat().st_mtime_ns for f in files]
    assert cli(["cache", "prepare", str(generated_file), "--workers", "1", "--no-progress"]) == 0
    assert "grounded 0 games, 12 already cached" in capsys.readouterr().out
    assert [f.stat().st_mtime_ns for f in files] == mtimes

    # A new process (an empty in-process cache) reads the game's reachability from disk: the fixpoint and
    # the goal's join do not run again.
    t = texts[3]
    fresh = NativeGame(t.domain, t.grammar, t.problem)
    native._GAMES.clear()
    stored = read_cached(cache_file(t.domain, t.grammar, t.problem), Reachability)
    assert stored == fresh.reachability

    def no_grounding(*args, **kwargs):
        raise AssertionError("grounded although the game is cached")

    monkeypatch.setattr(grounding, "_reach", no_grounding)
    monkeypatch.setattr(grounding, "goal_instances", no_grounding)
    loaded = native_game(t.domain, t.grammar, t.problem)
    assert loaded is not fresh
    assert loaded.init_state == fresh.init_state and loaded.goals == fresh.goals
    assert loaded.universe == fresh.universe
    assert [op[1:] for op in loaded.ops] == [op[1:] for op in fresh.ops]
    engines = []
    for game in (loaded, fresh):
        engine = NativeEngine()
        engine.game = game
        engines.append(engine)
    assert engines[0].reset() == engines[1].reset()
    record = resolve_games(None, generated_file, TASK_TYPES).games[3]
    for command in record.walkthrough:
        assert engines[0].step(command) == engines[1].step(command)
    assert engines[0].game.won(engines[0].state)


def test_prepare_takes_split_names_of_alfworld_data_and_several_splits(cache, generated_file, tmp_path,
                                                                     monkeypatch, capsys):
    from hgpo_envs.alfworld.gameset import read_packed, write_packed

    records = read_packed(generated_file)
    data = tmp_path / "data"
    write_packed(records[:3], data / "games" / "valid_seen.jsonl.gz")
    write_packed(records[3:5], data / "games" / "valid_unseen.jsonl.gz")
    monkeypatch.setenv("ALFWORLD_DATA", str(data))
    monkeypatch.chdir(tmp_path)
    assert cli(["cache", "prepare", "valid_seen", "--split", "eval_out_of_distribution", "--workers", "2"]) == 0
    captured = capsys.readouterr()
    assert "valid_unseen.jsonl.gz (eval_out_of_distribution): 2 games" in captured.out
    assert "valid_seen.jsonl.gz (valid_seen): 3 games" in captured.out
    assert "grounded 5 games, 0 already cached" in captured.out
    assert "ground: 100%" in captured.err and "5/5" in captured.err  # the progress bar
    assert len(_cache_files(cache_dir())) == 5
    assert cli(["cache", "prepare", str(data), "--split", "valid_seen", "valid_unseen", "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert "grounded 0 games, 5 already cached" in captured.out and captured.err == ""


def test_prepare_games_counts_duplicates_once_and_reports_failures(cache, generated_file):
    texts = _texts(generated_file, 2)
    broken = GameTexts("broken/game", texts[0].domain, texts[0].grammar, "(define (problem p) (:objects")
    result = prepare_games([texts[0], texts[0], texts[1], broken], workers=1)
    assert (result.grounded, result.cached) == (2, 0)
    assert [name for name, _ in result.failed] == ["broken/game"]
    assert result.folder == cache_dir() and result.seconds > 0
    assert len(result.cpu_seconds) == 2 and all(0 < c < result.seconds + 1 for c in result.cpu_seconds)
    again = prepare_games(texts + texts, workers=2)
    assert (again.grounded, again.cached, again.failed) == (0, 2, [])
    with pytest.raises(ValueError, match="workers must be an int >= 1"):
        prepare_games(texts, workers=0)


def test_prepare_reports_failed_games_with_exit_1(cache, generated_file, tmp_path, capsys):
    from hgpo_envs.alfworld.gameset import read_packed, write_packed

    records = read_packed(generated_file)[:2]
    records[1].pddl_problem = "(define (problem p) (:objects"
    bad = tmp_path / "bad" / "games.jsonl.gz"
    write_packed(records, bad)
    assert cli(["cache", "prepare", str(bad), "--workers", "1", "--no-progress"]) == 1
    captured = capsys.readouterr()
    assert "grounded 1 games, 0 already cached" in captured.out
    assert f"failed: {records[1].game_id}: " in captured.err and "1 game(s) failed" in captured.err


def test_prepare_into_a_root_that_cannot_be_made_fails_with_exit_1(tmp_path, monkeypatch, generated_file, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("HGPO_ALFWORLD_CACHE", str(blocker / "cache"))
    assert cli(["cache", "prepare", str(generated_file), "--workers", "1", "--no-progress"]) == 1
    assert "cannot create the cache folder" in capsys.readouterr().err
    assert blocker.read_text() == "not a folder"


def test_info_lists_folders_and_marks_the_stale_ones(cache, generated_file, capsys):
    assert cli(["cache", "info"]) == 0
    out = capsys.readouterr().out
    assert f"cache root: {cache}" in out and "does not exist yet" in out
    prepare_games(_texts(generated_file, 3), workers=1)
    old = cache / "v1-0123456789ab"
    old.mkdir()
    (old / f"{'a' * 32}.pkl.z").write_bytes(b"x" * 2000)
    (cache / "notes.txt").write_text("mine")
    (cache / "v1-mine").mkdir()  # not a version folder's name
    assert cli(["cache", "info"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == f"current:    {cache_dir().name} (this installation's engine)"
    rows = {line.split()[0]: line for line in lines[2:-1]}
    assert set(rows) == {"v1-0123456789ab", cache_dir().name}
    assert "1 files" in rows["v1-0123456789ab"] and "2.0 KB" in rows["v1-0123456789ab"]
    assert rows["v1-0123456789ab"].endswith("stale")
    assert "3 files" in rows[cache_dir().name] and rows[cache_dir().name].endswith("current")
    assert lines[-1].startswith("total: 2 folder(s), 4 files") and "stale: 1 folder(s), 2.0 KB" in lines[-1]
    listed = version_folders()
    assert [f.name for f in listed if f.stale] == ["v1-0123456789ab"]
    assert [f.files for f in listed if f.current] == [3]


def test_clear_stale_keeps_the_current_folder_and_everything_else(cache, generated_file, capsys):
    prepare_games(_texts(generated_file, 2), workers=1)
    current = cache_dir()
    old = cache / "v1-0123456789ab"
    old.mkdir()
    for i in range(3):
        (old / f"{i:032x}.pkl.z").write_bytes(b"x" * 1000)
    (old / f"{9:032x}.pkl.z.123.tmp").write_bytes(b"x")
    oldest = cache / "v1"
    oldest.mkdir()
    (oldest / f"{'b' * 32}.pkl.z").write_bytes(b"y" * 10)
    mixed = cache / "v1-ba9876543210"  # a version folder's name, but it holds someone's file
    mixed.mkdir()
    (mixed / f"{'c' * 32}.pkl.z").write_bytes(b"z")
    (mixed / "thesis.tex").write_text("keep me")
    (cache / "notes.txt").write_text("mine")
    other = cache / "models"
    other.mkdir()
    (other / f"{'d' * 32}.pkl.z").write_bytes(b"w")
    (cache / "v9-ffffffffffff").symlink_to(other, target_is_directory=True)

    assert cli(["cache", "clear", "--stale"]) == 0
    out = capsys.readouterr().out
    assert not old.exists() and not oldest.exists()
    assert "removed v1-0123456789ab (4 files, 3.0 KB)" in out and "removed v1 (1 files, 10 B)" in out
    assert "kept v1-ba9876543210: it holds other entries (thesis.tex)" in out
    assert "freed 3.0 KB in 2 folder(s)" in out
    assert len(_cache_files(current)) == 2
    assert (mixed / "thesis.tex").is_file() and (mixed / f"{'c' * 32}.pkl.z").is_file()
    assert (cache / "notes.txt").read_text() == "mine" and (other / f"{'d' * 32}.pkl.z").is_file()
    assert (cache / "v9-ffffffffffff").is_symlink()

    assert cli(["cache", "clear", "--stale"]) == 0  # only the folder with foreign files is left
    assert "freed 0 B in 0 folder(s)" in capsys.readouterr().out

    assert cli(["cache", "clear"]) == 0  # everything: the current folder too, never the rest
    out = capsys.readouterr().out
    assert not current.exists() and f"removed {current.name} (2 files" in out
    assert sorted(p.name for p in cache.iterdir()) == ["models", "notes.txt", "v1-ba9876543210", "v9-ffffffffffff"]
    assert cli(["cache", "clear"]) == 0
    assert "kept v1-ba9876543210" in capsys.readouterr().out

    # Another file put in a folder after it was listed keeps the folder and that file.
    prepare_games(_texts(generated_file, 1), workers=1)
    [folder] = [f for f in version_folders() if f.current]
    (folder.path / "late.txt").write_text("late")
    removed, kept = clear_folders([folder])
    assert (removed, [f.path for f in kept]) == ([], [folder.path])
    assert kept[0].foreign == ("late.txt",) and kept[0].files == 0 and kept[0].current
    assert (folder.path / "late.txt").read_text() == "late"


def test_clear_without_a_cache(cache, capsys):
    assert cli(["cache", "clear", "--stale"]) == 0
    assert f"nothing to clear in {cache}" in capsys.readouterr().out
    assert not cache.exists()


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["cache", "prepare", "{missing}"], {}, "ALFWorld data not found: "),
        (["cache", "prepare", "{data}", "--split", "valid_seen"], {}, "holds no game of split 'valid_seen'"),
        (["cache", "prepare", "{data}", "--split", "nope"], {}, "unknown split 'nope'"),
        (["cache", "prepare", "{data}"], {"HGPO_ALFWORLD_CACHE": "off"}, "the on-disk cache is off"),
        (["cache", "clear"], {"HGPO_ALFWORLD_CACHE": "off"}, "the on-disk cache is off"),
        (["cache", "prepare", "{data}", "--workers", "0"], {}, "argument --workers: expected an int >= 1, got '0'"),
        (["cache", "prepare", "{data}", "--workers", "two"], {}, "argument --workers: expected an int >= 1"),
        (["cache", "prepare"], {"ALFWORLD_DATA": None}, "no ALFWorld data: pass DATA"),
        (["cache"], {}, "required: cache_command"),
    ],
)
def test_errors_are_clear_and_exit_2(cache, generated_file, tmp_path, monkeypatch, capsys, argv, env, message):
    for key, value in env.items():
        if value is None:
            monkeypatch.delenv(key, raising=False)
        else:
            monkeypatch.setenv(key, value)
    argv = [a.format(missing=tmp_path / "missing.jsonl.gz", data=generated_file) for a in argv]
    try:
        status = cli(argv)
    except SystemExit as exc:  # argparse's errors
        status = exc.code
    assert status == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("hgpo alfworld")
    assert not cache.exists()


def test_info_when_the_cache_is_off(monkeypatch, capsys):
    monkeypatch.setenv("HGPO_ALFWORLD_CACHE", "off")
    assert cache_root() is None and cache_dir() is None and version_folders() == []
    assert cli(["cache", "info"]) == 0
    assert "the on-disk cache is off" in capsys.readouterr().out
    with pytest.raises(ValueError, match="cache is off"):
        prepare_games([], workers=1)


def test_cache_root_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("HGPO_ALFWORLD_CACHE", raising=False)
    monkeypatch.setenv("HGPO_CACHE", str(tmp_path))
    assert cache_root() == tmp_path / "alfworld_native"
    assert cache_dir().parent == tmp_path / "alfworld_native"
    monkeypatch.delenv("HGPO_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_root() == tmp_path / "home" / ".cache" / "hgpo" / "alfworld_native"
    assert game_cache.VERSION_DIR_RE.fullmatch(cache_dir().name)
    assert os.path.commonpath([cache_dir(), cache_root()]) == str(cache_root())
