"""RFM scores: recency, frequency and monetary quintiles among buyers, and the named R x FM segment.
The grid from scores to segment names is :func:`rfm_grid`; the report words the names.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.segments.settings import NO_PURCHASE, buyer_mask

#: R score (rows, 5 = most recent) x FM score (columns, 5 = most frequent/valuable).
_RFM_GRID = {
    5: ("new_customers", "potential_loyalists", "potential_loyalists", "champions", "champions"),
    4: ("promising", "potential_loyalists", "potential_loyalists", "loyal", "loyal"),
    3: ("about_to_sleep", "about_to_sleep", "need_attention", "loyal", "loyal"),
    2: ("hibernating", "hibernating", "at_risk", "at_risk", "cant_lose_them"),
    1: ("lost", "lost", "at_risk", "at_risk", "cant_lose_them"),
}


def _quintile(values: pd.Series) -> pd.Series:
    """Score 1..5 from the rank percentile; equal values share the (lower) score."""
    pct = values.astype(float).rank(method="min", pct=True)
    return np.ceil(pct * 5).clip(1, 5).astype(int)


def rfm_scores(table: pd.DataFrame) -> pd.DataFrame:
    """RFM quintile scores (1..5, 5 best) among buying customers and the named RFM segment.

    R ranks days since the last purchase (fewer is better), F the number of purchase
    days, M total spend. FM = mean of F and M rounded half up. The segment is read
    from the R x FM grid :func:`rfm_grid`. Prospects get scores 0 and segment "prospect".

    Returns
    -------
    DataFrame[r_score, f_score, m_score, fm_score, rfm_segment] aligned with ``table``.

    Example
    -------
    >>> t = pd.DataFrame({"customer_id": list("abcde"), "n_purchases": [9, 7, 5, 3, 1],
    ...                   "total_spend": [900.0, 700, 500, 300, 100], "days_since_last_purchase": [1, 5, 30, 90, 300]})
    >>> rfm_scores(t)["rfm_segment"].tolist()
    ['champions', 'loyal', 'need_attention', 'hibernating', 'lost']
    """
    buyers = buyer_mask(table)
    out = pd.DataFrame(0, index=table.index, columns=["r_score", "f_score", "m_score", "fm_score"])
    out["rfm_segment"] = NO_PURCHASE
    b = table[buyers]
    if len(b):
        r = _quintile(-b["days_since_last_purchase"].astype(float))
        f = _quintile(b["n_purchases"])
        m = _quintile(b["total_spend"])
        fm = np.floor((f + m) / 2 + 0.5).astype(int)
        out.loc[buyers, "r_score"], out.loc[buyers, "f_score"], out.loc[buyers, "m_score"] = r, f, m
        out.loc[buyers, "fm_score"] = fm
        out.loc[buyers, "rfm_segment"] = [_RFM_GRID[ri][fi - 1] for ri, fi in zip(r, fm)]
    return out


def rfm_grid() -> pd.DataFrame:
    """The documented R x FM mapping (segment ids): rows R = 5..1 (5 = most recent), columns FM = 1..5.

    Example
    -------
    >>> rfm_grid().loc["R 5", "FM 5"]
    'champions'
    """
    grid = pd.DataFrame(_RFM_GRID).T.sort_index(ascending=False)
    grid.columns = ["FM 1", "FM 2", "FM 3", "FM 4", "FM 5"]
    grid.index = [f"R {r}" for r in grid.index]
    return grid

