"""Validation of step records: every schema violation is named with its record and field."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hgpo_algo import StepRecord, StepRecordError, compute_advantages, load_batch
from tests.algo.vectors import TV1_RECORDS


def records(**overrides_by_index):
    out = [dict(r) for r in TV1_RECORDS]
    for index, patch in overrides_by_index.items():
        i = int(index.lstrip("r"))
        for k, v in patch.items():
            if v is ...:
                del out[i][k]
            else:
                out[i][k] = v
    return out


@pytest.mark.parametrize(
    ("patch", "field", "message"),
    [
        ({"r5": {"reward": ...}}, "reward", "record 5 (traj_id='t1', step=1): missing field 'reward'"),
        ({"r5": {"state_key": None}}, "state_key", "missing field 'state_key'"),
        ({"r2": {"reward": math.nan}}, "reward", "record 2 (traj_id='t0', step=2): field 'reward' is not finite"),
        ({"r2": {"reward": math.inf}}, "reward", "is not finite"),
        ({"r2": {"reward": "1.0"}}, "reward", "record 2 (traj_id='t0', step=2): field 'reward' must be a number, got '1.0'"),
        ({"r2": {"step": 1}}, "step", "duplicate (traj_id, step)"),
        ({"r3": {"step": 5}}, "step", "gap in step numbering (expected step 3, got 5)"),
        ({"r0": {"step": -1}}, "step", "record 0 (traj_id='t0', step=-1): field 'step' must be an integer in [0, 2**63), got -1"),
        ({"r1": {"step": 1.5}}, "step", "field 'step' must be an integer in [0, 2**63), got 1.5"),
        ({"r5": {"group_id": "other"}}, "group_id", "trajectory appears in two groups"),
        ({"r5": {"invalid": 3}}, "invalid", "field 'invalid' must be a boolean"),
        ({"r1": {"context_keys": ["Z"]}}, "context_keys", "disagrees with the state keys"),
        ({"r1": {"context_keys": ["A", "A"]}}, "context_keys", "has 2 keys but the step has only 1 predecessors"),
    ],
)
def test_bad_records_are_named(patch, field, message):
    with pytest.raises(StepRecordError) as info:
        compute_advantages(records(**patch), "hgpo")
    assert info.value.field == field
    assert message in str(info.value)


def test_error_index_points_at_the_record():
    bad = records(r7={"reward": math.nan})
    with pytest.raises(StepRecordError) as info:
        load_batch(bad)
    assert info.value.index == 7


def test_gap_at_step_zero_is_reported():
    bad = [r for r in TV1_RECORDS if not (r["traj_id"] == "t1" and r["step"] == 0)]
    with pytest.raises(StepRecordError, match="expected step 0, got 1"):
        load_batch(bad)


def test_consistent_context_keys_are_accepted():
    rows = [dict(r) for r in TV1_RECORDS]
    keys_by_traj = {}
    for r in rows:
        keys_by_traj.setdefault(r["traj_id"], []).append(r["state_key"])
    for r in rows:
        t = r["step"]
        r["context_keys"] = keys_by_traj[r["traj_id"]][max(0, t - 2) : t]
    plain = compute_advantages(TV1_RECORDS, "hgpo").advantages
    np.testing.assert_array_equal(compute_advantages(rows, "hgpo").advantages, plain)


def test_window_length_differing_from_K_warns():
    rows = [dict(r) for r in TV1_RECORDS]
    keys_by_traj = {}
    for r in rows:
        keys_by_traj.setdefault(r["traj_id"], []).append(r["state_key"])
    for r in rows:
        r["context_keys"] = keys_by_traj[r["traj_id"]][max(0, r["step"] - 3) : r["step"]]
    with pytest.warns(UserWarning, match="HGPO K=2 differs from the memory window H=3"):
        compute_advantages(rows, "hgpo")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compute_advantages(rows, "hgpo", K=3)
        compute_advantages(rows, "gigpo")


def test_state_key_is_stable_and_sensitive():
    """Keys never change across releases or processes: stored records stay comparable."""
    import subprocess
    import sys

    from hgpo_algo.records import text_state_key

    text = "You are in the middle of a room."
    assert text_state_key(text) == "43064db8046457b25e5ad0a9a36dc6c5"
    other = subprocess.run(
        [sys.executable, "-c", f"from hgpo_algo.records import text_state_key; print(text_state_key({text!r}))"],
        capture_output=True, text=True, check=True, env={"PYTHONHASHSEED": "123", "PATH": ""},
    ).stdout.strip()
    assert other == text_state_key(text)
    assert text_state_key("a b") != text_state_key("a  b")


def test_optional_invalid_defaults_to_false_and_extra_fields_pass():
    rows = [dict(r, observation="text", action={"a": 1}) for r in TV1_RECORDS]
    np.testing.assert_array_equal(
        compute_advantages(rows, "gigpo").advantages, compute_advantages(TV1_RECORDS, "gigpo").advantages
    )


def test_integer_ids_and_keys_are_accepted():
    rows = [
        dict(r, group_id=7, traj_id=int(r["traj_id"][1:]), state_key=ord(r["state_key"])) for r in TV1_RECORDS
    ]
    np.testing.assert_array_equal(
        compute_advantages(rows, "hgpo").advantages, compute_advantages(TV1_RECORDS, "hgpo").advantages
    )


def test_empty_batch():
    result = compute_advantages([], "hgpo")
    assert result.advantages.shape == (0,) and result.returns.shape == (0,)


def test_unknown_estimator_and_option():
    with pytest.raises(ValueError, match="unknown estimator 'ppo'"):
        compute_advantages(TV1_RECORDS, "ppo")
    with pytest.raises(ValueError, match=r"unknown option.*'K'.*'gigpo'"):
        compute_advantages(TV1_RECORDS, "gigpo", K=2)
    with pytest.raises(ValueError, match="hgpo option 'mode' must be one of mean_std_norm, mean_norm, got 'zscore'"):
        compute_advantages(TV1_RECORDS, "hgpo", mode="zscore")
    with pytest.raises(ValueError, match=r"hgpo option 'K' must be an integer in \[0, 1024\], got -1"):
        compute_advantages(TV1_RECORDS, "hgpo", K=-1)


def test_not_records():
    with pytest.raises(TypeError, match="records must be"):
        compute_advantages("records.jsonl", "hgpo")
    with pytest.raises(StepRecordError, match="record 1: not a mapping"):
        compute_advantages([TV1_RECORDS[0], 5], "hgpo")


def test_columns_of_unequal_length():
    with pytest.raises(StepRecordError, match="different lengths"):
        compute_advantages({"group_id": [1, 1], "traj_id": [1]}, "hgpo")


def test_arrow_table_missing_column():
    table = pa.Table.from_pylist(TV1_RECORDS).drop_columns(["state_key"])
    with pytest.raises(StepRecordError, match="missing field 'state_key'"):
        compute_advantages(table, "hgpo")


def test_step_record_dataclass_round_trip():
    rec = StepRecord("g", "t", 0, "A", 1.0, extra={"action": "go"})
    assert rec.to_dict()["action"] == "go"
    with pytest.raises(ValueError, match="clashes"):
        StepRecord("g", "t", 0, "A", 1.0, extra={"reward": 2}).to_dict()


def test_result_carries_options_with_defaults():
    result = compute_advantages(TV1_RECORDS, "hgpo", K=3)
    assert result.options["K"] == 3 and result.options["alpha"] == 1.0 and result.options["gamma"] == 0.95


def test_step_record_checks_its_fields_and_plains_numpy_scalars():
    rec = StepRecord(np.int64(1), "t", np.int64(2), "A", np.float32(0.5), invalid=np.bool_(True),
                     context_keys=("X", "Y"))
    d = rec.to_dict()
    assert d == {"group_id": 1, "traj_id": "t", "step": 2, "state_key": "A", "reward": 0.5, "invalid": True,
                 "context_keys": ["X", "Y"]}
    assert [type(d[k]) for k in ("group_id", "step", "reward", "invalid")] == [int, int, float, bool]
    for kwargs, field in [
        ({"step": -1}, "step"), ({"step": 1.5}, "step"), ({"reward": "1"}, "reward"), ({"reward": True}, "reward"),
        ({"reward": math.nan}, "reward"), ({"state_key": None}, "state_key"), ({"traj_id": 1.0}, "traj_id"),
        ({"invalid": None}, "invalid"), ({"context_keys": "AB"}, "context_keys"), ({"group_id": "\ud800"}, "group_id"),
    ]:
        args = {"group_id": "g", "traj_id": "t", "step": 0, "state_key": "A", "reward": 0.0, **kwargs}
        with pytest.raises(StepRecordError) as info:
            StepRecord(**args)
        assert info.value.field == field and f"'{field}'" in str(info.value)


def test_dictionary_and_view_columns_are_plain_ids():
    table = pa.Table.from_pylist(TV1_RECORDS)
    for name in ("group_id", "traj_id", "state_key"):
        table = table.set_column(table.column_names.index(name), name, table.column(name).dictionary_encode())
    np.testing.assert_array_equal(
        compute_advantages(table, "hgpo").advantages, compute_advantages(TV1_RECORDS, "hgpo").advantages
    )


def test_bool_rewards_are_refused_in_every_input_form():
    rows = [dict(r, reward=r["reward"] > 0) for r in TV1_RECORDS]
    mixed = [dict(r) for r in TV1_RECORDS]
    mixed[4]["reward"] = False
    for records in (rows, pa.Table.from_pylist(rows), {k: [r[k] for r in rows] for k in rows[0]},
                    {k: np.array([r[k] for r in rows]) for k in rows[0]}):
        with pytest.raises(StepRecordError, match=r"record 0 \(traj_id='t0', step=0\): field 'reward' must be a number, got False"):
            load_batch(records)
    with pytest.raises(StepRecordError, match=r"record 4 .*field 'reward' must be a number, got False"):
        load_batch(mixed)


def test_mixed_id_types_name_the_record():
    rows = [dict(r) for r in TV1_RECORDS]
    rows[6]["state_key"] = 7
    with pytest.raises(StepRecordError, match=r"record 6 .*'state_key' is an integer here but a string in record 0"):
        load_batch(rows)


def test_numbers_arrow_would_not_mix_take_the_schema_type():
    rows = [dict(r) for r in TV1_RECORDS]
    rows[0]["reward"] = 2**53 + 1  # beside floats: not exactly a float64, still a valid reward
    rows[1]["step"] = 1.0
    rows[2]["step"] = 2
    batch = load_batch(rows)
    assert batch.reward[0] == float(2**53 + 1) and batch.step.dtype == np.int64


def test_a_schema_column_twice_is_named():
    table = pa.table([pa.array([1.0]), pa.array([2.0])], names=["reward", "reward"])
    with pytest.raises(StepRecordError, match="field 'reward' is a column twice"):
        load_batch(table)


class _Key(str):
    """A str subclass: a valid key that must take StepRecord's full path."""


_PLAIN_ID = st.one_of(st.text(alphabet="abcXYZ-0123", max_size=6), st.integers(-(2**63), 2**63 - 1))
_ODD_ID = st.one_of(st.text(max_size=4), st.sampled_from([2**63, -(2**63) - 1, 2**64]), st.just("\ud800"),
                    st.builds(_Key, st.text(max_size=3)), st.sampled_from([None, True, 1.0, np.int64(3), b"k"]))
_PLAIN = {
    "group_id": _PLAIN_ID, "traj_id": _PLAIN_ID, "state_key": _PLAIN_ID,
    "step": st.integers(0, 2**63 - 1),
    "reward": st.floats(allow_nan=False, allow_infinity=False),
    "invalid": st.booleans(),
    "context_keys": st.one_of(st.none(), st.lists(_PLAIN_ID, max_size=3)),
    "prompt_keys": st.one_of(st.none(), st.lists(_PLAIN_ID, max_size=3)),
    "extra": st.dictionaries(st.sampled_from(["action", "prompt", "x"]), st.integers(), max_size=2),
}
_ODD_KEYS = st.one_of(st.lists(_ODD_ID, min_size=1, max_size=2), st.lists(_PLAIN_ID, max_size=2).map(tuple),
                      st.just("AB"))
_ODD = {
    "group_id": _ODD_ID, "traj_id": _ODD_ID, "state_key": _ODD_ID,
    "step": st.one_of(st.integers(-2, -1), st.integers(2**63, 2**64), st.sampled_from([1.0, 1.5, True, np.int64(2)])),
    "reward": st.one_of(st.sampled_from([math.nan, math.inf, -math.inf, True, "1", np.float32(0.5)]),
                        st.integers(-(2**1100), 2**1100)),
    "invalid": st.sampled_from([None, 0, 1, 2, np.bool_(True)]),
    "context_keys": _ODD_KEYS, "prompt_keys": _ODD_KEYS,
    "extra": st.sampled_from([{1: "a"}, ["not", "a", "dict"], {"reward": 2}, {"step": 0}]),
}
_ODD_NAMES = st.sampled_from(sorted(_ODD))


@st.composite
def step_record_args(draw) -> dict:
    """Fields of the schema's exact types, with none, one or two of them replaced by an odd value."""
    args = {name: draw(strategy) for name, strategy in _PLAIN.items()}
    for name in {draw(_ODD_NAMES) for _ in range(draw(st.integers(0, 2)))}:
        args[name] = draw(_ODD[name])
    return args


@settings(max_examples=500, deadline=None)
@given(args=step_record_args())
def test_step_record_plain_path_equals_the_full_check(args):
    """StepRecord skips checking fields that already have the schema's exact types; the record (or the error)
    is the same as the full check and conversion give, and the record never shares the caller's key lists."""

    def build():
        try:
            rec = StepRecord(**args)
        except StepRecordError as exc:
            return ("error", exc.field, str(exc)), None
        try:
            flat = rec.to_dict()
        except ValueError as exc:
            return ("clash", str(exc)), rec
        return ("ok", [(k, type(v), v) for k, v in flat.items()]), rec

    fast, rec = build()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(StepRecord, "_plain", lambda self: False)
        full, _ = build()
    assert repr(fast) == repr(full)  # repr: nan equals nan, and the type of every value is compared
    if rec is not None:
        assert rec.context_keys is None or rec.context_keys is not args["context_keys"]
        assert rec.prompt_keys is None or rec.prompt_keys is not args["prompt_keys"]
