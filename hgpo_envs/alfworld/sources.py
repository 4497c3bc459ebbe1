"""Where an environment's games come from: a packed set, an upstream data folder, or the generator."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hgpo_envs.alfworld.gameset import GameRecord, pack_games, read_packed
from hgpo_envs.alfworld.logic import Logic, find_logic
from hgpo_envs.alfworld.tasks import SPLIT_FOLDERS, SPLITS

__all__ = ["GameSet", "resolve_games"]


@dataclass
class GameSet:
    """The games of one split, in a fixed order (``game_index`` i is ``games[i]``), and their logic.

    ``games`` is a sequence of :class:`GameRecord`; the generated set makes its games on first access.
    """

    name: str
    games: Sequence[GameRecord]
    logic: Logic

    def __len__(self) -> int:
        return len(self.games)


def _split_folder(split: str) -> str | None:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; known: {', '.join(SPLITS)}")
    return SPLIT_FOLDERS.get(split, split)


def _from_path(path: Path, split: str | None, task_types: tuple[str, ...]) -> GameSet:
    if path.is_file():
        records = read_packed(path)
        if split is not None:
            folder = _split_folder(split)
            splits = sorted({r.split for r in records})
            records = [r for r in records if r.split in (folder, split)]
            if not records:
                raise ValueError(f"{path} holds no game of split {split!r} (it holds: {', '.join(splits)})")
        games = [r for r in records if r.task_type in task_types]
        return GameSet(name=path.name, games=games, logic=find_logic(path))
    if not path.is_dir():
        raise FileNotFoundError(f"ALFWorld data not found: {path} (neither a packed .jsonl.gz nor a folder)")
    folder = _split_folder(split or "train")
    if folder is None:
        raise ValueError("split 'generated' takes no data_dir")
    packed = path / "games" / f"{folder}.jsonl.gz"
    if packed.is_file():
        return _from_path(packed, None, task_types)
    if (path / "json_2.1.1").is_dir() or path.name == "json_2.1.1":
        records, logic = pack_games(path, folder, task_types)
        return GameSet(name=folder, games=records, logic=logic)
    raise FileNotFoundError(
        f"no ALFWorld games for split {folder!r} in {path}: expected games/{folder}.jsonl.gz or json_2.1.1/{folder}/"
    )


def resolve_games(
    split: str | None,
    data_dir: str | os.PathLike | None,
    task_types: tuple[str, ...],
    generated_games: int = 1000,
    generator_seed: int = 0,
) -> GameSet:
    """The game set for the environment options.

    ``data_dir`` falls back to ``$ALFWORLD_DATA``; with neither (or ``split="generated"``), the games
    are generated. ``split=None`` means ``train`` for a data folder, the whole file for a packed set and
    ``generated`` otherwise.
    """
    if split is not None:
        _split_folder(split)
    if split != "generated":
        if data_dir is None and os.environ.get("ALFWORLD_DATA"):
            env_dir = Path(os.environ["ALFWORLD_DATA"]).expanduser()
            has_games = (env_dir / "json_2.1.1").is_dir() or (env_dir / "games").is_dir()
            if has_games:
                data_dir = env_dir
        if data_dir is not None:
            return _from_path(Path(data_dir).expanduser(), split, task_types)
        if split is not None:
            raise FileNotFoundError(
                f"no ALFWorld data for split {split!r}: pass data_dir=..., set ALFWORLD_DATA, run "
                "`hgpo alfworld download`, or use split='generated'"
            )
    elif data_dir is not None:
        raise ValueError("split 'generated' takes no data_dir")
    from hgpo_envs.alfworld.generator import GeneratedGames

    games = GeneratedGames(n=generated_games, seed=generator_seed, task_types=task_types)
    return GameSet(name="generated", games=games, logic=games.logic)
