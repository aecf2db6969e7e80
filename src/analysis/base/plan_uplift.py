"""Each action's measured uplift, pooled over the plans of the last months, and the plan priority it decides.

One month's holdout is small (10 % of a list of a few hundred), so one month rarely shows whether an action pays.
The results of an action's past plans (``manifest.json`` ``action_results`` of the months in the report folder)
are pooled: contacted and held-out customers and buyers summed over the plans of the last :data:`POOL_MONTHS`
months, the difference in purchase rate with Newcombe's interval on the summed counts. Every plan holds out the
same share of each list, so the summed difference is the customer-weighted average of the monthly ones.

The measured uplift decides an action's value and place once it is measured (:attr:`ActionUplift.verdict`):
``paid`` (interval above 0), ``lost`` (interval below 0), or ``no_clear_gain`` (the interval includes 0 although
at least :data:`ENOUGH_HOLDOUT` customers were held out: the estimate is then precise enough to use as it is).
Its gain per contacted customer is the uplift times the value per contacted buyer (margin when the data has
margin, else spend), pooled the same way. Before that (``not_yet``) the action keeps its rule-of-thumb value,
which is value at stake, not a gain. Language-free.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

import pandas as pd

from analysis.base.plan import PRIORITY
from analysis import stats  # the test library loads on first use (stats is lazy): pages that show a plan need not

#: Plans of this many months before the report month are pooled.
POOL_MONTHS = 6
#: Held-out customers (pooled) from which a measured uplift decides even when its interval includes 0.
ENOUGH_HOLDOUT = 400
VERDICTS = ("paid", "lost", "no_clear_gain", "not_yet")


@dataclass(frozen=True)
class ActionUplift:
    """An action's measured uplift over the plans of ``months`` (pooled counts).

    ``difference`` is the purchase rate of contacted minus held-out customers with its 95 % interval
    (``ci_low``, ``ci_high``); ``value_per_buyer`` the value (``value_basis``) per contacted customer who bought.
    """

    action: str
    months: tuple
    contact: int
    holdout: int
    buyers_contact: int
    buyers_holdout: int
    difference: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    value_basis: str
    value_per_buyer: float | None
    enough_holdout: int = ENOUGH_HOLDOUT

    @property
    def verdict(self) -> str:
        """``paid`` when the interval lies above 0 (and a buyer brings value), ``lost`` when it lies below 0,
        ``no_clear_gain`` when it includes 0 but enough customers were held out, ``not_yet`` otherwise (or without a
        value per buyer to price the uplift)."""
        if self.difference is None or self.value_per_buyer is None:
            return "not_yet"
        if self.ci_low > 0:  # more buyers; it pays only if a buyer brings value (refunds can make it negative)
            return "paid" if self.value_per_buyer > 0 else "lost"
        if self.ci_high < 0:
            return "lost"
        return "no_clear_gain" if self.holdout >= self.enough_holdout else "not_yet"

    @property
    def decides_priority(self) -> bool:
        return self.verdict != "not_yet"

    @property
    def gain_per_customer(self) -> float | None:
        """Measured uplift x value per contacted buyer, when the measurement decides; None otherwise."""
        return float(self.difference * self.value_per_buyer) if self.decides_priority else None

    def to_dict(self) -> dict:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "enough_holdout"}
        return out | {"months": list(self.months), "decides_priority": self.decides_priority,
                      "verdict": self.verdict, "gain_per_customer": self.gain_per_customer}


def pool_results(results: Iterable[Mapping], month: str, n_months: int = POOL_MONTHS,
                 enough_holdout: int = ENOUGH_HOLDOUT) -> list[ActionUplift]:
    """Pool the action results of the plans made in the ``n_months`` months before ``month``.

    Parameters
    ----------
    results : iterable of mappings
        ``action_results`` entries (``action``, ``month`` the plan was made, ``contact``, ``holdout``,
        ``buyers_contact``, ``buyers_holdout``, ``value_basis``, ``value_per_customer_contact``), earliest
        first; a later entry for the same action and plan month replaces an earlier one (a month run again).
    month : str
        ``YYYY-MM``, the report month.

    Example
    -------
    >>> r = [{"action": "grow", "month": m, "contact": 200, "holdout": 50, "buyers_contact": 100,
    ...       "buyers_holdout": 15, "value_basis": "margin", "value_per_customer_contact": 6.0} for m in ("2026-08", "2026-09")]
    >>> u = pool_results(r, "2026-10")[0]
    >>> u.contact, u.holdout, round(u.difference, 2), u.value_per_buyer, u.verdict, round(u.gain_per_customer, 2)
    (400, 100, 0.2, 12.0, 'paid', 2.4)
    """
    report = pd.Period(month, freq="M")
    window = {str(report - k) for k in range(1, n_months + 1)}
    latest: dict = {}
    for r in results:
        if str(r.get("month")) in window:
            latest[(r["action"], str(r["month"]))] = r
    by_action: dict = {}
    for (action, _), r in latest.items():
        by_action.setdefault(action, []).append(r)
    order = [a for a in PRIORITY if a in by_action] + sorted(a for a in by_action if a not in PRIORITY)
    out = []
    for action in order:
        rows = sorted(by_action[action], key=lambda r: r["month"])
        nc, nh = sum(int(r["contact"]) for r in rows), sum(int(r["holdout"]) for r in rows)
        bc = sum(int(r.get("buyers_contact") or 0) for r in rows)
        bh = sum(int(r.get("buyers_holdout") or 0) for r in rows)
        diff = lo = hi = p = None
        if nc and nh:
            t = stats.two_proportion_test(bh, nh, bc, nc)
            diff, lo, hi, p = float(t.estimate), float(t.ci_low), float(t.ci_high), float(t.p_value)
        valued = [r for r in rows if r.get("value_per_customer_contact") is not None]
        value = sum(float(r["value_per_customer_contact"]) * int(r["contact"]) for r in valued)
        buyers = sum(int(r.get("buyers_contact") or 0) for r in valued)
        basis = rows[-1].get("value_basis") or "spend"
        out.append(ActionUplift(action, tuple(r["month"] for r in rows), nc, nh, bc, bh, diff, lo, hi, p, basis,
                                value / buyers if buyers else None, enough_holdout))
    return out


def measured_priority(uplifts: Iterable[ActionUplift], rule_order: tuple = PRIORITY) -> tuple:
    """The plan's priority: actions that paid, highest gain per contacted customer first; then the actions not yet
    measured, in the rule-of-thumb order; then those measured to gain nothing clear or to lose, highest first.

    Example
    -------
    >>> paid = ActionUplift("grow", ("2026-09",), 400, 100, 200, 30, 0.2, 0.1, 0.3, 0.001, "margin", 12.0)
    >>> flat = ActionUplift("retain", ("2026-09",), 4000, 450, 900, 100, 0.003, -0.04, 0.05, 0.9, "margin", 9.0)
    >>> measured_priority([paid, flat])
    ('grow', 'retain_early', 'win_back', 'second_purchase', 'retain')
    """
    by = {u.action: u for u in uplifts if u.action in rule_order}
    paid = sorted((a for a, u in by.items() if u.verdict == "paid"), key=lambda a: -by[a].gain_per_customer)
    not_yet = [a for a in rule_order if a not in by or not by[a].decides_priority]
    rest = sorted((a for a, u in by.items() if u.verdict in ("lost", "no_clear_gain")),
                  key=lambda a: -by[a].gain_per_customer)
    return tuple(paid + not_yet + rest)


def expected_gain(uplift: ActionUplift | None, contact: int) -> float | None:
    """The gain to expect from contacting ``contact`` customers of an action whose measured uplift decides:
    its gain per contacted customer times them (before contact costs). None otherwise: without a measured uplift an
    action's value is at stake, not a gain.

    Example
    -------
    >>> u = ActionUplift("grow", ("2026-09",), 400, 100, 200, 30, 0.2, 0.1, 0.3, 0.001, "margin", 12.0)
    >>> round(expected_gain(u, 250), 2), expected_gain(None, 250)
    (600.0, None)
    """
    if uplift is None or uplift.gain_per_customer is None:
        return None
    return float(uplift.gain_per_customer * contact)
