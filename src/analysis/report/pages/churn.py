"""The churn page of the monthly report: churn results from :mod:`analysis.churn` in the reader's language.

Sentences, formatted tables, labels and figures are made here from language-free results; the
words are in ``strings/churn.json``. ``notebooks/churn.ipynb`` calls one :class:`ChurnPage`
method per section, so the stakeholder narrative of a section is one call.
"""
from __future__ import annotations

import re
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from analysis.churn import (OTHER, ChurnAnalysis, ChurnDefinition, CoxResult, GroupSurvival, KaplanMeierResult, PHCheck,
                            RetentionKPIs)
from analysis.data import suppress_small_groups
from analysis.findings import Finding
from analysis.report.display import heading, say, show_figure, show_table
from analysis.report.numbers import KeyNumber, show_finding, show_numbers
from analysis.report.pii import show_group_table
from analysis.report.text import Text
from analysis.units import DAYS_PER_MONTH


def _tx(language: str) -> Text:
    return Text("churn", language)


# --------------------------------------------------------------------------
# Labels and numbers in words
# --------------------------------------------------------------------------
def fmt_p(p: float, tx: Text, with_sign: bool = False) -> str:
    """A p-value for readers: "0.042", "< 0.001" (with ``with_sign``: "= 0.042", "< 0.001").

    Example
    -------
    >>> fmt_p(0.0001, Text("churn", "en")), fmt_p(0.04213, Text("churn", "fi"), with_sign=True)
    ('< 0.001', '= 0,042')
    """
    if p < 0.001:
        return "< " + tx.number(0.001, 3)
    return ("= " if with_sign else "") + tx.number(p, 3)


def attribute_label(name: str, language: str = "en") -> str:
    """A customer attribute's name in the report's language (``acquisition_channel`` -> "acquisition channel")."""
    tx = _tx(language)
    return tx(f"attr_{name}") if tx.has(f"attr_{name}") else name


def value_label(value, tx: Text) -> str:
    """A group value in the report's language (``level_<value>``; "all" -> all customers, the pooled group -> other)."""
    if value == "all":
        return tx("all_customers")
    if value == OTHER:
        return tx("level_other")
    return tx(f"level_{value}") if tx.has(f"level_{value}") else str(value)


def _level_value(level: str, tx: Text) -> str:
    return {"True": tx("yes"), "False": tx("no"), "(missing)": tx("missing")}.get(level, value_label(level, tx))


def _level_label(attr: str, level: str, tx: Text) -> str:
    return tx("attr_level", attr=attribute_label(attr, tx.language), level=_level_value(level, tx))


def reference_labels(references: Mapping[str, str], language: str = "en") -> str:
    """The reference customer of a Cox model in words: "region: Uusimaa, age band: 25-34"."""
    tx = _tx(language)
    return ", ".join(_level_label(a, str(v), tx) for a, v in references.items())


def covariate_labels(names: Sequence[str], language: str = "en") -> dict[str, str]:
    """Readable covariate names: ``log_spend_90d`` -> "Spend (log), first 90 days", ``region=Lappi`` -> "region: Lappi".

    Example
    -------
    >>> covariate_labels(["log_spend_90d", "region=Lappi"])
    {'log_spend_90d': 'Spend (log), first 90 days', 'region=Lappi': 'region: Lappi'}
    """
    tx = _tx(language)
    out = {}
    for name in names:
        m = re.fullmatch(r"(purchases|log_spend|categories)_(\d+)d", name)
        if m:
            out[name] = tx(f"cov_{m.group(1)}", w=m.group(2))
        elif "=" in name:
            attr, level = name.split("=", 1)
            out[name] = _level_label(attr, level, tx)
        else:
            out[name] = name
    return out


# --------------------------------------------------------------------------
# Sentences
# --------------------------------------------------------------------------
def definition_sentence(definition: ChurnDefinition, language: str = "en") -> str:
    """The churn definition and why this N, in plain words."""
    tx = _tx(language)
    if definition.method == "contract":
        return tx("definition_contract")
    n = definition.inactivity_days
    base = tx("definition_inactivity", n=n)
    if definition.data_driven:
        why = tx("definition_data_driven", q=tx.pct(definition.quantile, 0), gap=tx.number(definition.gap_quantile_days, 0),
                 n=n, median=tx.number(definition.median_gap_days, 0),
                 within=tx.pct(definition.share_gaps_within, 1), n_gaps=tx.number(definition.n_gaps))
    else:
        why = tx("definition_given", n=n, within=tx.pct(definition.share_gaps_within, 1))
    return base + " " + why


def series_sentence(record: Mapping, language: str = "en") -> str | None:
    """Where the threshold of a month in a report series came from, and when and why it changed (None outside a series).

    ``record`` is :meth:`analysis.report.series.SeriesThreshold.to_dict` as the monthly run stored it.

    Example
    -------
    >>> series_sentence({"inactivity_days": 120, "origin": "series", "since": "2011-03", "previous": 120,
    ...                  "data_driven_days": 180})[:44]
    'The report series has used 120 days since 20'
    """
    if not record or record.get("inactivity_days") is None:
        return None
    tx = _tx(language)
    n, since, origin = record["inactivity_days"], record.get("since"), record.get("origin")
    if origin == "first":
        return tx("series_first", n=n)
    if origin == "operator" and record.get("previous") is not None and record["previous"] != n:
        before = str(pd.Period(since, freq="M") - 1)
        return tx("series_changed", previous=record["previous"], before=before, since=since, n=n)
    if origin == "series":
        dd = record.get("data_driven_days")
        if dd is None:
            return tx("series_kept_no_data", n=n, since=since)
        return tx("series_kept", n=n, since=since, dd=dd)
    return None  # the operator's own value from the start: the definition says so


def group_sentence(group: GroupSurvival, language: str = "en") -> str:
    """The log-rank result in plain words (and which small groups were pooled)."""
    tx = _tx(language)
    p = group.multivariate["p"]
    k = len(group.curves)
    ptxt = fmt_p(p, tx, with_sign=True)
    group_by = attribute_label(group.group_by, language)
    if p >= group.alpha:
        text = tx("logrank_no_difference", group_by=group_by, k=k, p=ptxt)
    else:
        best, worst = group.best_and_worst(12)
        s = {lab: km.survival_at_months((12,))[12] for lab, km in group.curves.items()}
        text = tx("logrank_difference", group_by=group_by, k=k, p=ptxt,
                  best=value_label(best, tx), best_s=tx.pct(s[best], 0),
                  worst=value_label(worst, tx), worst_s=tx.pct(s[worst], 0))
        text += " " + tx("logrank_pairs", n_sig=len(group.significant_pairs()), n_pairs=len(group.pairwise))
    if group.pooled:
        levels = ", ".join(value_label(v, tx) for v in group.pooled)
        key = "groups_dropped" if group.dropped else "groups_pooled"
        text += " " + tx(key, levels=levels)
    return text


def ph_sentence(ph: PHCheck, language: str = "en") -> str:
    """What the proportional-hazards check found and what was done, in plain words."""
    tx = _tx(language)
    if ph.ok:
        return tx("ph_ok", p=tx.number(ph.p_threshold, 2))
    label = covariate_labels(ph.table["covariate"], language)

    def names(covariates) -> str:
        return "; ".join(label.get(c, c) for c in covariates)

    parts = [tx("ph_violation", covariates=names(ph.violating), p=tx.number(ph.p_threshold, 2))]
    if ph.stratified:
        parts.append(tx("ph_stratified", covariates=names(ph.stratified)))
    if ph.noted and ph.stratified:
        parts.append(tx("ph_noted", covariates=names(ph.noted)))
    elif ph.noted:
        parts.append(tx("ph_noted_all"))
    return " ".join(parts)


def pooled_levels_sentence(pooled: Mapping[str, Sequence[str]], language: str = "en") -> str | None:
    """Which attribute levels the Cox model pooled into "other" (None when none were)."""
    if not pooled:
        return None
    tx = _tx(language)
    parts = [tx("attr_level", attr=attribute_label(a, language),
                level=", ".join(_level_value(str(v), tx) for v in levels))
             for a, levels in pooled.items()]
    return tx("cox_pooled", levels="; ".join(parts))


# --------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------
def survival_table(results: Sequence[KaplanMeierResult], language: str = "en") -> pd.DataFrame:
    """Median lifetime and survival at 3/6/12 months (with 95 % bands) as a formatted report table."""
    tx = _tx(language)
    rows = []
    for km in results:
        row = {tx("col_group"): value_label(km.label, tx), tx("col_customers"): tx.number(km.n),
               tx("col_churned"): tx.number(km.n_events),
               tx("col_median_months"): (tx.number(km.median * km.unit_days / DAYS_PER_MONTH, 1)
                                         if np.isfinite(km.median) else tx("not_reached"))}
        for m, s in km.survival_at_months().items():
            lo, hi = km.band_at(m * DAYS_PER_MONTH / km.unit_days)
            row[tx("col_survival_m", m=m)] = f"{tx.pct(s, 0)} ({tx.pct(lo, 0)}–{tx.pct(hi, 0)})"
        rows.append(row)
    return suppress_small_groups(pd.DataFrame(rows), [km.n for km in results], keep=[tx("col_group")],
                                 count_column=tx("col_customers"))


def at_risk_report(km: KaplanMeierResult, months: Sequence[int] = (0, 3, 6, 12, 18, 24),
                   language: str = "en") -> pd.DataFrame:
    """The at-risk table at whole months, formatted (months as rows)."""
    tx = _tx(language)
    t = km.at_risk_table([m * DAYS_PER_MONTH / km.unit_days for m in months])
    return pd.DataFrame({tx("col_month"): list(months), tx("at_risk"): t["at_risk"].map(tx.number),
                         tx("col_churned_cum"): t["churned"].map(tx.number),
                         tx("col_censored_cum"): t["censored"].map(tx.number)})


def hazard_ratio_table(cox: CoxResult, language: str = "en") -> pd.DataFrame:
    """Hazard ratios with CIs and p-values, formatted."""
    tx = _tx(language)
    hr = cox.hazard_ratios
    return pd.DataFrame({
        tx("col_covariate"): hr["covariate"].map(covariate_labels(hr["covariate"], language)),
        tx("col_hazard_ratio"): hr["hazard_ratio"].map(lambda x: tx.number(x, 2)),
        tx("col_ci"): [f"{tx.number(lo, 2)}–{tx.number(hi, 2)}" for lo, hi in zip(hr["lower"], hr["upper"])],
        "p": hr["p"].map(lambda p: fmt_p(p, tx)),
    })


def monthly_table(kpis: RetentionKPIs, language: str = "en") -> pd.DataFrame:
    """Customers active, new, lost, returned and the churn rate per month, formatted."""
    tx = _tx(language)
    m = kpis.monthly
    return pd.DataFrame({
        tx("col_month"): m["month"], tx("col_active_start"): m["active_start"].map(tx.number),
        tx("col_new"): m["new"].map(tx.number), tx("col_lost"): m["lost"].map(tx.number),
        tx("col_returned"): m["returned"].map(tx.number), tx("col_active_end"): m["active"].map(tx.number),
        tx("col_churn_rate"): [tx.pct(x, 1) if seen else tx("not_observable")
                               for x, seen in zip(m["churn_rate"], m.get("observable", pd.Series(True, index=m.index)))],
    })


def risk_table(risk: pd.DataFrame, language: str = "en") -> pd.DataFrame:
    """The "due next month" list, formatted (pseudonymous IDs only)."""
    tx = _tx(language)
    value_label_ = tx("col_clv") if (risk["value_basis"] == "clv").all() else tx("col_spend_365d")
    return pd.DataFrame({
        tx("col_customer"): risk["pseudonym"], tx("col_purchases"): risk["n_purchases"].map(tx.number),
        tx("col_days_silent"): risk["days_since_last_purchase"].map(tx.number),
        tx("col_deadline"): risk["deadline"].map(tx.date),
        tx("col_p_churn"): risk["p_churn_next_month"].map(lambda x: tx.pct(x, 0)),
        value_label_: risk["value"].map(tx.money),
        tx("col_value_lost"): risk["expected_value_lost"].map(tx.money),
    })


def contact_table(contacts: pd.DataFrame, language: str = "en") -> pd.DataFrame:
    """The contact-first list (:meth:`analysis.base.state.CustomerBase.contact_list`), formatted; pseudonyms only."""
    tx = _tx(language)
    return pd.DataFrame({
        tx("col_customer"): contacts["pseudonym"],
        tx("col_purchases"): contacts["n_purchases"].map(tx.number),
        tx("col_days_silent"): contacts["days_silent"].map(tx.number),
        tx("col_p_alive"): contacts["p_alive"].map(lambda x: tx.pct(x, 0)),
        tx("col_clv"): contacts["clv"].map(tx.money),
        tx("col_value_at_stake"): contacts["value_at_stake"].map(tx.money),
    })


# --------------------------------------------------------------------------
# Figures: take results, return an Axes, never compute
# --------------------------------------------------------------------------
def plot_survival(result, ax=None, *, language: str = "en", bands: bool = True, max_months: float | None = None):
    """Kaplan-Meier curve(s) with confidence bands, x axis in months.

    Parameters
    ----------
    result : KaplanMeierResult or GroupSurvival
    ax : matplotlib Axes, optional
    bands : bool
        Shade the pointwise confidence band.
    max_months : float, optional
        Cut the x axis.

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt  # local: heavy import, kept off the start-up path

    tx = _tx(language)
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    curves = list(result.curves.values()) if isinstance(result, GroupSurvival) else [result]
    for km in curves:
        s = km.survival
        months = s["time"].to_numpy() * km.unit_days / DAYS_PER_MONTH
        line, = ax.step(months, s["survival"], where="post", label=f"{value_label(km.label, tx)} (n={tx.number(km.n)})")
        if bands:
            ax.fill_between(months, s["lower"], s["upper"], step="post", alpha=0.15, color=line.get_color())
    ax.set_xlabel(tx("axis_months"))
    ax.set_ylabel(tx("axis_survival"))
    ax.set_ylim(0, 1.02)
    ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: tx.pct(v, 0)))
    if max_months is not None:
        ax.set_xlim(0, max_months)
    ax.grid(alpha=0.3)
    if len(curves) > 1:
        ax.legend(fontsize="small", loc="lower left")
    return ax


def plot_forest(cox: CoxResult, ax=None, *, language: str = "en", labels: Mapping[str, str] | None = None):
    """Forest plot of hazard ratios with their confidence intervals (log x axis, line at 1).

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt  # local: heavy import, kept off the start-up path
    from matplotlib.ticker import FuncFormatter, LogLocator  # local: heavy import, kept off the start-up path

    tx = _tx(language)
    hr = cox.hazard_ratios.iloc[::-1].reset_index(drop=True)
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 0.35 * len(hr) + 1.2))
    labels = labels if labels is not None else covariate_labels(hr["covariate"], language)
    y = np.arange(len(hr))
    sig = hr["p"] < cox.alpha
    ax.errorbar(hr["hazard_ratio"], y, xerr=[hr["hazard_ratio"] - hr["lower"], hr["upper"] - hr["hazard_ratio"]],
                fmt="none", ecolor="0.4", capsize=2)
    ax.scatter(hr["hazard_ratio"], y, c=np.where(sig, "C3", "0.5"), zorder=3)
    ax.axvline(1.0, color="0.2", lw=0.8, ls="--")
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(0.2, 0.3, 0.5, 0.7, 1.0, 1.5)))
    ax.xaxis.set_minor_locator(LogLocator(base=10, subs=()))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: tx.number(x, 2 if x < 1 else 1)))
    ax.set_yticks(y, [labels.get(c, c) for c in hr["covariate"]])
    ax.set_xlabel(tx("axis_hazard_ratio"))
    ax.grid(axis="x", alpha=0.3)
    return ax


def plot_cohort_heatmap(table: pd.DataFrame, ax=None, *, language: str = "en", max_months: int | None = 24):
    """Heat map of a cohort retention table (rows: cohorts, columns: months since start, values: shares).

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt  # local: heavy import, kept off the start-up path

    tx = _tx(language)
    data = table.copy()
    if max_months is not None:
        data = data.loc[:, [c for c in data.columns if int(c) <= max_months]]
    if ax is None:
        _, ax = plt.subplots(figsize=(min(14, 0.35 * data.shape[1] + 2.5), 0.28 * data.shape[0] + 1.5))
    im = ax.imshow(data.to_numpy(dtype=float), aspect="auto", cmap="YlGnBu", vmin=0, vmax=1)
    ax.set_xticks(range(data.shape[1]), [str(c) for c in data.columns], fontsize="small")
    ax.set_yticks(range(data.shape[0]), [str(i) for i in data.index], fontsize="small")
    ax.set_xlabel(tx("axis_months_since"))
    ax.set_ylabel(tx("axis_signup_month"))
    bar = ax.figure.colorbar(im, ax=ax, fraction=0.03, pad=0.02, format=plt.FuncFormatter(lambda v, _: tx.pct(v, 0)))
    bar.set_label(tx("axis_cohort_share"))
    return ax


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
# The page: one call per section
# --------------------------------------------------------------------------
class ChurnPage:
    """The churn page's sections in the report's language, from one :class:`~analysis.churn.ChurnAnalysis`.

    Each method shows one section (heading, sentences, figure, table); a part that could not be
    estimated shows its finding instead and the page goes on.
    """

    def __init__(self, analysis: ChurnAnalysis, base=None, language: str = "en", *, group_by: str | None = None):
        self.a = analysis
        self.base = base
        self.language = language
        self.tx = _tx(language)
        self.group_by = group_by if group_by is not None else (analysis.by_group.group_by if analysis.by_group else None)

    # helpers
    def _months(self, days: float) -> float:
        return days / DAYS_PER_MONTH

    def _finding(self, analysis: str) -> bool:
        f = self.a.finding(analysis)
        if f is None:
            return False
        show_finding(localised_finding(f, self.language), self.language)
        return True

    # sections
    def key_numbers_section(self) -> None:
        tx, a = self.tx, self.a
        heading(tx("title"), 1)
        say(tx("intro", date=tx.date(a.as_of), n=tx.number(a.overall.n)))
        heading(tx("h_key_numbers"))
        show_numbers(key_numbers(a, self.base), self.language)

    def definition_section(self) -> None:
        heading(self.tx("h_definition"))
        record = getattr(self.base, "series_threshold", None) or {}
        d = self.a.definition
        if record.get("origin") == "series" and d.method == "inactivity":
            # the series' threshold, not the analyst's choice: say where it came from instead
            say(self.tx("definition_inactivity", n=d.inactivity_days))
        else:
            say(definition_sentence(d, self.language))
        extra = series_sentence(record, self.language) if d.method == "inactivity" else None
        if extra:
            say(extra)

    def curves_section(self, max_months: float = 30) -> None:
        import matplotlib.pyplot as plt  # local: heavy import, kept off the start-up path

        tx, a = self.tx, self.a
        heading(tx("h_curves"))
        s = a.overall.survival_at_months()
        if np.isfinite(a.overall.median):
            say(tx("overall_sentence", median=tx("after_months", m=tx.number(self._months(a.overall.median), 1)),
                   s6=tx.pct(s[6], 0), s12=tx.pct(s[12], 0)))
        else:
            say(tx("overall_sentence_no_median", s6=tx.pct(s[6], 0), s12=tx.pct(s[12], 0)))
        group_label = attribute_label(self.group_by, self.language) if self.group_by else ""
        curves = a.by_group if a.by_group is not None else a.overall
        fig, ax = plt.subplots(figsize=(8, 4.5))
        plot_survival(curves, ax=ax, language=self.language, max_months=max_months)
        n = a.definition.inactivity_days or a.kpis.inactivity_days
        show_figure(fig, tx("fig_curves", group_by=group_label), tx("fig_curves_alt", group_by=group_label, n=n))
        if a.by_group is not None:
            say(group_sentence(a.by_group, self.language))
            show_group_table(survival_table([a.overall, *a.by_group.curves.values()], self.language),
                             tx("tab_survival"), self.language)
        else:
            self._finding("survival.groups")
            show_group_table(survival_table([a.overall], self.language), tx("tab_survival"), self.language)
        show_table(at_risk_report(a.overall, language=self.language), tx("tab_at_risk"))

    def cohorts_section(self, max_months: int = 24) -> None:
        import matplotlib.pyplot as plt  # local: heavy import, kept off the start-up path

        tx, c = self.tx, self.a.cohorts
        heading(tx("h_cohorts"))
        if c.empty:
            say(tx("cohorts_none"))
            return
        say(tx("cohorts_text") if c.attrs.get("cohort_by") == "signup" else tx("cohorts_text_fp"))
        fig, ax = plt.subplots(figsize=(11, 7))
        plot_cohort_heatmap(c, ax=ax, language=self.language, max_months=max_months)
        show_figure(fig, tx("fig_cohorts"), tx("fig_cohorts_alt"))

    def cox_section(self) -> None:
        import matplotlib.pyplot as plt  # local: heavy import, kept off the start-up path

        tx, cc = self.tx, self.a.cox
        heading(tx("h_cox"))
        if cc is None:
            self._finding("survival.cox")
            return
        say(tx("cox_text", w=cc.window_days, refs=reference_labels(cc.references, self.language),
               n=tx.number(cc.cox.n), c=tx.pct(cc.cox.concordance, 0)))
        if getattr(cc, "n_eligible", None):  # a big base: the model ran on a seeded subsample (churn.COX_CUSTOMERS)
            say(tx("cox_sample_text", n=tx.number(cc.cox.n), total=tx.number(cc.n_eligible)))
        pooled = pooled_levels_sentence(cc.pooled, self.language)
        if pooled:
            say(pooled)
        labels = covariate_labels(cc.cox.params.index, self.language)
        fig, ax = plt.subplots(figsize=(8, 0.32 * len(labels) + 1.5))
        plot_forest(cc.cox, ax=ax, language=self.language, labels=labels)
        show_figure(fig, tx("fig_forest"), tx("fig_forest_alt"))
        show_table(hazard_ratio_table(cc.cox, self.language), tx("tab_hazard_ratios"))

    def ph_section(self) -> None:
        cc = self.a.cox
        if cc is None or cc.cox.ph_check is None:
            return  # nothing to check: the Cox section already said why
        heading(self.tx("h_ph"))
        say(ph_sentence(cc.cox.ph_check, self.language))

    def kpis_section(self) -> None:
        tx, k = self.tx, self.a.kpis
        heading(tx("h_kpis"))
        say(tx("retention_text", base=tx.number(k.customers_at_reference), ref=tx.date(k.reference_date),
               n=k.inactivity_days, retained=tx.number(k.retained), date=tx.date(k.as_of),
               rate=tx.pct(k.retention_rate, 1)))
        observable = k.months_observable if k.months_observable is not None else len(k.monthly)
        if observable == 0:
            say(tx("churn_rate_none_observable", start=tx.date(k.log_start), n=k.inactivity_days,
                   from_=tx.date(k.observable_from)))
        else:
            say(tx("churn_rate_text", months=len(k.monthly), m=tx.pct(k.monthly_churn_rate, 1),
                   a=tx.pct(k.annual_churn_rate, 1)))
            if observable < len(k.monthly):
                say(tx("churn_rate_observable", k=observable, months=len(k.monthly), n=k.inactivity_days,
                       start=tx.date(k.log_start), from_=tx.date(k.observable_from)))
        show_table(monthly_table(k, self.language), tx("tab_monthly"))

    def risk_section(self) -> None:
        tx, r = self.tx, self.a.risk
        heading(tx("h_risk"))
        basis = tx("basis_clv") if (r["value_basis"] == "clv").all() else tx("basis_spend")
        say(tx("risk_text", n_due=tx.number(r.attrs["n_due"]), n=r.attrs["inactivity_days"],
               expected=tx.number(r.attrs["expected_churners"]), top=len(r), basis=basis))
        show_table(risk_table(r, self.language), tx("tab_risk"))

    def contact_section(self, top: int = 20) -> None:
        """The month's one contact-first list (the customer base's; the same as on the customer-value page)."""
        tx, base = self.tx, self.base
        if base is None:
            return
        heading(tx("h_contact"))
        if not base.estimated("clv"):
            f = base.finding("clv")
            show_finding(f if f is not None else Finding("clv", "not_estimable"), self.language)
            return
        contacts = base.contact_list()
        if contacts.empty:
            say(tx("contact_none"))
            return
        say(tx("contact_text", n=tx.number(len(contacts)), top=min(top, len(contacts)),
               floor=tx.pct(base.settings.contact_p_alive_floor, 0)))
        show_table(contact_table(contacts.head(top), self.language), tx("tab_contact"))


__all__ = ["SHARED_CONCEPTS", "ChurnPage", "at_risk_report", "attribute_label", "contact_table", "covariate_labels", "definition_sentence", "fmt_p", "series_sentence",
           "group_sentence", "hazard_ratio_table", "key_numbers", "localised_finding", "monthly_table",
           "ph_sentence", "plot_cohort_heatmap", "plot_forest", "plot_survival", "pooled_levels_sentence",
           "reference_labels", "risk_table", "survival_table", "value_label"]
