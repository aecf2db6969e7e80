"""Known-answer tests for churn and retention (analysis.survival)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import survival
from analysis.errors import ModelError

# R: survival::coxph(Surv(week, arrest) ~ fin + age + race + wexp + mar + paro + prio, data = Rossi)
# (Efron ties). Published to 4 decimals in Fox & Weisberg's "Cox Proportional-Hazards Regression
# for Survival Data in R" (appendix to An R Companion to Applied Regression) and in the lifelines docs.
R_COXPH_ROSSI = {"fin": -0.379422, "age": -0.057438, "race": 0.313900, "wexp": -0.149796,
                 "mar": -0.433704, "paro": -0.084871, "prio": 0.091497}
R_SE_ROSSI = {"fin": 0.1914, "age": 0.0220, "race": 0.3080, "wexp": 0.2122, "mar": 0.3819,
              "paro": 0.1958, "prio": 0.0286}


@pytest.fixture(scope="module")
def rossi():
    from lifelines.datasets import load_rossi

    return load_rossi()


@pytest.fixture(scope="module")
def rossi_cox(rossi):
    return survival.fit_cox(rossi, "week", "arrest")


# --- Cox -------------------------------------------------------------------
def test_cox_reproduces_r_coxph_on_rossi_to_4_decimals(rossi_cox):
    expected = pd.Series(R_COXPH_ROSSI)
    got = rossi_cox.params.reindex(expected.index)
    assert np.allclose(got.to_numpy(), expected.to_numpy(), atol=5e-5, rtol=0)


def test_cox_standard_errors_and_hazard_ratios_match_r(rossi_cox):
    s = rossi_cox.summary()
    assert np.allclose(s["se"].reindex(list(R_SE_ROSSI)).to_numpy(), list(R_SE_ROSSI.values()), atol=5e-5)
    hr = rossi_cox.hazard_ratios.set_index("covariate")
    assert hr.loc["fin", "hazard_ratio"] == pytest.approx(np.exp(R_COXPH_ROSSI["fin"]), abs=1e-4)
    assert hr.loc["fin", "lower"] < hr.loc["fin", "hazard_ratio"] < hr.loc["fin", "upper"]
    # R: Concordance = 0.640
    assert rossi_cox.concordance == pytest.approx(0.640, abs=5e-4)


def test_ph_check_finds_age_and_work_experience_in_rossi(rossi_cox):
    # Fox & Weisberg (cox.zph) and lifelines' check_assumptions both flag age and wexp.
    assert set(rossi_cox.ph_check.violating) == {"age", "wexp"}
    assert "age" in rossi_cox.ph_check.sentence("en")


def test_ph_action_stratify_moves_binary_violator_into_strata(rossi):
    cox = survival.fit_cox(rossi, "week", "arrest", ph_action="stratify")
    assert cox.strata == ("wexp",)  # age is continuous: noted, not stratified
    assert "wexp" not in cox.params.index and "age" in cox.params.index
    text = cox.ph_check.sentence("fi")
    assert "ositettiin" in text


def test_constant_column_is_named(rossi):
    df = rossi.assign(country=1.0)
    with pytest.raises(ModelError, match="'country' is constant"):
        survival.fit_cox(df, "week", "arrest")


def test_collinear_column_is_named(rossi):
    df = rossi.assign(prio_twice=2 * rossi["prio"] + 1)
    with pytest.raises(ModelError, match="collinear"):
        survival.fit_cox(df, "week", "arrest")


def test_missing_values_are_named(rossi):
    df = rossi.astype({"age": float})
    df.loc[3, "age"] = np.nan
    with pytest.raises(ModelError, match="'age': 1 missing"):
        survival.fit_cox(df, "week", "arrest")


def test_text_column_is_named(rossi):
    df = rossi.assign(region=np.where(rossi["race"] == 1, "north", "south"))
    with pytest.raises(ModelError, match="'region' is not numeric"):
        survival.fit_cox(df, "week", "arrest")


def test_one_hot_drops_most_common_level_as_reference():
    df = pd.DataFrame({"channel": ["online", "online", "retail", "partner"], "x": [1, 2, 3, 4]})
    enc, ref = survival.one_hot(df, ["channel"])
    assert ref == {"channel": "online"}
    assert sorted(enc.columns) == ["channel=partner", "channel=retail", "x"]


# --- Kaplan-Meier ----------------------------------------------------------
def _product_limit(durations, events, t):
    """Independent Kaplan-Meier: product over event times <= t of (1 - d_i / n_i)."""
    durations, events = np.asarray(durations, float), np.asarray(events, bool)
    s = 1.0
    for u in np.unique(durations[events]):
        if u > t:
            break
        n_at_risk = np.sum(durations >= u)
        deaths = np.sum((durations == u) & events)
        s *= 1.0 - deaths / n_at_risk
    return s


# Freireich et al. (1963) 6-MP arm, the textbook example (Kleinbaum & Klein, Survival Analysis, ch. 2):
# S(6)=0.857, S(7)=0.807, S(10)=0.753, S(13)=0.690, S(16)=0.627, S(22)=0.538, S(23)=0.448.
SIX_MP_T = [6, 6, 6, 6, 7, 9, 10, 10, 11, 13, 16, 17, 19, 20, 22, 23, 25, 32, 32, 34, 35]
SIX_MP_E = [1, 1, 1, 0, 1, 0, 1, 0, 0, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0]


def test_kaplan_meier_matches_textbook_6mp_values():
    km = survival.kaplan_meier(SIX_MP_T, SIX_MP_E)
    book = {6: 0.857, 7: 0.807, 10: 0.753, 13: 0.690, 16: 0.627, 22: 0.538, 23: 0.448}
    for t, s in book.items():
        assert km.survival_at(t) == pytest.approx(s, abs=5e-4)
    assert km.median == 23


def test_kaplan_meier_matches_independent_product_limit_with_ties_and_censoring():
    rng = np.random.default_rng(7)
    d = rng.integers(1, 40, size=300).astype(float)
    e = rng.random(300) < 0.6
    km = survival.kaplan_meier(d, e)
    for t in (0.5, 5, 12, 12.5, 25, 39):
        assert km.survival_at(t) == pytest.approx(_product_limit(d, e, t), abs=1e-12)
    lo, hi = km.band_at(12)
    assert lo < km.survival_at(12) < hi


def test_at_risk_table_counts_customers():
    km = survival.kaplan_meier([10, 20, 30, 40], [1, 0, 1, 0], unit_days=1)
    tab = km.at_risk_table([0, 20, 35])
    assert tab["at_risk"].tolist() == [4, 3, 1]
    assert tab["churned"].tolist() == [0, 1, 2]
    assert tab["censored"].tolist() == [0, 1, 1]


def test_survival_at_months_uses_day_units():
    km = survival.kaplan_meier([50, 100, 200, 400], [1, 1, 1, 0])
    s = km.survival_at_months((3, 6, 12))
    assert s[3] == pytest.approx(0.75) and s[6] == pytest.approx(0.5) and s[12] == pytest.approx(0.25)


def test_logrank_by_group_reports_difference_in_plain_words(rossi):
    g = survival.kaplan_meier_by_group(rossi["week"], rossi["arrest"], np.where(rossi["prio"] >= 3, "many", "few"),
                                       group_by="prior convictions", unit_days=7)
    # lifelines' multivariate log-rank equals the pairwise test for two groups
    assert g.multivariate["p"] == pytest.approx(g.pairwise["p"].iloc[0], rel=1e-9)
    assert g.multivariate["p"] < 0.05
    assert "many" in g.sentence("en") or "few" in g.sentence("en")
    assert set(g.summary()["group"]) == {"many", "few"}


def test_negative_duration_is_rejected():
    with pytest.raises(ModelError, match="negative"):
        survival.kaplan_meier([1, -2], [1, 0])
