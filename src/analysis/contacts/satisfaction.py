"""Satisfaction and contact frequency: CSAT and NPS by segment, whether promoters stay, contacts per customer.

Each table is computed from the contacts table over the last months before ``as_of``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.contacts.table import date_sql
from analysis.stats import wilson_interval

#: NPS groups on the 0-10 scale (the standard definition).
PROMOTER_MIN, DETRACTOR_MAX = 9, 6


def nps(scores) -> float:
    """Net Promoter Score on the 0-10 scale: % promoters (9-10) minus % detractors (0-6).

    Example
    -------
    >>> nps([10, 9, 8, 7, 6, 0])
    0.0
    >>> nps([10, 10, 9, 5])
    50.0
    """
    s = pd.Series(scores, dtype=float).dropna()
    if s.empty:
        return float("nan")
    return float(100.0 * ((s >= PROMOTER_MIN).mean() - (s <= DETRACTOR_MAX).mean()))


def satisfaction_by(src, as_of, groups: pd.Series | None = None, since_months: int = 12) -> pd.DataFrame:
    """CSAT (1-5: mean and share of 4-5) and NPS (0-10) per group, from the last ``since_months`` months.

    ``groups`` maps customer_id to a segment (e.g. ``abc_class``); None gives one row, ``all``.
    """
    as_of = pd.Timestamp(as_of).normalize()
    since = as_of.replace(day=1) - pd.DateOffset(months=since_months - 1)
    s = src.sql(f"""SELECT customer_id, satisfaction, satisfaction_scale FROM contacts
                    WHERE satisfaction IS NOT NULL AND timestamp >= {date_sql(since)}""")
    s["group"] = "all" if groups is None else s["customer_id"].map(groups).fillna("(unknown)").astype(str)
    csat = s[s["satisfaction_scale"] == "1-5"].groupby("group")["satisfaction"].agg(
        csat_responses="size", csat_mean="mean", csat_top2=lambda x: float((x >= 4).mean()))
    n = s[s["satisfaction_scale"] == "0-10"].groupby("group")["satisfaction"].agg(nps_responses="size", nps=nps)
    return csat.join(n, how="outer").reset_index()


def nps_retention(src, as_of, table: pd.DataFrame, inactivity_days: int) -> pd.DataFrame:
    """Whether customers who recommend stay: the share still active at ``as_of`` by NPS group, with Wilson 95 %
    intervals.

    Each customer's latest 0-10 answer given at least ``inactivity_days`` before ``as_of`` (so that leaving after
    it could be seen) puts them in a group: promoter (9-10), passive (7-8), detractor (0-6). ``table`` is the
    month's customer table with ``is_active``.
    """
    as_of = pd.Timestamp(as_of).normalize()
    cutoff = as_of - pd.Timedelta(days=int(inactivity_days))
    s = src.sql(f"""SELECT customer_id, arg_max(satisfaction, timestamp) AS score FROM contacts
                    WHERE satisfaction_scale = '0-10' AND timestamp < {date_sql(cutoff)} GROUP BY 1""")
    active = table.set_index(table["customer_id"].astype(str))["is_active"]
    s["active"] = s["customer_id"].map(active).fillna(False).astype(bool)
    s["group"] = np.select([s["score"] >= PROMOTER_MIN, s["score"] <= DETRACTOR_MAX], ["promoter", "detractor"],
                           "passive")
    rows = []
    for g in ("promoter", "passive", "detractor"):
        part = s[s["group"] == g]
        k, n = int(part["active"].sum()), len(part)
        lo, hi = wilson_interval(k, n) if n else (float("nan"), float("nan"))
        rows.append({"group": g, "customers": n, "active": k, "share_active": k / n if n else float("nan"),
                     "ci_low": lo, "ci_high": hi})
    return pd.DataFrame(rows)


def contact_counts(src, as_of, table: pd.DataFrame, months: int = 12) -> pd.DataFrame:
    """Contacts in the last ``months`` months per customer, type and channel (``customer_id``, ``type``, ``channel``,
    ``n``), with ``row``: the customer's position in ``table`` (-1 when not in it), matched once for every grouping
    of :func:`contact_frequency`."""
    as_of = pd.Timestamp(as_of).normalize()
    since = as_of.replace(day=1) - pd.DateOffset(months=months - 1)
    per = src.sql(f"""SELECT customer_id, type, channel, count(*) AS n FROM contacts
                      WHERE timestamp >= {date_sql(since)} GROUP BY ALL""")
    per["row"] = pd.Index(table["customer_id"].astype(str)).get_indexer(per["customer_id"].astype(str))
    return per


def contact_frequency(src, as_of, table: pd.DataFrame, by: str, months: int = 12,
                      counts: pd.DataFrame | None = None) -> pd.DataFrame:
    """Contacts per customer in the last ``months`` months by ``by`` (a column of the customer table, e.g.
    ``abc_class``, ``lifecycle_stage``), per type and channel (``channel_<name>``), beside what the group is worth
    (mean ``clv`` and ``total_spend`` when the table has them). A customer without contacts counts as 0.

    ``counts``: :func:`contact_counts` of the same ``table`` and months, when already computed (the page groups
    the same counts three ways). Sums per group and type are counted with ``bincount``, not a customer x type
    pivot (a million customers' string ids grouped once, not per column).
    """
    if counts is None:
        counts = contact_counts(src, as_of, table, months)
    labels = table[by]
    labelled = labels.notna().to_numpy()
    codes, groups = pd.factorize(labels[labelled], sort=True)
    group_of_row = np.full(len(table), -1)
    group_of_row[labelled] = codes
    customers = np.bincount(codes, minlength=len(groups))
    g = np.where(counts["row"].to_numpy() >= 0, group_of_row[counts["row"].to_numpy()], -1)
    n = counts["n"].to_numpy(float)
    out = pd.DataFrame({by: groups, "customers": customers})
    for column, prefix in (("type", ""), ("channel", "channel_")):
        kinds, names = pd.factorize(counts[column], sort=True)
        ok = (g >= 0) & (kinds >= 0)
        sums = np.bincount(g[ok] * len(names) + kinds[ok], weights=n[ok],
                           minlength=len(groups) * len(names)).reshape(len(groups), len(names))
        for j, name in enumerate(names):
            out[f"{prefix}{name}"] = sums[:, j] / customers
    values = [c for c in ("clv", "total_spend") if c in table]
    if values:
        means = table.loc[labelled, [by, *values]].groupby(by)[values].mean()
        for c in values:
            out[f"mean_{c}"] = means[c].reindex(groups).to_numpy()
    return out
