"""The monthly flows of the customer base: active, new, lost and returned customers and sales per month.

One SQL text for DuckDB and Spark (:data:`analysis.customers.table.DIALECTS`); a customer is active while they
bought within the churn rule's window.
"""
from __future__ import annotations

import pandas as pd

from analysis.customers.table import dialect_sql, open_source, purchase_days_sql
from analysis.data import parse_date, quote_literal
from analysis.errors import ParameterError


def _month_ends(as_of: pd.Timestamp, months: int) -> list[pd.Timestamp]:
    """Month ends of the ``months`` months ending at ``as_of``'s month (the last cut at ``as_of``), plus one in front."""
    return [min((as_of.replace(day=1) - pd.DateOffset(months=k)) + pd.offsets.MonthEnd(0), as_of)
            for k in range(months, -1, -1)]


def monthly_activity_sql(as_of, months: int = 13, inactivity_days: int = 180, dialect: str = "duckdb",
                         has_customers: bool = False, table: str = "transactions",
                         purchase_days: str | None = None) -> str:
    """The monthly flows of :func:`monthly_activity` as one SQL query in ``dialect`` (``duckdb`` or ``spark``).

    One row per month end (one extra month in front, for the "previous" counts): ``month_end``,
    ``registered``, ``active``, ``new``, ``lost``, ``returned``, ``revenue``, ``n_purchases``,
    ``buyers``. Only equi-joins and grouped aggregates (no correlated subqueries), so the same
    text runs on DuckDB and Spark SQL; ``table`` holds the validated transactions on or before
    ``as_of`` and ``customers`` the customers when ``has_customers``; ``purchase_days`` names a
    relation already holding :func:`purchase_days_sql` of ``table`` (an engine that does not
    share common table expressions between their uses can compute it once).
    """
    if months < 1:
        raise ParameterError(f"months: got {months}, expected at least 1.")
    if inactivity_days < 1:
        raise ParameterError(f"inactivity_days: got {inactivity_days}, expected a positive number of days.")
    as_of = parse_date(as_of)
    n = int(inactivity_days)
    months_sql = " UNION ALL ".join(
        f"SELECT DATE {quote_literal(e.strftime('%Y-%m-%d'))} AS month_end, "
        f"DATE {quote_literal(e.replace(day=1).strftime('%Y-%m-%d'))} AS month_start" for e in _month_ends(as_of, months))
    registered = ("SELECT m.month_end, COUNT(*) AS registered FROM m JOIN customers c ON c.signup_date <= m.month_end "
                  "GROUP BY m.month_end" if has_customers else
                  "SELECT m.month_end, COUNT(*) AS registered FROM m JOIN firsts f ON f.first_month <= m.month_start "
                  "GROUP BY m.month_end")
    as_of_d = f"DATE {quote_literal(as_of.strftime('%Y-%m-%d'))}"
    days = purchase_days or f"({purchase_days_sql(dialect, table)})"
    return f"""
        WITH m AS ({months_sql}),
        -- one row per customer and calendar month with purchases: each month end reads these, not every day
        cm AS (
            SELECT customer_id, {dialect_sql(dialect, 'month_start', d='day')} AS month_start, MAX(day) AS last_day,
                   SUM(net_amount) AS revenue, COUNT(*) AS n_purchases
            FROM {days} d WHERE is_purchase = 1 AND day <= {as_of_d}
            GROUP BY customer_id, {dialect_sql(dialect, 'month_start', d='day')}),
        -- the month's revenue: net sales of every customer-day in it, refund-only days included, so the
        -- months add up to the total over the same window (the purchase counts above stay purchase days);
        -- summed exactly in the days' decimal type, so the same month gives the same revenue in every run
        mrev AS (
            SELECT {dialect_sql(dialect, 'month_start', d='day')} AS month_start, SUM(net_amount) AS revenue
            FROM {days} d WHERE day <= {as_of_d}
            GROUP BY {dialect_sql(dialect, 'month_start', d='day')}),
        firsts AS (SELECT customer_id, MIN(month_start) AS first_month FROM cm GROUP BY customer_id),
        -- active at a month end: a purchase within the window before it, i.e. a month up to it whose last
        -- purchase day is inside the window (a month's days never pass the month end, nor as_of)
        active AS (
            SELECT DISTINCT m.month_end, c.customer_id
            FROM m JOIN cm c ON c.month_start <= m.month_start
                             AND c.last_day > {dialect_sql(dialect, 'date_add', d='m.month_end', n=-n)}),
        prev AS (
            SELECT month_end, LAG(month_end) OVER (ORDER BY month_end) AS prev_end FROM m),
        in_month AS (
            SELECT m.month_end, c.customer_id, c.revenue, c.n_purchases
            FROM m JOIN cm c ON c.month_start = m.month_start),
        flags AS (
            SELECT i.month_end, i.customer_id,
                   (f.first_month = m.month_start) AS is_new,
                   (a.customer_id IS NULL) AS was_inactive
            FROM in_month i JOIN m ON m.month_end = i.month_end JOIN firsts f ON f.customer_id = i.customer_id
                 JOIN prev ON prev.month_end = i.month_end
                 LEFT JOIN active a ON a.month_end = prev.prev_end AND a.customer_id = i.customer_id),
        reg AS ({registered}),
        act AS (SELECT month_end, COUNT(*) AS active FROM active GROUP BY month_end),
        flow AS (
            SELECT month_end, COUNT(CASE WHEN is_new THEN 1 END) AS new,
                   COUNT(CASE WHEN NOT is_new AND was_inactive THEN 1 END) AS returned
            FROM flags GROUP BY month_end),
        -- active at the previous month end but not at this one
        lost AS (
            SELECT prev.month_end, COUNT(*) AS lost
            FROM prev JOIN active a ON a.month_end = prev.prev_end
                 LEFT JOIN active b ON b.month_end = prev.month_end AND b.customer_id = a.customer_id
            WHERE b.customer_id IS NULL GROUP BY prev.month_end),
        sales AS (
            SELECT month_end, SUM(n_purchases) AS n_purchases, COUNT(*) AS buyers
            FROM in_month GROUP BY month_end)
        SELECT m.month_end, COALESCE(reg.registered, 0) AS registered, COALESCE(act.active, 0) AS active,
               COALESCE(flow.new, 0) AS new, COALESCE(lost.lost, 0) AS lost, COALESCE(flow.returned, 0) AS returned,
               CAST(COALESCE(mrev.revenue, 0) AS DOUBLE) AS revenue, COALESCE(sales.n_purchases, 0) AS n_purchases,
               COALESCE(sales.buyers, 0) AS buyers
        FROM m LEFT JOIN reg ON reg.month_end = m.month_end LEFT JOIN act ON act.month_end = m.month_end
             LEFT JOIN flow ON flow.month_end = m.month_end LEFT JOIN lost ON lost.month_end = m.month_end
             LEFT JOIN sales ON sales.month_end = m.month_end LEFT JOIN mrev ON mrev.month_start = m.month_start
        ORDER BY m.month_end"""


def monthly_flows_frame(raw: pd.DataFrame, inactivity_days: int) -> pd.DataFrame:
    """The result of :func:`monthly_activity_sql` (any engine) as :func:`monthly_activity`'s table."""
    df = raw.iloc[1:].reset_index(drop=True)
    df["month_end"] = pd.to_datetime(df["month_end"])
    df["month"] = df["month_end"].dt.strftime("%Y-%m")
    df["avg_purchase"] = df["revenue"] / df["n_purchases"].where(df["n_purchases"] > 0)
    df["purchase_frequency"] = df["n_purchases"] / df["buyers"].where(df["buyers"] > 0)
    df["inactivity_days"] = int(inactivity_days)
    cols = ["month", "month_end", "registered", "active", "new", "lost", "returned", "revenue", "n_purchases",
            "buyers", "avg_purchase", "purchase_frequency", "inactivity_days"]
    return df[cols]


def monthly_activity(source, as_of, months: int = 13, inactivity_days: int = 180) -> pd.DataFrame:
    """Customer counts and sales per calendar month, for the months ending at ``as_of``'s month.

    A customer is **active** at a month end when they bought within the last
    ``inactivity_days`` days (inclusive of the month end). Per month:
    ``new`` = first purchase ever in the month; ``lost`` = active at the previous month
    end but not at this one; ``returned`` = bought in the month, not new, and not active
    at the previous month end. So ``active = active_prev − lost + new + returned``.
    Sales: ``revenue`` (net sales of every transaction in the month, refunds included even on a day
    without a purchase, so the months add up to the total of the same window), ``n_purchases``
    (purchase days), ``buyers``,
    ``avg_purchase`` = revenue / purchases, ``purchase_frequency`` = purchases / buyers;
    ``registered`` counts signups up to the month end (buyers when no customers table).

    The last month is cut at ``as_of`` (a partial month when ``as_of`` is not a month end).
    The query is :func:`monthly_activity_sql`; :func:`analysis.customers.spark.monthly_activity` runs
    the same text on Spark.
    """
    as_of = parse_date(as_of)
    sql = monthly_activity_sql(as_of, months, inactivity_days, "duckdb", has_customers=False)  # parameters first
    src = open_source(source, as_of)
    if src.has("customers"):
        sql = monthly_activity_sql(as_of, months, inactivity_days, "duckdb", has_customers=True)
    return monthly_flows_frame(src.sql(sql), inactivity_days)
