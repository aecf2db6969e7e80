"""Customer table and calibration/holdout split: Kanta vs lifetimes, and a 100M-row log vs bare DuckDB.

    .venv/bin/python benchmarks/bench_customers.py [--rows 2000000] [--process-rows 10000000]
                                                   [--big-rows 100000000] [--skip-big] [--repeat 1]

Logs have 10 rows per customer (as the previous release's benchmark), the big one 20 (5M customers
in 100M rows, as issue 14 measured).

1. In one process: lifetimes' ``summary_data_from_transaction_data`` and
   ``calibration_and_holdout_data`` on a ``--rows`` log against Kanta's SQL, same numbers checked.
2. Whole processes on the same ``--process-rows`` Parquet log (goal: Kanta at least 10x faster):
   ``kanta customers`` (load, every contract check, the table written) against a Python process
   that reads the Parquet file with pandas and runs lifetimes' summary; both outputs compared.
3. Whole processes on a ``--big-rows`` Parquet log (goal: under 60 s and 4 GB peak RSS):
   ``kanta customers`` with default settings against a bare DuckDB aggregate of the same RFM
   columns under a 3 GB memory limit.

Logs are generated reproducibly by DuckDB (hash-based, no random state) into
``benchmarks/_work`` (git-ignored; ``--workdir`` elsewhere) and reused; times and peak memory
are the operating system's accounting of each finished child (``os.wait4``). Prints Markdown
tables for the README.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
END = pd.Timestamp("2026-10-31")
AS_OF = "2026-10-31"
DAYS = 3 * 365


def log_sql(rows: int, per_customer: int) -> str:
    """A synthetic log of ``rows`` rows, ``per_customer`` per customer on average over three years, as DuckDB SQL.

    Every value is a hash of the row number, so the same ``rows`` give the same bytes on any
    machine and thread count. Whole days: lifetimes compares datetimes with midnight of its
    cut-off dates, which would drop same-day purchases with a time of day and make the two
    sides differ.
    """
    customers = max(rows // per_customer, 1)
    start = (END - pd.Timedelta(days=DAYS - 1)).strftime("%Y-%m-%d")
    return f"""
        SELECT CAST(hash(i, 1) % {customers} AS BIGINT) AS customer_id,
               TIMESTAMP '{start}' + to_days(CAST(hash(i, 2) % {DAYS} AS INTEGER)) AS timestamp,
               round(-20 * ln((hash(i, 3) % 1000000 + 1) / 1000001.0), 2) AS amount
        FROM range({rows}) t(i)"""


#: Issue 14's goals: the whole-process ratio at 10M rows, and the 100M-row run with default settings.
GOAL_RATIO, GOAL_BIG_SECONDS, GOAL_BIG_GB = 10.0, 60.0, 4.0

GENERATED: list[Path] = []  # folders this run made (removed at the end unless --keep)


def write_parquet(workdir: Path, rows: int, per_customer: int) -> Path:
    """``transactions.parquet`` with the log of ``rows`` rows in a folder of its own (kept when already there)."""
    import duckdb

    folder = workdir / f"log_{rows}_{per_customer}"
    out = folder / "transactions.parquet"
    if not out.exists():
        GENERATED.append(folder)
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / ".transactions.parquet.tmp"
        con = duckdb.connect()
        con.execute("SET enable_progress_bar = false")
        con.execute(f"COPY ({log_sql(rows, per_customer)}) TO '{tmp}' (FORMAT PARQUET, ROW_GROUP_SIZE 1000000)")
        tmp.rename(out)
    return out


def generate(rows: int, per_customer: int) -> pd.DataFrame:
    """The log of ``rows`` rows as a DataFrame (what lifetimes takes)."""
    import duckdb

    return duckdb.connect().execute(log_sql(rows, per_customer)).df()


def timed(fn, *a, **kw):
    t0 = time.perf_counter()
    out = fn(*a, **kw)
    return out, time.perf_counter() - t0


def compare(rows: int, workdir: Path) -> list[dict]:
    from lifetimes.utils import calibration_and_holdout_data, summary_data_from_transaction_data

    from analysis.customers.table import calibration_holdout, customer_table
    from analysis.data import load_source

    src_dir = write_parquet(workdir, rows, 10).parent
    df = generate(rows, 10)
    as_of, cal_end = AS_OF, "2026-04-30"

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


LIFETIMES = """
import sys
import pandas as pd
from lifetimes.utils import summary_data_from_transaction_data
df = pd.read_parquet(sys.argv[1])
s = summary_data_from_transaction_data(df, "customer_id", "timestamp", monetary_value_col="amount",
                                       observation_period_end=sys.argv[2], freq="D")
s.reset_index().to_parquet(sys.argv[3])
"""

BARE = """
import sys
import duckdb
log, as_of, out, memory = sys.argv[1:5]
con = duckdb.connect(config={"memory_limit": memory})
con.execute(f\"\"\"COPY (
    WITH days AS (SELECT customer_id, CAST(timestamp AS DATE) AS day, sum(amount) AS value
                  FROM read_parquet('{log}') WHERE CAST(timestamp AS DATE) <= DATE '{as_of}' GROUP BY ALL)
    SELECT customer_id, count(*) - 1 AS frequency, date_diff('day', min(day), max(day)) AS recency,
           date_diff('day', min(day), DATE '{as_of}') AS T,
           CASE WHEN count(*) > 1 THEN (sum(value) - arg_min(value, day)) / (count(*) - 1) ELSE 0 END
               AS monetary_value
    FROM days GROUP BY customer_id) TO '{out}' (FORMAT PARQUET)\"\"\")
"""


def kanta_command() -> list[str]:
    """``kanta`` beside this Python (the virtualenv's), else ``python -m analysis``."""
    kanta = Path(sys.executable).with_name("kanta")
    return [str(kanta)] if kanta.exists() else [sys.executable, "-m", "analysis"]


def run_process(cmd: list[str]) -> dict:
    """Run ``cmd`` to its end: wall seconds, CPU seconds and peak RSS of that one child (``os.wait4``)."""
    out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=out, stderr=err)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    out.seek(0)
    err.seek(0)
    text, problem = out.read().decode(), err.read().decode()
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {problem.strip()[-2000:]}")
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "peak_gb": usage.ru_maxrss / 2**20,
            "stdout": text}


def median_run(cmd: list[str], repeat: int) -> dict:
    """The run with the median wall time of ``repeat`` runs."""
    runs = sorted((run_process(cmd) for _ in range(repeat)), key=lambda r: r["wall_s"])
    return runs[len(runs) // 2]


def same_rfm(ours: Path, theirs: Path) -> bool:
    """Both files hold the same customers with the same RFM columns."""
    a = pd.read_parquet(ours).assign(customer_id=lambda d: d["customer_id"].astype(np.int64)).set_index("customer_id")
    b = pd.read_parquet(theirs).set_index("customer_id")
    if len(a) != len(b):
        return False
    a = a.loc[b.index]
    return all(np.allclose(a[c].to_numpy(float), b[c].to_numpy(float)) for c in ("frequency", "recency", "T",
                                                                                  "monetary_value"))


def processes(rows: int, workdir: Path, repeat: int) -> dict:
    """Whole processes on one Parquet log: ``kanta customers`` vs lifetimes' summary."""
    log = write_parquet(workdir, rows, 10)
    folder = log.parent
    ours, theirs = folder / "kanta_customers.parquet", folder / "lifetimes_summary.parquet"
    kanta = median_run(kanta_command() + ["customers", str(folder), "--as-of", AS_OF, "--out", str(ours)], repeat)
    life = median_run([sys.executable, "-c", LIFETIMES, str(log), AS_OF, str(theirs)], repeat)
    # the floor: the four RFM columns as one bare DuckDB query in its own process (no checks, no other columns)
    bare = median_run([sys.executable, "-c", BARE, str(log), AS_OF, str(folder / "bare_duckdb.parquet"), "3GB"], repeat)
    return {"rows": rows, "kanta": kanta, "lifetimes": life, "bare": bare, "same_numbers": same_rfm(ours, theirs)}


def big(rows: int, workdir: Path, bare_memory: str) -> dict:
    """Whole processes on a big Parquet log: ``kanta customers`` with default settings vs a bare DuckDB aggregate."""
    t0 = time.perf_counter()
    log = write_parquet(workdir, rows, 20)
    folder = log.parent
    gen_s = time.perf_counter() - t0
    ours, bare_out = folder / "kanta_customers.parquet", folder / "bare_duckdb.parquet"
    kanta = run_process(kanta_command() + ["customers", str(folder), "--as-of", AS_OF, "--out", str(ours)])
    bare = run_process([sys.executable, "-c", BARE, str(log), AS_OF, str(bare_out), bare_memory])
    same = same_rfm(ours, bare_out) if rows <= 20_000_000 else None  # 5M customers through pandas: not worth it
    return {"rows": rows, "generate_s": gen_s, "kanta": kanta, "bare": bare, "customers": int(kanta["stdout"].split()[0]),
            "bare_memory": bare_memory, "same_numbers": same}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=2_000_000, help="rows of the in-process comparison")
    ap.add_argument("--process-rows", type=int, default=10_000_000, help="rows of the whole-process comparison")
    ap.add_argument("--big-rows", type=int, default=100_000_000)
    ap.add_argument("--bare-memory-limit", default="3GB", help="memory limit of the bare DuckDB anchor")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each 10M process (the median is shown)")
    ap.add_argument("--skip-big", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the logs this run generates (later runs reuse them)")
    ap.add_argument("--workdir", default=str(HERE / "_work"), help="where generated logs go (git-ignored)")
    args = ap.parse_args()
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    try:
        results = compare(args.rows, work)
        print(f"\nmachine: {os.cpu_count()} cores; in one process: lifetimes on an in-memory DataFrame, "
              "Kanta from Parquet\n")
        print("| task | lifetimes | Kanta (query) | ratio | Kanta incl. load+validation | ratio | same numbers |")
        print("|---|---|---|---|---|---|---|")
        for r in results:
            print(f"| {r['task']} | {r['lifetimes_s']:.1f} s | {r['kanta_s']:.2f} s | "
                  f"{r['lifetimes_s'] / r['kanta_s']:.0f}x | {r['kanta_with_load_s']:.2f} s | "
                  f"{r['lifetimes_s'] / r['kanta_with_load_s']:.0f}x | {r['same_numbers']} |", flush=True)
        p = processes(args.process_rows, work, args.repeat)
        k, lt = p["kanta"], p["lifetimes"]
        print(f"\nwhole processes on one {p['rows'] / 1e6:g}M-row Parquet log (goal: Kanta at least 10x faster; "
              f"median of {args.repeat})\n")
        print("| process | wall | CPU | peak RSS | lifetimes / Kanta | same numbers |")
        print("|---|---|---|---|---|---|")
        print(f"| lifetimes: pandas.read_parquet + summary_data_from_transaction_data | {lt['wall_s']:.1f} s | "
              f"{lt['cpu_s']:.1f} s | {lt['peak_gb']:.2f} GB | | |")
        print(f"| kanta customers (load, contract checks, table written) | {k['wall_s']:.1f} s | {k['cpu_s']:.1f} s | "
              f"{k['peak_gb']:.2f} GB | {lt['wall_s'] / k['wall_s']:.1f}x | {p['same_numbers']} |", flush=True)
        b = p["bare"]
        print(f"| for scale: bare DuckDB query of the four RFM columns (no checks, no other columns) | {b['wall_s']:.1f} s | "
              f"{b['cpu_s']:.1f} s | {b['peak_gb']:.2f} GB | {lt['wall_s'] / b['wall_s']:.1f}x | |", flush=True)
        ratio = lt["wall_s"] / k["wall_s"]
        print(f"\ngoal {p['rows'] / 1e6:g}M rows, Kanta >= {GOAL_RATIO:g}x lifetimes: {ratio:.1f}x, "
              f"{'met' if ratio >= GOAL_RATIO and p['same_numbers'] else 'NOT met'}", flush=True)
        if not args.skip_big:
            b = big(args.big_rows, work, args.bare_memory_limit)
            k, bare = b["kanta"], b["bare"]
            print(f"\nwhole processes on one {b['rows'] / 1e6:g}M-row Parquet log, {b['customers']:,} customers "
                  "(goal: Kanta under 60 s and 4 GB without flags)\n")
            print("| process | wall | CPU | peak RSS |")
            print("|---|---|---|---|")
            print(f"| bare DuckDB aggregate (RFM columns only, memory_limit {b['bare_memory']}) | "
                  f"{bare['wall_s']:.1f} s | {bare['cpu_s']:.1f} s | {bare['peak_gb']:.2f} GB |")
            print(f"| kanta customers, default settings | {k['wall_s']:.1f} s | {k['cpu_s']:.1f} s | "
                  f"{k['peak_gb']:.2f} GB |", flush=True)
            met = k["wall_s"] < GOAL_BIG_SECONDS and k["peak_gb"] < GOAL_BIG_GB
            print(f"\ngoal {b['rows'] / 1e6:g}M rows without flags, under {GOAL_BIG_SECONDS:g} s and {GOAL_BIG_GB:g} GB: "
                  f"{k['wall_s']:.1f} s, {k['peak_gb']:.2f} GB, {'met' if met else 'NOT met'}", flush=True)
    finally:
        for folder in [] if args.keep else GENERATED:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
