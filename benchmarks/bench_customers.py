"""Customer table and calibration/holdout split: Kanta (DuckDB) vs lifetimes, in one run.

    .venv/bin/python benchmarks/bench_customers.py [--rows 2000000] [--big-rows 100000000] [--skip-big]

Generates a transaction log, times lifetimes' ``summary_data_from_transaction_data`` and
``calibration_and_holdout_data`` on it against Kanta's SQL, checks both give the same numbers,
and turns a large Parquet log into the customer table in a child process whose peak memory
(RSS) is measured. Prints a Markdown table for the README.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

END = pd.Timestamp("2026-10-31")
DAYS = 3 * 365


def generate(rows: int, seed: int = 1, chunk: int = 5_000_000):
    """Yield chunks of a synthetic log: ~10 rows per customer over three years."""
    rng = np.random.default_rng(seed)
    n_customers = max(rows // 10, 1)
    start = (END - pd.Timedelta(days=DAYS)).value // 10**9
    done = 0
    while done < rows:
        n = min(chunk, rows - done)
        cust = rng.integers(0, n_customers, n)
        # Whole days: lifetimes compares datetimes with midnight of its cut-off dates, which would
        # drop same-day purchases with a time of day and make the two sides differ.
        secs = start + rng.integers(0, DAYS, n) * 86400
        amount = np.round(rng.gamma(2.0, 10.0, n), 2)
        yield pa.table({
            "customer_id": pa.array(cust.astype(np.int64)),
            "timestamp": pa.array(secs * 1_000_000, type=pa.timestamp("us")),
            "amount": pa.array(amount),
        })
        done += n


def write_parquet(path: Path, rows: int) -> None:
    path.mkdir(parents=True, exist_ok=True)
    for i, t in enumerate(generate(rows)):
        pq.write_table(t, path / f"part-{i:04d}.parquet", row_group_size=1_000_000)


def timed(fn, *a, **kw):
    t0 = time.perf_counter()
    out = fn(*a, **kw)
    return out, time.perf_counter() - t0


def compare(rows: int, workdir: Path) -> list[dict]:
    from lifetimes.utils import calibration_and_holdout_data, summary_data_from_transaction_data

    from analysis.customers import calibration_holdout, customer_table
    from analysis.data import load_source

    src_dir = workdir / f"log_{rows}"
    write_parquet(src_dir / "transactions", rows)
    df = pd.concat([t.to_pandas() for t in generate(rows)], ignore_index=True)
    as_of, cal_end = "2026-10-31", "2026-04-30"

    theirs, t_lt = timed(summary_data_from_transaction_data, df, "customer_id", "timestamp",
                         monetary_value_col="amount", observation_period_end=as_of, freq="D")
    src, t_load = timed(load_source, src_dir, as_of=as_of)
    ours, t_q = timed(customer_table, src, as_of)
    ours = ours.set_index(ours["customer_id"].astype(np.int64)).loc[theirs.index]
    same = all(np.allclose(ours[c], theirs[c]) for c in ("frequency", "recency", "T", "monetary_value"))

    cal_theirs, t_lt_cal = timed(calibration_and_holdout_data, df, "customer_id", "timestamp", cal_end, as_of,
                                 freq="D", monetary_value_col="amount")
    cal_ours, t_q_cal = timed(calibration_holdout, src, cal_end, as_of)
    cal_ours = cal_ours.set_index(cal_ours["customer_id"].astype(np.int64)).loc[cal_theirs.index]
    same_cal = all(np.allclose(cal_ours[c], cal_theirs[c]) for c in ("frequency_cal", "T_cal", "frequency_holdout"))
    return [
        {"task": f"customer table, {rows / 1e6:g}M rows", "lifetimes_s": t_lt, "kanta_s": t_q,
         "kanta_with_load_s": t_load + t_q, "same_numbers": same},
        {"task": f"calibration/holdout split, {rows / 1e6:g}M rows", "lifetimes_s": t_lt_cal, "kanta_s": t_q_cal,
         "kanta_with_load_s": t_load + t_q_cal, "same_numbers": same_cal},
    ]


def _big_child(path: str, memory_limit: str) -> None:
    """Run in a child process so its peak RSS is its own: load, validate, write the table to Parquet."""
    from analysis.customers import write_customer_table
    from analysis.data import load_source

    t0 = time.perf_counter()
    src = load_source(path, as_of="2026-10-31", memory_limit=memory_limit)
    t1 = time.perf_counter()
    n = write_customer_table(src, "2026-10-31", Path(path) / "customer_table.parquet")
    t2 = time.perf_counter()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"load_validate_s": t1 - t0, "customer_table_s": t2 - t1, "customers": n,
                      "peak_rss_mb": peak_mb}))


def big(rows: int, workdir: Path, memory_limit: str) -> dict:
    path = workdir / f"big_{rows}"
    t0 = time.perf_counter()
    if not (path / "transactions").exists():
        write_parquet(path / "transactions", rows)
    gen_s = time.perf_counter() - t0
    out = subprocess.run([sys.executable, __file__, "--child", str(path), "--memory-limit", memory_limit],
                         capture_output=True, text=True, check=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    res.update(rows=rows, generate_s=gen_s, memory_limit=memory_limit)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--big-rows", type=int, default=100_000_000)
    ap.add_argument("--memory-limit", default="3GB")
    ap.add_argument("--skip-big", action="store_true")
    ap.add_argument("--workdir", default=None, help="where generated logs go (default: a temp folder)")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _big_child(args.child, args.memory_limit)
        return
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.workdir or tmp)
        results = compare(args.rows, work)
        print(f"\nmachine: {os.cpu_count()} cores; lifetimes on an in-memory DataFrame, Kanta from Parquet\n")
        print("| task | lifetimes | Kanta (query) | ratio | Kanta incl. load+validation | ratio | same numbers |")
        print("|---|---|---|---|---|---|---|")
        for r in results:
            print(f"| {r['task']} | {r['lifetimes_s']:.1f} s | {r['kanta_s']:.2f} s | "
                  f"{r['lifetimes_s'] / r['kanta_s']:.0f}x | {r['kanta_with_load_s']:.2f} s | "
                  f"{r['lifetimes_s'] / r['kanta_with_load_s']:.0f}x | {r['same_numbers']} |")
        if not args.skip_big:
            b = big(args.big_rows, work, args.memory_limit)
            print(f"\n| {b['rows'] / 1e6:g}M-row Parquet log -> customer table | load+validate {b['load_validate_s']:.0f} s"
                  f" | customer table {b['customer_table_s']:.0f} s | {b['customers']:,} customers | peak RSS "
                  f"{b['peak_rss_mb'] / 1024:.2f} GB (DuckDB memory_limit {b['memory_limit']}) |")


if __name__ == "__main__":
    main()
