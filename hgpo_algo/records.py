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

Optional: ``invalid`` (bool, default false: the policy output could not be parsed into an action) and
``context_keys`` (state keys of the previous steps in the memory window, oldest first; checked against
the trajectory when present). Any other field is carried through untouched.

:func:`load_batch` accepts a sequence of mappings or objects (e.g. :class:`StepRecord`), a mapping of
columns, a pandas DataFrame or a pyarrow Table, validates it, and returns a :class:`TrajectoryBatch` whose
columns are sorted by trajectory then step. Validation is vectorised; only building an error message
looks at single records.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter, methodcaller
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

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
OPTIONAL_FIELDS: tuple[str, ...] = ("invalid", "context_keys")
_FIELDS = REQUIRED_FIELDS + OPTIONAL_FIELDS



@dataclass
class StepRecord:
    """One agent step, as producers (wrappers, trainers) emit it.

    ``extra`` holds any further fields (observation, action, prompt, ...); :meth:`to_dict` flattens it.
    """

    group_id: str | int
    traj_id: str | int
    step: int
    state_key: str
    reward: float
    invalid: bool = False
    context_keys: list[str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

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
        for name, value in self.extra.items():
            if name in out:
                raise ValueError(f"StepRecord.extra field {name!r} clashes with a schema field")
            out[name] = value
        return out


class StepRecordError(ValueError):
    """A step record breaks the schema. ``index`` is the 0-based position of the record in the input."""

    def __init__(self, message: str, *, index: int | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.index = index
        self.field = field


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
        key: int64 codes of ``state_key`` in ``[0, n_keys)`` (equal keys, equal codes, batch-wide).
        reward: float64 rewards, all finite.
        invalid: bool invalid-action flags.
        traj_start: int64 ``(n_trajectories,)`` canonical row of each trajectory's step 0.
        traj_length: int64 ``(n_trajectories,)`` number of steps of each trajectory.
        context_length: int64 ``(n,)`` length of each record's ``context_keys`` (-1 where absent).
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
    n_keys: int
    context_length: np.ndarray | None = None

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
# Column extraction


def _is_pandas_frame(obj: Any) -> bool:
    return type(obj).__module__.startswith("pandas") and hasattr(obj, "columns")


def _columns(records: Any) -> tuple[dict[str, pa.Array | None], int, Any]:
    """Schema columns as Arrow arrays (None when a column is absent), the row count, and the rows source."""
    if isinstance(records, pa.RecordBatch):
        records = pa.Table.from_batches([records])
    if _is_pandas_frame(records):
        records = pa.Table.from_pandas(records, preserve_index=False)
    if isinstance(records, pa.Table):
        cols = {
            name: (records.column(name).combine_chunks() if name in records.column_names else None)
            for name in _FIELDS
        }
        return cols, records.num_rows, records
    if isinstance(records, Mapping):
        lengths = {len(v) for v in records.values()}
        if len(lengths) > 1:
            raise StepRecordError(f"columns have different lengths: {sorted(lengths)}")
        n = lengths.pop() if lengths else 0
        cols = {name: (_to_arrow(records[name], name) if name in records else None) for name in _FIELDS}
        return cols, n, records
    if isinstance(records, (str, bytes)) or not isinstance(records, Sequence):
        raise TypeError(
            "records must be a sequence of step records (dicts or objects), a mapping of columns, "
            f"a pandas DataFrame or a pyarrow Table, not {type(records).__name__}"
        )
    rows = records
    if set(map(type, rows)) - {dict}:  # objects or other mappings: normalise to dicts (rarely hot)
        rows = [_as_mapping(r, i) for i, r in enumerate(rows)]
    cols = {}
    for name in _FIELDS:
        try:
            values = list(map(itemgetter(name), rows))
        except KeyError:
            if not any(map(methodcaller("__contains__", name), rows)):
                cols[name] = None
                continue
            values = [r.get(name) for r in rows]
        arr = _to_arrow(values, name)
        cols[name] = None if arr.null_count == len(arr) and len(arr) else arr
    return cols, len(rows), rows


def _as_mapping(record: Any, index: int) -> Mapping[str, Any]:
    if isinstance(record, Mapping):
        return record
    if dataclasses.is_dataclass(record) and not isinstance(record, type):
        return record.to_dict() if hasattr(record, "to_dict") else dataclasses.asdict(record)
    if isinstance(record, (str, bytes, int, float, list, tuple)) or record is None:
        raise StepRecordError(f"record {index}: not a mapping ({type(record).__name__})", index=index)
    return {name: getattr(record, name) for name in _FIELDS if hasattr(record, name)}


def _to_arrow(values: Any, name: str) -> pa.Array:
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    try:
        return pa.array(values if not isinstance(values, np.ndarray) or values.dtype != object else list(values))
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError) as exc:
        kinds = sorted({type(v).__name__ for v in values})
        raise StepRecordError(
            f"field {name!r} mixes value types ({', '.join(kinds)}): {exc}", field=name
        ) from None


# --------------------------------------------------------------------------------------------------
# Validation


class _Describer:
    """Names a record in error messages: its input index and, when readable, traj_id and step."""

    def __init__(self, cols: dict[str, pa.Array | None]) -> None:
        self._cols = cols

    def __call__(self, i: int) -> str:
        parts = []
        for name in ("traj_id", "step"):
            col = self._cols.get(name)
            if col is not None and i < len(col) and col[i].is_valid:
                parts.append(f"{name}={col[i].as_py()!r}")
        return f"record {i}" + (f" ({', '.join(parts)})" if parts else "")


def _require_present(col: pa.Array | None, name: str, n: int, describe: _Describer) -> pa.Array:
    if col is None:
        if n == 0:
            return pa.array([], type=pa.null())
        raise StepRecordError(f"{describe(0)}: missing field {name!r}", index=0, field=name)
    if col.null_count:
        i = int(np.flatnonzero(np.asarray(col.is_null()))[0])
        raise StepRecordError(f"{describe(i)}: missing field {name!r}", index=i, field=name)
    return col


def _first_bad(col: pa.Array, ok: Any) -> int:
    for i, v in enumerate(col.to_pylist()):
        if not ok(v):
            return i
    return 0


def _factorize(col: pa.Array, name: str, describe: _Describer) -> tuple[np.ndarray, pa.Array]:
    """Dense int64 codes (first-appearance order) and the distinct values of an id column."""
    t = col.type
    if not (pa.types.is_integer(t) or pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_null(t)):
        i = _first_bad(col, lambda v: isinstance(v, (str, int)) and not isinstance(v, bool))
        raise StepRecordError(
            f"{describe(i)}: field {name!r} must be a string or an integer, got {col[i].as_py()!r}",
            index=i,
            field=name,
        )
    encoded = col.dictionary_encode()
    return np.asarray(encoded.indices, dtype=np.int64), encoded.dictionary


def _numeric(col: pa.Array, name: str, describe: _Describer, *, integral: bool) -> np.ndarray:
    t = col.type
    ok_type = pa.types.is_integer(t) or (not integral and pa.types.is_floating(t))
    if integral and pa.types.is_floating(t):
        values = np.asarray(col, dtype=np.float64)
        bad = ~np.isfinite(values) | (values != np.round(values))
        if not bad.any():
            return values.astype(np.int64)
        i = int(np.flatnonzero(bad)[0])
        raise StepRecordError(
            f"{describe(i)}: field {name!r} must be an integer, got {values[i]!r}", index=i, field=name
        )
    if not ok_type and not pa.types.is_null(t):
        want = "an integer" if integral else "a number"
        i = _first_bad(
            col,
            lambda v: isinstance(v, int if integral else (int, float)) and not isinstance(v, bool),
        )
        raise StepRecordError(
            f"{describe(i)}: field {name!r} must be {want}, got {col[i].as_py()!r}", index=i, field=name
        )
    return np.asarray(col, dtype=np.int64 if integral else np.float64)


def _flags(col: pa.Array | None, n: int, name: str, describe: _Describer) -> np.ndarray:
    if col is None or pa.types.is_null(col.type):
        return np.zeros(n, dtype=bool)
    col = col.fill_null(False) if pa.types.is_boolean(col.type) else col
    t = col.type
    if pa.types.is_boolean(t):
        return np.asarray(col, dtype=bool)
    if pa.types.is_integer(t):
        values = np.asarray(col.fill_null(0), dtype=np.int64)
        if np.isin(values, (0, 1)).all():
            return values.astype(bool)
        i = int(np.flatnonzero(~np.isin(values, (0, 1)))[0])
    else:
        i = _first_bad(col, lambda v: v is None or isinstance(v, bool))
    raise StepRecordError(
        f"{describe(i)}: field {name!r} must be a boolean, got {col[i].as_py()!r}", index=i, field=name
    )


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
    cols, n, _ = _columns(records)
    describe = _Describer(cols)
    present = {name: _require_present(cols[name], name, n, describe) for name in REQUIRED_FIELDS}

    group, _ = _factorize(present["group_id"], "group_id", describe)
    traj, _ = _factorize(present["traj_id"], "traj_id", describe)
    key_col = present["state_key"]
    key, key_values = _factorize(key_col, "state_key", describe)
    step = _numeric(present["step"], "step", describe, integral=True)
    reward = _numeric(present["reward"], "reward", describe, integral=False)
    invalid = _flags(cols["invalid"], n, "invalid", describe)

    bad = ~np.isfinite(reward)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise StepRecordError(f"{describe(i)}: field 'reward' is not finite ({reward[i]!r})", index=i, field="reward")
    if (step < 0).any():
        i = int(np.flatnonzero(step < 0)[0])
        raise StepRecordError(f"{describe(i)}: field 'step' is negative ({step[i]})", index=i, field="step")

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
        n_keys=len(key_values),
        context_length=context_length,
    )


def _check_context_keys(
    ck: pa.Array,
    key_col: pa.Array,
    key_values: pa.Array,
    order: np.ndarray,
    s_key: np.ndarray,
    s_step: np.ndarray,
    describe: _Describer,
) -> np.ndarray | None:
    """``context_keys`` of the record at step t must equal the last ``len(context_keys)`` keys before t.

    Returns the context length of each canonical row (-1 where absent), or None when no record has any.
    """
    if pa.types.is_null(ck.type):
        return None
    if not (pa.types.is_list(ck.type) or pa.types.is_large_list(ck.type)):
        i = _first_bad(ck, lambda v: v is None or isinstance(v, (list, tuple)))
        raise StepRecordError(
            f"{describe(i)}: field 'context_keys' must be a list of state keys", index=i, field="context_keys"
        )
    ck = ck.take(pa.array(order))  # canonical order
    present = ~np.asarray(ck.is_null())
    lengths = np.asarray(ck.value_lengths().fill_null(0), dtype=np.int64)
    too_long = present & (lengths > s_step)
    if too_long.any():
        row = int(np.flatnonzero(too_long)[0])
        raise StepRecordError(
            f"{describe(int(order[row]))}: field 'context_keys' has {lengths[row]} keys but the step has only "
            f"{s_step[row]} predecessors",
            index=int(order[row]),
            field="context_keys",
        )
    context_length = np.where(present, lengths, -1)
    flat = ck.flatten()
    if len(flat) == 0:
        return context_length
    if flat.type != key_values.type:
        try:
            flat = flat.cast(key_values.type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise StepRecordError(
                f"field 'context_keys' holds {flat.type} values but 'state_key' is {key_col.type}",
                field="context_keys",
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

