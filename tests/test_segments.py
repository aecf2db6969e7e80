"""Segments and lifecycle: pyramid, strategy groups, stages, RFM, clusters, transitions, export.

Rules are checked on small hand-made customer tables with known answers; the sample
data checks that every customer gets exactly one label and that the CLI contract holds.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analysis import segments as seg
from analysis.errors import KantaError, ParameterError
from analysis.report.pages import segments as page
from phone_figures import readable_on_a_phone

AS_OF = pd.Timestamp("2026-10-31")


def customer(cid, n_purchases=3, total_spend=100.0, days_since_last=10, days_since_first=400, rhythm=None,
             **extra):
    """One customer-table row described by days before AS_OF (n_purchases=0 makes a prospect)."""
    buyer = n_purchases > 0
    first = AS_OF - pd.Timedelta(days=days_since_first) if buyer else pd.NaT
    last = AS_OF - pd.Timedelta(days=days_since_last) if buyer else pd.NaT
    if rhythm is None and n_purchases > 1:
        rhythm = (days_since_first - days_since_last) / (n_purchases - 1)
    row = dict(customer_id=cid, n_purchases=n_purchases, frequency=max(n_purchases - 1, 0) if buyer else np.nan,
               total_spend=total_spend if buyer else 0.0, first_purchase=first, last_purchase=last,
               days_since_last_purchase=days_since_last if buyer else np.nan,
               mean_interpurchase_days=rhythm if n_purchases > 1 else np.nan,
               tenure_days=days_since_first, n_categories=1 if buyer else 0, online_share=0.5 if buyer else np.nan,
               spend_trend=0.0)
    row.update(extra)
    return row


def table(*rows) -> pd.DataFrame:
    df = pd.DataFrame(list(rows))
    for c in ("first_purchase", "last_purchase"):
        df[c] = pd.to_datetime(df[c])
    return df


def spend_ladder(n=100) -> pd.DataFrame:
    """n buyers with spend n, n-1, ..., 1 (customer c000 spends most)."""
    return table(*[customer(f"c{i:03d}", total_spend=float(n - i)) for i in range(n)])


# --- pyramid -----------------------------------------------------------------------
def test_pyramid_puts_top_5_percent_in_a_and_next_15_percent_in_b():
    t = spend_ladder(100)
    classes = seg.abc_classes(t)
    assert classes.value_counts().to_dict() == {"C": 80, "B": 15, "A": 5}
    assert set(t.loc[classes == "A", "customer_id"]) == {f"c{i:03d}" for i in range(5)}
    assert set(t.loc[classes == "B", "customer_id"]) == {f"c{i:03d}" for i in range(5, 20)}


def test_pyramid_cut_points_are_parameters():
    classes = seg.abc_classes(spend_ladder(100), a_share=0.10, b_share=0.30)
    assert classes.value_counts().to_dict() == {"C": 60, "B": 30, "A": 10}


def test_pyramid_ties_are_cut_by_customer_id_whatever_the_row_order():
    t = table(*[customer(f"c{i:02d}", total_spend=50.0) for i in range(20)])
    a = seg.abc_classes(t)
    shuffled = t.sample(frac=1, random_state=3)
    b = seg.abc_classes(shuffled)
    assert t.loc[a == "A", "customer_id"].tolist() == ["c00"]
    assert shuffled.loc[b == "A", "customer_id"].tolist() == ["c00"]


def test_top_cut_equals_a_full_sort_by_value_then_customer_id_with_ties_and_missing_values():
    # the cut selects without sorting every customer; it must pick exactly the rows a full sort would
    rng = np.random.default_rng(7)
    for _ in range(200):
        n = int(rng.integers(1, 40))
        values = pd.Series(rng.choice([0.0, 1.0, 2.5, np.nan, -1.0], n), index=rng.permutation(n) + 5)
        ids = pd.Series([f"c{int(i)}" for i in rng.integers(0, 500, n)], index=values.index)
        order = pd.DataFrame({"v": values.fillna(-np.inf), "id": ids}).sort_values(
            ["v", "id"], ascending=[False, True], kind="mergesort")
        for share in (0.0, 0.05, 0.2, 0.5, 1.0):
            expected = pd.Series(values.index.isin(order.index[:int(round(share * n))]), index=values.index)
            pd.testing.assert_series_equal(seg.top_mask(values, ids, share), expected)


def test_prospects_have_no_class_and_are_outside_the_pyramid_shares():
    t = pd.concat([spend_ladder(20), table(customer("p1", n_purchases=0), customer("p2", n_purchases=0))],
                  ignore_index=True)
    classes = seg.abc_classes(t)
    assert classes.iloc[-2:].isna().all()
    assert classes.value_counts().to_dict() == {"C": 16, "B": 3, "A": 1}
    pyr = seg.pyramid_table(t, classes).set_index("abc_class")
    assert pyr["customers"].to_dict() == {"A": 1, "B": 3, "C": 16}


def test_class_moves_count_the_same_buyers_as_the_pyramid_table():
    """Issue: class C was 14,702 in the table and 16,325 in the heat map (prospects counted as C)."""
    before = pd.Series({"a": "A", "b": "C", "p": None, "q": None})
    after = pd.Series({"a": "A", "b": "C", "p": "C", "q": None, "n": "B"})  # p bought, q still a prospect
    m = seg.transition_matrix(before, after, seg.ABC_CLASSES)
    assert m.sum().to_dict() == {"A": 1, "B": 1, "C": 2}  # = the month's class counts (buyers only)
    assert m.loc[seg.NO_PURCHASE, "C"] == 1 and m.loc[seg.NOT_REGISTERED, "B"] == 1


def test_pyramid_table_shows_real_revenue_shares_next_to_the_textbook():
    t = spend_ladder(20)  # spend 20..1, total 210; A = {20}, B = {19, 18, 17}
    pyr = seg.pyramid_table(t, seg.abc_classes(t)).set_index("abc_class")
    assert pyr.loc["A", "revenue_share"] == pytest.approx(20 / 210)
    assert pyr.loc["B", "revenue_share"] == pytest.approx(54 / 210)
    assert pyr["customer_share"].to_dict() == pytest.approx({"A": 0.05, "B": 0.15, "C": 0.80})
    assert pyr["textbook_revenue_share"].tolist() == [0.65, 0.15, 0.20]


@pytest.mark.parametrize("a,b", [(0, 0.15), (0.05, 0.95), (1.2, 0.1), ("5%", 0.15)])
def test_impossible_pyramid_cut_points_are_a_parameter_error(a, b):
    with pytest.raises(ParameterError, match="share"):
        seg.abc_classes(spend_ladder(10), a_share=a, b_share=b)


# --- strategy groups -------------------------------------------------------------------
def test_strategy_groups_keep_top_current_value_develop_high_potential_change_the_rest():
    t = table(
        customer("big", total_spend=1000.0),
        customer("big_fading", total_spend=900.0),
        customer("small_growing", total_spend=10.0),
        customer("small_fading", total_spend=12.0),
        customer("prospect", n_purchases=0),
    )
    potential = pd.Series([500.0, 0.0, 300.0, 1.0, 0.0])
    groups = seg.strategy_groups(t, potential, keep_share=0.5, potential_share=0.5)
    assert groups.tolist() == ["keep", "keep", "develop", "change", "develop"]


def test_run_rate_potential_is_own_rate_times_average_purchase_and_zero_when_passive():
    t = table(customer("steady", n_purchases=4, total_spend=400.0, days_since_last=5, days_since_first=99),
              customer("gone", n_purchases=4, total_spend=400.0, days_since_last=300, days_since_first=600),
              customer("one_day_old", n_purchases=1, total_spend=20.0, days_since_last=0, days_since_first=0))
    v = seg.run_rate_value(t, AS_OF, passive_days=180)
    assert v.iloc[0] == pytest.approx(4 / 100 * 365 * 100)
    assert v.iloc[1] == 0
    assert v.iloc[2] == pytest.approx(1 / 30 * 365 * 20)  # one purchase is not read as a daily habit


def test_run_rate_is_zero_from_the_day_a_customer_turns_passive():
    t = table(customer("at_threshold", days_since_last=180, days_since_first=400),
              customer("day_before", days_since_last=179, days_since_first=400))
    v = seg.run_rate_value(t, AS_OF, passive_days=180)
    assert v.iloc[0] == 0 and v.iloc[1] > 0


def test_potential_value_is_the_clv_when_one_is_given():
    t = spend_ladder(20)
    clv = pd.DataFrame({"customer_id": t["customer_id"], "p_alive": 0.9, "clv": np.arange(20, dtype=float)})
    with_clv = seg.assign_segments(t, AS_OF, clv=clv, with_clusters=False)
    assert with_clv.potential_basis == "clv"
    assert with_clv.table["potential_value"].tolist() == list(np.arange(20.0))
    assert with_clv.strategy_table()["potential_value"].sum() == pytest.approx(clv["clv"].sum())
    # value_basis="spend": the pyramid still ranks by spend and P(alive) does not touch the stages
    assert with_clv.table.loc[0, "abc_class"] == "A"
    assert seg.assign_segments(t, AS_OF, with_clusters=False).potential_basis == "run_rate"


# --- lifecycle stages --------------------------------------------------------------------
def test_each_lifecycle_rule_has_a_customer_that_meets_it():
    t = table(
        customer("prospect", n_purchases=0),
        customer("passive", days_since_last=200, days_since_first=700),
        customer("new", n_purchases=1, days_since_last=12, days_since_first=12),
        customer("returned", n_purchases=5, days_since_last=3, days_since_first=600,
                 return_date=AS_OF - pd.Timedelta(days=10)),
        customer("lapsing", n_purchases=20, days_since_last=60, days_since_first=400),  # rhythm 17.6 days
        customer("active", n_purchases=20, days_since_last=20, days_since_first=400),
    )
    assert seg.lifecycle_stages(t, AS_OF).tolist() == t["customer_id"].tolist()


def test_lapsing_is_judged_against_the_customers_own_rhythm():
    weekly = dict(n_purchases=50, days_since_first=400, rhythm=7.0)
    monthly = dict(n_purchases=12, days_since_first=400, rhythm=30.0)
    t = table(customer("weekly_20d", days_since_last=20, **weekly), customer("weekly_35d", days_since_last=35, **weekly),
              customer("monthly_35d", days_since_last=35, **monthly),
              customer("monthly_70d", days_since_last=70, **monthly))
    # weekly: 2 x 7 = 14 days, but never before 30 days; monthly: 2 x 30 = 60 days
    assert seg.lifecycle_stages(t, AS_OF).tolist() == ["active", "lapsing", "active", "lapsing"]


def test_returned_lasts_returned_days_then_the_customer_is_judged_as_usual():
    t = table(customer("just_back", days_since_last=5, return_date=AS_OF - pd.Timedelta(days=30)),
              customer("back_a_while", days_since_last=5, return_date=AS_OF - pd.Timedelta(days=31)))
    assert seg.lifecycle_stages(t, AS_OF).tolist() == ["returned", "active"]


def test_low_p_alive_makes_an_on_rhythm_customer_lapsing():
    t = table(customer("a", days_since_last=10), customer("b", days_since_last=10), customer("c", days_since_last=10))
    stages = seg.lifecycle_stages(t, AS_OF, p_alive=pd.Series([0.9, 0.2, np.nan]))
    assert stages.tolist() == ["active", "lapsing", "active"]


def test_ended_contract_makes_a_customer_passive():
    t = table(customer("ended", days_since_last=5, churn_date=AS_OF - pd.Timedelta(days=1)),
              customer("ends_later", days_since_last=5, churn_date=AS_OF + pd.Timedelta(days=30)),
              customer("no_contract_end", days_since_last=5, churn_date=pd.NaT))
    assert seg.lifecycle_stages(t, AS_OF).tolist() == ["passive", "active", "active"]


def test_edge_cases_get_exactly_one_stage_each():
    t = table(
        customer("single_purchase_long_ago", n_purchases=1, days_since_last=100, days_since_first=100),
        customer("single_purchase_recent", n_purchases=1, days_since_last=40, days_since_first=40),
        customer("first_purchase_on_as_of", n_purchases=1, days_since_last=0, days_since_first=0),
        customer("old_customer_buys_on_as_of", n_purchases=30, days_since_last=0, days_since_first=500),
        customer("signup_after_last_purchase", days_since_last=50, days_since_first=90, tenure_days=-10,
                 signup_date=AS_OF - pd.Timedelta(days=10)),
        customer("zero_spend", n_purchases=2, total_spend=0.0, days_since_last=15, days_since_first=60),
        customer("one_day_before_threshold", n_purchases=30, days_since_last=179, days_since_first=500),
        customer("exactly_at_passive_threshold", n_purchases=30, days_since_last=180, days_since_first=500),
        customer("slow_rhythm_before_threshold", n_purchases=3, days_since_last=179, days_since_first=500),
        customer("registered_never_bought", n_purchases=0),
    )
    stages = seg.lifecycle_stages(t, AS_OF)
    assert len(stages) == len(t) and stages.isin(seg.STAGES).all()
    got = dict(zip(t["customer_id"], stages))
    assert got["first_purchase_on_as_of"] == "new"
    assert got["old_customer_buys_on_as_of"] == "active"
    assert got["single_purchase_long_ago"] == "lapsing"  # median rhythm of repeat buyers is ~17 days
    assert got["one_day_before_threshold"] == "lapsing"
    assert got["exactly_at_passive_threshold"] == "passive"
    assert got["slow_rhythm_before_threshold"] == "active"  # buys every 160 days: not overdue yet
    assert got["registered_never_bought"] == "prospect"
    assert got["zero_spend"] == "active"


@pytest.mark.parametrize("n_days", [30, 150, 180])
def test_day_at_threshold_is_passive_and_the_day_before_is_not(n_days):
    """The one churn rule: churned (passive) when days since the last purchase >= inactivity_days."""
    t = table(customer("at", n_purchases=40, days_since_last=n_days, days_since_first=900),
              customer("before", n_purchases=40, days_since_last=n_days - 1, days_since_first=900, rhythm=400.0))
    settings = seg.SegmentSettings(passive_days=n_days, new_days=min(29, n_days - 1),
                                   returned_days=min(29, n_days - 1), lapsing_min_days=min(29, n_days - 1))
    stages = seg.lifecycle_stages(t, AS_OF, settings).tolist()
    assert stages[0] == "passive" and stages[1] != "passive"


def test_every_sample_customer_gets_exactly_one_stage(sample_segments):
    t = sample_segments.current.table
    assert t["customer_id"].is_unique
    assert t["lifecycle_stage"].isin(seg.STAGES).all()
    counts = sample_segments.current.counts("lifecycle_stage")
    assert counts.sum() == len(t)
    assert (counts > 0).all(), counts  # the demo base has customers in every stage
    # a prospect never bought, a passive customer has not bought for 180 days or more
    assert (t.loc[t["lifecycle_stage"] == "prospect", "n_purchases"] == 0).all()
    passive = t["lifecycle_stage"] == "passive"
    assert passive.sum() == (t["days_since_last_purchase"] >= 180).sum()


def test_stage_passive_is_the_churned_stock_and_won_back_is_the_returned_flow(sample_source, sample_segments):
    """One rule: stage passive = buyers not active at as_of; won back = the month flow "returned"."""
    from analysis.customers import monthly_activity

    flows = monthly_activity(sample_source, "2026-10-31", months=1, inactivity_days=180).iloc[-1]
    t = sample_segments.current.table
    buyers = int((t["n_purchases"] > 0).sum())
    assert sample_segments.current.counts("lifecycle_stage")["passive"] == buyers - int(flows["active"])
    assert sample_segments.won_back() == int(flows["returned"])
    assert sample_segments.key_numbers()["customers_returned"]["value"] == int(flows["returned"])


def test_stage_rules_table_lists_every_stage_once_in_rule_order():
    for language in ("en", "fi"):
        rules = page.stage_rules(language=language)
        assert len(rules) == len(seg.STAGES)
        assert not rules.iloc[:, 1:].stack().str.contains(r"[{}]").any()
    assert page.stage_rules().iloc[:, 1].tolist() == ["Prospect", "Passive", "New", "Returned within the last 30 days",
                                                      "Lapsing", "Active"]
    assert "180 days or more" in page.stage_rules().iloc[1, 2]


def test_recently_returned_stage_has_its_own_concept():
    assert seg.STAGE_CONCEPTS["returned"] == "stage_recently_returned"
    from analysis.base.concepts import concept

    for cid in [*seg.STAGE_CONCEPTS.values(), *seg.CLASS_CONCEPTS.values(), "a_revenue_share", "customers_returned"]:
        concept(cid)


@pytest.mark.parametrize("params", [dict(new_days=200), dict(passive_days=0), dict(lapsing_factor=0.5),
                                    dict(value_basis="margin"), dict(n_clusters=1), dict(n_clusters="many"),
                                    dict(k_range=(1, 4))])
def test_contradictory_stage_or_cluster_settings_are_a_parameter_error(params):
    with pytest.raises(ParameterError):
        seg.SegmentSettings(**params)


def test_unknown_parameter_names_the_parameter():
    with pytest.raises(ParameterError, match="passive_dayz"):
        seg.SegmentSettings.from_params(passive_dayz=90)


# --- RFM -------------------------------------------------------------------------------------
def test_rfm_scores_are_quintiles_with_5_best():
    t = table(*[customer(f"c{i}", n_purchases=10 - i, total_spend=100.0 * (10 - i), days_since_last=i * 10)
                for i in range(10)])
    s = seg.rfm_scores(t)
    assert s["r_score"].tolist() == [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]
    assert s["f_score"].tolist() == [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]
    assert s["rfm_segment"].tolist()[:2] == ["champions", "champions"]
    assert s["rfm_segment"].tolist()[-2:] == ["lost", "lost"]


def test_recent_big_spender_who_stopped_is_cant_lose_them_and_new_buyer_is_new():
    rows = [customer(f"base{i}", n_purchases=5, total_spend=100.0, days_since_last=30 + i) for i in range(20)]
    rows += [customer("stopped_whale", n_purchases=50, total_spend=9000.0, days_since_last=170),
             customer("newbie", n_purchases=1, total_spend=1.0, days_since_last=0, days_since_first=0)]
    s = seg.rfm_scores(table(*rows)).iloc[-2:]
    assert s["rfm_segment"].tolist() == ["cant_lose_them", "new_customers"]


def test_equal_values_share_an_rfm_score():
    t = table(*[customer(f"c{i}", n_purchases=1) for i in range(10)])
    assert seg.rfm_scores(t)["f_score"].nunique() == 1


def test_rfm_grid_names_every_cell_and_uses_all_eleven_segments():
    grid = seg.rfm_grid()
    assert grid.shape == (5, 5)
    assert set(grid.to_numpy().ravel()) == set(seg.RFM_SEGMENTS)
    assert grid.loc["R 5", "FM 5"] == "champions" and grid.loc["R 1", "FM 1"] == "lost"
    assert page.rfm_grid_report("fi").loc["R 1", "FM 1"] == "Menetetyt"


def test_prospects_have_no_rfm_scores():
    t = pd.concat([spend_ladder(10), table(customer("p", n_purchases=0))], ignore_index=True)
    s = seg.rfm_scores(t).iloc[-1]
    assert (s["r_score"], s["f_score"], s["m_score"], s["rfm_segment"]) == (0, 0, 0, "prospect")


# --- behavioural clusters ----------------------------------------------------------------------
def three_behaviours(n_per_group=60, seed=1) -> pd.DataFrame:
    """Three well-separated behaviours: frequent online big spenders, lapsed occasional retail, new multi-category."""
    rng = np.random.default_rng(seed)
    rows = []
    specs = [
        ("vip", dict(n=40, spend=3000, last=3, first=700, cats=3, online=0.95)),
        ("lapsed", dict(n=2, spend=30, last=400, first=800, cats=1, online=0.05)),
        ("fresh", dict(n=4, spend=120, last=5, first=40, cats=4, online=0.5)),
    ]
    for name, s in specs:
        for i in range(n_per_group):
            j = lambda x, sd=0.08: float(x * np.exp(rng.normal(0, sd)))  # noqa: E731
            rows.append(customer(f"{name}{i:03d}", n_purchases=max(1, round(j(s["n"]))), total_spend=j(s["spend"]),
                                 days_since_last=round(j(s["last"])), days_since_first=round(j(s["first"])),
                                 n_categories=s["cats"], online_share=min(1.0, j(s["online"], 0.03))))
    return table(*rows)


def test_auto_k_finds_three_well_separated_behaviours():
    t = three_behaviours()
    model = seg.BehaviourClusters(n_clusters="auto", k_range=(2, 6), random_state=0).fit(t)
    assert model.k_ == 3
    groups = pd.crosstab(t["customer_id"].str.rstrip("0123456789").to_numpy(), model.labels_.to_numpy())
    assert (groups.gt(0).sum(axis=1) == 1).all()  # each behaviour lands in one cluster
    sel = model.selection_
    assert sel["k"].tolist() == [2, 3, 4, 5, 6] and sel["chosen"].sum() == 1
    assert sel[["silhouette", "bic"]].notna().all().all()


def test_gaussian_mixture_chooses_k_by_bic():
    t = three_behaviours()
    model = seg.BehaviourClusters(n_clusters="auto", k_range=(2, 4), method="gmm").fit(t)
    sel = model.selection_
    assert model.k_ == int(sel.loc[sel["bic"].idxmin(), "k"])


def test_clusters_are_numbered_from_the_highest_spend_and_named_from_the_centroid():
    t = three_behaviours()
    model = seg.BehaviourClusters(n_clusters=3).fit(t)
    vip_cluster = model.labels_["vip000"]
    assert vip_cluster == 1
    traits = model.traits().set_index("cluster")
    assert traits.loc[1, "value_level"] == "high"
    names = page.cluster_names(model, language="en")
    assert names.is_unique
    assert "high value" in names[1] and "frequent" in names[1].lower()
    assert "low value" in names[model.labels_["lapsed000"]]
    assert "korkea arvo" in page.cluster_names(model, language="fi")[1]


def test_clustering_is_deterministic_for_a_seed():
    t = three_behaviours(seed=5)
    a = seg.BehaviourClusters(n_clusters="auto", k_range=(2, 5), random_state=7).fit(t)
    b = seg.BehaviourClusters(n_clusters="auto", k_range=(2, 5), random_state=7).fit(t.sample(frac=1, random_state=2))
    pd.testing.assert_series_equal(a.labels_.sort_index(), b.labels_.sort_index())
    pd.testing.assert_frame_equal(a.selection_, b.selection_)


def test_permuted_centroids_are_matched_back_to_last_months_labels():
    prev = pd.DataFrame([[0.0, 0.0, 1.0], [3.0, 3.0, 0.0], [-2.0, 4.0, 2.0], [5.0, -1.0, -3.0]], index=[1, 2, 3, 4])
    new = prev.loc[[3, 1, 4, 2]].reset_index(drop=True) + 0.2  # same clusters, new order, moved a little
    assert seg.match_clusters(new, prev) == {0: 3, 1: 1, 2: 4, 3: 2}


def test_an_extra_cluster_this_month_gets_a_fresh_number():
    prev = np.array([[0.0, 0.0], [10.0, 10.0]])
    new = np.array([[10.1, 9.9], [50.0, 50.0], [0.1, 0.0]])
    assert seg.match_clusters(new, prev) == {0: 1, 2: 0, 1: 2}


def test_next_months_clusters_keep_their_numbers():
    month1 = three_behaviours(seed=1)
    month2 = three_behaviours(seed=2)
    first = seg.BehaviourClusters(n_clusters=3, random_state=0).fit(month1)
    # a different seed would number the clusters differently without the matching
    second = seg.BehaviourClusters(n_clusters=3, random_state=99).fit(month2, previous=first)
    for name in ("vip000", "lapsed000", "fresh000"):
        assert second.labels_[name] == first.labels_[name]


def test_auto_k_keeps_last_months_k():
    t = three_behaviours()
    first = seg.BehaviourClusters(n_clusters=4, random_state=0).fit(t)
    second = seg.BehaviourClusters(n_clusters="auto", k_range=(2, 6), random_state=0).fit(t, previous=first)
    assert second.k_ == 4
    assert sorted(second.labels_.unique()) == [1, 2, 3, 4]


def test_cluster_profile_sizes_and_value_shares_add_up():
    t = three_behaviours()
    model = seg.BehaviourClusters(n_clusters=3).fit(t)
    prof = model.profile(t)
    assert prof["customers"].sum() == len(t)
    assert prof["value_share"].sum() == pytest.approx(1.0)
    assert prof.loc[prof["cluster"] == 1, "value_share"].iloc[0] > 0.8  # the VIPs hold most of the money


def test_too_few_buyers_to_cluster_is_a_clear_error():
    with pytest.raises(KantaError, match="buying customers") as err:
        seg.BehaviourClusters(n_clusters=3).fit(spend_ladder(3))
    assert err.value.reason == "too_few_buyers_to_cluster" and err.value.facts == {"buyers": 3, "needed": 10}


def test_too_few_buyers_to_cluster_degrades_to_a_finding_and_the_other_labels_stand():
    s = seg.assign_segments(spend_ladder(6), AS_OF)
    assert s.clusters is None and s.table["cluster"].isna().all()
    assert [(f.analysis, f.reason) for f in s.findings] == [("segments.clusters", "too_few_buyers_to_cluster")]
    assert s.counts("abc_class").sum() == 6 and s.table["lifecycle_stage"].notna().all()
    from analysis.report.numbers import finding_text
    from analysis.report.text import Text

    for language in ("en", "fi"):
        text = finding_text(s.findings[0], Text("report", language))
        assert "6" in text and "10" in text and "{" not in text


def test_results_have_summary_to_dict_and_html(sample_segments):
    cur = sample_segments.current
    assert set(cur.summary()["segmentation"]) == {"lifecycle_stage", "abc_class", "strategy_group", "rfm_segment"}
    assert json.loads(json.dumps(cur.to_dict()))["key_numbers"]["stage_passive"] == cur.counts("lifecycle_stage")["passive"]
    assert json.loads(json.dumps(sample_segments.to_dict()))["won_back"] == sample_segments.won_back()
    assert json.loads(json.dumps(cur.clusters.to_dict()))["k"] == cur.clusters.k_
    assert cur.clusters.summary()["customers"].sum() == (cur.table["n_purchases"] > 0).sum()
    for obj in (cur, sample_segments, cur.clusters):
        assert obj._repr_html_().startswith("<p>")
    assert "not fitted" in seg.BehaviourClusters()._repr_html_()


# --- transitions ----------------------------------------------------------------------------------
def test_transition_matrix_counts_moves_and_new_registrations():
    before = pd.Series({"a": "active", "b": "active", "c": "lapsing", "d": "passive"})
    after = pd.Series({"a": "active", "b": "lapsing", "c": "passive", "d": "returned", "e": "prospect"})
    m = seg.transition_matrix(before, after, seg.STAGES)
    assert m.loc["active", "active"] == 1 and m.loc["active", "lapsing"] == 1
    assert m.loc["passive", "returned"] == 1 and m.loc[seg.NOT_REGISTERED, "prospect"] == 1
    assert m.to_numpy().sum() == 5
    shares = seg.transition_matrix(before, after, seg.STAGES, normalize=True)
    assert shares.loc["active"].sum() == pytest.approx(1.0)
    assert shares.loc["active", "lapsing"] == pytest.approx(0.5)


def test_sample_transitions_cover_every_current_customer(sample_segments):
    m = sample_segments.transitions("lifecycle_stage")
    assert m.to_numpy().sum() == len(sample_segments.current.table)
    # nobody goes from passive straight to active or new: a comeback after a passive gap is "returned"
    assert m.loc["passive", "active"] == 0 and m.loc["passive", "new"] == 0
    assert m.loc["prospect", "passive"] == 0
    pyr = sample_segments.transitions("abc_class", normalize=True)
    assert pyr.loc["A", "A"] > 0.8
    # the class moves count this month's buyers, as the pyramid table does
    counts = sample_segments.transitions("abc_class").sum()
    assert counts.to_dict() == sample_segments.current.pyramid().set_index("abc_class")["customers"].to_dict()


def test_sample_clusters_keep_last_months_numbers(sample_segments):
    cur, prev = sample_segments.current.clusters, sample_segments.previous.clusters
    assert cur.k_ == prev.k_
    assert set(cur.centroids_.index) == set(prev.centroids_.index)


# --- sample, export, CLI ---------------------------------------------------------------
@pytest.fixture(scope="module")
def sample_segments(sample_source):
    return seg.monthly_segments(sample_source, "2026-10-31")


def test_sample_pyramid_a_class_is_5_percent_of_buyers(sample_segments):
    pyr = sample_segments.current.pyramid().set_index("abc_class")
    assert pyr.loc["A", "customer_share"] == pytest.approx(0.05, abs=0.001)
    assert pyr["revenue_share"].sum() == pytest.approx(1.0)
    assert pyr.loc["A", "revenue_share"] > 0.2  # value is concentrated, if less than the textbook 65 %


def test_cli_writes_the_campaign_list_with_the_contract_columns(run_cli, sample_dir, tmp_path):
    out = tmp_path / "segments.csv"
    code, stdout, err = run_cli("segments", sample_dir, "--as-of", "2026-10-31", "--out", out)
    assert code == 0, err
    df = pd.read_csv(out, dtype={"customer_id": str})
    for col in ("customer_id", "abc_class", "strategy_group", "lifecycle_stage", "rfm_segment", "cluster", "pseudonym",
                "marketing_permission"):
        assert col in df.columns
    customers = pd.read_csv(sample_dir / "customers.csv", dtype={"customer_id": str})
    assert set(df["customer_id"]) == set(customers["customer_id"])
    assert df["pseudonym"].str.match(r"^K-[0-9a-f]{10}$").all()
    assert df["lifecycle_stage"].isin(seg.STAGES).all()
    prospects = df["lifecycle_stage"] == "prospect"
    assert df.loc[~prospects, "abc_class"].isin(seg.ABC_CLASSES).all() and df.loc[prospects, "abc_class"].isna().all()
    assert set(df["strategy_group"]) == set(seg.STRATEGY_GROUPS)
    assert df.loc[df["lifecycle_stage"] != "prospect", "cluster"].notna().all()
    assert "customers ->" in stdout


def test_cli_writes_parquet_by_extension(run_cli, sample_dir, tmp_path):
    out = tmp_path / "segments.parquet"
    code, _, err = run_cli("segments", sample_dir, "--as-of", "2026-10-31", "--out", out, "--n-clusters", "4")
    assert code == 0, err
    df = pd.read_parquet(out)
    assert df["cluster"].dropna().nunique() == 4


@pytest.mark.parametrize("args,message", [
    (["--as-of", "2026-10-31", "--out", "{tmp}/segments.xlsx"], ".csv or .parquet"),
    (["--as-of", "31.10.2026x", "--out", "{tmp}/segments.csv"], "as_of"),
    (["--as-of", "2026-10-31", "--out", "{tmp}/segments.csv", "--n-clusters", "one"], "n_clusters"),
    (["--as-of", "2026-10-31", "--out", "{tmp}/segments.csv", "--passive-days", "0"], "inactivity-days"),
])
def test_cli_bad_input_writes_nothing_and_exits_2(run_cli, sample_dir, tmp_path, args, message):
    args = [a.format(tmp=tmp_path) for a in args]
    code, _, err = run_cli("segments", sample_dir, *args)
    assert code == 2
    assert message in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_cli_missing_source_writes_nothing(run_cli, tmp_path):
    code, _, err = run_cli("segments", tmp_path / "nowhere", "--as-of", "2026-10-31", "--out", tmp_path / "s.csv")
    assert code == 2 and not (tmp_path / "s.csv").exists()


def test_clv_value_basis_ranks_by_predicted_value(sample_source):
    s = seg.segment_customers(sample_source, "2026-10-31", value_basis="clv", with_clusters=False)
    t = s.table
    assert t["p_alive"].notna().sum() > 0 and s.potential_basis == "clv"
    a_min = t.loc[t["abc_class"] == "A", "value"].min()
    assert (t.loc[t["abc_class"] == "C", "value"] <= a_min).all()
    assert "P(alive)" in page.stage_rules(s.settings).iloc[4, 2]


def test_every_segment_gets_a_paragraph_on_what_to_do(sample_segments):
    for language in ("en", "fi"):
        paragraphs = page.segment_advice(sample_segments.current, language)
        k = sample_segments.current.clusters.k_
        assert len(paragraphs) == len(seg.STAGES) + len(seg.STRATEGY_GROUPS) + k
        assert all(p.startswith("**") and "{" not in p for p in paragraphs)


def test_cluster_advice_follows_the_centroid():
    assert seg.cluster_advice_kind(pd.Series({"recency_days": 0.1, "log_spend": 1.0, "tenure_days": 0.0})) == "care"
    assert seg.cluster_advice_kind(pd.Series({"recency_days": 0.1, "log_spend": 0.0, "tenure_days": -1.0})) == "onboard"
    assert seg.cluster_advice_kind(pd.Series({"recency_days": 0.0, "log_spend": 0.0, "tenure_days": 0.0})) == "grow"


def test_report_tables_render_in_finnish(sample_segments):
    cur = sample_segments.current
    names = page.cluster_names(cur.clusters, cur.table, "fi")
    tables = [page.pyramid_report(cur.pyramid(), "fi"), page.strategy_report(cur.strategy_table(), "fi"),
              page.stage_counts_report(sample_segments, "fi"), page.rfm_report(cur, "fi"),
              page.profile_report(cur.clusters.profile(cur.table), names, "fi")]
    assert "Osuus myynnistä" in tables[0].columns
    assert "Passivoituva" in tables[2].iloc[:, 0].tolist()
    assert tables[0].iloc[0, 4].endswith("€")  # Finnish money format "80 526 €"
    assert "Potentiaalinen arvo (jatkumo-oletus, 12 kk)" in tables[1].columns  # says what the number is
    assert (tables[4].iloc[:, 1] != "").all()
    m = page.localise_matrix(sample_segments.transitions("lifecycle_stage"), "lifecycle_stage", "fi")
    assert "Ei vielä rekisteröitynyt" in m.index
    c = page.localise_matrix(sample_segments.transitions("abc_class"), "abc_class", "fi")
    assert "Prospekti" in c.index  # last month's prospects who bought this month


def test_cli_cluster_numbers_match_the_months_report(run_cli, sample_dir, sample_segments, tmp_path):
    out = tmp_path / "s.csv"
    assert run_cli("segments", sample_dir, "--as-of", "2026-10-31", "--out", out)[0] == 0
    df = pd.read_csv(out, dtype={"customer_id": str}).set_index("customer_id")
    report = sample_segments.current.table.set_index("customer_id")["cluster"]
    assert (df["cluster"].dropna().astype(int) == report.dropna().astype(int).reindex(df["cluster"].dropna().index)).all()


def test_saved_centroids_carry_cluster_numbers_into_next_month(run_cli, sample_dir, tmp_path):
    sept, octo = tmp_path / "sept.csv", tmp_path / "oct.csv"
    cents = tmp_path / "centroids_sept.csv"
    code, _, err = run_cli("segments", sample_dir, "--as-of", "2026-09-30", "--out", sept, "--centroids-out", cents)
    assert code == 0, err
    code, _, err = run_cli("segments", sample_dir, "--as-of", "2026-10-31", "--out", octo,
                           "--previous-centroids", cents)
    assert code == 0, err
    a = pd.read_csv(sept, dtype={"customer_id": str}).set_index("customer_id")["cluster"].dropna()
    b = pd.read_csv(octo, dtype={"customer_id": str}).set_index("customer_id")["cluster"].reindex(a.index).dropna()
    assert set(b.unique()) == set(a.unique())  # same k, same numbers
    assert (a.reindex(b.index) == b).mean() > 0.8  # most customers keep their segment from one month to the next


def test_a_broken_centroid_file_is_a_note_and_the_segments_are_numbered_afresh(run_cli, sample_dir, tmp_path):
    """Last month's file damaged: the month's segments still come (issue 22), the note says the numbering is new."""
    bad = tmp_path / "c.csv"
    pd.DataFrame({"cluster": [1, 2], "log_spend": [1.0, 2.0]}).to_csv(bad, index=False)
    code, _, err = run_cli("segments", sample_dir, "--as-of", "2026-10-31", "--out", tmp_path / "s.csv",
                           "--previous-centroids", bad)
    assert code == 0 and "previous centroids" in err and "numbered afresh" in err
    assert (tmp_path / "s.csv").exists()


def test_stages_order_customers_by_their_true_chance_of_still_buying(sample_segments, sample_dir):
    """The simulator knows who had really dropped out by as_of: active > lapsing > passive in share still alive."""
    truth = pd.read_csv(sample_dir / "truth_customers.csv", dtype={"customer_id": str})
    t = sample_segments.current.table.merge(truth, on="customer_id", how="left")
    alive = t["dropout_date"].isna() | (pd.to_datetime(t["dropout_date"]) > pd.Timestamp("2026-10-31"))
    share = alive.groupby(t["lifecycle_stage"]).mean()
    assert share["new"] > 0.85 and share["active"] > 0.8  # measured 0.94 and 0.86
    assert share["active"] - share["lapsing"] > 0.15  # measured 0.86 vs 0.57
    assert share["lapsing"] - share["passive"] > 0.10  # measured 0.57 vs 0.38


def test_published_centroids_keep_cluster_numbers_from_report_to_report(sample_source, tmp_path):
    # September's report publishes its centroids; October's report numbers September against them,
    # so every customer's September cluster is the number September's report showed.
    september = seg.monthly_segments(sample_source, "2026-09-30").current
    path = tmp_path / "segments_centroids.csv"
    seg.write_centroids(september, path)
    october = seg.monthly_segments(sample_source, "2026-10-31", previous_centroids=seg.read_centroids(path))
    published = september.table.set_index("customer_id")["cluster"]
    renumbered = october.previous.table.set_index("customer_id")["cluster"]
    assert (renumbered.loc[published.index] == published).all()
    assert set(october.current.table["cluster"].dropna()) <= set(published.dropna())


def test_missing_previous_centroids_file_is_named(tmp_path):
    with pytest.raises(ParameterError, match="nope.csv"):
        seg.read_centroids(tmp_path / "nope.csv")


# --- the page reads the month's customer base ------------------------------------------------------
@pytest.fixture(scope="module")
def sample_base(sample_source):
    from analysis.base import BaseSettings, CustomerBase

    return CustomerBase.build(sample_source, "2026-10-31", BaseSettings(n_clusters=3))


def test_segments_from_the_customer_base_carry_its_numbers(sample_base):
    m = seg.MonthlySegments.from_base(sample_base)
    numbers = sample_base.numbers()
    assert m.won_back() == numbers["customers_returned"]  # one rule: won back = the month flow
    assert m.current.counts("lifecycle_stage")["passive"] == numbers["customers_churned"]
    assert m.current.key_numbers() == pytest.approx({k: numbers[k] for k in m.current.key_numbers()}, rel=1e-12)
    assert m.current.clusters is sample_base.segmentation.clusters  # nothing refitted
    shown = {n.concept: n.value for n in page.key_numbers(m, sample_base)}
    assert shown["customers_returned"] == numbers["customers_returned"]
    assert shown["stage_recently_returned"] == numbers["stage_recently_returned"]


def test_every_section_renders_in_both_languages_without_placeholders(sample_base, monkeypatch):
    import re

    from analysis.report import display
    from analysis.report import numbers

    shown = []
    monkeypatch.setattr(display, "_display", lambda obj: shown.append(getattr(obj, "data", obj)))
    monkeypatch.setattr(numbers, "_publish", lambda data: shown.append(data.get("text/html", "")))
    for language in ("en", "fi"):
        p = page.SegmentsPage.from_base(sample_base, language)
        for section in p.sections():
            section._ipython_display_()  # as the notebook shows it
    text = "\n".join(str(x) for x in shown)
    assert len(shown) > 60 and not re.search(r"\{[a-z_]+\}", text)
    assert "Returned within the last 30 days" in text and "Palannut viimeisen 30 päivän aikana" in text


def test_a_big_base_draws_a_seeded_sample_in_the_strategy_grid_and_says_so(sample_base, monkeypatch):
    cur = seg.MonthlySegments.from_base(sample_base).current
    buyers = int((cur.table["n_purchases"] > 0).sum())
    points = lambda ax: sum(len(c.get_offsets()) for c in ax.collections)  # noqa: E731
    tx = page.words("en")
    assert points(page.plot_strategy_grid(cur.table, labels=tx)) == buyers  # the sample is far below PLOT_POINTS
    one, again = (page.plot_strategy_grid(cur.table, labels=tx, max_points=300) for _ in range(2))
    assert points(one) == 300
    assert all((a.get_offsets() == b.get_offsets()).all() for a, b in zip(one.collections, again.collections))
    monkeypatch.setattr(page, "PLOT_POINTS", 300)  # as if the base were big
    for language, words in (("en", "random sample of 300 of the"), ("fi", "satunnaisotos: 300 asiakasta")):
        shown = page.SegmentsPage.from_base(sample_base, language).strategy().texts()
        assert any(words in s for s in shown), language


def test_a_base_without_segmentation_publishes_the_page_with_the_reason(sample_base, capsys):
    import dataclasses

    from analysis.findings import Finding

    broken = dataclasses.replace(sample_base, segmentation=None,
                                 findings=[Finding("segments", "not_estimable", {}, "no buyers")])
    p = page.SegmentsPage.from_base(broken, "en")
    assert p.degraded and p.finding.reason == "not_estimable"
    sections = p.sections()
    assert [part[0] for part in sections[0].parts] == ["heading", "finding"] and sections[0].parts[1][1] is p.finding
    assert not any(sections[1:])  # every other section is empty: nothing to say without a segmentation
    sections[0]._ipython_display_()
    out = capsys.readouterr().out
    assert "could not be estimated" in out and "pyramid" not in out.lower()


def test_every_segments_section_is_a_section_made_from_the_result(sample_base):
    from analysis.report.section import Section

    p = page.SegmentsPage.from_base(sample_base, "en")
    sections = dict(zip(p.SECTIONS, p.sections()))
    assert all(isinstance(s, Section) and s for s in sections.values())
    tx, cur, numbers = page.words("en"), p.cur, sample_base.numbers()
    # five cards shown, every other stage and class count recorded, all read from the month's base
    kinds = {part[0]: part[1] for part in sections["headline"].parts if part[0] in ("numbers", "record")}
    assert [n.concept for n in kinds["numbers"]] == list(page.CARD_CONCEPTS)
    assert {n.concept: n.value for n in kinds["numbers"] + kinds["record"]} == {
        n.concept: n.value for n in page.key_numbers(p.monthly, sample_base)}
    assert {n.concept: n.value for n in kinds["numbers"]}["stage_passive"] == numbers["customers_churned"] == 837
    # the pyramid's A row: 92 customers (the notebook's check), its revenue share in the sentence and the table
    pyramid = cur.pyramid().set_index("abc_class")
    assert pyramid.loc["A", "customers"] == 92
    assert tx.pct(pyramid.loc["A", "revenue_share"], 0) in sections["pyramid"].texts()[1]
    tables = [part[1] for part in sections["pyramid"].parts if part[0] == "table"]
    assert tables[0][tx("col_customers")].tolist()[0] == "92"
    # one transition map per column, in order, with its own title
    titles = [part[2] for part in sections["transitions"].parts if part[0] == "figure"]
    assert titles == [tx(f"fig_{key}_transitions") for _, key in page.TRANSITIONS]
    # the RFM grid keeps its row labels (R 5 .. R 1) as the first column
    grid = [part[1] for part in sections["rfm"].parts if part[0] == "table"][0]
    assert grid.iloc[:, 0].tolist() == ["R 5", "R 4", "R 3", "R 2", "R 1"]
    # a figure drawn in the notebook is the one the section shows
    ax = page.plot_pyramid(cur.pyramid(), labels=tx)
    assert [part[1] for part in p.pyramid(cur.pyramid(), ax).parts if part[0] == "figure"] == [ax.figure]


def test_segments_plots_take_the_table_and_words_and_return_an_axes_readable_on_a_phone(sample_base):
    import matplotlib.pyplot as plt
    from matplotlib.axes import Axes

    for language in ("en", "fi"):
        p = page.SegmentsPage.from_base(sample_base, language)
        cur, tx = p.cur, p.tx
        shares, counts = p.transition_matrices("lifecycle_stage")
        for plot, data, extra in ((page.plot_pyramid, cur.pyramid(), {}), (page.plot_strategy_grid, cur.table, {}),
                                  (page.plot_k_selection, cur.clusters.selection_, {}),
                                  (page.plot_transitions, shares, {"counts": counts})):
            ax = plot(data, labels=tx, **extra)
            assert isinstance(ax, Axes)
            readable_on_a_phone(ax)
            _, given = plt.subplots()
            assert plot(data, labels=tx, ax=given, **extra) is given and given.has_data()
            plt.close("all")


def test_clusters_used_before_fit_say_so():
    from analysis.errors import NotFittedError
    from analysis.segments import BehaviourClusters

    with pytest.raises(NotFittedError, match="not fitted yet"):
        BehaviourClusters().predict(pd.DataFrame())
