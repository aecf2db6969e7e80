"""Benchmark: the full monthly report on the default demo data (goal: under 120 s on 2 cores).

Run ``.venv/bin/python benchmarks/bench_report.py [--data data/demo] [--period YYYY-MM] [--jobs N]``; it
builds the demo data when missing, renders into ``benchmarks/_work/reports`` and prints the time per
notebook (``--quick``: the committed sample instead, a smoke test).
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    from analysis import report

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT / "data" / "demo"))
    ap.add_argument("--period", default=None)
    ap.add_argument("--lang", default="en", choices=["en", "fi"])
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "_work" / "reports"))
    ap.add_argument("--jobs", type=int, default=None, help="notebooks at the same time (default 2)")
    ap.add_argument("--quick", action="store_true", help="smoke test on the committed 2,000-customer sample")
    args = ap.parse_args(argv)

    data = ROOT / "data" / "sample" if args.quick else Path(args.data)
    t0 = time.perf_counter()
    report.ensure_demo_data(data)
    build_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    landing = report.build_report(args.period, data=data, out=args.out, language=args.lang, quiet=True,
                                  jobs=args.jobs)
    total_s = time.perf_counter() - t0
    m = json.loads((landing.parent / "manifest.json").read_text(encoding="utf-8"))

    rows = [(n["name"], n["duration_s"]) for n in m["notebooks"]]
    rows += [(f"experiment {e['experiment_id']}", e["duration_s"]) for e in m.get("experiment_reports", [])]
    rows.insert(0, ("customer base (computed once, read by every page)", m["customer_base"]["duration_s"]))
    jobs = args.jobs or report.default_jobs()
    print(f"monthly report {m['period']} on {m['data']['source']} ({os.cpu_count()} cores, {jobs} notebooks at a time)"
          + (f", demo data built first in {build_s:.1f} s" if build_s > 1 else ""))
    print(f"| step | seconds |\n|---|---:|")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.1f} |")
    print(f"| **total (kanta report, wall clock)** | **{total_s:.1f}** |")
    print(f"goal < 120 s: {'met' if total_s < 120 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
