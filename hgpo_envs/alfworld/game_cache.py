"""The on-disk cache of grounded native games, shared by every process of a machine.

A grounded game (:class:`hgpo_envs.alfworld.native.NativeGame`) derives from the game's texts and from
the code that grounds it, so files live in a folder named after both a format version and a digest of
that code: a changed engine never reads stale files. The cache is derived data, never part of the
project; ``HGPO_ALFWORLD_CACHE=off`` disables it.
"""

from __future__ import annotations

import gc
import hashlib
import os
import pickle
import zlib
from pathlib import Path

__all__ = ["CACHE_VERSION", "cache_dir", "cache_file", "read_cached", "write_cached"]

#: Version of the on-disk format of grounded games (bump when NativeGame's fields change).
CACHE_VERSION = 2

#: Modules whose code decides what a grounded game holds.
_SOURCES = ("pddl.py", "native.py", "grammar.py", "names.py", "game_cache.py")


def cache_dir() -> Path | None:
    """Where grounded games are cached across processes: ``$HGPO_ALFWORLD_CACHE``, else
    ``$HGPO_CACHE/alfworld_native``, else ``~/.cache/hgpo/alfworld_native``, in a subfolder per engine
    version; ``None`` when ``HGPO_ALFWORLD_CACHE`` is ``off``."""
    explicit = os.environ.get("HGPO_ALFWORLD_CACHE", "")
    if explicit.lower() in ("0", "off", "no", "false"):
        return None
    if explicit:
        base = Path(explicit).expanduser()
    elif os.environ.get("HGPO_CACHE"):
        base = Path(os.environ["HGPO_CACHE"]).expanduser() / "alfworld_native"
    else:
        base = Path.home() / ".cache" / "hgpo" / "alfworld_native"
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
    enabled = gc.isenabled()
    gc.disable()  # unpickling makes many small objects: collections only slow it down
    try:
        found = pickle.loads(zlib.decompress(path.read_bytes()))
    except (OSError, zlib.error, pickle.UnpicklingError, EOFError, AttributeError, TypeError, ValueError,
            IndexError, KeyError, ImportError):
        return None  # ground again (and overwrite it)
    finally:
        if enabled:
            gc.enable()
    return found if isinstance(found, kind) else None


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
