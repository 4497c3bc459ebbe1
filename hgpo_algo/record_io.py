"""Reading and writing step-record files: ``.jsonl``, ``.jsonl.gz``, ``.parquet`` or ``-`` (JSONL on stdio).

JSONL keeps every record as the exact mapping it was read as, so writing it back after adding fields leaves
every input field untouched. Parquet holds the union of every record's fields. Both directions follow the
encoding rules of :mod:`hgpo_algo.record_codec` (NaN tokens, type clashes as JSON text), which the
streaming writer of :func:`open_writer` shares with :func:`write_records`.

Reading refuses, with a message naming the file, line and record: invalid JSON (control characters
included), an integer literal longer than Python's limit, nesting deeper than
:data:`~hgpo_algo.record_codec.MAX_NESTING`, invalid UTF-8 and a gzip or Parquet file that is damaged.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import sys
import tempfile
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import pyarrow as pa

from hgpo_algo.record_codec import MAX_NESTING, decode_table, encode_line, json_columns, table_from_rows

__all__ = [
    "RecordFile",
    "RecordFileError",
    "RecordWriter",
    "file_format",
    "open_writer",
    "read_records",
    "write_records",
]

_JSON_SPACE = b" \t\r\n"
_BOM = b"\xef\xbb\xbf"


class RecordFileError(ValueError):
    """A record file cannot be read or written (the message names the file and, where known, the line)."""


def _one_line(text: str) -> str:
    """``text`` with newlines and other unprintable characters escaped, so a message stays one line."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape", "backslashreplace").decode() for ch in text)


def file_format(path: str | os.PathLike[str]) -> str:
    """``jsonl``, ``jsonl.gz`` or ``parquet`` by suffix; ``-`` is JSONL on stdin/stdout."""
    path = os.fspath(path)
    if path == "-":
        return "jsonl"
    name = path.lower()
    for fmt in ("jsonl.gz", "jsonl", "parquet"):
        if name.endswith("." + fmt):
            return fmt
    if name.endswith(".json.gz") or name.endswith(".ndjson"):
        return "jsonl.gz" if name.endswith(".gz") else "jsonl"
    raise RecordFileError(
        f"{_one_line(path)}: unknown file type (use .jsonl, .jsonl.gz, .parquet or - for stdin/stdout)"
    )


@dataclass
class RecordFile:
    """Records read from a file: ``rows`` (JSONL: list of dicts) or ``table`` (Parquet).

    ``lines[i]`` is the 1-based line number of record ``i`` in a JSONL source (None for Parquet). A Parquet
    file with JSON-text columns (type clashes) has both: ``table`` as stored and ``rows`` decoded.
    ``added`` names the fields :meth:`with_columns` added (written last).
    """

    path: str
    rows: list[dict[str, Any]] | None = None
    table: pa.Table | None = None
    lines: list[int] | None = None
    added: tuple[str, ...] = field(default=())

    @property
    def records(self) -> list[dict[str, Any]] | pa.Table:
        return self.rows if self.rows is not None else self.table  # type: ignore[return-value]

    def __len__(self) -> int:
        return len(self.rows) if self.rows is not None else self.table.num_rows  # type: ignore[union-attr]

    def where(self, index: int | None) -> str:
        """``path:line`` (JSONL) or ``path`` for messages about record ``index``."""
        if index is not None and self.lines is not None and 0 <= index < len(self.lines):
            return f"{self.path}:{self.lines[index]}"
        return self.path

    def with_columns(self, columns: dict[str, np.ndarray]) -> RecordFile:
        """A copy with per-record values added (replacing fields of the same name)."""
        added = (*[n for n in self.added if n not in columns], *columns)
        if self.rows is not None:
            pylists = {name: values.tolist() for name, values in columns.items()}
            rows = []
            for i, row in enumerate(self.rows):
                new = dict(row)
                for name, values in pylists.items():
                    new.pop(name, None)  # a replaced field moves to the end, like an added one
                    new[name] = values[i]
                rows.append(new)
            return RecordFile(self.path, rows=rows, lines=self.lines, added=added)
        table = self.table
        for name, values in columns.items():
            if name in table.column_names:  # type: ignore[union-attr]
                table = table.drop_columns([name])  # type: ignore[union-attr]
            table = table.append_column(name, pa.array(values))  # type: ignore[union-attr]
        return RecordFile(self.path, table=table, added=added)


# --------------------------------------------------------------------------------------------------
# Reading


def _depth_over(obj: Any, limit: int) -> bool:
    """Is ``obj`` nested deeper than ``limit`` lists/objects? (iterative: no recursion to overflow)"""
    stack = [(obj, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            value = list(value.values())
        elif not isinstance(value, list):
            continue
        if depth > limit:
            return True
        stack.extend((v, depth + 1) for v in value if isinstance(v, (dict, list)))
    return False


def _line_error(raw: bytes, where: str, index: int) -> RecordFileError:
    """Why line ``raw`` (record ``index``) cannot be read: the slow path, only for a line that failed."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return RecordFileError(f"{where}: record {index}: not valid UTF-8 (byte {exc.start + 1})")
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        return RecordFileError(f"{where}: record {index}: invalid JSON ({exc.msg} at column {exc.colno})")
    except RecursionError:
        return RecordFileError(f"{where}: record {index}: nested deeper than {MAX_NESTING} levels")
    except ValueError as exc:  # an integer literal longer than sys.get_int_max_str_digits()
        return RecordFileError(f"{where}: record {index}: invalid JSON ({_one_line(str(exc))})")
    if not isinstance(obj, dict):
        return RecordFileError(f"{where}: record {index}: a record must be a JSON object, got {type(obj).__name__}")
    for name, value in obj.items():
        if _depth_over(value, MAX_NESTING - 1):
            return RecordFileError(
                f"{where}: record {index}: field {_one_line(repr(name))} is nested deeper than {MAX_NESTING} levels"
            )
    return RecordFileError(f"{where}: record {index}: cannot be read")


def _read_jsonl(stream: Iterable[bytes], path: str) -> RecordFile:
    rows: list[dict[str, Any]] = []
    lines: list[int] = []
    loads = json.loads
    for lineno, raw in enumerate(stream, start=1):
        if lineno == 1 and raw.startswith(_BOM):
            raw = raw[len(_BOM) :]
        if not raw.strip(_JSON_SPACE):  # blank: only JSON whitespace (other control characters are errors)
            continue
        try:
            obj = loads(raw.decode("utf-8"))
        except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            obj = None
        if type(obj) is not dict or (
            raw.count(b"[") + raw.count(b"{") > MAX_NESTING and any(_depth_over(v, MAX_NESTING - 1) for v in obj.values())
        ):
            raise _line_error(raw, f"{path}:{lineno}", len(rows))
        rows.append(obj)
        lines.append(lineno)
    return RecordFile(path, rows=rows, lines=lines)


def _read_parquet(path: str, p: Path) -> RecordFile:
    import pyarrow.parquet as pq

    table = pq.read_table(p)
    if not json_columns(table):
        return RecordFile(path, table=table)
    try:
        rows = decode_table(table)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise RecordFileError(f"{path}: a JSON-text column does not hold JSON ({_one_line(str(exc))})") from None
    return RecordFile(path, rows=rows, table=table)


def read_records(path: str | os.PathLike[str]) -> RecordFile:
    """Read a record file (see module docstring). Raises :class:`RecordFileError` on any problem."""
    path = os.fspath(path)
    fmt = file_format(path)
    if path == "-":
        return _read_jsonl(sys.stdin.buffer, "<stdin>")
    shown = _one_line(path)
    p = Path(path)
    if not p.is_file():
        raise RecordFileError(f"{shown}: no such file")
    try:
        if fmt == "parquet":
            return _read_parquet(shown, p)
        if fmt == "jsonl.gz":
            # whole stream first: a damaged body fails its CRC here, before any line is trusted
            return _read_jsonl(io.BytesIO(gzip.decompress(p.read_bytes())), shown)
        with open(p, "rb") as fh:
            return _read_jsonl(fh, shown)
    except (OSError, EOFError, zlib.error, pa.ArrowException) as exc:
        what = "not a valid gzip stream: " if fmt == "jsonl.gz" and not isinstance(exc, pa.ArrowException) else ""
        raise RecordFileError(f"{shown}: cannot read ({what}{_one_line(str(exc) or type(exc).__name__)})") from None


# --------------------------------------------------------------------------------------------------
# Writing


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


def _encode_all(rows: Iterable[Mapping[str, Any]], path: str) -> list[bytes]:
    out = []
    for i, row in enumerate(rows):
        try:
            out.append(encode_line(row))
        except ValueError as exc:
            raise RecordFileError(f"{path}: record {i}: {_one_line(str(exc))}") from None
    return out


def _write_gzip(raw: IO[bytes]) -> gzip.GzipFile:
    # mtime 0 and no file name in the header: identical records give byte-identical files
    return gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0)


def _table_for(path: str, records: RecordFile) -> pa.Table:
    if records.rows is None:
        return records.table  # type: ignore[return-value]
    try:
        return table_from_rows(records.rows, last=records.added)
    except ValueError as exc:
        raise RecordFileError(f"{path}: {_one_line(str(exc))}") from None


def write_records(path: str | os.PathLike[str], records: RecordFile) -> None:
    """Write records to ``path`` in the format its suffix names (``-``: JSONL on stdout).

    Every record is encoded before the first byte is written, so a record that cannot be written leaves
    no output at all (stdout included); files are written to a temporary file and moved in place.
    """
    path = os.fspath(path)
    fmt = file_format(path)
    shown = _one_line(path)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        table = _table_for(shown, records)
        with _atomic(path) as tmp:
            pq.write_table(table, tmp)
        return
    rows = records.rows if records.rows is not None else decode_table(records.table)  # type: ignore[arg-type]
    lines = _encode_all(rows, shown)
    if path == "-":
        out = sys.stdout.buffer
        out.writelines(lines)
        out.flush()
        return
    with _atomic(path) as tmp, open(tmp, "wb") as raw:
        if fmt == "jsonl.gz":
            with _write_gzip(raw) as gz:
                gz.writelines(lines)
        else:
            raw.writelines(lines)


class RecordWriter:
    """Streams records to one file; use :func:`open_writer`. A context manager (closes on exit)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.format = file_format(self.path)
        self._rows: list[dict[str, Any]] | None = None
        self._raw: IO[bytes] | None = None
        self._fh: IO[bytes] | None = None
        self.closed = False
        if self.format == "parquet":
            self._rows = []
        else:
            self._raw = open(self.path, "wb")  # closed in close()
            self._fh = _write_gzip(self._raw) if self.format == "jsonl.gz" else self._raw

    def write(self, record: Mapping[str, Any]) -> None:
        """Append one record. JSONL: written and flushed now; Parquet: kept until :meth:`close`.

        Raises:
            ValueError: the writer is closed, or the record cannot be encoded (the message names the field).
        """
        if self.closed:
            raise ValueError(f"{self.path}: write to a closed record writer")
        line = encode_line(record)  # validates the record for Parquet too
        if self._rows is not None:
            self._rows.append(dict(record))
            return
        self._fh.write(line)  # type: ignore[union-attr]
        self._fh.flush()  # type: ignore[union-attr]
        if self._fh is not self._raw:
            self._raw.flush()  # type: ignore[union-attr]

    def close(self) -> None:
        """Finish the file (Parquet: write it now, atomically). Closing twice does nothing."""
        if self.closed:
            return
        self.closed = True
        if self._rows is not None:
            import pyarrow.parquet as pq

            table = table_from_rows(self._rows)
            self._rows = None
            with _atomic(str(self.path)) as tmp:
                pq.write_table(table, tmp)
            return
        if self._fh is not self._raw:
            self._fh.close()  # type: ignore[union-attr]
        self._raw.close()  # type: ignore[union-attr]

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_writer(path: str | os.PathLike[str]) -> RecordWriter:
    """A :class:`RecordWriter` for ``path`` (``.jsonl``, ``.jsonl.gz`` or ``.parquet``, by suffix).

    ``.jsonl`` / ``.jsonl.gz`` stream: each record is written and flushed as it comes (gzip with mtime 0,
    so identical records give identical bytes). ``.parquet`` keeps the records and writes them on
    :meth:`RecordWriter.close` with a column for every field of any record. Encoding follows
    :mod:`hgpo_algo.record_codec`, as :func:`write_records` does.

        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "records.jsonl"
        >>> with open_writer(path) as writer:
        ...     writer.write({"group_id": 0, "traj_id": "a", "step": 0, "state_key": "s", "reward": 1.0})
        >>> path.read_text()
        '{"group_id": 0, "traj_id": "a", "step": 0, "state_key": "s", "reward": 1.0}\\n'
    """
    if os.fspath(path) == "-":
        raise RecordFileError("open_writer needs a file path, not - (use write_records for stdout)")
    return RecordWriter(path)
