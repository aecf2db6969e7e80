"""Each action's measured uplift, pooled over the months a report folder holds, decides its value and its place in
the plan's priority; the landing page says which actions paid, every sentence recomputed from ``manifest.json``."""
from __future__ import annotations

import hashlib
import html
import re
import shutil

import pandas as pd
import pytest
from statsmodels.stats.proportion import confint_proportions_2indep

from analysis.base.plan import PRIORITY, contact_plan
from analysis.base.plan_uplift import ENOUGH_HOLDOUT, POOL_MONTHS, ActionUplift, measured_priority, pool_results
from analysis.errors import ParameterError
from report_month import SAMPLE
from plan_months import plain, tiny_notebook
from test_plan import _name

MONTHS = ("2026-08", "2026-09", "2026-10")


def _result(action, month, nc, nh, bc, bh, value=5.0):
    return {"action": action, "month": month, "contact": nc, "holdout": nh, "buyers_contact": bc,
            "buyers_holdout": bh, "value_basis": "margin", "value_per_customer_contact": value}


def test_pooled_uplift_is_newcombes_interval_on_the_summed_counts():
    results = [_result("grow", "2026-08", 180, 20, 70, 4, 4.0), _result("grow", "2026-09", 220, 25, 90, 6, 6.0)]
    u = pool_results(results, "2026-10")[0]
    assert (u.contact, u.holdout, u.buyers_contact, u.buyers_holdout) == (400, 45, 160, 10)
    lo, hi = confint_proportions_2indep(160, 400, 10, 45, method="newcomb", compare="diff")
    assert u.difference == pytest.approx(160 / 400 - 10 / 45)
    assert (u.ci_low, u.ci_high) == (pytest.approx(lo), pytest.approx(hi))
    assert u.value_per_buyer == pytest.approx((4.0 * 180 + 6.0 * 220) / 160)  # margin per contacted buyer
    assert u.verdict == "paid" and u.gain_per_customer == pytest.approx(u.difference * u.value_per_buyer)


def test_only_the_plans_of_the_window_are_pooled_and_a_month_run_again_counts_once():
    old = _result("retain", "2026-03", 1000, 1000, 900, 100)  # seven months before: outside the window
    first = _result("retain", "2026-09", 100, 10, 10, 1)
    again = _result("retain", "2026-09", 120, 12, 12, 1)  # 2026-10 run again: its result replaces the first
    u = pool_results([old, first, again], "2026-10")[0]
    assert POOL_MONTHS == 6 and u.months == ("2026-09",) and (u.contact, u.holdout) == (120, 12)


def test_an_interval_that_includes_zero_decides_only_with_enough_held_out():
    few = pool_results([_result("retain", "2026-09", 900, 100, 90, 10)], "2026-10")[0]
    many = pool_results([_result("retain", "2026-09", 3600, ENOUGH_HOLDOUT, 360, 40)], "2026-10")[0]
    assert few.ci_low < 0 < few.ci_high and few.verdict == "not_yet" and few.gain_per_customer is None
    assert many.ci_low < 0 < many.ci_high and many.verdict == "no_clear_gain"
    assert many.gain_per_customer == pytest.approx(0.0)


def test_priority_puts_paid_actions_first_and_measured_losers_last():
    paid = ActionUplift("win_back", ("2026-09",), 400, 100, 200, 30, 0.2, 0.1, 0.3, 0.001, "margin", 12.0)
    better = ActionUplift("grow", ("2026-09",), 400, 100, 200, 30, 0.2, 0.1, 0.3, 0.001, "margin", 20.0)
    lost = ActionUplift("retain", ("2026-09",), 400, 100, 20, 30, -0.25, -0.35, -0.15, 0.001, "margin", 12.0)
    assert measured_priority([paid, better, lost]) == ("grow", "win_back", "retain_early", "second_purchase", "retain")
    assert measured_priority([]) == PRIORITY


def test_a_priority_that_is_not_every_action_once_is_one_sentence():
    from analysis.base import BaseSettings, CustomerBase

    base = CustomerBase.build(SAMPLE, "2026-10-31", BaseSettings(n_clusters=3))
    with pytest.raises(ParameterError, match=r"^priority: got \['grow'\], expected each of retain"):
        contact_plan(base, priority=("grow",))


# --- three months published into one folder; the operator's Grow contacts truly buy more -------------------------
def _lift(data, lists, month: str) -> None:
    """Two thirds of the Grow list's contact group buy once in the month after the plan (chosen by a hash of the id,
    so which customers does not depend on anything the plan knows); the holdout buys as it would have."""
    grow = pd.read_csv(lists / "grow.csv", dtype={"customer_id": str})
    ids = [c for c in grow.loc[grow["group"] == "contact", "customer_id"]
           if int(hashlib.sha256(c.encode()).hexdigest(), 16) % 3]
    day = pd.Period(month, freq="M") + 1
    rows = pd.DataFrame({"transaction_id": [f"L{month}-{i}" for i in range(len(ids))], "customer_id": ids,
                         "timestamp": f"{day.start_time:%Y-%m}-10 12:00:00", "amount": 40.0, "channel": "online",
                         "category": "lottery", "margin": 12.0})
    rows.to_csv(data / "transactions.csv", mode="a", header=False, index=False)


@pytest.fixture(scope="module")
def three_months(tmp_path_factory):
    from analysis import report

    folder = tmp_path_factory.mktemp("uplift")
    data = folder / "data"
    shutil.copytree(SAMPLE, data)
    tiny_notebook(folder)
    out = folder / "reports"
    specs = [report.NotebookSpec("customer_base")]
    manifests = {}
    for month in MONTHS:
        for language in ("fi", "en"):  # the last run of a month (English) is the published one
            manifests[month, language] = report.render_month(
                month, data=data, out=out, notebooks=folder, quiet=True, specs=specs, language=language,
                params=["holdout_share=0.2"]).manifest
            if month == MONTHS[-1] and language == "fi":
                fi = plain((out / month / "index.html").read_text(encoding="utf-8"))
        if month != MONTHS[-1]:
            _lift(data, out / month / "lists", month)
    return {"out": out, "m": manifests, "fi": fi,
            "en": plain((out / MONTHS[-1] / "index.html").read_text(encoding="utf-8"))}


def test_three_months_the_measured_action_decides_the_priority(three_months):
    m = three_months["m"][MONTHS[-1], "en"]
    ups = {u["action"]: u for u in m["action_uplift"]}
    grow = ups["grow"]
    assert grow["months"] == ["2026-08", "2026-09"] and grow["verdict"] == "paid" and grow["decides_priority"]
    # pooled by hand from the two months' published results
    rows = [r for month in MONTHS[1:] for r in three_months["m"][month, "en"]["action_results"] if r["action"] == "grow"]
    nc, nh = sum(r["contact"] for r in rows), sum(r["holdout"] for r in rows)
    bc, bh = sum(r["buyers_contact"] for r in rows), sum(r["buyers_holdout"] for r in rows)
    assert (grow["contact"], grow["holdout"], grow["buyers_contact"], grow["buyers_holdout"]) == (nc, nh, bc, bh)
    lo, hi = confint_proportions_2indep(bc, nc, bh, nh, method="newcomb", compare="diff")
    assert grow["ci_low"] == pytest.approx(lo) and lo > 0 and grow["ci_high"] == pytest.approx(hi)
    vpb = sum(r["value_per_customer_contact"] * r["contact"] for r in rows) / bc
    assert grow["value_per_buyer"] == pytest.approx(vpb)
    assert m["plan"]["priority"][0] == "grow"
    others = [u for a, u in ups.items() if a != "grow"]
    assert all(not u["decides_priority"] for u in others)  # no lift: one sample's holdouts are too small to decide
    assert m["plan"]["priority"][1:] == [a for a in PRIORITY if a != "grow"]
    a = next(a for a in m["actions"] if a["name"] == "grow")
    assert a["expected_gain"] == pytest.approx(grow["difference"] * vpb * a["contact"])
    assert all(x["expected_gain"] is None for x in m["actions"] if x["name"] != "grow")
    # the first month, nothing measured: the rule of thumb
    assert three_months["m"][MONTHS[0], "en"]["plan"]["priority"] == list(PRIORITY)
    assert three_months["m"][MONTHS[0], "en"]["action_uplift"] == []


def test_grow_now_takes_the_customers_second_purchase_would_have_had(three_months):
    out = three_months["out"] / MONTHS[-1] / "lists"
    rows = pd.concat([pd.read_csv(f, dtype={"customer_id": str}) for f in out.glob("*.csv")])
    assert rows["customer_id"].is_unique
    m = three_months["m"][MONTHS[-1], "en"]
    assert [a["name"] for a in m["actions"]][0] == "grow"


def _items(landing: str) -> dict:
    return {a: html.unescape(t) for a, t in re.findall(r"<li(?: class='kanta-\w+')? data-action='(\w+)'>([^<]*)</li>", landing)}


def _pp(x: float) -> str:
    return f"{100 * x:+.1f} pp"


def test_which_actions_paid_sentences_recompute_from_the_manifest(three_months):
    m, landing = three_months["m"][MONTHS[-1], "en"], html.unescape(three_months["en"]).replace("−", "-")
    items = _items(landing)
    actions = {a["name"]: a for a in m["actions"]}
    assert "Which actions paid" in landing
    assert list(items) == m["plan"]["priority"]  # in this month's priority: the action that paid first
    for u in m["action_uplift"]:
        text = items[u["action"]]
        months = ", ".join(pd.Period(x, freq="M").strftime("%B %Y") for x in u["months"])
        assert text.startswith(f"{_name(u['action'])} (plans of {months}): ")
        if u["difference"] is None:
            assert "too few to compare" in text
            continue
        assert (f"{u['buyers_contact']:,} of {u['contact']:,} contacted customers bought "
                f"({100 * u['buyers_contact'] / u['contact']:.1f}%) and {u['buyers_holdout']:,} of "
                f"{u['holdout']:,} held-out customers ({100 * u['buyers_holdout'] / u['holdout']:.1f}%), a difference "
                f"of {_pp(u['difference'])} (95\u00a0% interval {_pp(u['ci_low'])} to {_pp(u['ci_high'])})") in text
        if u["verdict"] == "paid":
            a = actions[u["action"]]
            assert (f"It paid: at €{u['value_per_buyer']:,.2f} of margin per contacted buyer, "
                    f"€{u['difference'] * u['value_per_buyer']:,.2f} per contacted customer, "
                    f"€{a['expected_gain']:,.0f} expected from this month's {a['contact']:,} customers") in text
        else:
            assert u["verdict"] == "not_yet" and f"Not shown yet ({u['holdout']:,} held out so far)" in text
            assert "value at stake, not a gain" in text
    paid = [u["action"] for u in m["action_uplift"] if u["verdict"] == "paid"]
    gain = sum(actions[a]["expected_gain"] for a in paid)
    assert (f"Actions that paid, measured against their holdouts: {', '.join(map(_name, paid))}; €{gain:,.0f} "
            "expected from this month's contacts on them") in landing
    assert "The order is set by the actions' measured gains" in landing


def test_the_finnish_page_says_the_same(three_months):
    fi = three_months["fi"]
    m = three_months["m"][MONTHS[-1], "fi"]
    assert "Mitkä toimenpiteet kannattivat" in fi and "Vertailuryhmää vastaan mitattuina kannattivat: Kasvata" in fi
    grow = next(u for u in m["action_uplift"] if u["action"] == "grow")
    n = f"{grow['contact']:,}".replace(",", "\u00a0")
    assert f"Kasvata (suunnitelmat elokuu 2026, syyskuu 2026): yhteydenotetuista {n} asiakkaasta" in _items(fi)["grow"]
    assert "Se kannatti:" in _items(fi)["grow"]


def test_more_buyers_who_bring_no_value_is_not_paid():
    refunds = [_result("win_back", "2026-09", 400, 100, 200, 30, value=-1.0)]  # buyers returned more than they bought
    u = pool_results(refunds, "2026-10")[0]
    assert u.ci_low > 0 and u.value_per_buyer < 0 and u.verdict == "lost" and u.gain_per_customer < 0


def test_an_action_measured_to_lose_says_so_and_goes_last():
    from analysis.base.plan_uplift import expected_gain
    from analysis.report.plan_page import paid_sentence, uplift_html
    from analysis.report.text import Text

    lost = ActionUplift("win_back", ("2026-08", "2026-09"), 400, 100, 20, 30, -0.25, -0.35, -0.15, 0.001, "margin", 12.0)
    priority = measured_priority([lost])
    assert lost.verdict == "lost" and priority[-1] == "win_back"
    m = {"actions": [{"name": "win_back", "contact": 90, "expected_gain": expected_gain(lost, 90)}],
         "plan": {"priority": list(priority)}, "action_uplift": [lost.to_dict()], "action_results": []}
    text = html.unescape(uplift_html(m, Text("report", "en")))
    gain = lost.difference * lost.value_per_buyer
    assert m["actions"][0]["expected_gain"] == pytest.approx(gain * 90)
    assert (f"<li class='kanta-bad' data-action='win_back'>Win back (plans of August 2026, September 2026): 20 of 400 "
            f"contacted customers bought (5.0%) and 30 of 100 held-out customers (30.0%), a difference of -25.0 pp "
            f"(95\u00a0% interval -35.0 pp to -15.0 pp). It did not pay: -€{abs(gain):.2f} of margin per contacted "
            "customer as measured. It goes after the actions not yet measured.</li>") in text
    assert paid_sentence(m, Text("report", "en")) == ("No action has paid measurably yet. Did not pay: Win back. "
                                                      "Not measured enough yet: none.")
