"""The experiment page's cards and the sentences built on them, recomputed from the page's ``manifest.json``.

The page records seven numbers (the cards: buying rate per group, incremental revenue and margin, cost, ROI, cost
per purchase) and, under ``details``, the numbers behind every other sentence and table (verdict interval, checks,
split, groups, results with intervals and p-values, money, CLV, CUPED, Bayes, retention, weekly looks, planner).
Each sentence and table cell of both sample experiments, in English and Finnish, is rebuilt here from those numbers
with the page's number formats and compared with the published HTML. That the numbers themselves are right is
test_experiments' job (statsmodels, scipy and lifelines).
"""
from __future__ import annotations

import html
import json
import re
from html.parser import HTMLParser

import pytest

from analysis.experiments import Guard
from analysis.report.numbers import format_value
from analysis.report.pages.campaign import JOINER, MEASURES, capped, guard_message, p_text, points, pv
from analysis.report.text import Text, fmt_number
from report_month import SAMPLE

EXPERIMENTS = ("newsletter-2026-09", "vip-bonus-2026-08")  # a conversion verdict and a revenue verdict


@pytest.fixture(scope="module")
def pages(both):
    """The English pages as text, for the tests of the cards and the sentences that state them."""
    return {e: {"html": html.unescape(both[e, "en"]["raw"]).replace("−", "-"), "m": both[e, "en"]["m"]}
            for e in EXPERIMENTS}


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


# --- every sentence and table of the page, both languages, from manifest.json "details" ------------------------
class _Page(HTMLParser):
    """The page's paragraphs and list items (text, tags dropped) and its tables (rows of cell texts), in order."""

    BLOCKS = ("p", "li", "td", "th")

    def __init__(self):
        super().__init__()
        self.blocks, self.tables, self._open, self._skip = [], [], [], 0

    def handle_starttag(self, tag, attrs):
        if tag in ("figcaption", "nav", "footer", "details", "style", "script"):
            self._skip += 1
        elif tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        if tag in self.BLOCKS:
            self._open.append([tag, dict(attrs).get("class") or "", ""])

    def handle_endtag(self, tag):
        if tag in ("figcaption", "nav", "footer", "details", "style", "script"):
            self._skip -= 1
        if tag in self.BLOCKS and self._open:
            kind, cls, text = self._open.pop()
            if self._open:  # a paragraph inside a list item: its text belongs to the item
                self._open[-1][2] += text
            if kind in ("td", "th") and self.tables:
                self.tables[-1][-1].append(_plain(text))
            elif not self._open and not self._skip and "kanta-caption" not in cls:
                self.blocks.append(_plain(text))

    def handle_data(self, data):
        if self._open:
            self._open[-1][2] += data


def _plain(text: str) -> str:
    """Text as a reader sees it: no word joiners, no-break spaces as spaces, one minus sign."""
    return re.sub(r"\s+", " ", text.replace(JOINER, "").replace("\u00a0", " ").replace("−", "-")).strip()


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    from analysis.report.monthly import build_experiment_report

    found = {}
    for language in ("en", "fi"):
        out = tmp_path_factory.mktemp(f"experiment-pages-{language}") / "reports"
        for e in EXPERIMENTS:
            page = build_experiment_report(e, data=SAMPLE, out=out, period="2026-10", quiet=True, language=language)
            raw = page.read_text(encoding="utf-8")
            parsed = _Page()
            parsed.feed(raw)
            found[e, language] = {"raw": raw, "page": parsed, "text": _plain(html.unescape(raw)),
                                  "m": json.loads((page.parent / "manifest.json").read_text(encoding="utf-8"))}
    return found


PAGES = [(e, language) for e in EXPERIMENTS for language in ("en", "fi")]


def _signed_money(tx, x):  # the page's signed euros: "+€3.29", "-€1.24"
    return ("+" if x > 0 else "") + tx.money(x, 2)


def _effect(tx, primary, x, signed=False):
    return points(tx, x, signed) if primary == "conversion" else (_signed_money(tx, x) if signed else tx.money(x, 2))


def _sentences(d, tx) -> dict[str, str]:
    """Every number-bearing sentence of the page, rebuilt from the manifest's details with the page's formats."""
    v, money, plan = d["verdict"], d["money"], d["sample_size"]
    lang, m0 = tx.language, (lambda x: tx.money(x, 0))
    out = {}
    effect = abs(v["estimate"]) if v["code"] in ("better", "worse") else v["estimate"]
    out["verdict"] = tx(f"verdict_{v['code']}", metric=tx(f"metric_{v['primary']}"),
                        effect=_effect(tx, v["primary"], effect, v["code"] == "no_difference"),
                        low=_effect(tx, v["primary"], v["ci_low"], True), high=_effect(tx, v["primary"], v["ci_high"], True))
    m = dict(incr=m0(money["incremental_revenue"]), low=m0(money["ci_low"]), high=m0(money["ci_high"]))
    text = tx("money_text", cost=m0(money["campaign_cost"]), roi=tx.pct(money["roi"], 0),
              roi_low=tx.pct(money["roi_low"], 0), roi_high=tx.pct(money["roi_high"], 0),
              cpo=tx.money(money["cost_per_order"], 2), cpio=tx.money(money["cost_per_incremental_order"], 2), **m)
    text += " " + tx("cost_from_campaigns", cost=m0(money["campaign_cost"]))
    out["money"] = text + " " + (tx("roi_on_margin", rate=tx.pct(money["margin_rate"], 0),
                                    margin=m0(money["incremental_revenue"] * money["margin_rate"]))
                                 if money["roi_basis"] == "margin" else tx("roi_on_sales"))
    c = d["clv"]
    out["clv"] = tx("clv_text_margin" if c["money_basis"] == "margin" else "clv_text", diff=tx.money(c["estimate"], 2),
                    low=tx.money(c["ci_low"], 2), high=tx.money(c["ci_high"], 2),
                    total=tx.money(c["estimate"] * c["customers"], 0))
    c = d["cuped"]
    out["cuped"] = tx("cuped_text", days=c["pre_period_days"], vr=tx.pct(c["variance_reduction"], 0),
                      theta=tx.number(c["theta"], 2), est=tx.money(c["estimate"], 2), low=tx.money(c["ci_low"], 2),
                      high=tx.money(c["ci_high"], 2), p=pv(tx, c["p_value"]), raw=tx.money(c["unadjusted"]["estimate"], 2),
                      raw_low=tx.money(c["unadjusted"]["ci_low"], 2), raw_high=tx.money(c["unadjusted"]["ci_high"], 2))
    out["bayes"] = tx("bayes_text", prob=tx.pct(d["bayes"]["prob_b_better"], 0),
                      loss=tx.number(100 * d["bayes"]["expected_loss_b"], 2))
    ex, t = d["execution"], d["retention"]
    out["retention"] = tx("retention_open", days=ex["retention_window_days"]) if t is None else tx(
        "retention_rate_text", start=ex["conversion_window_days"], end=ex["retention_window_days"],
        a=tx.pct(t["rate_a"], 1), b=tx.pct(t["rate_b"], 1), d=points(tx, t["estimate"]),
        low=tx.number(100 * t["ci_low"], 1), high=tx.number(100 * t["ci_high"], 1))
    a = d["activity"]
    out["activity"] = tx("retention_text", gap=ex["conversion_window_days"], horizon=tx.number(a["horizon_days"]),
                         diff=tx.number(a["estimate"], 1), low=tx.number(a["ci_low"], 1), high=tx.number(a["ci_high"], 1),
                         p=pv(tx, a["p_value"]))
    q, peek = d["sequential"], d["sequential"]["peeking"]
    out["sequential"] = tx("sequential_text", sims=tx.number(peek["n_sims"]), looks=peek["n_looks"],
                           naive=tx.pct(peek["naive_false_positive_rate"], 0),
                           naive_ill=tx.pct(peek["naive_false_positive_rate"], 0, case="illative"),
                           msprt=tx.pct(peek["msprt_false_positive_rate"], 1), p=pv(tx, q["p_value"]),
                           low=points(tx, q["ci_low"]), high=points(tx, q["ci_high"]))
    out["planner"] = tx("planner_text", baseline=tx.pct(plan["baseline"], 1), mde=points(tx, plan["mde_abs"]),
                        n=tx.number(plan["n_per_arm"]), n_now=tx.number(plan["n_now"]),
                        mde_now=points(tx, plan["mde_now"]), sd=tx.money(plan["revenue_sd"], 2),
                        mde_rev=tx.money(plan["revenue_mde"], 2),
                        n_rev=tx.number(plan["n_per_arm_revenue"]) if plan["n_per_arm_revenue"] else "–")
    over = [x for x in (capped(tx, plan, plan["n_per_arm"], "conversion"),
                        capped(tx, plan, plan["n_per_arm_revenue"], "revenue")) if x]
    if over:
        out["planner_capped"] = " ".join(over)
    if plan["n_per_arm_to_confirm"]:
        seen = _effect(tx, plan["primary"], plan["observed_difference"])
        over = capped(tx, plan, plan["n_per_arm_to_confirm"], plan["primary"])
        out["planner_confirm"] = tx("planner_confirm_capped", effect=seen) + " " + over if over else \
            tx("planner_confirm", effect=seen, n=tx.number(plan["n_per_arm_to_confirm"]))
    for i, g in enumerate(d["guards"]):
        if g["status"] != "passed":
            out[f"caveat_guard_{i}"] = tx("caveat_guard" if g["status"] == "failed" else "caveat_guard_warning",
                                          message=guard_message(_guard(g), lang))
    width = v["ci_high"] - v["ci_low"]
    if width > 2 * max(abs(v["estimate"]), 1e-12):
        out["caveat_wide"] = tx("caveat_wide", low=_effect(tx, v["primary"], v["ci_low"]),
                                high=_effect(tx, v["primary"], v["ci_high"]))
    for row in d["adjusted"]:
        if row["metric"] != v["primary"] and row["p_value"] < v["alpha"] <= row["p_holm"]:
            out[f"caveat_secondary_{row['metric']}"] = tx("caveat_secondary", metric=tx(f"metric_{row['metric']}"),
                                                          p=tx.number(row["p_holm"], 3))
    out["caveat_window"] = tx("caveat_window", days=ex["conversion_window_days"])
    out.update(_lessons(d, tx))
    return out


def _lessons(d, tx) -> dict[str, str]:
    """The lessons from the verdict code, the ROI's interval and the planner (the page's rule, on the manifest)."""
    v, money, plan = d["verdict"]["code"], d["money"], d["sample_size"]
    unprofitable = money["roi"] is not None and (money["roi_high"] < 0 or (v == "better" and money["roi"] < 0))
    out = {"lesson_unprofitable": tx("lesson_unprofitable")} if unprofitable and v != "worse" else {}
    if v in ("better", "worse", "non_inferior"):
        return {f"lesson_{v}": tx({"better": "lesson_rollout", "worse": "lesson_stop",
                                   "non_inferior": "lesson_non_inferior"}[v]), **out}
    if plan["mde_now"] > plan["mde_abs"]:
        conversion = d["verdict"]["primary"] == "conversion"
        n = plan["n_per_arm"] if conversion else plan["n_per_arm_revenue"]
        if n:
            out["lesson_bigger"] = capped(tx, plan, n, d["verdict"]["primary"]) or (
                tx("lesson_bigger", mde_now=points(tx, plan["mde_now"]), mde=points(tx, plan["mde_abs"]), n=tx.number(n))
                if conversion else tx("lesson_bigger_revenue", mde_now=tx.money(plan["revenue_mde_now"], 2),
                                      mde=tx.money(plan["revenue_mde"], 2), n=tx.number(n)))
    return {**out, "lesson_no_effect": tx("lesson_no_effect")}


def _guard(g: dict) -> Guard:
    facts = {k: dict(v) if k in ("split", "planned") else v for k, v in g.items() if k not in ("name", "status")}
    return Guard(g["name"], g["status"] != "failed", facts, warning=g["status"] == "warning")


@pytest.mark.parametrize("experiment,language", PAGES)
def test_every_sentence_with_a_number_recomputes_from_the_manifest(both, experiment, language):
    page, d = both[experiment, language]["page"], both[experiment, language]["m"]["details"]
    tx = Text("experiments", language)
    expected = {k: _plain(s.replace("**", "")) for k, s in _sentences(d, tx).items()}
    blocks = set(page.blocks)
    missing = {k: s for k, s in expected.items() if s not in blocks}
    assert not missing, missing
    # the rest of the page's sentences with a digit: the cards' (their own test), the execution paragraph (below)
    # and the verdict's note on the primary measure; none is left unexplained
    split = _split(d, tx)
    rest = [b for b in blocks - set(expected.values()) if re.search(r"\d", b) and split not in b]
    assert rest == [], rest


def _split(d, tx) -> str:
    return _plain(", ".join(tx("split_part", variant=s["arm"], n=tx.number(s["customers"]), share=tx.pct(s["share"], 0),
                                   planned=tx.pct(s["planned"], 0) if s["planned"] is not None else "–")
                            for s in d["execution"]["split"]))


@pytest.mark.parametrize("experiment,language", PAGES)
def test_the_execution_paragraph_states_the_manifests_split_and_dates(both, experiment, language):
    page, d = both[experiment, language]["page"], both[experiment, language]["m"]["details"]
    tx, ex = Text("experiments", language), d["execution"]
    [execution] = [b for b in page.blocks if _split(d, tx) in b]
    assert _plain(tx.date(ex["start"])) in execution
    assert f"{ex['conversion_window_days']}" in execution
    assert sorted(s["customers"] for s in ex["split"]) == sorted(a["customers"] for a in d["arms"])


@pytest.mark.parametrize("experiment,language", PAGES)
def test_the_checks_table_recomputes_from_the_manifest(both, experiment, language):
    page, d = both[experiment, language]["page"], both[experiment, language]["m"]["details"]
    tx = Text("experiments", language)
    table = next(t for t in page.tables if t and t[0][:1] == [tx("col_check")])
    assert table[1:] == [[_plain(tx(f"g_{g['name']}")), _plain(tx(f"guard_{g['status']}")),
                          _plain(guard_message(_guard(g), language))] for g in d["guards"]]


@pytest.mark.parametrize("experiment,language", PAGES)
def test_the_groups_table_recomputes_from_the_manifest(both, experiment, language):
    page, d = both[experiment, language]["page"], both[experiment, language]["m"]["details"]
    tx = Text("experiments", language)
    table = next(t for t in page.tables if t and t[0][:1] == [tx("col_group")])
    assert table[1:] == [[a["arm"], tx.number(a["customers"]), _plain(tx.pct(a["conversion_rate"], 1)),
                          _plain(tx.money(a["revenue_per_customer"], 2)), _plain(tx.number(a["purchases_per_customer"], 2)),
                          "–" if a["retention_rate"] is None else _plain(tx.pct(a["retention_rate"], 1)),
                          _plain(tx.money(a["pre_period_spend"], 2))] for a in d["arms"]]
    cards = {n["concept"]: n["value"] for n in both[experiment, language]["m"]["numbers"]}
    assert [a["conversion_rate"] for a in d["arms"]] == pytest.approx(
        [cards["experiment_conversion_control"], cards["experiment_conversion_treatment"]])


@pytest.mark.parametrize("experiment,language", PAGES)
def test_the_results_table_recomputes_from_the_manifest(both, experiment, language):
    page, d = both[experiment, language]["page"], both[experiment, language]["m"]["details"]
    tx = Text("experiments", language)
    table = next(t for t in page.tables if t and t[0][:1] == [tx("col_metric")])
    kinds = {"points": lambda x: fmt_number(100 * x, language, 1, signed=True), "pct": lambda x: tx.pct(x, 0, signed=True),
             "money": lambda x: _signed_money(tx, x), "days": lambda x: fmt_number(x, language, 1, signed=True)}
    rows = []
    for r in d["results"]:
        label, kind = MEASURES[r["measure"]]
        f = kinds[kind]
        rows.append([_plain(tx("primary_mark", label=tx(label)) if r["role"] == "primary" else tx(label)),
                     _plain(f(r["estimate"])), _plain(f"{f(r['ci_low'])} … {f(r['ci_high'])}"),
                     p_text(r["p_value"], language), "–" if r["p_holm"] is None else p_text(r["p_holm"], language)])
    assert table[1:] == rows
    # the verdict's interval is the primary row's
    primary = next(r for r in d["results"] if r["role"] == "primary")
    assert (primary["estimate"], primary["ci_low"], primary["ci_high"]) == pytest.approx(
        (d["verdict"]["estimate"], d["verdict"]["ci_low"], d["verdict"]["ci_high"]))


@pytest.mark.parametrize("experiment,language", PAGES)
def test_signed_amounts_and_intervals_do_not_break_in_the_results_table(both, experiment, language):
    raw = both[experiment, language]["raw"]
    cells = re.findall(r"<td>([^<]*…[^<]*)</td>", raw)
    assert cells
    for cell in cells:
        assert " " not in cell, cell  # no-break spaces only
        assert not re.search(rf"[+\-−](?!{JOINER})", cell.replace("&#x27;", "")), cell


@pytest.mark.parametrize("experiment,language", PAGES)
def test_every_card_in_both_languages_recomputes_from_the_manifest(both, experiment, language):
    raw, m = both[experiment, language]["raw"], both[experiment, language]["m"]
    tx = Text("report", language)
    cards = re.findall(r"<div class=['\"]kanta-value['\"]>([^<]*)</div>", html.unescape(raw))
    assert cards == [format_value(n["value"], n["unit"], tx) for n in m["numbers"]]


def test_the_weekly_looks_end_at_the_sentences_interval(both):
    d = both["newsletter-2026-09", "en"]["m"]["details"]["sequential"]
    assert (d["looks"][-1]["cs_low"], d["looks"][-1]["cs_high"]) == pytest.approx((d["ci_low"], d["ci_high"]))


@pytest.mark.parametrize("n_control, n_treatment, status", [(455, 545, "warning"), (440, 560, "failed")])
def test_a_check_that_did_not_pass_recomputes_from_the_manifest(tmp_path, n_control, n_treatment, status):
    """Off the sample: a sample-ratio warning (verdict stands) and a failure (verdict withheld); the checks table and
    the caveat rebuild from the recorded guard facts, which are plain JSON."""
    from analysis.report.pages.experiments import ExperimentPage
    from test_experiments import _split_source

    page = ExperimentPage.build(_split_source(tmp_path, n_control, n_treatment), "e1", "fi", as_of="2024-03-31",
                                campaign_cost=None, include_clv=False, n_boot=100)
    sections = page.sections()
    [(_, d)] = [p for p in sections[-1].parts if p[0] == "details"]
    d = json.loads(json.dumps(d, allow_nan=False))
    tx = Text("experiments", "fi")
    [srm] = [g for g in d["guards"] if g["name"] == "sample_ratio"]
    assert srm["status"] == status and srm["split"] == [["control", n_control], ["offer", n_treatment]]
    checks = [p[1] for s in sections for p in s.parts if p[0] == "table" and tx("col_check") in p[1].columns][0]
    assert list(checks[tx("col_explanation")]) == [guard_message(_guard(g), "fi") for g in d["guards"]]
    caveats = [s for s in sections if tx("h_caveats") in s.texts()][0].texts()[1]
    key = "caveat_guard" if status == "failed" else "caveat_guard_warning"
    assert f"- {tx(key, message=guard_message(_guard(srm), 'fi'))}" in caveats.split("\n")
    assert (d["verdict"]["code"] == "withheld") == (status == "failed")
