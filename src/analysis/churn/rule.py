"""The churn rule and the duration / event table: when a customer counts as lost, censored at ``as_of``.

The one rule (N days without a purchase, or contract end dates) that the month's customer base and every page use.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.churn.results import json_value, summary_html
from analysis.customers import purchase_days_sql
from analysis.data import load_source
from analysis.errors import ModelError, ParameterError

ATTRIBUTES = ("region", "age_band", "acquisition_channel", "marketing_permission")


def source_at(source_or_path, as_of=None):
    """A validated Source (one loader for the whole package; a Source with the same as_of passes through)."""
    return load_source(source_or_path, as_of=as_of)


def as_of_date(source, as_of) -> pd.Timestamp:
    """The analysis date: ``as_of`` when given, else the source's, as a day (no time of day)."""
    ts = pd.Timestamp(as_of if as_of is not None else source.as_of)
    if pd.isna(ts):
        raise ParameterError("as_of: expected a date such as 2026-10-31.")
    return ts.normalize()


def sql_date(ts: pd.Timestamp) -> str:
    """A day as a DuckDB date literal."""
    return f"DATE '{ts.date().isoformat()}'"


def purchase_days(source_or_path, as_of=None) -> pd.DataFrame:
    """One row per customer and purchase day up to ``as_of`` (inclusive) with the day's net spend.

    Purchase days follow :func:`analysis.customers.purchase_days_sql` (the package's one rule:
    a refund alone is not a purchase), so churn agrees with the customer table and monthly activity.
    """
    src = source_at(source_or_path, as_of)
    as_of = as_of_date(src, as_of)
    q = f"""
        SELECT customer_id, day, CAST(net_amount AS DOUBLE) AS spend FROM ({purchase_days_sql()})
        WHERE is_purchase = 1 AND day <= {sql_date(as_of)} ORDER BY 1, 2"""
    out = src.sql(q)
    out["day"] = pd.to_datetime(out["day"])
    out["customer_id"] = out["customer_id"].astype(str)
    return out


def interpurchase_gaps(days: pd.DataFrame) -> pd.DataFrame:
    """Gaps in days between a customer's consecutive purchase days.

    Returns ``customer_id, gap_days, purchase_number`` (the gap after the customer's
    ``purchase_number``-th purchase day).
    """
    d = days.sort_values(["customer_id", "day"])
    prev = d.groupby("customer_id")["day"].shift()
    k = d.groupby("customer_id").cumcount()  # purchases before this one
    gaps = pd.DataFrame({"customer_id": d["customer_id"], "gap_days": (d["day"] - prev).dt.days, "purchase_number": k})
    return gaps.dropna(subset=["gap_days"]).astype({"gap_days": int}).reset_index(drop=True)


def gap_table(source_or_path, as_of=None) -> pd.DataFrame:
    """:func:`interpurchase_gaps` of :func:`purchase_days`, computed in DuckDB and without customer ids.

    ``gap_days, purchase_number`` of every finished gap (the same rows as
    :func:`interpurchase_gaps`, in no particular order): what the churn rule, the retention
    KPIs and the "due next month" list need, without bringing every purchase day into pandas.
    """
    src = source_at(source_or_path, as_of)
    as_of = as_of_date(src, as_of)
    q = f"""
        SELECT CAST(day - prev AS INTEGER) AS gap_days, CAST(k AS BIGINT) AS purchase_number FROM (
            SELECT day, LAG(day) OVER w AS prev, ROW_NUMBER() OVER w - 1 AS k
            FROM ({purchase_days_sql()}) WHERE is_purchase = 1 AND day <= {sql_date(as_of)}
            WINDOW w AS (PARTITION BY customer_id ORDER BY day))
        WHERE prev IS NOT NULL"""
    return src.sql(q)


@dataclass(frozen=True)
class ChurnDefinition:
    """How churn is defined for one run.

    Attributes
    ----------
    method : {"inactivity", "contract"}
        "inactivity": churned ``inactivity_days`` after the last purchase (non-contractual data);
        "contract": ``customers.churn_date`` (contractual data).
    inactivity_days : int or None
    data_driven : bool
        True when ``inactivity_days`` came from the gap distribution.
    quantile : float
        Quantile of the inter-purchase gaps used for the data-driven default.
    gap_quantile_days : float
        That quantile, before rounding.
    share_gaps_within : float
        Share of observed gaps shorter than or equal to ``inactivity_days``.
    median_gap_days : float
    n_gaps : int
    """

    method: str
    inactivity_days: int | None
    data_driven: bool
    quantile: float
    gap_quantile_days: float
    share_gaps_within: float
    median_gap_days: float
    n_gaps: int

    def to_dict(self) -> dict:
        return {k: json_value(getattr(self, k)) for k in ("method", "inactivity_days", "data_driven", "quantile",
                                                           "gap_quantile_days", "share_gaps_within",
                                                           "median_gap_days", "n_gaps")}

    def summary(self) -> pd.DataFrame:
        return pd.Series(self.to_dict(), name="value", dtype="object").to_frame()

    def _repr_html_(self) -> str:
        return summary_html(self.summary(), "Churn definition")

def default_inactivity_days(gap_days, quantile: float = 0.95, round_to: int = 30) -> int:
    """Data-driven inactivity threshold: a high quantile of inter-purchase gaps, rounded up.

    A customer who has been silent longer than 95 % of the gaps between purchases ever
    observed is unlikely to be between two purchases; rounding up to whole 30-day months keeps
    the rule easy to say ("no purchase for 4 months") and errs towards calling churn late
    rather than early.

    Example
    -------
    >>> default_inactivity_days([10, 20, 30, 40, 100], quantile=0.9, round_to=30)
    90
    """
    g = np.asarray(gap_days, dtype=float)
    if len(g) == 0:
        raise ModelError("transactions: no customer bought on two different days, so the gap between purchases "
                         "is unknown; give inactivity_days explicitly.")
    if not 0.5 <= quantile < 1:
        raise ParameterError(f"quantile: got {quantile}, expected a value in [0.5, 1).")
    q = float(np.quantile(g, quantile))
    return int(max(round_to, math.ceil(q / round_to) * round_to))


def _has_contract_dates(src) -> bool:
    if not src.has("customers"):
        return False
    cols = set(src.columns("customers"))
    if "churn_date" not in cols:
        return False
    return int(src.sql("SELECT COUNT(churn_date) AS n FROM customers")["n"].iloc[0]) > 0


def define_churn(source_or_path, as_of=None, inactivity_days: int | None = None, *, quantile: float = 0.95,
                 round_to: int = 30, method: str = "auto", days: pd.DataFrame | None = None,
                 gaps: pd.DataFrame | None = None) -> ChurnDefinition:
    """Decide the churn rule: contract end dates when the data has them, else N days of inactivity.

    Parameters
    ----------
    inactivity_days : int, optional
        N; None = data-driven (:func:`default_inactivity_days`).
    method : {"auto", "inactivity", "contract"}
        "auto" uses ``customers.churn_date`` when any customer has one.
    days, gaps : pd.DataFrame, optional
        :func:`purchase_days` and :func:`interpurchase_gaps` of them, when already computed.
    """
    src = source_at(source_or_path, as_of)
    as_of = as_of_date(src, as_of)
    if method not in ("auto", "inactivity", "contract"):
        raise ParameterError(f"method: got {method!r}, expected 'auto', 'inactivity' or 'contract'.")
    if inactivity_days is not None and (int(inactivity_days) != inactivity_days or inactivity_days < 1):
        raise ParameterError(f"inactivity_days: got {inactivity_days!r}, expected a whole number of days ≥ 1.")
    contract = _has_contract_dates(src)
    if method == "contract" and not contract:
        raise ParameterError("method: 'contract' needs customers.churn_date, but no customer has one.")
    if method == "contract" or (method == "auto" and contract):
        return ChurnDefinition("contract", None, False, quantile, float("nan"), float("nan"), float("nan"), 0)
    if gaps is None:  # without the purchase days at hand, the gaps come from DuckDB (no per-day frame)
        gaps = interpurchase_gaps(days) if days is not None else gap_table(src, as_of)
    gaps = gaps["gap_days"].to_numpy()
    data_driven = inactivity_days is None
    n = default_inactivity_days(gaps, quantile, round_to) if data_driven else int(inactivity_days)
    return ChurnDefinition(
        method="inactivity", inactivity_days=n, data_driven=data_driven, quantile=quantile,
        gap_quantile_days=float(np.quantile(gaps, quantile)) if len(gaps) else float("nan"),
        share_gaps_within=float((gaps <= n).mean()) if len(gaps) else float("nan"),
        median_gap_days=float(np.median(gaps)) if len(gaps) else float("nan"), n_gaps=int(len(gaps)))


def churn_threshold(source_or_path, as_of=None, inactivity_days: int | None = None) -> int:
    """The number of days without a purchase after which a customer counts as lost.

    The one threshold behind "active", "lost" and "passive" on every page: ``inactivity_days``
    when given, else the data-driven default of :func:`define_churn` at ``as_of``.

    Example
    -------
    >>> churn_threshold("data/sample", "2026-10-31")  # doctest: +SKIP
    150
    """
    if inactivity_days is not None:
        return define_churn(source_or_path, as_of, inactivity_days, method="inactivity").inactivity_days
    return define_churn(source_or_path, as_of, None, method="inactivity").inactivity_days


def customer_attributes(src, as_of) -> pd.DataFrame | None:
    """Signup and churn dates and the attributes in :data:`ATTRIBUTES` per customer (None without customers)."""
    if not src.has("customers"):
        return None
    cols = set(src.columns("customers"))
    keep = ["customer_id"] + [c for c in ("signup_date", "churn_date", *ATTRIBUTES) if c in cols]
    cust = src.sql(f"SELECT {', '.join(keep)} FROM customers")
    cust["customer_id"] = cust["customer_id"].astype(str)
    for c in ("signup_date", "churn_date"):
        if c in cust:
            cust[c] = pd.to_datetime(cust[c])
    return cust


def churn_table(source_or_path, as_of=None, inactivity_days: int | None = None, *, start: str = "first_purchase",
                definition: ChurnDefinition | None = None, days: pd.DataFrame | None = None) -> pd.DataFrame:
    """The duration / event table: one row per customer, censored explicitly at ``as_of``.

    Inactivity rule: a customer churns on ``last_purchase + inactivity_days`` when that date is on
    or before ``as_of``; otherwise the customer is still a customer and censored at ``as_of``.
    Contract rule: churn on ``customers.churn_date`` when on or before ``as_of``.

    Parameters
    ----------
    inactivity_days : int, optional
        N; None = data-driven default (see :func:`define_churn`).
    start : {"first_purchase", "signup"}
        Where a lifetime starts (signup falls back to the first purchase when missing or later).

    Returns
    -------
    pd.DataFrame
        ``customer_id, start_date, first_purchase, last_purchase, n_purchases, total_spend,
        churn_date (NaT if censored), churned (0/1), duration_days`` plus customer attributes.
        ``attrs["definition"]`` holds the :class:`ChurnDefinition`.

    Example
    -------
    >>> t = churn_table("data/sample", "2026-10-31", inactivity_days=120)
    >>> bool(t["churned"].isin([0, 1]).all())
    True
    """
    if start not in ("first_purchase", "signup"):
        raise ParameterError(f"start: got {start!r}, expected 'first_purchase' or 'signup'.")
    src = source_at(source_or_path, as_of)
    as_of = as_of_date(src, as_of)
    days = purchase_days(src, as_of) if days is None else days
    definition = definition or define_churn(src, as_of, inactivity_days, days=days)
    per = days.groupby("customer_id").agg(first_purchase=("day", "min"), last_purchase=("day", "max"),
                                          n_purchases=("day", "size"), total_spend=("spend", "sum")).reset_index()
    cust = customer_attributes(src, as_of)
    if definition.method == "contract":
        base = cust[cust["signup_date"].notna() & (cust["signup_date"] <= as_of)]
        t = base.merge(per, on="customer_id", how="left")
        t["start_date"] = t["signup_date"]
        ended = t["churn_date"].notna() & (t["churn_date"] <= as_of)
        t["churn_date"] = t["churn_date"].where(ended)
    else:
        t = per if cust is None else per.merge(cust.drop(columns=[c for c in ("churn_date",) if c in cust]),
                                               on="customer_id", how="left")
        t["start_date"] = t["first_purchase"]
        if start == "signup" and "signup_date" in t:
            t["start_date"] = t["signup_date"].where(t["signup_date"] <= t["first_purchase"], t["first_purchase"])
        churn_date = t["last_purchase"] + pd.Timedelta(days=definition.inactivity_days)
        ended = churn_date <= as_of
        t["churn_date"] = churn_date.where(ended)
    t["churned"] = ended.astype(int)
    t["duration_days"] = (t["churn_date"].where(ended, as_of) - t["start_date"]).dt.days.astype(int)
    first = ["customer_id", "start_date", "first_purchase", "last_purchase", "n_purchases", "total_spend",
             "churn_date", "churned", "duration_days"]
    t = t[first + [c for c in t.columns if c not in first and c != "churn_date"]]
    t = t.sort_values("customer_id").reset_index(drop=True)
    t.attrs["definition"] = definition
    t.attrs["as_of"] = as_of
    return t
