"""Intervals per customer (analysis.clv.intervals) and the stable BG/NBD expectation (analysis.clv.expectation).

Known answers: the integral form against scipy's adaptive algebraic-weight quadrature (QAWS) and
lifetimes' closed form; the bootstrap's spread against the Hessian's on a large base; coverage of the
true expected values on seeded simulated bases; finite, ordered bounds on CDNOW and 250 customers.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import clv
from analysis.clv import likelihoods as pm
from analysis.clv.expectation import bgnbd_purchases_if_alive_integral
from analysis.clv.intervals import INTERVAL_COLUMNS, customer_intervals, parameter_draws
from analysis.clv.simulation import simulate_rfm
from analysis.clv.value import clv_from_params
from analysis.errors import ModelError, ParameterError

#: CDNOW's BG/NBD and Gamma-Gamma estimates (FHL 2005; Hardie note 025), weekly: the truth of the simulations.
CDNOW_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
CDNOW_GG = {"p": 6.25, "q": 3.74, "v": 15.44}


# --------------------------------------------------------------------------- BG/NBD expectation at a + b < 1
def _qaws(r, alpha, a, b, t, x, T, extra=0.0):
    """E[(1 - (1 + p k)^-(r+x)) / p], p ~ Beta(a, b + x + extra): QUADPACK's QAWS (algebraic end-point weights)."""
    from scipy.integrate import quad
    from scipy.special import beta

    k, s, bb = t / (alpha + T), r + x, b + x + extra
    f = lambda p: -np.expm1(-s * np.log1p(p * k)) / p if p > 0 else s * k  # noqa: E731
    return quad(f, 0, 1, weight="alg", wvar=(a - 1, bb - 1), epsabs=0, epsrel=1e-12, limit=200)[0] / beta(a, bb)


@pytest.mark.parametrize("a, b", [(0.3, 0.5), (0.05, 0.1), (0.6, 0.39), (1.0, 0.5), (1 + 1e-7, 3.0), (2.5, 0.2)])
@pytest.mark.parametrize("model, extra", [("bgnbd", 0.0), ("mbgnbd", 1.0)])
def test_expected_purchases_if_alive_matches_independent_quadrature_also_when_a_plus_b_below_one(a, b, model, extra):
    params = {"r": 0.5, "alpha": 10.0, "a": a, "b": b}
    x, T = np.array([0.0, 1, 2, 7]), np.array([40.0, 40, 30, 40])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no NaN, no division warning, nothing to stderr
        got = pm.expected_purchases_if_alive(model, params, 50.0, x, 3 * x, T)
    want = [_qaws(0.5, 10.0, a, b, 50.0, xi, Ti, extra) for xi, Ti in zip(x, T)]
    np.testing.assert_allclose(got, want, rtol=1e-9)


def test_integral_form_equals_lifetimes_closed_form_where_that_is_defined():
    from lifetimes import BetaGeoFitter

    bg = BetaGeoFitter()
    bg.params_ = pd.Series({"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426})
    x, t_x, T = np.array([0.0, 2, 5, 20]), np.array([0.0, 30.4, 20.0, 38.0]), np.array([38.9, 38.9, 38.9, 38.9])
    lt = bg.conditional_expected_number_of_purchases_up_to_time(52.0, x, t_x, T) / bg.conditional_probability_alive(x, t_x, T)
    np.testing.assert_allclose(bgnbd_purchases_if_alive_integral(0.243, 4.414, 0.793, 2.426, 52.0, x, T), lt, rtol=1e-9)


def test_clv_of_one_time_buyers_is_finite_when_a_plus_b_below_one():
    # lifetimes gives NaN here (its 2F1's third argument a + b - 1 is negative); Kanta integrates instead
    out = clv_from_params({"r": 0.3, "alpha": 5.0, "a": 0.35, "b": 0.45}, CDNOW_GG, [0, 0, 3], [0, 0, 20.0],
                          [10.0, 39.0, 39.0], [0, 0, 30.0], time_unit="W")
    assert np.isfinite(out.to_numpy()).all() and (out["clv"] > 0).all()
    assert out["clv"].iloc[0] > out["clv"].iloc[1]  # the younger one-time buyer is the likelier buyer


# --------------------------------------------------------------------------- intervals
@pytest.fixture(scope="module")
def small_base():
    """250 customers of a CDNOW-like cohort (weeks), BG/NBD + Gamma-Gamma with known parameters."""
    T = np.random.default_rng(7).uniform(27, 39, 250)
    table = simulate_rfm(T, CDNOW_BGNBD, CDNOW_GG, seed=7)
    return table, clv.CLVModel(time_unit="W", model="bgnbd").fit(table)


@pytest.fixture(scope="module")
def small_intervals(small_base):
    table, model = small_base
    return customer_intervals(model, table, 0.9, seed=3)


def _ordered_and_finite(v: pd.DataFrame, point: pd.DataFrame) -> None:
    for c in ("clv", "p_alive", "expected_purchases"):
        assert np.isfinite(v[[c, f"{c}_low", f"{c}_high"]].to_numpy()).all(), c
        assert (v[f"{c}_low"] <= v[c]).all() and (v[c] <= v[f"{c}_high"]).all(), c
        np.testing.assert_array_equal(v[c].to_numpy(), point[c].to_numpy())  # the model's own point values
    assert v["p_alive_low"].between(0, 1).all() and v["p_alive_high"].between(0, 1).all()


def test_intervals_on_250_customers_are_finite_ordered_and_count_what_was_left_out(small_base, small_intervals):
    table, model = small_base
    ci = small_intervals
    _ordered_and_finite(ci.values, model.predict(table, 12, 0.01))
    d = ci.draws
    assert d.n_valid + sum(d.failed.values()) == d.requested == 200
    kept = d.purchase
    assert (kept[["a", "b"]] < clv.BOUNDARY_UPPER).all().all() and (kept[["a", "b"]] > clv.BOUNDARY_LOWER).all().all()
    info = ci.interval_info()
    assert info["method"] == "bootstrap" and info["level"] == 0.9 and info["resamples"] == d.n_valid
    assert info["covers"] == "expected_value_given_parameter_uncertainty"
    e = ci.equity
    assert e["low"] < e["value"] < e["high"] and e["process_sd"] > 0 and e["parameter_sd"] > 0


def test_intervals_are_reproducible_with_a_seed_and_move_with_another(small_base, small_intervals):
    table, model = small_base
    again = customer_intervals(model, table, 0.9, n_resamples=20, seed=3)
    same = customer_intervals(model, table, 0.9, n_resamples=20, seed=3)
    other = customer_intervals(model, table, 0.9, n_resamples=20, seed=4)
    pd.testing.assert_frame_equal(again.values, same.values)
    assert again.equity == same.equity
    assert not np.allclose(again.values["clv_high"], other.values["clv_high"])


def test_a_subset_of_customers_gets_the_same_bounds_as_in_the_whole_base(small_base, small_intervals):
    table, model = small_base
    ids = table["customer_id"].iloc[[5, 17, 200]].tolist()
    sub = customer_intervals(model, table, 0.9, customers=ids, draws=small_intervals.draws)
    assert sub.values["customer_id"].tolist() == ids
    whole = small_intervals.values.set_index("customer_id").loc[ids].reset_index()
    pd.testing.assert_frame_equal(sub.values, whole, check_exact=False, rtol=1e-12)
    assert sub.equity == small_intervals.equity  # equity is over the whole base either way
    # without equity only the requested histories are scored: the same bounds, no equity interval
    lean = customer_intervals(model, table, 0.9, customers=ids, draws=small_intervals.draws, equity=False)
    pd.testing.assert_frame_equal(lean.values, whole, check_exact=False, rtol=1e-12)
    assert lean.equity == {"value": None, "low": None, "high": None} and lean.not_finite == sub.not_finite == 0


def test_a_higher_level_gives_wider_intervals(small_base, small_intervals):
    table, model = small_base
    wide = customer_intervals(model, table, 0.99, draws=small_intervals.draws)
    assert (wide.values["clv_high"] - wide.values["clv_low"]
            >= small_intervals.values["clv_high"] - small_intervals.values["clv_low"] - 1e-12).all()


def test_bootstrap_spread_matches_the_hessian_on_a_large_base():
    # with 4,000 customers the likelihood is close to normal: both must estimate the same standard errors
    table = simulate_rfm(np.random.default_rng(2).uniform(27, 39, 4000), CDNOW_BGNBD, CDNOW_GG, seed=2)
    model = clv.CLVModel(time_unit="W", model="bgnbd").fit(table)
    boot = parameter_draws(model, table, "bootstrap", 100, seed=1).standard_errors()
    for part, res in (("bgnbd", model.purchase_), ("gamma_gamma", model.gamma_gamma_)):
        ratio = {k: boot[part][k] / res.standard_errors[k] for k in res.params}
        assert all(0.75 < v < 1.33 for v in ratio.values()), (part, ratio)


def test_hessian_draws_give_intervals_too(small_base):
    table, model = small_base
    ci = customer_intervals(model, table, 0.9, method="hessian", n_resamples=100, seed=1)
    _ordered_and_finite(ci.values, model.predict(table, 12, 0.01))
    assert ci.interval_info()["method"] == "hessian"


@pytest.mark.parametrize("kwargs, message", [({"level": 1.5}, "interval"), ({"level": 0}, "interval"),
                                             ({"n_resamples": 5}, "resamples"), ({"method": "jackknife"}, "method")])
def test_bad_interval_settings_are_one_sentence(small_base, kwargs, message):
    table, model = small_base
    with pytest.raises(ParameterError, match=message):
        customer_intervals(model, table, **{"level": 0.9, **kwargs})


def test_too_many_boundary_resamples_is_a_finding_not_an_interval(small_base, monkeypatch):
    from analysis.clv import intervals

    table, model = small_base
    real = intervals.check_boundary
    calls = iter(range(10_000))

    def flaky(res):  # every second resample runs to the boundary, plus one more: fewer than half remain
        if next(calls) % 2 == 0:
            raise ModelError("at the boundary", reason="boundary_fit")
        return real(res)

    monkeypatch.setattr(intervals, "check_boundary", flaky)
    with pytest.raises(ModelError) as exc:
        parameter_draws(model, table, n_resamples=11, seed=0)
    assert exc.value.reason == "interval_not_estimable" and exc.value.facts["failed"]["boundary_fit"] == 6


def test_a_model_without_p_alive_gets_empty_p_alive_bounds():
    assert "nbd" in pm.PARAMS
    rng = np.random.default_rng(5)
    T = rng.uniform(27, 39, 400)
    lam = rng.gamma(0.5, 1 / 5.0, 400)
    x = rng.poisson(lam * T).astype(float)
    rec = np.where(x > 0, T * rng.beta(np.maximum(x, 1), 1.0), 0.0)
    table = pd.DataFrame({"customer_id": [f"N{i}" for i in range(400)], "frequency": x, "recency": rec, "T": T,
                          "monetary_value": np.where(x > 0, rng.gamma(5, 5, 400), 0.0)})
    model = clv.CLVModel(time_unit="W", model="nbd").fit(table)
    v = customer_intervals(model, table, 0.9, n_resamples=30, seed=0).values
    assert v["p_alive_low"].isna().all() and v["p_alive_high"].isna().all()
    assert np.isfinite(v[["clv", "clv_low", "clv_high"]].to_numpy()).all()
    assert ((v["clv_low"] <= v["clv"]) & (v["clv"] <= v["clv_high"])).all()


# --------------------------------------------------------------------------- CDNOW and the command
@pytest.fixture(scope="module")
def cdnow_source(tmp_path_factory):
    from conftest import cdnow_transactions

    out = tmp_path_factory.mktemp("cdnow_iv")
    cdnow_transactions("sample").to_csv(out / "transactions.csv", index=False)
    return out


@pytest.mark.slow
def test_cli_interval_on_cdnow_gives_every_customer_finite_ordered_bounds(cdnow_source, tmp_path, run_cli):
    out, params = tmp_path / "clv.csv", tmp_path / "p.json"
    code, stdout, stderr = run_cli("clv", cdnow_source, "--as-of", "1997-09-30", "--model", "bgnbd", "--freq", "W",
                                   "--interval", "0.9", "--out", out, "--params-out", params)
    assert code == 0 and stderr == ""
    v = pd.read_csv(out)
    assert len(v) == 2357 and set(INTERVAL_COLUMNS) <= set(v.columns)
    for c in ("clv", "p_alive"):
        assert np.isfinite(v[[c, f"{c}_low", f"{c}_high"]].to_numpy()).all()
        assert (v[f"{c}_low"] <= v[c]).all() and (v[c] <= v[f"{c}_high"]).all()
    p = json.loads(params.read_text())
    e = p["customer_equity"]
    assert e["low"] < e["value"] < e["high"] and e["value"] == pytest.approx(v["clv"].sum())
    assert p["interval"]["level"] == 0.9 and p["interval"]["method"] == "bootstrap"
    assert p["interval"]["resamples"] + sum(p["interval"]["failed"].values()) == p["interval"]["requested"] == 200
    # the median 90 % half-width of CLV on CDNOW: parameter uncertainty moves a customer's value by about a tenth
    half = ((v["clv_high"] - v["clv_low"]) / 2 / v["clv"]).median()
    assert 0.04 < half < 0.2


def test_cli_bad_interval_level_writes_nothing(tmp_path, run_cli):
    sample = Path(__file__).resolve().parents[1] / "data" / "sample"
    code, _, err = run_cli("clv", sample, "--as-of", "2026-10-31", "--interval", "90", "--out", tmp_path / "o.csv")
    assert code == 2 and "interval" in err and list(tmp_path.iterdir()) == []


def test_cli_interval_columns_are_empty_when_no_model_can_be_fitted(tmp_path_factory, tmp_path, run_cli):
    import generators

    out = tmp_path / "clv.csv"
    base = generators.no_dropout_base(tmp_path_factory.mktemp("bases") / "no_dropout_base")
    code, _, _ = run_cli("clv", base, "--as-of", "2026-10-31", "--model", "bgnbd",
                         "--interval", "0.9", "--out", out)
    v = pd.read_csv(out)
    assert code == 0 and set(INTERVAL_COLUMNS) <= set(v.columns) and v[list(INTERVAL_COLUMNS)].isna().all().all()


# --------------------------------------------------------------------------- coverage on simulated bases
#: Bases, customers per base and resamples of the coverage test. Every customer's interval in a base
#: moves with the same estimate, so the bases (not the customers) are the independent trials.
COVERAGE_BASES, COVERAGE_CUSTOMERS, COVERAGE_RESAMPLES = 40, 250, 100


@pytest.mark.slow
def test_90_percent_intervals_cover_the_true_expected_values_about_90_percent_of_the_time():
    # Each base: 250 customers drawn from BG/NBD + Gamma-Gamma with CDNOW's parameters; the truth per
    # customer is their expected value given their own history at the TRUE parameters; the interval
    # is the bootstrap's from the fit on that base. Coverage = share of (base, customer) pairs inside.
    # P(alive) is scored on repeat customers only (a one-time buyer's BG/NBD P(alive) is 1 whatever
    # the parameters, which would count as covered for free).
    # A base whose fit (or most of its resamples) runs to the boundary gets no interval (a finding):
    # such bases are counted, and must stay rare; coverage is over the bases that do get intervals.
    inside = {"p_alive": [], "expected_purchases": [], "clv": []}
    refused = 0
    for b in range(COVERAGE_BASES):
        T = np.random.default_rng(1000 + b).uniform(27, 39, COVERAGE_CUSTOMERS)
        table = simulate_rfm(T, CDNOW_BGNBD, CDNOW_GG, seed=b)
        try:
            model = clv.CLVModel(time_unit="W", model="bgnbd").fit(table)
            v = customer_intervals(model, table, 0.9, n_resamples=COVERAGE_RESAMPLES, seed=b, process=False).values
        except ModelError as exc:  # the fit itself, or most of its resamples, at the boundary
            assert exc.reason in ("interval_not_estimable", "boundary_fit", "boundary_common_dropout")
            refused += 1
            continue
        truth = clv_from_params(CDNOW_BGNBD, CDNOW_GG, table["frequency"], table["recency"], table["T"],
                                table["monetary_value"], model="bgnbd", time_unit="W")
        repeat = table["frequency"].to_numpy() > 0
        for c in inside:
            hit = ((v[f"{c}_low"] <= truth[c] * (1 + 1e-12)) & (truth[c] <= v[f"{c}_high"] * (1 + 1e-12))).to_numpy()
            inside[c].append(hit[repeat] if c == "p_alive" else hit)
    coverage = {c: float(np.concatenate(h).mean()) for c, h in inside.items()}
    assert refused <= COVERAGE_BASES // 10, refused
    # measured here (38 bases, 100 resamples): P(alive) 0.90, expected purchases 0.90, CLV 0.83; with 200
    # resamples on 57 bases 0.92 / 0.91 / 0.88 (the Hessian's draws: 0.91 / 0.89 / 0.88). CLV, which adds the
    # spend model's uncertainty, under-covers at 250 customers: held to 0.80 until that is fixed, not hidden.
    assert 0.85 <= coverage["p_alive"] <= 0.95 and 0.85 <= coverage["expected_purchases"] <= 0.95, coverage
    assert 0.80 <= coverage["clv"] <= 0.95, coverage


def test_page_intervals_hold_each_named_customers_clv_in_the_pages_basis():
    """The CLV page's interval columns: in margin (the base's basis on the sample), around each customer's own CLV."""
    from pathlib import Path

    from analysis.base import BaseSettings, CustomerBase
    from analysis.clv.intervals import parameter_draws, result_intervals
    from analysis.report.pages.clv import interval_bounds

    sample = Path(__file__).resolve().parents[1] / "data" / "sample"
    base = CustomerBase.build(str(sample), "2026-10-31", BaseSettings(n_clusters=3))
    assert base.money_basis == "margin"
    named = base.customers[base.customers["clv"].notna()].nlargest(15, "clv")
    draws = parameter_draws(base.clv.model, base.clv.values, method="hessian", n_resamples=200, seed=0)
    ci = result_intervals(base.clv, customers=list(named["customer_id"]), level=0.9, draws=draws)
    b = interval_bounds(named, ci)
    assert b.notna().all().all()
    assert (b["clv_low"] <= named["clv"] + 1e-9).all() and (named["clv"] <= b["clv_high"] + 1e-9).all()
    sales = ci.values.set_index("customer_id").loc[named["customer_id"], "clv_low"].to_numpy()
    assert (b["clv_low"].to_numpy() < sales).all()  # margin bounds are below the sales bounds they come from
