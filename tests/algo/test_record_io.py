"""Record files: the streaming writer, lossless format conversions, and the reader's refusals."""

from __future__ import annotations

import gzip
import json
import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hgpo_algo.record_codec import table_from_rows
from hgpo_algo.record_io import RecordFile, RecordFileError, open_writer, read_records, write_records
from tests.algo.vectors import TV1_RECORDS


def same(a, b, *, int_as_float: bool = False) -> bool:
    """Equality that treats NaN as NaN and keeps int / float / bool apart (``a`` read back, ``b`` written).

    ``int_as_float``: an int written may read back as an equal float (Parquet's documented promotion).
    """
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if int_as_float and type(a) is float and type(b) is int:
        return a == b
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k], int_as_float=int_as_float) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(
            same(x, y, int_as_float=int_as_float) for x, y in zip(a, b, strict=True)
        )
    return a == b


CLASHING = [
    {"note": 1, "nan": math.nan, "deep": {"a": [1, 2]}, "text": "é \ud800 x"},
    {"note": "one", "nan": math.inf, "deep": {"b": None}, "text": "plain", "later": {}},
    {"note": True, "nan": -math.inf, "deep": [], "text": None, "later": 2**70, "mix": 1},
    {"mix": 2.5, "big": 2**63 - 1},
]


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz", ".parquet"])
def test_every_field_survives_every_format(tmp_path, suffix):
    path = tmp_path / f"r{suffix}"
    write_records(str(path), RecordFile("x", rows=[dict(r) for r in CLASHING]))
    back = read_records(str(path)).rows
    assert back is not None
    for before, after in zip(CLASHING, back, strict=True):
        for name, value in before.items():
            if name == "mix" and isinstance(value, int) and suffix == ".parquet":
                assert after[name] == float(value)  # documented: ints beside floats become float64
                continue
            assert same(after[name], value), (name, after[name], value)
        if suffix == ".parquet":  # fields a record lacks read back as null
            assert all(after[name] is None for name in set(after) - set(before))


def test_parquet_columns_union_and_json_text_for_clashes(tmp_path):
    table = table_from_rows(CLASHING)
    assert table.column_names == ["note", "nan", "deep", "text", "later", "mix", "big"]
    assert table.schema.field("nan").type == pa.float64()
    assert table.schema.field("mix").type == pa.float64()
    assert table.schema.field("big").type == pa.int64()
    for name in ("note", "deep", "text", "later"):
        field = table.schema.field(name)
        assert field.type == pa.string() and field.metadata == {b"hgpo.encoding": b"json"}
    assert table.column("note").to_pylist() == ["1", '"one"', "true", None]


def test_writer_streams_and_flushes_per_record(tmp_path):
    path = tmp_path / "r.jsonl"
    writer = open_writer(path)
    writer.write(TV1_RECORDS[0])
    assert json.loads(path.read_text()) == TV1_RECORDS[0]  # readable before close
    writer.write({"x": np.float32(0.5), "ids": np.arange(3), "nan": math.nan})
    writer.close()
    writer.close()
    lines = path.read_text().splitlines()
    assert lines[1] == '{"x": 0.5, "ids": [0, 1, 2], "nan": NaN}'
    with pytest.raises(ValueError, match="closed record writer"):
        writer.write(TV1_RECORDS[0])


def test_writer_gzip_is_byte_stable_and_readable_while_open(tmp_path):
    blobs = []
    for name in ("a", "b"):
        path = tmp_path / f"{name}.jsonl.gz"
        with open_writer(path) as writer:
            for r in TV1_RECORDS:
                writer.write(r)
            partial = path.read_bytes()
        blobs.append(path.read_bytes())
    assert blobs[0] == blobs[1]
    assert gzip.decompress(blobs[0]).decode().splitlines()[0] == json.dumps(TV1_RECORDS[0])
    # per-record flushes: everything written so far decompresses before close
    d = __import__("zlib").decompressobj(31)
    assert d.decompress(partial).decode().count("\n") == len(TV1_RECORDS)


def test_writer_and_write_records_encode_alike(tmp_path):
    rows = [dict(r, extra={"nan": math.nan, "s": "\ud800"}) for r in TV1_RECORDS]
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    with open_writer(a) as writer:
        for r in rows:
            writer.write(r)
    write_records(str(b), RecordFile("x", rows=rows))
    assert a.read_bytes() == b.read_bytes()
    pa_, pb = tmp_path / "a.parquet", tmp_path / "b.parquet"
    with open_writer(pa_) as writer:
        for r in rows:
            writer.write(r)
    write_records(str(pb), RecordFile("x", rows=rows))
    assert pq.read_table(pa_).equals(pq.read_table(pb))


def test_parquet_writer_writes_on_close_only(tmp_path):
    path = tmp_path / "r.parquet"
    with open_writer(path) as writer:
        writer.write({"a": 1})
        writer.write({"b": "later"})
        assert not path.exists()
    assert pq.read_table(path).to_pylist() == [{"a": 1, "b": None}, {"a": None, "b": "later"}]


def test_writer_refuses_what_has_no_json_form(tmp_path):
    with open_writer(tmp_path / "r.jsonl") as writer:
        with pytest.raises(ValueError, match="field 'obj' cannot be written as JSON"):
            writer.write({"obj": object()})
        with pytest.raises(ValueError, match="field names must be strings"):
            writer.write({("a", 1): 2})
        with pytest.raises(ValueError, match="a record must be a mapping"):
            writer.write([1, 2])  # type: ignore[arg-type]
    assert (tmp_path / "r.jsonl").read_bytes() == b""
    with pytest.raises(RecordFileError, match="unknown file type"):
        open_writer(tmp_path / "r.csv")


def test_nan_rule_is_the_token_everywhere(tmp_path):
    path = tmp_path / "r.jsonl"
    write_records(str(path), RecordFile("x", rows=[{"a": math.nan, "b": [math.inf, -math.inf]}]))
    assert path.read_text() == '{"a": NaN, "b": [Infinity, -Infinity]}\n'


def test_parquet_to_jsonl_types_json_lacks(tmp_path):
    import datetime as dt
    import decimal

    src = tmp_path / "in.parquet"
    pq.write_table(pa.table({
        "when": pa.array([dt.datetime(2026, 1, 2, 3, 4, 5)]),
        "amount": pa.array([decimal.Decimal("1.25")]),
        "blob": pa.array([b"\x00\xff"]),
    }), src)
    out = tmp_path / "out.jsonl"
    write_records(str(out), read_records(str(src)))
    assert json.loads(out.read_text()) == {"when": "2026-01-02T03:04:05", "amount": "1.25", "blob": "AP8="}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"a": 1}\n\x00\x01\x02\n', "in.jsonl:2: record 1: invalid JSON"),
        (b"\x1c\x1d\x1e\n", "in.jsonl:1: record 0: invalid JSON"),
        (b'{"a": ' + b"1" * 5000 + b"}\n", "in.jsonl:1: record 0: invalid JSON (Exceeds the limit"),
        (b'{"a": ' + b"[" * 1000 + b"]" * 1000 + b"}\n", "in.jsonl:1: record 0: nested deeper than 100 levels"),
        (b'{"a": ' + b"[" * 200 + b"]" * 200 + b"}\n", "in.jsonl:1: record 0: field 'a' is nested deeper than 100"),
        (b'{"a": "\xff"}\n', "in.jsonl:1: record 0: not valid UTF-8 (byte 8)"),
        (b"[1, 2]\n", "in.jsonl:1: record 0: a record must be a JSON object, got list"),
    ],
)
def test_reader_refusals_name_file_line_and_record(tmp_path, content, message):
    path = tmp_path / "in.jsonl"
    path.write_bytes(content)
    with pytest.raises(RecordFileError) as info:
        read_records(str(path))
    assert message in str(info.value) and "\n" not in str(info.value)


def test_reader_skips_blank_lines_and_a_bom(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"a": 1}\n\n  \t\r\n{"a": 2}\n')
    got = read_records(str(path))
    assert got.rows == [{"a": 1}, {"a": 2}] and got.lines == [1, 4]


def test_damaged_gzip_and_parquet_are_one_line_errors(tmp_path):
    good = gzip.compress(b"".join(json.dumps(r).encode() + b"\n" for r in TV1_RECORDS * 20), mtime=0)
    corrupt = bytearray(good)
    corrupt[len(corrupt) // 2] ^= 0xFF
    path = tmp_path / "in.jsonl.gz"
    path.write_bytes(bytes(corrupt))
    with pytest.raises(RecordFileError, match=r"in.jsonl.gz: cannot read \(not a valid gzip stream"):
        read_records(str(path))
    path.write_bytes(good[:-10])
    with pytest.raises(RecordFileError, match="cannot read"):
        read_records(str(path))
    garbage = tmp_path / "in.parquet"
    garbage.write_bytes(b"not\nparquet\nPAR1")
    with pytest.raises(RecordFileError) as info:
        read_records(str(garbage))
    assert "\n" not in str(info.value)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**80), 2**80) | st.floats(allow_nan=True)
    | st.text(st.characters(codec=None, exclude_categories=()), max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=60)
@given(rows=st.lists(st.dictionaries(st.sampled_from(["a", "b", "c", "reward"]), JSON_VALUES, max_size=4),
                     min_size=1, max_size=5).filter(lambda rows: any(rows)))
def test_any_json_records_survive_jsonl_and_parquet(tmp_path, rows):
    for suffix in (".jsonl", ".parquet"):
        path = tmp_path / f"h{suffix}"
        write_records(str(path), RecordFile("x", rows=rows))
        back = read_records(str(path)).rows
        if back is None:
            back = read_records(str(path)).table.to_pylist()
        for before, after in zip(rows, back, strict=True):
            for name, value in before.items():
                # the one documented conversion: an int stored in a float64 column reads back as a float
                assert same(after[name], value, int_as_float=suffix == ".parquet"), (suffix, name, after[name])


def test_array_payloads_get_typed_parquet_columns(tmp_path):
    """Payloads a policy returns (NumPy arrays and scalars, tensors when torch is installed) stay typed."""
    try:
        import torch
    except ImportError:  # torch is an optional extra; the NumPy half of the test still runs
        torch = None
    rows = [{"ids": np.arange(3) + i, "logp": np.float32(-0.5), "n": np.int64(i)} for i in range(3)]
    if torch:
        for i, r in enumerate(rows):
            r["tensor"] = torch.tensor([i, i + 1])
    path = tmp_path / "p.parquet"
    with open_writer(path) as writer:
        for r in rows:
            writer.write(r)
    table = pq.read_table(path)
    assert table.schema.field("ids").type == pa.list_(pa.int64())
    assert table.schema.field("logp").type == pa.float64() and table.schema.field("n").type == pa.int64()
    assert table.column("ids").to_pylist() == [[0, 1, 2], [1, 2, 3], [2, 3, 4]]
    if torch:
        assert table.schema.field("tensor").type == pa.list_(pa.int64())
