"""The value pyramid (A/B/C classes) and the keep/develop/change strategy groups.
Both rank buying customers by value; ties are broken by customer_id so every cut is reproducible.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.segments.settings import ABC_CLASSES, TEXTBOOK_PYRAMID, SegmentSettings, as_date, buyer_mask


def top_mask(values: pd.Series, ids: pd.Series, share: float) -> pd.Series:
    """True for the top ``round(share x n)`` values; ties broken by customer_id so the cut is reproducible."""
    n = len(values)
    k = int(round(share * n))
    v = values.astype(float).fillna(-np.inf).to_numpy()
    top = np.zeros(n, dtype=bool)
    if k >= n:
        top[:] = True
    elif k > 0:  # everything above the k-th largest value, then the tied values at the cut by customer_id
        cut = np.partition(v, n - k)[n - k]
        top = v > cut
        tied = np.flatnonzero(v == cut)
        tied_ids = ids.astype(str).to_numpy()[tied]
        top[tied[np.argsort(tied_ids, kind="stable")[:k - int(top.sum())]]] = True
    return pd.Series(top, index=values.index)


# --- pyramid --------------------------------------------------------------------
def abc_classes(table: pd.DataFrame, value: pd.Series | None = None, a_share: float = 0.05,
                b_share: float = 0.15) -> pd.Series:
    """Customer pyramid: A = top ``a_share`` of buying customers by value, B = next ``b_share``, C = the rest.

    Customers are ranked by ``value`` (default: historic ``total_spend``), ties by
    customer_id. Prospects (no purchase) are outside the pyramid and get no class (None),
    so every count of a class (the pyramid table, the class moves) counts the same buyers.

    Parameters
    ----------
    table : DataFrame
        Customer table (needs customer_id, n_purchases, total_spend).
    value : Series, optional
        Value per row of ``table`` (e.g. CLV); default ``table.total_spend``.
    a_share, b_share : float
        Cut points as shares of buying customers.

    Returns
    -------
    Series of "A"/"B"/"C" (None for prospects) aligned with ``table``.

    Example
    -------
    >>> t = pd.DataFrame({"customer_id": list("abcdefghijklmnopqrst"), "n_purchases": 1,
    ...                   "total_spend": range(20, 0, -1)})
    >>> abc_classes(t).value_counts().to_dict()
    {'C': 16, 'B': 3, 'A': 1}
    """
    SegmentSettings(a_share=a_share, b_share=b_share)  # validates the cut points
    value = table["total_spend"] if value is None else pd.Series(value, index=table.index)
    out = pd.Series(None, index=table.index, dtype=object, name="abc_class")
    buyers = buyer_mask(table)
    out.loc[buyers] = "C"
    if buyers.any():
        v, ids = value[buyers], table.loc[buyers, "customer_id"]
        top_a = top_mask(v, ids, a_share)
        top_ab = top_mask(v, ids, a_share + b_share)
        out.loc[top_ab[top_ab].index] = "B"
        out.loc[top_a[top_a].index] = "A"
    return out


def pyramid_table(table: pd.DataFrame, classes: pd.Series, value: pd.Series | None = None) -> pd.DataFrame:
    """Real shares of customers and revenue per pyramid class, next to the textbook 5/15/80 vs 65/15/20.

    Only buying customers count (prospects have no revenue). ``value`` (e.g. CLV)
    adds a ``value_share`` column; revenue is always historic ``total_spend``.

    Returns
    -------
    DataFrame with abc_class, customers, customer_share, revenue, revenue_share,
    [value, value_share,] textbook_customer_share, textbook_revenue_share.
    """
    buyers = buyer_mask(table)
    df = pd.DataFrame({"abc_class": classes[buyers], "revenue": table.loc[buyers, "total_spend"].astype(float)})
    if value is not None:
        df["value"] = pd.Series(value, index=table.index)[buyers].astype(float)
    g = df.groupby("abc_class").agg(customers=("revenue", "size"), **{c: (c, "sum") for c in df.columns[1:]})
    g = g.reindex(list(ABC_CLASSES), fill_value=0)
    g.insert(1, "customer_share", g["customers"] / max(g["customers"].sum(), 1))
    total = g["revenue"].sum()
    g.insert(3, "revenue_share", g["revenue"] / total if total else np.nan)
    if "value" in g:
        vt = g["value"].sum()
        g["value_share"] = g["value"] / vt if vt else np.nan
    g["textbook_customer_share"] = [TEXTBOOK_PYRAMID[c][0] for c in ABC_CLASSES]
    g["textbook_revenue_share"] = [TEXTBOOK_PYRAMID[c][1] for c in ABC_CLASSES]
    g["customers"] = g["customers"].astype(int)
    return g.reset_index()


# --- strategy groups ---------------------------------------------------------------
def run_rate_value(table: pd.DataFrame, as_of, passive_days: int = 180, horizon_days: int = 365) -> pd.Series:
    """Potential value without a CLV model: the customer's own purchase rate x average purchase over the horizon.

    Rate = purchase days / max(days since first purchase + 1, 30) (so one purchase
    yesterday is not read as a daily habit); customers already passive
    (no purchase for ``passive_days`` or more, the one churn rule) get 0. The documented
    fallback when no CLV is available; with a CLV model the potential value is the CLV.
    It is a rough outlook, not a forecast: it does not sum to the customer equity.

    Example
    -------
    >>> t = pd.DataFrame({"customer_id": ["a", "b"], "n_purchases": [4, 4], "total_spend": [400.0, 400.0],
    ...                   "days_since_last_purchase": [5, 180], "first_purchase": ["2026-07-24", "2025-01-01"]})
    >>> run_rate_value(t, "2026-10-31", passive_days=180).round(1).tolist()
    [1460.0, 0.0]
    """
    as_of = as_date(as_of)
    first = pd.to_datetime(table["first_purchase"])
    age_days = ((as_of - first).dt.days + 1).clip(lower=30)
    n = table["n_purchases"].fillna(0).astype(float)
    spend = table["total_spend"].fillna(0).astype(float).clip(lower=0)
    avg = np.where(n > 0, spend / n.where(n > 0, 1), 0.0)
    rate = (n / age_days).fillna(0.0)
    alive = table["days_since_last_purchase"].astype(float) < passive_days
    return pd.Series(np.where(alive, rate * horizon_days * avg, 0.0), index=table.index, name="potential_value")


def strategy_groups(table: pd.DataFrame, potential_value: pd.Series, keep_share: float = 0.20,
                    potential_share: float = 0.50) -> pd.Series:
    """Keep / develop / change from current value (historic spend) x potential value.

    Rules (shown by :func:`analysis.report.pages.segments.strategy_rules`), among buying customers:
    keep = current value in the top ``keep_share`` (most profitable today, whatever
    the outlook); develop = not keep, but potential value in the top
    ``potential_share`` and above 0 (untapped potential); change = the rest (low
    today and low outlook: change the offer or let go). Prospects are "develop":
    registered, not yet buying, all potential.

    Example
    -------
    >>> t = pd.DataFrame({"customer_id": ["a", "b", "c", "d"], "n_purchases": [3, 1, 1, 0],
    ...                   "total_spend": [900.0, 10.0, 5.0, 0.0]})
    >>> strategy_groups(t, pd.Series([100.0, 50.0, 0.0, 0.0]), keep_share=0.34).tolist()
    ['keep', 'develop', 'change', 'develop']
    """
    out = pd.Series("develop", index=table.index, dtype=object)
    buyers = buyer_mask(table)
    if buyers.any():
        ids = table.loc[buyers, "customer_id"]
        pot = pd.Series(potential_value, index=table.index)[buyers].astype(float).fillna(0.0)
        high_current = top_mask(table.loc[buyers, "total_spend"], ids, keep_share)
        high_potential = top_mask(pot, ids, potential_share) & (pot > 0)
        out.loc[buyers] = np.where(high_current, "keep", np.where(high_potential, "develop", "change"))
    return out
