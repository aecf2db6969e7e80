"""The words of a campaign's final report: guard sentences, the verdict, tables, money, caveats and lessons.

Numbers come from :mod:`analysis.experiments` (language-free results and verdict codes), words from
``strings/experiments.json``; ``kanta experiment`` prints :func:`campaign_text`, and the experiment page
(:mod:`analysis.report.pages.experiments`) shows the same sentences section by section.
"""
from __future__ import annotations

import re

import pandas as pd

from analysis.data.privacy import suppress_small_groups
from analysis.experiments import CampaignReport, ExperimentResult, Guard
from analysis.report.text import Text, fmt_number

__all__ = ["p_text", "points", "pv", "arm_order", "guard_message", "verdict_sentence", "guards_table", "arms_table",
           "measures_table", "MEASURES", "caveats", "lessons", "execution_text", "money_text", "clv_text", "campaign_text"]


# --- small formatters ----------------------------------------------------------------------------
def p_text(p: float, language: str) -> str:
    """A p-value with two significant digits (0.14, 0.0088; "< 0.001" below that), decimal comma in Finnish.

    Example
    -------
    >>> p_text(0.01234, "fi"), p_text(0.0002, "en")
    ('0,012', '< 0.001')
    """
    text = "< 0.001" if p < 0.001 else f"{p:.2g}"
    return text.replace(".", ",") if language == "fi" else text


def _signed(tx: Text, x: float, decimals: int) -> str:
    return fmt_number(x, tx.language, decimals, signed=True)


def points(tx: Text, x: float, signed: bool = False) -> str:
    """A difference of shares in percentage points (0.063 -> "6.3 percentage points")."""
    return tx("points", x=_signed(tx, 100 * x, 1) if signed else tx.number(100 * x, 1))


def _money(tx: Text, x: float, signed: bool = False) -> str:
    return ("+" if signed and x > 0 else "") + tx.money(x, 2)


def _effect(tx: Text, primary: str):
    """Formatter of the primary metric's effect: percentage points for conversion, euros for revenue."""
    return (lambda x, signed=False: points(tx, x, signed)) if primary == "conversion" else \
        (lambda x, signed=False: _money(tx, x, signed))


#: Joins a sign to its amount ("+€7.83" is never split after the "+"); U+2060 WORD JOINER, invisible.
JOINER = "\u2060"


def together(text: str) -> str:
    """A signed amount or an interval kept on one line in a table cell (the cell's text is escaped, so no span):
    a word joiner after each sign and no-break spaces.

    Example
    -------
    >>> together("-€1.24 … +€7.83") == "-\u2060€1.24\u00a0…\u00a0+\u2060€7.83"
    True
    """
    return re.sub(r"(?<![\w.,])([+\-−])(?=\S)", rf"\1{JOINER}", text).replace(" ", "\u00a0")


def pv(tx: Text, p: float) -> str:
    return tx("p_small") if p < 0.001 else tx("p_value", p=tx.number(p, 3))


def arm_order(result: ExperimentResult) -> list[str]:
    return [result.control] + [v for v in result.arms.index if v != result.control]


# --- guards, verdict, tables ---------------------------------------------------------------------
def guard_message(guard: Guard, language: str = "en") -> str:
    """One guard as a plain sentence.

    Example
    -------
    >>> from analysis.experiments import Guard
    >>> guard_message(Guard("enough_units", False, {"variant": "control", "n": 12, "min": 30}))
    'Group control has only 12 customers (at least 30 needed); a difference would be mostly chance.'
    """
    tx = Text("experiments", language)
    f = guard.facts
    if guard.name == "one_variant_per_customer":
        if guard.passed:
            return tx("guard_multi_ok")
        return tx("guard_multi_fail", n_multi=tx.number(f["n_multi"]), n_twice=tx.number(f["n_twice"]))
    if guard.name == "sample_ratio":
        if not f.get("planned_known"):
            return tx("guard_srm_unknown")
        split = ", ".join(f"{v} {tx.number(n)}" for v, n in f["split"].items())
        plan = ", ".join(f"{v} {tx.pct(x, 0)}" for v, x in f["planned"].items())
        p, threshold = p_text(f["p_value"], language), p_text(f["threshold"], language)
        key = {"passed": "guard_srm_ok", "warning": "guard_srm_warn", "failed": "guard_srm_fail"}[guard.status]
        warning = p_text(f.get("warning_threshold", f["threshold"]), language)
        return tx(key, split=split, plan=plan, p=p, threshold=threshold, warning=warning)
    if guard.name == "window_finished":
        values = {"window": f["window_days"], "end": tx.date(f["ends"])}
        if guard.passed:
            return tx("guard_window_ok", **values)
        return tx("guard_window_fail", n_after=tx.number(f["n_after"]), n_open=tx.number(f["n_open"]),
                  as_of=tx.date(f["as_of"]), **values)
    if guard.name == "enough_units":
        return tx("guard_units_ok" if guard.passed else "guard_units_fail", variant=f["variant"],
                  n=tx.number(f["n"]), min=f["min"])
    raise KeyError(f"guard {guard.name!r} has no sentence in strings/experiments.json")


def verdict_sentence(result: ExperimentResult, language: str = "en") -> str:
    """The overall verdict in one sentence (from the verdict code and the primary test)."""
    tx = Text("experiments", language)
    r = result
    if r.verdict == "withheld":
        return tx("verdict_withheld")
    fmt = _effect(tx, r.primary)
    metric = tx(f"metric_{r.primary}")
    if r.verdict == "non_inferior":
        return tx("verdict_non_inferior", metric=metric, effect=fmt(r.estimate, True), low=fmt(r.ci_low, True),
                  high=fmt(r.ci_high, True), margin=fmt(r.params["margin"]))
    effect = abs(r.estimate) if r.verdict in ("better", "worse") else r.estimate
    return tx(f"verdict_{r.verdict}", metric=metric, effect=fmt(effect, r.verdict == "no_difference"),
              low=fmt(r.ci_low, True), high=fmt(r.ci_high, True))


def guards_table(result: ExperimentResult, language: str = "en") -> pd.DataFrame:
    """The checks as a table of plain sentences: passed, warning or failed (a warning never reads as passed)."""
    tx = Text("experiments", language)
    return pd.DataFrame({
        tx("col_check"): [tx(f"g_{g.name}") for g in result.guards],
        tx("col_result"): [tx(f"guard_{g.status}") for g in result.guards],
        tx("col_explanation"): [guard_message(g, language) for g in result.guards],
    })


def arms_table(result: ExperimentResult, language: str = "en") -> pd.DataFrame:
    """Per group: customers, share who bought, revenue and purchases per customer, retention."""
    tx = Text("experiments", language)
    a = result.arms.loc[arm_order(result)]
    table = pd.DataFrame({
        tx("col_group"): a.index,
        tx("col_customers"): [tx.number(x) for x in a["customers"]],
        tx("col_conversion"): [tx.pct(x, 1) for x in a["conversion_rate"]],
        tx("col_revenue_pc"): [tx.money(x, 2) for x in a["revenue_per_customer"]],
        tx("col_purchases_pc"): [tx.number(x, 2) for x in a["purchases_per_customer"]],
        tx("col_retention"): [tx.pct(x, 1) for x in a["retention_rate"]],
        tx("col_pre_spend"): [tx.money(x, 2) for x in a["pre_period_spend"]],
    })
    return suppress_small_groups(table, a["customers"], keep=[tx("col_group")], count_column=tx("col_customers"))


#: The results table's measures (``ExperimentResult.summary()`` rows): label key and number kind, in table order.
MEASURES = {"conversion_difference": ("m_conversion", "points"), "conversion_relative_lift": ("m_lift", "pct"),
             "revenue_per_customer_difference": ("m_revenue", "money"),
             "revenue_per_customer_bootstrap": ("m_bootstrap", "money"),
             "revenue_per_customer_cuped": ("m_cuped", "money"), "retention_difference": ("m_retention", "points"),
             "active_days_rmst_difference": ("m_rmst", "days")}


def measures_table(result: ExperimentResult, language: str = "en") -> pd.DataFrame:
    """Every measure's difference (campaign minus control), interval, p-value and Holm-corrected p-value.

    The verdict's measure is marked primary; the corrected p-value is what a secondary measure's
    "significant" must rest on, since every extra measure is one more chance of a false alarm.
    """
    tx = Text("experiments", language)
    s = result.summary()
    fmt = {"points": lambda x: _signed(tx, 100 * x, 1), "pct": lambda x: tx.pct(x, 0, signed=True),
           "money": lambda x: _money(tx, x, True), "days": lambda x: _signed(tx, x, 1)}
    rows = []
    for key, (label, kind) in MEASURES.items():
        if key in s.index:
            e, lo, hi, p, p_holm, role = s.loc[key, ["estimate", "ci_low", "ci_high", "p_value", "p_holm", "role"]]
            f = fmt[kind]
            name = tx("primary_mark", label=tx(label)) if role == "primary" else tx(label)
            rows.append({tx("col_metric"): name, tx("col_estimate"): together(f(e)),
                         tx("col_interval"): together(f"{f(lo)} … {f(hi)}"), tx("col_p"): p_text(p, language),
                         tx("col_p_holm"): "–" if pd.isna(p_holm) else p_text(p_holm, language)})
    return pd.DataFrame(rows)


# --- caveats and lessons -------------------------------------------------------------------------
def caveats(report: CampaignReport, language: str = "en") -> list[str]:
    """What the reader should keep in mind: failed checks, one campaign, a wide interval, open windows."""
    tx = Text("experiments", language)
    r = report.result
    out = [tx("caveat_guard" if g.status == "failed" else "caveat_guard_warning", message=guard_message(g, language))
           for g in r.guards if g.status != "passed"]
    out.append(tx("caveat_one_campaign"))
    if r.verdict != "withheld" and r.primary_test is not None:
        t = r.primary_test
        fmt = _effect(tx, r.primary)
        if t.ci_high - t.ci_low > 2 * max(abs(t.estimate), 1e-12):
            out.append(tx("caveat_wide", low=fmt(t.ci_low), high=fmt(t.ci_high)))
        adj = r.adjusted
        for secondary in ("conversion", "revenue", "retention", "active_days"):
            if secondary == r.primary or adj is None or secondary not in adj.index:
                continue
            if adj.loc[secondary, "p_value"] < r.params["alpha"] <= adj.loc[secondary, "p_holm"]:
                out.append(tx("caveat_secondary", metric=tx(f"metric_{secondary}"),
                              p=tx.number(adj.loc[secondary, "p_holm"], 3)))
    out.append(tx("caveat_window", days=r.params["conversion_window_days"]))
    if r.retention is None:
        out.append(tx("caveat_retention_open"))
    return out


def lessons(report: CampaignReport, language: str = "en") -> list[str]:
    """What to do next, from the verdict code, the ROI and the planner."""
    tx = Text("experiments", language)
    r, planner = report.result, report.planner
    if r.verdict == "withheld":
        return [tx("lesson_fix_guard")]
    # the ROI's own interval decides the money lesson, whatever the verdict on the primary metric
    unprofitable = [tx("lesson_unprofitable")] if report.roi is not None and (
        report.roi_high < 0 or (r.verdict == "better" and report.roi < 0)) else []
    if r.verdict == "better":
        return [tx("lesson_rollout")] + unprofitable
    if r.verdict == "worse":
        return [tx("lesson_stop")]
    if r.verdict == "non_inferior":
        return [tx("lesson_non_inferior")] + unprofitable
    out = []
    if planner["mde_now"] > planner["mde_abs"]:
        if r.primary == "conversion":
            out.append(capped(tx, planner, planner["n_per_arm"], "conversion") or tx(
                "lesson_bigger", mde_now=points(tx, planner["mde_now"]), mde=points(tx, planner["mde_abs"]),
                n=tx.number(planner["n_per_arm"])))
        elif planner["n_per_arm_revenue"]:
            out.append(capped(tx, planner, planner["n_per_arm_revenue"], "revenue") or tx(
                "lesson_bigger_revenue", mde_now=tx.money(planner["revenue_mde_now"], 2),
                mde=tx.money(planner["revenue_mde"], 2), n=tx.number(planner["n_per_arm_revenue"])))
    return out + [tx("lesson_no_effect")] + unprofitable


def capped(tx: Text, planner: dict, n: int | None, metric: str) -> str | None:
    """When ``n`` customers per group is more than the base allows: the sentence saying so and the smallest
    difference the whole base could detect instead (None when ``n`` fits)."""
    most = planner.get("n_base_per_arm")
    if not n or not most or n <= most:
        return None
    mde = planner["mde_at_base"] if metric == "conversion" else planner["revenue_mde_at_base"]
    if mde is None:
        return tx("advice_capped_no_mde", n=tx.number(n), max=tx.number(most))
    shown = points(tx, mde) if metric == "conversion" else tx.money(mde, 2)
    return tx("advice_capped", n=tx.number(n), max=tx.number(most), mde_max=shown)


# --- the report's sentences ----------------------------------------------------------------------
def given(tx: Text, brief, name: str) -> str | None:
    """A text from the data (the campaigns table's goal, audience, channel) shown as data: the data's own text in the
    page's language when it has one (a ``goal_fi`` column on a Finnish page), else the given text, as it is on an
    English page, quoted and marked as the data's own words on a page in another language (it is not translated)."""
    if brief is None:
        return None
    own = brief.text_in(name, tx.language)
    if own:
        return own
    text = getattr(brief, name)
    return tx("data_text", text=text) if text else None


def execution_text(report: CampaignReport, language: str = "en") -> str:
    """Who, when, through which channel and how the customers were split."""
    tx = Text("experiments", language)
    brief = report.brief
    split = ", ".join(tx("split_part", variant=v, n=tx.number(n), share=tx.pct(s, 0),
                         planned=tx.pct(p, 0) if p == p else "–") for v, n, s, p in report.split)
    until = tx("until", end=tx.date(report.last_assigned)) \
        if report.last_assigned.normalize() != report.start.normalize() else ""
    audience = given(tx, brief, "audience") or \
        tx("audience_default", n=tx.number(sum(n for _, n, _, _ in report.split)))
    channel = given(tx, brief, "channel") or tx("channel_unknown")
    return tx("execution_text", audience=audience, start=tx.date(report.start), until=until,
              window=report.result.params["conversion_window_days"], channel=channel, split=split)


def money_text(report: CampaignReport, language: str = "en") -> str | None:
    """Incremental revenue, and ROI and cost per purchase only when the campaign cost is known."""
    tx = Text("experiments", language)
    if report.result.revenue is None:
        return None
    m = lambda x: tx.money(x, 0)  # noqa: E731
    values = dict(incr=m(report.incremental_revenue), low=m(report.incremental_revenue_low),
                  high=m(report.incremental_revenue_high))
    if report.campaign_cost is None or pd.isna(report.campaign_cost):
        return tx("money_no_cost", **values)
    if report.campaign_cost == 0:  # known, and nothing: not "unknown", and no ROI to divide by
        return tx("money_zero_cost", **values)
    cpio = tx.money(report.cost_per_incremental_order, 2) if report.cost_per_incremental_order else tx("not_available")
    text = tx("money_text", cost=m(report.campaign_cost), roi=tx.pct(report.roi, 0), roi_low=tx.pct(report.roi_low, 0),
              roi_high=tx.pct(report.roi_high, 0), cpo=tx.money(report.cost_per_order, 2), cpio=cpio, **values)
    if report.cost_source == "campaigns":
        text += " " + tx("cost_from_campaigns", cost=m(report.campaign_cost))
    if report.roi_basis == "margin":
        text += " " + tx("roi_on_margin", rate=tx.pct(report.margin_rate, 0),
                         margin=m(report.incremental_revenue * report.margin_rate))
    else:
        text += " " + tx("roi_on_sales")
    return text


def clv_text(report: CampaignReport, language: str = "en", money_basis: str = "sales") -> str:
    """The incremental customer value; on ``money_basis="margin"`` (the month's CLV is margin) it says so."""
    tx = Text("experiments", language)
    c = report.clv_difference
    if c is None:
        return tx("clv_missing")
    return tx("clv_text_margin" if money_basis == "margin" else "clv_text", diff=tx.money(c.estimate, 2), low=tx.money(c.ci_low, 2), high=tx.money(c.ci_high, 2),
              total=tx.money(c.estimate * report.n_treatment, 0))


def campaign_text(report: CampaignReport, language: str = "en") -> dict:
    """Every sentence of the final report in one language (what ``kanta experiment`` prints and writes)."""
    tx = Text("experiments", language)
    brief = report.brief
    out = {
        "goal": given(tx, brief, "goal") or tx("goal_unknown"),
        "execution": execution_text(report, language),
        "verdict": verdict_sentence(report.result, language),
        "guards": [guard_message(g, language) for g in report.result.guards],
    }
    money = money_text(report, language)
    if money is not None:
        out["money"] = money
    out["clv"] = clv_text(report, language)
    out["caveats"] = caveats(report, language)
    out["lessons"] = lessons(report, language)
    return out
