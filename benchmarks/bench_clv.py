"""CLV at scale: Kanta's own likelihoods (compressed rows, warm start) vs lifetimes on the uncompressed table, in one run.

    .venv/bin/python benchmarks/bench_clv.py [--customers 1000000] [--lifetimes-customers N] [--quick]

Draws a customer table from BG/NBD + Gamma-Gamma (``analysis.clv.simulate_rfm``, whole days,
three years), then times fit + score (P(alive), 12-month CLV at 1 % a month) of BG/NBD and
Gamma-Gamma both ways, checks the two agree, and prints a Markdown table for the README.
lifetimes is first timed on 100,000 customers; if that extrapolates beyond five minutes for
the full size it is measured on ``--lifetimes-customers`` only (and the table says so).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import time
import warnings

import lifetimes  # noqa: F401  (the oracle, a dev dependency; imported before timing: its import takes seconds)
import numpy as np

from analysis import clv

TRUE_BG = {"r": 0.6, "alpha": 20.0, "a": 0.8, "b": 6.0}
TRUE_GG = {"p": 3.0, "q": 4.0, "v": 20.0}
LIMIT_S = 300.0


def table(n: int, seed: int = 1):
    T = np.random.default_rng(seed).integers(1, 3 * 365 + 1, n).astype(float)
    t = clv.simulate_rfm(T, TRUE_BG, TRUE_GG, seed=seed + 1)
    t["recency"] = np.minimum(np.floor(t["recency"]), t["T"])  # whole days, as the customer table gives
    return t


def kanta(t) -> tuple[dict, object]:
    t0 = time.perf_counter()
    model = clv.CLVModel(time_unit="D", model="bgnbd").fit(t)
    t1 = time.perf_counter()
    values = model.predict(t, horizon_months=12, discount_rate=0.01, days_per_month=30.0)
    t2 = time.perf_counter()
    return {"fit_s": t1 - t0, "score_s": t2 - t1, "total_s": t2 - t0, "rows": model.purchase_.n_rows,
            "bgnbd": model.purchase_.params, "gamma_gamma": model.gamma_gamma_.params}, values


def lifetimes_side(t) -> tuple[dict, np.ndarray]:
    from lifetimes import BetaGeoFitter, GammaGammaFitter

    f, r, T, m = (t[c] for c in ("frequency", "recency", "T", "monetary_value"))
    rep = f > 0
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        bg = BetaGeoFitter().fit(f, r, T)
        gg = GammaGammaFitter().fit(f[rep], m[rep])
        t1 = time.perf_counter()
        bg.conditional_probability_alive(f, r, T)
        value = gg.customer_lifetime_value(bg, f, r, T, m, time=12, discount_rate=0.01, freq="D")
        t2 = time.perf_counter()
    return {"fit_s": t1 - t0, "score_s": t2 - t1, "total_s": t2 - t0, "rows": len(t),
            "bgnbd": dict(bg.params_), "gamma_gamma": dict(gg.params_)}, value.to_numpy()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--lifetimes-customers", type=int, default=None,
                    help="customers for the lifetimes side (default: same as --customers unless too slow)")
    ap.add_argument("--pareto-customers", type=int, default=200_000, help="customers for the Pareto/NBD timing")
    ap.add_argument("--quick", action="store_true", help="50,000 customers (smoke test)")
    args = ap.parse_args()
    n = 50_000 if args.quick else args.customers
    if args.quick:
        args.pareto_customers = 20_000

    t = table(n)
    ours, values = kanta(t)

    n_lt = args.lifetimes_customers or n
    note = ""
    if n_lt > 100_000 and args.lifetimes_customers is None:
        probe, _ = lifetimes_side(t.iloc[:100_000])
        estimate = probe["total_s"] * n_lt / 100_000
        if estimate > LIMIT_S:
            n_lt = 100_000
            note = f" (full size would take ~{estimate:.0f} s; measured on 100,000)"
    sub = t.iloc[:n_lt]
    theirs, their_clv = lifetimes_side(sub)
    if n_lt == n:
        ours_same = ours
        ours_clv = values["clv"].to_numpy()
    else:
        ours_same, v = kanta(sub)
        ours_clv = v["clv"].to_numpy()

    diff_params = max(abs(ours_same[k][p] / theirs[k][p] - 1) for k in ("bgnbd", "gamma_gamma") for p in ours_same[k])
    diff_clv = float(np.max(np.abs(ours_clv - their_clv)) / np.max(np.abs(their_clv)))

    print(f"Customers: {n:,}; distinct (frequency, recency, T) rows: {ours['rows']:,}; "
          f"12-month CLV, 30-day months for comparability with lifetimes.\n")
    print("| | customers | rows fitted | fit (s) | score (s) | total (s) |")
    print("|---|---:|---:|---:|---:|---:|")
    print(f"| Kanta (compressed, warm start) | {n:,} | {ours['rows']:,} | {ours['fit_s']:.1f} | "
          f"{ours['score_s']:.1f} | **{ours['total_s']:.1f}** |")
    if n_lt != n:
        print(f"| Kanta (same customers as lifetimes) | {n_lt:,} | {ours_same['rows']:,} | "
              f"{ours_same['fit_s']:.1f} | {ours_same['score_s']:.1f} | {ours_same['total_s']:.1f} |")
    print(f"| lifetimes 0.11.3 (uncompressed){note} | {n_lt:,} | {theirs['rows']:,} | {theirs['fit_s']:.1f} | "
          f"{theirs['score_s']:.1f} | {theirs['total_s']:.1f} |")
    print(f"\nSpeed-up on the same customers: {theirs['total_s'] / ours_same['total_s']:.1f}x. "
          f"Largest relative parameter difference: {diff_params:.1e}; largest CLV difference: "
          f"{diff_clv:.1e} of the largest CLV.")
    tp = table(args.pareto_customers, seed=5)
    t0 = time.perf_counter()
    pareto = clv.CLVModel(time_unit="D", model="pareto_nbd").fit(tp)
    pareto.predict(tp, horizon_months=12, discount_rate=0.01)
    pareto_s = time.perf_counter() - t0
    print(f"Pareto/NBD + Gamma-Gamma fit + score on {len(tp):,} customers ({pareto.purchase_.n_rows:,} distinct rows): "
          f"{pareto_s:.1f} s (goal < 10 s).")
    print(f"Kanta's fitted BG/NBD {fmt(ours['bgnbd'])} (truth {fmt(TRUE_BG)}); "
          f"Gamma-Gamma {fmt(ours['gamma_gamma'])} (truth {fmt(TRUE_GG)}).")
    return 0


def fmt(d: dict) -> str:
    return ", ".join(f"{k}={v:.3g}" for k, v in d.items())


if __name__ == "__main__":
    raise SystemExit(main())
