"""How a step record becomes a JSON line or a row of an Arrow table, and back, without losing a field.

Rules (the README's "Advantages over step records" states them for users):

* **NaN and infinities** are written as the tokens ``NaN``, ``Infinity`` and ``-Infinity`` (what Python's
  ``json`` reads and writes, so a JSONL -> JSONL or JSONL -> Parquet -> JSONL trip keeps them). Strict JSON
  parsers such as ``jq`` reject these tokens; rewards can never hold them (they are validated), only
  extra fields can.
* **Text that is not valid Unicode** (a lone surrogate such as ``"\\ud800"``) is written as its JSON escape
  on that one line, and stored as JSON text in Parquet (see below), so it survives too.
* **Values JSON has no type for**: NumPy scalars and arrays (anything with ``tolist()``) become numbers and
  lists; dates and times become ISO 8601 strings, ``Decimal`` a string, ``bytes`` a base64 string.
* **Parquet columns** are the union of the fields of every record, in order of first appearance; a record
  without a field gets null there. A field whose values share one Arrow type is stored with that type (a
  field mixing integers and floats becomes float64 when every integer is exactly a float64). Any other
  field, a **type clash** (``1`` in one record and ``"1"`` in another, ``true`` beside numbers, structs with
  different keys, ``{}``, integers beyond 64 bits, invalid Unicode; inside lists and objects also an
  integer beside a float), is stored as a string column of
  each value's JSON text, marked with the field metadata ``hgpo.encoding = json``; reading the file with
  :mod:`hgpo_algo.record_io` decodes it back to the original values.
"""

from __future__ import annotations

import base64
import datetime as _dt
import decimal
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pyarrow as pa

__all__ = ["JSON_ENCODING", "MAX_NESTING", "decode_table", "encode_line", "json_columns", "table_from_rows"]

JSON_ENCODING = {b"hgpo.encoding": b"json"}
"""Field metadata of a Parquet column that holds the JSON text of each value (a type clash)."""

MAX_NESTING = 100
"""Deepest nesting of lists and objects accepted in a record (deeper input is refused with a message)."""

_NONE = type(None)


def _plain(value: Any) -> Any:
    """``json.dumps``' fallback for values JSON has no type for (see module docstring)."""
    if hasattr(value, "tolist") and callable(value.tolist):
        return value.tolist()
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, _dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"a value of type {type(value).__name__} has no JSON form")


_UTF8 = json.JSONEncoder(ensure_ascii=False, allow_nan=True, default=_plain)
_ASCII = json.JSONEncoder(ensure_ascii=True, allow_nan=True, default=_plain)
_CANONICAL = json.JSONEncoder(ensure_ascii=True, allow_nan=True, default=_plain, sort_keys=True)


def _dumps(value: Any, *, ascii_only: bool = False) -> str:
    return (_ASCII if ascii_only else _UTF8).encode(value)


def _culprit(record: Mapping[str, Any]) -> tuple[str, BaseException] | None:
    for name, value in record.items():
        try:
            _dumps(value, ascii_only=True)
        except (TypeError, ValueError, RecursionError) as exc:
            return name, exc
    return None


def encode_line(record: Mapping[str, Any]) -> bytes:
    """One record as a UTF-8 JSON line ending in ``\\n``.

    Raises:
        ValueError: the record is not a mapping with string keys, or a field holds a value with no JSON
            form or nested deeper than Python's JSON encoder goes (the message names the field).
    """
    if not isinstance(record, Mapping):
        raise ValueError(f"a record must be a mapping of field names to values, not {type(record).__name__}")
    try:
        text = _dumps(record if type(record) is dict else dict(record))
    except (TypeError, ValueError, RecursionError):
        bad_key = next((k for k in record if not isinstance(k, str)), None)
        if bad_key is not None:
            raise ValueError(f"field names must be strings, got {bad_key!r}") from None
        found = _culprit(record)
        if found is None:
            raise
        name, exc = found
        why = "is nested too deeply" if isinstance(exc, RecursionError) else f"cannot be written as JSON ({exc})"
        raise ValueError(f"field {name!r} {why}") from None
    try:
        return text.encode("utf-8") + b"\n"
    except UnicodeEncodeError:  # a lone surrogate: its \\uXXXX escape keeps it, and the line stays UTF-8
        return _dumps(record, ascii_only=True).encode("ascii") + b"\n"


# --------------------------------------------------------------------------------------------------
# Arrow tables


def _same_values(stored: list[Any], original: list[Any]) -> bool:
    """Do the values read back from Arrow hold exactly the originals (same JSON, keys in any order)?"""
    try:
        return _CANONICAL.encode(stored) == _CANONICAL.encode(original)  # one C-encoder pass per column
    except (TypeError, ValueError, RecursionError):
        return False


def _parquet_safe(t: pa.DataType) -> bool:
    """Parquet can store the type (no empty struct anywhere in it)."""
    if pa.types.is_struct(t):
        return t.num_fields > 0 and all(_parquet_safe(t.field(i).type) for i in range(t.num_fields))
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return _parquet_safe(t.value_type)
    return True


_SCALAR_TYPES = {frozenset({bool}): pa.bool_(), frozenset({int}): pa.int64(), frozenset({float}): pa.float64(),
                 frozenset({str}): pa.string()}


def _typed_column(values: list[Any]) -> pa.Array | None:
    """``values`` as one Arrow array holding exactly them, or None when they clash (see module docstring)."""
    kinds = frozenset(map(type, values)) - {_NONE}
    if not kinds:
        return pa.nulls(len(values))
    if any(hasattr(k, "tolist") for k in kinds):  # NumPy scalars and arrays, tensors: their plain values
        values = [v.tolist() if hasattr(v, "tolist") else v for v in values]
        kinds = frozenset(map(type, values)) - {_NONE}
    fast = _SCALAR_TYPES.get(kinds)
    if kinds == {int, float} and all(-(2**53) <= v <= 2**53 for v in values if type(v) is int):
        fast = pa.float64()  # integers beside floats: float64 holds each of them exactly
    try:
        if fast is not None:
            return pa.array(values, type=fast)
        arr = pa.array(values)
    except (pa.ArrowException, TypeError, ValueError, OverflowError, RecursionError):
        return None  # UnicodeEncodeError (lone surrogates) is a ValueError
    if not _parquet_safe(arr.type) or not _same_values(arr.to_pylist(), values):
        return None
    return arr


def _json_column(name: str, values: list[Any]) -> pa.Array:
    out = []
    for v in values:
        if v is None:
            out.append(None)
            continue
        try:
            out.append(_dumps(v, ascii_only=True))
        except (TypeError, ValueError, RecursionError) as exc:
            why = "is nested too deeply" if isinstance(exc, RecursionError) else f"cannot be stored ({exc})"
            raise ValueError(f"field {name!r} {why}") from None
    return pa.array(out, type=pa.string())


def table_from_rows(rows: Sequence[Mapping[str, Any]], *, last: Iterable[str] = ()) -> pa.Table:
    """An Arrow table with a column for every field of any record (see module docstring for the rules).

    ``last`` names fields to put after all others (e.g. the columns a tool added). Raises ValueError
    naming the field when a value has no JSON form at all.
    """
    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(row))
    trailing = [n for n in last if n in names]
    for n in trailing:
        del names[n]
    fields, arrays = [], []
    for name in [*names, *trailing]:
        if not isinstance(name, str):
            raise ValueError(f"field names must be strings, got {name!r}")
        values = [row.get(name) for row in rows]
        arr = _typed_column(values)
        if arr is None:
            fields.append(pa.field(name, pa.string(), metadata=JSON_ENCODING))
            arrays.append(_json_column(name, values))
        else:
            fields.append(pa.field(name, arr.type))
            arrays.append(arr)
    if not fields and rows:
        raise ValueError(f"{len(rows)} records without any field cannot form a Parquet table")
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields)) if fields else pa.table({})


def json_columns(table: pa.Table) -> list[str]:
    """Names of the columns of ``table`` that hold JSON text (type clashes written by this module)."""
    return [f.name for f in table.schema if f.metadata and f.metadata.get(b"hgpo.encoding") == b"json"]


def decode_table(table: pa.Table) -> list[dict[str, Any]]:
    """The table's rows as dicts, with JSON-text columns (see :func:`json_columns`) decoded."""
    rows = table.to_pylist()
    for name in json_columns(table):
        for row in rows:
            text = row.get(name)
            if text is not None:
                row[name] = json.loads(text)
    return rows
