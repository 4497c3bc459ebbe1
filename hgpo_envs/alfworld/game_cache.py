"""The on-disk cache of grounded native games, shared by every process of a machine.

A file holds what grounding a game found costly to find (its relaxed reachability,
:class:`hgpo_envs.alfworld.grounding.Reachability`); the rest of a native game is rebuilt from it and the
game's texts. It derives from the texts and from the code that grounds them, so files live in a folder
named after both a format version and a digest of that code: a changed engine never reads stale files. The cache is derived data, never part of the
project; ``HGPO_ALFWORLD_CACHE=off`` disables it.

Maintenance (what ``hgpo alfworld cache`` runs): :func:`version_folders` lists the version folders
under the root with their sizes and :func:`clear_folders` removes them (grounding a set ahead of
training is :mod:`hgpo_envs.alfworld.prepare`). Only folders named like a version folder and
holding nothing but cache files are ever removed, so a root shared with other data is safe.
"""

from __future__ import annotations

import gc
import hashlib
import os
import pickle
import re
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "CACHE_VERSION",
    "VersionFolder",
    "cache_dir",
    "cache_file",
    "cache_root",
    "clear_folders",
    "collections_paused",
    "read_cached",
    "version_folders",
    "write_cached",
]

#: Version of the on-disk format of grounded games (bump when what a file holds changes).
CACHE_VERSION = 4

#: Modules whose code decides what a grounded game holds.
_SOURCES = ("pddl.py", "join_compiler.py", "grounding.py", "native.py", "grammar.py", "names.py", "game_cache.py")


#: Names of version folders: ``v<format>-<12 hex digits of the engine's code>`` (early ones: ``v<format>``).
VERSION_DIR_RE = re.compile(r"v\d+(?:-[0-9a-f]{12})?")
#: Names of the files in a version folder: a game (:func:`cache_file`) or one being written.
CACHE_FILE_RE = re.compile(r"[0-9a-f]{32}\.pkl\.z(?:\.\d+\.tmp)?")


def cache_root() -> Path | None:
    """The folder that holds the version folders: ``$HGPO_ALFWORLD_CACHE``, else
    ``$HGPO_CACHE/alfworld_native``, else ``~/.cache/hgpo/alfworld_native``; ``None`` when
    ``HGPO_ALFWORLD_CACHE`` is ``off`` (or ``0``, ``no``, ``false``)."""
    explicit = os.environ.get("HGPO_ALFWORLD_CACHE", "")
    if explicit.lower() in ("0", "off", "no", "false"):
        return None
    if explicit:
        return Path(explicit).expanduser()
    if os.environ.get("HGPO_CACHE"):
        return Path(os.environ["HGPO_CACHE"]).expanduser() / "alfworld_native"
    return Path.home() / ".cache" / "hgpo" / "alfworld_native"


def cache_dir() -> Path | None:
    """Where games' reachability is cached across processes: a subfolder of :func:`cache_root` per engine
    version (``v<CACHE_VERSION>-<digest of the engine's code>``); ``None`` when the cache is off."""
    base = cache_root()
    if base is None:
        return None
    return base / f"v{CACHE_VERSION}-{_source_digest()}"


_SOURCE_DIGEST: str | None = None


def _source_digest() -> str:
    """Digest of the code that grounds games (computed once per process)."""
    global _SOURCE_DIGEST
    if _SOURCE_DIGEST is None:
        h = hashlib.blake2b(digest_size=6)
        for name in _SOURCES:
            h.update((Path(__file__).parent / name).read_bytes())
        _SOURCE_DIGEST = h.hexdigest()
    return _SOURCE_DIGEST


def cache_file(domain: str, grammar: str, problem: str) -> Path | None:
    """The cache file of the game made of these three texts (``None`` when the cache is off)."""
    folder = cache_dir()
    if folder is None:
        return None
    h = hashlib.blake2b(digest_size=16)
    for part in (domain, grammar, problem):
        h.update(part.encode("utf-8"))
        h.update(b"\0")
    return folder / f"{h.hexdigest()}.pkl.z"


def read_cached(path: Path | None, kind: type) -> object | None:
    """The object of type ``kind`` stored at ``path``; ``None`` when absent, damaged or foreign."""
    if path is None or not path.is_file():
        return None
    try:
        with collections_paused():  # unpickling makes many small objects and no cycles
            found = pickle.loads(zlib.decompress(path.read_bytes()))
    except (OSError, zlib.error, pickle.UnpicklingError, EOFError, AttributeError, TypeError, ValueError,
            IndexError, KeyError, ImportError):
        return None  # ground again (and overwrite it)
    return found if isinstance(found, kind) else None


@contextmanager
def collections_paused() -> Iterator[None]:
    """Garbage collection off inside (as it was before, after): for code that makes many small objects
    and no reference cycles, where collections only cost time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def write_cached(path: Path | None, obj: object) -> None:
    """Store ``obj`` at ``path`` atomically (a read-only home: nothing is written, nothing fails)."""
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(zlib.compress(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL), 1))
        tmp.replace(path)
    except OSError:
        pass


# -- maintenance: listing, clearing, preparing ----------------------------------------------------------


@dataclass(frozen=True)
class VersionFolder:
    """One version folder under the cache root.

    ``files``/``bytes``: the cache files it holds and their total size (bytes, apparent size).
    ``current``: it is the folder this installation's engine reads and writes (:func:`cache_dir`).
    ``foreign``: names of entries that are not cache files (a folder with any is never removed).
    ``modified``: the folder's last modification (Unix time): when a game was last written to it.
    """

    path: Path
    files: int
    bytes: int
    current: bool
    modified: float
    foreign: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def stale(self) -> bool:
        """Made by another engine version: this installation never reads it again."""
        return not self.current


def _scan(folder: Path, current: Path | None) -> VersionFolder:
    files, size, foreign = 0, 0, []
    with os.scandir(folder) as entries:
        for entry in entries:
            if CACHE_FILE_RE.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
                files += 1
                try:
                    size += entry.stat(follow_symlinks=False).st_size
                except FileNotFoundError:  # removed meanwhile (a writer's temporary file)
                    files -= 1
            else:
                foreign.append(entry.name)
    return VersionFolder(path=folder, files=files, bytes=size, current=current is not None and folder == current,
                         modified=folder.stat().st_mtime, foreign=tuple(sorted(foreign)))


def version_folders(root: Path | None = None) -> list[VersionFolder]:
    """The version folders under ``root`` (default :func:`cache_root`), sorted by name; other entries
    of the root (files, symbolic links, folders with other names) are not listed. ``[]`` when the root
    does not exist or the cache is off."""
    root = cache_root() if root is None else Path(root)
    if root is None or not root.is_dir():
        return []
    current = cache_dir() if root == cache_root() else None
    found = []
    with os.scandir(root) as entries:
        for entry in entries:
            if VERSION_DIR_RE.fullmatch(entry.name) and entry.is_dir(follow_symlinks=False):
                found.append(_scan(Path(entry.path), current))
    return sorted(found, key=lambda f: f.name)


def clear_folders(folders: Iterable[VersionFolder]) -> tuple[list[VersionFolder], list[VersionFolder]]:
    """Remove these version folders; returns ``(removed, kept)``.

    A folder is kept, untouched, when it holds anything but cache files (``foreign``), when its name is
    not a version folder's, or when it is a symbolic link; so only what this module wrote is deleted.
    """
    removed, kept = [], []
    for folder in folders:
        path = folder.path
        if folder.foreign or not VERSION_DIR_RE.fullmatch(path.name) or path.is_symlink() or not path.is_dir():
            kept.append(folder)
            continue
        # Delete file by file (each checked again by name), then the emptied folder: anything else put
        # there since it was listed makes rmdir fail and keeps the folder and that entry.
        for entry in os.scandir(path):
            if CACHE_FILE_RE.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
                try:
                    os.unlink(entry.path)
                except FileNotFoundError:
                    pass
        try:
            path.rmdir()
        except OSError:
            kept.append(_scan(path, folder.path if folder.current else None))
            continue
        removed.append(folder)
    return removed, kept
