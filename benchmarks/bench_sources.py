"""Loading through a ``.sql`` source definition vs the same data as contract Parquet files.

    .venv/bin/python benchmarks/bench_sources.py [--rows 10000000] [--repeats 3] [--quick]

A line-item export (``InvoiceNo``, ``CustomerID``, ``InvoiceDate``, ``Quantity``, ``UnitPrice``,
a twentieth of the lines without a customer; customers with ``CustID``, ``Created``, ``Area``)
is generated reproducibly with DuckDB under ``benchmarks/_work/`` (hashes of the row number, no
random state, so the same ``--rows`` gives the same bytes). ``kanta.sql`` maps it onto the data
contract: renamed columns, ``Quantity * UnitPrice`` as the amount, lines without a customer left
out. The same rows, already in contract shape, are written as ``transactions.parquet`` and
``customers.parquet``. Each side is loaded (validation included) and turned into the customer
table in a fresh process, the two sides alternating, ``--repeats`` times; the table reports the
median of the customer-table step (load + validation + customer table, inside the process) and of
the whole process (interpreter start and imports included), side by side, as ratios. The goal of
issue 11: the ``.sql`` source costs at most 10 % more.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
AS_OF = "2026-10-31"

DEFINITION = """\
-- A line-item export mapped onto Kanta's data contract (benchmark of issue 11).
CREATE VIEW transactions AS
SELECT LineId AS transaction_id, CustomerID AS customer_id, InvoiceDate AS timestamp,
       Quantity * UnitPrice AS amount
FROM read_parquet('export/lines.parquet')
WHERE CustomerID IS NOT NULL;

CREATE VIEW customers AS
SELECT CustID AS customer_id, Created AS signup_date, Area AS region
FROM read_parquet('export/customers.parquet');
"""


def generate(folder: Path, rows: int) -> None:
    """Write the export, the source definition and the contract Parquet files (skipped when present)."""
    import duckdb

    done = folder / "done.json"
    if done.is_file() and json.loads(done.read_text()).get("rows") == rows:
        return
    (folder / "export").mkdir(parents=True, exist_ok=True)
    (folder / "parquet").mkdir(exist_ok=True)
    n_customers = max(rows // 10, 1)
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = true")
    seconds = 3 * 365 * 86400
    con.execute(f"""
        COPY (
            SELECT 'L' || i AS LineId,
                   'INV' || (i // 3) AS InvoiceNo,
                   CASE WHEN hash(i // 3, 1) % 20 = 0 THEN NULL
                        ELSE 'C' || lpad(CAST(hash(i // 3, 2) % {n_customers} AS VARCHAR), 8, '0') END AS CustomerID,
                   TIMESTAMP '2023-11-01' + to_seconds(CAST(hash(i // 3, 3) % {seconds} AS BIGINT)) AS InvoiceDate,
                   CASE WHEN hash(i, 4) % 50 = 0 THEN -1 ELSE 1 + CAST(hash(i, 5) % 4 AS INTEGER) END AS Quantity,
                   CAST(round(0.5 + (hash(i, 6) % 6000) / 100.0, 2) AS DECIMAL(10, 2)) AS UnitPrice
            FROM range({rows}) AS t(i)
            ORDER BY i
        ) TO '{folder / "export" / "lines.parquet"}' (FORMAT parquet, ROW_GROUP_SIZE 1000000)""")
    regions = "['Uusimaa', 'Pirkanmaa', 'Varsinais-Suomi', 'Pohjois-Pohjanmaa', 'Keski-Suomi', 'Lappi']"
    con.execute(f"""
        COPY (
            SELECT 'C' || lpad(CAST(i AS VARCHAR), 8, '0') AS CustID,
                   DATE '2023-01-01' + CAST(hash(i, 7) % 300 AS INTEGER) AS Created,
                   {regions}[1 + CAST(hash(i, 8) % 6 AS INTEGER)] AS Area
            FROM range({n_customers}) AS t(i)
            ORDER BY i
        ) TO '{folder / "export" / "customers.parquet"}' (FORMAT parquet)""")
    (folder / "kanta.sql").write_text(DEFINITION, encoding="utf-8")
    # The same rows in contract shape, computed by the definition itself.
    con.execute(f"SET file_search_path = '{folder}'")
    for statement in DEFINITION.split(";"):
        if statement.strip():
            con.execute(statement.replace("'export/", f"'{folder}/export/"))
    for table in ("transactions", "customers"):
        con.execute(f"COPY (SELECT * FROM {table}) TO '{folder / 'parquet' / (table + '.parquet')}' "
                    f"(FORMAT parquet, ROW_GROUP_SIZE 1000000)")
    lines, kept = con.execute("SELECT (SELECT count(*) FROM read_parquet(?)), (SELECT count(*) FROM transactions)",
                              [str(folder / "export" / "lines.parquet")]).fetchone()
    done.write_text(json.dumps({"rows": rows, "lines": lines, "transactions": kept, "customers": n_customers}))


def _child(path: str) -> None:
    """One load + customer table, in a process of its own; prints the step's seconds as JSON."""
    t0 = time.perf_counter()
    from analysis.customers.table import customer_table
    from analysis.data import load_source

    t1 = time.perf_counter()
    src = load_source(path, as_of=AS_OF)
    n_tx = src.quality.get("transactions")
    table = customer_table(src, AS_OF)
    t2 = time.perf_counter()
    print(json.dumps({"imports_s": t1 - t0, "customer_table_s": t2 - t1, "customers": len(table),
                      "transactions": n_tx, "spend": round(float(table["total_spend"].sum()), 2)
                      if "total_spend" in table else None}))


def run(path: Path) -> dict:
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, __file__, "--child", str(path)], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if out.returncode:
        raise SystemExit(f"{path}: {out.stderr.strip().splitlines()[-1] if out.stderr.strip() else out.returncode}")
    res = json.loads(out.stdout.strip().splitlines()[-1])
    res["process_s"] = wall
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000_000, help="export lines (default 10M)")
    ap.add_argument("--repeats", type=int, default=3, help="runs of each side, alternating (median reported)")
    ap.add_argument("--quick", action="store_true", help="200,000 lines, one run each: a smoke test")
    ap.add_argument("--workdir", default=str(HERE / "_work" / "sources"))
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(args.child)
        return 0
    rows, repeats = (200_000, 1) if args.quick else (args.rows, args.repeats)
    folder = Path(args.workdir) / f"log_{rows}"
    t0 = time.perf_counter()
    generate(folder, rows)
    facts = json.loads((folder / "done.json").read_text())
    print(f"{rows:,} export lines -> {facts['transactions']:,} transactions of {facts['customers']:,} customers "
          f"(generated or found in {time.perf_counter() - t0:.0f} s); {os.cpu_count()} cores; "
          f"median of {repeats} run(s) per side, alternating\n")
    results: dict[str, list[dict]] = {"parquet": [], "sql": []}
    for _ in range(repeats):
        results["parquet"].append(run(folder / "parquet"))
        results["sql"].append(run(folder / "kanta.sql"))
    a, b = results["parquet"], results["sql"]
    same = {(r["customers"], r["spend"]) for r in a + b}
    print("| step | contract Parquet | .sql source definition | ratio (.sql / Parquet) |")
    print("|---|---|---|---|")
    for key, label in (("customer_table_s", "load + validation + customer table"),
                       ("process_s", "whole process (interpreter, imports, the above)")):
        pa_s, sq_s = statistics.median(r[key] for r in a), statistics.median(r[key] for r in b)
        print(f"| {label} | {pa_s:.2f} s | {sq_s:.2f} s | {sq_s / pa_s:.2f} |")
    print(f"\nsame customer table on both sides: {len(same) == 1} ({a[0]['customers']:,} customers)")
    return 0 if len(same) == 1 else 1


if __name__ == "__main__":
    sys.exit(main())
