"""Step records: the schema every estimator consumes, and their validation.

A step record is plain data describing one policy call of one rollout. Required fields:

========== ============ ==============================================================
field      type         meaning
========== ============ ==============================================================
group_id   str or int   the task group: rollouts of one task from the same initial state
traj_id    str or int   one rollout; unique across the batch
step       int          0-based position of the step in its trajectory
state_key  str or int   canonical key of what the agent observed before acting
reward     float        environment reward received after this step's action
========== ============ ==============================================================

Optional: ``invalid`` (bool, default false: the policy output could not be parsed into an action),
``context_keys`` (state keys of the previous steps in the memory window, oldest first; checked against
the trajectory when present) and ``prompt_keys`` (one key per history item the step's prompt showed,
oldest first, computed from exactly the shown text: what HGPO's ``context="prompt"`` groups by; at most
``step`` of them). Any other field is carried through untouched.

:func:`load_batch` accepts a sequence of mappings or objects (e.g. :class:`StepRecord`), a mapping of
columns, a pandas DataFrame or a pyarrow Table, validates it, and returns a :class:`TrajectoryBatch` whose
columns are sorted by trajectory then step. Validation is vectorised; only building an error message
looks at single records.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hgpo_algo.record_columns import Describer, StepRecordError, check_value, schema_columns
from hgpo_algo.state_keys import STATE_KEY_BYTES, text_state_key

__all__ = [
    "OPTIONAL_FIELDS",
    "REQUIRED_FIELDS",
    "STATE_KEY_BYTES",
    "StepRecord",
    "StepRecordError",
    "TrajectoryBatch",
    "load_batch",
    "text_state_key",
]

REQUIRED_FIELDS: tuple[str, ...] = ("group_id", "traj_id", "step", "state_key", "reward")
OPTIONAL_FIELDS: tuple[str, ...] = ("invalid", "context_keys", "prompt_keys")
_INT64 = 2**63


def _plain_id(value: Any) -> bool:
    """An id or key the schema takes as is: an ASCII ``str`` or an ``int`` in int64 range (exact types)."""
    kind = type(value)
    return (kind is str and value.isascii()) or (kind is int and -_INT64 <= value < _INT64)


def _plain_keys(keys: Any) -> bool:
    """No key list, or a ``list`` of plain keys (see :func:`_plain_id`)."""
    return keys is None or (type(keys) is list and all(map(_plain_id, keys)))


@dataclass
class StepRecord:
    """One agent step, as producers (wrappers, trainers) emit it.

    ``extra`` holds any further fields (observation, action, prompt, ...); :meth:`to_dict` flattens it.
    The schema fields are checked on construction (NumPy scalars become plain ``int`` / ``float`` /
    ``bool``); a bad one raises :class:`StepRecordError` naming it. Whether the records of a batch agree
    (steps without gaps, one group per trajectory, context keys) is :func:`load_batch`'s job.
    """

    group_id: str | int
    traj_id: str | int
    step: int
    state_key: str
    reward: float
    invalid: bool = False
    context_keys: list[str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    prompt_keys: list[str] | None = None

    def __post_init__(self) -> None:
        if self._plain():
            # the schema's exact types already (what the wrappers' recorder passes every step): nothing to
            # check or convert, but the key lists are still copied (a record never shares its caller's lists)
            if self.context_keys is not None:
                self.context_keys = list(self.context_keys)
            if self.prompt_keys is not None:
                self.prompt_keys = list(self.prompt_keys)
            return
        self._check_and_convert()

    def _plain(self) -> bool:
        """Every field already has a type and value that :meth:`_check_and_convert` accepts and leaves as is:
        ids and keys ``str`` (ASCII, so valid Unicode) or ``int`` in int64 range, ``step`` an ``int`` in
        ``[0, 2**63)``, ``reward`` a finite ``float``, ``invalid`` a ``bool``, key lists ``None`` or ``list``,
        ``extra`` a ``dict`` with ``str`` keys. Exact types only: subclasses and NumPy scalars take the full path."""
        return (
            _plain_id(self.group_id)
            and _plain_id(self.traj_id)
            and _plain_id(self.state_key)
            and type(self.step) is int
            and 0 <= self.step < _INT64
            and type(self.reward) is float
            and math.isfinite(self.reward)
            and type(self.invalid) is bool
            and _plain_keys(self.context_keys)
            and _plain_keys(self.prompt_keys)
            and type(self.extra) is dict
            and all(map(isinstance, self.extra, repeat(str)))
        )

    def _check_and_convert(self) -> None:
        """Check every field (a bad one raises :class:`StepRecordError` naming it) and make it plain."""
        for name in ("group_id", "traj_id", "step", "state_key", "reward", "invalid", "context_keys", "prompt_keys"):
            why = check_value(name, getattr(self, name))
            if why is not None or (name == "invalid" and self.invalid is None):
                why = why or "field 'invalid' must be a boolean, got None"
                raise StepRecordError(f"StepRecord: {why}", field=name)
        for name in ("group_id", "traj_id", "state_key"):
            value = getattr(self, name)
            if not isinstance(value, str) and type(value) is not int:
                setattr(self, name, int(value))
        self.step = int(self.step)
        self.reward = float(self.reward)
        if not math.isfinite(self.reward):
            raise StepRecordError(f"StepRecord: field 'reward' is not finite ({self.reward!r})", field="reward")
        self.invalid = bool(self.invalid)
        if self.context_keys is not None:
            self.context_keys = [k if isinstance(k, str) else int(k) for k in self.context_keys]
        if self.prompt_keys is not None:
            self.prompt_keys = [k if isinstance(k, str) else int(k) for k in self.prompt_keys]
        if not isinstance(self.extra, dict) or not all(isinstance(k, str) for k in self.extra):
            raise StepRecordError("StepRecord: extra must be a dict with string keys", field="extra")

    def to_dict(self) -> dict[str, Any]:
        """The record as one flat mapping (schema fields first, then ``extra``)."""
        out: dict[str, Any] = {
            "group_id": self.group_id,
            "traj_id": self.traj_id,
            "step": self.step,
            "state_key": self.state_key,
            "reward": self.reward,
            "invalid": self.invalid,
        }
        if self.context_keys is not None:
            out["context_keys"] = list(self.context_keys)
        if self.prompt_keys is not None:
            out["prompt_keys"] = list(self.prompt_keys)
        for name, value in self.extra.items():
            if name in out:
                raise ValueError(f"StepRecord.extra field {name!r} clashes with a schema field")
            out[name] = value
        return out


@dataclass(frozen=True)
class TrajectoryBatch:
    """Validated step records in canonical order: sorted by trajectory, then by step.

    All per-row arrays have shape ``(n,)`` and follow canonical order; ``order[i]`` is the input position
    of canonical row ``i``. Identifiers are dense integer codes.

    Attributes:
        order: int64, input index of each canonical row.
        group: int64 codes of ``group_id`` in ``[0, n_groups)``.
        traj: int64 codes of ``traj_id`` in ``[0, n_trajectories)``, non-decreasing.
        step: int64 step numbers; within a trajectory exactly ``0, 1, ..., length - 1``.
        key: int64 dense codes of ``state_key`` (equal keys, equal codes, batch-wide).
        reward: float64 rewards, all finite.
        invalid: bool invalid-action flags.
        traj_start: int64 ``(n_trajectories,)`` canonical row of each trajectory's step 0.
        traj_length: int64 ``(n_trajectories,)`` number of steps of each trajectory.
        context_length: int64 ``(n,)`` length of each record's ``context_keys`` (-1 where absent).
        prompt_offsets, prompt_items: the records' ``prompt_keys`` (None when no record has them):
            row ``i`` showed the items ``prompt_items[prompt_offsets[i]:prompt_offsets[i + 1]]``, oldest
            first, as dense int64 codes (equal keys, equal codes); ``prompt_offsets`` is ``(n + 1,)``.
    """

    order: np.ndarray
    group: np.ndarray
    traj: np.ndarray
    step: np.ndarray
    key: np.ndarray
    reward: np.ndarray
    invalid: np.ndarray
    traj_start: np.ndarray
    traj_length: np.ndarray
    n_groups: int
    context_length: np.ndarray | None = None
    prompt_offsets: np.ndarray | None = None
    prompt_items: np.ndarray | None = None

    @property
    def n(self) -> int:
        return int(self.order.shape[0])

    @property
    def n_trajectories(self) -> int:
        return int(self.traj_start.shape[0])

    def to_input_order(self, canonical: np.ndarray) -> np.ndarray:
        """Scatter a canonical-order array ``(n, ...)`` back to input order."""
        out = np.empty_like(canonical)
        out[self.order] = canonical
        return out


# --------------------------------------------------------------------------------------------------
# Validation of the columns


def _require_present(col: pa.Array | None, name: str, n: int, describe: Describer) -> pa.Array:
    if col is None:
        if n == 0:
            return pa.array([], type=pa.null())
        raise describe.fail(0, name, f"missing field {name!r}")
    if col.null_count:
        i = int(np.flatnonzero(np.asarray(col.is_null()))[0])
        raise describe.fail(i, name, f"missing field {name!r}")
    return col


def _first_bad(col: pa.Array, name: str) -> int:
    for i, v in enumerate(col.to_pylist()):
        if check_value(name, v) is not None:
            return i
    return 0


def _wrong_type(col: pa.Array, name: str, describe: Describer) -> StepRecordError:
    i = _first_bad(col, name)
    value = col[i].as_py()
    return describe.fail(i, name, check_value(name, value) or f"field {name!r} has Arrow type {col.type}")


def _factorize(col: pa.Array, name: str, describe: Describer) -> tuple[np.ndarray, pa.Array]:
    """Dense int64 codes (first-appearance order) and the distinct values of an id column."""
    t = col.type
    if not (pa.types.is_integer(t) or pa.types.is_string(t) or pa.types.is_null(t)):
        raise _wrong_type(col, name, describe)
    if pa.types.is_unsigned_integer(t) and len(col) and pc.max(col).as_py() >= 2**63:
        i = int(np.argmax(np.asarray(col)))
        raise describe.fail(i, name, check_value(name, col[i].as_py()) or f"field {name!r} is too large")
    encoded = col.dictionary_encode()
    return np.asarray(encoded.indices, dtype=np.int64), encoded.dictionary


def _steps(col: pa.Array, describe: Describer) -> np.ndarray:
    """``step`` as int64: integers, or floats with integral values, in ``[0, 2**63)``."""
    t = col.type
    if pa.types.is_floating(t):
        values = np.asarray(col, dtype=np.float64)
        bad = ~np.isfinite(values) | (values != np.round(values)) | (values < 0) | (values >= 2.0**63)
    elif pa.types.is_integer(t):
        values = np.asarray(col)
        bad = (values < 0) if pa.types.is_signed_integer(t) else (values >= 2**63)
    elif pa.types.is_null(t):
        return np.zeros(0, dtype=np.int64)
    else:
        raise _wrong_type(col, "step", describe)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise describe.fail(i, "step", f"field 'step' must be an integer in [0, 2**63), got {col[i].as_py()!r}")
    return values.astype(np.int64)


def _rewards(col: pa.Array, describe: Describer) -> np.ndarray:
    """``reward`` as float64: integer or floating columns only (a bool column is not a reward)."""
    t = col.type
    if not (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_null(t)):
        raise _wrong_type(col, "reward", describe)
    reward = np.asarray(col, dtype=np.float64)
    bad = ~np.isfinite(reward)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise describe.fail(i, "reward", f"field 'reward' is not finite ({float(reward[i])!r})")
    return reward


def _flags(col: pa.Array | None, n: int, name: str, describe: Describer) -> np.ndarray:
    if col is None or pa.types.is_null(col.type):
        return np.zeros(n, dtype=bool)
    col = col.fill_null(False) if pa.types.is_boolean(col.type) else col
    t = col.type
    if pa.types.is_boolean(t):
        return np.asarray(col, dtype=bool)
    if pa.types.is_integer(t):
        values = np.asarray(col.fill_null(0))
        if np.isin(values, (0, 1)).all():
            return values.astype(bool)
        i = int(np.flatnonzero(~np.isin(values, (0, 1)))[0])
        raise describe.fail(i, name, f"field {name!r} must be a boolean, got {col[i].as_py()!r}")
    raise _wrong_type(col, name, describe)


def load_batch(records: Any) -> TrajectoryBatch:
    """Validate step records and lay them out in canonical (trajectory, step) order.

    Args:
        records: a sequence of mappings or objects with the schema's fields, a mapping of equally long
            columns, a pandas DataFrame or a pyarrow Table / RecordBatch.

    Returns:
        The validated :class:`TrajectoryBatch`.

    Raises:
        StepRecordError: a missing field, a value of the wrong type, a non-finite reward, a duplicate
            ``(traj_id, step)``, a gap in a trajectory's steps, a trajectory in two groups, or
            ``context_keys`` that disagree with the trajectory. The message names the record and field.
    """
    cols, n, describe = schema_columns(records)
    present = {name: _require_present(cols[name], name, n, describe) for name in REQUIRED_FIELDS}

    group, _ = _factorize(present["group_id"], "group_id", describe)
    traj, _ = _factorize(present["traj_id"], "traj_id", describe)
    key_col = present["state_key"]
    key, key_values = _factorize(key_col, "state_key", describe)
    step = _steps(present["step"], describe)
    reward = _rewards(present["reward"], describe)
    invalid = _flags(cols["invalid"], n, "invalid", describe)

    if n and step.max() >= n:  # a step number no batch of n records can reach without a gap
        i = int(np.argmax(step))
        raise StepRecordError(
            f"{describe(i)}: gap in step numbering (step {step[i]} in a batch of {n} records)", index=i, field="step"
        )
    # one int64 sort key per row; distinct (traj, step) pairs give distinct keys, so the order is exact
    order = np.argsort(traj * (int(step.max()) + 1) + step) if n else np.zeros(0, dtype=np.int64)
    s_traj, s_step, s_group = traj[order], step[order], group[order]
    same_traj = s_traj[1:] == s_traj[:-1]

    dup = same_traj & (s_step[1:] == s_step[:-1])
    if dup.any():
        i = int(order[np.flatnonzero(dup)[0] + 1])
        raise StepRecordError(f"{describe(i)}: duplicate (traj_id, step)", index=i, field="step")

    starts = np.flatnonzero(np.r_[True, ~same_traj]) if n else np.zeros(0, dtype=np.int64)
    lengths = np.diff(np.r_[starts, n]).astype(np.int64)
    expected_step = np.arange(n, dtype=np.int64) - np.repeat(starts, lengths)
    gap = s_step != expected_step
    if gap.any():
        row = int(np.flatnonzero(gap)[0])
        i = int(order[row])
        raise StepRecordError(
            f"{describe(i)}: gap in step numbering (expected step {expected_step[row]}, got {s_step[row]})",
            index=i,
            field="step",
        )

    split = same_traj & (s_group[1:] != s_group[:-1])
    if split.any():
        i = int(order[np.flatnonzero(split)[0] + 1])
        raise StepRecordError(f"{describe(i)}: trajectory appears in two groups", index=i, field="group_id")

    s_key = key[order]
    context_length = None
    if cols["context_keys"] is not None:
        context_length = _check_context_keys(cols["context_keys"], key_col, key_values, order, s_key, s_step, describe)
    prompt_offsets = prompt_items = None
    if cols.get("prompt_keys") is not None:
        prompt_offsets, prompt_items = _prompt_keys(cols["prompt_keys"], order, s_step, describe)

    return TrajectoryBatch(
        order=order.astype(np.int64),
        group=s_group,
        traj=s_traj,
        step=s_step,
        key=s_key,
        reward=reward[order],
        invalid=invalid[order],
        traj_start=starts.astype(np.int64),
        traj_length=lengths,
        n_groups=int(group.max()) + 1 if n else 0,
        context_length=context_length,
        prompt_offsets=prompt_offsets,
        prompt_items=prompt_items,
    )


def _key_list_lengths(
    col: pa.Array, name: str, what: str, order: np.ndarray, s_step: np.ndarray, describe: Describer
) -> np.ndarray:
    """``(n,)`` lengths of a canonical-order list column; a step has at most ``step`` predecessors."""
    lengths = np.asarray(col.value_lengths().fill_null(0), dtype=np.int64)
    too_long = lengths > s_step
    if too_long.any():
        row = int(np.flatnonzero(too_long)[0])
        raise StepRecordError(
            f"{describe(int(order[row]))}: field {name!r} has {lengths[row]} {what} but the step has only "
            f"{s_step[row]} predecessors",
            index=int(order[row]),
            field=name,
        )
    return lengths


def _prompt_keys(
    pk: pa.Array, order: np.ndarray, s_step: np.ndarray, describe: Describer
) -> tuple[np.ndarray, np.ndarray] | tuple[None, None]:
    """Canonical-order offsets and dense codes of ``prompt_keys``; a record shows at most ``step`` items."""
    if pa.types.is_null(pk.type):
        return None, None
    if not (pa.types.is_list(pk.type) or pa.types.is_large_list(pk.type)):
        raise _wrong_type(pk, "prompt_keys", describe)
    pk = pk.take(pa.array(order))
    lengths = _key_list_lengths(pk, "prompt_keys", "items", order, s_step, describe)
    offsets = np.r_[0, np.cumsum(lengths)].astype(np.int64)
    flat = pk.flatten()
    if flat.null_count:
        row = int(np.searchsorted(offsets, int(np.flatnonzero(np.asarray(flat.is_null()))[0]), side="right") - 1)
        raise StepRecordError(f"{describe(int(order[row]))}: field 'prompt_keys' holds a null key",
                              index=int(order[row]), field="prompt_keys")
    items = np.asarray(pc.dictionary_encode(flat).indices, dtype=np.int64) if len(flat) else np.zeros(0, np.int64)
    return offsets, items


def _check_context_keys(
    ck: pa.Array,
    key_col: pa.Array,
    key_values: pa.Array,
    order: np.ndarray,
    s_key: np.ndarray,
    s_step: np.ndarray,
    describe: Describer,
) -> np.ndarray | None:
    """``context_keys`` of the record at step t must equal the last ``len(context_keys)`` keys before t.

    Returns the context length of each canonical row (-1 where absent), or None when no record has any.
    """
    if pa.types.is_null(ck.type):
        return None
    if not (pa.types.is_list(ck.type) or pa.types.is_large_list(ck.type)):
        raise _wrong_type(ck, "context_keys", describe)
    ck = ck.take(pa.array(order))  # canonical order
    present = ~np.asarray(ck.is_null())
    lengths = _key_list_lengths(ck, "context_keys", "keys", order, s_step, describe)
    context_length = np.where(present, lengths, -1)
    flat = ck.flatten()
    if len(flat) == 0:
        return context_length
    if flat.type != key_values.type:
        try:
            flat = flat.cast(key_values.type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            i = int(order[int(np.flatnonzero(lengths > 0)[0])])
            raise describe.fail(
                i, "context_keys", f"field 'context_keys' holds {flat.type} values but 'state_key' is {key_col.type}"
            ) from None
    # Codes of the context keys in the state-key dictionary; unseen keys get -1 (never equal a real key).
    flat_codes = np.asarray(pc.index_in(flat, value_set=key_values).fill_null(-1), dtype=np.int64)
    rows = np.repeat(np.arange(len(ck), dtype=np.int64), lengths)
    within = np.arange(len(flat), dtype=np.int64) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    expected = s_key[rows - lengths[rows] + within]
    wrong = flat_codes != expected
    if wrong.any():
        row = int(rows[np.flatnonzero(wrong)[0]])
        raise StepRecordError(
            f"{describe(int(order[row]))}: field 'context_keys' disagrees with the state keys of the "
            "trajectory's previous steps",
            index=int(order[row]),
            field="context_keys",
        )
    return context_length

