"""The churn page of the monthly report: churn results from :mod:`analysis.churn` in the reader's language.

:class:`ChurnPage` returns one :class:`~analysis.report.section.Section` per notebook section, built from
results computed once (:func:`analysis.churn.analyse`) and figures drawn in the notebook
(:mod:`~analysis.report.pages.churn_figures`); words and tables are in :mod:`~analysis.report.pages.churn_text`.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.churn import ChurnAnalysis, ChurnCox, ChurnDefinition, GroupSurvival, KaplanMeierResult, RetentionKPIs
from analysis.findings import Finding
from analysis.report.numbers import KeyNumber
from analysis.report.pages.churn_figures import plot_cohort_heatmap, plot_forest, plot_survival
from analysis.report.pages.churn_text import (at_risk_report, attribute_label, contact_table, covariate_labels,
                                              definition_sentence, fmt_p, group_sentence, hazard_ratio_table,
                                              monthly_table, ph_sentence, pooled_levels_sentence, reference_labels,
                                              risk_table, series_sentence, survival_table, value_label, words)
from analysis.report.section import Section
from analysis.units import DAYS_PER_MONTH

__all__ = ["SHARED_CONCEPTS", "ChurnPage", "Section", "at_risk_report", "attribute_label", "contact_table",
           "covariate_labels", "definition_sentence", "fmt_p", "group_sentence", "hazard_ratio_table", "key_numbers",
           "localised_finding", "monthly_table", "ph_sentence", "plot_cohort_heatmap", "plot_forest", "plot_survival",
           "pooled_levels_sentence", "reference_labels", "risk_table", "series_sentence", "survival_table",
           "value_label", "words"]


# --------------------------------------------------------------------------
# Key numbers and findings
# --------------------------------------------------------------------------
#: Concepts the churn page reads from the month's customer base (the same value on every page).
SHARED_CONCEPTS = ("customers_churned", "customers_lost", "customers_returned", "customers_at_risk", "value_at_risk")


def key_numbers(a: ChurnAnalysis, base=None) -> list[KeyNumber]:
    """The churn page's key numbers (concept ids of :mod:`analysis.base.concepts`).

    The stock of churned customers, the month's lost and returned customers, the customers at
    risk and the value at risk come from the month's customer base (``base``), never from this
    page's own computations; retention, churn rates, lifetime and "due next month" are the page's.
    """
    median = a.overall.median
    own = [
        KeyNumber("retention_rate", a.kpis.retention_rate),
        KeyNumber("monthly_churn_rate", a.kpis.monthly_churn_rate),
        KeyNumber("annual_churn_rate", a.kpis.annual_churn_rate),
        KeyNumber("median_lifetime_days", round(median) if np.isfinite(median) else None,
                  reason=None if np.isfinite(median) else "not_reached"),
        KeyNumber("survival_12m", a.overall.survival_at_months((12,))[12]),
        KeyNumber("customers_due_next_month", int(a.risk.attrs["n_due"])),
    ]
    shared = [base.key_number(c) for c in SHARED_CONCEPTS] if base is not None else []
    return shared[:3] + own + shared[3:]


def localised_finding(finding: Finding, language: str) -> Finding:
    """The finding with attribute names in the reader's language (the sentence fills them in)."""
    facts = dict(finding.facts)
    if "group_by" in facts:
        facts["group_by"] = attribute_label(str(facts["group_by"]), language)
    return Finding(finding.analysis, finding.reason, facts, finding.detail, finding.affects)


# --------------------------------------------------------------------------
# The page: one Section per notebook section
# --------------------------------------------------------------------------
class ChurnPage:
    """The churn page's sections in the report's language, from one :class:`~analysis.churn.ChurnAnalysis`.

    Each method returns one :class:`Section` (heading, sentences, figure, tables) made from the result
    it is given (by default the analysis' own); a part that could not be estimated is its finding
    instead, and the page goes on. A figure drawn in the notebook is passed as ``ax``; without it the
    page draws the default one.

    Example
    -------
    >>> from analysis import churn
    >>> page = ChurnPage(churn.analyse("data/sample", "2026-10-31", use_clv=False), language="en")
    >>> page.definition().texts()[0]
    'How churn is defined'
    """

    SECTIONS = ("headline", "definition", "curves", "cohorts", "cox", "ph", "kpis", "risk", "contact")

    def __init__(self, analysis: ChurnAnalysis, base=None, language: str = "en", *, group_by: str | None = None):
        self.a = analysis
        self.base = base
        self.language = language
        self.tx = words(language)
        self.group_by = group_by if group_by is not None else (analysis.by_group.group_by if analysis.by_group else None)

    def _section(self) -> Section:
        return Section(self.language)

    def _finding(self, s: Section, analysis: str) -> bool:
        f = self.a.finding(analysis)
        if f is not None:
            s.finding(localised_finding(f, self.language))
        return f is not None

    def sections(self) -> list[Section]:
        """Every section in page order, with the default figures."""
        return [getattr(self, name)() for name in self.SECTIONS]

    # -- one method per section --
    def headline(self, numbers: list[KeyNumber] | None = None) -> Section:
        """Title, what the page is about, and the key-number cards (recorded for the manifest)."""
        tx, a = self.tx, self.a
        s = self._section().heading(tx("title"), 1).text(tx("intro", date=tx.date(a.as_of), n=tx.number(a.overall.n)))
        return s.heading(tx("h_key_numbers")).numbers(numbers if numbers is not None else key_numbers(a, self.base))

    def definition(self, definition: ChurnDefinition | None = None) -> Section:
        """The churn rule, why this number of days, and (in a report series) since when it holds."""
        d = definition if definition is not None else self.a.definition
        s = self._section().heading(self.tx("h_definition"))
        record = getattr(self.base, "series_threshold", None) or {}
        if record.get("origin") == "series" and d.method == "inactivity":
            # the series' threshold, not the analyst's choice: say where it came from instead
            s.text(self.tx("definition_inactivity", n=d.inactivity_days))
        else:
            s.text(definition_sentence(d, self.language))
        return s.text(series_sentence(record, self.language) if d.method == "inactivity" else None)

    def curves(self, ax=None, overall: KaplanMeierResult | None = None, by_group: GroupSurvival | None = None,
               max_months: float = 30) -> Section:
        """Survival curves (``ax``, default :func:`plot_survival` of the groups), the log-rank result and the tables."""
        tx, a = self.tx, self.a
        overall = overall if overall is not None else a.overall
        by_group = by_group if by_group is not None else a.by_group
        s = self._section().heading(tx("h_curves"))
        at = overall.survival_at_months()
        if np.isfinite(overall.median):
            s.text(tx("overall_sentence", median=tx("after_months", m=tx.number(overall.median / DAYS_PER_MONTH, 1)),
                      s6=tx.pct(at[6], 0), s12=tx.pct(at[12], 0)))
        else:
            s.text(tx("overall_sentence_no_median", s6=tx.pct(at[6], 0), s12=tx.pct(at[12], 0)))
        if ax is None:
            ax = plot_survival(by_group if by_group is not None else overall, labels=tx, max_months=max_months)
        group_label = attribute_label(self.group_by, self.language) if self.group_by else ""
        n = a.definition.inactivity_days or a.kpis.inactivity_days
        s.figure(ax, tx("fig_curves", group_by=group_label), tx("fig_curves_alt", group_by=group_label, n=n))
        if by_group is not None:
            s.text(group_sentence(by_group, self.language))
            s.table(survival_table([overall, *by_group.curves.values()], self.language), tx("tab_survival"))
        else:
            self._finding(s, "survival.groups")
            s.table(survival_table([overall], self.language), tx("tab_survival"))
        return s.table(at_risk_report(overall, language=self.language), tx("tab_at_risk"))

    def cohorts(self, ax=None, cohorts: pd.DataFrame | None = None, max_months: int = 24) -> Section:
        """The cohort heat map (``ax``, default :func:`plot_cohort_heatmap`), or why there is none."""
        tx = self.tx
        c = cohorts if cohorts is not None else self.a.cohorts
        s = self._section().heading(tx("h_cohorts"))
        if c.empty:
            if ax is not None:
                import matplotlib.pyplot as plt  # local: pyplot is heavy; only this case needs it

                plt.close(ax.figure)  # nothing to show: the notebook's empty figure is not drawn either
            return s.text(tx("cohorts_none"))
        s.text(tx("cohorts_text") if c.attrs.get("cohort_by") == "signup" else tx("cohorts_text_fp"))
        if ax is None:
            ax = plot_cohort_heatmap(c, labels=tx, max_months=max_months)
        return s.figure(ax, tx("fig_cohorts"), tx("fig_cohorts_alt"))

    def cox(self, ax=None, cox: ChurnCox | None = None) -> Section:
        """What predicts churn: the Cox model's sentences, forest plot (``ax``, default :func:`plot_forest`) and table."""
        tx = self.tx
        cc = cox if cox is not None else self.a.cox
        s = self._section().heading(tx("h_cox"))
        if cc is None:
            self._finding(s, "survival.cox")
            return s
        s.text(tx("cox_text", w=cc.window_days, refs=reference_labels(cc.references, self.language),
                  n=tx.number(cc.cox.n), c=tx.pct(cc.cox.concordance, 0)))
        if getattr(cc, "n_eligible", None):  # a big base: the model ran on a seeded subsample (churn.COX_CUSTOMERS)
            s.text(tx("cox_sample_text", n=tx.number(cc.cox.n), total=tx.number(cc.n_eligible)))
        s.text(pooled_levels_sentence(cc.pooled, self.language))
        if ax is None:
            ax = plot_forest(cc.cox, labels=tx)
        s.figure(ax, tx("fig_forest"), tx("fig_forest_alt"))
        return s.table(hazard_ratio_table(cc.cox, self.language), tx("tab_hazard_ratios"))

    def ph(self, cox: ChurnCox | None = None) -> Section:
        """The proportional-hazards check of the Cox model (nothing when there is no model: the Cox section said why)."""
        cc = cox if cox is not None else self.a.cox
        s = self._section()
        if cc is None or cc.cox.ph_check is None:
            return s
        return s.heading(self.tx("h_ph")).text(ph_sentence(cc.cox.ph_check, self.language))

    def kpis(self, kpis: RetentionKPIs | None = None) -> Section:
        """Retention over the last year and the churn rate per month, with the months it can be observed."""
        tx = self.tx
        k = kpis if kpis is not None else self.a.kpis
        s = self._section().heading(tx("h_kpis"))
        s.text(tx("retention_text", base=tx.number(k.customers_at_reference), ref=tx.date(k.reference_date),
                  n=k.inactivity_days, retained=tx.number(k.retained), date=tx.date(k.as_of),
                  rate=tx.pct(k.retention_rate, 1)))
        observable = k.months_observable if k.months_observable is not None else len(k.monthly)
        if observable == 0:
            s.text(tx("churn_rate_none_observable", start=tx.date(k.log_start), n=k.inactivity_days,
                      from_=tx.date(k.observable_from)))
        else:
            s.text(tx("churn_rate_text", months=len(k.monthly), m=tx.pct(k.monthly_churn_rate, 1),
                      a=tx.pct(k.annual_churn_rate, 1)))
            if observable < len(k.monthly):
                s.text(tx("churn_rate_observable", k=observable, months=len(k.monthly), n=k.inactivity_days,
                          start=tx.date(k.log_start), from_=tx.date(k.observable_from)))
        return s.table(monthly_table(k, self.language), tx("tab_monthly"))

    def risk(self, risk: pd.DataFrame | None = None) -> Section:
        """Who reaches the churn threshold next month (:func:`analysis.churn.churn_risk`), pseudonyms only."""
        tx = self.tx
        r = risk if risk is not None else self.a.risk
        basis = tx("basis_clv") if (r["value_basis"] == "clv").all() else tx("basis_spend")
        return self._section().heading(tx("h_risk")).text(
            tx("risk_text", n_due=tx.number(r.attrs["n_due"]), n=r.attrs["inactivity_days"],
               expected=tx.number(r.attrs["expected_churners"]), top=len(r), basis=basis)).table(
            risk_table(r, self.language), tx("tab_risk"))

    def contact(self, contacts: pd.DataFrame | None = None, top: int = 20) -> Section:
        """The month's one contact-first list (:meth:`CustomerBase.contact_list`, the same as on the customer-value
        page); ``contacts`` None means the base has no CLV this month, and its finding says why."""
        tx, base, s = self.tx, self.base, self._section()
        if base is None:
            return s
        s.heading(tx("h_contact"))
        if contacts is None and base.estimated("clv"):
            contacts = base.contact_list()
        if contacts is None:
            f = base.finding("clv")
            return s.finding(f if f is not None else Finding("clv", "not_estimable"))
        if contacts.empty:
            return s.text(tx("contact_none"))
        s.text(tx("contact_text", n=tx.number(len(contacts)), top=min(top, len(contacts)),
                  floor=tx.pct(base.settings.contact_p_alive_floor, 0)))
        return s.table(contact_table(contacts.head(top), self.language), tx("tab_contact"))
