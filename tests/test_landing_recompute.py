"""Every card and sentence of the month's landing page recomputed from ``manifest.json`` (two months of the sample
published into one folder with a one-cell notebook, so the landing page is all there is to read).

What the landing page shows, and where each is recomputed:
- the one-screen summary: each key number's line (here), the plan sentence (test_plan), which actions paid
  (here for a month with nothing decided; test_plan_uplift for a month where an action paid);
- the situation and threshold sentences, this month's actions, the key-number cards, the detailed pages, the
  experiments concluded, the glossary's settings and the run details (here);
- the contact plan and last month's actions measured (test_plan); which actions paid (test_plan_uplift).
"""
from __future__ import annotations

import html
import re

import pytest

from analysis.base.concepts import CONCEPTS
from analysis.report.text import Text
from plan_months import published_two_months
from test_plan import _name

WORDS = Text("concepts", "en")
MONTHS = ("January February March April May June July August September October November December").split()


@pytest.fixture(scope="module")
def two_months(tmp_path_factory):
    return published_two_months(tmp_path_factory)


def _labels(concept: str) -> set:
    return {WORDS(k) for k in (f"label_{concept}", f"label_{concept}_margin") if WORDS.has(k)}


def _value(v, unit: str) -> str:
    """The value as an English page writes it, computed here without the package's formatters."""
    if v is None:
        return "–"
    return {"count": lambda: f"{v:,.0f}", "money": lambda: f"€{v:,.0f}", "money_cents": lambda: f"€{v:,.2f}",
            "share": lambda: f"{100 * v:.1f}%", "number": lambda: f"{v:.2f}"}[unit]()


def _change(v, p, unit: str) -> str | None:
    if v is None or p is None:
        return None
    if v == p or (unit == "share" and round(100 * (v - p), 1) == 0):
        return "no change vs previous month"
    if unit == "share":
        return f"{100 * (v - p):+.1f} pp vs previous month"
    rel = f"{100 * (v / p - 1):+.1f}%"
    return f"{v - p:+,.0f} ({rel}) vs previous month" if unit == "count" else f"{rel} vs previous month"


def _landing_numbers(m) -> list:
    return [n for n in m["numbers"] if n["page"] == "index.html"]


def test_each_key_number_card_recomputes_from_the_manifest(two_months):
    m, landing = two_months["second"], two_months["landing"]
    cards = re.findall(r"<div class='kanta-card[^']*'><div class='kanta-label'>([^<]*)</div>"
                       r"<div class='kanta-value'>([^<]*)</div>(?:<div class='kanta-change'>([^<]*)</div>)?", landing)
    numbers = _landing_numbers(m)
    assert len(cards) == len(numbers) >= 12
    for (label, value, change), n in zip(cards, numbers):
        assert html.unescape(label) in _labels(n["concept"]), n["concept"]
        assert html.unescape(value) == _value(n["value"], n["unit"]), n["concept"]
        expected = _change(n["value"], n["previous"], n["unit"])
        if expected is not None:
            assert html.unescape(change) == expected, n["concept"]


def test_each_summary_line_recomputes_from_the_manifest(two_months):
    from analysis.report.plan_page import SUMMARY_DIRECTIONS

    m, landing = two_months["second"], two_months["landing"]
    numbers = {n["concept"]: n for n in _landing_numbers(m)}
    lines = dict(re.findall(r"<li class='kanta-\w+' data-concept='(\w+)'>([^<]*)</li>", landing))
    assert set(lines) == {c for c in SUMMARY_DIRECTIONS if c in numbers and numbers[c]["value"] is not None}
    for concept, text in lines.items():
        n = numbers[concept]
        change = _change(n["value"], n["previous"], n["unit"])
        label = next(iter(_labels(concept) & {html.unescape(text).split(":")[0]}))
        if change is None:
            assert html.unescape(text) == f"{label}: {_value(n['value'], n['unit'])} (no earlier value to compare with " \
                                          "in this report folder)"
            continue
        up = SUMMARY_DIRECTIONS[concept]
        good = "no change" if n["value"] == n["previous"] else (
            "good" if (n["value"] > n["previous"]) == (up > 0) else "bad")
        assert html.unescape(text) == f"{label}: {_value(n['value'], n['unit'])}, {change}: {good}"


def test_nothing_decided_yet_is_said_from_the_pooled_results(two_months):
    m, landing = two_months["second"], html.unescape(two_months["landing"])
    ups = m["action_uplift"]
    assert ups and not any(u["decides_priority"] for u in ups)
    names = ", ".join(_name(u["action"]) for u in ups)
    assert f"No action has paid measurably yet. Did not pay: none. Not measured enough yet: {names}." in landing
    for u in ups:  # one plan pooled so far: the section points to the numbers above instead of repeating them
        months = " ".join((MONTHS[int(u["months"][0][5:]) - 1], u["months"][0][:4]))
        assert f"{_name(u['action'])}: so far only the plan of {months} (its numbers are above)." in landing


def test_situation_and_threshold_sentences_recompute_from_the_manifest(two_months):
    m, landing = two_months["second"], two_months["landing"]
    assert f"<p>Situation on {m['as_of']}, compared with {m['previous_as_of']}.</p>" in landing
    assert f"<span class='kanta-nowrap'>{m['as_of']}</span>" in two_months["page"]  # never broken over two lines
    assert (f"a customer is active after a purchase within the last {m['inactivity_days']} days and has churned "
            f"(is lost) after {m['inactivity_days']} days or more without one") in landing


def test_each_action_sentence_states_the_plans_customers_and_value(two_months):
    m, landing = two_months["second"], html.unescape(two_months["landing"])
    section = landing.split("This month: what to do")[-1].split("The contact plan")[0]
    items = re.findall(r"<li>([^<]*)</li>", section)
    assert len(items) == len(m["actions"])
    for a, text in zip(m["actions"], items):
        if not a["customers"]:
            assert text == f"{_name(a['name'])}: nobody this month."
            continue
        assert text.startswith(f"{_name(a['name'])}: {a['customers']:,} ") and text.endswith(f"List: {a['list']}.")
        if a["value"] is not None:
            assert f"€{a['value']:,.0f} (margin)" in text  # the sample has margin: every value is in margin


def test_detail_pages_and_experiments_concluded_come_from_the_manifest(two_months):
    m, landing = two_months["second"], html.unescape(two_months["landing"])
    links = re.findall(r"<li><a href='([^']+)'>[^<]*</a>", landing.split("Detailed reports</h2>")[1].split("</ul>")[0])
    assert links == [r["html"] for r in m["notebooks"]]
    ended = landing.split("Experiments concluded this month</h2>")[1].split("</ul>")[0]
    for e in m["experiments_ended"]:
        words = Text("experiments", "en")
        short = f"verdict_short_{e['verdict']}"
        assert (f"{e['id']}: {words(short)}" if words.has(short) else e["id"]) in ended
    assert len(re.findall(r"<li>", ended)) == len(m["experiments_ended"])


def test_the_glossary_states_the_manifests_settings(two_months):
    m, landing = two_months["second"], html.unescape(two_months["landing"])
    glossary = landing.split("<section id='glossary'>")[1].split("</section>")[0]
    assert f"Definitions as of {m['as_of']}" in glossary or m["as_of"] in glossary
    defined = {e["concept"]: e["settings"] for e in m["glossary"]}
    assert defined["customers_active"] == {"inactivity_days": m["inactivity_days"]}
    active = WORDS("define_customers_active", inactivity_days=m["inactivity_days"])
    assert active in glossary
    terms = re.findall(r"<dt>([^<]*)</dt>", glossary)
    shown = [c for c in defined if WORDS.has(f"define_{c}")]
    assert len(terms) == len(shown) + len(m["plan"]["priority"]) and set(shown) <= set(CONCEPTS)


def test_run_details_recompute_from_the_manifest(two_months):
    m, landing = two_months["second"], html.unescape(two_months["landing"])
    details = landing.split("id='run-details'")[1]
    assert f"<th scope='row'>Period</th><td>{m['period']}</td>" in details
    for r in m["notebooks"]:
        assert f"{r['name']}: {r['started_at']}, {r['duration_s']:.1f} s" in details
    base = m["customer_base"]
    assert f"customer base: {base['started_at']}, {base['duration_s']:.1f} s" in details
