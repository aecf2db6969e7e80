"""Lifecycle stages: prospect, new, active, returned, lapsing, passive, one per customer by ordered rules.
The passive rule is the report's one churn rule (no purchase for ``passive_days`` or more).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.customers import purchase_days_sql
from analysis.segments.settings import STAGE_RULE_ORDER, SegmentSettings, as_date, buyer_mask, check_table


def return_dates(source, as_of, gap_days: int) -> pd.DataFrame:
    """Per customer, the last purchase day that came after a gap of more than ``gap_days`` without purchases.

    A gap of more than ``gap_days`` days between two purchase days means the customer was passive
    (``gap_days`` or more days silent) on the day before coming back: the one churn rule.

    Computed in SQL on the source's DuckDB connection, with the customer table's
    purchase-day rule (:data:`analysis.customers.table.PURCHASE_DAY_RULE`), up to and including ``as_of``.

    Returns
    -------
    DataFrame[customer_id, return_date] (only customers who ever came back).
    """
    as_of = as_date(as_of)
    query = f"""
        WITH days AS (
            SELECT customer_id, day AS d FROM ({purchase_days_sql('duckdb')}) p
            WHERE is_purchase = 1 AND day <= DATE '{as_of.date().isoformat()}'
        ), gaps AS (
            SELECT customer_id, d,
                   date_diff('day', LAG(d) OVER (PARTITION BY customer_id ORDER BY d), d) AS gap_days
            FROM days
        )
        SELECT customer_id, MAX(d) AS return_date FROM gaps WHERE gap_days > {int(gap_days)} GROUP BY customer_id
    """
    out = source.sql(query)
    out["customer_id"] = out["customer_id"].astype(str)
    out["return_date"] = pd.to_datetime(out["return_date"])
    return out


def lifecycle_stages(table: pd.DataFrame, as_of, settings: SegmentSettings | None = None,
                     p_alive: pd.Series | None = None) -> pd.Series:
    """Exactly one lifecycle stage per customer, by rules evaluated in a fixed order (first match wins).

    1. prospect: registered, no purchase day.
    2. passive: no purchase for ``passive_days`` days or more (the one churn rule: days since
       the last purchase >= ``passive_days``), or contract ended (churn_date <= as_of).
    3. new: first purchase at most ``new_days`` before ``as_of``.
    4. returned (recently returned, concept ``stage_recently_returned``): came back after a passive
       gap (column ``return_date``) at most ``returned_days`` ago. Not the month flow "returned".
    5. lapsing: overdue against the own rhythm: days since last purchase >
       max(``lapsing_factor`` x own mean days between purchases, ``lapsing_min_days``);
       one-time buyers use the median rhythm of repeat buyers; or P(alive) < ``p_alive_threshold``.
    6. active: everyone else.

    Because the rules are tried in order and the last one catches all, the stages
    cannot overlap and nobody is left without one. :func:`analysis.report.pages.segments.stage_rules` shows them.

    Parameters
    ----------
    table : DataFrame
        Customer table; ``return_date`` (see :func:`return_dates`) and ``churn_date`` are optional.
    as_of : date
    settings : SegmentSettings
    p_alive : Series, optional
        P(alive) per row of ``table`` (BG/NBD); NaN is ignored.

    Returns
    -------
    Series of stage names aligned with ``table``.

    Example
    -------
    >>> t = pd.DataFrame({"customer_id": ["a", "b"], "n_purchases": [0, 5], "total_spend": [0.0, 50.0],
    ...                   "days_since_last_purchase": [np.nan, 200], "first_purchase": [pd.NaT, "2025-01-01"]})
    >>> lifecycle_stages(t, "2026-10-31").tolist()
    ['prospect', 'passive']
    """
    s = settings or SegmentSettings()
    as_of = as_date(as_of)
    check_table(table, ("customer_id", "n_purchases", "days_since_last_purchase", "first_purchase"))
    n = len(table)
    buyer = buyer_mask(table).to_numpy()
    since_last = table["days_since_last_purchase"].astype(float).to_numpy()
    since_first = (as_of - pd.to_datetime(table["first_purchase"])).dt.days.astype(float).to_numpy()
    # a buyer without dates (should not happen) is treated as long gone, not silently "active"
    since_last = np.where(buyer & np.isnan(since_last), np.inf, since_last)
    since_first = np.where(buyer & np.isnan(since_first), np.inf, since_first)

    passive = buyer & (since_last >= s.passive_days)
    if "churn_date" in table:
        ended = pd.to_datetime(table["churn_date"]).le(as_of).to_numpy()
        passive |= buyer & ended
    new = buyer & (since_first <= s.new_days)
    if "return_date" in table:
        since_return = (as_of - pd.to_datetime(table["return_date"])).dt.days.astype(float).to_numpy()
        returned = buyer & (since_return <= s.returned_days)
    else:
        returned = np.zeros(n, dtype=bool)
    rhythm = _own_rhythm_days(table)
    overdue = since_last > np.maximum(s.lapsing_factor * rhythm, s.lapsing_min_days)
    if p_alive is not None:
        pa = pd.Series(p_alive, index=table.index).astype(float).to_numpy()
        overdue |= ~np.isnan(pa) & (pa < s.p_alive_threshold)
    lapsing = buyer & overdue

    conditions = {"prospect": ~buyer, "passive": passive, "new": new, "returned": returned, "lapsing": lapsing,
                  "active": np.ones(n, dtype=bool)}
    stage = np.select([conditions[k] for k in STAGE_RULE_ORDER], list(STAGE_RULE_ORDER), default="active")
    return pd.Series(stage, index=table.index, name="lifecycle_stage", dtype=object)


def _own_rhythm_days(table: pd.DataFrame) -> np.ndarray:
    """Mean days between purchases per customer; one-time buyers get the median of repeat buyers (30 if none)."""
    if "mean_interpurchase_days" in table:
        own = table["mean_interpurchase_days"].astype(float)
    elif "last_purchase" in table:  # derive it: span of purchase days / gaps
        span = (pd.to_datetime(table["last_purchase"]) - pd.to_datetime(table["first_purchase"])).dt.days
        gaps = table["n_purchases"].astype(float) - 1
        own = (span / gaps.where(gaps > 0)).astype(float)
    else:
        own = pd.Series(np.nan, index=table.index)
    own = own.where(own > 0)
    typical = float(own.median()) if own.notna().any() else 30.0
    return own.fillna(typical).to_numpy()

