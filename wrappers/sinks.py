"""Where step records go: a list in memory, a JSONL(.gz) file, or a Parquet file."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path
from typing import Any, Protocol

__all__ = ["JsonlSink", "ListSink", "ParquetSink", "RecordSink", "open_sink"]


class RecordSink(Protocol):
    def write(self, record: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


class ListSink:
    """Keeps records in memory: ``sink.records``."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def write(self, record: dict[str, Any]) -> None:
        self.records.append(record)

    def close(self) -> None:
        pass


class JsonlSink:
    """Streams records to ``.jsonl`` or ``.jsonl.gz`` (gzip with mtime 0: byte-stable); flushes per record."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if self.path.name.endswith(".gz"):
            raw = open(self.path, "wb")  # closed in close()
            self._fh: io.TextIOBase = io.TextIOWrapper(
                gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0), encoding="utf-8"
            )
            self._raw: Any = raw
        else:
            self._fh = open(self.path, "w", encoding="utf-8")  # closed in close()
            self._raw = None

    def write(self, record: dict[str, Any]) -> None:
        self._fh.write(json.dumps(record, ensure_ascii=False) + "\n")

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()
        if self._raw is not None and not self._raw.closed:
            self._raw.close()


class ParquetSink:
    """Collects records and writes one Parquet file on ``close`` (columns may appear in any record)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._rows: list[dict[str, Any]] = []

    def write(self, record: dict[str, Any]) -> None:
        self._rows.append(record)

    def close(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self._rows is None:
            return
        pq.write_table(pa.Table.from_pylist(self._rows), self.path)
        self._rows = None  # type: ignore[assignment]


def open_sink(target: str | Path | RecordSink | list | None) -> RecordSink:
    """A sink for a path (format by suffix), a list (records appended), a sink, or None (in memory)."""
    if target is None:
        return ListSink()
    if isinstance(target, list):
        sink = ListSink()
        sink.records = target
        return sink
    if isinstance(target, (str, Path)):
        name = str(target).lower()
        if name.endswith(".parquet"):
            return ParquetSink(target)
        if name.endswith(".jsonl") or name.endswith(".jsonl.gz"):
            return JsonlSink(target)
        raise ValueError(f"{target}: unknown record file type (use .jsonl, .jsonl.gz or .parquet)")
    if hasattr(target, "write") and hasattr(target, "close"):
        return target
    raise TypeError(f"not a record sink: {type(target).__name__}")
