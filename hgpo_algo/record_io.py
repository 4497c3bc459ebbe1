"""Reading and writing step-record files: ``.jsonl``, ``.jsonl.gz``, ``.parquet`` or ``-`` (JSONL on stdio).

JSONL keeps every record as the exact mapping it was read as, so writing it back after adding fields leaves
every input field untouched. Parquet round-trips through a pyarrow Table.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import math
import os
import sys
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

__all__ = ["RecordFile", "RecordFileError", "file_format", "read_records", "write_records"]

FORMATS = ("jsonl", "jsonl.gz", "parquet")


class RecordFileError(ValueError):
    """A record file cannot be read or written (the message names the file and, where known, the line)."""


def file_format(path: str) -> str:
    """``jsonl``, ``jsonl.gz`` or ``parquet`` by suffix; ``-`` is JSONL on stdin/stdout."""
    if path == "-":
        return "jsonl"
    name = path.lower()
    for fmt in ("jsonl.gz", "jsonl", "parquet"):
        if name.endswith("." + fmt):
            return fmt
    if name.endswith(".json.gz") or name.endswith(".ndjson"):
        return "jsonl.gz" if name.endswith(".gz") else "jsonl"
    raise RecordFileError(f"{path}: unknown file type (use .jsonl, .jsonl.gz, .parquet or - for stdin/stdout)")


@dataclass
class RecordFile:
    """Records read from a file: ``rows`` (JSONL: list of dicts) or ``table`` (Parquet).

    ``lines[i]`` is the 1-based line number of record ``i`` in a JSONL source (None for Parquet).
    """

    path: str
    rows: list[dict[str, Any]] | None = None
    table: pa.Table | None = None
    lines: list[int] | None = None

    @property
    def records(self) -> list[dict[str, Any]] | pa.Table:
        return self.rows if self.rows is not None else self.table  # type: ignore[return-value]

    def __len__(self) -> int:
        return len(self.rows) if self.rows is not None else self.table.num_rows  # type: ignore[union-attr]

    def where(self, index: int | None) -> str:
        """``path:line`` (JSONL) or ``path`` for messages about record ``index``."""
        if index is not None and self.lines is not None and index < len(self.lines):
            return f"{self.path}:{self.lines[index]}"
        return self.path

    def with_columns(self, columns: dict[str, np.ndarray]) -> RecordFile:
        """A copy with per-record values added (replacing fields of the same name)."""
        if self.rows is not None:
            pylists = {name: values.tolist() for name, values in columns.items()}
            rows = []
            for i, row in enumerate(self.rows):
                new = dict(row)
                for name, values in pylists.items():
                    new[name] = values[i]
                rows.append(new)
            return RecordFile(self.path, rows=rows, lines=self.lines)
        table = self.table
        for name, values in columns.items():
            arr = pa.array(values)
            if name in table.column_names:  # type: ignore[union-attr]
                table = table.set_column(table.column_names.index(name), name, arr)  # type: ignore[union-attr]
            else:
                table = table.append_column(name, arr)  # type: ignore[union-attr]
        return RecordFile(self.path, table=table)


def _read_jsonl(stream: Iterable[str], path: str) -> RecordFile:
    rows: list[dict[str, Any]] = []
    lines: list[int] = []
    for lineno, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise RecordFileError(f"{path}:{lineno}: invalid JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(obj, dict):
            raise RecordFileError(f"{path}:{lineno}: a record must be a JSON object, got {type(obj).__name__}")
        rows.append(obj)
        lines.append(lineno)
    return RecordFile(path, rows=rows, lines=lines)


def read_records(path: str) -> RecordFile:
    """Read a record file (see module docstring). Raises :class:`RecordFileError` on any problem."""
    fmt = file_format(path)
    if path == "-":
        return _read_jsonl(sys.stdin, "<stdin>")
    p = Path(path)
    if not p.is_file():
        raise RecordFileError(f"{path}: no such file")
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            return RecordFile(path, table=pq.read_table(p))
        opener = gzip.open if fmt == "jsonl.gz" else open
        with opener(p, "rt", encoding="utf-8") as fh:
            return _read_jsonl(fh, path)
    except (OSError, UnicodeDecodeError, EOFError, pa.ArrowException) as exc:
        raise RecordFileError(f"{path}: cannot read ({exc})") from None


def _json_value(value: Any) -> Any:
    # NaN/inf are not JSON; records that reach output are validated, but extra fields may hold them
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _dump_jsonl(rows: list[dict[str, Any]], fh: io.TextIOBase) -> None:
    dumps = json.dumps
    for row in rows:
        try:
            fh.write(dumps(row, ensure_ascii=False, allow_nan=False))
        except ValueError:
            fh.write(dumps({k: _json_value(v) for k, v in row.items()}, ensure_ascii=False))
        fh.write("\n")


def write_records(path: str, records: RecordFile) -> None:
    """Write records to ``path`` in the format its suffix names (``-``: JSONL on stdout)."""
    fmt = file_format(path)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        table = records.table
        if table is None:
            try:
                table = pa.Table.from_pylist(records.rows)
            except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                raise RecordFileError(f"{path}: records cannot form a Parquet table ({exc})") from None
        with _atomic(path) as tmp:
            pq.write_table(table, tmp)
        return
    rows = records.rows if records.rows is not None else records.table.to_pylist()  # type: ignore[union-attr]
    if path == "-":
        _dump_jsonl(rows, sys.stdout)
        sys.stdout.flush()
        return
    with _atomic(path) as tmp:
        if fmt == "jsonl.gz":
            # mtime 0 and no file name in the header: identical records give byte-identical files
            with open(tmp, "wb") as raw, gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as gz:
                with io.TextIOWrapper(gz, encoding="utf-8") as fh:
                    _dump_jsonl(rows, fh)
        else:
            with open(tmp, "w", encoding="utf-8") as fh:
                _dump_jsonl(rows, fh)


@contextlib.contextmanager
def _atomic(path: str) -> Iterator[str]:
    """Write to a temporary file beside ``path`` and move it in place only when writing succeeded."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent or ".")
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
