"""The outcomes an experiment is judged on, read from the source: one row per assigned customer.

Windows start at each customer's assignment; purchases follow the package's one purchase-day rule.
"""
from __future__ import annotations

import pandas as pd

from analysis.customers.table import is_purchase_sql
from analysis.data import load_source, money_sql
from analysis.errors import DataError, ParameterError

__all__ = ["SOURCE_TABLES", "experiment_ids", "experiment_outcomes", "load"]

#: The tables an experiment's analysis reads (the customers table only for the base's size): a page or
#: command loads and validates these, not the contacts table it never uses.
SOURCE_TABLES = ("transactions", "customers", "assignments", "campaigns")


# --- outcomes from data -----------------------------------------------------
def load(source_or_path, as_of=None):
    # A Source loaded at another date is reloaded at as_of: outcomes must not see later purchases.
    return load_source(source_or_path, as_of=as_of, tables=SOURCE_TABLES)


def _check_windows(conversion_window_days: int, retention_window_days: int, pre_period_days: int) -> None:
    if conversion_window_days < 1 or pre_period_days < 1:
        raise ParameterError(
            f"conversion_window_days {conversion_window_days!r}, pre_period_days {pre_period_days!r}: expected whole days >= 1."
        )
    if retention_window_days <= conversion_window_days:
        raise ParameterError(
            f"retention_window_days: got {retention_window_days!r}, expected more than conversion_window_days "
            f"({conversion_window_days}); retention is purchasing after the conversion window."
        )


def experiment_ids(source_or_path, as_of=None) -> list[str]:
    """Experiments in the source's ``assignments`` table, in order of first assignment."""
    src = load(source_or_path, as_of)
    if not src.has("assignments"):
        return []
    return src.sql("SELECT experiment_id FROM assignments GROUP BY 1 ORDER BY min(assigned_at), 1")["experiment_id"].tolist()


def experiment_outcomes(source_or_path, experiment_id: str, as_of=None, conversion_window_days: int = 30,
                        retention_window_days: int = 90, pre_period_days: int = 90) -> pd.DataFrame:
    """One row per assigned customer with the outcomes an experiment is judged on.

    Windows start at each customer's ``assigned_at`` (purchases before it cannot be caused by
    the campaign): the conversion window is ``[assigned_at, assigned_at + conversion_window_days)``,
    the retention window the ``retention_window_days - conversion_window_days`` days after it.
    Purchases follow the package's one purchase-day rule (:func:`analysis.customers.table.is_purchase_sql`):
    refunds are netted per customer and day, so a purchase returned the same day is no conversion.

    Parameters
    ----------
    source_or_path : Source or path
    experiment_id : str
    as_of : date-like, optional
        Analysis date (transactions on that day count); required with a path.
    conversion_window_days, retention_window_days, pre_period_days : int

    Returns
    -------
    pd.DataFrame
        ``customer_id, variant, is_control, planned_share, assigned_at, converted, revenue,
        n_purchases, retained`` (NA while the retention window is open), ``pre_period_spend``
        (from the assignments table when given, else spend in the ``pre_period_days`` before
        assignment), ``window_complete``, ``active_days`` and ``lapsed`` (days from assignment to
        the last purchase before a gap of ``conversion_window_days`` without purchases, within
        ``retention_window_days``; ``lapsed`` False means censored).

    Example
    -------
    >>> out = experiment_outcomes("data/sample", "reactivation-2026-03", as_of="2026-10-31")
    >>> out.groupby("variant")["converted"].sum().to_dict()
    {'no_offer': 12, 'offer': 23}
    """
    _check_windows(conversion_window_days, retention_window_days, pre_period_days)
    src = load(source_or_path, as_of)
    if not src.has("assignments"):
        raise DataError(f"assignments: the source {src.path} has no assignments table; expected one to analyse experiments.")
    cols = src.columns("assignments")
    n = src.sql("SELECT count(*) AS n FROM assignments WHERE experiment_id = ?", [experiment_id])["n"].iloc[0]
    if n == 0:
        known = ", ".join(experiment_ids(src)) or "none"
        raise ParameterError(f"experiment_id: no assignments for {experiment_id!r}; experiments in the data: {known}.")
    is_control = "a.is_control" if "is_control" in cols else "CAST(NULL AS BOOLEAN)"
    share = "a.planned_share" if "planned_share" in cols else "CAST(NULL AS DOUBLE)"
    given_pre = "a.pre_period_spend" if "pre_period_spend" in cols else "CAST(NULL AS DOUBLE)"
    as_of_end = src.as_of + pd.Timedelta(days=1)  # transactions ON as_of count
    c, r, p = int(conversion_window_days), int(retention_window_days), int(pre_period_days)
    q = f"""
    WITH a AS (SELECT * FROM assignments WHERE experiment_id = $exp),
    -- customer-days after the assignment, split at the end of the conversion window, with the
    -- package's purchase-day rule (refunds netted per day; a cancelled day is not a purchase)
    d AS (
      SELECT a.customer_id, a.assigned_at, CAST(t.timestamp AS DATE) AS day,
        t.timestamp < a.assigned_at + INTERVAL {c} DAY AS in_window,
        sum({money_sql('t.amount')}) AS net_amount, {is_purchase_sql('t.amount')} AS is_purchase
      FROM a JOIN transactions t ON t.customer_id = a.customer_id
       AND t.timestamp >= a.assigned_at AND t.timestamp < a.assigned_at + INTERVAL {r} DAY
      GROUP BY 1, 2, 3, 4),
    w AS (
      SELECT customer_id, assigned_at,
        count(*) FILTER (WHERE in_window AND is_purchase = 1) AS n_purchases,
        coalesce(sum(net_amount) FILTER (WHERE in_window), 0) AS revenue,
        count(*) FILTER (WHERE NOT in_window AND is_purchase = 1) AS n_later
      FROM d GROUP BY 1, 2),
    pre AS (
      SELECT a.customer_id, a.assigned_at, sum({money_sql('t.amount')}) AS spend
      FROM a JOIN transactions t ON t.customer_id = a.customer_id
       AND t.timestamp < a.assigned_at AND t.timestamp >= a.assigned_at - INTERVAL {p} DAY
      GROUP BY 1, 2)
    SELECT a.customer_id, a.variant, {is_control} AS is_control, {share} AS planned_share, a.assigned_at,
      coalesce(w.n_purchases, 0) > 0 AS converted, CAST(coalesce(w.revenue, 0) AS DOUBLE) AS revenue,
      coalesce(w.n_purchases, 0) AS n_purchases, coalesce(w.n_later, 0) > 0 AS retained_if_complete,
      coalesce({given_pre}, CAST(pre.spend AS DOUBLE), 0) AS pre_period_spend,
      a.assigned_at + INTERVAL {c} DAY <= $end AS window_complete,
      a.assigned_at + INTERVAL {r} DAY <= $end AS retention_complete
    FROM a LEFT JOIN w ON w.customer_id = a.customer_id AND w.assigned_at = a.assigned_at
    LEFT JOIN pre ON pre.customer_id = a.customer_id AND pre.assigned_at = a.assigned_at
    ORDER BY a.assigned_at, a.customer_id
    """
    out = src.con.execute(q, {"exp": experiment_id, "end": as_of_end.to_pydatetime()}).df()
    out["retained"] = out["retained_if_complete"].astype("boolean").where(out["retention_complete"], pd.NA)
    out = out.drop(columns=["retained_if_complete", "retention_complete"])
    dur = _activity_durations(src, experiment_id, as_of_end, c, r)
    out = out.merge(dur, on=["customer_id", "assigned_at"], how="left")
    return out


def _activity_durations(src, experiment_id: str, as_of_end: pd.Timestamp, gap_days: int, horizon_days: int) -> pd.DataFrame:
    """Days each customer stays active after assignment: lapse = first gap of ``gap_days`` without purchases."""
    days = src.con.execute(f"""
      SELECT DISTINCT customer_id, assigned_at, day FROM (
        SELECT a.customer_id, a.assigned_at,
               floor(epoch(t.timestamp - a.assigned_at) / 86400)::INTEGER AS day
        FROM assignments a JOIN transactions t ON t.customer_id = a.customer_id
         AND t.timestamp >= a.assigned_at AND t.timestamp < a.assigned_at + INTERVAL {horizon_days} DAY
        WHERE a.experiment_id = $exp
        GROUP BY 1, 2, 3, CAST(t.timestamp AS DATE)
        HAVING {is_purchase_sql('t.amount')} = 1)""", {"exp": experiment_id}).df()
    base = src.con.execute("SELECT customer_id, assigned_at FROM assignments WHERE experiment_id = $exp",
                           {"exp": experiment_id}).df()
    observed = ((as_of_end - base["assigned_at"]).dt.total_seconds() / 86400).clip(lower=0, upper=horizon_days)
    base["end"] = observed.to_numpy()
    base["day"] = 0  # the assignment itself starts the clock
    ends = base.assign(day=base["end"], is_end=True)
    seq = pd.concat([base.assign(is_end=False), days.assign(is_end=False), ends], ignore_index=True)
    seq = seq[seq["day"] <= seq.groupby(["customer_id", "assigned_at"])["day"].transform("max")]
    seq = seq.sort_values(["customer_id", "assigned_at", "day", "is_end"], kind="mergesort")
    seq["gap"] = seq.groupby(["customer_id", "assigned_at"])["day"].shift(-1) - seq["day"]
    seq = seq[~seq["is_end"]]
    first_lapse = seq[seq["gap"] >= gap_days].groupby(["customer_id", "assigned_at"])["day"].min()
    last_seen = seq.groupby(["customer_id", "assigned_at"])["day"].max()
    res = pd.DataFrame({"last_seen": last_seen}).join(first_lapse.rename("lapse_day"))
    res["lapsed"] = res["lapse_day"].notna()
    res["active_days"] = res["lapse_day"].fillna(res["last_seen"]).astype(float)
    return res[["active_days", "lapsed"]].reset_index()
