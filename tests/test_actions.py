"""This month's actions: the rules, the lists a campaign tool loads, and the unusual-change signal."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from analysis.base.actions import ACTIONS, FALLING_BELOW, month_actions, trends, unusual
from analysis.base import BaseSettings, CustomerBase, previous_p_alive
from report_month import SAMPLE, rendered_month


@pytest.fixture(scope="module")
def sales_only(tmp_path_factory):
    """The sample without its transactions' margin column: a source that knows only sales."""
    import shutil

    d = tmp_path_factory.mktemp("sales") / "source"
    shutil.copytree(SAMPLE, d)
    tx = pd.read_csv(d / "transactions.csv", dtype=str, keep_default_na=False)
    tx.drop(columns=["margin"]).to_csv(d / "transactions.csv", index=False)
    return d


@pytest.fixture(scope="module")
def base(sales_only) -> CustomerBase:
    return CustomerBase.build(sales_only, "2026-10-31", BaseSettings(n_clusters=3))


@pytest.fixture(scope="module")
def actions(base):
    return {a.name: a for a in month_actions(base)}


def test_every_rule_gives_an_action_in_page_order(base):
    assert [a.name for a in month_actions(base)] == list(ACTIONS)


def test_retention_lists_hold_only_active_customers_with_permission(base, actions):
    state = base.customers.set_index("customer_id")
    for name in ("retain", "retain_early", "second_purchase", "grow"):
        ids = actions[name].customers["customer_id"]
        assert len(ids), name
        assert state.loc[ids, "is_active"].all() and not state.loc[ids, "is_churned"].any(), name
        assert state.loc[ids, "has_permission"].all(), name


def test_retain_is_the_one_contact_list(base, actions):
    assert actions["retain"].customers["customer_id"].tolist() == base.contact_list()["customer_id"].tolist()
    assert actions["retain"].value == pytest.approx(base.contact_list()["value_at_stake"].sum())


def test_previous_p_alive_is_this_months_fit_on_last_months_histories(base):
    """Known answer: lifetimes' BG/NBD P(alive) with the month's parameters on the RFM of 30 September."""
    from lifetimes import BetaGeoFitter

    from analysis.customers import table as customers

    assert base.clv.model.purchase_model_ == "bgnbd"  # the sample's chosen model (the known answer is BG/NBD's)
    prev = customers.customer_table(base.source, "2026-09-30")
    fitter = BetaGeoFitter()
    fitter.params_ = pd.Series(base.clv.model.purchase_.params)
    expected = pd.Series(fitter.conditional_probability_alive(prev["frequency"], prev["recency"], prev["T"]),
                         index=prev["customer_id"].astype(str).to_numpy())
    got = base.customers.set_index("customer_id")["p_alive_previous"]
    assert got.loc[expected.index].to_numpy() == pytest.approx(expected.to_numpy(), rel=1e-9, abs=1e-12)
    first_buyers = base.customers[base.customers["first_purchase"] > "2026-09-30"]
    assert len(first_buyers) and first_buyers["p_alive_previous"].isna().all()  # no history a month ago, no fall
    # a repeat customer silent through October only moved further from their last purchase: P(alive) cannot rise
    silent = base.customers[(base.customers["frequency"] > 0) & (base.customers["days_silent"] > 31)]
    assert (silent["p_alive"] <= silent["p_alive_previous"] + 1e-12).all()
    assert previous_p_alive(None, prev).isna().all()  # no fit, no previous P(alive)


def _constructed(base, permission: bool = True) -> tuple[CustomerBase, dict]:
    """The sample's base with P(alive) now and a month ago set by hand: everyone safe, except seven customers."""
    t = base.customers.copy()
    active = t.loc[t["is_active"], "customer_id"].tolist()
    churned = t.loc[t["is_churned"], "customer_id"].tolist()
    who = dict(zip(("falls", "falls_no_permission", "was_below", "not_below", "below_floor", "at_risk"), active[:6]),
               churned=churned[0])
    t["p_alive"], t["p_alive_previous"], t["has_permission"] = 0.95, 0.95, pd.array([True] * len(t), dtype="boolean")
    for key, (before, now) in {"falls": (0.70, 0.55), "falls_no_permission": (0.70, 0.55), "was_below": (0.59, 0.55),
                               "not_below": (0.80, FALLING_BELOW), "below_floor": (0.90, 0.10),
                               "at_risk": (0.70, 0.30), "churned": (0.70, 0.55)}.items():
        row = t["customer_id"] == who[key]
        t.loc[row, ["p_alive_previous", "p_alive"]] = before, now
    t.loc[t["customer_id"] == who["falls_no_permission"], "has_permission"] = False
    if not permission:
        t["has_permission"] = pd.NA
    t["is_at_risk"] = t["is_active"] & (t["p_alive"] < base.settings.p_alive_threshold)
    return CustomerBase(**{**base.__dict__, "customers": t}), who


def test_retain_early_holds_exactly_the_active_customers_who_fell_below_sixty_percent_this_month(base):
    constructed, who = _constructed(base)
    acts = {a.name: a for a in month_actions(constructed)}
    early = acts["retain_early"].customers
    assert early["customer_id"].tolist() == [who["falls"]]
    assert acts["retain"].customers["customer_id"].tolist() == [who["at_risk"]]  # at risk: on retain, not twice
    assert list(early.columns[:4]) == ["customer_id", "pseudonym", "action", "reason"]
    assert {"p_alive_previous", "p_alive", "value_at_stake"} <= set(early.columns)
    assert acts["retain_early"].value == pytest.approx(
        constructed.customers.set_index("customer_id").loc[who["falls"], "value_at_stake"])
    # without permission in the data nobody is left out for it (and the action says so)
    no_perm, who = _constructed(base, permission=False)
    acts = {a.name: a for a in month_actions(no_perm)}
    assert set(acts["retain_early"].customers["customer_id"]) == {who["falls"], who["falls_no_permission"]}
    assert not acts["retain_early"].permission_filtered
    # the line is a parameter: drawn at 55 %, a customer now at 55 % has not fallen below it
    lowered = {a.name: a for a in month_actions(constructed, falling_below=0.55)}
    assert lowered["retain_early"].size == 0


def test_win_back_holds_recently_lost_repeat_buyers_not_long_gone_ones(base, actions):
    state = base.customers.set_index("customer_id")
    wb = state.loc[actions["win_back"].customers["customer_id"]]
    n = base.settings.inactivity_days
    assert wb["is_churned"].all() and (wb["n_purchases"] >= 2).all()
    assert (wb["days_silent"] < n + 90).all()
    long_gone = state[state["is_churned"] & (state["days_silent"] >= n + 90)]
    assert not set(long_gone.index) & set(wb.index)


def test_second_purchase_holds_one_time_buyers_of_the_last_30_days(base, actions):
    state = base.customers.set_index("customer_id")
    sp = state.loc[actions["second_purchase"].customers["customer_id"]]
    assert (sp["n_purchases"] == 1).all()
    assert ((base.as_of - sp["first_purchase"]).dt.days <= 30).all()


def test_lists_keep_customers_without_known_permission_out_only_when_the_data_has_permission(base):
    no_perm = CustomerBase(**{**base.__dict__, "customers": base.customers.assign(has_permission=pd.NA)})
    acts = {a.name: a for a in month_actions(no_perm)}
    assert not acts["retain"].permission_filtered
    t = base.customers
    still_likely = t["is_at_risk"].fillna(False) & (t["p_alive"] >= base.settings.contact_p_alive_floor)
    assert acts["retain"].size == int(still_likely.sum()) > len(base.contact_list())


def test_unusual_change_is_a_month_outside_its_own_history():
    history = [100, 104, 98, 101, 103, 99, 102, 100, 101, 97, 103, 102]
    assert unusual(history, 110) == "highest" and unusual(history, 90) == "lowest"
    assert unusual(history, 100) is None
    assert unusual(history[:3], 200) is None  # too little history to call anything unusual


def test_trends_cover_the_flow_numbers_with_thirteen_months(base):
    t = trends(base)
    assert len(t["customers_active"].values) == 13
    assert t["customers_active"].values[-1] == base.numbers()["customers_active"]


def test_month_publishes_action_lists_and_lists_them_in_the_manifest(tmp_path_factory, base):
    month = rendered_month(tmp_path_factory, "en")
    m = json.loads((month["month_dir"] / "manifest.json").read_text(encoding="utf-8"))
    assert [a["name"] for a in m["actions"]] == list(ACTIONS)
    state = base.customers.set_index("customer_id")  # the same month's state: same source, as_of and churn rule
    for a in m["actions"]:
        assert {"name", "customers", "value", "list"} <= set(a)
        lst = pd.read_csv(month["month_dir"] / a["list"], dtype={"customer_id": str})
        assert list(lst.columns[:4]) == ["customer_id", "pseudonym", "action", "reason"]
        assert len(lst) == a["customers"]
        if a["name"].startswith("retain"):  # the contract: permission (the sample has it) and nobody churned
            assert lst["has_permission"].astype(str).str.lower().eq("true").all(), a["name"]
            assert not state.loc[lst["customer_id"], "is_churned"].any(), a["name"]
    landing = (month["month_dir"] / "index.html").read_text(encoding="utf-8")
    assert "lists/retain.csv" in landing and "href='lists/" not in landing


# --- value on margin (a customer table with margin_rate) --------------------------------------------
@pytest.fixture(scope="module")
def margin_base(tmp_path_factory, base, sales_only) -> CustomerBase:
    """The sample with a margin rate per customer: 10 % for the biggest spenders, 60 % for everyone else,
    so ranking by margin differs from ranking by sales."""
    import shutil

    d = tmp_path_factory.mktemp("margin") / "source"
    shutil.copytree(sales_only, d)
    spend = base.customers.set_index("customer_id")["total_spend"]
    big = set(spend[spend >= spend.quantile(0.9)].index)
    customers = pd.read_csv(d / "customers.csv", dtype=str)
    customers["margin_rate"] = [0.10 if c in big else 0.60 for c in customers["customer_id"]]
    customers.to_csv(d / "customers.csv", index=False)
    return CustomerBase.build(d, "2026-10-31", BaseSettings(n_clusters=3))


def test_without_margin_values_are_sales_and_labels_unchanged(base):
    assert base.money_basis == "sales" and "clv_sales" not in base.customers
    assert base.key_number("customer_equity").label_key is None


def test_with_margin_clv_equity_and_value_at_stake_are_margin(base, margin_base):
    t = margin_base.customers.set_index("customer_id")
    assert margin_base.money_basis == "margin"
    rate = t["margin_rate"].astype(float)
    buyers = t["clv"].notna()
    # the same fit as on sales (same data but one customer attribute), valued on each customer's margin
    assert t.loc[buyers, "clv_sales"].to_numpy() == pytest.approx(
        base.customers.set_index("customer_id").loc[t.index[buyers], "clv"].to_numpy(), rel=1e-9)
    assert t.loc[buyers, "clv"].to_numpy() == pytest.approx((t["clv_sales"] * rate)[buyers].to_numpy(), rel=1e-12)
    n = margin_base.numbers()
    assert n["customer_equity"] == pytest.approx(float((t["clv_sales"] * rate).sum()), rel=1e-9)
    assert n["customer_equity"] < 0.6 * base.numbers()["customer_equity"]
    at_risk = t["is_at_risk"].fillna(False).astype(bool)
    assert n["value_at_risk"] == pytest.approx(float(((t["clv_if_alive"] - t["clv"]).clip(lower=0))[at_risk].sum()))
    retain = {a.name: a for a in month_actions(margin_base)}["retain"]
    assert retain.value == pytest.approx(float(t.loc[retain.customers["customer_id"], "value_at_stake"].sum()))


def test_with_margin_the_strategy_groups_rank_current_value_by_margin(base, margin_base):
    t = margin_base.customers.set_index("customer_id")
    buyers = t[t["is_buyer"]]
    margin_so_far = buyers["total_spend"].astype(float) * buyers["margin_rate"].astype(float)
    keep = buyers["strategy_group"] == "keep"
    assert keep.sum() == round(0.20 * len(buyers))
    assert margin_so_far[keep].min() >= margin_so_far[~keep].max()  # the top fifth by margin, not by sales
    sales_keep = set(base.customers.loc[base.customers["strategy_group"] == "keep", "customer_id"])
    assert set(buyers.index[keep]) != sales_keep
    # the potential value (run-rate outlook) is margin too: the sales outlook times the customer's rate
    sales_potential = base.customers.set_index("customer_id").loc[t.index, "potential_value"].astype(float)
    assert t["potential_value"].astype(float).to_numpy() == pytest.approx(
        (sales_potential * t["margin_rate"].astype(float)).to_numpy(), rel=1e-9)


def test_with_margin_labels_say_margin_in_both_languages(margin_base):
    from analysis.report.text import Text
    from analysis.report.numbers import label
    from analysis.report.site import glossary_html

    number = margin_base.key_number("customer_equity")
    assert label(number, Text("report", "en")) == "Customer equity (margin)"
    assert label(number, Text("report", "fi")) == "Asiakkuuspääoma (kate)"
    assert label(margin_base.key_number("customers_active"), Text("report", "en")) == "Active customers"
    en, fi = (glossary_html(margin_base, Text("report", lang)) for lang in ("en", "fi"))
    assert "gross gaming revenue" in en and "Value at risk (margin)" in en
    assert "bruttopelituotto" in fi and "Vaarassa oleva arvo (kate)" in fi


def test_experiment_value_comparison_says_margin_when_the_month_values_margin(tmp_path, base, margin_base,
                                                                              sales_only):
    from analysis.report.pages.experiments import ExperimentPage

    texts = {}
    for name, b in (("sales", base), ("margin", margin_base)):
        page = ExperimentPage.build(sales_only, "reactivation-2026-03", "en", as_of="2026-10-31",
                                    customer_base=b.save(tmp_path / f"{name}.pkl"), n_boot=200)
        assert page.money_basis == name
        texts[name] = " ".join(page.money().texts())
    assert "Expected future value (CLV" in texts["sales"] and "Expected future margin" not in texts["sales"]
    assert "Expected future margin" in texts["margin"] and "gross gaming revenue" in texts["margin"]
    assert "Expected future value (CLV" not in texts["margin"]
