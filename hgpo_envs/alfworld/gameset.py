"""Game sets: packed ``*.jsonl.gz`` files and folders in the upstream ALFWorld layout.

A packed set holds one JSON object per game (fields of :class:`GameRecord`), gzip-compressed with
mtime 0 so that the same games give the same bytes. An upstream folder holds
``json_2.1.1/<split>/<task folder>/<trial>/game.tw-pddl`` files, each a complete game.
"""

from __future__ import annotations

import gzip
import io
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hgpo_envs.alfworld.logic import GRAMMAR_PLACEHOLDER, TASK_LINE_RE, Logic
from hgpo_envs.alfworld.tasks import TASK_TYPES

__all__ = [
    "GameRecord",
    "pack_games",
    "read_packed",
    "record_from_game_file",
    "scan_upstream",
    "write_packed",
]

_TASK_FOLDER = re.compile(r"^(?P<task_type>[a-z_]+)-(?P<obj>[^-]+)-(?P<mrecep>[^-]+)-(?P<parent>[^-]+)-(?P<scene>\d+)$")


@dataclass
class GameRecord:
    """One ALFWorld game in packed form (the field order is the packed files' key order).

    ``pddl_problem`` is the PDDL problem text; the domain and grammar come from a :class:`Logic`.
    ``walkthrough`` is the expert command list that wins the game.
    """

    path: str
    split: str
    task_type: str
    object_target: str
    mrecep_target: str
    parent_target: str
    scene_num: int
    task_id: str
    task_desc: str
    human_task_descs: list[str] | None
    walkthrough: list[str]
    pddl_problem: str
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GameRecord:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data and k != "extra"}
        missing = [k for k in ("task_type", "task_desc", "walkthrough", "pddl_problem") if k not in known]
        if missing:
            raise ValueError(f"game record lacks field(s) {', '.join(missing)}")
        extra = {k: v for k, v in data.items() if k not in cls.__dataclass_fields__}
        defaults = {"path": "", "split": "", "object_target": "", "mrecep_target": "", "parent_target": "",
                    "scene_num": 0, "task_id": "", "human_task_descs": None}
        return cls(**{**defaults, **known}, extra=extra)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        extra = data.pop("extra")
        return {**data, **extra}

    @property
    def game_id(self) -> str:
        """A stable id: the original relative path (real games) or ``generated/<task_id>``."""
        return self.path or self.task_id


def read_packed(path: str | Path) -> list[GameRecord]:
    """Read a packed set (``*.jsonl.gz``, or plain ``*.jsonl``). Raises ``FileNotFoundError``/``ValueError``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"packed ALFWorld game set not found: {path}")
    opener = gzip.open if path.suffix == ".gz" else open
    records = []
    with opener(path, "rt", encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                records.append(GameRecord.from_json(json.loads(line)))
            except (json.JSONDecodeError, TypeError, ValueError) as exc:
                raise ValueError(f"{path}:{line_no}: not a packed ALFWorld game ({exc})") from exc
    return records


def write_packed(records: Iterable[GameRecord], path: str | Path) -> int:
    """Write records as a byte-stable ``.jsonl.gz`` (gzip mtime 0, no file name). Returns the count."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    count = 0
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, compresslevel=9, mtime=0) as gz:
        for record in records:
            gz.write((json.dumps(record.to_json(), ensure_ascii=False) + "\n").encode("utf-8"))
            count += 1
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(buffer.getvalue())
    tmp.replace(path)
    return count


def _human_descs(trial_dir: Path) -> list[str] | None:
    traj = trial_dir / "traj_data.json"
    if not traj.is_file():
        return None
    try:
        anns = json.loads(traj.read_text(encoding="utf-8"))["turk_annotations"]["anns"]
        return [a["task_desc"] for a in anns]
    except (KeyError, TypeError, json.JSONDecodeError):
        return None


def record_from_game_file(game_file: Path, root: Path) -> tuple[GameRecord, Logic]:
    """Read one upstream ``game.tw-pddl``; returns its record and its logic (grammar template)."""
    data = json.loads(Path(game_file).read_text(encoding="utf-8"))
    match = TASK_LINE_RE.search(data["grammar"])
    if match is None:
        raise ValueError(f"{game_file}: no 'Your task is to: ...' line in the grammar")
    task_desc = match.group(1)
    template = data["grammar"][: match.start(1)] + GRAMMAR_PLACEHOLDER + data["grammar"][match.end(1) :]
    trial_dir = Path(game_file).parent
    rel = Path(game_file).relative_to(root).as_posix()
    folder = _TASK_FOLDER.match(trial_dir.parent.name)
    if folder is None:
        raise ValueError(f"{game_file}: task folder {trial_dir.parent.name!r} is not <type>-<obj>-<mrecep>-<parent>-<scene>")
    record = GameRecord(
        path=rel,
        split=trial_dir.parent.parent.name,
        task_type=folder["task_type"],
        object_target=folder["obj"],
        mrecep_target="" if folder["mrecep"] == "None" else folder["mrecep"],
        parent_target=folder["parent"],
        scene_num=int(folder["scene"]),
        task_id=trial_dir.name,
        task_desc=task_desc,
        human_task_descs=_human_descs(trial_dir),
        walkthrough=list(data.get("walkthrough") or []),
        pddl_problem=data["pddl_problem"],
    )
    return record, Logic(domain=data["pddl_domain"], grammar=template, source=str(game_file))


def _playable(game_file: Path, task_types: tuple[str, ...]) -> bool:
    """ALFWorld's filter: no 'movable'/'Sliced' in the path, a selected task type, ``solvable: true``."""
    text = str(game_file)
    if "movable" in text or "Sliced" in text:
        return False
    task_type = game_file.parent.parent.name.split("-", 1)[0]
    if task_type not in task_types:
        return False
    with open(game_file, encoding="utf-8") as f:
        return bool(json.load(f).get("solvable", False))


def _split_dirs(root: Path, split_folder: str | None) -> tuple[Path, list[Path]]:
    """(root that paths are made relative to, split folders to scan)."""
    root = Path(root)
    if (root / "json_2.1.1").is_dir():
        base = root / "json_2.1.1"
    elif root.name == "json_2.1.1":
        base, root = root, root.parent
    else:  # a split folder itself
        return root.parent.parent, [root]
    if split_folder is not None:
        return root, [base / split_folder]
    return root, sorted(p for p in base.iterdir() if p.is_dir())


def scan_upstream(
    root: str | Path, split_folder: str | None = None, task_types: Iterable[str] = TASK_TYPES
) -> Iterator[Path]:
    """Playable ``game.tw-pddl`` files under an upstream data folder, sorted by path.

    Args:
        root: ``$ALFWORLD_DATA``, its ``json_2.1.1`` folder, or one split folder.
        split_folder: ``train``/``valid_seen``/``valid_unseen``/... (``None``: every split found).
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"ALFWorld data folder not found: {root}")
    _, split_dirs = _split_dirs(root, split_folder)
    selected = tuple(task_types)
    for split_dir in split_dirs:
        if not split_dir.is_dir():
            raise FileNotFoundError(f"split folder not found: {split_dir}")
        for game_file in sorted(split_dir.glob("*/*/game.tw-pddl")):
            if _playable(game_file, selected):
                yield game_file


def pack_games(
    root: str | Path, split_folder: str | None = None, task_types: Iterable[str] = TASK_TYPES
) -> tuple[list[GameRecord], Logic]:
    """Records of the playable games under ``root`` and their common logic.

    Raises ``ValueError`` when the games do not share one domain and grammar template (mixed
    releases: the 0.3 "put X in/on Y" games and the 0.4 "move X to Y" games must not be packed together).
    """
    relative_to, _ = _split_dirs(Path(root), split_folder)
    records, logic = [], None
    for game_file in scan_upstream(root, split_folder, task_types):
        record, game_logic = record_from_game_file(game_file, relative_to)
        if logic is None:
            logic = game_logic
        elif (game_logic.domain, game_logic.grammar) != (logic.domain, logic.grammar):
            raise ValueError(f"{game_file}: its domain or grammar differs from {logic.source}'s; mixed releases?")
        records.append(record)
    if logic is None:
        raise ValueError(f"no playable game.tw-pddl under {root}")
    return records, logic
