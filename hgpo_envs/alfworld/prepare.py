"""Grounding a game set into the on-disk cache ahead of training (``hgpo alfworld cache prepare``).

The first time a machine meets a game the native engine grounds it (under 10 ms) and caches what the
relaxed-reachability fixpoint found; grounding a whole set once, in a process pool, leaves every later
process only the cached read and the rebuild of the operators (:mod:`hgpo_envs.alfworld.game_cache`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from tqdm import tqdm

from hgpo_envs.alfworld.game_cache import cache_dir, cache_file
from hgpo_envs.alfworld.native import native_game

__all__ = ["GameTexts", "PrepareResult", "default_workers", "prepare_games"]


class GameTexts(NamedTuple):
    """The three texts a grounded game derives from, and a name to report it by (a ``game_id``)."""

    name: str
    domain: str
    grammar: str
    problem: str


@dataclass
class PrepareResult:
    """What :func:`prepare_games` did: games ``grounded`` now, ``cached`` already (identical games are
    counted once), ``failed`` as ``(name, error)`` pairs, ``seconds`` of wall time, in ``folder``;
    ``cpu_seconds`` holds each grounded game's CPU time (seconds, in its worker), in completion order."""

    folder: Path
    grounded: int = 0
    cached: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    cpu_seconds: list[float] = field(default_factory=list)


def default_workers() -> int:
    """The CPUs this process may run on (the default size of :func:`prepare_games`'s pool)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _ground(texts: GameTexts) -> tuple[str | None, float]:
    """Ground one game into the cache (in a pool worker): ``(error message or None, CPU seconds)``."""
    start = time.process_time()
    try:
        native_game(texts.domain, texts.grammar, texts.problem)
    except Exception as exc:  # any game's failure is reported with its name; the run goes on
        return f"{type(exc).__name__}: {exc}", time.process_time() - start
    cpu = time.process_time() - start
    path = cache_file(texts.domain, texts.grammar, texts.problem)
    if path is None or not path.is_file():
        return f"not written to {None if path is None else path.parent} (is it writable?)", cpu
    return None, cpu


def _check_writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PermissionError(f"cannot create the cache folder {folder}: {exc}") from exc
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(f"cannot write to the cache folder {folder}")


def prepare_games(games: Sequence[GameTexts], workers: int | None = None, progress: bool = False) -> PrepareResult:
    """Ground every game not yet in the cache, in a pool of ``workers`` processes (default: the CPU
    count; 1 grounds in this process), with a tqdm bar on stderr when ``progress``.

    Games whose cache file exists count as ``cached`` and are not opened. An interrupted run keeps
    what it wrote (each file is written atomically), so running it again continues.

    Raises ``ValueError`` when the cache is off or ``workers < 1``, ``PermissionError`` when the cache
    folder cannot be written.
    """
    folder = cache_dir()
    if folder is None:
        raise ValueError("the on-disk cache is off (HGPO_ALFWORLD_CACHE=off): nothing to prepare")
    workers = default_workers() if workers is None else workers
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an int >= 1, got {workers!r}")
    start = time.perf_counter()
    result = PrepareResult(folder=folder)
    todo: dict[Path, GameTexts] = {}
    seen: set[Path] = set()
    for texts in games:
        path = cache_file(texts.domain, texts.grammar, texts.problem)
        if path in seen:
            continue
        seen.add(path)
        if path.is_file():
            result.cached += 1
        else:
            todo[path] = texts
    if todo:
        _check_writable(folder)
        bar = tqdm(total=len(todo), unit="game", desc="ground", disable=not progress)
        try:
            if workers == 1 or len(todo) == 1:
                for texts in todo.values():
                    _record(result, texts, _ground(texts))
                    bar.update()
            else:
                with ProcessPoolExecutor(max_workers=min(workers, len(todo))) as pool:
                    futures = {pool.submit(_ground, texts): texts for texts in todo.values()}
                    try:
                        for future in as_completed(futures):
                            _record(result, futures[future], future.result())
                            bar.update()
                    except BaseException:
                        pool.shutdown(wait=True, cancel_futures=True)
                        raise
        finally:
            bar.close()
    result.seconds = time.perf_counter() - start
    return result


def _record(result: PrepareResult, texts: GameTexts, outcome: tuple[str | None, float]) -> None:
    error, cpu = outcome
    if error is None:
        result.grounded += 1
        result.cpu_seconds.append(cpu)
    else:
        result.failed.append((texts.name, error))
