"""Who is due to churn next month, ranked by expected value lost, and the tables ``kanta churn`` writes.

Customer ids leave this module pseudonymous.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.churn.kaplan_meier import KaplanMeierResult, kaplan_meier
from analysis.churn.rule import (as_of_date, churn_table, define_churn, interpurchase_gaps, purchase_days,
                                 source_at)
from analysis.clv import customer_value
from analysis.data import pseudonymize
from analysis.errors import KantaError, ParameterError


def _frequency_band(n_purchases) -> np.ndarray:
    n = np.asarray(n_purchases)
    return np.select([n <= 1, n <= 4], ["1", "2-4"], "5+")


def gap_survival(days: pd.DataFrame, as_of, gaps: pd.DataFrame | None = None) -> dict[str, KaplanMeierResult]:
    """How long customers stay silent: Kaplan-Meier of gaps between purchases, per frequency band.

    Finished gaps are events (the customer bought again); each customer's open gap since the
    last purchase is censored at ``as_of``. Bands are the number of purchase days before the
    gap (1, 2-4, 5+): frequent buyers fall silent for shorter spells. ``gaps``:
    :func:`interpurchase_gaps` of ``days``, when already computed.
    """
    as_of = pd.Timestamp(as_of)
    gaps = interpurchase_gaps(days) if gaps is None else gaps
    last = days.groupby("customer_id").agg(last=("day", "max"), n=("day", "size")).reset_index()
    open_gaps = pd.DataFrame({"gap_days": (as_of - last["last"]).dt.days, "purchase_number": last["n"], "event": 0})
    all_gaps = pd.concat([gaps.assign(event=1)[["gap_days", "purchase_number", "event"]], open_gaps],
                         ignore_index=True)
    band = _frequency_band(all_gaps["purchase_number"])
    return {b: kaplan_meier(all_gaps.loc[band == b, "gap_days"], all_gaps.loc[band == b, "event"], label=b)
            for b in np.unique(band)}


def churn_risk(source_or_path, as_of=None, inactivity_days: int | None = None, *, horizon_days: int = 30,
               value: pd.DataFrame | None = None, use_clv: bool = True, top: int | None = 50,
               days: pd.DataFrame | None = None, gaps: pd.DataFrame | None = None) -> pd.DataFrame:
    """Customers most likely to churn in the next ``horizon_days``, ranked by expected value lost.

    A customer still a customer at ``as_of`` churns next month when their inactivity deadline
    (last purchase + N days) falls in the next ``horizon_days`` and they do not buy before it.
    The chance of that is ``S(N) / S(r)`` from :func:`gap_survival` (r = days since last
    purchase, S = share of silent spells of this frequency band lasting longer).
    Value is the customer's CLV: ``value`` (``customer_id, clv[, p_alive]``, e.g. from the month's
    customer base) or, with ``use_clv``, :func:`analysis.clv.customer_value`; else their spend in
    the last 365 days. IDs are pseudonymous. This list is "due next month"
    (concept ``customers_due_next_month``), not the value at risk of the customer base.

    Returns
    -------
    pd.DataFrame
        ``customer, days_since_last_purchase, deadline, p_churn_next_month, value, value_basis,
        expected_value_lost`` (+ ``p_alive`` with CLV), sorted by expected value lost.
    """
    src = source_at(source_or_path, as_of)
    as_of = as_of_date(src, as_of)
    days = purchase_days(src, as_of) if days is None else days
    gaps = interpurchase_gaps(days) if gaps is None else gaps
    n = define_churn(src, as_of, inactivity_days, days=days, gaps=gaps, method="inactivity").inactivity_days
    per = days.groupby("customer_id").agg(last=("day", "max"), n_purchases=("day", "size")).reset_index()
    per["recency_days"] = (as_of - per["last"]).dt.days
    due = per[(per["recency_days"] < n) & (per["recency_days"] >= n - horizon_days)].copy()
    curves = gap_survival(days, as_of, gaps)
    band = _frequency_band(due["n_purchases"])
    p = np.zeros(len(due))
    for b, km in curves.items():
        m = band == b
        if m.any():
            s_r = km.survival_at(due.loc[m, "recency_days"].to_numpy() - 0.5)  # still silent at r days
            s_n = km.survival_at(n - 0.5)  # silent for the whole N days (a purchase on day N saves the customer)
            p[m] = np.clip(s_n / np.where(s_r > 0, s_r, np.nan), 0, 1)
    due["p_churn_next_month"] = np.nan_to_num(p, nan=1.0)
    due["deadline"] = due["last"] + pd.Timedelta(days=n)
    basis = "spend_365d"
    if value is None and use_clv:
        try:
            value = customer_value(src, as_of, horizon_months=12)
        except KantaError:  # the list still works on past spend when the CLV model cannot be fitted
            value = None
    if value is not None and "clv" in value:
        v = value[["customer_id", "clv"] + (["p_alive"] if "p_alive" in value else [])].copy()
        v["customer_id"] = v["customer_id"].astype(str)
        due = due.merge(v.rename(columns={"clv": "value"}), on="customer_id", how="left")
        basis = "clv"
    else:
        recent = days[days["day"] > as_of - pd.Timedelta(days=365)].groupby("customer_id")["spend"].sum()
        due["value"] = due["customer_id"].map(recent).fillna(0.0)
    due["value"] = due["value"].fillna(0.0)
    due["value_basis"] = basis
    due["expected_value_lost"] = due["p_churn_next_month"] * due["value"]
    due = due.sort_values(["expected_value_lost", "customer_id"], ascending=[False, True])
    due["pseudonym"] = pseudonymize(due["customer_id"]).to_numpy()
    cols = ["customer_id", "pseudonym", "n_purchases", "recency_days", "deadline", "p_churn_next_month", "value", "value_basis",
            "expected_value_lost"] + (["p_alive"] if "p_alive" in due else [])
    out = due[cols].rename(columns={"recency_days": "days_since_last_purchase"}).reset_index(drop=True)
    out.attrs["inactivity_days"] = n
    out.attrs["n_due"] = len(out)
    out.attrs["expected_churners"] = float(out["p_churn_next_month"].sum())
    out.attrs["expected_value_lost"] = float(out["expected_value_lost"].sum())
    return out.head(top) if top else out


def export_table(source_or_path, as_of, table: str = "risk", *, inactivity_days: int | None = None,
                 top: int | None = None, use_clv: bool = True) -> pd.DataFrame:
    """The table ``kanta churn`` writes: the "due next month" list or the duration / event table.

    Both are lists for operators (files, never stakeholder pages): every row carries ``customer_id``
    for the campaign tool and ``pseudonym`` (the id on report pages). ``table="durations"`` is
    :func:`churn_table`; ``"risk"`` is :func:`churn_risk`. ``attrs`` holds ``inactivity_days`` (None for
    contract churn) and ``as_of``.
    """
    if table not in ("risk", "durations"):
        raise ParameterError(f"table: got {table!r}, expected 'risk' or 'durations'.")
    src = source_at(source_or_path, as_of)
    as_of = as_of_date(src, as_of)
    days = purchase_days(src, as_of)
    if table == "durations":
        out = churn_table(src, as_of, inactivity_days, days=days)
        n = out.attrs["definition"].inactivity_days
        out.insert(out.columns.get_loc("customer_id") + 1, "pseudonym", pseudonymize(out["customer_id"]).to_numpy())
    else:
        out = churn_risk(src, as_of, inactivity_days, days=days, top=top, use_clv=use_clv)
        n = out.attrs["inactivity_days"]
    out.attrs = {"inactivity_days": n, "as_of": as_of}
    return out
