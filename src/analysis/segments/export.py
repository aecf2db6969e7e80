"""The campaign-tool export of a month's segments: one row per customer with its labels.
customer_id addresses the customer; the pseudonym is for anything a stakeholder sees.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from analysis.data.contract import permission_values
from analysis.data.privacy import pseudonymize
from analysis.segments.segmentation import Segmentation

_EXPORT_COLUMNS = (
    "customer_id", "pseudonym", "abc_class", "strategy_group", "lifecycle_stage", "rfm_segment",
    "r_score", "f_score", "m_score", "cluster",
)


def export_table(seg: Segmentation, cluster_names: Mapping[int, str] | pd.Series | None = None) -> pd.DataFrame:
    """The campaign-tool list: customer_id (to address them), pseudonym (for anything a stakeholder sees) and labels.

    Columns: customer_id, pseudonym, abc_class (empty for prospects), strategy_group,
    lifecycle_stage, rfm_segment, r_score, f_score, m_score, cluster (empty for prospects),
    cluster_name (from ``cluster_names``, e.g. :func:`analysis.report.pages.segments.cluster_names`),
    and marketing_permission when the source has it, as ``true``/``false`` (a blank is ``false``: a campaign may only
    contact those with ``true``).
    """
    t = seg.table
    out = t[[c for c in _EXPORT_COLUMNS if c in t.columns]].copy()
    if "pseudonym" not in out:
        out.insert(1, "pseudonym", pseudonymize(t["customer_id"]).to_numpy())
    names = pd.Series(cluster_names if cluster_names is not None else {}, dtype=object)
    out["cluster_name"] = t["cluster"].map(names).astype(object).where(t["cluster"].notna(), None)
    if "marketing_permission" in t.columns:
        allowed = permission_values(t["marketing_permission"]).fillna(False).astype(bool)
        out["marketing_permission"] = np.where(allowed, "true", "false")
    return out.sort_values("customer_id", kind="mergesort").reset_index(drop=True)

