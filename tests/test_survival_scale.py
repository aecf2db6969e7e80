"""The churn page's work grows with the data, not faster: known answers for the fast paths of survival.

The proportional-hazards check computes scaled Schoenfeld residuals with cumulative sums over the
risk sets (linear) instead of lifelines' row-by-row loop (quadratic: 17 minutes at 150,000 rows);
these tests hold it to lifelines' own residuals and test statistics. Speed itself is measured in
benchmarks/bench_report.py, never asserted here.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from analysis import churn


def _fit(df, duration, event, weights=None):
    from lifelines import CoxPHFitter

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return CoxPHFitter().fit(df, duration, event, weights_col=weights)


def _tied_frame(n=1500, seed=7):
    rng = np.random.default_rng(seed)
    # integer days: many tied churn times, as in the customer data (Efron's tie correction matters)
    return pd.DataFrame({"t": rng.integers(1, 40, n).astype(float), "e": rng.integers(0, 2, n),
                         "spend": rng.normal(size=n), "region": rng.integers(0, 2, n).astype(float),
                         "w": rng.integers(1, 4, n).astype(float)})


@pytest.mark.parametrize("case", ["rossi", "ties", "weights"])
def test_scaled_schoenfeld_residuals_equal_lifelines(case):
    from lifelines.datasets import load_rossi

    if case == "rossi":
        df, args = load_rossi(), ("week", "arrest")
    else:
        df = _tied_frame()
        args = ("t", "e", "w") if case == "weights" else ("t", "e")
        if case == "ties":
            df = df.drop(columns="w")
    cph = _fit(df, *args)
    expected = cph.compute_residuals(df, "scaled_schoenfeld")
    got = churn.scaled_schoenfeld_residuals(cph, df)
    assert list(got.index) == list(expected.index)
    assert list(got.columns) == list(expected.columns)
    np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=1e-9, atol=1e-9)


def test_ph_check_equals_lifelines_test_on_rossi():
    from lifelines.datasets import load_rossi
    from lifelines.statistics import proportional_hazard_test

    df = load_rossi()
    cph = _fit(df, "week", "arrest")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = proportional_hazard_test(cph, df, time_transform="rank").summary
    ph = churn.ph_check(cph, df, 0.01)
    np.testing.assert_allclose(ph.table["p"].to_numpy(), ref.loc[list(cph.params_.index), "p"].to_numpy(), rtol=1e-9)
    np.testing.assert_allclose(ph.table["statistic"].to_numpy(),
                               ref.loc[list(cph.params_.index), "test_statistic"].to_numpy(), rtol=1e-9)
    # lifelines' documented example: 'age' and 'wexp' break proportional hazards on rossi at p < 0.05
    assert set(ph.table.loc[ph.table["p"] < 0.05, "covariate"]) == {"age", "wexp"}


def test_cohort_table_counts_calendar_months_as_periods_do():
    """The cohort table's integer month arithmetic equals pandas Period differences (the former per-row way)."""
    from analysis.data import load_source

    src = load_source("data/sample", as_of="2026-10-31")
    days = churn.purchase_days(src, "2026-10-31")
    table = churn.cohort_retention(src, "2026-10-31", cohort="first_purchase", days=days)
    first = days.groupby("customer_id")["day"].transform("min").dt.to_period("M")
    k = [(p - q).n for p, q in zip(days["day"].dt.to_period("M"), first)]
    expected = (pd.DataFrame({"customer_id": days["customer_id"], "cohort": first.astype(str), "k": k})
                .drop_duplicates(["customer_id", "k"]).groupby(["cohort", "k"]).size().unstack("k"))
    sizes = first.groupby(days["customer_id"]).first().astype(str).value_counts()
    expected = expected.div(sizes.reindex(expected.index), axis=0)
    for cohort in ("2024-01", "2025-06"):
        row = expected.loc[cohort].dropna()
        np.testing.assert_allclose(table.loc[cohort, row.index].to_numpy(dtype=float), row.to_numpy(), rtol=1e-12)


def test_gap_table_in_duckdb_equals_interpurchase_gaps():
    """The churn rule's gaps from DuckDB are the same multiset as interpurchase_gaps of the purchase days."""
    from analysis.data import load_source

    src = load_source("data/sample", as_of="2026-10-31")
    expected = churn.interpurchase_gaps(churn.purchase_days(src, "2026-10-31"))
    got = churn.gap_table(src, "2026-10-31")
    key = ["gap_days", "purchase_number"]
    pd.testing.assert_frame_equal(got[key].astype("int64").sort_values(key).reset_index(drop=True),
                                  expected[key].astype("int64").sort_values(key).reset_index(drop=True))
    assert churn.define_churn(src, "2026-10-31").inactivity_days == 150  # the sample's documented rule
