"""Customer bases the project did not fit its models to: shapes that real logs have.

Each generator writes a source folder (CSV) and returns its path. They are small on purpose: the
point is the shape (no drop-out, one-time buyers, a customer missing from ``customers``, a
one-arm experiment), not the size.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd


def no_dropout_base(folder: Path, n_customers: int = 400, start: str = "2024-11-01", end: str = "2026-10-31",
                    seed: int = 7) -> Path:
    """Poisson buyers who never leave (gamma-distributed rates, no drop-out process): BG/NBD runs to its boundary."""
    rng = np.random.default_rng(seed)
    start_ts, end_ts = pd.Timestamp(start), pd.Timestamp(end)
    days = (end_ts - start_ts).days
    rows = []
    signup = start_ts + pd.to_timedelta(rng.integers(0, 60, n_customers), unit="D")
    rate = rng.gamma(2.0, 1 / 40, n_customers)  # about one purchase every 20 days
    for i in range(n_customers):
        span = (end_ts - signup[i]).days
        k = max(1, rng.poisson(rate[i] * span))
        offsets = np.sort(rng.integers(0, span + 1, k))
        for d in offsets:
            rows.append((f"N{i:05d}", (signup[i] + pd.Timedelta(days=int(d))).date().isoformat(),
                         round(float(rng.gamma(4, 5)), 2)))
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=["customer_id", "timestamp", "amount"]).to_csv(folder / "transactions.csv", index=False)
    regions = np.array(["Uusimaa", "Pirkanmaa", "Varsinais-Suomi"])
    pd.DataFrame({"customer_id": [f"N{i:05d}" for i in range(n_customers)],
                  "signup_date": [s.date().isoformat() for s in signup],
                  "region": regions[rng.integers(0, 3, n_customers)],
                  "marketing_permission": rng.random(n_customers) < 0.7}).to_csv(folder / "customers.csv", index=False)
    assert days > 0
    return folder


def awkward_sample(sample: Path, folder: Path) -> Path:
    """The committed sample with three things real data has: a buyer missing from ``customers``, a region
    level of one customer, and the experiment that ends in October 2026 run on one arm only."""
    shutil.copytree(sample, folder)
    customers = pd.read_csv(folder / "customers.csv", dtype=str)
    tx = pd.read_csv(folder / "transactions.csv", dtype={"customer_id": str})
    buyers = sorted(set(tx["customer_id"]))
    customers = customers[customers["customer_id"] != buyers[0]].copy()
    customers.loc[customers["customer_id"] == buyers[1], "region"] = "Ahvenanmaa"
    customers.to_csv(folder / "customers.csv", index=False)
    a = pd.read_csv(folder / "assignments.csv", dtype=str)
    one = a["experiment_id"] == "newsletter-2026-09"
    control = a.loc[one, "variant"].iloc[0]
    a.loc[one, "variant"] = control
    if "is_control" in a:
        a.loc[one, "is_control"] = a.loc[one & (a["variant"] == control), "is_control"].iloc[0]
    a = a[a["customer_id"] != buyers[0]]
    a.to_csv(folder / "assignments.csv", index=False)
    return folder


def _write(folder: Path, rows: list, customer_ids, signup) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=["customer_id", "timestamp", "amount"]).to_csv(folder / "transactions.csv", index=False)
    pd.DataFrame({"customer_id": list(customer_ids),
                  "signup_date": [pd.Timestamp(s).date().isoformat() for s in signup]}).to_csv(
        folder / "customers.csv", index=False)
    return folder


def _buyers(rng, n, first, end, rate, dropout, spend, prefix, season=None):
    """Transactions of BG/NBD-like buyers: first purchase on ``first[i]``, Poisson repeats at ``rate[i]``
    (per day, times ``season(day)`` when given, by thinning), drop-out with chance ``dropout`` after each."""
    rows = []
    for i in range(n):
        day = pd.Timestamp(first[i])
        rows.append((f"{prefix}{i:05d}", day.date().isoformat(), spend(i)))
        while True:
            day += pd.Timedelta(days=max(1, int(min(rng.exponential(1 / rate[i]), 10_000))))
            if day > end or rng.random() < dropout:
                break
            if season is not None and rng.random() > season(day):
                continue
            rows.append((f"{prefix}{i:05d}", day.date().isoformat(), spend(i)))
    return rows


def one_time_buyers_base(folder: Path, n_customers: int = 4000, end: str = "2026-10-31", seed: int = 11) -> Path:
    """A web shop: about 95 % of customers buy once and never again (two years of acquisition)."""
    rng = np.random.default_rng(seed)
    end_ts = pd.Timestamp(end)
    first = end_ts - pd.to_timedelta(rng.integers(0, 730, n_customers), unit="D")
    repeaters = rng.random(n_customers) < 0.05
    rate = np.where(repeaters, rng.gamma(2.0, 1 / 60, n_customers), 1e-9)
    rows = _buyers(rng, n_customers, first, end_ts, rate, 0.15, lambda i: round(float(rng.gamma(3, 15)), 2), "W")
    return _write(folder, rows, [f"W{i:05d}" for i in range(n_customers)], first)


def single_cohort_base(folder: Path, n_customers: int = 1500, start: str = "2025-01-01", end: str = "2026-10-31",
                       seed: int = 12) -> Path:
    """Everyone joined in the same week (a launch): every customer has the same age T."""
    rng = np.random.default_rng(seed)
    first = pd.Timestamp(start) + pd.to_timedelta(rng.integers(0, 7, n_customers), unit="D")
    rows = _buyers(rng, n_customers, first, pd.Timestamp(end), rng.gamma(0.8, 1 / 25, n_customers), 0.12,
                   lambda i: round(float(rng.gamma(4, 10)), 2), "K")
    return _write(folder, rows, [f"K{i:05d}" for i in range(n_customers)], first)


def seasonal_base(folder: Path, n_customers: int = 1500, end: str = "2026-10-31", seed: int = 13) -> Path:
    """Strong seasonality: purchases mostly in November-December (a tenth of the rate the rest of the year)."""
    rng = np.random.default_rng(seed)
    end_ts = pd.Timestamp(end)
    first = end_ts - pd.to_timedelta(rng.integers(30, 1000, n_customers), unit="D")
    rows = _buyers(rng, n_customers, first, end_ts, rng.gamma(1.0, 1 / 15, n_customers), 0.08,
                   lambda i: round(float(rng.gamma(4, 12)), 2), "S",
                   season=lambda d: 1.0 if d.month in (11, 12) else 0.1)
    return _write(folder, rows, [f"S{i:05d}" for i in range(n_customers)], first)


#: Average purchase of the extreme spenders in :func:`extreme_spenders_base` (the larger just under the
#: largest amount a source accepts, :data:`analysis.data.engine.MONEY_LIMIT`: money is summed as exact decimals).
EXTREME_SPEND = (2.5e6, 9e13)


def extreme_spenders_base(folder: Path, n_customers: int = 1500, end: str = "2026-10-31", seed: int = 14) -> Path:
    """An ordinary base plus two repeat customers whose purchases are absurdly large (a data slip, a B2B account)."""
    rng = np.random.default_rng(seed)
    end_ts = pd.Timestamp(end)
    first = end_ts - pd.to_timedelta(rng.integers(100, 700, n_customers), unit="D")
    rows = _buyers(rng, n_customers, first, end_ts, rng.gamma(1.0, 1 / 30, n_customers), 0.1,
                   lambda i: round(float(rng.gamma(4, 10)), 2), "X")
    for j, value in enumerate(EXTREME_SPEND):
        for day in ("2026-03-02", "2026-05-04", "2026-08-03"):
            rows.append((f"XX{j}", day, value))
    ids = [f"X{i:05d}" for i in range(n_customers)] + [f"XX{j}" for j in range(len(EXTREME_SPEND))]
    return _write(folder, rows, ids, list(first) + [pd.Timestamp("2026-03-02")] * len(EXTREME_SPEND))
