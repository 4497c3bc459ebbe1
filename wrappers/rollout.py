"""``collect_groups``: group rollouts in lockstep batches, returned as step records."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from wrappers.backends import WorkerCrashed, make_backend
from wrappers.env_host import EnvSpec
from wrappers.memory import DEFAULT_HISTORY_LENGTH
from wrappers.recorder import DEFAULT_INCLUDE, EpisodeRecorder
from wrappers.sinks import RecordSink, open_sink
from wrappers.templates import PromptTemplate

__all__ = ["Policy", "collect_groups", "task_seeds"]

log = logging.getLogger(__name__)

Policy = Callable[[list[str], list[dict[str, Any]]], Sequence[str]]
"""``policy(prompts, infos) -> actions``: one action (or raw model text) per prompt."""


def task_seeds(seed: int, n_groups: int) -> list[int]:
    """The reset seed of each task group: distinct, reproducible 31-bit integers derived from ``seed``."""
    return [int(s) for s in np.random.SeedSequence(seed).generate_state(n_groups, dtype=np.uint32) >> 1]


@dataclass
class _Slot:
    """One environment of the rollout and everything needed to rebuild its state."""

    index: int
    worker: int
    group: int
    seed: int | None
    options: dict[str, Any] | None
    recorder: EpisodeRecorder
    observation: Any = None
    info: dict[str, Any] = field(default_factory=dict)
    actions: list[Any] = field(default_factory=list)
    done: bool = False


def collect_groups(
    env_id: str | Callable[[], Any],
    policy: Policy,
    n_groups: int,
    group_size: int,
    *,
    backend: str = "sync",
    seed: int = 0,
    env_kwargs: dict[str, Any] | None = None,
    task_options: Sequence[dict[str, Any] | None] | None = None,
    history_length: int = DEFAULT_HISTORY_LENGTH,
    template: str | Path | PromptTemplate | None = None,
    parse_actions: bool = False,
    parser_options: dict[str, Any] | None = None,
    max_steps: int | None = None,
    include: Sequence[str] = DEFAULT_INCLUDE,
    info_fields: Sequence[str] = (),
    n_workers: int | None = None,
    timeout: float | None = 600.0,
    max_restarts: int = 3,
    sink: str | Path | RecordSink | list | None = None,
    progress: bool = True,
    stats: dict[str, float] | None = None,
) -> list[dict[str, Any]]:
    """Roll out ``group_size`` episodes of each of ``n_groups`` tasks and return their step records.

    The members of a group start from the identical initial state: they are reset with the same seed
    (``task_seeds(seed, n_groups)[g]``) and the same ``task_options[g]`` (e.g. ``{"game_index": i}``).
    All environments advance in lockstep: each round, ``policy`` gets the prompts (``info["prompt"]`` from
    :class:`~wrappers.memory.MemoryWindow`) and infos of every unfinished episode and returns one action
    per prompt (raw model text when ``parse_actions``). Records follow the schema of ``hgpo_algo.records``
    with ``group_id = g``, ``traj_id = f"{g}-{member}"``, ordered by group, member and step.

    The same seed gives identical records on every backend. A worker that crashes or hangs is reported
    (logged as a warning), replaced, and its unfinished episodes are rebuilt by replaying their actions;
    after ``max_restarts`` replacements the rollout fails with :class:`~wrappers.backends.WorkerCrashed`.

    Args:
        env_id: a registered environment id or a picklable factory ``() -> gym.Env``.
        backend: ``sync`` (this process), ``process`` (worker processes) or ``ray`` (Ray actors).
        max_steps: add a ``TimeLimit``; otherwise the environment's own limit ends episodes.
        sink: also write the records to a file / sink.
        stats: a dict to fill with wall-clock seconds: ``start`` (make and reset), ``policy`` (policy calls),
            ``env`` (step calls through the backend, wrappers and recording included), ``restarts``.
    """
    if n_groups < 1 or group_size < 1:
        raise ValueError(f"n_groups and group_size must be >= 1, got {n_groups} and {group_size}")
    if task_options is not None and len(task_options) != n_groups:
        raise ValueError(f"task_options has {len(task_options)} entries for {n_groups} groups")
    spec = EnvSpec(
        env_id=env_id,
        env_kwargs=dict(env_kwargs or {}),
        history_length=history_length,
        template=template,
        parse_actions=parse_actions,
        parser_options=dict(parser_options or {}),
        max_steps=max_steps,
    )
    seeds = task_seeds(seed, n_groups)
    runner = make_backend(backend, n_workers=n_workers, timeout=timeout)
    try:
        n_envs = n_groups * group_size
        n_workers = runner.n_workers
        slots = [
            _Slot(
                index=i,
                worker=i * n_workers // n_envs,
                group=i // group_size,
                seed=seeds[i // group_size],
                options=dict(task_options[i // group_size] or {}) if task_options is not None else None,
                recorder=EpisodeRecorder(
                    i // group_size, f"{i // group_size}-{i % group_size}", include=include, info_fields=info_fields
                ),
            )
            for i in range(n_envs)
        ]
        rollout = _Rollout(runner, spec, slots, max_restarts)
        t0 = time.perf_counter()
        rollout.start()
        rollout.timings["start"] = time.perf_counter() - t0
        records = rollout.run(policy, progress)
        if stats is not None:
            stats.update(rollout.timings, restarts=float(rollout.restarts))
    finally:
        runner.close()
    out = open_sink(sink) if sink is not None else None
    if out is not None:
        for rec in records:
            out.write(rec)
        out.close()
    return records


class _Rollout:
    """The lockstep loop over a backend, with worker replacement."""

    def __init__(self, runner: Any, spec: EnvSpec, slots: list[_Slot], max_restarts: int) -> None:
        self.runner, self.spec, self.slots, self.max_restarts = runner, spec, slots, max_restarts
        self.restarts = 0
        self.records: list[list[dict[str, Any]]] = [[] for _ in slots]
        self.timings = {"start": 0.0, "policy": 0.0, "env": 0.0}

    def _by_worker(self, slots: list[_Slot]) -> dict[int, list[_Slot]]:
        out: dict[int, list[_Slot]] = {}
        for s in slots:
            out.setdefault(s.worker, []).append(s)
        return out

    def _call_all(self, method: str, payloads: dict[int, Any]) -> dict[int, Any]:
        """Send ``method(payload)`` to each worker, then collect; crashed workers are rebuilt and asked again."""
        handles = {w: self.runner.submit(w, method, *args) for w, args in payloads.items()}
        results, crashed = {}, []
        for w, handle in handles.items():
            try:
                results[w] = self.runner.wait(handle)
            except WorkerCrashed as exc:
                crashed.append(exc)
        for exc in crashed:
            self._replace(exc)
        if crashed:
            results.update(self._call_all(method, {exc.worker: payloads[exc.worker] for exc in crashed}))
        return results

    def _replace(self, exc: WorkerCrashed) -> None:
        self.restarts += 1
        if self.restarts > self.max_restarts:
            raise WorkerCrashed(exc.worker, f"{exc.reason}; giving up after {self.max_restarts} replacements")
        w = exc.worker
        mine = [s for s in self.slots if s.worker == w]
        live = [s for s in mine if not s.done and s.observation is not None]
        log.warning(
            "%s; replacing it and replaying %d unfinished episode(s) of group(s) %s",
            exc,
            len(live),
            sorted({s.group for s in live}),
        )
        self.runner.restart(w)
        self.runner.wait(self.runner.submit(w, "make", [s.index for s in mine], self.spec))
        for s in live:
            done_actions = s.actions[: len(self.records[s.index])]  # not the one in flight
            last = self.runner.wait(self.runner.submit(w, "replay", s.index, s.seed, s.options, done_actions))
            if last != s.observation:
                raise RuntimeError(
                    f"cannot rebuild episode {s.recorder.traj_id} after the crash of worker {w}: replaying its "
                    "actions gave a different observation (the environment is not deterministic)"
                )

    def start(self) -> None:
        by_worker = self._by_worker(self.slots)
        self._call_all("make", {w: ([s.index for s in ss], self.spec) for w, ss in by_worker.items()})
        answers = self._call_all(
            "reset", {w: ([(s.index, s.seed, s.options) for s in ss],) for w, ss in by_worker.items()}
        )
        for w, ss in by_worker.items():
            for s, (obs, info) in zip(ss, answers[w], strict=True):
                s.observation, s.info = obs, info
                s.recorder.begin(obs, info)

    def run(self, policy: Policy, progress: bool) -> list[dict[str, Any]]:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(self.slots), desc="episodes", unit="ep", disable=not progress, leave=False)
        steps = 0
        try:
            while True:
                alive = [s for s in self.slots if not s.done]
                if not alive:
                    break
                prompts = [s.info.get("prompt", s.observation) for s in alive]
                infos = [dict(s.info, episode=s.recorder.traj_id) for s in alive]
                t0 = time.perf_counter()
                actions = list(policy(prompts, infos))
                t1 = time.perf_counter()
                self.timings["policy"] += t1 - t0
                if len(actions) != len(alive):
                    raise ValueError(f"policy returned {len(actions)} actions for {len(alive)} prompts")
                for s, a in zip(alive, actions, strict=True):
                    s.actions.append(a)
                by_worker = self._by_worker(alive)
                answers = self._call_all(
                    "step", {w: ([(s.index, s.actions[-1]) for s in ss],) for w, ss in by_worker.items()}
                )
                for w, ss in by_worker.items():
                    for s, (obs, reward, terminated, truncated, info) in zip(ss, answers[w], strict=True):
                        self.records[s.index].append(
                            s.recorder.record(s.actions[-1], obs, reward, terminated, truncated, info)
                        )
                        s.observation, s.info = obs, info
                        if terminated or truncated:
                            s.done = True
                            bar.update(1)
                self.timings["env"] += time.perf_counter() - t1
                steps += len(alive)
                bar.set_postfix(steps=steps)
        finally:
            bar.close()
        return [rec for per_slot in self.records for rec in per_slot]
