"""The Spark engine gives the DuckDB engine's customer table and monthly flows (needs the ``spark`` extra and Java 17).

    python benchmarks/spark_check.py [SOURCE] [--as-of DATE] [--master local[2]]

SOURCE is a folder of CSV or Parquet files (default: the committed sample); CSV tables are
written to Parquet first (DuckDB), as a Spark user would hand them over. Both engines then read
the same Parquet files: ``analysis.customers.spark`` validates and computes on Spark (its own reading and
checks, not DuckDB's views), ``analysis.customers`` on DuckDB. Printed: customers, columns,
months, the largest difference and both engines' times; exit 1 when a column or month differs
by more than 1e-9 (relative above 1).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

TOLERANCE = 1e-9


def _as_parquet(source: Path, folder: Path) -> Path:
    """``source`` with every CSV table written to Parquet (Parquet tables are used where they are)."""
    import duckdb

    if not any((source / f"{t}.csv").is_file() for t in ("transactions", "customers")):
        return source
    for table in ("transactions", "customers"):
        csv, pq = source / f"{table}.csv", source / f"{table}.parquet"
        if csv.is_file():
            duckdb.sql(f"COPY (SELECT * FROM read_csv('{csv}')) TO '{folder / (table + '.parquet')}' (FORMAT PARQUET)")
        elif pq.is_file():
            (folder / pq.name).symlink_to(pq.resolve())
    return folder


def largest_difference(ours: pd.DataFrame, theirs: pd.DataFrame) -> tuple[float, list[str]]:
    """The largest difference over numeric columns and the columns that differ (any kind).

    Differences are absolute up to 1 and relative above (``|a - b| / max(1, |b|)``): sums of
    money come out of both engines in a different order (DuckDB's own runs differ in the last
    bits too), so a month's revenue of millions agrees to about 1e-16 of itself, not to 1e-9 euros.
    """
    worst, bad = 0.0, []
    if list(ours.columns) != list(theirs.columns) or len(ours) != len(theirs):
        return float("inf"), ["<columns or rows>"]
    for col in theirs.columns:
        a, b = ours[col].reset_index(drop=True), theirs[col].reset_index(drop=True)
        if a.isna().tolist() != b.isna().tolist():
            bad.append(col)
            continue
        a, b = a[a.notna()], b[b.notna()]
        if b.dtype.kind in "fiu":
            x, y = a.astype(float).to_numpy(), b.astype(float).to_numpy()
            diff = float(np.max(np.abs(x - y) / np.maximum(1.0, np.abs(y)), initial=0.0))
            worst = max(worst, diff)
            if diff > TOLERANCE:
                bad.append(col)
        elif b.dtype.kind == "M":
            if not (pd.to_datetime(a).dt.strftime("%Y-%m-%d") == b.dt.strftime("%Y-%m-%d")).all():
                bad.append(col)
        elif not (a.astype(str) == b.astype(str)).all():
            bad.append(col)
    return worst, bad


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("source", nargs="?", default=str(Path(__file__).resolve().parents[1] / "data" / "sample"))
    ap.add_argument("--as-of", default="2026-10-31")
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--quick", action="store_true", help="(accepted for benchmarks/run.py; the sample is small)")
    args = ap.parse_args()
    try:
        import pyspark  # noqa: F401
    except ImportError:
        print("Spark equality: skipped, pyspark is not installed (pip install 'kanta[spark]').")
        return 1

    from analysis import customers
    from analysis.customers import spark as engine
    from analysis.data import load_source

    with tempfile.TemporaryDirectory(prefix="kanta-spark-check-") as tmp:
        source = _as_parquet(Path(args.source), Path(tmp))
        t0 = time.perf_counter()
        src = load_source(source, as_of=args.as_of)
        duck_table = customers.customer_table(src, args.as_of)
        duck_flows = customers.monthly_activity(src, args.as_of)
        duck_seconds = time.perf_counter() - t0

        t0 = time.perf_counter()
        # small-data settings: on the sample compiling generated code costs more than the work
        session = engine.spark_session(args.master, app_name="kanta-spark-check", config={
            "spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "4", "spark.sql.codegen.wholeStage": "false",
            "spark.sql.adaptive.enabled": "false"})
        start_seconds = time.perf_counter() - t0
        t0 = time.perf_counter()
        spark_src = engine.load_spark_source(source, as_of=args.as_of, spark=session)
        spark_table = engine.customer_table(spark_src, args.as_of)
        spark_flows = engine.monthly_activity(spark_src, args.as_of)
        spark_seconds = time.perf_counter() - t0
        session.stop()

    table_diff, table_bad = largest_difference(spark_table, duck_table)
    flows_diff, flows_bad = largest_difference(spark_flows, duck_flows)
    same = not table_bad and not flows_bad
    print(f"Spark equality ({args.master}, Spark {pyspark.__version__}): customer table "
          f"{len(duck_table):,} customers x {len(duck_table.columns)} columns, monthly flows {len(duck_flows)} months: "
          f"{'EQUAL' if same else 'DIFFERENT'} (largest difference {max(table_diff, flows_diff):.1e}, "
          f"tolerance {TOLERANCE:.0e}, relative above 1); Spark {spark_seconds:.1f} s (+ {start_seconds:.1f} s start) vs DuckDB "
          f"{duck_seconds:.1f} s, both validating and computing.")
    if not same:
        print(f"  columns that differ: table {table_bad or 'none'}, flows {flows_bad or 'none'}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
