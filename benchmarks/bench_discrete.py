"""sBG and BG/BB at scale: both fit on counts, so their cost does not grow with customers.

    .venv/bin/python benchmarks/bench_discrete.py [--customers 1000000] [--quick]

BG/BB: draws weekly buyers (first purchase in one of 104 weeks, so histories of 0-103 weekly
opportunities) from known parameters, compresses them to distinct ``(x, t_x, n)`` rows and times
the fit and the scoring (P(alive), expected and discounted transactions in the next 13 weeks);
lifetimes' BetaGeoBetaBinomFitter is timed on the same compressed rows with weights. sBG: draws
subscribers signing up over 60 months and times the counts and the fit. Both are run at a tenth
of the size too, to show the time does not follow the number of customers. Prints a Markdown table.
"""
from __future__ import annotations

import argparse
import time
import warnings

import lifetimes  # noqa: F401  (the oracle; imported before timing: its import takes seconds)
import numpy as np
import pandas as pd

from analysis.clv import bgbb, sbg

TRUE_BGBB = {"alpha": 1.2, "beta": 3.0, "gamma": 0.3, "delta": 8.0}
TRUE_SBG = {"alpha": 0.7, "beta": 3.0}


def bgbb_rows(m: int, weeks: int = 104, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    p = rng.beta(TRUE_BGBB["alpha"], TRUE_BGBB["beta"], m)
    theta = rng.beta(TRUE_BGBB["gamma"], TRUE_BGBB["delta"], m)
    n = rng.integers(0, weeks, m)
    alive = np.ones(m, bool)
    x, t_x = np.zeros(m, int), np.zeros(m, int)
    for k in range(1, weeks):
        alive &= rng.random(m) >= theta
        buy = alive & (k <= n) & (rng.random(m) < p)
        x += buy
        t_x = np.where(buy, k, t_x)
    return pd.DataFrame({"x": x, "t_x": t_x, "n": n})


def time_bgbb(m: int, oracle: bool = True) -> dict:
    t = bgbb_rows(m)
    t0 = time.perf_counter()
    rows = t.value_counts().reset_index(name="w")
    fit = bgbb.fit_bgbb(rows["x"], rows["t_x"], rows["n"], rows["w"])
    t1 = time.perf_counter()
    bgbb.p_alive(fit.params, rows["x"], rows["t_x"], rows["n"])
    bgbb.discounted_transactions(fit.params, 13, 0.002, rows["x"], rows["t_x"], rows["n"])
    t2 = time.perf_counter()
    from lifetimes import BetaGeoBetaBinomFitter  # local: the oracle, timed on its own

    agree, s0, s1 = "not run", 0.0, float("nan")
    if oracle:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            s0 = time.perf_counter()
            try:
                lt = BetaGeoBetaBinomFitter().fit(rows["x"], rows["t_x"], rows["n"], weights=rows["w"])
                agree = max(abs(fit.params[k] / lt.params_[k] - 1) for k in bgbb.PARAMS)
            except Exception as exc:  # lifetimes raises its own ConvergenceError: the table says so
                agree = f"lifetimes failed: {type(exc).__name__}"
            s1 = time.perf_counter()
    return {"model": "BG/BB (weekly, 104 weeks)", "customers": m, "distinct_rows": len(rows),
            "fit_s": t1 - t0, "score_s": t2 - t1, "lifetimes_fit_s": s1 - s0, "max_rel_diff_vs_lifetimes": agree,
            **{k: round(v, 3) for k, v in fit.params.items()}}


def time_sbg(m: int, months: int = 60, seed: int = 2) -> dict:
    rng = np.random.default_rng(seed)
    life = rng.geometric(rng.beta(TRUE_SBG["alpha"], TRUE_SBG["beta"], m))
    observed = rng.integers(0, months, m)  # complete months since signup at as_of
    t0 = time.perf_counter()
    ended = life <= observed
    churned = np.bincount(life[ended], minlength=months + 1)[1:months].astype(float)
    censored = np.bincount(observed[~ended], minlength=months).astype(float)
    fit = sbg.fit_sbg(churned, censored)
    t1 = time.perf_counter()
    return {"model": "sBG (monthly, 60 cohorts)", "customers": m, "distinct_rows": 2 * months, "fit_s": t1 - t0,
            "score_s": 0.0, "lifetimes_fit_s": float("nan"), "max_rel_diff_vs_lifetimes": float("nan"),
            "alpha": round(fit.alpha, 3), "beta": round(fit.beta, 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--quick", action="store_true", help="100,000 customers (a smoke test)")
    ap.add_argument("--lifetimes", action="store_true", help="also time lifetimes' BG/BB (minutes, often no convergence)")
    args = ap.parse_args()
    m = 100_000 if args.quick else args.customers
    cols = ["model", "customers", "distinct_rows", "fit_s", "score_s", "lifetimes_fit_s", "max_rel_diff_vs_lifetimes"]
    print("| " + " | ".join(cols) + " | estimates |\n|" + "---|" * (len(cols) + 1), flush=True)
    for size in (m // 10, m):
        for row in (time_sbg(size), time_bgbb(size, oracle=args.lifetimes)):
            est = {k: row[k] for k in ("alpha", "beta", "gamma", "delta") if k in row}
            cells = [f"{row[c]:.3g}" if isinstance(row[c], float) else str(row[c]) for c in cols]
            print("| " + " | ".join(cells) + f" | {est} |", flush=True)
    print(f"\ntruth: BG/BB {TRUE_BGBB}, sBG {TRUE_SBG}")


if __name__ == "__main__":
    main()
