"""Run the customer-table SQL on Spark and compare it with DuckDB (needs the ``spark`` extra and Java).

    pip install -e '.[spark]' && python benchmarks/spark_check.py [SOURCE] [--as-of DATE]

The customer table is written once (``analysis.customers.customer_table_sql``) through a small
dialect map; this script proves the Spark spelling gives the same table as DuckDB.
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("source", nargs="?", default="data/sample")
    ap.add_argument("--as-of", default="2026-10-31")
    args = ap.parse_args()

    from pyspark.sql import SparkSession

    from analysis.customers import _levels, customer_columns, customer_table, customer_table_sql
    from analysis.data import load_source

    src = load_source(args.source, as_of=args.as_of)
    ours = customer_table(src, args.as_of).set_index("customer_id")

    spark = (SparkSession.builder.master("local[2]").appName("kanta-spark-check")
             .config("spark.sql.session.timeZone", "UTC").config("spark.ui.enabled", "false")
             .config("spark.ui.showConsoleProgress", "false").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    for table in ("transactions", "customers"):
        if src.has(table):  # the validated views, typed as DuckDB gives them
            spark.createDataFrame(src.sql(f"SELECT * FROM {table}")).createOrReplaceTempView(table)
    sql = customer_table_sql(args.as_of, dialect="spark", has_customers=src.has("customers"),
                             customer_columns=customer_columns(src), categories=_levels(src, "category"),
                             channels=_levels(src, "channel"))
    t0 = time.perf_counter()
    theirs = spark.sql(sql).toPandas().set_index("customer_id").loc[ours.index]
    seconds = time.perf_counter() - t0
    spark.stop()

    bad = []
    for col in ours.columns:
        a, b = ours[col], theirs[col]
        if a.isna().tolist() != b.isna().tolist():
            bad.append(col)
            continue
        a, b = a[a.notna()], b[b.notna()]
        if a.dtype.kind in "fiu":
            same = np.allclose(a.astype(float), b.astype(float))
        elif a.dtype.kind == "M":
            same = (a.dt.strftime("%Y-%m-%d") == b.astype(str).str[:10]).all()
        else:
            same = (a.astype(str) == b.astype(str)).all()
        if not same:
            bad.append(col)
    print(f"{len(ours)} customers, {len(ours.columns)} columns; Spark query {seconds:.1f} s; "
          f"columns that differ: {bad or 'none'}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
