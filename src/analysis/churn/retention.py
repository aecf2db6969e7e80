"""Retention KPIs and cohorts: how many of a date's customers are still customers, month by month.

Counted with the same churn rule as the customer base (:func:`analysis.churn.rule.define_churn`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.churn.results import json_value, summary_html
from analysis.churn.rule import as_of_date, customer_attributes, define_churn, purchase_days, source_at
from analysis.customers import monthly_activity
from analysis.errors import ParameterError


def _active_ids(days: pd.DataFrame, at: pd.Timestamp, inactivity_days: int) -> set:
    """Customers whose last purchase on or before ``at`` is within ``inactivity_days`` (a customer at ``at``)."""
    # the last purchase by ``at`` is within the window exactly when some purchase day is: no grouping needed
    day = days["day"]
    return set(days.loc[(day <= at) & (day > at - pd.Timedelta(days=inactivity_days)), "customer_id"])


@dataclass(frozen=True)
class RetentionKPIs:
    """Retention and churn of the customer base, as the source documents define them.

    Attributes
    ----------
    reference_date : pd.Timestamp
        Date whose customers are followed (default: 12 months before ``as_of``).
    customers_at_reference, retained : int
        Customers at the reference date, and those of them still customers at ``as_of``.
    retention_rate : float
        ``retained / customers_at_reference``.
    monthly : pd.DataFrame
        Per month (from :func:`analysis.customers.monthly_activity`): active, new, lost,
        returned, revenue, ... plus ``active_start`` and ``churn_rate = lost / active_start``.
        ``observable`` is True for a month that starts at least ``inactivity_days`` after the log's
        first day: before that nobody could yet have been silent that long, so "lost" is zero by
        construction, not by behaviour.
    monthly_churn_rate : float
        Pooled over the observable months shown: ``sum(lost) / sum(active_start)`` (NaN when none is).
    annual_churn_rate : float
        ``1 - (1 - monthly_churn_rate) ** 12``.
    log_start : pd.Timestamp
        The first day of the transaction log.
    months_observable : int
        How many of the months shown the churn rate covers.
    """

    as_of: pd.Timestamp
    reference_date: pd.Timestamp
    inactivity_days: int
    customers_at_reference: int
    retained: int
    retention_rate: float
    monthly: pd.DataFrame
    monthly_churn_rate: float
    annual_churn_rate: float
    log_start: pd.Timestamp | None = None
    months_observable: int | None = None

    @property
    def observable_from(self) -> pd.Timestamp | None:
        """The first day on which the churn rule can have fired (log start + ``inactivity_days``)."""
        return None if self.log_start is None else self.log_start + pd.Timedelta(days=self.inactivity_days)

    def to_dict(self) -> dict:
        return {"as_of": self.as_of.date().isoformat(), "reference_date": self.reference_date.date().isoformat(),
                "retention_rate": json_value(self.retention_rate),
                "customers_at_reference": self.customers_at_reference, "retained": self.retained,
                "monthly_churn_rate": json_value(self.monthly_churn_rate),
                "annual_churn_rate": json_value(self.annual_churn_rate), "inactivity_days": self.inactivity_days,
                "months": len(self.monthly), "months_observable": self.months_observable,
                "log_start": None if self.log_start is None else self.log_start.date().isoformat()}

    def summary(self) -> pd.DataFrame:
        """The month-by-month table (active at start, new, lost, returned, churn rate)."""
        return self.monthly.copy()

    def _repr_html_(self) -> str:
        return summary_html(self.monthly, f"Retention: {self.retention_rate:.1%} of the customers of "
                                   f"{self.reference_date.date()} still customers")


def annualise_churn(monthly_rate: float) -> float:
    """Annual churn from a constant monthly churn rate: ``1 - (1 - m) ** 12``.

    Example
    -------
    >>> round(annualise_churn(0.05), 4)
    0.4596
    """
    return 1.0 - (1.0 - monthly_rate) ** 12


def retention_kpis(source_or_path, as_of=None, inactivity_days: int | None = None, *, reference_months: int = 12,
                   months: int = 12, days: pd.DataFrame | None = None,
                   flows: pd.DataFrame | None = None, gaps: pd.DataFrame | None = None) -> RetentionKPIs:
    """Retention rate, monthly / annual churn rate and customers lost, returned and new per month.

    Parameters
    ----------
    inactivity_days : int, optional
        A customer is a customer at a date when they bought within this many days before it
        (None = data-driven, :func:`define_churn`).
    reference_months : int
        Retention follows the customers of the date this many months before ``as_of``.
    months : int
        Months of the monthly table (and of the pooled churn rate).
    flows : pd.DataFrame, optional
        The month flows already counted with the same ``inactivity_days``
        (:attr:`analysis.base.state.CustomerBase.flows`); the last ``months + 1`` rows are used.
    days, gaps : pd.DataFrame, optional
        :func:`purchase_days` and :func:`interpurchase_gaps`, when already computed.
    """
    src = source_at(source_or_path, as_of)
    as_of = as_of_date(src, as_of)
    days = purchase_days(src, as_of) if days is None else days
    n = define_churn(src, as_of, inactivity_days, days=days, gaps=gaps, method="inactivity").inactivity_days
    ref = as_of - pd.DateOffset(months=reference_months)
    at_ref = _active_ids(days, ref, n)
    retained = len(at_ref & _active_ids(days, as_of, n))
    if flows is not None and len(flows) >= months + 1:
        monthly = flows.iloc[-(months + 1):].reset_index(drop=True).copy()
    else:
        monthly = monthly_activity(src, as_of, months=months + 1, inactivity_days=n)
    monthly["active_start"] = monthly["active"].shift(1)
    monthly = monthly.iloc[1:].reset_index(drop=True)
    monthly["churn_rate"] = monthly["lost"] / monthly["active_start"].where(monthly["active_start"] > 0)
    start = log_start(src, as_of)
    monthly["observable"] = observable_months(monthly["month_end"], start, n)
    seen = monthly[monthly["observable"]]
    pooled = float(seen["lost"].sum() / seen["active_start"].sum()) if seen["active_start"].sum() else float("nan")
    return RetentionKPIs(as_of=as_of, reference_date=pd.Timestamp(ref), inactivity_days=n,
                         customers_at_reference=len(at_ref), retained=retained,
                         retention_rate=retained / len(at_ref) if at_ref else float("nan"),
                         monthly=monthly, monthly_churn_rate=pooled, annual_churn_rate=annualise_churn(pooled),
                         log_start=start, months_observable=int(monthly["observable"].sum()))


def log_start(source_or_path, as_of=None) -> pd.Timestamp | None:
    """The first day of the transaction log (any transaction, refunds included); None for an empty log."""
    src = source_at(source_or_path, as_of)
    value = src.sql("SELECT MIN(CAST(timestamp AS DATE)) AS d FROM transactions")["d"].iloc[0]
    return None if pd.isna(value) else pd.Timestamp(value).normalize()


def observable_months(month_ends, start: pd.Timestamp | None, inactivity_days: int) -> pd.Series:
    """True for each month (given by its last day) whose every day lies at least ``inactivity_days`` after ``start``.

    A customer is lost in a month when their last purchase plus ``inactivity_days`` falls in it; for
    a month that starts earlier than ``start + inactivity_days`` part of those purchases would lie
    before the log, so its "lost" count (and churn rate) is not yet observable.

    Example
    -------
    >>> ends = pd.to_datetime(["2011-03-31", "2011-04-30", "2011-05-31"])
    >>> observable_months(ends, pd.Timestamp("2010-12-01"), 120).tolist()
    [False, True, True]
    """
    ends = pd.to_datetime(pd.Series(month_ends)).reset_index(drop=True)
    if start is None:
        return pd.Series(False, index=ends.index)
    month_start = ends.dt.to_period("M").dt.start_time
    return month_start >= start + pd.Timedelta(days=int(inactivity_days))


def cohort_retention(source_or_path, as_of=None, *, cohort: str = "auto", max_months: int | None = None,
                     min_cohort_size: int = 1, days: pd.DataFrame | None = None) -> pd.DataFrame:
    """Cohort retention table: share of each cohort that bought in each month since it started.

    Rows are cohorts (signup month, or first-purchase month when there is no customers table or
    ``cohort="first_purchase"``), columns months since the start (0, 1, 2, ...). A cell is the
    share of the cohort with at least one purchase day in that calendar month; cells after
    ``as_of``'s month are empty; cohorts smaller than ``min_cohort_size`` are left out (a share of
    3 customers is noise). ``attrs["sizes"]`` holds the cohort sizes.
    """
    src = source_at(source_or_path, as_of)
    as_of = as_of_date(src, as_of)
    days = purchase_days(src, as_of) if days is None else days
    if cohort not in ("auto", "signup", "first_purchase"):
        raise ParameterError(f"cohort: got {cohort!r}, expected 'auto', 'signup' or 'first_purchase'.")
    cust = customer_attributes(src, as_of)
    use_signup = cohort == "signup" or (cohort == "auto" and cust is not None and "signup_date" in cust)
    if use_signup:
        if cust is None or "signup_date" not in cust:
            raise ParameterError("cohort: 'signup' needs customers.signup_date.")
        start = cust.loc[cust["signup_date"].notna() & (cust["signup_date"] <= as_of), ["customer_id", "signup_date"]]
        start = start.rename(columns={"signup_date": "start"})
    else:
        start = days.groupby("customer_id")["day"].min().rename("start").reset_index()
    start = start.assign(cohort=start["start"].dt.to_period("M"))
    d = days.merge(start, on="customer_id")
    d = d[d["day"] >= d["start"].dt.to_period("M").dt.start_time]
    # whole calendar months since the cohort's month, as integers (no per-row Period objects)
    d["k"] = ((d["day"].dt.year * 12 + d["day"].dt.month)
              - (d["cohort"].dt.year * 12 + d["cohort"].dt.month)).astype(int)
    active = d.drop_duplicates(["customer_id", "k"]).groupby(["cohort", "k"]).size()
    sizes = start.groupby("cohort").size()
    table = (active / sizes.reindex(active.index.get_level_values(0)).to_numpy()).unstack("k")
    sizes = sizes[sizes >= min_cohort_size]
    table = table.reindex(index=sizes.index).fillna(0.0)
    last = as_of.to_period("M")
    for c in table.index:  # months not yet lived by the cohort stay empty, not zero
        table.loc[c, [k for k in table.columns if c + int(k) > last]] = np.nan
    table = table.reindex(columns=range(0, (max_months if max_months is not None else int(table.columns.max())) + 1))
    table.index = table.index.astype(str)
    table.columns.name = "months_since_start"
    table.index.name = "cohort"
    table.attrs["sizes"] = {str(k): int(v) for k, v in sizes.items()}
    table.attrs["cohort_by"] = "signup" if use_signup else "first_purchase"
    return table
