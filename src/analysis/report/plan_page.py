"""The landing page's plan parts: the one-screen summary, the contact plan (priority, exclusions, holdout), last
month's actions measured and which actions paid over the last months. Every sentence is made from ``manifest.json`` numbers, so a reader can recompute it.
Their markup is in ``templates/plan.html.j2`` (autoescape on): this module computes the sentences."""
from __future__ import annotations

import re
from typing import Mapping

import pandas as pd

from analysis.base.plan_uplift import ENOUGH_HOLDOUT, POOL_MONTHS
from analysis.report.markup import Markup, macros
from analysis.report.numbers import GOOD_WHEN_UP, format_change, format_value, label
from analysis.report.text import Text, fmt_money, fmt_number

#: The summary's key numbers and which way is good for each (+1: up is good, -1: up is bad).
SUMMARY_DIRECTIONS = {c: GOOD_WHEN_UP[c] for c in ("customers_active", "customer_equity", "customers_at_risk",
                                                   "monthly_churn_rate")}
#: Actions whose value is value at stake (the plan's sum in the summary); grow and second purchase carry
#: expected value that is already part of customer equity.
AT_STAKE_KINDS = ("value_at_stake", "past_yearly_value")


#: An ISO date, or a signed euro amount in English ("+€1.74": a browser may break after the sign).
_TOGETHER_RE = re.compile(r"(?<![\w/.-])(\d{4}-\d{2}-\d{2})(?![\w/-])|(?<![\w])([+\-−]€[\d,]+(?:\.\d+)?)")


def keep_together(fragment: str) -> str:
    """``fragment`` (escaped HTML text) with every ISO date and signed euro amount kept on one line: a phone or a
    printed page otherwise breaks "2026-10-31" after a hyphen and "+€1.74" after its sign.

    >>> keep_together("<p>Situation on 2026-10-31: +€1.74.</p><a href='2026-10/index.html'>")
    "<p>Situation on <span class='kanta-nowrap'>2026-10-31</span>: <span class='kanta-nowrap'>+€1.74</span>.</p><a href='2026-10/index.html'>"
    """
    nowrap = macros("plan.html.j2").nowrap
    return _TOGETHER_RE.sub(lambda m: str(nowrap(m.group(0))), fragment)


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


def _signed_pp(x: float, tx: Text) -> str:
    return f"{fmt_number(100 * x, tx.language, 1, signed=True)} {Text('report', tx.language)('pp')}"


def _months(months, tx: Text) -> str:
    return ", ".join(_month(m, tx) for m in months)


def _by_priority(manifest: Mapping) -> list:
    """``action_uplift`` in this month's priority order (the actions that paid first)."""
    order = list(manifest.get("plan", {}).get("priority", []))
    ups = manifest.get("action_uplift") or []
    return sorted(ups, key=lambda u: order.index(u["action"]) if u["action"] in order else len(order))


def paid_sentence(manifest: Mapping, tx: Text) -> str | None:
    """Which actions paid, which did not and which are not measured enough yet (``action_uplift``); None before any
    action has been measured. The expected value is the sum of the paid actions' ``expected_gain``."""
    ups = _by_priority(manifest)
    if not ups:
        return None
    pw = Text("plan", tx.language)
    names = lambda verdicts: ", ".join(tx(f"action_name_{u['action']}") for u in ups  # noqa: E731
                                       if u["verdict"] in verdicts) or pw("none_word")
    unpaid, still_open = names(("lost", "no_clear_gain")), names(("not_yet",))
    paid = [u["action"] for u in ups if u["verdict"] == "paid"]
    if not paid:
        return pw("summary_none_paid", unpaid=unpaid, open=still_open)
    gain = sum(a["expected_gain"] or 0.0 for a in manifest["actions"] if a["name"] in paid)
    basis = next(u["value_basis"] for u in ups if u["verdict"] == "paid")
    return pw("summary_paid", names=names(("paid",)), value=tx.money(gain), basis=pw(f"uplift_basis_{basis}"),
              basis_partitive=pw(f"uplift_basis_partitive_{basis}"), unpaid=unpaid, open=still_open)


def uplift_html(manifest: Mapping, tx: Text) -> str:
    """Which actions paid: each action's results pooled over its last plans (``action_uplift``), what the measured
    uplift is worth and whether it decides the action's value and priority."""
    ups = manifest.get("action_uplift")
    if ups is None:
        return ""
    pw = Text("plan", tx.language)
    ups = _by_priority(manifest)
    actions = {a["name"]: a for a in manifest["actions"]} if ups else {}
    items = []
    for u in ups:
        name, months = tx(f"action_name_{u['action']}"), _months(u["months"], tx)
        if u["difference"] is None:
            items.append(("", u["action"], pw("uplift_too_few", name=name, months=months,
                                              nc=tx.number(u["contact"]), nh=tx.number(u["holdout"]))))
            continue
        just_measured = [r["month"] for r in manifest.get("action_results", []) if r["action"] == u["action"]]
        if list(u["months"]) == just_measured:  # one plan: its numbers are in the section above
            text = pw("uplift_one_plan", name=name, month=months)
        else:
            text = pw("uplift_counts", name=name, months=months, bc=tx.number(u["buyers_contact"]),
                      nc=tx.number(u["contact"]), rc=tx.pct(u["buyers_contact"] / u["contact"]),
                      bh=tx.number(u["buyers_holdout"]), nh=tx.number(u["holdout"]),
                      rh=tx.pct(u["buyers_holdout"] / u["holdout"]), diff=_signed_pp(u["difference"], tx),
                      lo=_signed_pp(u["ci_low"], tx), hi=_signed_pp(u["ci_high"], tx))
        verdict, basis = u["verdict"], u["value_basis"]
        words = {"basis": pw(f"uplift_basis_{basis}"), "basis_partitive": pw(f"uplift_basis_partitive_{basis}"),
                 "nh": tx.number(u["holdout"]), "enough": tx.number(ENOUGH_HOLDOUT)}
        if verdict == "paid":
            a = actions.get(u["action"], {})
            words |= {"vpb": tx.money(u["value_per_buyer"], 2), "g": tx.money(u["gain_per_customer"], 2),
                      "total": tx.money(a.get("expected_gain") or 0.0), "c": tx.number(a.get("contact", 0))}
        elif verdict in ("lost", "no_clear_gain"):
            words["g"] = fmt_money(u["gain_per_customer"], tx.language, 2, signed=True)
        items.append(({"paid": "good", "lost": "bad", "no_clear_gain": "bad"}.get(verdict, ""), u["action"],
                      text + " " + pw(f"uplift_{verdict}", **words)))
    return str(macros("plan.html.j2").uplift(pw("uplift_heading"),
                                             pw("uplift_intro", n=POOL_MONTHS, enough=tx.number(ENOUGH_HOLDOUT)),
                                             pw("uplift_none"), items))


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
        items.append((d or "flat", concept_id, text))
    acts = manifest["actions"]
    contact, holdout = sum(a["contact"] for a in acts), sum(a["holdout"] for a in acts)
    plan = tx("summary_plan", c=tx.number(contact), k=tx.number(sum(1 for a in acts if a["customers"])),
              h=tx.number(holdout), value=tx.money(plan_value_at_stake(manifest)))
    paid = paid_sentence(manifest, tx)  # one answer to "did it pay": the pooled measurement that decides
    return str(macros("plan.html.j2").summary(tx("summary_heading"), items, plan, paid))


def plan_html(manifest: Mapping, tx: Text) -> str:
    """The plan's rules in words: the priority, who was left out and why, the holdout."""
    plan = manifest["plan"]
    order = ", ".join(tx(f"action_name_{a}") for a in plan["priority"])
    sentences = [tx("plan_priority", order=order)]
    if any(u["decides_priority"] for u in manifest.get("action_uplift") or []):
        sentences.append(Text("plan", tx.language)("plan_priority_measured"))
    if plan["overlap_removed"]:
        sentences.append(tx("plan_overlap", n=tx.number(plan["overlap_removed"])))
    reasons = [tx(f"excluded_{r}", n=tx.number(n), k=plan["contact_threshold"]) for r, n in plan["excluded"].items()
               if n]
    if reasons:
        sentences.append(tx("plan_excluded", reasons="; ".join(reasons)))
    h = sum(a["holdout"] for a in manifest["actions"])
    holdout = tx("plan_holdout", share=tx.pct(plan["holdout_share"], 0), h=tx.number(h))
    return str(macros("plan.html.j2").plan(tx("plan_heading"), sentences, holdout))


def results_html(manifest: Mapping, tx: Text) -> str:
    """Last month's actions measured: purchase rates and value per customer of contact against holdout."""
    results = manifest.get("action_results", [])
    signed_pp = lambda x: _signed_pp(x, tx)  # noqa: E731
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
    return str(macros("plan.html.j2").results(tx("results_heading"), tx("results_none"), items,
                                              Markup(uplift_html(manifest, tx))))
