"""Contractual retention: the sBG model on survivor counts and ``kanta retention``.

Known answers: Fader & Hardie (2007) "How to project customer retention", the regular and the
high-end cohort (1,000 customers each, years 0-12; the model is fitted on years 1-7 and projects
the rest). Published estimates: regular alpha = 0.704, beta = 1.182 (LL -1680.3); high end
alpha = 0.668, beta = 3.806 (LL -1611.2).
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analysis.clv import sbg
from analysis.clv.retention import analyse_retention, survivor_counts, to_counts
from analysis.data import load_source
from analysis.errors import DataError, ModelError

REGULAR = [1000, 631, 468, 382, 326, 289, 262, 241, 223, 207, 194, 183, 173]
HIGH_END = [1000, 869, 743, 653, 593, 551, 517, 491, 468, 445, 427, 409, 394]
PUBLISHED = {"regular": (REGULAR, 0.704, 1.182, -1680.3), "high_end": (HIGH_END, 0.668, 3.806, -1611.2)}


def _sig3(a: float, b: float) -> bool:
    return f"{a:.3g}" == f"{b:.3g}"


# --------------------------------------------------------------------------- the model
@pytest.mark.parametrize("cohort", list(PUBLISHED))
def test_fader_hardie_2007_estimates_to_three_digits(cohort):
    survivors, alpha, beta, ll = PUBLISHED[cohort]
    fit = sbg.fit_survivors(survivors[:8])
    assert _sig3(fit.alpha, alpha) and _sig3(fit.beta, beta)
    assert round(fit.log_likelihood, 1) == ll
    assert fit.converged and fit.periods == 7


@pytest.mark.parametrize("cohort", list(PUBLISHED))
def test_projection_of_years_8_to_12_tracks_what_happened(cohort):
    """F&H's point: fitted on 7 years, the sBG projects years 8-12 within a few points of the actual survivors."""
    survivors = PUBLISHED[cohort][0]
    fit = sbg.fit_survivors(survivors[:8])
    projected = fit.projection(5)
    assert projected["period"].tolist() == [8, 9, 10, 11, 12]
    actual = np.array(survivors[8:]) / 1000
    assert np.abs(projected["survival"].to_numpy() - actual).max() < 0.02
    # survival is the product of the retention rates (eq. 7), an independent route to the same numbers
    t = np.arange(1, 13)
    assert np.allclose(np.cumprod(fit.retention_rate(t)), fit.survival(t), rtol=1e-12)


def test_retention_rate_rises_with_tenure():
    fit = sbg.fit_survivors(REGULAR[:8])
    r = fit.retention_rate(np.arange(1, 20))
    assert np.all(np.diff(r) > 0) and round(float(r[0]), 3) == round(1 - 0.704 / (0.704 + 1.182), 3)


@pytest.mark.parametrize("n", [1, 2, 5, 10])
def test_derl_equals_the_discounted_sum_of_survival(n):
    alpha, beta, d = 0.704, 1.182, 0.1
    t = np.arange(n, 5000)
    series = (sbg.survival(alpha, beta, t) / sbg.survival(alpha, beta, n - 1) / (1 + d) ** (t - n)).sum()
    assert sbg.derl(alpha, beta, d, n) == pytest.approx(series, rel=1e-10)
    assert sbg.residual_value(alpha, beta, d, n - 1, 30.0) == pytest.approx(30.0 * series, rel=1e-10)


def test_holdout_fit_on_seven_years_of_twelve():
    h = sbg.holdout_check(REGULAR, 7)
    assert _sig3(h.fit.alpha, 0.704)
    assert h.comparison["period"].tolist() == [8, 9, 10, 11, 12]
    assert h.mean_absolute_error < 0.01


def test_holdout_on_counts_of_many_cohorts():
    """A base of two cohorts seen for 12 and 8 years, fitted on its first 6: the later survival is projected."""
    c1, e1 = sbg.counts_from_survivors(REGULAR)
    c2, e2 = sbg.counts_from_survivors(HIGH_END[:9])
    churned = c1 + np.pad(c2, (0, 4))
    censored = e1 + np.pad(e2, (0, 4))
    h = sbg.holdout_counts(churned, censored, 6)
    assert h.comparison["period"].tolist() == list(range(7, 13))
    # the same subscribers seen only up to year 6 give the same fit as their survivors up to year 6
    both = np.array(REGULAR[:7]) + np.array(HIGH_END[:7])
    assert h.fit.alpha == pytest.approx(sbg.fit_survivors(both).alpha, rel=1e-6)
    assert h.mean_absolute_error < 0.03
    single = sbg.holdout_counts(*sbg.counts_from_survivors(REGULAR), 7)
    assert single.mean_absolute_error == pytest.approx(sbg.holdout_check(REGULAR, 7).mean_absolute_error)


def test_counts_are_sufficient_statistics():
    """A base ten times larger with the same shares gives the same estimates: cost does not grow with customers."""
    a = sbg.fit_survivors(HIGH_END[:8])
    b = sbg.fit_survivors([10 * s for s in HIGH_END[:8]])
    assert b.alpha == pytest.approx(a.alpha, rel=1e-6) and b.beta == pytest.approx(a.beta, rel=1e-6)
    assert b.alpha_se == pytest.approx(a.alpha_se / np.sqrt(10), rel=1e-3)


def test_one_period_or_no_churn_is_a_model_error():
    with pytest.raises(ModelError) as exc:
        sbg.fit_survivors([100, 80])
    assert exc.value.reason == "too_few_periods"
    with pytest.raises(ModelError) as exc:
        sbg.fit_survivors([100, 100, 100])
    assert exc.value.reason == "no_churn"


def test_seeded_simulation_recovers_alpha_and_beta():
    rng = np.random.default_rng(24)
    alpha, beta, n, K = 0.8, 2.5, 20_000, 8
    life = rng.geometric(rng.beta(alpha, beta, n))  # the period in which each contract ends
    churned = np.bincount(np.minimum(life, K + 1), minlength=K + 2)[1:K + 1].astype(float)
    censored = np.zeros(K + 1)
    censored[K] = (life > K).sum()
    fit = sbg.fit_sbg(churned, censored)
    assert abs(fit.alpha - alpha) < 1.96 * fit.alpha_se and abs(fit.beta - beta) < 1.96 * fit.beta_se


# --------------------------------------------------------------------------- data sources
def _write(folder, customers: pd.DataFrame) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    customers.to_csv(folder / "customers.csv", index=False)
    pd.DataFrame({"customer_id": customers["customer_id"], "timestamp": customers["signup_date"],
                  "amount": 10.0}).to_csv(folder / "transactions.csv", index=False)
    return str(folder)


def _cohort(prefix: str, signup: str, survivors) -> pd.DataFrame:
    """Customers whose contracts end 100 days into the year in which F&H's counts drop (later ones still run)."""
    rows, lost = [], -np.diff(survivors)
    for t, k in enumerate(lost, start=1):
        end = (pd.Timestamp(signup) + pd.DateOffset(years=t - 1) + pd.Timedelta(days=100)).date()
        rows += [end] * int(k)
    rows += [None] * int(survivors[-1])
    return pd.DataFrame({"customer_id": [f"{prefix}{i}" for i in range(len(rows))], "signup_date": signup,
                         "churn_date": rows})


@pytest.fixture(scope="module")
def fh_source(tmp_path_factory):
    """Both F&H cohorts over 12 years: regular signed up in 2000, high end in 2001."""
    c = pd.concat([_cohort("R", "2000-01-01", REGULAR), _cohort("H", "2001-01-01", HIGH_END)])
    return _write(tmp_path_factory.mktemp("fh"), c)


def test_cohort_counts_come_from_duckdb_as_survivors(fh_source):
    src = load_source(fh_source, as_of="2008-06-30")
    rows = survivor_counts(src, src.as_of, "year")
    regular = rows[rows["cohort"] == pd.Timestamp("2000-01-01")]
    churned, censored = to_counts(regular)
    assert len(rows) <= 2 * 9 + 2  # one row per cohort, tenure and outcome: not per customer
    assert (1000 - churned.cumsum()).tolist() == REGULAR[1:9] and censored[-1] == REGULAR[8]


def test_cli_reproduces_both_cohorts(fh_source, run_cli, tmp_path):
    """As of mid-2008 the 2001 (high-end) cohort has 7 complete years, the 2000 (regular) one 8."""
    out = tmp_path / "retention.json"
    code, stdout, _ = run_cli("retention", fh_source, "--as-of", "2008-06-30", "--period", "year", "--out", out)
    assert code == 0 and "2 year cohorts" in stdout
    res = json.loads(out.read_text())
    assert set(res) >= {"sbg", "projected_survival", "cohorts"}
    cohorts = {c["cohort"]: c for c in res["cohorts"]}
    high = cohorts["2001"]
    assert high["customers"] == 1000 and _sig3(high["alpha"], 0.668) and _sig3(high["beta"], 3.806)
    assert np.allclose(np.array(high["survival_observed"]) * 1000, HIGH_END[:8])
    assert high["survival_projected"] == pytest.approx(list(sbg.survival(high["alpha"], high["beta"], range(8, 13))))
    regular = cohorts["2000"]
    fit8 = sbg.fit_survivors(REGULAR[:9])
    assert regular["alpha"] == pytest.approx(fit8.alpha, rel=1e-6) and len(regular["survival_projected"]) == 5
    # the base: both cohorts together, projected from the first period no subscriber has reached
    assert res["first_projected_period"] == 9 and len(res["projected_survival"]) >= 5
    assert 0 < res["projected_survival"][-1] < res["projected_survival"][0] < res["survival_observed"][-1]


def test_cli_on_regular_cohort_alone_gives_published_fit(tmp_path, run_cli):
    src = _write(tmp_path / "regular", _cohort("R", "2000-01-01", REGULAR))
    out = tmp_path / "r.json"
    assert run_cli("retention", src, "--as-of", "2007-06-30", "--out", out)[0] == 0
    res = json.loads(out.read_text())
    assert _sig3(res["sbg"]["alpha"], 0.704) and _sig3(res["sbg"]["beta"], 1.182)
    assert res["first_projected_period"] == 8
    assert np.abs(np.array(res["projected_survival"]) - np.array(REGULAR[8:]) / 1000).max() < 0.01
    assert res["holdout"]["calibration_periods"] == 5
    assert [r["period"] for r in res["holdout"]["comparison"]] == [6, 7]
    assert res["holdout"]["alpha"] == pytest.approx(sbg.fit_survivors(REGULAR[:6]).alpha, rel=1e-6)
    derl = {r["tenure"]: r["derl"] for r in res["residual"]}
    assert derl[2] == pytest.approx(float(sbg.derl(res["sbg"]["alpha"], res["sbg"]["beta"], 0.1, 3)))


def test_young_cohort_is_a_finding_not_a_crash(tmp_path, run_cli):
    young = pd.DataFrame({"customer_id": ["Y1", "Y2"], "signup_date": "2007-03-01", "churn_date": [None, "2007-05-01"]})
    src = _write(tmp_path / "young", pd.concat([_cohort("R", "2000-01-01", REGULAR), young]))
    out = tmp_path / "r.json"
    assert run_cli("retention", src, "--as-of", "2007-06-30", "--out", out)[0] == 0
    cohorts = {c["cohort"]: c for c in json.loads(out.read_text())["cohorts"]}
    assert cohorts["2007"]["alpha"] is None and cohorts["2007"]["finding"]["reason"] == "too_few_periods"
    assert cohorts["2007"]["survival_projected"] == []


def test_monthly_cohorts_recover_the_simulated_truth(tmp_path):
    """Signups spread over 4 years, contracts ending on random days: the SQL's tenure counting is right
    when the base's intervals cover the alpha and beta the contracts were drawn from."""
    rng = np.random.default_rng(7)
    alpha, beta, n = 0.6, 4.0, 12_000
    month = np.datetime64("2021-01") + rng.integers(0, 48, n)  # signup month, then a day 1-14 in it
    day = rng.integers(0, 14, n)
    life = np.minimum(rng.geometric(rng.beta(alpha, beta, n)), 120)  # past as_of either way: still running
    signup = month.astype("datetime64[D]") + day
    # a contract ending in period k ends after signup + (k - 1) months and before signup + k months
    end = (month + (life - 1)).astype("datetime64[D]") + day + rng.integers(1, 15, n)
    c = pd.DataFrame({"customer_id": [f"S{i}" for i in range(n)], "signup_date": signup, "churn_date": end})
    res = analyse_retention(_write(tmp_path / "sim", c), "2024-12-31", "month")
    fit = res.base.fit
    assert abs(fit.alpha - alpha) < 1.96 * fit.alpha_se and abs(fit.beta - beta) < 1.96 * fit.beta_se
    assert len(res.cohorts) == 48


# --------------------------------------------------------------------------- bad input
def test_no_churn_date_column_is_one_sentence(tmp_path, run_cli):
    src = _write(tmp_path / "nochurn", pd.DataFrame({"customer_id": ["a", "b"], "signup_date": "2020-01-01"}))
    out = tmp_path / "r.json"
    code, _, err = run_cli("retention", src, "--as-of", "2022-01-01", "--out", out)
    assert code == 2 and err.startswith("kanta: customers: no churn_date column") and err.count("\n") == 1
    assert not out.exists()


def test_churn_before_signup_is_one_sentence(tmp_path, run_cli):
    c = pd.DataFrame({"customer_id": ["a", "b"], "signup_date": "2020-01-01", "churn_date": [None, "2019-05-01"]})
    out = tmp_path / "r.json"
    code, _, err = run_cli("retention", _write(tmp_path / "bad", c), "--as-of", "2022-01-01", "--out", out)
    assert code == 2 and "customers.churn_date: 1 rows end before their signup_date" in err and "customer b" in err
    assert not out.exists()


def test_bad_period_and_output_are_refused(tmp_path, run_cli, fh_source):
    with pytest.raises(SystemExit) as exc:
        run_cli("retention", fh_source, "--as-of", "2008-06-30", "--period", "week", "--out", tmp_path / "r.json")
    assert exc.value.code == 2
    code, _, err = run_cli("retention", fh_source, "--as-of", "2008-06-30", "--out", tmp_path / "r.csv")
    assert code == 2 and "--out" in err


def test_analyse_retention_refuses_without_contract_dates(sample_dir):
    with pytest.raises(DataError, match="churn_date"):
        analyse_retention(sample_dir, "2026-10-31")
