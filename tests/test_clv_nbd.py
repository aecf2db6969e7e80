"""No drop-out is a model (NBD), drop-out is decided by a likelihood-ratio test, auto states its rule and follows it.

Known answers: the NBD likelihood computed independently with scipy, chi-square tail areas, the drop-out
models' limits; real data: lifetimes' CDNOW and the UCI Online Retail log (tests/data/online_retail).
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import gammaln
from scipy.stats import chi2

from analysis import clv
from analysis.clv import likelihoods as pm
from analysis.clv.fitting import FitResult, describe_boundary
from analysis.errors import ModelError
from generators import no_dropout_base

ROOT = Path(__file__).resolve().parents[1]
RETAIL = ROOT / "tests" / "data" / "online_retail" / "kanta.sql"


def _rows(n=300, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.poisson(3, n).astype(float)
    T = rng.uniform(20, 60, n)
    return x, np.where(x > 0, T * rng.uniform(size=n), 0.0), T, np.ones(n)


# --------------------------------------------------------------------------- the NBD likelihood
def test_nbd_loglik_is_the_gamma_poisson_density_of_purchase_times():
    x, tx, T, w = _rows()
    r, alpha = 0.7, 5.0
    expected = float(np.sum(gammaln(r + x) - gammaln(r) + r * np.log(alpha) - (r + x) * np.log(alpha + T)))
    assert pm.nbd_loglik(np.log([r, alpha]), x, tx, T, w) == pytest.approx(expected, rel=1e-12)


def test_nbd_gradient_matches_central_differences():
    x, tx, T, w = _rows()
    th = np.log([0.7, 5.0])
    _, g = pm.nbd_loglik(th, x, tx, T, w, gradient=True)
    h = 1e-6
    num = [(pm.nbd_loglik(th + e, x, tx, T, w) - pm.nbd_loglik(th - e, x, tx, T, w)) / (2 * h) for e in np.eye(2) * h]
    assert g == pytest.approx(num, rel=1e-6)


@pytest.mark.parametrize("model, limit", [("bgnbd", "a"), ("bgnbd", "b"), ("mbgnbd", "a"), ("pareto_nbd", "s"),
                                          ("pareto_nbd", "beta")])
def test_dropout_models_approach_the_nbd_at_their_no_dropout_limit(model, limit):
    x, tx, T, w = _rows()
    r, alpha = 0.7, 5.0
    nbd = pm.nbd_loglik(np.log([r, alpha]), x, tx, T, w)
    gaps = []
    # towards 0 down to 1e-18; towards infinity up to 1e12 (further out the Pareto/NBD 2F1 terms overflow)
    for k in ((2, 6, 10, 14, 18) if limit in ("a", "s") else (2, 4, 6, 8, 10, 12)):
        other = {"a": 1.0, "b": 1.0, "s": 1.0, "beta": 1.0}
        other[limit] = 10.0 ** (-k if limit in ("a", "s") else k)
        names = pm.PARAMS[model][2:]
        gaps.append(abs(pm.LOGLIK[model](np.log([r, alpha, other[names[0]], other[names[1]]]), x, tx, T, w) - nbd))
    assert all(b < a for a, b in zip(gaps, gaps[1:]))  # closer at every step towards the limit
    assert gaps[-1] < 1e-3


def test_nbd_predictions_over_a_finite_horizon_with_discounting():
    params = {"r": 0.8, "alpha": 70.0}
    x, tx, T = np.array([0.0, 3.0]), np.array([0.0, 200.0]), np.array([300.0, 300.0])
    assert np.isnan(pm.p_alive("nbd", params, x, tx, T)).all()  # not estimable: never 1
    t = 365.0
    assert pm.expected_purchases("nbd", params, t, x, tx, T) == pytest.approx((0.8 + x) / (70 + T) * t)
    out = clv.clv_from_params(params, {"p": 6.0, "q": 4.0, "v": 15.0}, x, tx, T, [0.0, 30.0], model="nbd",
                              horizon_months=12, discount_rate=0.01, days_per_month=30.4375)
    spend = clv.gg_expected_value({"p": 6.0, "q": 4.0, "v": 15.0}, x, np.array([0.0, 30.0]))
    monthly = (0.8 + x) / (70 + T) * 30.4375
    by_hand = monthly * spend * sum(1.01 ** -m for m in range(1, 13))
    assert out["clv"].to_numpy() == pytest.approx(by_hand, rel=1e-12)
    assert out["expected_purchases"].to_numpy() == pytest.approx(monthly * 12)
    assert out["p_alive"].isna().all()


# --------------------------------------------------------------------------- the likelihood-ratio test
@pytest.mark.parametrize("stat", [0.5, 2.71, 3.84, 10.0])
def test_dropout_test_uses_the_half_chi_square_mixture(stat):
    t = clv.dropout_test("bgnbd", -1000.0 + stat / 2, -1000.0)
    assert t.p_value == pytest.approx(0.5 * chi2.sf(stat, 1), rel=1e-9)
    assert t.significant == (0.5 * chi2.sf(stat, 1) < 0.05)


def test_dropout_no_better_than_nbd_has_p_value_one():
    assert clv.dropout_test("pareto_nbd", -10.0, -9.9).p_value == 1.0


def test_boundary_message_names_the_parameters_that_moved_not_an_ordinary_one():
    # the Online Retail fit of November 2011: r is an ordinary 0.834 whose standard error is undefined
    res = FitResult("bgnbd", {"r": 0.834, "alpha": 71.7, "a": 3e-6, "b": 2.6e4},
                    {"r": np.nan, "alpha": np.nan, "a": np.nan, "b": 8e5}, -58183.6, 4294, 2938, "moments")
    assert describe_boundary(res) == "a -> 0 and b -> 2.6e+04 (b's standard error 8e+05)"
    with pytest.raises(ModelError) as exc:
        clv.check_boundary(res)
    assert exc.value.facts["parameter"] == "a" and "r = 0.834" not in str(exc.value)


# --------------------------------------------------------------------------- a base without drop-out
@pytest.fixture(scope="module")
def no_dropout(tmp_path_factory):
    from analysis import customers, data

    src = data.load_source(no_dropout_base(tmp_path_factory.mktemp("nodrop") / "src"), as_of="2026-10-31")
    return src, customers.customer_table(src, "2026-10-31")


def test_no_dropout_base_is_valued_by_the_nbd_and_every_dropout_model_says_why_not(no_dropout):
    src, table = no_dropout
    res = clv.analyse(table, "2026-10-31", model="auto", holdout=src)
    assert res.model.purchase_model_ == "nbd"
    cands = {c["model"]: c for c in res.model.candidates_}
    for m in pm.DROPOUT_MODELS:
        assert not cands[m]["eligible"]
        assert cands[m]["reason"] in ("no_evidence_of_dropout", "boundary_fit", "boundary_common_dropout")
        assert cands[m]["lr_p_value"] >= 0.05 or cands[m]["boundary"]
    v = res.values
    assert v["p_alive"].isna().all() and np.isfinite(v["clv"]).all() and (v["clv"] > 0).all()


def test_requested_dropout_model_without_evidence_of_leaving_is_refused_with_its_reason(no_dropout):
    src, table = no_dropout
    with pytest.raises(ModelError) as exc:
        clv.CLVModel(model="bgnbd").fit(table)
    assert exc.value.reason in ("no_evidence_of_dropout", "boundary_fit", "boundary_common_dropout")
    assert "r = " not in str(exc.value)


# --------------------------------------------------------------------------- auto's stated rule
def _recompute(candidates, rule, tol, tie_break):
    ok = [c for c in candidates if c["eligible"]]
    if rule == "bic":
        return min(ok, key=lambda c: c["bic"])["model"]
    best = min(c[rule] for c in ok)
    tied = [c for c in ok if c[rule] <= best * (1 + (tol or 0))]
    return min(tied, key=lambda c: c[tie_break])["model"]


@pytest.fixture(scope="module")
def cdnow_cohort():
    """lifetimes' CDNOW cohort (2,357 customers): 39 calibration + 39 holdout weeks, weeks as days / 7."""
    import lifetimes

    from analysis import customers, data

    path = Path(lifetimes.__file__).parent / "datasets" / "CDNOW_sample.txt"
    raw = pd.read_csv(path, sep=r"\s+", header=None, names=["master_id", "id", "date", "quantity", "amount"])
    tx = pd.DataFrame({"customer_id": raw["id"].astype(str),
                       "timestamp": pd.to_datetime(raw["date"].astype(str), format="%Y%m%d").dt.strftime("%Y-%m-%d"),
                       "amount": raw["amount"]})
    return tx, customers, data


def test_cdnow_choice_is_what_the_stated_rule_gives_on_the_stated_numbers(cdnow_cohort, tmp_path):
    tx, customers, data = cdnow_cohort
    tx.to_csv(tmp_path / "transactions.csv", index=False)
    src = data.load_source(tmp_path, as_of="1998-06-30")
    cal = customers.calibration_holdout(src, calibration_end="1997-09-30", holdout_end="1998-06-30", freq="D",
                                        freq_multiplier=7)
    table = cal.rename(columns={"frequency_cal": "frequency", "recency_cal": "recency", "T_cal": "T",
                                "monetary_value_cal": "monetary_value"})
    model = clv.CLVModel(time_unit="W", model="auto").fit(table, holdout=cal)
    c = model.choice_
    assert c["choice_rule"] == "holdout_mae" and c["tie_break"] == "bic"
    cands = json.loads(json.dumps(model.candidates_))
    assert {x["model"] for x in cands} == {"bgnbd", "mbgnbd", "pareto_nbd", "nbd"}
    assert all(x["eligible"] for x in cands if x["model"] != "nbd")  # CDNOW customers do leave
    assert all(x["lr_p_value"] < 1e-10 for x in cands if x["model"] != "nbd")
    assert model.purchase_model_ == _recompute(cands, c["choice_rule"], c["tie_tolerance"], c["tie_break"])


def test_auto_picks_the_same_model_in_days_and_in_weeks(no_dropout):
    """The same log in days and in days / 7: the log-likelihoods shift by one constant, the holdout errors are
    counts of purchases, so eligibility, rule and pick are the same."""
    from analysis import customers, data

    src = data.load_source(ROOT / "data" / "sample", as_of="2026-10-31")
    picks, lr = [], []
    for mult, unit in ((1, "D"), (7, "W")):
        table = customers.customer_table(src, "2026-10-31", freq="D", freq_multiplier=mult)
        cal = customers.calibration_holdout(src, calibration_end="2026-05-01", holdout_end="2026-10-31", freq="D",
                                            freq_multiplier=mult)
        m = clv.CLVModel(time_unit=unit, model="auto").fit(table, holdout=cal)
        picks.append((m.purchase_model_, m.choice_["choice_rule"], tuple(c["eligible"] for c in m.candidates_)))
        lr.append([c["lr_statistic"] for c in m.candidates_ if c["lr_statistic"] is not None])
    assert picks[0] == picks[1]
    assert lr[0] == pytest.approx(lr[1], rel=1e-4)


# --------------------------------------------------------------------------- real data: Online Retail
def _kanta_clv(*args):
    return subprocess.run([sys.executable, "-m", "analysis.cli", "clv", *map(str, args)], capture_output=True,
                          text=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT / "src"), "MPLBACKEND": "Agg",
                                                    "PATH": "/usr/bin:/bin"})


@pytest.mark.parametrize("as_of", ["2011-03-31", pytest.param("2011-09-30", marks=pytest.mark.slow)])  # BIC; holdout
def test_online_retail_month_end_values_every_customer(as_of, tmp_path):
    out, params = tmp_path / "clv.csv", tmp_path / "clv.json"
    run = _kanta_clv(RETAIL, "--as-of", as_of, "--model", "auto", "--out", out, "--params-out", params)
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""  # nothing but the summary line (on stdout), no library warnings
    v = pd.read_csv(out)
    assert v["clv"].notna().mean() >= 0.95 and (v["clv"].dropna() >= 0).all()
    p = json.loads(params.read_text())
    assert p["model"] == "nbd" and set(p["nbd"]) == {"r", "alpha"}
    assert v["p_alive"].isna().all()  # not estimable under the NBD, never 1
    chosen = _recompute(p["candidates"], p["choice_rule"], p["tie_tolerance"], p["tie_break"])
    assert chosen == p["model"]


def test_kanta_clv_picks_the_same_model_with_freq_d_and_w(tmp_path):
    picks = {}
    for freq in ("D", "W"):
        params = tmp_path / f"{freq}.json"
        run = _kanta_clv(ROOT / "data" / "sample", "--as-of", "2026-10-31", "--freq", freq, "--out",
                         tmp_path / f"{freq}.csv", "--params-out", params)
        assert run.returncode == 0 and run.stderr == "", run.stderr
        p = json.loads(params.read_text())
        picks[freq] = (p["model"], p["choice_rule"], [c["eligible"] for c in p["candidates"]])
        assert p["model"] == _recompute(p["candidates"], p["choice_rule"], p["tie_tolerance"], p["tie_break"])
    assert picks["D"] == picks["W"]


# --------------------------------------------------------------------------- the page's words
def test_page_says_what_no_drop_out_means_in_both_languages(no_dropout):
    from analysis.report.pages import clv as page

    src, table = no_dropout
    model = clv.analyse(table, "2026-10-31", model="auto", holdout=src).model
    en = " ".join(page.model_sentences(model, "en", 12))
    fi = " ".join(page.model_sentences(model, "fi", 12))
    assert "no evidence that customers leave" in en and "next 12 months" in en and "churn" in en
    assert "ei näy merkkejä" in fi and "12 kuukautta" in fi
    t = page.candidates_table(model, "en")
    assert len(t) == 4 and "not eligible" in " ".join(t["Status"])
