"""This month's actions: the rules, the lists a campaign tool loads, and the unusual-change signal."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from analysis.actions import ACTIONS, month_actions, trends, unusual
from analysis.customer_base import BaseSettings, CustomerBase
from report_month import SAMPLE, rendered_month


@pytest.fixture(scope="module")
def base() -> CustomerBase:
    return CustomerBase.build(SAMPLE, "2026-10-31", BaseSettings(n_clusters=3))


@pytest.fixture(scope="module")
def actions(base):
    return {a.name: a for a in month_actions(base)}


def test_every_rule_gives_an_action_in_page_order(base):
    assert [a.name for a in month_actions(base)] == list(ACTIONS)


def test_retention_lists_hold_only_active_customers_with_permission(base, actions):
    state = base.customers.set_index("customer_id")
    for name in ("retain", "second_purchase", "grow"):
        ids = actions[name].customers["customer_id"]
        assert len(ids), name
        assert state.loc[ids, "is_active"].all() and not state.loc[ids, "is_churned"].any(), name
        assert state.loc[ids, "has_permission"].all(), name


def test_retain_is_the_one_contact_list(base, actions):
    assert actions["retain"].customers["customer_id"].tolist() == base.contact_list()["customer_id"].tolist()
    assert actions["retain"].value == pytest.approx(base.contact_list()["value_at_stake"].sum())


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


def test_month_publishes_action_lists_and_lists_them_in_the_manifest(tmp_path_factory):
    month = rendered_month(tmp_path_factory, "en")
    m = json.loads((month["month_dir"] / "manifest.json").read_text(encoding="utf-8"))
    assert [a["name"] for a in m["actions"]] == list(ACTIONS)
    for a in m["actions"]:
        assert {"name", "customers", "value", "list"} <= set(a)
        lst = pd.read_csv(month["month_dir"] / a["list"], dtype={"customer_id": str})
        assert list(lst.columns[:4]) == ["customer_id", "pseudonym", "action", "reason"]
        assert len(lst) == a["customers"]
    landing = (month["month_dir"] / "index.html").read_text(encoding="utf-8")
    assert "lists/retain.csv" in landing and "href='lists/" not in landing
