"""The month's contact plan: each customer on at most one action, the customers left out and why, a holdout per action.

The action rules (:mod:`analysis.base.actions`) may pick one customer for several actions and know nothing of
complaints or marketing pressure. The plan makes them one list an operator can hand over and measure:

1. **Left out**, each customer under the first reason that applies, in this order (:data:`EXCLUSIONS`):
   an open complaint at the month end (made by then, not resolved by then); more outbound marketing contacts
   in the calendar month than the month's threshold k (the contacts page's irritation threshold,
   :func:`analysis.contacts.marketing_pressure` with the month's churn rule); no marketing permission; on the
   contact group of last month's plan when that plan could not be measured (its result is still open).
2. **One action per customer** by the month's priority: by default :data:`PRIORITY` (retain before retain_early
   before win_back before second_purchase before grow: the customer most likely to be lost, with most value at
   stake, comes first); once holdouts have measured actions, by their measured gain
   (:func:`analysis.base.plan_uplift.measured_priority`).
3. **A holdout per action**: exactly ``round(share x n)`` of the action's ``n`` customers (at least one for an
   action of 10 or more), those with the smallest ``sha256(month + pseudonym)``: random with respect to every
   customer trait, and the same every time the month is run. The operator contacts only ``group == "contact"``;
   next month's report compares the two groups (:mod:`analysis.base.plan_results`).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import duckdb
import pandas as pd

from analysis.base.actions import ACTIONS, month_actions
from analysis.contacts.table import date_sql
from analysis.errors import ParameterError

#: Which action a customer picked by several rules gets: the first of these.
PRIORITY = ACTIONS
#: Why a customer the rules picked is left out of the plan, in the order they are checked.
EXCLUSIONS = ("open_complaint", "over_contact_threshold", "no_permission", "previous_plan_not_measured")
#: Share of each action's customers kept as a holdout (not contacted) by default.
HOLDOUT_SHARE = 0.1
#: An action of at least this many customers always gets a holdout of at least one.
MIN_HOLDOUT_ACTION = 10
GROUPS = ("contact", "holdout")


def check_share(share) -> float:
    """The holdout share as a float in [0, 1); ParameterError otherwise."""
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share < 1:
        raise ParameterError(f"holdout_share: got {share!r}, expected a share between 0 and 1 (e.g. 0.1).")
    return float(share)


def holdout_size(n: int, share: float = HOLDOUT_SHARE) -> int:
    """Customers kept out of an action of ``n``: ``round(share * n)``, at least 1 when ``n >= 10``.

    Example
    -------
    >>> [holdout_size(n) for n in (0, 4, 9, 10, 14, 15, 25, 100, 1234)]
    [0, 0, 1, 1, 1, 2, 2, 10, 123]
    """
    h = int(round(share * n))
    return max(h, 1) if n >= MIN_HOLDOUT_ACTION and share > 0 else h


def assign_groups(customers: pd.DataFrame, month: str, share: float = HOLDOUT_SHARE) -> pd.Series:
    """``"holdout"`` for the :func:`holdout_size` customers with the smallest ``sha256(month + pseudonym)``,
    ``"contact"`` for the others (index of ``customers``)."""
    n = len(customers)
    if n == 0:
        return pd.Series([], index=customers.index, dtype=object)
    keys = pd.DataFrame({"i": range(n), "p": customers["pseudonym"].astype(str).to_numpy()})
    ranked = duckdb.query_df(keys, "k", f"SELECT i FROM k ORDER BY sha256('{month}' || p), i")
    order = ranked.df()["i"].to_numpy()
    group = pd.Series("contact", index=customers.index, dtype=object)
    group.iloc[order[:holdout_size(n, share)]] = "holdout"
    return group


@dataclass(frozen=True)
class ContactPlan:
    """The month's plan: its actions (each customer once, with ``group``), who was left out and why.

    ``excluded`` counts customers per reason of :data:`EXCLUSIONS` (each under its first reason);
    ``overlap`` counts the list rows dropped because a customer was already on a higher-priority action.
    ``contact_threshold`` is the month's marketing-contact threshold k (None without contacts or a fitted one).
    """

    month: str
    actions: list = field(repr=False)
    excluded: dict
    overlap: int
    contact_threshold: int | None
    holdout_share: float
    priority: tuple = PRIORITY

    @property
    def customers(self) -> pd.DataFrame:
        """Every list row of the month (one per customer)."""
        frames = [a.customers for a in self.actions if a.size]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["customer_id", "group"])

    def to_dict(self) -> dict:
        return {"month": self.month, "priority": list(self.priority), "excluded": dict(self.excluded),
                "overlap_removed": self.overlap, "contact_threshold": self.contact_threshold,
                "holdout_share": self.holdout_share,
                "actions": [{**a.to_dict(), **group_counts(a.customers)} for a in self.actions]}

    def summary(self) -> pd.DataFrame:
        return pd.DataFrame([{**a.to_dict(), **group_counts(a.customers)} for a in self.actions])


def group_counts(customers: pd.DataFrame) -> dict:
    g = customers["group"] if "group" in customers else pd.Series([], dtype=object)
    return {"contact": int((g == "contact").sum()), "holdout": int((g == "holdout").sum())}


def contact_threshold(base) -> int | None:
    """The month's marketing-contact threshold k (the contacts page's: the base's one fit), None without contacts
    or a fit."""
    fits = getattr(base, "contact_models", None)
    return None if fits is None else fits.threshold


def contact_flags(base, threshold: int | None) -> pd.DataFrame:
    """Per customer with an open complaint or over the threshold this month: ``customer_id``, two flags."""
    src = base.source
    if not src.has("contacts"):
        return pd.DataFrame(columns=["customer_id", "open_complaint", "over_contact_threshold"])
    end = date_sql(base.as_of + pd.Timedelta(days=1))
    start = date_sql(base.as_of.replace(day=1))
    over = (f"SELECT CAST(customer_id AS VARCHAR) AS customer_id FROM contacts WHERE type = 'marketing' "
            f"AND direction = 'outbound' AND timestamp >= {start} AND timestamp < {end} "
            f"GROUP BY 1 HAVING count(*) > {int(threshold)}") if threshold is not None else \
        "SELECT NULL::VARCHAR AS customer_id WHERE false"
    return src.sql(f"""
        WITH oc AS (SELECT DISTINCT CAST(customer_id AS VARCHAR) AS customer_id FROM contacts
                    WHERE type = 'complaint' AND timestamp < {end} AND (resolved_at IS NULL OR resolved_at >= {end})),
             ov AS ({over})
        SELECT customer_id, oc.customer_id IS NOT NULL AS open_complaint, ov.customer_id IS NOT NULL
               AS over_contact_threshold
        FROM oc FULL OUTER JOIN ov USING (customer_id)""")


def contact_plan(base, share: float = HOLDOUT_SHARE, previous: pd.DataFrame | None = None,
                 measured: tuple = (), win_back_days: int = 90, priority: tuple = PRIORITY) -> ContactPlan:
    """The month's contact plan by the rules of this module's docstring.

    Parameters
    ----------
    base : CustomerBase
        The month's customer state.
    share : float
        Holdout share per action (:data:`HOLDOUT_SHARE`).
    previous : DataFrame, optional
        Last month's list rows (``customer_id``, ``action``, ``group``) as published.
    measured : tuple of str
        Last month's actions measured in this run; contact-group customers of the others are left out.
    priority : tuple of str
        Every action of :data:`PRIORITY` once, in the order a customer picked by several rules gets them.
    """
    share = check_share(share)
    if sorted(priority) != sorted(PRIORITY):
        raise ParameterError(f"priority: got {list(priority)!r}, expected each of {', '.join(PRIORITY)} once.")
    priority = tuple(priority)
    month = str(base.period)
    k = contact_threshold(base)
    t = base.customers
    ids = t["customer_id"].astype(str)
    flags = contact_flags(base, k)
    reasons = pd.DataFrame(index=t.index)
    reasons["open_complaint"] = ids.isin(flags.loc[flags["open_complaint"], "customer_id"])
    reasons["over_contact_threshold"] = ids.isin(flags.loc[flags["over_contact_threshold"], "customer_id"])
    known = "has_permission" in t and t["has_permission"].notna().any()
    reasons["no_permission"] = ~t["has_permission"].fillna(False).astype(bool) if known else False
    prev = pd.Series(False, index=t.index)
    if previous is not None and len(previous):
        open_rows = previous[(previous["group"] == "contact") & ~previous["action"].isin(list(measured))]
        prev = ids.isin(open_rows["customer_id"].astype(str))
    reasons["previous_plan_not_measured"] = prev
    first_reason = reasons[list(EXCLUSIONS)].idxmax(axis=1).where(reasons.any(axis=1))
    reason_by_id = pd.Series(first_reason.to_numpy(), index=ids.to_numpy())

    rules = {a.name: a for a in month_actions(base, win_back_days=win_back_days, permission=False)}
    taken: set = set()
    excluded = {r: set() for r in EXCLUSIONS}
    overlap = 0
    actions = []
    for name in priority:
        if name not in rules:
            continue
        a = rules[name]
        c = a.customers
        cid = c["customer_id"].astype(str)
        why = reason_by_id.reindex(cid.to_numpy()).to_numpy()
        for r in EXCLUSIONS:
            excluded[r].update(cid[why == r])
        keep = pd.isna(why)
        dup = keep & cid.isin(taken).to_numpy()
        overlap += int(dup.sum())
        c = c.loc[keep & ~dup].reset_index(drop=True)
        taken.update(c["customer_id"].astype(str))
        c.insert(4, "group", assign_groups(c, month, share))
        value_col = {"value_at_stake": "value_at_stake", "clv": "clv", "potential_value": "potential_value"}.get(
            a.value_kind, a.value_kind)
        value = None if a.value is None or value_col not in c else float(c[value_col].sum())
        filtered = a.permission_filtered if known else False
        actions.append(dataclasses.replace(a, customers=c, value=value, permission_filtered=filtered))
    counts = {r: len(excluded[r]) for r in EXCLUSIONS}
    return ContactPlan(month, actions, counts, overlap, k, share, priority)
