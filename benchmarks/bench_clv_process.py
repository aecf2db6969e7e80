"""``kanta clv`` as a whole process against the same job written with lifetimes, side by side in one run.

    .venv/bin/python benchmarks/bench_clv_process.py [--customers 200000] [--runs 3]

The job, both ways: read the demo's transactions, build frequency / recency / T / monetary value at
``as_of``, fit BG/NBD and Gamma-Gamma, score P(alive) and 12-month CLV at 1 % a month, write one CSV
row per customer. Kanta also validates the data contract, values on margin (the report's basis) and
pseudonymises; lifetimes does none of that. The demo is generated into a temporary folder.
Times are whole processes (start-up and imports included) measured by ``farm-bench`` when it is on the
PATH (pairs A/B, median), else by this script's own clock (median of ``--runs``).
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

AS_OF = "2026-10-31"

LIFETIMES_JOB = '''
import sys, warnings
warnings.simplefilter("ignore")
import pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter
from lifetimes.utils import summary_data_from_transaction_data
src, out = sys.argv[1], sys.argv[2]
tx = pd.read_parquet(src + "/transactions.parquet", columns=["customer_id", "timestamp", "amount"])
tx = tx[tx["timestamp"] < "2026-11-01"]
rfm = summary_data_from_transaction_data(tx, "customer_id", "timestamp", monetary_value_col="amount",
                                         observation_period_end="2026-10-31", freq="D")
bg = BetaGeoFitter().fit(rfm["frequency"], rfm["recency"], rfm["T"])
rep = rfm[(rfm["frequency"] > 0) & (rfm["monetary_value"] > 0)]
gg = GammaGammaFitter().fit(rep["frequency"], rep["monetary_value"])
rfm["p_alive"] = bg.conditional_probability_alive(rfm["frequency"], rfm["recency"], rfm["T"])
rfm["clv"] = gg.customer_lifetime_value(bg, rfm["frequency"], rfm["recency"], rfm["T"], rfm["monetary_value"],
                                        time=12, discount_rate=0.01, freq="D")
rfm.to_csv(out)
'''


def own_clock(cmd: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--customers", type=int, default=200_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="20,000 customers, one run (a smoke test)")
    args = ap.parse_args()
    if args.quick:
        args.customers, args.runs = 20_000, 1
    bin_dir = Path(sys.executable).parent
    with tempfile.TemporaryDirectory() as tmp:
        demo = Path(tmp) / "demo"
        subprocess.run([str(bin_dir / "kanta"), "demo-data", "--out", str(demo), "--customers", str(args.customers)],
                       check=True, stdout=subprocess.DEVNULL)
        job = Path(tmp) / "lifetimes_job.py"
        job.write_text(LIFETIMES_JOB, encoding="utf-8")
        kanta = [str(bin_dir / "kanta"), "clv", str(demo), "--as-of", AS_OF, "--model", "bgnbd",
                 "--out", str(Path(tmp) / "kanta.csv")]
        lifetimes = [sys.executable, str(job), str(demo), str(Path(tmp) / "lifetimes.csv")]
        if shutil.which("farm-bench"):
            res = subprocess.run(["farm-bench", "-n", str(args.runs), "--timeout", "1800",
                                  "--vs", " ".join(lifetimes), "--", *kanta], capture_output=True, text=True)
            print(res.stdout)
            return res.returncode
        k, lt = own_clock(kanta, args.runs), own_clock(lifetimes, args.runs)
        print(f"| job | lifetimes | kanta clv | ratio |\n|---|---|---|---|\n"
              f"| BG/NBD + Gamma-Gamma CLV, {args.customers:,} customers, whole process | {lt:.1f} s | {k:.1f} s | "
              f"{lt / k:.1f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
