"""Where step records go: a list in memory, or a record file written by ``hgpo_algo.record_io``.

File sinks are the one record writer of the project (:func:`hgpo_algo.record_io.open_writer`): ``.jsonl``
and ``.jsonl.gz`` stream one record at a time, ``.parquet`` is written on ``close`` with a column for every
field of any record, and all of them encode values exactly as ``hgpo advantages`` does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from hgpo_algo.record_io import RecordWriter, file_format, open_writer

__all__ = ["JsonlSink", "ListSink", "ParquetSink", "RecordSink", "open_sink"]


class RecordSink(Protocol):
    def write(self, record: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


class ListSink:
    """Keeps records in memory: ``sink.records``."""

    def __init__(self, records: list[dict[str, Any]] | None = None) -> None:
        self.records: list[dict[str, Any]] = records if records is not None else []

    def write(self, record: dict[str, Any]) -> None:
        self.records.append(record)

    def close(self) -> None:
        pass


class JsonlSink(RecordWriter):
    """A ``.jsonl`` / ``.jsonl.gz`` record writer (streams and flushes per record)."""

    def __init__(self, path: str | Path) -> None:
        if file_format(str(path)) not in ("jsonl", "jsonl.gz"):
            raise ValueError(f"{path}: JsonlSink writes .jsonl or .jsonl.gz files")
        super().__init__(path)


class ParquetSink(RecordWriter):
    """A ``.parquet`` record writer (writes on ``close``, a column for every field of any record)."""

    def __init__(self, path: str | Path) -> None:
        if file_format(str(path)) != "parquet":
            raise ValueError(f"{path}: ParquetSink writes .parquet files")
        super().__init__(path)


def open_sink(target: str | Path | RecordSink | list | None) -> RecordSink | RecordWriter:
    """A sink for a path (format by suffix: ``.jsonl``, ``.jsonl.gz``, ``.parquet``), a list (records
    appended to it), a sink object, or None (in memory)."""
    if target is None:
        return ListSink()
    if isinstance(target, list):
        return ListSink(target)
    if isinstance(target, (str, Path)):
        if str(target) == "-":
            raise ValueError("a record sink needs a file path, not '-'")
        file_format(str(target))  # names the accepted suffixes on a bad one
        return open_writer(target)
    if hasattr(target, "write") and hasattr(target, "close"):
        return target
    raise TypeError(f"not a record sink: {type(target).__name__}")
