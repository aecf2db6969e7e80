"""The segments page's words and tables: rule tables, stage and cluster names, advice, formatted tables.

Everything here takes the language-free results of :mod:`analysis.segments` plus the report's language and
returns strings or DataFrames; the words live in ``strings/segments.json``.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from analysis.data.privacy import suppress_small_groups
from analysis.report.text import Text, fmt_number
from analysis.segments import (
    NO_PURCHASE,
    NOT_REGISTERED,
    RFM_SEGMENTS,
    STAGE_RULE_ORDER,
    STAGES,
    STRATEGY_GROUPS,
    BehaviourClusters,
    MonthlySegments,
    Segmentation,
    SegmentSettings,
    rfm_grid,
)


def words(language: str) -> Text:
    """The segments page's strings in ``language`` (``strings/segments.json``)."""
    return Text("segments", language)


def _label(tx: Text, prefix: str, key) -> str:
    return tx(f"{prefix}{key}") if tx.has(f"{prefix}{key}") else str(key)


def stage_label(stage: str, tx: Text, settings: SegmentSettings | None = None) -> str:
    """The stage's name; "returned" names its window ("Returned within the last 30 days")."""
    s = settings or SegmentSettings()
    if stage == NOT_REGISTERED:
        return tx("stage_not_registered")
    return tx(f"stage_{stage}", returned_days=s.returned_days) if tx.has(f"stage_{stage}") else str(stage)


# --- rule tables ---------------------------------------------------------------------------------
def strategy_rules(settings: SegmentSettings | None = None, language: str = "en",
                   potential_basis: str | None = None) -> pd.DataFrame:
    """The strategy-group rules as a table (group, rule), saying what the potential value is.

    ``potential_basis`` ("clv" or "run_rate", :attr:`Segmentation.potential_basis`); by default
    it follows ``settings.value_basis``.
    """
    s, tx = settings or SegmentSettings(), words(language)
    basis = potential_basis or ("clv" if s.value_basis == "clv" else "run_rate")
    potential = tx("potential_clv" if basis == "clv" else "potential_run_rate", months=s.horizon_months)
    values = dict(keep=tx.pct(s.keep_share, 0), potential=tx.pct(s.potential_share, 0), potential_def=potential)
    return pd.DataFrame({
        tx("col_group"): [tx(f"group_{g}") for g in STRATEGY_GROUPS],
        tx("col_rule"): [tx(f"rule_group_{g}", **values) for g in STRATEGY_GROUPS],
    })


def stage_rules(settings: SegmentSettings | None = None, language: str = "en") -> pd.DataFrame:
    """The lifecycle rules as a table (order, stage, rule) in the report's language; first match wins."""
    s, tx = settings or SegmentSettings(), words(language)
    values = dict(new_days=s.new_days, passive_days=s.passive_days, factor=tx.number(s.lapsing_factor, 1),
                  min_days=s.lapsing_min_days, returned_days=s.returned_days,
                  p_alive=tx.number(s.p_alive_threshold, 2))
    rules = []
    for i, stage in enumerate(STAGE_RULE_ORDER, start=1):
        text = tx(f"rule_stage_{stage}", **values)
        if stage == "lapsing" and s.value_basis == "clv":
            text += " " + tx("rule_stage_lapsing_p_alive", **values)
        rules.append((i, stage_label(stage, tx, s), text))
    return pd.DataFrame(rules, columns=[tx("col_order"), tx("col_stage"), tx("col_rule")])


def rfm_grid_report(language: str = "en") -> pd.DataFrame:
    """:func:`analysis.segments.rfm_grid` with the segment names in the report's language."""
    tx = words(language)
    return rfm_grid().map(lambda k: tx(f"rfm_{k}"))


# --- cluster names and advice ------------------------------------------------------------------------
def cluster_names(clusters: BehaviourClusters | None, table: pd.DataFrame | None = None,
                  language: str = "en") -> pd.Series:
    """Plain-language name per cluster from :meth:`BehaviourClusters.traits` ("Frequent, online, high value")."""
    if clusters is None:
        return pd.Series(dtype=object, name="cluster_name")
    tx = words(language)
    names = {}
    for row in clusters.traits(table).itertuples(index=False):
        parts = [tx(f"trait_{code}") for code in (row.trait_1, row.trait_2) if code]
        if row.category:
            cat = row.category
            label = tx(f"category_{cat}") if tx.has(f"category_{cat}") else cat.replace("_", " ")
            parts.append(tx("trait_mostly", category=label))
        parts.append(tx(f"value_{row.value_level}"))
        name = ", ".join(parts)
        names[int(row.cluster)] = name[:1].upper() + name[1:]
    seen: dict[str, int] = {}
    for c in sorted(names):  # two clusters with the same traits get (2), (3)
        n = names[c]
        seen[n] = seen.get(n, 0) + 1
        if seen[n] > 1:
            names[c] = f"{n} ({seen[n]})"
    return pd.Series(names, name="cluster_name", dtype=object).sort_index()


def segment_advice(seg: Segmentation, language: str = "en") -> list[str]:
    """One Markdown paragraph per segment (lifecycle stage, strategy group, cluster) on what to do with it.

    Each paragraph names the segment, its size and its share of revenue, then the
    recommended action (clusters: by :func:`analysis.segments.cluster_advice_kind`).
    """
    tx = words(language)
    t = seg.table
    total = t["current_value"].sum()

    def para(title, mask, advice):
        n, share = int(mask.sum()), (t.loc[mask, "current_value"].sum() / total if total else float("nan"))
        return tx("advice_line", title=title, n=tx.number(n), share=tx.pct(share, 1), advice=advice)

    out = [para(stage_label(s, tx, seg.settings), t["lifecycle_stage"] == s, tx(f"advice_stage_{s}")) for s in STAGES]
    out += [para(tx(f"group_{g}"), t["strategy_group"] == g, tx(f"advice_group_{g}")) for g in STRATEGY_GROUPS]
    if seg.clusters is not None:
        names = cluster_names(seg.clusters, t, language)
        for row in seg.clusters.traits(t).itertuples(index=False):
            c = int(row.cluster)
            title = tx("cluster_title", k=c, name=names[c])
            out.append(para(title, t["cluster"] == c, tx(f"advice_cluster_{row.advice}")))
    return out


# --- tables (formatted in the report's language) -------------------------------------------------------
def pyramid_report(pyramid: pd.DataFrame, language: str = "en") -> pd.DataFrame:
    """:func:`analysis.segments.pyramid_table` with formatted numbers and translated headers (buyers only)."""
    tx = words(language)
    return _groups(pyramid["customers"], tx("col_customers"), tx("col_class"), {
        tx("col_class"): pyramid["abc_class"],
        tx("col_customers"): pyramid["customers"].map(tx.number),
        tx("col_customer_share"): pyramid["customer_share"].map(lambda v: tx.pct(v, 1)),
        tx("col_textbook_customer_share"): pyramid["textbook_customer_share"].map(lambda v: tx.pct(v, 0)),
        tx("col_revenue"): pyramid["revenue"].map(tx.money),
        tx("col_revenue_share"): pyramid["revenue_share"].map(lambda v: tx.pct(v, 1)),
        tx("col_textbook_revenue_share"): pyramid["textbook_revenue_share"].map(lambda v: tx.pct(v, 0)),
    })


def _groups(counts, count_column: str, label_column: str, columns: Mapping) -> pd.DataFrame:
    """A stakeholder table of groups: a group of fewer than ``MIN_GROUP_SIZE`` customers shows no numbers."""
    table = pd.DataFrame(columns)
    return suppress_small_groups(table, counts, keep=[label_column], count_column=count_column)


def strategy_report(strategy: pd.DataFrame, language: str = "en", potential_basis: str = "run_rate",
                    horizon_months: int = 12) -> pd.DataFrame:
    """:meth:`Segmentation.strategy_table` with formatted numbers; the potential column names its basis."""
    tx = words(language)
    potential = tx(f"col_potential_value_{potential_basis}", months=horizon_months)
    return _groups(strategy["customers"], tx("col_customers"), tx("col_group"), {
        tx("col_group"): strategy["strategy_group"].map(lambda g: tx(f"group_{g}")),
        tx("col_customers"): strategy["customers"].map(tx.number),
        tx("col_customer_share"): strategy["customer_share"].map(lambda v: tx.pct(v, 1)),
        tx("col_current_value"): strategy["current_value"].map(tx.money),
        tx("col_current_share"): strategy["current_share"].map(lambda v: tx.pct(v, 1)),
        potential: strategy["potential_value"].map(tx.money),
        tx("col_potential_share"): strategy["potential_share"].map(lambda v: tx.pct(v, 1)),
    })


def stage_counts_report(monthly: MonthlySegments, language: str = "en") -> pd.DataFrame:
    """Customers per lifecycle stage now, at the previous month end, and the change."""
    tx = words(language)
    s = monthly.summary()
    now, before = s["customers"].to_numpy(float), s["previous"].to_numpy(float)
    smallest = np.where((now > 0) & (before > 0), np.minimum(now, before), np.maximum(now, before))
    return _groups(smallest, tx("col_customers"), tx("col_stage"), {
        tx("col_stage"): [stage_label(k, tx, monthly.current.settings) for k in s["lifecycle_stage"]],
        tx("col_customers"): s["customers"].map(tx.number).to_numpy(),
        tx("col_share"): (s["customers"] / max(int(s["customers"].sum()), 1)).map(lambda v: tx.pct(v, 1)).to_numpy(),
        tx("col_previous_month"): s["previous"].map(tx.number).to_numpy(),
        tx("col_change"): s["change"].map(lambda d: fmt_number(d, language, 0, signed=bool(d))).to_numpy(),
    })


def rfm_report(seg: Segmentation, language: str = "en") -> pd.DataFrame:
    """Customers and revenue share per named RFM segment."""
    tx = words(language)
    t = seg.table
    g = t.groupby("rfm_segment").agg(customers=("customer_id", "size"), revenue=("current_value", "sum"))
    g = g.reindex(list(RFM_SEGMENTS) + [NO_PURCHASE], fill_value=0)
    total = g["revenue"].sum()
    return _groups(g["customers"], tx("col_customers"), tx("col_rfm_segment"), {
        tx("col_rfm_segment"): [tx(f"rfm_{k}") for k in g.index],
        tx("col_customers"): g["customers"].map(tx.number).to_numpy(),
        tx("col_customer_share"): (g["customers"] / max(len(t), 1)).map(lambda v: tx.pct(v, 1)).to_numpy(),
        tx("col_revenue_share"): (g["revenue"] / total if total else g["revenue"] * np.nan).map(
            lambda v: tx.pct(v, 1)).to_numpy(),
    })


def profile_report(profile: pd.DataFrame, names: Mapping[int, str] | pd.Series | None = None,
                   language: str = "en") -> pd.DataFrame:
    """:meth:`BehaviourClusters.profile` with the cluster names, formatted numbers and translated headers."""
    tx = words(language)
    names = pd.Series(names if names is not None else {}, dtype=object)
    table = _groups(profile["customers"], tx("col_customers"), tx("col_cluster"), {
        tx("col_cluster"): profile["cluster"].astype(int),
        tx("col_name"): profile["cluster"].map(names).fillna(""),
        tx("col_customers"): profile["customers"].map(tx.number),
        tx("col_customer_share"): profile["customer_share"].map(lambda v: tx.pct(v, 1)),
        tx("col_value_share"): profile["value_share"].map(lambda v: tx.pct(v, 1)),
        tx("col_purchase_days"): profile["purchase_days"].map(lambda v: tx.number(v, 1)),
        tx("col_recency_days"): profile["recency_days"].map(tx.number),
        tx("col_spend"): profile["spend"].map(tx.money),
        tx("col_tenure_days"): profile["tenure_days"].map(tx.number),
        tx("col_n_categories"): profile["n_categories"].map(lambda v: tx.number(v, 1)),
        tx("col_online_share"): profile["online_share"].map(lambda v: tx.pct(v, 0)),
        tx("col_spend_trend"): profile["spend_trend"].map(lambda v: tx.number(v, 2)),
    })
    blank = table[tx("col_customers")].str.startswith("<")  # a small cluster's name is made of its numbers too
    table.loc[blank, tx("col_name")] = ""
    return table


def localise_matrix(matrix: pd.DataFrame, column: str, language: str = "en",
                    settings: SegmentSettings | None = None) -> pd.DataFrame:
    """A transition matrix with translated row and column labels (stages, strategy groups or classes)."""
    tx = words(language)
    prefix = {"lifecycle_stage": "stage_", "strategy_group": "group_", "abc_class": "class_"}[column]

    def rename(k):
        if k in (NOT_REGISTERED, NO_PURCHASE) or prefix == "stage_":
            return stage_label(k, tx, settings)
        return _label(tx, prefix, k)

    return matrix.rename(index=rename, columns=rename)


