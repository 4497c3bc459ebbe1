"""``collect_groups``: group rollouts in lockstep batches, returned as step records."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hgpo_algo.defaults import HISTORY_LEVELS
from wrappers.backends import WorkerCrashed, make_backend
from wrappers.decision import split_decision
from wrappers.env_host import EnvSpec
from wrappers.memories import Memory
from wrappers.recorder import DEFAULT_INCLUDE, EpisodeRecorder
from wrappers.sinks import RecordSink, open_sink
from wrappers.templates import PromptTemplate

__all__ = ["Policy", "collect_groups", "task_seeds"]

log = logging.getLogger(__name__)

Policy = Callable[[list[str], list[dict[str, Any]]], Sequence[Any]]
"""``policy(prompts, infos) -> actions``: one action (or raw model text, or a
:class:`~wrappers.decision.Decision` carrying a payload for the record) per prompt."""


def task_seeds(seed: int, n_groups: int) -> list[int]:
    """The reset seed of each task group: distinct, reproducible 31-bit integers derived from ``seed``."""
    return [int(s) for s in np.random.SeedSequence(seed).generate_state(n_groups, dtype=np.uint32) >> 1]


@dataclass
class _Episode:
    """One episode of the rollout and everything needed to rebuild its state."""

    index: int
    group: int
    seed: int | None
    options: dict[str, Any] | None
    recorder: EpisodeRecorder
    observation: Any = None
    info: dict[str, Any] = field(default_factory=dict)
    actions: list[Any] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)
    done: bool = False


@dataclass
class _Slot:
    """One environment of the rollout: where it runs and the episode it is playing (None when idle)."""

    index: int
    worker: int
    episode: _Episode | None = None


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
    history_length: int = HISTORY_LEVELS,
    memory: Memory | None = None,
    template: str | Path | PromptTemplate | None = None,
    parse_actions: bool = False,
    parser_options: dict[str, Any] | None = None,
    max_steps: int | None = None,
    include: Sequence[str] = DEFAULT_INCLUDE,
    info_fields: Sequence[str] = (),
    n_workers: int | None = None,
    max_envs: int | None = None,
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
    per prompt (raw model text when ``parse_actions``), or a :class:`~wrappers.decision.Decision` whose
    payload (token ids, log-probabilities, ...) is stored as that step's ``payload`` field. Each info
    also carries ``episode``, the episode's ``traj_id``. Records follow the schema of ``hgpo_algo.records``
    with ``group_id = g``, ``traj_id = f"{g}-{member}"``, ordered by group, member and step.

    The same seed gives identical records on every backend. A worker that
    crashes or hangs is reported (logged as a warning), replaced, and its unfinished episodes are rebuilt
    by replaying their actions; after ``max_restarts`` replacements the rollout fails with
    :class:`~wrappers.backends.WorkerCrashed`.

    Args:
        env_id: a registered environment id or a picklable factory ``() -> gym.Env``.
        backend: ``sync`` (this process), ``process`` (worker processes) or ``ray`` (Ray actors).
        history_length, memory: the prompts' memory: the window of ``history_length`` observation/action
            pairs by default, or any :class:`~wrappers.memories.Memory` (each environment gets a copy).
        max_steps: the episode step limit (passed to ``gym.make`` as ``max_episode_steps``, so it replaces
            the registered limit, above or below it); default: the environment's own limit.
        max_envs: at most this many environments exist at once; the episodes queue for them (default: one
            environment per episode). ``max_envs=1`` plays the episodes one after another.
        sink: also write the records to a file / sink.
        stats: a dict to fill with wall-clock seconds: ``start`` (make and reset), ``policy`` (policy calls),
            ``env`` (step calls through the backend, wrappers and recording included), ``restarts``.
    """
    if n_groups < 1 or group_size < 1:
        raise ValueError(f"n_groups and group_size must be >= 1, got {n_groups} and {group_size}")
    if task_options is not None and len(task_options) != n_groups:
        raise ValueError(f"task_options has {len(task_options)} entries for {n_groups} groups")
    if max_envs is not None and max_envs < 1:
        raise ValueError(f"max_envs must be >= 1, got {max_envs}")
    spec = EnvSpec(
        env_id=env_id,
        env_kwargs=dict(env_kwargs or {}),
        history_length=history_length,
        memory=memory,
        template=template,
        parse_actions=parse_actions,
        parser_options=dict(parser_options or {}),
        max_steps=max_steps,
    ).resolved()
    episodes = _plan_episodes(n_groups, group_size, task_seeds(seed, n_groups), task_options, include, info_fields)
    runner = make_backend(backend, n_workers=n_workers, timeout=timeout)
    try:
        n_envs = min(len(episodes), max_envs or len(episodes))
        slots = [_Slot(index=i, worker=i * runner.n_workers // n_envs) for i in range(n_envs)]
        rollout = _Rollout(runner, spec, slots, episodes, max_restarts)
        t0 = time.perf_counter()
        rollout.start()
        rollout.timings["start"] = time.perf_counter() - t0
        rollout.run(policy, progress)
        if stats is not None:
            stats.update(rollout.timings, restarts=float(rollout.restarts))
    finally:
        runner.close()
    records = [rec for ep in episodes for rec in ep.records]
    if sink is not None:
        out = open_sink(sink)
        try:
            for rec in records:
                out.write(rec)
        finally:
            out.close()
    return records


def _plan_episodes(
    n_groups: int,
    group_size: int,
    seeds: list[int],
    task_options: Sequence[dict[str, Any] | None] | None,
    include: Sequence[str],
    info_fields: Sequence[str],
) -> list[_Episode]:
    """Every episode of the rollout in (group, member) order, with its reset seed, options and recorder."""
    return [
        _Episode(
            index=g * group_size + m,
            group=g,
            seed=seeds[g],
            options=dict(task_options[g] or {}) if task_options is not None else None,
            recorder=EpisodeRecorder(g, f"{g}-{m}", include=include, info_fields=info_fields),
        )
        for g in range(n_groups)
        for m in range(group_size)
    ]


class _Rollout:
    """The lockstep loop over a backend: environments take queued episodes; workers are replaced on crashes."""

    def __init__(
        self, runner: Any, spec: EnvSpec, slots: list[_Slot], episodes: list[_Episode], max_restarts: int
    ) -> None:
        self.runner, self.spec, self.slots, self.max_restarts = runner, spec, slots, max_restarts
        self.pending = list(reversed(episodes))  # popped from the end: episode order
        self.restarts = 0
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
        live = [
            (s, s.episode)
            for s in mine
            if s.episode is not None and not s.episode.done and s.episode.observation is not None
        ]
        log.warning(
            "%s; replacing it and replaying %d unfinished episode(s) of group(s) %s",
            exc,
            len(live),
            sorted({ep.group for _, ep in live}),
        )
        self.runner.restart(w)
        self.runner.wait(self.runner.submit(w, "make", [s.index for s in mine], self.spec))
        for s, ep in live:
            done_actions = ep.actions[: len(ep.records)]  # not the one in flight
            last = self.runner.wait(self.runner.submit(w, "replay", s.index, ep.seed, ep.options, done_actions))
            if last != ep.observation:
                raise RuntimeError(
                    f"cannot rebuild episode {ep.recorder.traj_id} after the crash of worker {w}: replaying its "
                    "actions gave a different observation (the environment is not deterministic)"
                )

    def _assign(self, slots: list[_Slot]) -> None:
        """Give each of ``slots`` the next queued episode and reset it; slots left without one go idle."""
        starting = []
        for s in slots:
            s.episode = self.pending.pop() if self.pending else None
            if s.episode is not None:
                starting.append(s)
        if not starting:
            return
        by_worker = self._by_worker(starting)
        answers = self._call_all(
            "reset",
            {w: ([(s.index, s.episode.seed, s.episode.options) for s in ss],) for w, ss in by_worker.items()},  # type: ignore[union-attr]
        )
        for w, ss in by_worker.items():
            for s, (obs, info) in zip(ss, answers[w], strict=True):
                ep = s.episode
                ep.observation, ep.info = obs, info  # type: ignore[union-attr]
                ep.recorder.begin(obs, info)  # type: ignore[union-attr]

    def start(self) -> None:
        by_worker = self._by_worker(self.slots)
        self._call_all("make", {w: ([s.index for s in ss], self.spec) for w, ss in by_worker.items()})
        self._assign(self.slots)

    def _decide(self, policy: Policy, alive: list[_Slot]) -> list[tuple[Any, Mapping[str, Any] | None]]:
        """The policy's ``(action, payload)`` for every live slot (a bare action has no payload)."""
        episodes = [s.episode for s in alive]
        prompts = [ep.info.get("prompt", ep.observation) for ep in episodes]  # type: ignore[union-attr]
        infos = [dict(ep.info, episode=ep.recorder.traj_id) for ep in episodes]  # type: ignore[union-attr]
        t0 = time.perf_counter()
        outputs = list(policy(prompts, infos))
        self.timings["policy"] += time.perf_counter() - t0
        if len(outputs) != len(alive):
            raise ValueError(f"policy returned {len(outputs)} actions for {len(alive)} prompts")
        return [split_decision(out) for out in outputs]

    def _step(self, alive: list[_Slot], decisions: list[tuple[Any, Mapping[str, Any] | None]]) -> list[_Slot]:
        """Step every live slot with its ``(action, payload)``; returns the slots whose episode ended."""
        for s, (action, _) in zip(alive, decisions, strict=True):
            s.episode.actions.append(action)  # type: ignore[union-attr]
        payloads = {id(s): payload for s, (_, payload) in zip(alive, decisions, strict=True)}
        by_worker = self._by_worker(alive)
        answers = self._call_all(
            "step", {w: ([(s.index, s.episode.actions[-1]) for s in ss],) for w, ss in by_worker.items()}  # type: ignore[union-attr]
        )
        ended = []
        for w, ss in by_worker.items():
            for s, (obs, reward, terminated, truncated, info) in zip(ss, answers[w], strict=True):
                ep: _Episode = s.episode  # type: ignore[assignment]  # only live slots are stepped
                ep.records.append(
                    ep.recorder.record(ep.actions[-1], obs, reward, terminated, truncated, info, payloads[id(s)])
                )
                ep.observation, ep.info = obs, info
                if terminated or truncated:
                    ep.done = True
                    ended.append(s)
        return ended

    def run(self, policy: Policy, progress: bool) -> None:
        from tqdm.auto import tqdm

        n_episodes = len(self.pending) + sum(s.episode is not None for s in self.slots)
        bar = tqdm(total=n_episodes, desc="episodes", unit="ep", disable=not progress, leave=False)
        steps = 0
        try:
            while True:
                alive = [s for s in self.slots if s.episode is not None and not s.episode.done]
                if not alive:
                    break
                decisions = self._decide(policy, alive)
                t1 = time.perf_counter()
                ended = self._step(alive, decisions)
                if ended:
                    bar.update(len(ended))
                    self._assign(ended)
                self.timings["env"] += time.perf_counter() - t1
                steps += len(alive)
                bar.set_postfix(steps=steps)
        finally:
            bar.close()
