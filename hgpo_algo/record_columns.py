"""The schema's columns, extracted from any accepted input and checked value by value where it fails.

:func:`schema_columns` turns records (rows, a mapping of columns, a DataFrame, an Arrow table) into one
Arrow array per schema field. The fast path is vectorised; only when a column has the wrong type is it
scanned in Python, to name the first record that breaks the rule:

========== =====================================================================================
field      accepted values
========== =====================================================================================
group_id   a string (valid Unicode) or an integer in int64 range; one type for the whole field
traj_id    as ``group_id``
state_key  as ``group_id``
step       an integer in ``[0, 2**63)`` (a float with an integral value is accepted)
reward     a number (int or float, never a bool: ``true`` is not a reward), finite
invalid    a bool (or the integers 0 and 1)
context_keys  a list of state keys
prompt_keys   a list of keys (strings or integers), one per history item the step's prompt showed
========== =====================================================================================
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Callable, Mapping, Sequence
from operator import itemgetter, methodcaller
from typing import Any

import numpy as np
import pyarrow as pa

__all__ = ["FIELDS", "Describer", "StepRecordError", "check_value", "schema_columns", "short"]

FIELDS: tuple[str, ...] = (
    "group_id", "traj_id", "step", "state_key", "reward", "invalid", "context_keys", "prompt_keys",
)
_KEY_LISTS = ("context_keys", "prompt_keys")
_INT64 = 2**63


class StepRecordError(ValueError):
    """A step record breaks the schema. ``index`` is the 0-based position of the record in the input."""

    def __init__(self, message: str, *, index: int | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.index = index
        self.field = field


def short(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, for messages."""
    try:
        text = repr(value)
    except (ValueError, RecursionError):  # an int too long to print, a structure too deep
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_bool(v: Any) -> bool:
    return isinstance(v, (bool, np.bool_))


def _is_int(v: Any) -> bool:
    return isinstance(v, numbers.Integral) and not _is_bool(v)


def _is_text(v: Any) -> bool:
    if not isinstance(v, str):
        return False
    try:
        v.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _ok_id(v: Any) -> bool:
    return _is_text(v) or (_is_int(v) and -_INT64 <= v < _INT64)


def _ok_step(v: Any) -> bool:
    if _is_int(v):
        return 0 <= v < _INT64
    return isinstance(v, numbers.Real) and not _is_bool(v) and float(v).is_integer() and 0 <= v < _INT64


def _ok_reward(v: Any) -> bool:
    if _is_bool(v) or not isinstance(v, numbers.Real):
        return False
    try:
        float(v)
    except OverflowError:
        return False
    return True


def _ok_flag(v: Any) -> bool:
    return v is None or _is_bool(v) or (_is_int(v) and v in (0, 1))


def _ok_context(v: Any) -> bool:
    return v is None or (isinstance(v, (list, tuple)) and all(map(_ok_id, v)))


_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "group_id": (_ok_id, "a string or an integer (int64)"),
    "traj_id": (_ok_id, "a string or an integer (int64)"),
    "state_key": (_ok_id, "a string or an integer (int64)"),
    "step": (_ok_step, "an integer in [0, 2**63)"),
    "reward": (_ok_reward, "a number"),
    "invalid": (_ok_flag, "a boolean"),
    "context_keys": (_ok_context, "a list of state keys (strings or integers)"),
    "prompt_keys": (_ok_context, "a list of keys (strings or integers)"),
}


def _why(name: str, v: Any) -> str:
    want = _RULES[name][1]
    if isinstance(v, str) and not _is_text(v):
        return f"field {name!r} is not valid Unicode (a lone surrogate in {short(v)})"
    return f"field {name!r} must be {want}, got {short(v)}"


def check_value(name: str, value: Any) -> str | None:
    """Why ``value`` cannot be schema field ``name`` (a message), or None when it can."""
    if name not in _RULES or _RULES[name][0](value) or (value is None and name in ("invalid", *_KEY_LISTS)):
        return None
    return _why(name, value)


class Describer:
    """Names a record in error messages: its input index and, when readable, traj_id and step."""

    def __init__(self, lookup: Callable[[int, str], Any]) -> None:
        self._lookup = lookup

    def __call__(self, i: int) -> str:
        parts = []
        for name in ("traj_id", "step"):
            try:
                value = self._lookup(i, name)
            except (IndexError, KeyError, TypeError, AttributeError, ValueError):
                continue
            if isinstance(value, np.generic):  # np.str_('t0') reads as 't0'
                value = value.item()
            if value is not None:
                parts.append(f"{name}={short(value, 40)}")
        return f"record {i}" + (f" ({', '.join(parts)})" if parts else "")

    def fail(self, i: int, name: str, message: str) -> StepRecordError:
        return StepRecordError(f"{self(i)}: {message}", index=i, field=name)


def _first_bad_value(values: Sequence[Any], name: str) -> int | None:
    ok = _RULES[name][0]
    for i, v in enumerate(values):
        if v is not None and not ok(v):
            return i
    return None


def _kind(v: Any) -> str:
    return "a string" if isinstance(v, str) else "an integer"


def _mixed_ids(values: Sequence[Any], name: str, describe: Describer) -> StepRecordError | None:
    first = next(((i, v) for i, v in enumerate(values) if v is not None), None)
    if first is None:
        return None
    for i, v in enumerate(values):
        if v is not None and _kind(v) != _kind(first[1]):
            return describe.fail(i, name, f"field {name!r} is {_kind(v)} here but {_kind(first[1])} in "
                                          f"record {first[0]} (one field, one type)")
    return None


def _mixed_context(values: Sequence[Any], name: str, describe: Describer) -> StepRecordError | None:
    first: tuple[int, Any] | None = None
    for i, keys in enumerate(values):
        for k in keys or ():
            if first is None:
                first = (i, k)
            elif _kind(k) != _kind(first[1]):
                return describe.fail(i, name, f"field {name!r} holds {_kind(k)} here but "
                                              f"{_kind(first[1])} in record {first[0]} (one type of key)")
    return None


def _values_to_arrow(values: Sequence[Any], name: str, describe: Describer) -> pa.Array:
    """Python values of schema field ``name`` as an Arrow array; the first bad value is named."""
    if isinstance(values, np.ndarray):
        if values.dtype != object and not (values.dtype.kind == "b" and name in ("reward", "step")):
            try:
                return pa.array(values)
            except (pa.ArrowException, TypeError, ValueError, OverflowError):
                pass
        values = values.tolist()
    # bools pass for numbers in Arrow's inference ([1.5, True] is a float column): look for them first
    suspicious = name in ("reward", "step") and any(issubclass(k, (bool, np.bool_)) for k in set(map(type, values)))
    if not suspicious:
        try:
            return pa.array(values)
        except (pa.ArrowException, TypeError, ValueError, OverflowError, RecursionError):
            pass
    kinds = set(map(type, values))
    i = _first_bad_value(values, name)
    if i is not None:
        raise describe.fail(i, name, _why(name, values[i]))
    if name in ("reward", "step"):  # valid numbers Arrow would not mix (2**53 + 1 beside floats): the schema type
        cast = float if name == "reward" else int
        return pa.array([None if v is None else cast(v) for v in values], pa.float64() if cast is float else pa.int64())
    if name in ("group_id", "traj_id", "state_key"):
        mixed = _mixed_ids(values, name, describe)
        if mixed is not None:
            raise mixed
    if name in _KEY_LISTS:
        mixed = _mixed_context(values, name, describe)
        if mixed is not None:
            raise mixed
    raise StepRecordError(f"field {name!r} mixes value types ({', '.join(sorted(k.__name__ for k in kinds))})",
                          field=name)


def _is_pandas_frame(obj: Any) -> bool:
    return type(obj).__module__.startswith("pandas") and hasattr(obj, "columns")


def _plain_column(col: pa.ChunkedArray | pa.Array) -> pa.Array:
    """One contiguous array; dictionary-encoded columns (pandas ``category``) decoded, views cast."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    if pa.types.is_dictionary(col.type):
        col = col.dictionary_decode()
    if pa.types.is_string_view(col.type) or pa.types.is_large_string(col.type):
        col = col.cast(pa.string())
    return col


def _as_mapping(record: Any, index: int) -> Mapping[str, Any]:
    if isinstance(record, Mapping):
        return record
    if dataclasses.is_dataclass(record) and not isinstance(record, type):
        return record.to_dict() if hasattr(record, "to_dict") else dataclasses.asdict(record)
    if isinstance(record, (str, bytes, int, float, list, tuple)) or record is None:
        raise StepRecordError(f"record {index}: not a mapping ({type(record).__name__})", index=index)
    return {name: getattr(record, name) for name in FIELDS if hasattr(record, name)}


def _table_columns(table: pa.Table) -> tuple[dict[str, pa.Array | None], int, Describer]:
    for name in FIELDS:
        if len(table.schema.get_all_field_indices(name)) > 1:
            raise StepRecordError(f"field {name!r} is a column twice", field=name)
    cols = {name: (_plain_column(table.column(name)) if name in table.column_names else None) for name in FIELDS}

    def lookup(i: int, name: str) -> Any:
        col = cols[name]
        return col[i].as_py() if col is not None and i < len(col) else None

    return cols, table.num_rows, Describer(lookup)


def _mapping_columns(records: Mapping[str, Any]) -> tuple[dict[str, pa.Array | None], int, Describer]:
    lengths = {len(v) for v in records.values()}
    if len(lengths) > 1:
        raise StepRecordError(f"columns have different lengths: {sorted(lengths)}")
    n = lengths.pop() if lengths else 0

    def lookup(i: int, name: str) -> Any:
        value = records[name][i]
        return value.as_py() if isinstance(value, pa.Scalar) else value

    describe = Describer(lookup)
    cols: dict[str, pa.Array | None] = {}
    for name in FIELDS:
        values = records.get(name)
        if values is None:
            cols[name] = None
        elif isinstance(values, (pa.Array, pa.ChunkedArray)):
            cols[name] = _plain_column(values)
        else:
            cols[name] = _values_to_arrow(values, name, describe)
    return cols, n, describe


def _row_columns(rows: Sequence[Any]) -> tuple[dict[str, pa.Array | None], int, Describer]:
    if set(map(type, rows)) - {dict}:  # objects or other mappings: normalise to dicts (rarely hot)
        rows = [_as_mapping(r, i) for i, r in enumerate(rows)]
    describe = Describer(lambda i, name: rows[i].get(name))
    cols: dict[str, pa.Array | None] = {}
    for name in FIELDS:
        try:
            values = list(map(itemgetter(name), rows))
        except KeyError:
            if not any(map(methodcaller("__contains__", name), rows)):
                cols[name] = None
                continue
            values = [r.get(name) for r in rows]
        arr = _values_to_arrow(values, name, describe)
        cols[name] = None if arr.null_count == len(arr) and len(arr) else arr
    return cols, len(rows), describe


def schema_columns(records: Any) -> tuple[dict[str, pa.Array | None], int, Describer]:
    """Schema columns as Arrow arrays (None when absent), the row count, and a namer of records."""
    if isinstance(records, pa.RecordBatch):
        records = pa.Table.from_batches([records])
    if _is_pandas_frame(records):
        records = pa.Table.from_pandas(records, preserve_index=False)
    if isinstance(records, pa.Table):
        return _table_columns(records)
    if isinstance(records, Mapping):
        return _mapping_columns(records)
    if isinstance(records, (str, bytes)) or not isinstance(records, Sequence):
        raise TypeError(
            "records must be a sequence of step records (dicts or objects), a mapping of columns, "
            f"a pandas DataFrame or a pyarrow Table, not {type(records).__name__}"
        )
    return _row_columns(records)
