"""One month's segmentation: every customer's pyramid class, strategy group, stage, RFM segment and cluster.
:func:`assign_segments` labels a customer table (no data access); :func:`segment_customers` loads one.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis import customers, data
from analysis.clv import customer_value
from analysis.errors import ParameterError
from analysis.findings import Estimation
from analysis.segments.clusters import BehaviourClusters
from analysis.segments.pyramid import abc_classes, pyramid_table, run_rate_value, strategy_groups
from analysis.segments.rfm import rfm_scores
from analysis.segments.settings import (ABC_CLASSES, CLASS_CONCEPTS, NO_PURCHASE, RFM_SEGMENTS, STAGE_CONCEPTS, STAGES,
                                        STRATEGY_GROUPS, SegmentSettings, as_date, check_table, json_records)
from analysis.segments.stages import lifecycle_stages, return_dates


@dataclass(frozen=True)
class Segmentation:
    """All segment labels of one month.

    Attributes
    ----------
    as_of : Timestamp
    settings : SegmentSettings
    table : DataFrame, one row per customer: customer_id, value, current_value, potential_value,
        p_alive, abc_class (None for prospects), strategy_group, lifecycle_stage, r/f/m/fm scores,
        rfm_segment, cluster (Int64, missing for prospects) and the customer-table columns used.
    clusters : BehaviourClusters or None (None when skipped or when they could not be estimated)
    findings : tuple of analysis.findings.Finding
        What could not be estimated (e.g. too few buyers to cluster); the rest of the labels stand.
    potential_basis : {"clv", "run_rate"}
        What ``potential_value`` is: each customer's CLV over ``settings.horizon_months`` (sums to
        the customer equity), or the run-rate fallback (:func:`run_rate_value`) when no CLV was given.
    """

    as_of: pd.Timestamp
    settings: SegmentSettings
    table: pd.DataFrame
    clusters: BehaviourClusters | None = field(default=None, compare=False)
    potential_basis: str = "run_rate"
    findings: tuple = ()

    def pyramid(self) -> pd.DataFrame:
        value = self.table["value"] if self.settings.value_basis == "clv" else None
        return pyramid_table(self.table, self.table["abc_class"], value)

    def counts(self, column: str) -> pd.Series:
        """Customers per label (prospects have no pyramid class, so ``abc_class`` counts buyers)."""
        order = {"lifecycle_stage": STAGES, "abc_class": ABC_CLASSES, "strategy_group": STRATEGY_GROUPS,
                 "rfm_segment": RFM_SEGMENTS + (NO_PURCHASE,)}.get(column)
        c = self.table[column].value_counts()
        return c.reindex(list(order), fill_value=0) if order else c.sort_index()

    def strategy_table(self) -> pd.DataFrame:
        """Per strategy group: customers, share, current value (spend) and potential value, with shares."""
        t = self.table
        g = t.groupby("strategy_group").agg(customers=("customer_id", "size"), current_value=("current_value", "sum"),
                                            potential_value=("potential_value", "sum"))
        g = g.reindex(list(STRATEGY_GROUPS), fill_value=0)
        g.insert(1, "customer_share", g["customers"] / max(len(t), 1))
        for col in ("current_value", "potential_value"):
            tot = g[col].sum()
            g[col.replace("_value", "_share")] = g[col] / tot if tot else np.nan
        return g.reset_index()

    def key_numbers(self) -> dict[str, float | int | None]:
        """The page's numbers by concept id (:mod:`analysis.base.concepts`): stage counts, classes, A's revenue share."""
        stages = self.counts("lifecycle_stage")
        classes = self.counts("abc_class")
        out: dict[str, float | int | None] = {STAGE_CONCEPTS[k]: int(stages[k]) for k in STAGES}
        out.update({CLASS_CONCEPTS[k]: int(classes[k]) for k in ABC_CLASSES})
        share = float(self.pyramid().set_index("abc_class").loc["A", "revenue_share"])
        out["a_revenue_share"] = share if np.isfinite(share) else None
        return out

    def summary(self) -> pd.DataFrame:
        """Customers per lifecycle stage, pyramid class and strategy group (long format)."""
        rows = []
        for col in ("lifecycle_stage", "abc_class", "strategy_group", "rfm_segment"):
            for k, v in self.counts(col).items():
                rows.append((col, k, int(v)))
        return pd.DataFrame(rows, columns=["segmentation", "segment", "customers"])

    def to_dict(self) -> dict:
        """as_of, settings, potential basis, the counts and the key numbers (JSON-able)."""
        return {"as_of": self.as_of.date().isoformat(), "settings": dataclasses.asdict(self.settings),
                "potential_basis": self.potential_basis, "customers": int(len(self.table)),
                "k": None if self.clusters is None else int(self.clusters.k_),
                "counts": json_records(self.summary()), "key_numbers": self.key_numbers(),
                "findings": [f.to_dict() for f in self.findings]}

    def _repr_html_(self) -> str:
        return (f"<p>Segmentation on {self.as_of.date()}: {len(self.table)} customers</p>"
                + self.summary().pivot_table(index="segment", columns="segmentation", values="customers",
                                             sort=False).to_html(na_rep=""))

    @classmethod
    def from_states(cls, customers: pd.DataFrame, as_of, settings: SegmentSettings | None = None,
                    clusters: "BehaviourClusters | None" = None,
                    potential_basis: str | None = None) -> "Segmentation":
        """A segmentation from states computed elsewhere (the month's customer base), without recomputing them.

        ``customers`` has one row per customer with the customer-table columns and
        ``abc_class``, ``strategy_group``, ``lifecycle_stage``, ``rfm_segment`` (``cluster``,
        ``potential_value`` and ``clv`` optional). With ``potential_basis`` the ``potential_value``
        column is the one the strategy groups were formed on; without it the potential value is the
        ``clv`` column where one is given, else the run-rate fallback, as in :func:`assign_segments`.
        """
        s = settings or SegmentSettings()
        as_of = as_date(as_of)
        check_table(customers, ("customer_id", "n_purchases", "total_spend", "abc_class", "strategy_group",
                                 "lifecycle_stage", "rfm_segment"))
        t = customers.copy()
        t["customer_id"] = t["customer_id"].astype(str)
        t["current_value"] = t["total_spend"].astype(float).fillna(0.0)
        if potential_basis is not None and "potential_value" in t:
            basis = potential_basis
            t["potential_value"] = t["potential_value"].astype(float).fillna(0.0)
        else:
            basis = "clv" if "clv" in t and t["clv"].notna().any() else "run_rate"
            t["potential_value"] = (t["clv"].astype(float).fillna(0.0) if basis == "clv"
                                    else run_rate_value(t, as_of, s.passive_days, _horizon_days(s.horizon_months)))
        t["value"] = t["potential_value"] if s.value_basis == "clv" else t["current_value"]
        if "p_alive" not in t:
            t["p_alive"] = np.nan
        t["abc_class"] = t["abc_class"].astype(object).where(t["abc_class"].notna(), None)
        t["cluster"] = (t["cluster"] if "cluster" in t else pd.Series(pd.NA, index=t.index)).astype("Int64")
        return cls(as_of=as_of, settings=s, table=t, clusters=clusters, potential_basis=basis)


def _horizon_days(horizon_months: int) -> int:
    """The potential-value horizon in days (12 months = 365 days)."""
    return int(round(horizon_months * 365.25 / 12))


def assign_segments(table: pd.DataFrame, as_of, settings: SegmentSettings | None = None,
                    clv: pd.DataFrame | None = None, previous_clusters=None,
                    with_clusters: bool = True) -> Segmentation:
    """Label every customer of a customer table (pure: no data access).

    Parameters
    ----------
    table : DataFrame
        Customer table, prospects included where known (``return_date`` optional).
    as_of : date
    settings : SegmentSettings
    clv : DataFrame[customer_id, p_alive, clv], optional
        Each customer's CLV over ``settings.horizon_months`` (the customer equity's horizon).
        When given it is the potential value of the strategy groups; without it the potential
        value is the run-rate fallback (:func:`run_rate_value`). Needed when
        ``settings.value_basis == "clv"`` (the pyramid then ranks by it, and P(alive) feeds
        the lapsing rule).
    previous_clusters : BehaviourClusters or DataFrame, optional
        Last month's model or centroid table, so cluster numbers keep their meaning.
    with_clusters : bool
        False skips the clustering (``cluster`` stays empty) where only the other labels are needed.
    """
    s = settings or SegmentSettings()
    as_of = as_date(as_of)
    check_table(table)
    t = table.copy()
    t["customer_id"] = t["customer_id"].astype(str)
    t["current_value"] = t["total_spend"].astype(float).fillna(0.0)
    if s.value_basis == "clv" and clv is None:
        raise ParameterError("value_basis: got 'clv' without CLV values, expected a CLV table or value_basis='spend'.")
    p_alive = None
    if clv is not None:
        c = clv.assign(customer_id=clv["customer_id"].astype(str)).set_index("customer_id")
        t["p_alive"] = t["customer_id"].map(c["p_alive"]).astype(float) if "p_alive" in c else np.nan
        t["potential_value"] = t["customer_id"].map(c["clv"]).astype(float).fillna(0.0)
        basis = "clv"
        if s.value_basis == "clv":
            p_alive = t["p_alive"]
    else:
        t["p_alive"] = np.nan
        t["potential_value"] = run_rate_value(t, as_of, s.passive_days, _horizon_days(s.horizon_months))
        basis = "run_rate"
    t["value"] = t["potential_value"] if s.value_basis == "clv" else t["current_value"]
    t["abc_class"] = abc_classes(t, t["value"], s.a_share, s.b_share)
    t["strategy_group"] = strategy_groups(t, t["potential_value"], s.keep_share, s.potential_share)
    t["lifecycle_stage"] = lifecycle_stages(t, as_of, s, p_alive)
    t = t.join(rfm_scores(t))
    clusters = None
    t["cluster"] = pd.array([pd.NA] * len(t), dtype="Int64")
    estimation = Estimation()
    if with_clusters:  # too few buyers to cluster is a finding: the other labels stand
        model = BehaviourClusters(s.n_clusters, s.k_range, s.cluster_method, s.random_state)
        clusters = estimation.attempt("segments.clusters", lambda: model.fit(t, previous=previous_clusters))
        if clusters is not None:
            t["cluster"] = t["customer_id"].map(clusters.labels_).astype("Int64")
    return Segmentation(as_of=as_of, settings=s, table=t, clusters=clusters, potential_basis=basis,
                        findings=tuple(estimation.findings))


def as_source(source_or_path, as_of):
    if isinstance(source_or_path, (str, os.PathLike)):
        return data.load_source(source_or_path, as_of=as_of)
    return source_or_path


def segment_customers(source, as_of, previous_clusters=None, with_clusters: bool = True,
                      **params) -> Segmentation:
    """Load the customer table at ``as_of`` (prospects included) and label every customer.

    Parameters
    ----------
    source : path or analysis.data.Source
    as_of : date
    previous_clusters : BehaviourClusters or DataFrame, optional
        Last month's model or centroid table (cluster numbers keep their meaning).
    **params : SegmentSettings fields (a_share, value_basis, passive_days, n_clusters, ...)

    Example
    -------
    >>> seg = segment_customers("data/sample", "2026-10-31", n_clusters=4)  # doctest: +SKIP
    """
    s = SegmentSettings.from_params(**params)
    as_of = as_date(as_of)
    src = as_source(source, as_of)
    table = customers.customer_table(src, as_of, include_prospects=True)
    table = table.assign(customer_id=table["customer_id"].astype(str))
    back = return_dates(src, as_of, s.passive_days)
    table = table.merge(back, on="customer_id", how="left")
    clv = _customer_value(src, as_of, s) if s.value_basis == "clv" else None
    return assign_segments(table, as_of, s, clv=clv, previous_clusters=previous_clusters,
                           with_clusters=with_clusters)


def _customer_value(src, as_of, s: SegmentSettings) -> pd.DataFrame:
    return customer_value(src, as_of, horizon_months=s.horizon_months)

