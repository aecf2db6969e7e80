"""Static covariates on Pareto/NBD and BG/NBD: CLVTools' published apparel fit, recovery of known effects,
the design's small-group rule and one-sentence errors, and the ``kanta clv --covariates`` contract."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.clv import likelihoods as pm
from analysis.clv.covariate_design import OTHER, build_design
from analysis.clv.covariate_simulation import simulate_covariate_base
from analysis.clv.covariate_value import customer_params, discounted_purchases, p_alive
from analysis.clv.covariates import covariates_json, effects, fit_covariates
from analysis.errors import DataError, ParameterError

APPAREL = Path(__file__).parent / "data" / "clvtools" / "apparel_static_cbs.csv"
#: CLVTools 0.12.1, vignettes/CLVTools_advanced_techniques.pdf section 4, ``est.pnbd.full``:
#: pnbd with static covariates Gender and Channel on both processes, apparelTrans, weeks, estimation.split = 104.
CLVTOOLS = {"r": 1.8378, "alpha": 92.9123, "s": 0.5920, "beta": 49.6227,
            "life.Gender": -0.6430, "life.Channel": 0.7907, "trans.Gender": 0.2859, "trans.Channel": 0.6241}
CLVTOOLS_SE = {"r": 0.3455, "alpha": 16.9670, "s": 0.2609, "beta": 36.2509,
               "life.Gender": 0.2955, "life.Channel": 0.3059, "trans.Gender": 0.1041, "trans.Channel": 0.1050}
CLVTOOLS_LL = -5821.0627


@pytest.fixture(scope="module")
def apparel_fit():
    table = pd.read_csv(APPAREL).rename(columns={"x": "frequency", "t_x": "recency"})
    design = build_design(table, ["Gender", "Channel"])
    return fit_covariates("pareto_nbd", table, design, design)


def _ours(fit):
    c = fit.coefficients
    return {**fit.params, "life.Gender": c["dropout"]["Gender=1"], "life.Channel": c["dropout"]["Channel=1"],
            "trans.Gender": c["purchase"]["Gender=1"], "trans.Channel": c["purchase"]["Channel=1"]}


def test_apparel_pareto_nbd_with_static_covariates_reproduces_clvtools(apparel_fit):
    ours = _ours(apparel_fit)
    for k, published in CLVTOOLS.items():  # 3 significant digits: within half a unit of the third digit
        assert ours[k] == pytest.approx(published, rel=5e-3), k
    assert apparel_fit.log_likelihood == pytest.approx(CLVTOOLS_LL, abs=1e-3)
    assert apparel_fit.converged and apparel_fit.cov is not None


def test_apparel_standard_errors_match_clvtools_to_two_digits(apparel_fit):
    se = apparel_fit.standard_errors
    ours = {**se["params"], "life.Gender": se["dropout"]["Gender=1"], "life.Channel": se["dropout"]["Channel=1"],
            "trans.Gender": se["purchase"]["Gender=1"], "trans.Channel": se["purchase"]["Channel=1"]}
    for k, published in CLVTOOLS_SE.items():
        assert ours[k] == pytest.approx(published, rel=5e-3), k


def test_no_covariates_gives_the_plain_model():
    """Zero coefficients: the per-row likelihood sums to the plain Pareto/NBD and BG/NBD log-likelihoods."""
    table = pd.read_csv(APPAREL).rename(columns={"x": "frequency", "t_x": "recency"})
    design = build_design(table, ["Gender"])
    for model in ("pareto_nbd", "bgnbd"):
        plain = pm.fit(model, {"frequency": table["frequency"], "recency": table["recency"], "T": table["T"]})
        fit = fit_covariates(model, table, design, design, l2=1e6)  # a huge penalty pins the coefficients at 0
        assert max(abs(v) for c in fit.coefficients.values() for v in c.values()) < 1e-4
        for k, v in plain.params.items():
            assert fit.params[k] == pytest.approx(v, rel=2e-3), (model, k)


def test_p_alive_with_covariates_matches_plain_model_per_customer(apparel_fit):
    table = pd.read_csv(APPAREL).rename(columns={"x": "frequency", "t_x": "recency"})
    params = customer_params(apparel_fit, table)
    ours = p_alive("pareto_nbd", params, table["frequency"], table["recency"], table["T"])
    for i in (0, 1, 3, 7):  # each customer is a plain Pareto/NBD customer with their own alpha and beta
        own = {"r": params["r"], "alpha": params["alpha"][i], "s": params["s"], "beta": params["beta"][i]}
        ref = pm.p_alive("pareto_nbd", own, table["frequency"][i:i + 1], table["recency"][i:i + 1], table["T"][i:i + 1])
        assert ours[i] == pytest.approx(float(ref[0]), rel=1e-10)


TRUTH = {"purchase": {"channel=online": np.log(1.4), "channel=shop": 0.0},
         "dropout": {"channel=online": np.log(0.6), "channel=shop": np.log(1.3)}}


@pytest.fixture(scope="module")
def channel_base():
    return simulate_covariate_base(20_000, {"r": 0.8, "alpha": 25.0, "s": 0.6, "beta": 300.0},
                                   {"channel": {"web": 0.5, "online": 0.3, "shop": 0.2}}, TRUTH, seed=3)


def test_channel_that_changes_buying_and_leaving_is_recovered_within_its_intervals(channel_base):
    design = build_design(channel_base, ["channel"])
    assert design.reference == {"channel": "web"}
    fit = fit_covariates("pareto_nbd", channel_base, design, design)
    eff = effects(fit).set_index(["process", "key"])
    for process, block in TRUTH.items():
        for key, gamma in block.items():
            row = eff.loc[(process, key)]
            assert row.ci_low < np.exp(gamma) < row.ci_high, (process, key, row.to_dict())
    # the online channel clearly buys more and leaves less: its intervals exclude 1
    assert eff.loc[("purchase", "channel=online")].ci_low > 1
    assert eff.loc[("dropout", "channel=online")].ci_high < 1


def test_bgnbd_channel_effects_are_recovered_within_their_intervals():
    truth = {"purchase": {"channel=online": np.log(1.4)}, "dropout_a": {"channel=online": np.log(0.6)},
             "dropout_b": {"channel=online": np.log(1.2)}}
    base = simulate_covariate_base(20_000, {"r": 0.8, "alpha": 25.0, "a": 0.8, "b": 4.0},
                                   {"channel": {"web": 0.6, "online": 0.4}}, truth, model="bgnbd", seed=6)
    design = build_design(base, ["channel"])
    fit = fit_covariates("bgnbd", base, design, design)
    eff = effects(fit).set_index(["process", "key"])
    buy = eff.loc[("purchase", "channel=online")]
    assert buy.ci_low < 1.4 < buy.ci_high
    mean_p = (0.8 * 0.6 / (0.8 * 0.6 + 4.0 * 1.2)) / (0.8 / 4.8)  # ratio of mean drop-out probabilities
    leave = eff.loc[("dropout", "channel=online")]
    assert leave.ci_low < mean_p < leave.ci_high


@pytest.mark.parametrize("model", ["pareto_nbd", "bgnbd"])
def test_newton_fit_equals_the_lbfgsb_fit_with_and_without_a_warm_start(channel_base, model, monkeypatch):
    """Newton's method from the plain model's start, and from a rough fit on a subsample (the path above
    WARM_CUSTOMERS), reach the maximum L-BFGS-B with Newton polish reaches: same coefficients to 1e-6,
    log-likelihood to 1e-6, standard errors to 1e-4."""
    from analysis.clv import covariates as cv

    design = build_design(channel_base, ["channel"])
    newton = fit_covariates(model, channel_base, design, design)
    monkeypatch.setattr(cv, "WARM_CUSTOMERS", 5_000)
    warm = fit_covariates(model, channel_base, design, design)
    monkeypatch.setattr(cv, "_newton", lambda *a, **k: None)
    lbfgsb = fit_covariates(model, channel_base, design, design, weights=np.ones(len(channel_base)))  # no warm start
    for fit in (newton, warm):
        assert fit.converged and fit.cov is not None
        np.testing.assert_allclose(fit.vector, lbfgsb.vector, atol=1e-6)
        assert fit.log_likelihood == pytest.approx(lbfgsb.log_likelihood, abs=1e-6)
        np.testing.assert_allclose(np.sqrt(np.diag(fit.cov)), np.sqrt(np.diag(lbfgsb.cov)), rtol=1e-4)


def test_l2_penalty_shrinks_coefficients(channel_base):
    design = build_design(channel_base, ["channel"])
    free = fit_covariates("pareto_nbd", channel_base, design, design)
    shrunk = fit_covariates("pareto_nbd", channel_base, design, design, l2=0.05)
    for block in ("purchase", "dropout"):
        assert abs(shrunk.coefficients[block]["channel=online"]) < abs(free.coefficients[block]["channel=online"])


def test_customers_at_levels_that_leave_faster_get_lower_p_alive(channel_base):
    design = build_design(channel_base, ["channel"])
    fit = fit_covariates("pareto_nbd", channel_base, design, design)
    same = pd.DataFrame({"frequency": [3.0] * 3, "recency": [100.0] * 3, "T": [500.0] * 3,
                         "channel": ["web", "online", "shop"]})
    scores = discounted_purchases(fit, same, "D", 12, 0.01)["p_alive"].to_numpy()
    assert scores[1] > scores[0] > scores[2]  # online leaves at 0.6 times the rate, shop at 1.3 times


# --------------------------------------------------------------------------- the design
def test_rare_levels_are_pooled_into_other_and_said_so():
    t = pd.DataFrame({"region": ["A"] * 100 + ["B"] * 40 + ["C"] * 10 + ["D"] * 5})
    d = build_design(t, ["region"])
    assert d.reference == {"region": "A"}
    assert [x.key for x in d.terms] == ["region=B", f"region={OTHER}"]
    assert d.pooled == {"region": ("C", "D")}
    assert d.matrix(t)[:, 1].sum() == 15


def test_numeric_column_is_standardised_and_a_flag_is_a_level():
    t = pd.DataFrame({"age": np.arange(100.0), "flag": [0, 1] * 50})
    d = build_design(t, ["age", "flag"])
    assert [x.key for x in d.terms] == ["age", "flag=1"]
    z = d.matrix(t)
    assert z[:, 0].mean() == pytest.approx(0) and z[:, 0].std() == pytest.approx(1)


def test_unknown_column_gets_one_sentence():
    with pytest.raises(ParameterError, match=r"no column 'colour'; expected one of region"):
        build_design(pd.DataFrame({"region": ["A", "B"]}), ["colour"])


def test_column_with_one_level_gets_one_sentence():
    with pytest.raises(DataError, match=r"customers.region: all 3 customers have the level 'A'"):
        build_design(pd.DataFrame({"region": ["A"] * 3}), ["region"])


def test_numeric_column_with_gaps_gets_one_sentence():
    with pytest.raises(DataError, match=r"customers.age: 1 of 4 customers have no value"):
        build_design(pd.DataFrame({"age": [20.0, 30.0, np.nan, 40.0]}), ["age"])


# --------------------------------------------------------------------------- the command
def test_cli_writes_covariate_effects_in_the_contract_shape(tmp_path):
    from analysis.cli import main

    out, params = tmp_path / "clv.csv", tmp_path / "params.json"
    code = main(["clv", "data/sample", "--as-of", "2026-10-31", "--model", "pareto-nbd", "--covariates",
                 "acquisition_channel", "--out", str(out), "--params-out", str(params)])
    assert code == 0
    values = pd.read_csv(out)
    assert list(values.columns[:5]) == ["customer_id", "p_alive", "expected_purchases", "expected_avg_value", "clv"]
    assert values["p_alive"].between(0, 1).all() and (values["clv"] >= 0).all()
    cov = json.loads(params.read_text())["covariates"]
    ref = cov["reference"]["acquisition_channel"]
    assert f"acquisition_channel={ref}" not in cov["purchase"]
    for process in ("purchase", "dropout"):
        assert cov[process]
        for key, e in cov[process].items():
            assert key.startswith("acquisition_channel=")
            assert e["ci_low"] < e["multiplier"] < e["ci_high"]


def test_cli_refuses_an_unknown_column_in_one_sentence(tmp_path, capsys):
    from analysis.cli import main

    out = tmp_path / "clv.csv"
    code = main(["clv", "data/sample", "--as-of", "2026-10-31", "--model", "bgnbd", "--covariates", "shoe_size",
                 "--out", str(out)])
    assert code == 2 and not out.exists()
    err = capsys.readouterr().err
    assert "--covariates: customers has no usable column 'shoe_size'" in err and "Traceback" not in err


def test_cli_refuses_auto_model_with_covariates(tmp_path, capsys):
    from analysis.cli import main

    code = main(["clv", "data/sample", "--as-of", "2026-10-31", "--covariates", "region", "--out",
                 str(tmp_path / "clv.csv")])
    assert code == 2
    assert "expected pareto-nbd or bgnbd" in capsys.readouterr().err


def test_covariates_json_lists_pooled_levels():
    base = simulate_covariate_base(3000, {"r": 0.8, "alpha": 25.0, "s": 0.6, "beta": 300.0},
                                   {"channel": {"web": 0.6, "online": 0.39, "fax": 0.005}}, {}, seed=1)
    design = build_design(base, ["channel"])
    fit = fit_covariates("pareto_nbd", base, design, design)
    cov = covariates_json(fit)
    assert cov["pooled"] == {"channel": ["fax"]}
    assert set(cov["purchase"]) == {"channel=online", f"channel={OTHER}"}
