"""Typed key numbers: what a page shows, recorded so the manifest and the landing page agree.

A notebook shows key numbers with :func:`show_numbers` (cards) or records the numbers its
sentences use with :func:`record`; both leave a machine-readable record in the executed notebook
(mime type :data:`NUMBERS_MIME`) that the monthly run collects into ``manifest.json`` under
``"numbers"`` (``concept``, ``page``, ``value``, ``unit``). A finding (an analysis that could not be
estimated) is shown with :func:`show_finding` and recorded under :data:`FINDING_MIME`. Stakeholder
pages never show the records themselves.
"""
from __future__ import annotations

from typing import Iterable, Mapping

from analysis.base.concepts import KeyNumber, plain_value  # noqa: F401  (KeyNumber: re-exported for notebooks)
from analysis.findings import Finding
from analysis.report.markup import Markup, macros
from analysis.report.text import Text, fmt_money, fmt_number

#: Which way is good for a key number (+1: up is good, -1: up is bad); a number not here has no good direction.
GOOD_WHEN_UP = {"customers_active": 1, "customers_new": 1, "customers_lost": -1, "customers_returned": 1,
                "customers_churned": -1, "revenue": 1, "avg_purchase": 1, "purchase_frequency": 1,
                "customer_equity": 1, "value_at_risk": -1, "customers_at_risk": -1, "retention_rate": 1,
                "monthly_churn_rate": -1, "complaints_month": -1, "complaints_first_contact_share": 1,
                "customers_over_contact_threshold": -1}

NUMBERS_MIME = "application/vnd.kanta.numbers+json"
FINDING_MIME = "application/vnd.kanta.finding+json"
#: An experiment page's verdict code (``better``, ``worse``, ``withheld``, ...) for the manifest and landing page.
VERDICT_MIME = "application/vnd.kanta.verdict+json"
#: The numbers behind a page's sentences and tables that are not key numbers (an experiment page's intervals,
#: p-values, checks, planner), language-free, by section; the run puts them in ``manifest.json`` ``details``.
DETAILS_MIME = "application/vnd.kanta.details+json"
RECORD_MIMES = (NUMBERS_MIME, FINDING_MIME, VERDICT_MIME, DETAILS_MIME)

#: Finding reasons that say what the data does not hold (an optional attribute, a table the source lacks):
#: the section is left out and says so, but the page is whole, so the month is not degraded by them.
OPTIONAL_DATA_REASONS = frozenset({"attribute_missing"})


def degrades(finding: Mapping) -> bool:
    """Whether a recorded finding (``Finding.to_dict()``) makes its page degraded (see :data:`OPTIONAL_DATA_REASONS`).

    Example
    -------
    >>> degrades({"reason": "attribute_missing"}), degrades({"reason": "not_estimable"})
    (False, True)
    """
    return finding.get("reason") not in OPTIONAL_DATA_REASONS


# --- formatting --------------------------------------------------------------------------------
def label(number: KeyNumber, tx: Text) -> str:
    words = Text("concepts", tx.language)
    return words(number.label_key or f"label_{number.concept}")


def format_value(value, unit: str, tx: Text) -> str:
    """A value in the report's number format for its unit ("–" when missing)."""
    value = plain_value(value)
    if value is None:
        return "–"
    if unit == "money":
        return tx.money(value)
    if unit == "money_cents":
        return tx.money(value, 2)
    if unit == "share":
        return tx.pct(value)
    if unit == "count":
        return tx.number(value)
    if unit == "days":
        return tx("days_value", n=tx.number(value)) if tx.has("days_value") else tx.number(value)
    return tx.number(value, 2)


def format_change(number: KeyNumber, tx: Text) -> str | None:
    """``"+33 (+3.0 %) vs previous month"``; shares change in percentage points; None without a previous value."""
    value, previous, unit = plain_value(number.value), plain_value(number.previous), number.unit
    if value is None or previous is None:
        return None
    words = Text("report", tx.language)
    if value == previous:
        return words("no_change")
    if unit == "share":
        diff = value - previous
        if round(diff * 100, 1) == 0:
            return words("no_change")
        return words("change_vs_prev", change=f"{fmt_number(100 * diff, tx.language, 1, signed=True)} {words('pp')}")
    if previous == 0:
        diff = value - previous
        text = (fmt_money(diff, tx.language, signed=True) if unit.startswith("money")
                else fmt_number(diff, tx.language, 0 if unit == "count" else 2, signed=True))
        return words("change_vs_prev", change=text)
    relative = tx.pct(value / previous - 1, 1, signed=True)
    if unit == "count":  # "+33 (+3.0 %)": the number of customers and the rate both matter
        relative = f"{fmt_number(value - previous, tx.language, 0, signed=True)} ({relative})"
    return words("change_vs_prev", change=relative)


def finding_text(finding: Finding | Mapping, tx: Text) -> str:
    """The finding as one plain sentence in the report's language."""
    f = finding.to_dict() if isinstance(finding, Finding) else dict(finding)
    words = Text("findings", tx.language)
    key = f"finding_{f['reason']}"
    facts = {k: (tx.number(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v)
             for k, v in (f.get("facts") or {}).items()}
    analysis = words(f"analysis_{f['analysis']}") if words.has(f"analysis_{f['analysis']}") else f["analysis"]
    if words.has(key):
        try:
            return words(key, analysis=analysis, **facts)
        except (KeyError, IndexError):
            pass
    return words("finding_generic", analysis=analysis, detail=f.get("detail", ""))


def sparkline_svg(values, width: int = 120, height: int = 28) -> str:
    """A tiny inline SVG line of a number's last months (self-contained: no script, no image file)."""
    v = [float(x) for x in values if x is not None]
    if len(v) < 2:
        return ""
    lo, hi = min(v), max(v)
    span = (hi - lo) or 1.0
    step = (width - 4) / (len(v) - 1)
    pts = " ".join(f"{2 + i * step:.1f},{height - 3 - (x - lo) / span * (height - 6):.1f}" for i, x in enumerate(v))
    last_x, last_y = pts.split(" ")[-1].split(",")
    return str(macros("display.html.j2").sparkline(width, height, pts, last_x, last_y))


def cards_html(numbers: Iterable[KeyNumber], tx: Text, trends: Mapping | None = None) -> str:
    """Key-number cards: label, value in its unit, change vs last month or the reason for "–".

    With ``trends`` (:func:`analysis.base.actions.trends`), a card also shows its last 13 months as a
    small line and says when this month is the highest or lowest of them.
    """
    words = Text("findings", tx.language)
    report_words = Text("report", tx.language)
    cards = []
    for n in numbers:
        note = format_change(n, tx)
        if n.value is None and n.reason:
            why = words(f"short_{n.reason}") if words.has(f"short_{n.reason}") else words("short_not_estimable")
            note = words("missing_value", reason=why)
        card = {"label": label(n, tx), "value": format_value(n.value, n.unit, tx), "note": note, "spark": "",
                "unusual": None, "tone": None}
        trend = (trends or {}).get(n.concept)
        if trend is not None:
            card["spark"] = Markup(sparkline_svg(trend.values))
            if trend.unusual:  # the flag says whether the unusual month is good or bad news
                up = GOOD_WHEN_UP.get(n.concept)
                good = None if up is None else (trend.unusual == "highest") == (up > 0)
                verdict = "" if good is None else ": " + report_words("direction_good" if good else "direction_bad")
                card["tone"] = None if good is None else ("good" if good else "bad")
                card["unusual"] = report_words("unusual_" + trend.unusual, n=len(trend.values)) + verdict
        cards.append(card)
    return str(macros("display.html.j2").number_cards(cards))


# --- notebook side -----------------------------------------------------------------------------
def _publish(data: dict) -> None:
    from IPython.display import display  # local: heavy import, kept off the start-up path

    display(data, raw=True)


def record(numbers: Iterable[KeyNumber]) -> None:
    """Record numbers a page states in its sentences or tables (nothing visible)."""
    rows = [n.to_dict() for n in numbers]
    if rows:
        _publish({NUMBERS_MIME: rows, "text/plain": f"{len(rows)} key numbers"})


def record_verdict(experiment_id: str, verdict: str) -> None:
    """Record an experiment page's verdict code (nothing visible): the run puts it in ``manifest.json``."""
    _publish({VERDICT_MIME: {"experiment_id": str(experiment_id), "verdict": str(verdict)},
              "text/plain": f"verdict {verdict}"})


def record_details(details: Mapping) -> None:
    """Record the numbers behind a page's sentences and tables (a JSON-able mapping, nothing visible)."""
    if details:
        _publish({DETAILS_MIME: dict(details), "text/plain": f"details: {', '.join(details)}"})


def show_numbers(numbers: Iterable[KeyNumber], language: str) -> None:
    """Show key numbers as cards and record them for the manifest."""
    numbers = list(numbers)
    tx = Text("report", language)
    _publish({"text/html": cards_html(numbers, tx), "text/plain": ", ".join(n.concept for n in numbers)})
    record(numbers)


def show_finding(finding: Finding, language: str) -> None:
    """Say on the page what could not be computed and why, and record it (the page counts as degraded)."""
    tx = Text("report", language)
    lead = "not_computed" if degrades(finding.to_dict()) else "left_out"
    shown = macros("site.html.j2").findings(Text("findings", language)(lead), [finding_text(finding, tx)])
    _publish({"text/html": str(shown), FINDING_MIME: finding.to_dict(), "text/plain": finding.detail})


# --- run side ----------------------------------------------------------------------------------
def collect_verdict(nb) -> str | None:
    """The verdict code an executed experiment notebook recorded (the last one), or None."""
    verdict = None
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []) or []:
            data = out.get("data", {}) or {}
            if VERDICT_MIME in data:
                verdict = data[VERDICT_MIME].get("verdict") or verdict
    return verdict


def collect_details(nb) -> dict:
    """The details an executed notebook recorded (:func:`record_details`), merged in page order."""
    details = {}
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []) or []:
            details.update((out.get("data", {}) or {}).get(DETAILS_MIME, {}))
    return details


def collect(nb) -> tuple[list[dict], list[dict]]:
    """``(numbers, findings)`` recorded in an executed notebook, in page order."""
    numbers, findings = [], []
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []) or []:
            data = out.get("data", {}) or {}
            if NUMBERS_MIME in data:
                numbers.extend(data[NUMBERS_MIME])
            if FINDING_MIME in data:
                findings.append(data[FINDING_MIME])
    return numbers, findings
