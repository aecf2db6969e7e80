"""Complaints: how many there are and how fast they are resolved, and what follows one (the drop-out model's ratios).

:func:`month_numbers` gives the month's complaint numbers to the customer state (:mod:`analysis.base.state`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.contacts.dropout import FIRST_CONTACT_HOURS, MIN_COMPLAINT_PURCHASES, DropoutModel
from analysis.contacts.table import date_sql, open_source, require_contacts
from analysis.errors import ModelError


def complaint_effect(model: DropoutModel) -> DropoutModel:
    """The complaint part of a fitted :class:`DropoutModel`; ModelError ``complaints_too_few`` without an open-complaint
    ratio (fewer than :data:`MIN_COMPLAINT_PURCHASES` repeat purchases while a complaint was open)."""
    if "open" not in model.ratios:
        raise ModelError("too few repeat purchases while a complaint was open to estimate its hazard ratio",
                         "complaints_too_few", {"min_purchases": MIN_COMPLAINT_PURCHASES})
    return model


@dataclass
class ComplaintHandling:
    """Complaint volume and handling: per month, with time to resolution and first-contact resolution."""

    monthly: pd.DataFrame
    open_at_as_of: int
    first_contact_hours: int = FIRST_CONTACT_HOURS

    def this_month(self) -> dict:
        row = self.monthly.iloc[-1] if len(self.monthly) else None
        return {"complaints": int(row["complaints"]) if row is not None else 0,
                "first_contact_share": float(row["first_contact_share"]) if row is not None else float("nan")}

    def summary(self) -> pd.DataFrame:
        return self.monthly

    def to_dict(self) -> dict:
        return {"open_at_as_of": self.open_at_as_of, "first_contact_hours": self.first_contact_hours,
                "monthly": self.monthly.assign(month=self.monthly["month"].astype(str)).to_dict("records")}


def complaint_handling(source, as_of=None, months: int = 13) -> ComplaintHandling:
    """Complaints per month of the last ``months``: count, resolved, median hours to resolution (open complaints
    counted as open, :func:`_median_hours`), share resolved at first contact (closed within
    :data:`FIRST_CONTACT_HOURS` hours), still open at ``as_of``."""
    src = open_source(source, as_of)
    require_contacts(src)
    as_of = src.as_of if as_of is None else pd.Timestamp(as_of).normalize()
    start = (as_of.replace(day=1) - pd.DateOffset(months=months - 1))
    m = src.sql(f"""
        SELECT date_trunc('month', timestamp) AS month, count(*) AS complaints,
               count(resolved_at) AS resolved,
               median(date_diff('second', timestamp, resolved_at) / 3600.0) AS median_hours_to_resolution,
               avg(CASE WHEN resolved_at IS NOT NULL AND resolved_at - timestamp <= INTERVAL {FIRST_CONTACT_HOURS} HOUR
                        THEN 1.0 ELSE 0.0 END) AS first_contact_share
        FROM contacts WHERE type = 'complaint' AND timestamp >= {date_sql(start)}
        GROUP BY 1 ORDER BY 1""")
    grid = pd.DataFrame({"month": pd.date_range(start, as_of, freq="MS")})
    m["month"] = pd.to_datetime(m["month"])
    med = _median_hours(src, start, as_of)
    med["month"] = pd.to_datetime(med["month"]).astype(m["month"].dtype)  # an empty frame has no dtype of its own
    m = m.drop(columns="median_hours_to_resolution").merge(med, on="month", how="left")
    m = grid.merge(m, on="month", how="left")
    m[["complaints", "resolved"]] = m[["complaints", "resolved"]].fillna(0).astype(int)
    m["month"] = m["month"].dt.to_period("M")
    n_open = int(src.sql("SELECT count(*) AS n FROM contacts WHERE type = 'complaint' AND resolved_at IS NULL")["n"][0])
    return ComplaintHandling(m, n_open)


def _median_hours(src, start: pd.Timestamp, as_of: pd.Timestamp) -> pd.DataFrame:
    """Median hours to resolution per month with complaints still open at ``as_of`` counted as open (Kaplan-Meier,
    open ones censored at the month end): the median of closed complaints alone would leave out the slowest.
    NaN when more than half of a month's complaints are still open."""
    from lifelines import KaplanMeierFitter  # local: heavy import, needed only here

    end = as_of + pd.Timedelta(days=1)
    c = src.sql(f"""
        SELECT date_trunc('month', timestamp) AS month,
               date_diff('second', timestamp, coalesce(resolved_at, {date_sql(end)})) / 3600.0 AS hours,
               resolved_at IS NOT NULL AS resolved
        FROM contacts WHERE type = 'complaint' AND timestamp >= {date_sql(start)} AND timestamp < {date_sql(end)}""")
    rows = []
    for month, g in c.groupby("month"):  # one fit per month (13), not per complaint
        km = KaplanMeierFitter().fit(g["hours"].clip(lower=0), g["resolved"].astype(bool))
        median = float(km.median_survival_time_)
        rows.append({"month": pd.Timestamp(month), "median_hours_to_resolution": median if np.isfinite(median)
                     else np.nan})
    return pd.DataFrame(rows, columns=["month", "median_hours_to_resolution"])


def month_numbers(source, as_of) -> dict:
    """The month's complaint numbers for the customer state: complaints made in ``as_of``'s month and the share
    of them resolved at first contact (None without complaints); computed once, read by every page.

    Example
    -------
    >>> month_numbers("data/sample", "2026-10-31")  # doctest: +SKIP
    {'complaints_month': 19, 'complaints_first_contact_share': 0.63...}
    """
    m = complaint_handling(source, as_of, months=1).this_month()
    return {"complaints_month": m["complaints"],
            "complaints_first_contact_share": m["first_contact_share"] if m["complaints"] else None}
