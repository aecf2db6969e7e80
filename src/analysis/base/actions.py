"""This month's actions: who to contact and why, chosen by documented rules from the month's customer base.

Each action is a rule over :class:`~analysis.base.state.CustomerBase` columns (no new model): its
customers, the value behind the choice and the list a campaign tool can load. Results are
language-free; the report words them. The rules, in the order the landing page shows them:

``retain``
    Active customers at risk (P(alive) below the threshold) but still likely alive (P(alive) at least
    the contact floor) who allow marketing, most value at stake first: the one contact-first list of
    every page (:meth:`~analysis.base.state.CustomerBase.contact_list`).
``retain_early``
    Active customers whose P(alive) fell below :data:`FALLING_BELOW` (60 %) this month: at least
    60 % at the previous month end, below it now, both from the month's one fit (no refit; see
    :func:`analysis.base.state.previous_p_alive`), still at least the contact floor, who allow
    marketing and are not already on the ``retain`` list (one customer, one retention contact),
    most value at stake first. The early warning: they are slipping but not yet "at risk".
``win_back``
    Customers lost recently (churned under the one rule, silent fewer than ``win_back_days``
    days beyond the threshold) who bought on at least two days and allow marketing. Long-gone
    customers are not on it. Value at stake: what they were worth a year while active, in the data's basis
    (:func:`past_yearly_value`: never annualised from less than a year; no model predicts the value of a lost
    customer, and it is not a gain unless a measured uplift shows one).
``second_purchase``
    Customers who made their first purchase in the last ``new_days`` days and have bought once,
    with permission: the second purchase is the step most new customers never take.
``grow``
    Active class B and C customers in strategy group "develop" (high potential, low value so far), not at
    risk, with permission, highest potential value first. Value: their expected value (CLV, already part of
    customer equity); the potential value is a run-rate ranking, not a forecast, and is not summed.

When the data has no marketing permission column, permission is not filtered and each list says so.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.base.state import allowed_to_contact
from analysis.base.value import margin_rates

#: The action rules in page order.
ACTIONS = ("retain", "retain_early", "win_back", "second_purchase", "grow")
#: ``retain_early``: P(alive) at least this at the previous month end and below it now.
FALLING_BELOW = 0.6
#: Columns every list carries (the numbers behind the choice follow).
LIST_COLUMNS = ("customer_id", "pseudonym", "action", "reason")


@dataclass(frozen=True)
class Action:
    """One action of the month: its rule name, the customers it selects and the value behind it."""

    name: str
    customers: pd.DataFrame = field(repr=False)
    value: float | None
    value_kind: str  # "value_at_stake" | "yearly_spend" | "potential_value"
    permission_filtered: bool

    @property
    def size(self) -> int:
        return int(len(self.customers))

    def to_dict(self) -> dict:
        return {"name": self.name, "customers": self.size,
                "value": None if self.value is None else round(float(self.value), 2),
                "value_kind": self.value_kind, "permission_filtered": self.permission_filtered}

    def summary(self) -> pd.DataFrame:
        return pd.DataFrame([self.to_dict()])

    def _repr_html_(self) -> str:
        return self.summary().to_html(index=False)


def _list(t: pd.DataFrame, mask, action: str, reason: str, sort_by: str, numbers: tuple[str, ...]) -> pd.DataFrame:
    cols = ["customer_id", "pseudonym", *[c for c in numbers if c in t], "has_permission"]
    out = t.loc[mask, [c for c in cols if c in t]].copy()
    out.insert(2, "action", action)
    out.insert(3, "reason", reason)
    out = out.sort_values([sort_by, "customer_id"], ascending=[False, True], kind="mergesort")
    return out.reset_index(drop=True)


def past_yearly_value(t: pd.DataFrame) -> pd.Series:
    """What a customer was worth a year while they bought, in the data's basis (margin when there is margin):
    their whole value divided by their years from first to last purchase, never scaled up from less than a year
    (a customer of three months is worth their three months' value, not four times it).

    Example
    -------
    >>> t = pd.DataFrame({"total_spend": [100.0, 600.0], "first_purchase": ["2026-01-01", "2023-01-01"],
    ...                   "last_purchase": ["2026-03-01", "2026-01-01"], "is_buyer": [True, True]})
    >>> past_yearly_value(t).round(2).tolist()
    [100.0, 199.95]
    """
    years = ((pd.to_datetime(t["last_purchase"]) - pd.to_datetime(t["first_purchase"])).dt.days / 365.25).clip(lower=1)
    rate = margin_rates(t)
    value = t["total_spend"].astype(float) * (1.0 if rate is None else rate)
    return (value / years).where(t["is_buyer"].astype(bool))


def month_actions(base, win_back_days: int = 90, falling_below: float = FALLING_BELOW,
                  permission: bool = True) -> list[Action]:
    """The month's actions by the rules of this module's docstring (empty lists are kept: "nobody to contact").

    Parameters
    ----------
    base : CustomerBase
        The month's customer state.
    win_back_days : int
        ``win_back`` keeps customers silent for fewer than this many days beyond the churn rule.
    falling_below : float
        ``retain_early``'s P(alive) line (:data:`FALLING_BELOW`).
    permission : bool
        Keep only customers who allow marketing (default). False gives every customer the rules select, so the
        contact plan (:mod:`analysis.base.plan`) can count those it leaves out for want of permission.
    """
    t = base.customers
    allowed, filtered = allowed_to_contact(t)
    if not permission:
        allowed = pd.Series(True, index=t.index)
    active, churned = t["is_active"].astype(bool), t["is_churned"].astype(bool)
    days = base.settings.inactivity_days
    silent = t["days_silent"].astype(float)
    out = []

    if base.estimated("clv"):  # the one contact-first list of every page
        at_risk = t["is_at_risk"].fillna(False).astype(bool) & (t["p_alive"] >= base.settings.contact_p_alive_floor)
        ids = set(t.loc[at_risk & allowed, "customer_id"])  # = base.contact_list() when permission is required
        lst = _list(t, t["customer_id"].isin(ids), "retain", "active_at_risk_still_likely_alive", "value_at_stake",
                    ("p_alive", "clv", "value_at_stake", "days_silent", "abc_class", "lifecycle_stage"))
        out.append(Action("retain", lst, float(lst["value_at_stake"].sum()), "value_at_stake", filtered))
        now, before = t["p_alive"].astype(float), t["p_alive_previous"].astype(float)
        fell = (active & ~churned & (before >= falling_below) & (now < falling_below)
                & (now >= base.settings.contact_p_alive_floor) & allowed & ~t["customer_id"].isin(ids))
        lst = _list(t, fell, "retain_early", "p_alive_fell_below_line_this_month", "value_at_stake",
                    ("p_alive_previous", "p_alive", "clv", "value_at_stake", "days_silent", "abc_class",
                     "lifecycle_stage"))
        out.append(Action("retain_early", lst, float(lst["value_at_stake"].sum()), "value_at_stake", filtered))

    recent_loss = churned & (silent < days + win_back_days) & (t["n_purchases"].fillna(0) >= 2) & allowed
    lst = _list(t.assign(past_yearly_value=past_yearly_value(t)), recent_loss, "win_back", "lost_recently_repeat_buyer",
                "past_yearly_value", ("past_yearly_value", "days_silent", "n_purchases", "total_spend", "abc_class"))
    out.append(Action("win_back", lst, float(lst["past_yearly_value"].sum()), "past_yearly_value", filtered))

    new_days = base.segment_settings.new_days if base.segment_settings is not None else 30
    since_first = (base.as_of - pd.to_datetime(t["first_purchase"])).dt.days
    one_timers = active & (since_first <= new_days) & (t["n_purchases"] == 1) & allowed
    lst = _list(t, one_timers, "second_purchase", "first_purchase_recent_one_purchase", "total_spend",
                ("total_spend", "days_silent", "p_alive", "clv"))
    out.append(Action("second_purchase", lst, float(lst["clv"].sum()) if base.estimated("clv") else None,
                      "clv", filtered))

    if "strategy_group" in t and t["strategy_group"].notna().any():
        not_at_risk = ~t["is_at_risk"].fillna(False).astype(bool) if "is_at_risk" in t else True
        develop = (active & (t["strategy_group"] == "develop") & t["abc_class"].isin(["B", "C"]) & not_at_risk
                   & allowed)
        lst = _list(t, develop, "grow", "develop_group_high_potential", "potential_value",
                    ("potential_value", "total_spend", "abc_class", "p_alive", "clv"))
        value = float(lst["clv"].sum()) if base.estimated("clv") and "clv" in lst else None
        out.append(Action("grow", lst, value, "clv", filtered))
    return out


# --- trends ----------------------------------------------------------------------------------------
#: Flow-table columns that have a monthly history, by concept id.
TREND_COLUMNS = {"customers_active": "active", "customers_new": "new", "customers_lost": "lost",
                 "customers_returned": "returned", "revenue": "revenue", "avg_purchase": "avg_purchase",
                 "purchase_frequency": "purchase_frequency"}


@dataclass(frozen=True)
class Trend:
    """A key number's last months and whether this month is unusual against its own history.

    ``unusual`` is ``"highest"`` or ``"lowest"`` when this month lies outside the range of the
    months before it (at least six of them), else None.
    """

    concept: str
    months: tuple[str, ...]
    values: tuple[float, ...]
    unusual: str | None

    def to_dict(self) -> dict:
        return {"concept": self.concept, "months": list(self.months), "values": list(self.values),
                "unusual": self.unusual}


def unusual(history, value, min_months: int = 6) -> str | None:
    """``"highest"``/``"lowest"`` when ``value`` is outside the range of ``history`` (None with too little history).

    Example
    -------
    >>> unusual([10, 12, 11, 13, 12, 11], 9), unusual([10, 12, 11, 13, 12, 11], 12), unusual([1, 2], 9)
    ('lowest', None, None)
    """
    h = np.asarray([v for v in history if v is not None and np.isfinite(v)], dtype=float)
    if len(h) < min_months or value is None or not np.isfinite(value):
        return None
    if value > h.max():
        return "highest"
    if value < h.min():
        return "lowest"
    return None


def trends(base) -> dict[str, Trend]:
    """The monthly history of the key numbers that have one (the flow table's last 13 months)."""
    f = base.flows
    out = {}
    for concept_id, col in TREND_COLUMNS.items():
        values = [None if pd.isna(v) else float(v) for v in f[col]]
        out[concept_id] = Trend(concept_id, tuple(f["month"]), tuple(values), unusual(values[:-1], values[-1]))
    return out
