"""Known-answer tests for churn and retention (analysis.churn)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from analysis import churn
from analysis.data import pseudonymize
from analysis.errors import ModelError
from analysis.report.text import Text
from analysis.report.pages import churn as page
from phone_figures import readable_on_a_phone

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
    return churn.fit_cox(rossi, "week", "arrest")


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
    assert "age" in page.ph_sentence(rossi_cox.ph_check, "en")


def test_ph_action_stratify_moves_binary_violator_into_strata(rossi):
    cox = churn.fit_cox(rossi, "week", "arrest", ph_action="stratify")
    assert cox.strata == ("wexp",)  # age is continuous: noted, not stratified
    assert "wexp" not in cox.params.index and "age" in cox.params.index
    text = page.ph_sentence(cox.ph_check, "fi")
    assert "ositettiin" in text


def test_constant_column_is_named(rossi):
    df = rossi.assign(country=1.0)
    with pytest.raises(ModelError, match="'country' is constant"):
        churn.fit_cox(df, "week", "arrest")


def test_collinear_column_is_named(rossi):
    df = rossi.assign(prio_twice=2 * rossi["prio"] + 1)
    with pytest.raises(ModelError, match="collinear"):
        churn.fit_cox(df, "week", "arrest")


def test_missing_values_are_named(rossi):
    df = rossi.astype({"age": float})
    df.loc[3, "age"] = np.nan
    with pytest.raises(ModelError, match="'age': 1 missing"):
        churn.fit_cox(df, "week", "arrest")


def test_text_column_is_named(rossi):
    df = rossi.assign(region=np.where(rossi["race"] == 1, "north", "south"))
    with pytest.raises(ModelError, match="'region' is not numeric"):
        churn.fit_cox(df, "week", "arrest")


def test_one_hot_drops_most_common_level_as_reference():
    df = pd.DataFrame({"channel": ["online", "online", "retail", "partner"], "x": [1, 2, 3, 4]})
    enc, ref = churn.one_hot(df, ["channel"])
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
    km = churn.kaplan_meier(SIX_MP_T, SIX_MP_E)
    book = {6: 0.857, 7: 0.807, 10: 0.753, 13: 0.690, 16: 0.627, 22: 0.538, 23: 0.448}
    for t, s in book.items():
        assert km.survival_at(t) == pytest.approx(s, abs=5e-4)
    assert km.median == 23


def test_kaplan_meier_matches_independent_product_limit_with_ties_and_censoring():
    rng = np.random.default_rng(7)
    d = rng.integers(1, 40, size=300).astype(float)
    e = rng.random(300) < 0.6
    km = churn.kaplan_meier(d, e)
    for t in (0.5, 5, 12, 12.5, 25, 39):
        assert km.survival_at(t) == pytest.approx(_product_limit(d, e, t), abs=1e-12)
    lo, hi = km.band_at(12)
    assert lo < km.survival_at(12) < hi


def test_at_risk_table_counts_customers():
    km = churn.kaplan_meier([10, 20, 30, 40], [1, 0, 1, 0], unit_days=1)
    tab = km.at_risk_table([0, 20, 35])
    assert tab["at_risk"].tolist() == [4, 3, 1]
    assert tab["churned"].tolist() == [0, 1, 2]
    assert tab["censored"].tolist() == [0, 1, 1]


def test_survival_at_months_uses_day_units():
    km = churn.kaplan_meier([50, 100, 200, 400], [1, 1, 1, 0])
    s = km.survival_at_months((3, 6, 12))
    assert s[3] == pytest.approx(0.75) and s[6] == pytest.approx(0.5) and s[12] == pytest.approx(0.25)


def test_logrank_by_group_reports_difference_in_plain_words(rossi):
    g = churn.kaplan_meier_by_group(rossi["week"], rossi["arrest"], np.where(rossi["prio"] >= 3, "many", "few"),
                                    group_by="prior convictions", unit_days=7)
    # lifelines' multivariate log-rank equals the pairwise test for two groups
    assert g.multivariate["p"] == pytest.approx(g.pairwise["p"].iloc[0], rel=1e-9)
    assert g.multivariate["p"] < 0.05
    assert "many" in page.group_sentence(g, "en") or "few" in page.group_sentence(g, "en")
    assert set(g.summary()["group"]) == {"many", "few"}


def test_negative_duration_is_rejected():
    with pytest.raises(ModelError, match="negative"):
        churn.kaplan_meier([1, -2], [1, 0])


# --- churn definition on the committed sample (simulated truth known) -------
AS_OF = pd.Timestamp("2026-10-31")


@pytest.fixture(scope="module")
def sample(sample_source):
    days = churn.purchase_days(sample_source)
    table = churn.churn_table(sample_source, days=days)
    return sample_source, days, table


@pytest.fixture(scope="module")
def with_truth(sample, sample_dir):
    _, _, table = sample
    truth = pd.read_csv(sample_dir / "truth_customers.csv", parse_dates=["dropout_date"], dtype={"customer_id": str})
    return table.merge(truth, on="customer_id", how="left")


def test_data_driven_inactivity_is_95th_percentile_of_gaps_rounded_up_to_months(sample):
    src, days, table = sample
    d = table.attrs["definition"]
    gaps = churn.interpurchase_gaps(days)["gap_days"]
    assert d.data_driven and d.method == "inactivity"
    assert d.inactivity_days % 30 == 0
    assert d.inactivity_days - 30 < np.quantile(gaps, 0.95) <= d.inactivity_days
    assert d.share_gaps_within >= 0.95
    assert all(str(d.inactivity_days) in page.definition_sentence(d, lang) for lang in ("en", "fi"))


def test_every_simulated_dropout_is_flagged_as_churned_on_its_deadline(with_truth, sample):
    # The simulation drops a customer right after a purchase (dropout_date = last purchase), so
    # with N days of inactivity every drop-out at least N days before as_of must be churned on
    # dropout_date + N: an exact check, no tolerance. The only exception is the handful won back
    # by the simulated reactivation campaign (a purchase after drop-out): their deadline moves.
    n = sample[2].attrs["definition"].inactivity_days
    m = with_truth
    gone = m["dropout_date"].notna() & (m["dropout_date"] + pd.Timedelta(days=n) <= AS_OF)
    assert gone.sum() > 100
    assert (m.loc[gone, "churned"] == 1).all()
    won_back = gone & (m["last_purchase"] > m["dropout_date"])
    assert won_back.sum() <= 0.02 * gone.sum()
    exact = gone & ~won_back
    assert (m.loc[exact, "churn_date"] == m.loc[exact, "dropout_date"] + pd.Timedelta(days=n)).all()


def test_alive_customers_called_churned_are_as_many_as_their_purchase_rates_predict(with_truth, sample):
    # A customer still alive in the simulation is called churned only when, by chance, they bought
    # nothing in the last N days. Given that they survived every purchase (each one ends the
    # relationship with probability p), their purchases in the window form a Poisson process of
    # rate lambda * (1 - p) * season, so the chance is exp(-lambda (1 - p) * sum of the seasonal
    # multipliers over the N days). The count must match the sum of those probabilities within
    # 3 standard deviations of a sum of Bernoullis (sample: 316 observed vs 307 expected, sd 9;
    # 20,000-customer demo: 3,398 vs 3,392, sd 30).
    from analysis.data import demo_simulation

    n = sample[2].attrs["definition"].inactivity_days
    m = with_truth
    season = demo_simulation.season_multiplier(np.arange((AS_OF - demo_simulation.START).days + 1))
    exposure = season[-n:].sum()
    alive = m[m["alive_at_end"].astype(bool) & (m["first_purchase"] <= AS_OF - pd.Timedelta(days=n))]
    p = np.exp(-alive["lambda_per_day"] * (1 - alive["p_dropout"]) * exposure)
    sd = np.sqrt((p * (1 - p)).sum())
    assert abs(alive["churned"].sum() - p.sum()) < 3 * sd


def test_survival_curve_matches_simulated_dropout_for_regular_buyers(with_truth, sample):
    # For customers who buy often enough (lambda * N >= 3: an alive customer has < 5 % chance of an
    # N-day silence) inactivity and drop-out coincide, so the Kaplan-Meier curve of the churn rule
    # and that of the true drop-out (+ N days) agree. Tolerance 0.03 at 6 and 12 months: the
    # remaining < 5 % false alarms among survivors move S(t) by at most ~0.02.
    n = sample[2].attrs["definition"].inactivity_days
    m = with_truth[with_truth["lambda_per_day"] * n >= 3]
    true_churn = m["dropout_date"].notna() & (m["dropout_date"] + pd.Timedelta(days=n) <= AS_OF)
    true_end = (m["dropout_date"] + pd.Timedelta(days=n)).where(true_churn, AS_OF)
    truth_km = churn.kaplan_meier((true_end - m["start_date"]).dt.days, true_churn)
    ours = churn.kaplan_meier(m["duration_days"], m["churned"])
    for months in (6, 12):
        assert ours.survival_at_months((months,))[months] == pytest.approx(
            truth_km.survival_at_months((months,))[months], abs=0.03)


def test_censoring_is_at_as_of_not_the_clock(sample_source):
    early = pd.Timestamp("2025-06-30")
    t = churn.churn_table(sample_source.path, early, inactivity_days=90)
    assert (t["first_purchase"] <= early).all() and (t["last_purchase"] <= early).all()
    censored = t[t["churned"] == 0]
    assert ((early - censored["start_date"]).dt.days == censored["duration_days"]).all()
    churned = t[t["churned"] == 1]
    assert (churned["churn_date"] <= early).all()
    assert ((churned["churn_date"] - churned["last_purchase"]).dt.days == 90).all()
    assert (censored["last_purchase"] > early - pd.Timedelta(days=90)).all()


def test_contract_churn_date_is_used_when_present(tmp_path):
    from analysis.data import load_source

    pd.DataFrame({"customer_id": ["a", "a", "b", "c"], "timestamp": ["2025-01-05", "2025-03-01", "2025-01-10", "2025-02-01"],
                  "amount": [10, 20, 30, 40]}).to_csv(tmp_path / "transactions.csv", index=False)
    pd.DataFrame({"customer_id": ["a", "b", "c"], "signup_date": ["2025-01-01", "2025-01-10", "2025-02-01"],
                  "churn_date": ["2025-04-01", None, "2025-08-01"]}).to_csv(tmp_path / "customers.csv", index=False)
    t = churn.churn_table(load_source(tmp_path, "2025-06-30")).set_index("customer_id")
    assert t.attrs["definition"].method == "contract"
    assert t.loc["a", "churned"] == 1 and t.loc["a", "duration_days"] == 90
    assert t.loc["b", "churned"] == 0 and t.loc["b", "duration_days"] == 171
    assert t.loc["c", "churned"] == 0  # contract ends after as_of: still a customer, censored
    assert "contract" in page.definition_sentence(t.attrs["definition"], "en").lower()


# --- retention KPIs, cohorts, risk list ------------------------------------
def test_retention_rate_matches_independent_count(sample, sample_dir):
    src, days, table = sample
    n = table.attrs["definition"].inactivity_days
    k = churn.retention_kpis(src, inactivity_days=n, days=days)
    tx = pd.read_csv(sample_dir / "transactions.csv", parse_dates=["timestamp"], dtype={"customer_id": str})
    tx["day"] = tx["timestamp"].dt.normalize()
    net = tx.groupby(["customer_id", "day"])["amount"].sum().reset_index()
    net = net[(net["amount"] > 0) & (net["day"] <= AS_OF)]

    def customers_at(d):
        last = net[net["day"] <= d].groupby("customer_id")["day"].max()
        return set(last.index[(d - last).dt.days < n])

    ref = AS_OF - pd.DateOffset(months=12)
    expected = len(customers_at(ref) & customers_at(AS_OF)) / len(customers_at(ref))
    assert k.retention_rate == pytest.approx(expected, abs=1e-12)
    assert k.reference_date == ref


def test_monthly_churn_rates_add_up_and_annualise(sample):
    src, days, table = sample
    k = churn.retention_kpis(src, inactivity_days=150, days=days)
    m = k.monthly
    assert len(m) == 12
    assert (m["active_start"] - m["lost"] + m["new"] + m["returned"] == m["active"]).all()
    assert k.monthly_churn_rate == pytest.approx(m["lost"].sum() / m["active_start"].sum())
    assert k.annual_churn_rate == pytest.approx(1 - (1 - k.monthly_churn_rate) ** 12)


def test_cohort_table_counts_buyers_per_month_since_signup(sample):
    src, days, table = sample
    c = churn.cohort_retention(src, days=days)
    assert c.attrs["cohort_by"] == "signup"
    assert c.loc["2026-10", 1] != c.loc["2026-10", 1]  # NaN: not lived yet
    cust = src.customers()
    cohort = cust.loc[pd.to_datetime(cust["signup_date"]).dt.to_period("M") == pd.Period("2025-01"), "customer_id"]
    bought_march = days[(days["day"].dt.to_period("M") == pd.Period("2025-03"))]["customer_id"]
    assert c.loc["2025-01", 2] == pytest.approx(cohort.isin(bought_march).mean())
    fp = churn.cohort_retention(src, days=days, cohort="first_purchase")
    assert (fp[0] == 1.0).all()


def test_risk_list_carries_id_and_pseudonym_and_is_ranked_by_expected_value_lost(sample):
    src, days, table = sample
    r = churn.churn_risk(src, days=days, use_clv=False, top=None)
    n = r.attrs["inactivity_days"]
    assert r["pseudonym"].str.match(r"^K-[0-9a-f]{10}$").all()
    assert not r["pseudonym"].isin(table["customer_id"]).any()
    assert r["customer_id"].isin(table["customer_id"].astype(str)).all()  # the campaign tool needs the id
    assert (r["pseudonym"] == pseudonymize(r["customer_id"]).to_numpy()).all()
    assert r["expected_value_lost"].is_monotonic_decreasing
    assert r["p_churn_next_month"].between(0, 1).all()
    assert r["days_since_last_purchase"].between(n - 30, n - 1).all()
    assert ((r["deadline"] > AS_OF) & (r["deadline"] <= AS_OF + pd.Timedelta(days=30))).all()
    # exactly the customers whose deadline falls next month and who have not yet churned
    due = table[(table["churned"] == 0) & (table["last_purchase"] + pd.Timedelta(days=n) <= AS_OF + pd.Timedelta(days=30))]
    assert len(r) == len(due)


def test_frequent_buyers_silent_as_long_are_more_likely_to_churn(sample):
    _, days, _ = sample
    curves = churn.gap_survival(days, AS_OF)
    # a 60-day silence is rarer for a 5+ purchase customer than for a 2-4 purchase one
    assert curves["5+"].survival_at(60) < curves["2-4"].survival_at(60)


def test_churn_cox_uses_landmark_and_reference_levels(sample):
    src, days, table = sample
    early = churn.early_behaviour(days).merge(churn.early_categories(src), on="customer_id", how="left")
    res = churn.fit_churn_cox(table, early, AS_OF, attributes=("acquisition_channel",))
    ref = res.references["acquisition_channel"]
    levels = set(table["acquisition_channel"].dropna())
    assert f"acquisition_channel={ref}" not in res.cox.params.index  # the reference level has no coefficient
    assert {f"acquisition_channel={lv}" for lv in levels - {ref}} <= set(res.cox.params.index)
    assert {"purchases_30d", "log_spend_90d", "categories_90d"} <= set(res.cox.params.index)
    assert res.cox.n == len(table) - res.n_excluded_recent
    assert 0.5 < res.cox.concordance < 1


def test_a_big_landmark_set_fits_cox_on_a_seeded_subsample_and_the_page_says_so(sample, capsys):
    src, days, table = sample
    early = churn.early_behaviour(days).merge(churn.early_categories(src), on="customer_id", how="left")
    whole = churn.fit_churn_cox(table, early, AS_OF, attributes=("acquisition_channel",))
    assert whole.n_eligible is None  # the sample is far below COX_CUSTOMERS: everyone, as before
    n = whole.cox.n // 2  # as if the base were big: the rule switches on above max_customers
    one = churn.fit_churn_cox(table, early, AS_OF, attributes=("acquisition_channel",), max_customers=n)
    again = churn.fit_churn_cox(table, early, AS_OF, attributes=("acquisition_channel",), max_customers=n)
    other = churn.fit_churn_cox(table, early, AS_OF, attributes=("acquisition_channel",), max_customers=n, seed=1)
    assert one.cox.n == n and one.n_eligible == whole.cox.n and one.to_dict()["n_eligible"] == whole.cox.n
    assert set(one.data["customer_id"]) <= set(whole.data["customer_id"])
    pd.testing.assert_series_equal(one.cox.params, again.cox.params)  # seeded: the same customers every run
    assert set(one.data["customer_id"]) != set(other.data["customer_id"])
    # the intervals are the subsample's own: wider than everyone's, never narrower
    se = lambda r: r.cox.fitter.standard_errors_  # noqa: E731
    assert (se(one)["purchases_30d"] > se(whole)["purchases_30d"])
    a = churn.analyse(src, AS_OF, use_clv=False)
    for language, words in (("en", "random sample of"), ("fi", "satunnaisotokseen")):
        capsys.readouterr()
        shown = page.ChurnPage(dataclasses.replace(a, cox=one), None, language).cox().texts()
        assert any(words in s and Text("churn", language).number(n) in s for s in shown), shown


def test_cli_writes_risk_list_and_rejects_bad_inactivity(sample_dir, tmp_path, capsys):
    from analysis.cli import main

    out = tmp_path / "risk.csv"
    assert main(["churn", str(sample_dir), "--as-of", "2026-10-31", "--out", str(out), "--value-basis", "spend"]) == 0
    risk = pd.read_csv(out, dtype={"customer_id": str})
    assert list(risk.columns[:2]) == ["customer_id", "pseudonym"]
    assert risk["pseudonym"].str.startswith("K-").all() and len(risk) > 0
    assert main(["churn", str(sample_dir), "--as-of", "2026-10-31", "--out", str(out), "--no-clv"]) == 0  # old spelling
    assert pd.read_csv(out)["value_basis"].eq("spend_365d").all()
    assert main(["churn", str(sample_dir), "--as-of", "2026-10-31", "--out", str(out), "--inactivity-days", "0"]) == 2
    assert "inactivity_days" in capsys.readouterr().err


def test_every_churn_string_exists_in_english_and_finnish_with_the_same_placeholders():
    import json
    import string
    from importlib import resources

    strings = json.loads((resources.files("analysis") / "strings" / "churn.json").read_text(encoding="utf-8"))
    fields = lambda t: {f for _, f, _, _ in string.Formatter().parse(t) if f}  # noqa: E731
    for key, entry in strings.items():
        assert entry.get("en") and entry.get("fi"), key
        assert fields(entry["en"]) == fields(entry["fi"]), key


def test_one_churn_threshold_for_every_page(sample_source):
    from analysis.errors import ParameterError
    from analysis.churn import churn_threshold, define_churn

    assert churn_threshold(sample_source, "2026-10-31", 90) == 90
    assert churn_threshold(sample_source, "2026-10-31") == define_churn(sample_source, "2026-10-31").inactivity_days
    with pytest.raises(ParameterError):
        churn_threshold(sample_source, "2026-10-31", 0)


# --- degrade, don't collapse -------------------------------------------------
def test_holm_adjustment_matches_hand_computation(rossi):
    groups = np.select([rossi["prio"] == 0, rossi["prio"] <= 2], ["none", "few"], "many")
    g = churn.kaplan_meier_by_group(rossi["week"], rossi["arrest"], groups, unit_days=7)
    p = g.pairwise["p"].to_numpy()
    order = np.argsort(p)
    by_hand = np.minimum(1, np.maximum.accumulate((len(p) - np.arange(len(p))) * p[order]))
    assert np.allclose(g.pairwise["p_holm"].to_numpy()[order], by_hand)


def test_small_groups_are_pooled_into_other_for_the_curves():
    d = np.arange(1, 61, dtype=float)
    e = np.tile([1, 0], 30)
    groups = ["a"] * 28 + ["b"] * 28 + ["c"] * 3 + ["d"]
    g = churn.kaplan_meier_by_group(d, e, groups, min_group_size=4)
    assert set(g.curves) == {"a", "b", churn.OTHER} and g.pooled == ("c", "d") and g.dropped == ()
    assert g.curves[churn.OTHER].n == 4
    g = churn.kaplan_meier_by_group(d, e, groups, min_group_size=5)  # the pool of 4 is still too small
    assert set(g.curves) == {"a", "b"} and g.dropped == ("c", "d")


def test_groups_that_cannot_be_compared_raise_a_model_error_with_a_reason():
    with pytest.raises(ModelError) as err:
        churn.kaplan_meier_by_group([1, 2, 3, 4], [1, 0, 1, 0], ["a", "a", "a", "b"], group_by="region",
                                    min_group_size=3)
    assert err.value.reason == "groups_not_comparable"
    assert err.value.facts == {"group_by": "region", "n_groups": 1, "min_group_size": 3, "n_events": 2}


def test_a_region_of_one_customer_does_not_stop_the_cox_model(sample):
    # The issue: a region level with ONE customer made the Cox fit singular and the month failed.
    src, days, table = sample
    early = churn.early_behaviour(days).merge(churn.early_categories(src), on="customer_id", how="left")
    t = table.copy()
    t.loc[t.index[t["churned"] == 0][0], "region"] = "Ahvenanmaa"
    res = churn.fit_churn_cox(t, early, AS_OF, attributes=("region", "acquisition_channel"))
    assert "Ahvenanmaa" in res.pooled["region"]
    assert not any("Ahvenanmaa" in c for c in res.cox.params.index)
    assert np.isfinite(res.cox.summary()["se"]).all()


def test_cox_levels_pool_into_other_or_join_the_reference():
    rng = np.random.default_rng(3)
    n = 300
    table = pd.DataFrame({"customer_id": [f"c{i}" for i in range(n)], "start_date": pd.Timestamp("2024-01-01"),
                          "duration_days": rng.integers(100, 700, n), "churned": rng.integers(0, 2, n),
                          "region": ["big"] * 250 + ["mid"] * 40 + [f"tiny{i}" for i in range(10)]})
    early = pd.DataFrame({"customer_id": table["customer_id"], "purchases_30d": rng.integers(1, 5, n).astype(float)})
    data, refs, _ = churn.cox_dataset(table, early, "2026-10-31", attributes=("region",))
    assert refs == {"region": "big"}
    assert "region=(other)" not in data  # 10 customers: too few even together, so they count with "big"
    assert data.attrs["pooled"]["region"] == tuple(sorted(f"tiny{i}" for i in range(10)))
    data, _, _ = churn.cox_dataset(table, early, "2026-10-31", attributes=("region",), min_level_customers=10,
                                   min_level_events=0)
    assert "region=tiny0" not in data  # one customer each, but ten together are enough for their own ratio
    assert data["region=(other)"].sum() == 10 and data["region=mid"].sum() == 40


def test_too_few_churns_for_cox_is_a_finding_not_a_crash(sample):
    src, days, table = sample
    early = churn.early_behaviour(days)
    t = table.copy()
    t["churned"] = 0
    t.loc[t.index[:5], "churned"] = 1
    with pytest.raises(ModelError) as err:
        churn.fit_churn_cox(t, early, AS_OF, attributes=("region",))
    assert err.value.reason == "cox_not_estimable"
    assert err.value.facts["min_events"] == churn.MIN_COX_EVENTS


def test_cox_that_cannot_converge_says_cox_not_estimable(rossi):
    df = rossi[["week", "arrest", "fin"]].copy()
    df["separates"] = df["arrest"].astype(float)  # perfectly separates churners: no finite estimate
    with pytest.raises(ModelError) as err:
        churn.fit_cox(df, "week", "arrest", check_ph=False)
    assert err.value.reason == "cox_not_estimable"


@pytest.fixture(scope="module")
def tiny_source(tmp_path_factory):
    """Twelve regular buyers in two regions: valid data, but too few churns for a Cox model or a comparison."""
    from analysis.data import load_source

    folder = tmp_path_factory.mktemp("tiny")
    rows = [(f"t{i:02d}", (pd.Timestamp("2025-01-01") + pd.Timedelta(days=int(d))).date().isoformat(), 20.0)
            for i in range(12) for d in range(i, 660 - 40 * (i == 0), 25)]
    pd.DataFrame(rows, columns=["customer_id", "timestamp", "amount"]).to_csv(folder / "transactions.csv", index=False)
    pd.DataFrame({"customer_id": [f"t{i:02d}" for i in range(12)], "signup_date": "2025-01-01",
                  "region": ["Uusimaa"] * 11 + ["Lappi"], "acquisition_channel": "referral"}).to_csv(
        folder / "customers.csv", index=False)
    return load_source(folder, "2026-10-31")


def test_churn_page_renders_with_findings_when_models_cannot_be_estimated(tiny_source, capsys):
    from analysis.report.text import Text
    from analysis.report.numbers import finding_text

    a = churn.analyse(tiny_source, inactivity_days=60, group_by="region", use_clv=False)
    assert a.cox is None and a.by_group is None
    reasons = {f.analysis: f.reason for f in a.findings}
    assert reasons == {"survival.groups": "groups_not_comparable", "survival.cox": "cox_not_estimable"}
    assert a.kpis is not None and a.overall.n == 12
    for language in ("en", "fi"):
        p = page.ChurnPage(a, None, language)
        sections = dict(zip(p.SECTIONS, p.sections()))
        shown = [part[1] for sec in sections.values() for part in sec.parts if part[0] == "finding"]
        assert [f.analysis for f in shown] == ["survival.groups", "survival.cox"]  # on the curves and the Cox section
        assert sections["cox"].texts() == [Text("churn", language)("h_cox")] and not sections["ph"]
        for f in a.findings:
            text = finding_text(page.localised_finding(f, language), Text("report", language))
            assert "{" not in text and f.detail not in text  # the reason's own sentence, not the generic one
    import json

    json.dumps(a.to_dict())


def test_one_customer_region_in_the_month_does_not_stop_the_churn_page(sample_dir, tmp_path):
    from generators import awkward_sample

    folder = awkward_sample(sample_dir, tmp_path / "awkward")
    a = churn.analyse(folder, "2026-10-31", group_by="region", use_clv=False)
    assert a.cox is not None and a.findings == ()
    assert "Ahvenanmaa" in a.cox.pooled.get("region", ())
    assert "Ahvenanmaa" not in a.by_group.curves


# --- one account: the churn page reads the month's customer base ------------
@pytest.fixture(scope="module")
def base():
    from analysis.base import BaseSettings, CustomerBase

    return CustomerBase.build("data/sample", "2026-10-31", BaseSettings(n_clusters=3))


def test_churn_events_follow_the_customer_base_rule(base):
    a = churn.analyse(base=base, group_by="acquisition_channel")
    assert a.definition.inactivity_days == base.settings.inactivity_days
    assert a.overall.n_events == base.key_number("customers_churned").value
    churned = set(a.table.loc[a.table["churned"] == 1, "customer_id"])
    assert churned == set(base.customers.loc[base.customers["is_churned"], "customer_id"])
    # the month flows are the base's
    last = a.kpis.monthly.iloc[-1]
    assert (last["lost"], last["returned"], last["new"]) == tuple(int(base.flows.iloc[-1][k])
                                                                  for k in ("lost", "returned", "new"))


def test_churn_key_numbers_share_the_customer_base_values(base):
    a = churn.analyse(base=base)
    numbers = {k.concept: k.value for k in page.key_numbers(a, base)}
    for concept in page.SHARED_CONCEPTS:
        assert numbers[concept] == base.numbers()[concept], concept
    assert numbers["customers_due_next_month"] == a.risk.attrs["n_due"]
    assert a.risk["value_basis"].eq("clv").all()  # the base's one CLV fit values the list


def test_every_churn_section_is_a_section_made_from_the_result(base):
    from analysis.report.section import Section

    a = churn.analyse(base=base, group_by="acquisition_channel")
    p = page.ChurnPage(a, base, "en")
    sections = dict(zip(p.SECTIONS, p.sections()))
    assert all(isinstance(s, Section) and s for s in sections.values())
    tx = Text("churn", "en")
    # the key numbers are the page's own and the base's, recorded as they are
    (numbers,) = [part[1] for part in sections["headline"].parts if part[0] == "numbers"]
    assert [(n.concept, n.value) for n in numbers] == [(n.concept, n.value) for n in page.key_numbers(a, base)]
    # 312 days (the sample's median lifetime, notebook check) / 30.44 days a month = 10.3 months
    assert round(a.overall.median) == 312
    assert "Half of the customers have churned 10.3 months after their first purchase" in sections["curves"].texts()[1]
    figures = {s: [part[2] for part in sec.parts if part[0] == "figure"] for s, sec in sections.items()}
    assert figures["curves"] == [tx("fig_curves", group_by="acquisition channel")]
    assert figures["cohorts"] == [tx("fig_cohorts")] and figures["cox"] == [tx("fig_forest")]
    # the lists are the results' rows, pseudonyms only
    (risk,) = [part[1] for part in sections["risk"].parts if part[0] == "table"]
    assert list(risk[tx("col_customer")]) == list(a.risk["pseudonym"])
    (contacts,) = [part[1] for part in sections["contact"].parts if part[0] == "table"]
    assert list(contacts[tx("col_customer")]) == list(base.contact_list()["pseudonym"].head(20))
    # a figure drawn in the notebook is the one the section shows
    ax = page.plot_survival(a.overall, labels=tx, max_months=12)
    assert [part[1] for part in p.curves(ax).parts if part[0] == "figure"] == [ax.figure]


def test_churn_plots_take_the_result_and_words_and_return_an_axes_readable_on_a_phone(base):
    import matplotlib.pyplot as plt
    from matplotlib.axes import Axes

    a = churn.analyse(base=base, group_by="acquisition_channel")
    for language in ("en", "fi"):
        tx = page.words(language)
        for plot, data in ((page.plot_survival, a.by_group), (page.plot_survival, a.overall),
                           (page.plot_forest, a.cox.cox), (page.plot_cohort_heatmap, a.cohorts)):
            ax = plot(data, labels=tx)
            assert isinstance(ax, Axes)
            readable_on_a_phone(ax)
            _, given = plt.subplots()
            assert plot(data, labels=tx, ax=given) is given and given.has_data()
            plt.close("all")


def test_silent_for_exactly_the_threshold_is_churned_on_the_churn_page_too(tmp_path):
    from analysis.data import load_source

    as_of = pd.Timestamp("2026-10-31")
    rows = [("at", "2026-01-05"), ("at", (as_of - pd.Timedelta(days=150)).date().isoformat()),
            ("before", "2026-01-05"), ("before", (as_of - pd.Timedelta(days=149)).date().isoformat())]
    pd.DataFrame(rows, columns=["customer_id", "timestamp"]).assign(amount=10.0).to_csv(
        tmp_path / "transactions.csv", index=False)
    t = churn.churn_table(load_source(tmp_path, as_of), as_of, 150).set_index("customer_id")
    assert t.loc["at", "churned"] == 1 and t.loc["at", "churn_date"] == as_of
    assert t.loc["before", "churned"] == 0
    k = churn.retention_kpis(load_source(tmp_path, as_of), as_of, 150)
    assert k.monthly.iloc[-1]["active"] == 1
