"""Throughput of the vectorised advantage estimators against the plain-loop reference, in one run.

Prints records/s (median of repeated runs) for HGPO (K=4), GiGPO and GRPO on
  * a training-sized batch: 128 groups x 8 trajectories x up to 50 steps, and
  * a 1,000,000-record batch with realistic key repetition,
and the speed-up of the vectorised HGPO over the loop reference (tests/algo/reference.py) on the
training-sized batch. Goals: 1M records in under 2 s on one core; at least 30x the loop reference.
With ``--io``, also the record-file path of ``hgpo advantages`` on the training-sized batch (with two
extra fields per record): reading JSONL, writing JSONL and writing Parquet (union of fields, type checks).

    python benchmarks/advantages.py [--repeats 5] [--records 1000000] [--io]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core, as the goal says

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402

from hgpo_algo import compute_advantages  # noqa: E402
from hgpo_algo.synthetic import synthetic_rollouts  # noqa: E402
from tests.algo import reference  # noqa: E402


def median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def batch(n_groups: int, group_size: int = 8, max_steps: int = 50, seed: int = 0) -> pa.Table:
    # 40 states per task, 3 actions each: agents loop, so states recur with different histories
    return pa.table(synthetic_rollouts(n_groups, group_size, max_steps=max_steps, n_states=40, seed=seed))


def io_figures(table: pa.Table, repeats: int) -> None:
    import tempfile

    from hgpo_algo.record_io import RecordFile, read_records, write_records

    rows = [dict(r, observation=f"obs {i % 97}", meta={"t": i % 7, "ok": True}) for i, r in enumerate(table.to_pylist())]
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.jsonl"
        write_records(str(src), RecordFile("x", rows=rows))
        read = median_seconds(lambda: read_records(str(src)), repeats)
        loaded = read_records(str(src))
        w_jsonl = median_seconds(lambda: write_records(str(Path(tmp) / "o.jsonl"), loaded), repeats)
        w_parquet = median_seconds(lambda: write_records(str(Path(tmp) / "o.parquet"), loaded), repeats)
    n = len(rows)
    print(f"\nrecord files, {n:,} records with 2 extra fields:")
    for label, sec in (("read JSONL", read), ("write JSONL", w_jsonl), ("write Parquet", w_parquet)):
        print(f"  {label:<16}{sec:8.3f} s  {n / sec:>12,.0f} records/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--records", type=int, default=1_000_000, help="size of the large batch (approx.)")
    parser.add_argument("--io", action="store_true", help="also time reading and writing record files")
    parser.add_argument("--io-only", action="store_true", help="only the record-file figures")
    args = parser.parse_args()
    if args.io_only:
        io_figures(batch(128), args.repeats)
        return

    small = batch(128)
    # ~ 253 steps per group of 8 at these settings: size the large batch to the requested record count
    per_group = small.num_rows / 128
    large = batch(max(1, round(args.records / per_group)), seed=1)
    print(f"batches: {small.num_rows:,} records (128 groups x 8), {large.num_rows:,} records (large)")

    print(f"\n{'estimator':<14}{'batch':>12}{'median s':>11}{'records/s':>14}")
    for name, options in (("hgpo", {"K": 4}), ("gigpo", {}), ("grpo", {})):
        for label, table in (("128x8", small), ("large", large)):
            sec = median_seconds(lambda t=table, e=name, o=options: compute_advantages(t, e, **o), args.repeats)
            tag = name + (" K=4" if name == "hgpo" else "")
            print(f"{tag:<14}{label:>12}{sec:>11.3f}{table.num_rows / sec:>14,.0f}")

    rows = small.to_pylist()
    loop = median_seconds(lambda: reference.hgpo(rows, K=4), max(1, args.repeats // 2))
    from_rows = median_seconds(lambda: compute_advantages(rows, "hgpo", K=4), args.repeats)
    from_table = median_seconds(lambda: compute_advantages(small, "hgpo", K=4), args.repeats)
    check = np.abs(compute_advantages(rows, "hgpo", K=4).advantages - np.array(reference.hgpo(rows, K=4))).max()
    print(f"\nHGPO K=4 on the 128x8 batch ({len(rows):,} records), loop reference vs vectorised:")
    print(f"  loop reference (list of dicts)    {loop:8.3f} s  {len(rows) / loop:>12,.0f} records/s")
    print(f"  vectorised, Arrow table input     {from_table:8.3f} s  {len(rows) / from_table:>12,.0f} records/s"
          f"  {loop / from_table:6.1f}x")
    print(f"  vectorised, list of dicts input   {from_rows:8.3f} s  {len(rows) / from_rows:>12,.0f} records/s"
          f"  {loop / from_rows:6.1f}x  (dict-to-column conversion included)")
    print(f"  max |vectorised - reference| = {check:.1e}")

    big = median_seconds(lambda: compute_advantages(large, "hgpo", K=4), args.repeats)
    goal = "met" if big * 1e6 / large.num_rows < 2.0 else "NOT met"
    print(f"\n1M-record goal (< 2 s per 1,000,000 records, HGPO K=4): {big * 1e6 / large.num_rows:.2f} s -> {goal}")
    ratio = loop / from_table
    print(f"loop-reference goal (>= 30x, estimator on columns): {ratio:.1f}x -> {'met' if ratio >= 30 else 'NOT met'}")
    if args.io:
        io_figures(small, args.repeats)


if __name__ == "__main__":
    main()
