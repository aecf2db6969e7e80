"""The landing page's plan parts: the one-screen summary, the contact plan (priority, exclusions, holdout) and last
month's actions measured. Every sentence is made from ``manifest.json`` numbers, so a reader can recompute it."""
from __future__ import annotations

import html
from typing import Mapping

import pandas as pd

from analysis.report.numbers import GOOD_WHEN_UP, format_change, format_value, label
from analysis.report.text import Text, fmt_money, fmt_number

#: The summary's key numbers and which way is good for each (+1: up is good, -1: up is bad).
SUMMARY_DIRECTIONS = {c: GOOD_WHEN_UP[c] for c in ("customers_active", "customer_equity", "customers_at_risk",
                                                   "monthly_churn_rate")}
#: Actions whose value is value at stake (the plan's sum in the summary); grow and second purchase carry
#: expected value that is already part of customer equity.
AT_STAKE_KINDS = ("value_at_stake", "past_yearly_value")


def direction(number, good_when_up: int) -> str | None:
    """``"good"``, ``"bad"`` or ``"flat"`` for a key number against last month (None without last month).

    Example
    -------
    >>> from analysis.base.concepts import KeyNumber
    >>> direction(KeyNumber("customers_at_risk", 120, previous=100), -1), direction(KeyNumber("customers_active", 5), 1)
    ('bad', None)
    """
    if number.value is None or number.previous is None:
        return None
    if number.value == number.previous:
        return "flat"
    return "good" if (number.value > number.previous) == (good_when_up > 0) else "bad"


def _month(month: str, tx: Text) -> str:
    p = pd.Period(month, freq="M")
    return f"{Text('report', tx.language)('months')[p.month - 1]} {p.year}"


def result_verdict(r: Mapping) -> str | None:
    """``"paid"``/``"lost"`` as the result's ``paid`` flag says (randomisation test and interval agree), ``"unclear"``
    otherwise, None when the groups could not be compared."""
    if r.get("value_ci_low") is None:
        return None
    return {True: "paid", False: "lost"}.get(r.get("paid"), "unclear")


def plan_value_at_stake(manifest: Mapping) -> float:
    """The plan's value at stake: the sum over actions whose value is at stake (:data:`AT_STAKE_KINDS`)."""
    return float(sum(a["value"] or 0.0 for a in manifest["actions"] if a.get("value_kind") in AT_STAKE_KINDS))


def summary_html(manifest: Mapping, numbers: list, tx: Text) -> str:
    """The month at a glance: the direction of active customers, equity, at risk and churn, then the plan."""
    by_concept = {n.concept: n for n in numbers}
    items = []
    for concept_id, up in SUMMARY_DIRECTIONS.items():
        n = by_concept.get(concept_id)
        if n is None or n.value is None:
            continue
        d = direction(n, up)
        change = format_change(n, tx)
        text = (tx("summary_item", label=label(n, tx), value=format_value(n.value, n.unit, tx), change=change,
                   direction=tx(f"direction_{d}")) if d else
                tx("summary_item_new", label=label(n, tx), value=format_value(n.value, n.unit, tx)))
        items.append(f"<li class='kanta-{d or 'flat'}' data-concept='{concept_id}'>{html.escape(text)}</li>")
    acts = manifest["actions"]
    contact, holdout = sum(a["contact"] for a in acts), sum(a["holdout"] for a in acts)
    plan = tx("summary_plan", c=tx.number(contact), k=tx.number(sum(1 for a in acts if a["customers"])),
              h=tx.number(holdout), value=tx.money(plan_value_at_stake(manifest)))
    parts = [f"<h2>{html.escape(tx('summary_heading'))}</h2><ul class='kanta-summary'>{''.join(items)}</ul>",
             f"<p>{html.escape(plan)}</p>"]
    gains = [(a["name"], a["expected_gain"]) for a in acts if a.get("expected_gain") is not None]
    if gains:
        names = ", ".join(tx(f"action_name_{name}") for name, _ in gains)
        parts.append(f"<p>{html.escape(tx('summary_gain', value=tx.money(sum(g for _, g in gains)), names=names))}</p>")
    verdicts = [result_verdict(r) for r in manifest.get("action_results", [])]
    if verdicts:
        parts.append(f"<p>{html.escape(tx('summary_results', m=tx.number(len(verdicts)), paid=verdicts.count('paid'), lost=verdicts.count('lost'), unclear=len(verdicts) - verdicts.count('paid') - verdicts.count('lost')))}</p>")
    return f"<section class='kanta-glance'>{''.join(parts)}</section>"


def plan_html(manifest: Mapping, tx: Text) -> str:
    """The plan's rules in words: the priority, who was left out and why, the holdout."""
    plan = manifest["plan"]
    order = ", ".join(tx(f"action_name_{a}") for a in plan["priority"])
    parts = [f"<h2>{html.escape(tx('plan_heading'))}</h2>", f"<p>{html.escape(tx('plan_priority', order=order))}"]
    if plan["overlap_removed"]:
        parts.append(" " + html.escape(tx("plan_overlap", n=tx.number(plan["overlap_removed"]))))
    reasons = [tx(f"excluded_{r}", n=tx.number(n), k=plan["contact_threshold"]) for r, n in plan["excluded"].items()
               if n]
    if reasons:
        parts.append(" " + html.escape(tx("plan_excluded", reasons="; ".join(reasons))))
    h = sum(a["holdout"] for a in manifest["actions"])
    parts.append(f"</p><p>{html.escape(tx('plan_holdout', share=tx.pct(plan['holdout_share'], 0), h=tx.number(h)))}</p>")
    return "".join(parts)


def results_html(manifest: Mapping, tx: Text) -> str:
    """Last month's actions measured: purchase rates and value per customer of contact against holdout."""
    results = manifest.get("action_results", [])
    parts = [f"<h2>{html.escape(tx('results_heading'))}</h2>"]
    if not results:
        return parts[0] + f"<p>{html.escape(tx('results_none'))}</p>"
    pp = Text("report", tx.language)("pp")
    signed_pp = lambda x: f"{fmt_number(100 * x, tx.language, 1, signed=True)} {pp}"  # noqa: E731
    items = []
    for r in results:
        name, month = tx(f"action_name_{r['action']}"), _month(r["month"], tx)
        if r["difference"] is None:
            items.append(tx("result_too_few", name=name, month=month, nc=tx.number(r["contact"]),
                            nh=tx.number(r["holdout"])))
            continue
        text = tx("result_rates", name=name, month=month, bc=tx.number(r["buyers_contact"]), nc=tx.number(r["contact"]),
                  rc=tx.pct(r["purchase_rate_contact"]), bh=tx.number(r["buyers_holdout"]),
                  nh=tx.number(r["holdout"]), rh=tx.pct(r["purchase_rate_holdout"]),
                  diff=signed_pp(r["difference"]), lo=signed_pp(r["ci_low"]), hi=signed_pp(r["ci_high"]))
        verdict = result_verdict(r)
        if verdict is not None:
            m = lambda x: fmt_money(x, tx.language, 2, signed=True)  # noqa: E731
            # the verdict's own test speaks for the value (Welch's interval stays in the manifest: with a small
            # holdout it can exclude zero where the randomisation test does not, and two answers confuse)
            text += " " + tx("result_value", basis=tx(f"result_basis_{r['value_basis']}"),
                             diff=m(r["value_difference"])) + " " + tx(
                f"result_{verdict}", p=tx.number(r["value_p_value"], 3))
        items.append(text)
    return parts[0] + "<ul class='kanta-actions'>" + "".join(f"<li>{html.escape(t)}</li>" for t in items) + "</ul>"
