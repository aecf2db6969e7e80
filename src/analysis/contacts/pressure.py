"""Marketing pressure: the monthly contacts above which more marketing drives customers away.

The threshold comes from the drop-out model (:mod:`analysis.contacts.dropout`); the customer-month table beside it.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from analysis.churn import churn_threshold
from analysis.contacts.dropout import MAX_CONTACTS, DropoutModel, HazardRatio
from analysis.contacts.table import date_sql, open_source, require_contacts
from analysis.customers.table import purchase_days_sql
from analysis.errors import ModelError


@dataclass
class MarketingPressure:
    """Outbound marketing contacts per customer-month against leaving and buying, and the threshold above which
    more contacts raise the drop-out hazard (the irritation threshold, from :func:`dropout_model`).

    ``table`` has one row per monthly contact count (pooled from :data:`MAX_CONTACTS`): customer-months at
    risk, last purchases (``events``), months with a purchase, and their rates. ``ci_low``/``ci_high`` bound
    the thresholds within the 95 % likelihood-ratio interval of the profile likelihood (an approximate
    interval: a change point is not a smooth parameter).
    """

    table: pd.DataFrame
    threshold: int
    ci_low: int
    ci_high: int
    per_contact_above: HazardRatio
    profile: pd.DataFrame

    def summary(self) -> pd.DataFrame:
        return self.table

    def to_dict(self) -> dict:
        return {"threshold": self.threshold, "ci_low": self.ci_low, "ci_high": self.ci_high,
                "per_contact_above": self.per_contact_above.to_dict(),
                "profile": self.profile.to_dict("records"), "table": self.table.to_dict("records")}


def _pressure_sql(as_of: pd.Timestamp, window: pd.Timestamp) -> str:
    return f"""
    WITH days AS (SELECT customer_id, CAST(day AS DATE) AS day FROM ({purchase_days_sql()})
                  WHERE is_purchase = 1 AND day <= CAST({date_sql(as_of)} AS DATE)),
    life AS (SELECT customer_id, date_trunc('month', min(day)) AS m0, max(day) AS last_day,
                    last_day <= CAST({date_sql(window)} AS DATE) AS churned FROM days GROUP BY 1),
    months AS (SELECT l.customer_id, CAST(m AS DATE) AS month, l.churned, l.last_day
               FROM life l, LATERAL (SELECT unnest(generate_series(l.m0, date_trunc('month', least(l.last_day,
                    CAST({date_sql(window)} AS DATE))), INTERVAL 1 MONTH)) AS m)),
    mk AS (SELECT customer_id, CAST(date_trunc('month', timestamp) AS DATE) AS month, count(*) AS n
           FROM contacts WHERE type = 'marketing' AND direction = 'outbound' GROUP BY 1, 2),
    bought AS (SELECT DISTINCT customer_id, CAST(date_trunc('month', day) AS DATE) AS month FROM days)
    SELECT least(coalesce(mk.n, 0), {MAX_CONTACTS}) AS contacts, count(*) AS months,
           sum(CASE WHEN m.churned AND date_trunc('month', m.last_day) = m.month THEN 1 ELSE 0 END) AS events,
           sum(CASE WHEN b.customer_id IS NOT NULL THEN 1 ELSE 0 END) AS months_bought
    FROM months m LEFT JOIN mk USING (customer_id, month) LEFT JOIN bought b USING (customer_id, month)
    GROUP BY 1 ORDER BY 1"""


def marketing_pressure(model: DropoutModel, source, as_of=None,
                       inactivity_days: int | None = None) -> MarketingPressure:
    """The irritation threshold of a fitted :class:`DropoutModel`, with the customer-month table beside it (a
    customer-month "ends" with the customer's last purchase when ``inactivity_days`` have passed after it).

    Raises ModelError ``pressure_too_few`` when the source has no outbound marketing contacts to speak of.
    """
    if model.threshold is None:
        raise ModelError("no outbound marketing contacts in the months customers bought", "pressure_too_few", {})
    src = open_source(source, as_of)
    as_of = src.as_of if as_of is None else pd.Timestamp(as_of).normalize()
    days = int(churn_threshold(src, as_of, inactivity_days))
    table = src.sql(_pressure_sql(as_of, as_of - pd.Timedelta(days=days)))
    table["churn_rate"] = table["events"] / table["months"]
    table["purchase_share"] = table["months_bought"] / table["months"]
    return MarketingPressure(table, model.threshold, model.threshold_low, model.threshold_high, model.above,
                             model.profile)


def customers_over_threshold(source, as_of, threshold: int) -> int:
    """Customers who got more than ``threshold`` outbound marketing contacts in ``as_of``'s month."""
    src = open_source(source, as_of)
    require_contacts(src)
    as_of = pd.Timestamp(as_of).normalize()
    return int(src.sql(f"""
        SELECT count(*) AS n FROM (SELECT customer_id FROM contacts
        WHERE type = 'marketing' AND direction = 'outbound' AND timestamp >= {date_sql(as_of.replace(day=1))}
        GROUP BY 1 HAVING count(*) > {int(threshold)})""")["n"][0])
