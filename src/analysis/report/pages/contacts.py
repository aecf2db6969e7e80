"""The contacts page of the monthly report: :mod:`analysis.contacts` results in the reader's language.

Sentences, formatted tables and figures are made here from language-free results; the words are in
``strings/contacts.json``. ``notebooks/contacts.ipynb`` runs the analysis and the figures in its cells and
passes the results to one :class:`ContactsPage` method per section, each returning a
:class:`~analysis.report.section.Section`. Only aggregates reach the page: counts, shares and ratios per month,
state or segment (segments smaller than the privacy minimum are blanked), never a customer, a contact or its notes.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator

from analysis.contacts import (COMPLAINT_STATES, FIRST_CONTACT_HOURS, ComplaintHandling, ContactsAnalysis,
                               DropoutModel, MarketingPressure)
from analysis.data.privacy import MIN_GROUP_SIZE, suppress_small_groups
from analysis.report.numbers import KeyNumber
from analysis.report.pages.segments import stage_label
from analysis.report.section import Section
from analysis.report.site import month_label
from analysis.report.text import Text

#: Figure width in inches: 640 px at dpi 100, readable on a 390 px phone screen when scaled.
FIGURE_WIDTH = 6.4


def _tx(language: str) -> Text:
    return Text("contacts", language)


def group_label(by: str, value, language: str = "en", settings=None) -> str:
    """A segment value in the report's language: classes and lifecycle stages in the segments page's words
    (``settings``: the month's segment settings, for the windows stage names state).

    Example
    -------
    >>> group_label("abc_class", "A"), group_label("lifecycle_stage", "new", "fi")
    ('A', 'Uusi')
    """

    seg = Text("segments", language)
    if by == "lifecycle_stage":
        return stage_label(str(value), seg, settings)
    if by == "abc_class" and seg.has(f"class_{value}"):
        return seg(f"class_{value}")
    tx = _tx(language)
    return tx(f"group_{value}") if tx.has(f"group_{value}") else str(value)


def key_numbers(a: ContactsAnalysis) -> list[KeyNumber]:
    """The page's key numbers (concept ids of :mod:`analysis.base.concepts`); the threshold count is "–" with its
    reason when the threshold could not be estimated."""
    n = a.numbers()
    share = n["complaints_first_contact_share"]
    over_reason = None
    if n["customers_over_contact_threshold"] is None:
        f = next((f for f in a.findings if "customers_over_contact_threshold" in f.affects), None)
        over_reason = f.reason if f is not None else "not_estimable"
    return [KeyNumber("complaints_month", n["complaints_month"]),
            KeyNumber("complaints_first_contact_share", share if n["complaints_month"] else None,
                      reason=None if n["complaints_month"] else "no_complaints"),
            KeyNumber("customers_over_contact_threshold", n["customers_over_contact_threshold"], reason=over_reason)]


def handling_table(handling: ComplaintHandling, language: str = "en") -> pd.DataFrame:
    """Complaints per month: count, resolved by the month end, median hours to resolution, first-contact share."""
    tx = _tx(language)
    m = handling.monthly
    return pd.DataFrame({
        tx("col_month"): [month_label(p, language) for p in m["month"]],
        tx("col_complaints"): [tx.number(v) for v in m["complaints"]],
        tx("col_resolved"): [tx.number(v) for v in m["resolved"]],
        tx("col_median_hours"): [tx.number(v, 1) if pd.notna(v) else "–" for v in m["median_hours_to_resolution"]],
        tx("col_first_contact"): [tx.pct(v, 0) if c else "–"
                                  for v, c in zip(m["first_contact_share"], m["complaints"])],
    })


def hazard_table(model: DropoutModel, language: str = "en") -> pd.DataFrame:
    """Hazard ratios of leaving per purchase by the state of the latest complaint, with 95 % intervals."""
    tx = _tx(language)
    rows = [{tx("col_state"): tx("state_none"), tx("col_ratio"): tx.number(1.0, 2), tx("col_interval"): tx("reference"),
             tx("col_purchases"): ""}]
    for state in COMPLAINT_STATES[1:]:
        r = model.ratios.get(state)
        if r is None:
            continue
        rows.append({tx("col_state"): tx(f"state_{state}"), tx("col_ratio"): tx.number(r.hazard_ratio, 2),
                     tx("col_interval"): f"{tx.number(r.ci_low, 2)}–{tx.number(r.ci_high, 2)}",
                     tx("col_purchases"): tx.number(r.purchases)})
    return pd.DataFrame(rows)


def pressure_table(pressure: MarketingPressure, language: str = "en") -> pd.DataFrame:
    """Customer-months by outbound marketing contacts in the month: last purchases and purchases per month."""
    tx = _tx(language)
    t = pressure.table
    top = int(t["contacts"].max())
    label = [f"{int(c)}+" if c == top and top >= 12 else str(int(c)) for c in t["contacts"]]
    return pd.DataFrame({
        tx("col_contacts"): label,
        tx("col_customer_months"): [tx.number(v) for v in t["months"]],
        tx("col_churn_rate"): [tx.pct(v, 1) for v in t["churn_rate"]],
        tx("col_purchase_share"): [tx.pct(v, 0) for v in t["purchase_share"]],
    })


def satisfaction_table(satisfaction: pd.DataFrame, language: str = "en", min_size: int | None = None) -> pd.DataFrame:
    """CSAT and NPS per customer class (:func:`analysis.contacts.satisfaction_by`; small groups blanked)."""

    tx = _tx(language)
    s = satisfaction.fillna({"csat_responses": 0, "nps_responses": 0})
    table = pd.DataFrame({
        tx("col_group"): [group_label("abc_class", g, language) for g in s["group"]],
        tx("col_csat_n"): [tx.number(int(v)) for v in s["csat_responses"]],
        tx("col_csat"): [tx.number(v, 2) if pd.notna(v) else "–" for v in s["csat_mean"]],
        tx("col_csat_top2"): [tx.pct(v, 0) if pd.notna(v) else "–" for v in s["csat_top2"]],
        tx("col_nps_n"): [tx.number(int(v)) for v in s["nps_responses"]],
        tx("col_nps"): [tx.number(v, 0) if pd.notna(v) else "–" for v in s["nps"]],
    })
    counts = np.maximum(s["csat_responses"].to_numpy(), s["nps_responses"].to_numpy())
    return suppress_small_groups(table, counts, min_size or MIN_GROUP_SIZE, keep=[tx("col_group")])


def retention_table(retention: pd.DataFrame, language: str = "en", min_size: int | None = None) -> pd.DataFrame:
    """Share still active by NPS group, with 95 % intervals (:func:`analysis.contacts.nps_retention`; small groups
    blanked)."""

    tx = _tx(language)
    r = retention
    ok = r["customers"] > 0
    table = pd.DataFrame({
        tx("col_nps_group"): [tx(f"nps_{g}") for g in r["group"]],
        tx("col_customers"): [tx.number(v) for v in r["customers"]],
        tx("col_share_active"): [tx.pct(v, 0) if o else "–" for v, o in zip(r["share_active"], ok)],
        tx("col_interval"): [f"{tx.pct(lo, 0)}–{tx.pct(hi, 0)}" if o else "–"
                             for lo, hi, o in zip(r["ci_low"], r["ci_high"], ok)],
    })
    return suppress_small_groups(table, r["customers"].to_numpy(), min_size or MIN_GROUP_SIZE,
                                 keep=[tx("col_nps_group")], count_column=tx("col_customers"))


def frequency_table(frequency: pd.DataFrame, by: str, language: str = "en", min_size: int | None = None,
                    settings=None) -> pd.DataFrame:
    """Contacts per customer in the last 12 months by segment and type, beside the segment's mean value
    (:func:`analysis.contacts.contact_frequency` by ``by``; ``settings``: the month's segment settings)."""

    tx = _tx(language)
    f = frequency
    out = pd.DataFrame({tx("col_group"): [group_label(by, g, language, settings) for g in f[by]],
                        tx("col_customers"): [tx.number(v) for v in f["customers"]]})
    for kind in ("complaint", "service", "sales", "marketing", "feedback"):
        if kind in f:
            out[tx(f"type_{kind}")] = [tx.number(v, 1) for v in f[kind]]
    value = "mean_clv" if "mean_clv" in f else ("mean_total_spend" if "mean_total_spend" in f else None)
    if value:
        out[tx("col_value_clv" if value == "mean_clv" else "col_value_spend")] = [tx.money(v) if pd.notna(v) else "–"
                                                                                 for v in f[value]]
    return suppress_small_groups(out, f["customers"].to_numpy(), min_size or MIN_GROUP_SIZE,
                                 keep=[tx("col_group")], count_column=tx("col_customers"))


def channel_table(frequency: pd.DataFrame, by: str, language: str = "en", min_size: int | None = None,
                  settings=None) -> pd.DataFrame:
    """Contacts per customer in the last 12 months by segment and channel (channel names as the data spells
    them; the table is escaped when shown)."""

    tx = _tx(language)
    f = frequency
    out = pd.DataFrame({tx("col_group"): [group_label(by, g, language, settings) for g in f[by]],
                        tx("col_customers"): [tx.number(v) for v in f["customers"]]})
    for c in [c for c in f.columns if c.startswith("channel_")]:
        out[c[len("channel_"):]] = [tx.number(v, 1) for v in f[c]]
    return suppress_small_groups(out, f["customers"].to_numpy(), min_size or MIN_GROUP_SIZE,
                                 keep=[tx("col_group")], count_column=tx("col_customers"))


# --- figures: plot_x(data, *, labels, ax=None) -> Axes ----------------------------------------------
def plot_complaints(monthly: pd.DataFrame, *, labels: Text, ax: Axes | None = None) -> Axes:
    """Complaints per month (``ComplaintHandling.monthly``), with the share resolved at first contact on a
    second axis; returns the Axes."""
    tx = labels
    m = monthly
    ax = ax if ax is not None else plt.subplots(figsize=(FIGURE_WIDTH, 3.2))[1]
    x = np.arange(len(m))
    ax.bar(x, m["complaints"], color="#4C72B0", label=tx("col_complaints"))
    ax.set_xticks(x, [month_label(p, tx.language) for p in m["month"]], rotation=45, ha="right")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # complaints are counted: no 17.5
    ax.set_ylabel(tx("col_complaints"))
    ax2 = ax.twinx()
    share = np.where(m["complaints"] > 0, m["first_contact_share"], np.nan)
    ax2.plot(x, 100 * share, color="#DD8452", marker="o", label=tx("col_first_contact"))
    ax2.set_ylim(0, 100)
    ax2.set_ylabel(tx("col_first_contact") + " (%)")
    ax.spines["top"].set_visible(False)
    return ax


def plot_pressure(pressure: MarketingPressure, *, labels: Text, ax: Axes | None = None) -> Axes:
    """Share of customer-months in which the last purchase happened, by marketing contacts, with the threshold
    and its interval; returns the Axes."""
    tx = labels
    t = pressure.table
    ax = ax if ax is not None else plt.subplots(figsize=(FIGURE_WIDTH, 3.2))[1]
    ax.plot(t["contacts"], 100 * t["churn_rate"], marker="o", color="#4C72B0")
    ax.axvline(pressure.threshold, color="#C44E52", linestyle="--", label=tx("threshold_line"))
    ax.axvspan(pressure.ci_low, pressure.ci_high, color="#C44E52", alpha=0.1)
    ax.set_xlabel(tx("col_contacts"))
    ax.set_ylabel(tx("col_churn_rate") + " (%)")
    ax.legend(frameon=False, fontsize=9)
    ax.spines[["top", "right"]].set_visible(False)
    return ax


class ContactsPage:
    """The contacts page's sections in the report's language, one method per notebook section, each returning a
    :class:`~analysis.report.section.Section`.

    ``analysis`` (:func:`analysis.contacts.analyse`) gives the key numbers, the findings and the month's segment
    settings; each section takes the results it shows as arguments (default: the analysis's own), so a notebook
    can pass a part it recomputed with other arguments, and its figure (``ax``).

    Example
    -------
    >>> from analysis import contacts
    >>> a = contacts.analyse("data/sample", "2026-10-31")                       # doctest: +SKIP
    >>> ContactsPage(a, "en").complaints(a.handling).texts()[0]                 # doctest: +SKIP
    'Complaints and how they are handled'
    """

    SECTIONS = ("title_and_key_numbers", "complaints", "after_complaint", "pressure", "satisfaction", "frequency")

    def __init__(self, analysis: ContactsAnalysis, language: str = "en"):
        self.a = analysis
        self.language = language
        self.tx = _tx(language)

    def _section(self) -> Section:
        return Section(self.language)

    def _finding(self, s: Section, analysis: str) -> Section:
        """The finding of ``analysis`` (or of the drop-out model it rests on) when there is one."""
        f = next((f for f in self.a.findings if f.analysis == analysis), None)
        if f is None and analysis != "contacts.dropout":
            f = next((f for f in self.a.findings if f.analysis == "contacts.dropout"), None)
        return s.finding(f) if f is not None else s

    def title_and_key_numbers(self) -> Section:
        tx = self.tx
        return (self._section().heading(tx("title"), 1).text(tx("intro", date=tx.date(self.a.as_of)))
                .heading(tx("h_key_numbers")).numbers(key_numbers(self.a)))

    def complaints(self, handling: ComplaintHandling | None = None, ax: Axes | None = None) -> Section:
        """Complaints this month and per month (``handling``: :func:`analysis.contacts.complaint_handling`;
        ``ax``: :func:`plot_complaints` of its monthly table)."""
        tx, h = self.tx, handling if handling is not None else self.a.handling
        m = h.this_month()
        s = self._section().heading(tx("h_complaints"))
        s.text(tx("complaints_text", n=tx.number(m["complaints"]), hours=FIRST_CONTACT_HOURS,
                  share=tx.pct(m["first_contact_share"], 0) if m["complaints"] else "–",
                  open=tx.number(h.open_at_as_of)))
        ax = ax if ax is not None else plot_complaints(h.monthly, labels=tx)
        return s.figure(ax, tx("fig_complaints"), tx("fig_complaints_alt")).table(
            handling_table(h, self.language), tx("tab_complaints"))

    def after_complaint(self, model: DropoutModel | None = None) -> Section:
        """Hazard ratios of leaving by the latest complaint's state (``model``: the drop-out model with its
        complaint ratios, :func:`analysis.contacts.complaint_effect`)."""
        tx, s = self.tx, self._section().heading(self.tx("h_after"))
        model = model if model is not None else self.a.complaint
        if model is None:
            return self._finding(s, "contacts.complaints")
        r = model.ratios["open"]
        s.text(tx("after_text", ratio=tx.number(r.hazard_ratio, 1), low=tx.number(r.ci_low, 1),
                  high=tx.number(r.ci_high, 1)))
        fast = model.ratios.get("resolved_fast")
        if fast is not None:
            s.text(tx("after_fast", ratio=tx.number(fast.hazard_ratio, 1), low=tx.number(fast.ci_low, 1),
                      high=tx.number(fast.ci_high, 1), hours=FIRST_CONTACT_HOURS))
        return s.text(tx("after_method")).table(hazard_table(model, self.language), tx("tab_after"))

    def pressure(self, pressure: MarketingPressure | None = None, over: int | None = None,
                 ax: Axes | None = None) -> Section:
        """The marketing threshold (``pressure``: :func:`analysis.contacts.marketing_pressure`; ``over``: customers
        over it this month, :func:`analysis.contacts.customers_over_threshold`; ``ax``: :func:`plot_pressure`)."""
        tx, s = self.tx, self._section().heading(self.tx("h_pressure"))
        p = pressure if pressure is not None else self.a.pressure
        if p is None:
            return self._finding(s, "contacts.pressure")
        over = over if over is not None else self.a.customers_over_threshold
        level = tx("pressure_level_one") if p.ci_low == p.ci_high else \
            tx("pressure_level_range", low=p.ci_low, high=p.ci_high)  # never "between 4 and 4"
        s.text(tx("pressure_text", k=p.threshold, level=level, ratio=tx.number(p.per_contact_above.hazard_ratio, 2),
                  over=tx.number(over) if over is not None else "–"))
        ax = ax if ax is not None else plot_pressure(p, labels=tx)
        return s.figure(ax, tx("fig_pressure"), tx("fig_pressure_alt", k=p.threshold)).table(
            pressure_table(p, self.language), tx("tab_pressure"))

    def satisfaction(self, satisfaction: pd.DataFrame | None = None,
                     retention: pd.DataFrame | None = None) -> Section:
        """CSAT and NPS per customer class (``satisfaction``: :func:`analysis.contacts.satisfaction_by`) and the
        share still active by NPS group (``retention``: :func:`analysis.contacts.nps_retention`)."""
        tx, s = self.tx, self._section().heading(self.tx("h_satisfaction"))
        sat = satisfaction if satisfaction is not None else self.a.satisfaction
        if sat.empty:
            return s.text(tx("satisfaction_none"))
        s.text(tx("satisfaction_text")).table(satisfaction_table(sat, self.language), tx("tab_satisfaction"))
        r = retention if retention is not None else self.a.retention_by_nps
        if r is not None and r["customers"].sum():
            s.text(tx("retention_text")).table(retention_table(r, self.language), tx("tab_retention"))
        return s

    def frequency(self, frequency: dict | None = None) -> Section:
        """Contacts per customer by segment, by type and by channel (``frequency``: segment column ->
        :func:`analysis.contacts.contact_frequency` table)."""
        tx, s = self.tx, self._section().heading(self.tx("h_frequency"))
        f = frequency if frequency is not None else self.a.frequency
        if not f:
            return s.text(tx("frequency_none"))
        s.text(tx("frequency_text"))
        settings = self.a.segment_settings
        for by in ("abc_class", "lifecycle_stage"):
            if by in f:
                s.table(frequency_table(f[by], by, self.language, settings=settings), tx(f"tab_frequency_{by}"))
        if "abc_class" in f:
            s.table(channel_table(f["abc_class"], "abc_class", self.language, settings=settings), tx("tab_channels"))
        return s

    def sections(self) -> list[Section]:
        """Every section in page order (the analysis's own results and figures)."""
        return [getattr(self, name)() for name in self.SECTIONS]


__all__ = ["ContactsPage", "key_numbers", "handling_table", "hazard_table", "pressure_table", "satisfaction_table",
           "frequency_table", "channel_table", "retention_table", "group_label", "plot_complaints", "plot_pressure"]
