"""The classic purchase-model diagnostics (tracking and conditional expectations) on a log simulated from known BG/NBD
parameters: the model's curves must follow what happened."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import clv, customers
from analysis.clv.diagnostics import conditional_expectations, expected_cumulative_repeats, tracking

#: Fader, Hardie & Lee (2005) CDNOW estimates, with alpha in days (weeks x 7).
TRUTH = {"r": 0.243, "alpha": 4.414 * 7, "a": 0.793, "b": 2.426}
START = pd.Timestamp("2024-01-01")
CAL_WEEKS, HOLDOUT_WEEKS = 39, 39


def simulated_log(folder, n: int = 6000, seed: int = 7):
    """A transaction log drawn from BG/NBD: first purchases over 12 weeks, repeat purchases at exponential gaps,
    drop-out after each repeat purchase with the customer's p. A purchase at time t after the first lands on
    day ceil(t), so by the end of day d a customer has been exposed for exactly d days (as the model's t)."""
    rng = np.random.default_rng(seed)
    end = CAL_WEEKS * 7 + HOLDOUT_WEEKS * 7
    birth = rng.integers(0, 84, n)
    lam = rng.gamma(TRUTH["r"], 1 / TRUTH["alpha"], n)
    p = rng.beta(TRUTH["a"], TRUTH["b"], n)
    k = rng.geometric(p)  # the repeat purchase after which the customer leaves
    max_k = 400
    times = np.cumsum(rng.exponential(1.0, (n, max_k)) / lam[:, None], axis=1)
    j = np.arange(1, max_k + 1)[None, :]
    day = birth[:, None] + np.ceil(times)
    keep = (j <= k[:, None]) & (day <= end - 1)
    rows_c, rows_j = np.nonzero(keep)
    ids = np.r_[np.arange(n), rows_c]
    days = np.r_[birth, day[rows_c, rows_j]].astype(int)
    tx = pd.DataFrame({"customer_id": [f"S{i:05d}" for i in ids],
                       "timestamp": (START + pd.to_timedelta(days, unit="D")).strftime("%Y-%m-%d"),
                       "amount": 25.0})
    folder.mkdir(parents=True, exist_ok=True)
    tx.to_csv(folder / "transactions.csv", index=False)
    return folder, START + pd.Timedelta(days=CAL_WEEKS * 7 - 1), START + pd.Timedelta(days=end - 1)


@pytest.fixture(scope="module")
def log(tmp_path_factory):
    return simulated_log(tmp_path_factory.mktemp("bgnbd") / "log")


def test_expected_cumulative_repeats_equal_lifetimes_unconditional_expectation():
    weeks = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    # lifetimes' BetaGeoFitter.expected_number_of_purchases_up_to_time with the same parameters
    assert expected_cumulative_repeats("bgnbd", weeks, [39.0, 78.0]) == pytest.approx([1.1967231933, 1.8605190579])


def test_tracking_with_the_true_parameters_follows_the_simulated_purchases(log):
    folder, cal_end, end = log
    t = tracking(folder, end, "bgnbd", TRUTH, cal_end)
    assert t.attrs["customers"] == 6000 and len(t) == CAL_WEEKS + HOLDOUT_WEEKS
    assert t["holdout"].sum() == HOLDOUT_WEEKS
    total = t["actual_cumulative"].iloc[-1]
    assert t["expected_cumulative"].iloc[-1] == pytest.approx(total, rel=0.05)
    # the whole cumulative curve, not only its end, and the weekly counts on average
    gap = (t["expected_cumulative"] - t["actual_cumulative"]).abs().max()
    assert gap < 0.05 * total
    assert (t["expected"] - t["actual"]).abs().mean() < 0.15 * t["actual"].mean()


def test_tracking_with_the_calibration_fit_forecasts_the_holdout(log):
    folder, cal_end, end = log
    sc, _ = clv.scorecard(folder, end, holdout_months=9, model="bgnbd")
    t = tracking(folder, end, "bgnbd", sc.fit.params, sc.calibration_end)
    holdout = t[t["holdout"]]
    assert holdout["expected"].sum() == pytest.approx(holdout["actual"].sum(), rel=0.10)


def test_conditional_expectations_by_calibration_frequency_follow_the_actual_means(log):
    folder, cal_end, end = log
    cal = customers.calibration_holdout(folder, calibration_end=cal_end, holdout_end=end)
    ce = conditional_expectations(cal, "bgnbd", TRUTH)
    assert ce["frequency_cal"].tolist()[:3] == ["0", "1", "2"] and ce["frequency_cal"].iloc[-1] == "7+"
    assert ce["n"].sum() == len(cal)
    big = ce[ce["n"] >= 150]
    assert len(big) >= 4
    assert np.allclose(big["expected"], big["actual"], rtol=0.15, atol=0.06)
