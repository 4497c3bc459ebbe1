"""Step records from environment transitions: ``EpisodeRecorder`` (plain object) and ``StepRecorder``."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import gymnasium as gym

from hgpo_algo.records import REQUIRED_FIELDS, StepRecord
from wrappers.decision import split_decision
from wrappers.sinks import RecordSink, open_sink

__all__ = ["DEFAULT_INCLUDE", "EpisodeRecorder", "StepRecorder"]

DEFAULT_INCLUDE = ("observation", "action", "prompt")

#: Record fields that ``info_fields`` may not name (the schema's, and those the recorder writes itself).
_RESERVED = frozenset((*REQUIRED_FIELDS, "invalid", "context_keys", "prompt_keys", "payload"))


class EpisodeRecorder:
    """Turns one episode's transitions into step records (the schema of ``hgpo_algo.records``).

    Call :meth:`begin` with the reset's observation and info, then :meth:`record` for every step. A record
    describes the decision at step t: ``state_key`` and ``context_keys`` of what the agent saw before acting,
    ``prompt_keys`` (one key per history item its prompt showed), the action, the reward received after it, ``invalid`` (the model output could not be parsed:
    ``not info["format_valid"]``; with ``invalid_from="env"``, ``not info["is_action_valid"]``), ``done``,
    ``terminated``, ``truncated``, ``won`` and, when the policy returned one, its ``payload``. Records are
    built by :class:`hgpo_algo.records.StepRecord`, the one constructor of the schema.

    Args:
        group_id, traj_id: the ids written into every record.
        include: optional fields to write: any of ``observation`` (the text the agent acted on), ``action``
            (what the environment received), ``response`` (raw model text), ``prompt``.
        info_fields: further ``info`` keys of the step to copy into the record (e.g. ``task_score``).
    """

    def __init__(
        self,
        group_id: str | int,
        traj_id: str | int,
        *,
        include: Iterable[str] = DEFAULT_INCLUDE,
        info_fields: Iterable[str] = (),
        invalid_from: str = "format",
    ) -> None:
        include = tuple(include)
        unknown = sorted(set(include) - {"observation", "action", "response", "prompt"})
        if unknown:
            raise ValueError(f"unknown include field(s) {', '.join(unknown)}")
        if invalid_from not in ("format", "env"):
            raise ValueError(f"invalid_from must be 'format' or 'env', got {invalid_from!r}")
        self.group_id, self.traj_id = group_id, traj_id
        self.include, self.info_fields, self.invalid_from = include, tuple(info_fields), invalid_from
        # what every record carries, decided once: the info flag behind ``invalid`` and the optional fields
        self._invalid_flag = "format_valid" if invalid_from == "format" else "is_action_valid"
        self._with = {name: name in include for name in ("observation", "action", "response", "prompt")}
        self._step = 0
        self._seen: tuple[Any, dict[str, Any]] | None = None

    def begin(self, observation: Any, info: dict[str, Any]) -> None:
        self._step = 0
        self._seen = (observation, info)

    def _extra(
        self, action: Any, terminated: bool, truncated: bool, info: dict[str, Any], payload: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        """The record's fields beyond the schema, in their order in the record (and in files)."""
        seen_obs, seen_info = self._seen  # type: ignore[misc]  # record() checked it
        extra: dict[str, Any] = {
            "done": bool(terminated or truncated),
            "terminated": bool(terminated),
            "truncated": bool(truncated),
            "won": bool(info.get("won", False)),
        }
        if self._with["observation"]:
            extra["observation"] = seen_obs
        if self._with["action"]:
            extra["action"] = info.get("parsed_action", action)
        if self._with["response"]:
            extra["response"] = info.get("raw_action", action)
        if self._with["prompt"] and "prompt" in seen_info:
            extra["prompt"] = seen_info["prompt"]
        for name in self.info_fields:
            if name in _RESERVED or name in extra:
                raise ValueError(f"info field {name!r} would overwrite a record field")
            extra[name] = info.get(name)
        if payload:
            extra["payload"] = dict(payload)
        return extra

    def record(
        self,
        action: Any,
        observation: Any,
        reward: float,
        terminated: bool,
        truncated: bool,
        info: dict[str, Any],
        payload: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The record of the step that took ``action`` from the state seen last; ``payload``: see ``Decision``."""
        if self._seen is None:
            raise RuntimeError("EpisodeRecorder.record before begin (reset the environment first)")
        seen_info = self._seen[1]
        if "state_key" not in seen_info:
            raise KeyError("step records need info['state_key']; wrap the environment with wrappers.StateKey")
        reward = float(reward)
        if not math.isfinite(reward):
            raise ValueError(f"environment returned a non-finite reward ({reward}) at step {self._step}")
        invalid = not info.get(self._invalid_flag, True)
        rec = StepRecord(
            group_id=self.group_id,
            traj_id=self.traj_id,
            step=self._step,
            state_key=seen_info["state_key"],
            reward=reward,
            invalid=invalid,
            context_keys=list(seen_info["context_keys"]) if "context_keys" in seen_info else None,
            prompt_keys=list(seen_info["prompt_keys"]) if "prompt_keys" in seen_info else None,
            extra=self._extra(action, terminated, truncated, info, payload),
        ).to_dict()
        self._step += 1
        self._seen = (observation, info)
        return rec


class StepRecorder(gym.Wrapper):
    """Emits one step record per ``step`` to a sink (in memory, ``.jsonl``, ``.jsonl.gz``, ``.parquet``).

    Put it outermost, over :class:`~wrappers.memory.MemoryWindow` (for ``context_keys`` and ``prompt``) and
    :class:`~wrappers.action_parser.ActionParser` (for ``invalid``). Records from here go straight into
    ``hgpo_algo.compute_advantages`` or ``hgpo advantages``.

    Args:
        env: the wrapped environment; it must provide ``info["state_key"]``.
        sink: a path, a list, a sink object, or None for in memory (``recorder.records``).
        group_id: the task group of the episodes recorded.
        traj_id: a fixed id, or ``traj_id(episode_index) -> id``; default ``f"{group_id}-{episode_index}"``.
        **recorder_options: ``include``, ``info_fields``, ``invalid_from`` of :class:`EpisodeRecorder`.
    """

    def __init__(
        self,
        env: gym.Env,
        sink: str | Path | RecordSink | list | None = None,
        *,
        group_id: str | int = 0,
        traj_id: str | int | Callable[[int], str | int] | None = None,
        **recorder_options: Any,
    ) -> None:
        super().__init__(env)
        self.sink = open_sink(sink)
        self.group_id = group_id
        self._traj_id = traj_id
        self._options = recorder_options
        self._episodes = 0
        self._recorder: EpisodeRecorder | None = None
        EpisodeRecorder(group_id, 0, **recorder_options)  # validate options now, not at the first step

    @property
    def records(self) -> list[dict[str, Any]]:
        """Records kept in memory (only for an in-memory sink)."""
        if not hasattr(self.sink, "records"):
            raise AttributeError("this StepRecorder writes to a file; read the file for its records")
        return self.sink.records  # type: ignore[attr-defined]

    def _next_traj_id(self) -> str | int:
        k = self._episodes
        if self._traj_id is None:
            return f"{self.group_id}-{k}"
        if callable(self._traj_id):
            return self._traj_id(k)
        if k > 0:
            raise ValueError(
                f"StepRecorder got a fixed traj_id={self._traj_id!r} but is recording a second episode; "
                "pass traj_id=None or a callable"
            )
        return self._traj_id

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        observation, info = self.env.reset(**kwargs)
        self._recorder = EpisodeRecorder(self.group_id, self._next_traj_id(), **self._options)
        self._episodes += 1
        self._recorder.begin(observation, info)
        return observation, info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        """Step with an action or a :class:`~wrappers.decision.Decision` (its payload goes on the record)."""
        if self._recorder is None:
            raise gym.error.ResetNeeded("StepRecorder.step before reset")
        action, payload = split_decision(action)
        observation, reward, terminated, truncated, info = self.env.step(action)
        self.sink.write(self._recorder.record(action, observation, reward, terminated, truncated, info, payload))
        return observation, reward, terminated, truncated, info

    def close(self) -> None:
        self.sink.close()
        super().close()
