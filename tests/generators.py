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
