"""Segments and lifecycle: group customers by value, behaviour and stage, and follow their moves.
A/B/C pyramid, keep/develop/change, lifecycle stages, RFM, month-stable clusters, transitions, export.

Layer 4: every rule works on the customer table (one row per customer, see
:func:`analysis.customers.table.customer_table`) at an explicit ``as_of`` and returns labels, counts and
tables in no language; :mod:`analysis.report.pages.segments` says them in the report's language (the
rule tables, cluster names, advice, figures) and ``kanta segments`` lives in :mod:`analysis.cli.segments`.
May import the root modules (errors, units, findings), ``data``, ``customers``, ``stats`` and ``clv``;
never ``churn`` or anything above.

The churn rule is the report's one rule: a buyer is passive when the days since their last
purchase are at least ``passive_days`` (the customer base's ``inactivity_days``), so stage
"passive" counts the customers the monthly flows count as churned.

Example
-------
>>> from analysis import segments
>>> seg = segments.segment_customers("data/sample", "2026-10-31")     # doctest: +SKIP
>>> seg.table[["customer_id", "abc_class", "lifecycle_stage"]].head()  # doctest: +SKIP
"""
from analysis.segments.clusters import (
    BehaviourClusters, cluster_advice_kind, cluster_features, match_clusters, read_centroids, write_centroids,
)
from analysis.segments.export import export_table
from analysis.segments.pyramid import abc_classes, pyramid_table, run_rate_value, strategy_groups, top_mask
from analysis.segments.rfm import rfm_grid, rfm_scores
from analysis.segments.segmentation import Segmentation, assign_segments, segment_customers
from analysis.segments.settings import (
    ABC_CLASSES, CLASS_CONCEPTS, CLUSTER_FEATURES, NO_PURCHASE, NOT_REGISTERED, RFM_SEGMENTS, STAGE_CONCEPTS,
    STAGE_RULE_ORDER, STAGES, STRATEGY_GROUPS, TEXTBOOK_PYRAMID, SegmentSettings,
)
from analysis.segments.stages import lifecycle_stages, return_dates
from analysis.segments.transitions import MonthlySegments, monthly_segments, transition_matrix

__all__ = [
    # settings and vocabularies
    "SegmentSettings", "ABC_CLASSES", "TEXTBOOK_PYRAMID", "STRATEGY_GROUPS", "STAGES", "STAGE_RULE_ORDER",
    "STAGE_CONCEPTS", "CLASS_CONCEPTS", "RFM_SEGMENTS", "NO_PURCHASE", "NOT_REGISTERED", "CLUSTER_FEATURES",
    # the rules
    "abc_classes", "pyramid_table", "top_mask", "run_rate_value", "strategy_groups", "return_dates",
    "lifecycle_stages", "rfm_scores", "rfm_grid",
    # clusters
    "BehaviourClusters", "cluster_features", "match_clusters", "cluster_advice_kind", "read_centroids",
    "write_centroids",
    # one month, two months, the export
    "Segmentation", "assign_segments", "segment_customers", "MonthlySegments", "monthly_segments",
    "transition_matrix", "export_table",
]
