"""The experiment page's cards and the sentences built on them, recomputed from the page's ``manifest.json``.

The page records seven numbers (the cards: buying rate per group, incremental revenue and margin, cost, ROI, cost
per purchase); the verdict of a conversion campaign, the money paragraph, the groups table's buying rates and the
planning sentence's baseline state them again and are recomputed here. The page's intervals, p-values, CUPED,
Bayesian, survival and sequential numbers are not in the manifest: test_experiments checks them against statsmodels,
scipy and lifelines instead.
"""
from __future__ import annotations

import html
import json
import re

import pytest

from analysis.report.text import Text
from report_month import SAMPLE

EXPERIMENTS = ("newsletter-2026-09", "vip-bonus-2026-08")  # a conversion verdict and a revenue verdict


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    from analysis.report.monthly import build_experiment_report

    out = tmp_path_factory.mktemp("experiment-pages") / "reports"
    found = {}
    for e in EXPERIMENTS:
        page = build_experiment_report(e, data=SAMPLE, out=out, period="2026-10", quiet=True)
        found[e] = {"html": html.unescape(page.read_text(encoding="utf-8")).replace("−", "-"),
                    "m": json.loads((page.parent / "manifest.json").read_text(encoding="utf-8"))}
    return found


def _fmt(v, unit: str) -> str:
    return {"share": lambda: f"{100 * v:.1f}%", "money": lambda: f"{'-' if v < 0 else ''}€{abs(v):,.0f}",
            "money_cents": lambda: f"€{v:,.2f}"}[unit]()


def _numbers(m) -> dict:
    return {n["concept"]: n["value"] for n in m["numbers"]}


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_each_card_recomputes_from_the_manifest(pages, experiment):
    page, m = pages[experiment]["html"], pages[experiment]["m"]
    words = Text("concepts", "en")
    q = "['\"]"  # the notebook page quotes attributes with either
    cards = re.findall(rf"<div class={q}kanta-label{q}>([^<]*)</div><div class={q}kanta-value{q}>([^<]*)</div>", page)
    assert len(cards) == len(m["numbers"]) == 7
    for (label, value), n in zip(cards, m["numbers"]):
        labels = {words(k).replace("−", "-") for k in (f"label_{n['concept']}", f"label_{n['concept']}_margin") if words.has(k)}
        assert label in labels, n["concept"]
        assert value == _fmt(n["value"], n["unit"]), n["concept"]


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_roi_and_margin_cards_follow_from_the_cards_beside_them(pages, experiment):
    page, x = pages[experiment]["html"], _numbers(pages[experiment]["m"])
    rate = float(re.search(r"ROI is on the margin the company keeps, (\d+)% of sales", page).group(1)) / 100
    assert x["experiment_incremental_margin"] == pytest.approx(x["experiment_incremental_revenue"] * rate, abs=0.01)
    cost, margin = x["experiment_campaign_cost"], x["experiment_incremental_margin"]
    assert x["experiment_roi"] == pytest.approx((margin - cost) / cost, abs=1e-4)


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_the_money_paragraph_states_the_manifests_numbers(pages, experiment):
    page, x = pages[experiment]["html"], _numbers(pages[experiment]["m"])
    money = re.search(r"<p>(The campaign group bought [^<]*)</p>", page).group(1)
    assert money.startswith(f"The campaign group bought {_fmt(x['experiment_incremental_revenue'], 'money')} more")
    assert f"With a campaign cost of {_fmt(x['experiment_campaign_cost'], 'money')}, " in money
    assert f"the return on investment is {100 * x['experiment_roi']:.0f}%" in money
    assert f"the cost per order in the campaign group was {_fmt(x['experiment_cost_per_purchase'], 'money_cents')}" \
        in money
    assert f"extra margin {_fmt(x['experiment_incremental_margin'], 'money')} against the cost" in money


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_buying_rates_in_the_groups_table_and_the_planning_baseline(pages, experiment):
    page, x = pages[experiment]["html"], _numbers(pages[experiment]["m"])
    control, campaign = x["experiment_conversion_control"], x["experiment_conversion_treatment"]
    rows = re.findall(r"<tr>\s*<td>[^<]*</td>\s*<td>[\d,]+</td>\s*<td>([\d.]+%)</td>", page)
    assert sorted(rows[:2]) == sorted([_fmt(control, "share"), _fmt(campaign, "share")])
    assert f"With the control group's buying rate of {_fmt(control, 'share')}" in page


def test_a_conversion_verdict_states_the_difference_of_the_cards(pages):
    page, x = pages["newsletter-2026-09"]["html"], _numbers(pages["newsletter-2026-09"]["m"])
    diff = x["experiment_conversion_treatment"] - x["experiment_conversion_control"]
    verdict = re.search(r"<h2[^>]*>Verdict.*?<strong>([^<]*)</strong>", page, re.S).group(1)
    assert pages["newsletter-2026-09"]["m"]["verdict"] == "no_difference"
    assert verdict.startswith("No clear effect: the difference in the share of customers who bought "
                              f"({100 * diff:+.1f} percentage points")
    assert f"To confirm the difference seen here ({100 * diff:.1f} percentage points)" in page
