"""Known answers for the experiment statistics, guards on real-shaped data, and the demo's true effects.

Hard-coded numbers come from published sources named next to them; everything else is checked
against an independent implementation (statsmodels, scipy, lifelines) or a seeded simulation.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from analysis import experiments as ex
from analysis import stats
from analysis.errors import DataError, ModelError, ParameterError
from analysis.report.pages import campaign
from analysis.report.pages import experiments as page

AS_OF = "2026-10-31"


# --- two proportions ----------------------------------------------------------
@pytest.mark.parametrize("k, n, low, high", [
    # Newcombe R.G. (1998) "Two-sided confidence intervals for the single proportion: comparison of
    # seven methods", Statistics in Medicine 17:857-872, Table I, method 3 (Wilson score, no CC).
    (81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611), (1, 29, 0.0061, 0.1718),
])
def test_wilson_interval_matches_newcombe_1998(k, n, low, high):
    assert stats.wilson_interval(k, n) == pytest.approx((low, high), abs=1e-4)


@pytest.mark.parametrize("b, n_b, a, n_a, low, high", [
    # Newcombe R.G. (1998) "Interval estimation for the difference between independent proportions:
    # comparison of eleven methods", Statistics in Medicine 17:873-890, Table II, method 10 (score, no CC).
    (56, 70, 48, 80, 0.0524, 0.3339),
    (9, 10, 3, 10, 0.1705, 0.8090),
])
def test_difference_interval_matches_newcombe_1998(b, n_b, a, n_a, low, high):
    r = stats.two_proportion_test(a, n_a, b, n_b)
    assert r.estimate == pytest.approx(b / n_b - a / n_a)
    assert r.ci_low == pytest.approx(low, abs=1e-4)
    assert r.ci_high == pytest.approx(high, abs=1e-4)


def test_z_test_p_value_matches_statsmodels_documentation_example():
    # statsmodels docs, proportions_ztest example: count=[5, 12], nobs=[83, 99] -> p-value 0.159
    r = stats.two_proportion_test(12, 99, 5, 83)
    assert round(r.p_value, 3) == 0.159


@pytest.mark.parametrize("ca, na, cb, nb", [(130, 1000, 160, 1000), (7, 40, 3, 55), (480, 5210, 521, 5190)])
def test_z_test_and_newcombe_interval_agree_with_statsmodels(ca, na, cb, nb):
    from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

    r = stats.two_proportion_test(ca, na, cb, nb, alpha=0.1)
    z, p = proportions_ztest([cb, ca], [nb, na])
    lo, hi = confint_proportions_2indep(cb, nb, ca, na, method="newcomb", compare="diff", alpha=0.1)
    assert r.z == pytest.approx(z, rel=1e-9)
    assert r.p_value == pytest.approx(p, rel=1e-9)
    assert (r.ci_low, r.ci_high) == pytest.approx((lo, hi), abs=1e-10)


def test_non_inferiority_matches_statsmodels_wald_test():
    from statsmodels.stats.proportion import test_proportions_2indep

    r = stats.two_proportion_test(120, 1000, 110, 1000, margin=0.02)
    sm = test_proportions_2indep(110, 1000, 120, 1000, value=-0.02, method="wald", compare="diff",
                                 alternative="larger", correction=False)
    assert r.noninferiority_p_value == pytest.approx(sm.pvalue, rel=1e-9)
    assert not r.noninferior  # 1 point worse: 1,000 per arm cannot rule out 2 points worse
    assert stats.two_proportion_test(1200, 10_000, 1100, 10_000, margin=0.02).noninferior


def test_relative_lift_interval_covers_true_lift_about_95_percent_of_the_time():
    rng = np.random.default_rng(7)
    pa, pb, n, reps = 0.10, 0.12, 4000, 2000
    ca, cb = rng.binomial(n, pa, reps), rng.binomial(n, pb, reps)
    hits = 0
    for a, b in zip(ca, cb):
        r = stats.two_proportion_test(int(a), n, int(b), n)
        hits += r.lift_ci_low <= pb / pa - 1 <= r.lift_ci_high
    assert 0.93 <= hits / reps <= 0.97


def test_impossible_counts_are_refused_in_plain_words():
    with pytest.raises(ParameterError, match="conversions"):
        stats.two_proportion_test(11, 10, 3, 10)


# --- means --------------------------------------------------------------------
SLEEP_1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0]
SLEEP_2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4]


def test_welch_matches_r_t_test_on_student_sleep_data():
    # R: t.test(extra ~ group, data = sleep) -> Welch Two Sample t-test: t = -1.8608, df = 17.776,
    # p-value = 0.07939, 95 percent CI -3.3654832 0.2054832 (group 1 minus group 2).
    r = stats.welch_test(SLEEP_2, SLEEP_1)
    assert r.t == pytest.approx(-1.8608, abs=1e-4)
    assert r.df == pytest.approx(17.776, abs=1e-3)
    assert r.p_value == pytest.approx(0.07939, abs=1e-5)
    assert (r.ci_low, r.ci_high) == pytest.approx((-3.3654832, 0.2054832), abs=1e-6)


def test_welch_agrees_with_scipy_on_skewed_revenue():
    rng = np.random.default_rng(3)
    a, b = rng.gamma(0.3, 40, 700), rng.gamma(0.3, 46, 900)
    r = stats.welch_test(a, b, alpha=0.1)
    sp = scipy_stats.ttest_ind(b, a, equal_var=False)
    ci = sp.confidence_interval(0.9)
    assert r.p_value == pytest.approx(sp.pvalue, rel=1e-9)
    assert (r.ci_low, r.ci_high) == pytest.approx((ci.low, ci.high), rel=1e-9)


def test_bootstrap_interval_is_seeded_and_close_to_welch_for_large_arms():
    rng = np.random.default_rng(4)
    a, b = rng.gamma(0.5, 20, 3000), rng.gamma(0.5, 22, 3000)
    r1 = stats.bootstrap_difference(a, b, seed=11, n_boot=1000)
    r2 = stats.bootstrap_difference(a, b, seed=11, n_boot=1000)
    w = stats.welch_test(a, b)
    assert r1 == r2
    assert r1.ci_low == pytest.approx(w.ci_low, abs=0.15 * (w.ci_high - w.ci_low))
    assert r1.ci_high == pytest.approx(w.ci_high, abs=0.15 * (w.ci_high - w.ci_low))


# --- planner ------------------------------------------------------------------
def test_sample_size_matches_r_power_prop_test_examples():
    # R documentation of power.prop.test, examples:
    #   power.prop.test(n = 50, p1 = .50, p2 = .75)      ## => power = 0.740
    #   power.prop.test(p1 = .50, p2 = .75, power = .90) ## => n = 76.7
    #   power.prop.test(n = 50, p1 = .5, power = .90)    ## => p2 = 0.8026
    assert round(stats.power_proportions(0.5, 0.25, 50), 3) == 0.740
    assert stats.sample_size_proportions(0.5, 0.25, power=0.9) == 77
    assert round(0.5 + stats.mde_proportions(0.5, 50, power=0.9), 4) == 0.8026


@pytest.mark.parametrize("baseline, mde", [(0.05, 0.01), (0.10, 0.02), (0.30, 0.03)])
def test_sample_size_is_close_to_statsmodels_arcsine_power(baseline, mde):
    from statsmodels.stats.power import NormalIndPower
    from statsmodels.stats.proportion import proportion_effectsize

    ours = stats.sample_size_proportions(baseline, mde)
    h = proportion_effectsize(baseline + mde, baseline)
    arcsine = NormalIndPower().solve_power(effect_size=h, alpha=0.05, power=0.8, alternative="two-sided")
    assert ours == pytest.approx(arcsine, rel=0.03)
    # n and MDE are each other's inverse
    assert stats.mde_proportions(baseline, ours) <= mde + 1e-9
    assert stats.mde_proportions(baseline, ours - 1) > mde


def test_sample_size_for_means_matches_statsmodels_normal_power():
    from statsmodels.stats.power import NormalIndPower

    n = NormalIndPower().solve_power(effect_size=2.5 / 40, alpha=0.05, power=0.8)
    assert stats.sample_size_means(sd=40, mde=2.5) == math.ceil(n)
    assert stats.mde_means(sd=40, n=math.ceil(n)) <= 2.5


# --- SRM and multiple testing -------------------------------------------------
def test_srm_matches_scipy_chisquare_documentation_examples():
    # scipy.stats.chisquare docstring: chisquare([16, 18, 16, 14, 12, 12]) -> (2.0, 0.84914503608460956);
    # with f_exp=[16, 16, 16, 16, 16, 8] -> (3.5, 0.62338762774958223)
    r = stats.srm_test([16, 18, 16, 14, 12, 12], [1] * 6)
    assert (r.statistic, r.p_value) == pytest.approx((2.0, 0.84914503608460956))
    r = stats.srm_test([16, 18, 16, 14, 12, 12], [16, 16, 16, 16, 16, 8])
    assert (r.statistic, r.p_value) == pytest.approx((3.5, 0.62338762774958223))


def test_srm_flags_a_broken_fifty_fifty_split_only_on_strong_evidence():
    assert stats.srm_test([5000, 5400], [0.5, 0.5]).mismatch  # p ~ 9e-5
    assert not stats.srm_test([5000, 5150], [0.5, 0.5]).mismatch
    r = stats.srm_test([614, 2133], [0.2, 0.8])
    assert r.p_value == pytest.approx(scipy_stats.chisquare([614, 2133], [549.4, 2197.6]).pvalue, rel=1e-9)


@pytest.mark.parametrize("method, sm_method", [("holm", "holm"), ("bh", "fdr_bh")])
def test_adjusted_p_values_match_statsmodels_multipletests(method, sm_method):
    from statsmodels.stats.multitest import multipletests

    p = np.random.default_rng(5).uniform(0, 0.2, 9)
    ours = stats.adjust_p_values(p, method)
    reject, p_adj, _, _ = multipletests(p, alpha=0.05, method=sm_method)
    assert ours["p_adjusted"].to_numpy() == pytest.approx(p_adj)
    assert (ours["reject"].to_numpy() == reject).all()


# --- CUPED, Bayes, sequential, retention -----------------------------------------
def test_cuped_theta_is_the_regression_slope_and_variance_falls_by_r_squared():
    rng = np.random.default_rng(6)
    x = rng.gamma(2, 15, 2000)
    y = 0.6 * x + rng.normal(0, 10, 2000)
    y[1000:] += 2.0
    r = stats.cuped_test(y[:1000], x[:1000], y[1000:], x[1000:])
    slope = np.polyfit(x, y, 1)[0]
    assert r.theta == pytest.approx(slope, rel=1e-9)
    assert r.variance_reduction == pytest.approx(np.corrcoef(x, y)[0, 1] ** 2, abs=0.01)
    assert r.adjusted.std_error < r.unadjusted.std_error
    assert r.ci_low < 2.0 < r.ci_high


def test_bayesian_probability_and_expected_loss_match_monte_carlo():
    r = stats.bayes_proportions(95, 1000, 118, 1000)
    rng = np.random.default_rng(8)
    a = rng.beta(*r.posterior_a, 2_000_000)
    b = rng.beta(*r.posterior_b, 2_000_000)
    assert r.prob_b_better == pytest.approx((b > a).mean(), abs=0.002)
    assert r.expected_loss_b == pytest.approx(np.maximum(a - b, 0).mean(), rel=0.03)
    assert r.expected_loss_a == pytest.approx(np.maximum(b - a, 0).mean(), rel=0.01)


def test_weekly_peeking_inflates_false_alarms_but_msprt_keeps_them_below_alpha():
    sim = stats.simulate_peeking(n_sims=600, n_looks=8, seed=2026)
    assert sim["naive_false_positive_rate"] > 0.10
    assert sim["msprt_false_positive_rate"] <= 0.05


def test_msprt_p_value_never_rises_and_interval_holds_the_estimate():
    r = stats.msprt([0.0, 0.01, 0.03, 0.02], [4e-4, 2e-4, 1e-4, 7e-5], tau=0.02)
    p = r.looks["p_always_valid"]
    assert (p.diff().dropna() <= 0).all()
    assert (r.looks["cs_low"] <= r.looks["cs_high"]).all()


def test_rmst_matches_lifelines_and_its_error_matches_the_plain_mean_without_censoring():
    from lifelines import KaplanMeierFitter
    from lifelines.utils import restricted_mean_survival_time

    rng = np.random.default_rng(9)
    t_a, t_b = rng.exponential(30, 800).round(), rng.exponential(40, 800).round()
    e = np.ones(800, dtype=int)
    r = stats.compare_retention(t_a, e, t_b, e, horizon_days=60)
    km = KaplanMeierFitter().fit(t_a, e)
    assert r.rmst_a == pytest.approx(restricted_mean_survival_time(km, t=60), rel=1e-6)
    assert r.rmst_a == pytest.approx(np.minimum(t_a, 60).mean(), rel=1e-9)
    se_plain = math.hypot(np.minimum(t_a, 60).std() / math.sqrt(800), np.minimum(t_b, 60).std() / math.sqrt(800))
    se_ours = (r.ci_high - r.ci_low) / (2 * scipy_stats.norm.ppf(0.975))
    assert se_ours == pytest.approx(se_plain, rel=0.01)
    assert r.p_value < 0.001 and r.estimate > 0


# --- outcomes and guards on the sample --------------------------------------------
@pytest.fixture(scope="module")
def sample(sample_source):
    return sample_source


@pytest.fixture(scope="module")
def bare_dir(sample_dir, tmp_path_factory):
    """The sample without its campaigns table: what an export without campaign briefs looks like."""
    import shutil

    d = tmp_path_factory.mktemp("bare") / "sample"
    shutil.copytree(sample_dir, d, ignore=shutil.ignore_patterns("campaigns.*"))
    return d


@pytest.fixture(scope="module")
def bare(bare_dir):
    from analysis.data import load_source

    return load_source(bare_dir, as_of=AS_OF)


@pytest.fixture(scope="module")
def truth(sample_dir):
    return json.loads((sample_dir / "truth.json").read_text())["experiments"]


def test_outcomes_match_a_plain_pandas_count(sample):
    out = ex.experiment_outcomes(sample, "reactivation-2026-03", conversion_window_days=30)
    tx = sample.transactions()
    at = pd.Timestamp("2026-03-02 09:00:00")
    win = tx[(tx["timestamp"] >= at) & (tx["timestamp"] < at + pd.Timedelta(days=30))]
    ids = set(out["customer_id"])
    revenue = win[win["customer_id"].isin(ids)].groupby("customer_id")["amount"].sum()
    buyers = set(win[(win["amount"] > 0) & win["customer_id"].isin(ids)]["customer_id"])
    o = out.set_index("customer_id")
    assert set(o.index[o["converted"]]) == buyers
    assert o["revenue"].sum() == pytest.approx(revenue.sum())
    assert o.loc[revenue.index, "revenue"].to_numpy() == pytest.approx(revenue.to_numpy())
    assert out["retained"].notna().all()  # 90 days after March have passed by October


def test_sample_experiments_pass_every_guard(sample, truth):
    for exp_id in truth:
        r = ex.analyse_experiment(sample, exp_id)
        assert r.guards_passed, [campaign.guard_message(g) for g in r.guards if not g.passed]


@pytest.mark.parametrize("exp_id", ["reactivation-2026-03", "vip-bonus-2026-08", "newsletter-2026-09"])
def test_estimated_effects_cover_the_true_effects_in_the_sample(sample, truth, exp_id):
    r = ex.analyse_experiment(sample, exp_id)
    t = truth[exp_id]
    assert r.control == t["control"] and r.treatment == t["treatment"]
    assert r.conversion.ci_low <= t["true_conversion_uplift"] <= r.conversion.ci_high
    assert r.cuped.ci_low <= t["true_revenue_uplift_per_customer"] <= r.cuped.ci_high


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    from analysis.data import demo

    return demo.write_demo_data(tmp_path_factory.mktemp("demo") / "demo", n_customers=20_000, seed=2026)


def test_demo_verdicts_find_the_planted_effects_and_no_effect_where_none_was_planted(demo_dir):
    d = demo_dir
    truth = json.loads((d / "truth.json").read_text())["experiments"]
    verdicts = {}
    for exp_id, t in truth.items():
        r = ex.analyse_experiment(d, exp_id, as_of=AS_OF)
        verdicts[exp_id] = r.verdict
        assert r.conversion.ci_low <= t["true_conversion_uplift"] <= r.conversion.ci_high
        assert r.cuped.ci_low <= t["true_revenue_uplift_per_customer"] <= r.cuped.ci_high
    assert verdicts == {"reactivation-2026-03": "better", "vip-bonus-2026-08": "better",
                        "newsletter-2026-09": "no_difference"}


def test_layout_change_is_shown_no_worse_than_a_three_point_margin(demo_dir):
    r = ex.analyse_experiment(demo_dir, "newsletter-2026-09", as_of=AS_OF, margin=0.03)
    assert r.verdict == "non_inferior"
    assert r.conversion.noninferiority_p_value < 0.05
    assert ex.analyse_experiment(demo_dir, "newsletter-2026-09", as_of=AS_OF, margin=0.005).verdict == "no_difference"


def test_always_valid_interval_is_wider_than_the_fixed_horizon_interval(sample):
    seq = ex.sequential_looks(sample, "reactivation-2026-03")
    fixed = ex.analyse_experiment(sample, "reactivation-2026-03").conversion
    last = seq.looks.iloc[-1]
    assert last["estimate"] == pytest.approx(fixed.estimate)
    assert seq.ci_high - seq.ci_low > fixed.ci_high - fixed.ci_low
    assert seq.p_value >= fixed.p_value  # the price of being allowed to look every week
    assert list(seq.looks["date"].astype(str)) == ["2026-03-09", "2026-03-16", "2026-03-23", "2026-03-30", "2026-04-01"]


def test_unfinished_window_withholds_the_verdict_and_says_when_it_ends(sample_dir):
    r = ex.analyse_experiment(sample_dir, "newsletter-2026-09", as_of="2026-10-20")
    assert r.verdict == "withheld"
    failed = [g for g in r.guards if not g.passed]
    assert [g.name for g in failed] == ["window_finished"]
    assert failed[0].facts["ends"] == "2026-10-28"
    assert "2026-10-28" in campaign.guard_message(failed[0], "en")
    assert "28.10.2026" in campaign.guard_message(failed[0], "fi")


def test_broken_split_withholds_the_verdict(sample):
    out = ex.experiment_outcomes(sample, "newsletter-2026-09")
    ctrl = out.index[out["variant"] == "old_layout"]
    broken = out.drop(ctrl[: len(ctrl) // 2])  # half the control group lost, e.g. a failed send log
    r = ex.analyse_experiment(sample, "newsletter-2026-09", outcomes=broken)
    assert r.verdict == "withheld"
    assert [g.name for g in r.guards if not g.passed] == ["sample_ratio"]


def test_customer_in_two_groups_withholds_the_verdict(sample):
    out = ex.experiment_outcomes(sample, "newsletter-2026-09")
    other = "new_layout" if out.iloc[0]["variant"] == "old_layout" else "old_layout"
    twice = out.iloc[[0]].assign(variant=other)
    if "is_control" in twice:
        twice["is_control"] = other == "old_layout"
    r = ex.analyse_experiment(sample, "newsletter-2026-09", outcomes=pd.concat([out, twice]))
    assert r.verdict == "withheld"
    assert "1 customers are in more than one group" in campaign.guard_message(next(g for g in r.guards if not g.passed))


def test_too_few_customers_withholds_the_verdict(sample):
    r = ex.analyse_experiment(sample, "vip-bonus-2026-08", min_units_per_arm=100)
    assert r.verdict == "withheld"
    assert "control" in campaign.guard_message(next(g for g in r.guards if not g.passed))


def test_unknown_experiment_names_the_ones_that_exist(sample):
    with pytest.raises(ParameterError, match="reactivation-2026-03"):
        ex.experiment_outcomes(sample, "spring-sale")


# --- campaign report, headline, command line ---------------------------------------
class _WithCampaigns:
    """A source with a ``campaigns`` table (the data layer's optional table), for the brief."""

    def __init__(self, source, rows: pd.DataFrame):
        self._source, self._rows = source, rows

    def has(self, table):
        return table == "campaigns" or self._source.has(table)

    def columns(self, table):
        return list(self._rows.columns) if table == "campaigns" else self._source.columns(table)

    def sql(self, query, params=None):
        return self._rows[self._rows["experiment_id"] == params[0]].reset_index(drop=True)


@pytest.fixture(scope="module")
def demo_bare(demo_dir, tmp_path_factory):
    """The 20,000-customer demo without its campaigns table (the sample's 2,000 customers are too few for the
    planted win-back effect to be told from chance)."""
    import shutil

    from analysis.data import load_source

    d = tmp_path_factory.mktemp("demo_bare") / "demo"
    shutil.copytree(demo_dir, d, ignore=shutil.ignore_patterns("campaigns.*"))
    return load_source(d, as_of=AS_OF)


def test_campaign_report_turns_the_win_back_test_into_money_and_plain_sentences(demo_bare):
    bare = demo_bare
    rep = ex.campaign_report(bare, "reactivation-2026-03", campaign_cost=500, include_clv=False)
    r = rep.result
    n_t = int(r.arms.loc["offer", "customers"])
    assert rep.incremental_revenue == pytest.approx(r.cuped.estimate * n_t)
    assert rep.roi == pytest.approx((rep.incremental_revenue - 500) / 500) and rep.roi_basis == "revenue"
    assert rep.cost_source == "given"
    orders = int(ex.experiment_outcomes(bare, "reactivation-2026-03").query("variant == 'offer'")["n_purchases"].sum())
    assert rep.cost_per_order == pytest.approx(500 / orders)
    en, fi = campaign.campaign_text(rep, "en"), campaign.campaign_text(rep, "fi")
    assert en["verdict"].startswith("The campaign worked")
    assert fi["verdict"].startswith("Kampanja toimi")
    assert en["goal"].startswith("No campaign brief")  # no campaigns table: nothing is invented
    assert "not on margin" in en["money"]
    assert any("one campaign" in c for c in en["caveats"])
    assert "€500" in en["money"] and "500\u00a0€" in fi["money"]
    json.dumps(rep.to_dict())


def test_without_a_cost_there_is_no_roi_and_the_page_says_so(bare):
    rep = ex.campaign_report(bare, "reactivation-2026-03", include_clv=False)
    assert rep.campaign_cost is None and rep.roi is None and rep.cost_per_order is None
    assert "No campaign cost is known" in campaign.money_text(rep, "en")
    d = rep.to_dict()
    assert d["roi"] is None and d["cost_per_order"] is None  # present, and null
    assert [n.concept for n in page.ExperimentPage("reactivation-2026-03", rep).key_numbers()] == [
        "experiment_conversion_control", "experiment_conversion_treatment", "experiment_incremental_revenue"]


def test_goal_channel_and_cost_come_from_the_campaigns_table(sample):
    rows = pd.DataFrame({"experiment_id": ["reactivation-2026-03"], "goal": ["Win back lapsing customers"],
                         "channel": ["email"], "audience": [None], "cost_fixed": [200.0],
                         "cost_per_contact": [1.5], "primary_metric": ["conversion"], "margin_rate": [0.3]})
    brief = ex.campaign_brief(_WithCampaigns(sample, rows), "reactivation-2026-03")
    assert brief.goal == "Win back lapsing customers" and brief.audience is None and brief.margin_rate == 0.3
    assert ex.campaign_brief(_WithCampaigns(sample, rows), "newsletter-2026-09") is None
    rep = ex.campaign_report(sample, "reactivation-2026-03", brief=brief, include_clv=False)
    n_t = rep.n_treatment
    assert rep.campaign_cost == pytest.approx(200 + 1.5 * n_t) and rep.cost_source == "campaigns"
    text = campaign.campaign_text(rep, "en")
    assert text["goal"] == "Win back lapsing customers" and "**Channel:** email" in text["execution"]
    assert "campaigns table" in text["money"]


def test_sample_campaigns_table_gives_roi_on_margin_and_cost_per_order(sample, truth):
    t = truth["reactivation-2026-03"]
    rep = ex.campaign_report(sample, "reactivation-2026-03", include_clv=False, n_boot=200)
    assert rep.cost_source == "campaigns" and rep.n_treatment == t["n_treated"]
    assert rep.campaign_cost == pytest.approx(t["true_cost"])
    assert rep.roi_basis == "margin" and rep.margin_rate == t["margin_rate"]
    cost = t["true_cost"]
    assert rep.roi == pytest.approx((rep.incremental_revenue * t["margin_rate"] - cost) / cost)
    orders = int(ex.experiment_outcomes(sample, "reactivation-2026-03").query("variant == 'offer'")["n_purchases"].sum())
    assert rep.cost_per_order == pytest.approx(cost / orders)
    money = campaign.money_text(rep, "en")
    assert "campaigns table" in money and "35%" in money and "margin" in money


def test_cli_json_has_roi_and_cost_per_order_from_the_campaigns_table(run_cli, sample_dir, truth, tmp_path):
    out = tmp_path / "exp.json"
    code, _, err = run_cli("experiment", sample_dir, "--id", "reactivation-2026-03", "--as-of", AS_OF, "--no-clv",
                           "--out", out)
    assert code == 0, err
    data = json.loads(out.read_text())
    t = truth["reactivation-2026-03"]
    cost = t["true_cost"]
    incr = data["campaign"]["incremental_revenue"]
    assert data["roi"] == pytest.approx((incr * t["margin_rate"] - cost) / cost)
    assert data["cost_per_order"] == pytest.approx(cost / data["arms"][1]["purchases_per_customer"] / t["n_treated"])
    assert data["cost_source"] == "campaigns" and data["primary_metric"] == "conversion"


def test_cli_json_without_a_campaigns_table_has_null_roi_and_cost_per_order(run_cli, bare_dir, tmp_path):
    out = tmp_path / "exp.json"
    code, _, err = run_cli("experiment", bare_dir, "--id", "reactivation-2026-03", "--as-of", AS_OF, "--no-clv",
                           "--out", out)
    assert code == 0, err
    data = json.loads(out.read_text())
    assert "roi" in data and "cost_per_order" in data
    assert data["roi"] is None and data["cost_per_order"] is None and data["cost_source"] is None


# --- primary metric and multiplicity -------------------------------------------------
def test_verdict_follows_the_primary_metric_declared_in_the_campaigns_table(sample, bare):
    rows = pd.DataFrame({"experiment_id": ["reactivation-2026-03"], "primary_metric": ["revenue"]})
    brief = ex.campaign_brief(_WithCampaigns(bare, rows), "reactivation-2026-03")
    declared = ex.analyse_experiment(bare, "reactivation-2026-03", brief=brief, n_boot=200)
    auto = ex.analyse_experiment(bare, "reactivation-2026-03", n_boot=200)
    assert auto.primary == "conversion" and auto.params["primary_source"] == "auto"  # win-back audience
    assert declared.primary == "revenue" and declared.params["primary_source"] == "campaigns"
    # revenue alone is tested at alpha (one treatment arm: nothing to correct for)
    assert declared.p_value == pytest.approx(declared.adjusted.loc["revenue", "p_value"])
    expected = "better" if declared.p_value < 0.05 else "no_difference"
    assert declared.verdict == expected
    assert ex.analyse_experiment(sample, "vip-bonus-2026-08", n_boot=200).params["primary_source"] == "campaigns"
    assert ex.analyse_experiment(bare, "reactivation-2026-03", primary="revenue", n_boot=200).params[
        "primary_source"] == "parameter"
    with pytest.raises(ParameterError, match="declares 'revenue'"):
        ex.analyse_experiment(bare, "reactivation-2026-03", brief=brief, primary="conversion")
    bad = pd.DataFrame({"experiment_id": ["reactivation-2026-03"], "primary_metric": ["happiness"]})
    with pytest.raises(DataError, match="campaigns.primary_metric"):
        ex.campaign_brief(_WithCampaigns(bare, bad), "reactivation-2026-03")


def test_secondary_metrics_carry_holm_corrected_p_values(sample):
    from statsmodels.stats.multitest import multipletests

    r = ex.analyse_experiment(sample, "reactivation-2026-03", n_boot=200)
    adj = r.adjusted
    assert list(adj.index) == ["conversion", "revenue", "retention", "active_days"]
    assert adj.loc["retention", "p_value"] == pytest.approx(r.retention.p_value)
    assert adj.loc["active_days", "p_value"] == pytest.approx(r.activity.p_value)
    assert adj["p_holm"].to_numpy() == pytest.approx(multipletests(adj["p_value"].to_numpy(), method="holm")[1])
    assert adj.loc["conversion", "role"] == "primary" and set(adj["role"].drop("conversion")) == {"secondary"}
    s = r.summary()
    assert s.loc["revenue_per_customer_cuped", "p_holm"] == pytest.approx(adj.loc["revenue", "p_holm"])
    assert s.loc["conversion_difference", "role"] == "primary"
    table = campaign.measures_table(r, "en")
    holm = [c for c in table.columns if "Holm" in c][0]
    assert table.iloc[0, 0].endswith("(primary)")
    assert (table[holm] != "–").sum() == 5  # buyers, lift, CUPED revenue, retention, active days
    # a measure below 0.05 alone but not after the correction gets the caveat, and only then
    secondary = adj.drop(r.primary)
    lost = bool(((secondary["p_value"] < 0.05) & (secondary["p_holm"] >= 0.05)).any())
    rep = ex.campaign_report(sample, "reactivation-2026-03", include_clv=False, result=r)
    assert any("number of measures" in c for c in campaign.caveats(rep, "en")) == lost


# --- sample ratio mismatch: a warning, then a withheld verdict ------------------------
def _split_source(folder, n_control: int, n_treatment: int):
    """Customers split 50/50 by plan but ``n_control`` / ``n_treatment`` in the data; everyone bought before."""
    rng = np.random.default_rng(5)
    n = n_control + n_treatment
    tx = ["customer_id,timestamp,amount"]
    for i in range(n):
        tx.append(f"c{i},2023-12-{1 + i % 28:02d},{10 + i % 7}")
        if rng.uniform() < 0.3:
            tx.append(f"c{i},2024-01-{2 + i % 25:02d},{5 + i % 11}")
    (folder / "transactions.csv").write_text("\n".join(tx) + "\n")
    (folder / "assignments.csv").write_text(
        "experiment_id,customer_id,variant,is_control,planned_share,assigned_at\n" + "".join(
            f"e1,c{i},{'control' if i < n_control else 'offer'},{str(i < n_control).lower()},0.5,2024-01-01 09:00\n"
            for i in range(n)))
    return str(folder)


@pytest.mark.parametrize("n_control, n_treatment, status, withheld", [
    (500, 500, "passed", False),
    (455, 545, "warning", False),   # chi-square 8.1, p = 0.0044: a warning, the verdict stands
    (440, 560, "failed", True),     # chi-square 14.4, p = 0.00015: the verdict is withheld
])
def test_sample_ratio_mismatch_warns_below_001_and_withholds_below_0001(tmp_path, n_control, n_treatment, status,
                                                                        withheld):
    src = _split_source(tmp_path, n_control, n_treatment)
    r = ex.analyse_experiment(src, "e1", as_of="2024-03-31", n_boot=100)
    g = next(g for g in r.guards if g.name == "sample_ratio")
    assert g.status == status and g.to_dict()["status"] == status
    assert (r.verdict == "withheld") is withheld
    assert g.facts["p_value"] == pytest.approx(scipy_stats.chisquare([n_control, n_treatment]).pvalue)
    table = campaign.guards_table(r, "en")
    assert table.iloc[1, 1] == status  # a warning or a failure never reads as "passed"
    message = campaign.guard_message(g, "en")
    if status == "warning":
        assert r.guard_warnings == [g] and "check the sending" in message and "match the plan" not in message
        rep = ex.campaign_report(src, "e1", as_of="2024-03-31", include_clv=False, result=r)
        assert any(c.startswith("A check gave a warning") for c in campaign.caveats(rep, "en"))
    elif status == "failed":
        assert "do not match the plan" in message
    else:
        assert "match the plan" in message and not r.guard_warnings


def test_cli_marks_a_sample_ratio_warning_as_warning(run_cli, tmp_path):
    src = _split_source(tmp_path, 455, 545)
    code, stdout, _ = run_cli("experiment", src, "--id", "e1", "--as-of", "2024-03-31", "--no-clv")
    assert code == 0
    line = next(x for x in stdout.splitlines() if "Group sizes" in x)
    assert line.strip().startswith("[WARNING]")


def test_production_code_does_not_read_the_demo_answer_key():
    import importlib
    import inspect
    import pkgutil

    modules = [importlib.import_module(f"{package.__name__}.{m.name}") for package in (ex, stats)
               for m in pkgutil.iter_modules(package.__path__)]
    for module in (*modules, page, campaign):
        assert "truth" not in inspect.getsource(module)


def test_results_are_plain_data_with_summary_and_html(sample):
    r = ex.analyse_experiment(sample, "newsletter-2026-09", n_boot=200)
    d = r.to_dict()
    json.dumps(d)
    assert d["verdict"] in ex.VERDICTS and d["guards"][0]["facts"] == {"n_multi": 0, "n_twice": 0}
    for res in (r, r.conversion, r.revenue, r.cuped, r.bayes, r.sequential, r.activity):
        assert isinstance(res.summary(), pd.DataFrame) and "<table" in res._repr_html_()
        json.dumps(res.to_dict())


def test_campaign_report_compares_expected_future_value_when_clv_is_available(sample):
    rep = ex.campaign_report(sample, "newsletter-2026-09")
    assert rep.clv_difference is not None
    assert rep.clv_difference.ci_low < rep.clv_difference.estimate < rep.clv_difference.ci_high


def test_report_for_an_unfinished_test_gives_no_verdict_and_says_what_to_fix(sample_dir):
    rep = ex.campaign_report(sample_dir, "newsletter-2026-09", as_of="2026-10-20", include_clv=False)
    text = campaign.campaign_text(rep, "en")
    assert text["verdict"].startswith("No verdict")
    assert any("has not ended" in c for c in text["caveats"])
    assert any("rerun the analysis" in lesson for lesson in text["lessons"])


# --- degrade: experiments whose groups cannot be compared ---------------------------
def _experiment_source(folder, variants: list[str]):
    """Six buyers; customer i assigned to ``variants[i]`` on 2024-01-01 (valid data)."""
    rows = ["customer_id,timestamp,amount"]
    for i in range(len(variants)):
        rows += [f"c{i},2023-12-0{1 + i % 5},10", f"c{i},2024-01-{10 + i},{5 + i}"]
    (folder / "transactions.csv").write_text("\n".join(rows) + "\n")
    (folder / "assignments.csv").write_text("experiment_id,customer_id,variant,is_control,assigned_at\n" + "".join(
        f"e1,c{i},{v},{str(v == 'control').lower()},2024-01-01 09:00\n" for i, v in enumerate(variants)))
    return str(folder)


def test_one_arm_experiment_is_a_finding_not_a_crash(tmp_path):
    src = _experiment_source(tmp_path, ["offer"] * 6)
    with pytest.raises(ModelError) as err:
        ex.analyse_experiment(src, "e1", as_of="2024-03-31")
    assert err.value.reason == "one_arm" and err.value.facts["customers"] == 6


def test_a_group_of_one_is_too_few_to_compare(tmp_path):
    src = _experiment_source(tmp_path, ["control"] + ["offer"] * 5)
    with pytest.raises(ModelError) as err:
        ex.analyse_experiment(src, "e1", as_of="2024-03-31")
    assert err.value.reason == "too_few_customers"
    assert err.value.facts == {"experiment": "e1", "variant": "control", "customers": 1, "minimum": 2}


def test_headline_lists_a_one_arm_experiment_without_stopping_the_month(tmp_path):
    src = _experiment_source(tmp_path, ["offer"] * 6)
    h = ex.headline(src, "2024-01-31")
    assert h["n_ended"] == 1 and h["n_not_estimable"] == 1 and h["experiments_concluded"] == 0
    assert h["experiments"][0]["reason"] == "one_arm"
    json.dumps(h)


@pytest.mark.parametrize("language", ["en", "fi"])
def test_experiment_page_of_a_one_arm_experiment_renders_with_its_finding(tmp_path, monkeypatch, language):
    import analysis.report.display
    import analysis.report.numbers

    shown = []
    monkeypatch.setattr(analysis.report.display, "_display", shown.append)
    monkeypatch.setattr(analysis.report.numbers, "_publish", shown.append)
    src = _experiment_source(tmp_path, ["offer"] * 6)
    p = page.ExperimentPage.build(src, "e1", language, as_of="2024-03-31", campaign_cost=None)
    assert p.report is None and p.finding.reason == "one_arm"
    for name in page.ExperimentPage.SECTIONS:  # every cell of the notebook, in order
        getattr(p, name)()._ipython_display_()
    findings = [s for s in shown if isinstance(s, dict) and analysis.report.numbers.FINDING_MIME in s]
    assert len(findings) == 1
    assert "offer" in findings[0]["text/html"] and "6" in findings[0]["text/html"]


def test_experiment_page_of_the_sample_has_every_section(sample):
    p = page.ExperimentPage.build(sample, "reactivation-2026-03", "fi", campaign_cost=500, include_clv=False,
                                  n_boot=200)
    sections = p.sections()
    assert all(sections) and p.finding is None
    assert sections[0].texts()[0] == "Kampanjakoe: reactivation-2026-03"
    assert [n.concept for n in p.key_numbers()][-2:] == ["experiment_roi", "experiment_cost_per_purchase"]


def test_headline_lists_the_experiments_that_ended_in_the_month(sample):
    h = ex.headline(sample, AS_OF)
    assert [e["experiment_id"] for e in h["experiments"]] == ["newsletter-2026-09"]
    assert h["n_ended"] == 1 and h["n_no_difference"] == 1 and h["experiments_concluded"] == 1
    json.dumps(h)
    september = ex.headline(sample.path, "2026-09-30")
    assert [e["experiment_id"] for e in september["experiments"]] == ["vip-bonus-2026-08"]
    assert ex.headline(sample.path, "2026-06-30")["n_ended"] == 0


def test_cli_prints_the_verdict_and_writes_json(run_cli, demo_dir, tmp_path):
    out = tmp_path / "exp.json"
    code, stdout, _ = run_cli("experiment", demo_dir, "--id", "reactivation-2026-03", "--as-of", AS_OF,
                              "--campaign-cost", "500", "--no-clv", "--out", out)
    assert code == 0
    assert "The campaign worked" in stdout
    data = json.loads(out.read_text())
    assert data["verdict"] == "better" and data["campaign"]["campaign_cost"] == 500


def test_cli_names_the_experiments_when_the_id_is_wrong(run_cli, sample_dir):
    code, _, err = run_cli("experiment", sample_dir, "--id", "spring-sale", "--as-of", AS_OF)
    assert code == 2
    assert "newsletter-2026-09" in err and "Traceback" not in err


def test_a_purchase_refunded_the_same_day_is_not_a_conversion(tmp_path):
    # the package's one purchase-day rule: refunds are netted per customer and day
    (tmp_path / "transactions.csv").write_text(
        "customer_id,timestamp,amount\n"
        "c1,2023-12-01,5\nc2,2023-12-01,5\n"
        "c1,2024-01-05 10:00,10\nc1,2024-01-05 12:00,-10\n"   # bought and returned: no purchase
        "c2,2024-01-06 10:00,10\nc2,2024-01-06 12:00,-4\n")   # partly returned: a purchase of 6
    (tmp_path / "assignments.csv").write_text(
        "experiment_id,customer_id,variant,assigned_at\ne1,c1,control,2024-01-01 09:00\ne1,c2,offer,2024-01-01 09:00\n")
    out = ex.experiment_outcomes(str(tmp_path), "e1", as_of="2024-03-31").set_index("customer_id")
    assert not out.loc["c1", "converted"] and out.loc["c1", "revenue"] == 0
    assert out.loc["c2", "converted"] and out.loc["c2", "revenue"] == 6 and out.loc["c2", "n_purchases"] == 1


# --- every card and sentence true as worded (issue 23) --------------------------------------------------
SAMPLE_EXPERIMENTS = ("vip-bonus-2026-08", "newsletter-2026-09", "reactivation-2026-03")


@pytest.fixture(scope="module")
def sample_reports(sample):
    return {e: ex.campaign_report(sample, e, include_clv=False, n_boot=200) for e in SAMPLE_EXPERIMENTS}


def test_roi_card_reproduces_from_the_cards_beside_it(sample_reports):
    for e, rep in sample_reports.items():
        cards = {n.concept: n for n in page.ExperimentPage(e, rep).key_numbers()}
        cost, roi = cards["experiment_campaign_cost"].value, cards["experiment_roi"].value
        margin = cards["experiment_incremental_margin"].value  # the sample's campaigns have a margin rate
        assert margin == pytest.approx(cards["experiment_incremental_revenue"].value * 0.35)
        assert roi == pytest.approx((margin - cost) / cost), e
        assert cards["experiment_roi"].label_key == "label_experiment_roi_margin"
    label = campaign.Text("concepts", "en")("label_experiment_roi_margin")
    assert label == "ROI = (extra margin − cost) ÷ cost"


def test_lessons_say_it_lost_money_exactly_when_the_roi_interval_is_below_zero(sample_reports):
    for e, rep in sample_reports.items():
        said = any("did not cover the campaign cost" in x for x in campaign.lessons(rep, "en"))
        assert said == (rep.roi_high < 0 or (rep.result.verdict == "better" and rep.roi < 0)), e
        assert said  # on the sample every campaign's ROI interval lies below zero


def test_sample_size_advice_never_exceeds_the_base_and_says_the_mde_instead(sample_reports, sample_dir):
    import re

    customers = len(pd.read_csv(sample_dir / "customers.csv"))
    for e, rep in sample_reports.items():
        pl = rep.planner
        assert pl["n_base_per_arm"] == customers // 2
        assert pl["mde_at_base"] == pytest.approx(stats.mde_proportions(pl["baseline"], customers // 2))
        p = page.ExperimentPage(e, rep)
        texts = " ".join(p.next_test().texts() + campaign.lessons(rep, "en"))
        for sentence in re.split(r"(?<=\.) ", texts):
            for n in re.findall(r"plan ([\d,]+) customers per group", sentence):
                assert int(n.replace(",", "")) <= customers // 2, (e, sentence)
            for n in re.findall(r"([\d,]+) customers per group is more than the customer base allows", sentence):
                assert int(n.replace(",", "")) > customers // 2
                assert "smallest detectable difference is" in sentence
    capped = campaign.lessons(sample_reports["reactivation-2026-03"], "en")[0]
    assert capped.startswith("6,298 customers per group is more than the customer base allows (1,000 per group")
    assert "3.5 percentage points" in capped


def test_data_texts_are_shown_as_data_on_a_finnish_page(sample_reports):
    rep = sample_reports["vip-bonus-2026-08"]
    fi, en = campaign.campaign_text(rep, "fi"), campaign.campaign_text(rep, "en")
    assert en["goal"] == rep.brief.goal  # English data on an English page: as it is
    assert fi["goal"] == f"”{rep.brief.goal}” (aineiston teksti)"  # not translated, and it says so
    assert f"”{rep.brief.channel}” (aineiston teksti)" in fi["execution"]


# --- the page: Sections from results the notebook computes (issue 20) -------------------------------------------
def test_every_experiment_section_is_a_section_and_the_figures_follow_one_signature(sample_reports):
    import matplotlib.pyplot as plt

    from analysis.report.section import Section
    from analysis.report.text import Text

    rep = sample_reports["reactivation-2026-03"]
    p = page.ExperimentPage("reactivation-2026-03", rep, "en")
    sections = p.sections()
    assert [type(s) for s in sections] == [Section] * len(page.ExperimentPage.SECTIONS) and all(sections)
    r = rep.result
    for plot, data in ((page.plot_conversion, r), (page.plot_activity, r.activity),
                       (page.plot_sequential, r.sequential)):
        ax = plot(data, labels=Text("experiments", "fi"))
        assert ax.figure.get_figwidth() <= 6.4  # 640 px at dpi 100: readable on a phone
        fig, given = plt.subplots()
        assert plot(data, labels=Text("experiments", "en"), ax=given) is given
        with pytest.raises(TypeError):
            plot(data, "en")  # labels by name only
    assert given.get_ylabel() == "Difference (points)"
    plt.close("all")


def test_the_notebooks_visible_calls_reproduce_what_the_analysis_computed(sample):
    """The experiment notebook recomputes the weekly looks and the retention comparison in its cells (so an analyst
    can change them): with the analysis's own arguments they are the analysis's own results, and the page says them."""
    out = ex.experiment_outcomes(sample, "newsletter-2026-09", conversion_window_days=30, retention_window_days=90)
    r = ex.analyse_experiment(sample, "newsletter-2026-09", outcomes=out, n_boot=200)
    looks = ex.sequential_looks(sample, "newsletter-2026-09", control=r.control, treatment=r.treatment,
                                conversion_window_days=30, look_every_days=7, alpha=0.05)
    pd.testing.assert_frame_equal(looks.looks, r.sequential.looks)
    assert looks.p_value == r.sequential.p_value
    c, t = out[out["variant"] == r.control], out[out["variant"] == r.treatment]
    activity = stats.compare_retention(c["active_days"], c["lapsed"], t["active_days"], t["lapsed"],
                                       horizon_days=r.activity.horizon_days, alpha=0.05)
    assert (activity.estimate, activity.ci_low, activity.p_value) == (r.activity.estimate, r.activity.ci_low,
                                                                     r.activity.p_value)
    rep = ex.campaign_report(sample, "newsletter-2026-09", result=r, outcomes=out, include_clv=False)
    p = page.ExperimentPage("newsletter-2026-09", rep, "en")
    assert p.retention(activity).texts() == p.retention().texts()
    peeking = stats.simulate_peeking(**page.PEEKING)
    assert p.monitoring(looks, peeking).texts() == p.monitoring().texts()
    fewer = p.monitoring(looks, stats.simulate_peeking(n_sims=100, n_looks=4, seed=1)).texts()[1]
    assert "in a simulation of 100 campaigns without any effect, weekly peeking over 4 weeks" in fewer


def test_the_month_values_come_from_the_saved_customer_state(tmp_path):
    from analysis.base import CustomerBase

    assert page.MonthValues.load(None) == page.MonthValues("sales", True, None)
    base = CustomerBase.build("data/sample", AS_OF)
    month = page.MonthValues.load(base.save(tmp_path / "base.pkl"))
    assert month.money_basis == base.money_basis and month.include_clv
    pd.testing.assert_series_equal(month.customer_values, base.customers.set_index("customer_id")["clv"])


def test_experiment_notebook_parameters_are_typed_for_papermill():
    from analysis.report.notebooks import notebook_parameters, notebooks_dir

    params = notebook_parameters(notebooks_dir() / "experiment.ipynb")
    assert {n: p["inferred_type_name"] for n, p in params.items()} == {
        "source": "str", "as_of": "str", "experiment_id": "str", "conversion_window_days": "int",
        "retention_window_days": "int", "alpha": "float", "campaign_cost": "Optional[float]", "primary": "str",
        "customer_base": "Optional[str]", "language": "str"}
    assert all(p["help"] for p in params.values())
