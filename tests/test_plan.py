"""The month's contact plan: each customer once, nobody with an open complaint or over the marketing threshold,
a reproducible holdout per action, and last month's plan measured in the next month's report."""
from __future__ import annotations

import hashlib
import json

import nbformat
import pandas as pd
import pytest
from statsmodels.stats.proportion import confint_proportions_2indep

from analysis.base import BaseSettings, CustomerBase
from analysis.base.plan import (EXCLUSIONS, PRIORITY, assign_groups, contact_plan, contact_threshold, holdout_size)
from analysis.base.plan_results import measure_plan
from analysis.contacts import dropout_model
from analysis.errors import ParameterError
from report_month import SAMPLE

AS_OF = "2026-10-31"


@pytest.fixture(scope="module")
def base() -> CustomerBase:
    return CustomerBase.build(SAMPLE, AS_OF, BaseSettings(n_clusters=3))


@pytest.fixture(scope="module")
def plan(base):
    return contact_plan(base)


@pytest.fixture(scope="module")
def contacts() -> pd.DataFrame:
    c = pd.read_csv(SAMPLE / "contacts.csv", dtype={"customer_id": str}, parse_dates=["timestamp", "resolved_at"])
    return c[c["timestamp"] < "2026-11-01"]


def _open_complaints(contacts) -> set:
    end = pd.Timestamp("2026-11-01")
    c = contacts[(contacts["type"] == "complaint") & (contacts["resolved_at"].isna() | (contacts["resolved_at"] >= end))]
    return set(c["customer_id"])


def _over(contacts, k: int) -> set:
    m = contacts[(contacts["type"] == "marketing") & (contacts["direction"] == "outbound")
                 & (contacts["timestamp"] >= "2026-10-01")]
    n = m.groupby("customer_id").size()
    return set(n[n > k].index)


def test_each_customer_is_on_one_list_row_of_the_month(plan):
    rows = plan.customers
    assert len(rows) > 300 and rows["customer_id"].is_unique


def test_rules_overlap_and_the_plan_keeps_the_higher_priority_action(base, plan):
    from analysis.base.actions import month_actions

    rules = {a.name: set(a.customers["customer_id"]) for a in month_actions(base)}
    assert len(rules["grow"] & rules["second_purchase"]) > 0  # the rules alone overlap
    on = plan.customers.set_index("customer_id")["action"]
    both = (rules["grow"] & rules["second_purchase"]) & set(on.index)
    assert both and (on[list(both)] == "second_purchase").all()  # second_purchase comes before grow
    assert PRIORITY.index("second_purchase") < PRIORITY.index("grow")


def test_the_threshold_is_the_contacts_pages_and_nobody_over_it_or_with_an_open_complaint(base, plan, contacts):
    k = dropout_model(SAMPLE, AS_OF).threshold
    assert plan.contact_threshold == k == contact_threshold(base) == 4
    ids = set(plan.customers["customer_id"])
    assert not ids & _open_complaints(contacts)
    assert not ids & _over(contacts, k)


def test_exclusions_are_counted_per_customer_under_their_first_reason(base, plan, contacts):
    from analysis.base.actions import month_actions

    picked = set().union(*(set(a.customers["customer_id"]) for a in month_actions(base, permission=False)))
    complaint = picked & _open_complaints(contacts)
    over = (picked & _over(contacts, plan.contact_threshold)) - complaint
    perm = base.customers.set_index("customer_id")["has_permission"].fillna(False).astype(bool)
    no_perm = {c for c in picked - complaint - over if not perm[c]}
    assert plan.excluded == {"open_complaint": len(complaint), "over_contact_threshold": len(over),
                             "no_permission": len(no_perm), "previous_plan_not_measured": 0}
    assert complaint and over and no_perm
    assert len(picked) == len(plan.customers) + sum(plan.excluded.values())


def test_every_action_has_a_holdout_of_exactly_the_rounded_share(plan):
    for a in plan.actions:
        n, h = a.size, int((a.customers["group"] == "holdout").sum())
        assert h == max(round(0.1 * n), 1 if n >= 10 else 0), a.name
        assert a.size < 10 or h >= 1
        assert set(a.customers["group"]) <= {"contact", "holdout"}
    assert [holdout_size(n, 0.1) for n in (9, 10, 15, 25, 35)] == [1, 1, 2, 2, 4]  # round half to even
    assert holdout_size(14, 0.0) == 0 and holdout_size(120, 0.25) == 30


def test_the_holdout_is_the_smallest_sha256_of_month_and_pseudonym(plan):
    a = next(a for a in plan.actions if a.name == "grow")
    digest = a.customers["pseudonym"].map(lambda p: hashlib.sha256(f"2026-10{p}".encode()).hexdigest())
    expected = set(a.customers.loc[digest.sort_values().index[:holdout_size(a.size)], "pseudonym"])
    assert set(a.customers.loc[a.customers["group"] == "holdout", "pseudonym"]) == expected
    shuffled = a.customers.sample(frac=1, random_state=1)
    again = assign_groups(shuffled, "2026-10")
    assert (again.sort_index() == a.customers["group"]).all()  # the same, whatever the order
    assert (assign_groups(a.customers, "2026-11") != a.customers["group"]).any()  # another month, another draw


def test_a_bad_holdout_share_is_one_sentence(base):
    with pytest.raises(ParameterError, match="holdout_share: got 1.5"):
        contact_plan(base, share=1.5)


def test_contact_group_of_an_unmeasured_plan_is_left_out(base, plan):
    grow = next(a for a in plan.actions if a.name == "grow").customers
    previous = grow.assign(group="contact")[["customer_id", "action", "group"]]
    again = contact_plan(base, previous=previous, measured=())
    assert again.excluded["previous_plan_not_measured"] == len(grow)
    assert not set(again.customers["customer_id"]) & set(grow["customer_id"])
    measured = contact_plan(base, previous=previous, measured=("grow",))
    assert measured.excluded == plan.excluded


def test_measurement_matches_an_independent_count(base, plan):
    rows = plan.customers[["customer_id", "action", "group"]]
    res = {r.action: r for r in measure_plan(base.source, rows, "2026-09", AS_OF)}
    tx = pd.read_csv(SAMPLE / "transactions.csv", dtype={"customer_id": str}, parse_dates=["timestamp"])
    tx = tx[(tx["timestamp"] >= "2026-10-01") & (tx["timestamp"] < "2026-11-01")]
    buyers = set(tx.loc[tx["amount"] > 0, "customer_id"])
    margin = tx.groupby("customer_id")["margin"].sum()
    for a in plan.actions:
        if not a.size:
            continue
        r = res[a.name]
        c = a.customers[a.customers["group"] == "contact"]["customer_id"]
        h = a.customers[a.customers["group"] == "holdout"]["customer_id"]
        bc, bh = c.isin(buyers).sum(), h.isin(buyers).sum()
        assert (r.contact, r.holdout, r.buyers_contact, r.buyers_holdout) == (len(c), len(h), bc, bh)
        assert r.difference == pytest.approx(bc / len(c) - bh / len(h))
        lo, hi = confint_proportions_2indep(bc, len(c), bh, len(h), method="newcomb", compare="diff")
        assert (r.ci_low, r.ci_high) == (pytest.approx(lo), pytest.approx(hi))
        assert r.value_basis == "margin"
        assert r.value_per_customer_contact == pytest.approx(margin.reindex(c).fillna(0).mean())


def _tiny_notebook(folder):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell('source = ""\nas_of = ""\nlanguage = "en"', metadata={"tags": ["parameters"]}),
                nbformat.v4.new_markdown_cell("# Tiny")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, folder / "customer_base.ipynb")


def test_publishing_two_months_measures_the_first_months_plan_in_the_second(tmp_path):
    from analysis import report

    _tiny_notebook(tmp_path)
    out = tmp_path / "reports"
    specs = [report.NotebookSpec("customer_base")]
    first = report.render_month("2026-09", data=SAMPLE, out=out, notebooks=tmp_path, quiet=True, specs=specs,
                                params=["holdout_share=0.2"])
    assert first.manifest["action_results"] == []
    assert first.manifest["plan"]["holdout_share"] == 0.2 and first.manifest["contact_threshold"] >= 1
    rows = pd.concat([pd.read_csv(out / "2026-09" / a["list"], dtype={"customer_id": str})
                      for a in first.manifest["actions"]])
    assert list(rows.columns[:5]) == ["customer_id", "pseudonym", "action", "reason", "group"]
    assert rows["customer_id"].is_unique
    second = report.render_month("2026-10", data=SAMPLE, out=out, notebooks=tmp_path, quiet=True, specs=specs)
    m = json.loads((out / "2026-10" / "manifest.json").read_text(encoding="utf-8"))
    results = {r["action"]: r for r in m["action_results"]}
    sized = [a["name"] for a in first.manifest["actions"] if a["customers"]]
    assert list(results) == sized and all(r["month"] == "2026-09" for r in results.values())
    for name in sized:
        r = results[name]
        lst = rows[rows["action"] == name]
        assert (r["contact"], r["holdout"]) == ((lst["group"] == "contact").sum(), (lst["group"] == "holdout").sum())
        assert r["difference"] == pytest.approx(r["purchase_rate_contact"] - r["purchase_rate_holdout"], abs=1e-6)
        assert r["ci_low"] <= r["difference"] <= r["ci_high"]
    assert m["plan"]["excluded"]["previous_plan_not_measured"] == 0
    assert second.manifest["plan"]["holdout_share"] == 0.1
    landing = (out / "2026-10" / "index.html").read_text(encoding="utf-8")
    assert "2026-09" in landing or "September" in landing


def test_exclusion_reasons_are_stated_in_order():
    assert EXCLUSIONS == ("open_complaint", "over_contact_threshold", "no_permission", "previous_plan_not_measured")
