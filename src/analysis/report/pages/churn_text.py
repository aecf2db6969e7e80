"""The churn page's words: labels, sentences and formatted tables made from :mod:`analysis.churn` results.

Everything here takes language-free results and the report's language and returns strings or
DataFrames; the words are in ``strings/churn.json``. :mod:`analysis.report.pages.churn` builds the page from them.
"""
from __future__ import annotations

import re
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from analysis.churn import (OTHER, ChurnDefinition, CoxResult, GroupSurvival, KaplanMeierResult, PHCheck,
                            RetentionKPIs)
from analysis.data import suppress_small_groups
from analysis.report.text import Text
from analysis.units import DAYS_PER_MONTH



def words(language: str) -> Text:
    """The churn page's strings in ``language`` (``strings/churn.json``)."""
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
    tx = words(language)
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
    tx = words(language)
    return ", ".join(_level_label(a, str(v), tx) for a, v in references.items())


def covariate_labels(names: Sequence[str], language: str = "en") -> dict[str, str]:
    """Readable covariate names: ``log_spend_90d`` -> "Spend (log), first 90 days", ``region=Lappi`` -> "region: Lappi".

    Example
    -------
    >>> covariate_labels(["log_spend_90d", "region=Lappi"])
    {'log_spend_90d': 'Spend (log), first 90 days', 'region=Lappi': 'region: Lappi'}
    """
    tx = words(language)
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
    tx = words(language)
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
    tx = words(language)
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
    tx = words(language)
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
    tx = words(language)
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
    tx = words(language)
    parts = [tx("attr_level", attr=attribute_label(a, language),
                level=", ".join(_level_value(str(v), tx) for v in levels))
             for a, levels in pooled.items()]
    return tx("cox_pooled", levels="; ".join(parts))


# --------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------
def survival_table(results: Sequence[KaplanMeierResult], language: str = "en") -> pd.DataFrame:
    """Median lifetime and survival at 3/6/12 months (with 95 % bands) as a formatted report table."""
    tx = words(language)
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
    tx = words(language)
    t = km.at_risk_table([m * DAYS_PER_MONTH / km.unit_days for m in months])
    return pd.DataFrame({tx("col_month"): list(months), tx("at_risk"): t["at_risk"].map(tx.number),
                         tx("col_churned_cum"): t["churned"].map(tx.number),
                         tx("col_censored_cum"): t["censored"].map(tx.number)})


def hazard_ratio_table(cox: CoxResult, language: str = "en") -> pd.DataFrame:
    """Hazard ratios with CIs and p-values, formatted."""
    tx = words(language)
    hr = cox.hazard_ratios
    return pd.DataFrame({
        tx("col_covariate"): hr["covariate"].map(covariate_labels(hr["covariate"], language)),
        tx("col_hazard_ratio"): hr["hazard_ratio"].map(lambda x: tx.number(x, 2)),
        tx("col_ci"): [f"{tx.number(lo, 2)}–{tx.number(hi, 2)}" for lo, hi in zip(hr["lower"], hr["upper"])],
        "p": hr["p"].map(lambda p: fmt_p(p, tx)),
    })


def monthly_table(kpis: RetentionKPIs, language: str = "en") -> pd.DataFrame:
    """Customers active, new, lost, returned and the churn rate per month, formatted."""
    tx = words(language)
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
    tx = words(language)
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
    tx = words(language)
    return pd.DataFrame({
        tx("col_customer"): contacts["pseudonym"],
        tx("col_purchases"): contacts["n_purchases"].map(tx.number),
        tx("col_days_silent"): contacts["days_silent"].map(tx.number),
        tx("col_p_alive"): contacts["p_alive"].map(lambda x: tx.pct(x, 0)),
        tx("col_clv"): contacts["clv"].map(tx.money),
        tx("col_value_at_stake"): contacts["value_at_stake"].map(tx.money),
    })


