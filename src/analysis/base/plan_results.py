"""Last month's contact plan measured: each action's contact group against its holdout over the month after the plan.

The plan of month M (:mod:`analysis.base.plan`) is handed over at M's end; the customers of its contact groups are
contacted in M+1, the holdouts are not. The report of M+1 compares the groups over M+1: the share who bought
(two-proportion test, Newcombe interval for the difference), spend and margin per customer (Welch intervals).
Whether contacting paid is decided by a randomisation test of value per customer (the groups were drawn at
random, so reshuffling them is the exact null): a small holdout with a few big or no big buyers makes Welch's
interval far too sure, and a false "it paid" would then set next month's priorities. Language-free.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.contacts.table import date_sql
from analysis.data import money_sql
from analysis.stats.tests import two_proportion_test, welch_test


@dataclass(frozen=True)
class ActionResult:
    """One action of a past plan, contact group against holdout over the month after the plan.

    ``difference`` = purchase rate of contact minus holdout with its 95 % interval (``ci_low``, ``ci_high``);
    None when a group is empty. ``value_difference`` is the same for value per customer in the data's
    basis (margin when there is margin, else spend), with a Welch interval.
    """

    action: str
    month: str
    contact: int
    holdout: int
    buyers_contact: int
    buyers_holdout: int
    purchase_rate_contact: float | None
    purchase_rate_holdout: float | None
    difference: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    value_basis: str
    value_per_customer_contact: float | None
    value_per_customer_holdout: float | None
    value_difference: float | None
    value_ci_low: float | None
    value_ci_high: float | None
    value_p_value: float | None = None  # randomisation test of value per customer (two-sided)
    alpha: float = 0.05

    @property
    def paid(self) -> bool | None:
        """True when contacting raised value per customer (randomisation p below ``alpha`` and the Welch interval
        above 0), False when it lowered it (the same, below 0), None when not clear or not computed."""
        if self.value_ci_low is None or self.value_p_value is None or self.value_p_value >= self.alpha:
            return None
        if self.value_ci_low > 0:
            return True
        if self.value_ci_high < 0:
            return False
        return None

    def to_dict(self) -> dict:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}  # unrounded: a reader recomputes the difference
        return {k: (float(v) if isinstance(v, float) else v) for k, v in out.items()} | {"paid": self.paid}


def permutation_p_value(a, b, n_perm: int = 4000, seed: int = 0, batch: int = 200) -> float:
    """Two-sided randomisation test of ``mean(b) - mean(a)``: the share of random re-splits of the pooled values
    into groups of the same sizes whose difference is at least as large (with the observed split counted).

    Example
    -------
    >>> permutation_p_value([0, 0, 0, 0], [0, 0, 0, 0]), round(permutation_p_value([0] * 20, [5] * 20), 4)
    (1.0, 0.0002)
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    pooled, nb = np.concatenate([a, b]), len(b)
    observed = abs(b.mean() - a.mean())
    total, n = pooled.sum(), len(pooled)
    rng = np.random.default_rng(seed)
    hits, done = 0, 0
    while done < n_perm:  # in batches: a large action never holds n_perm copies of itself at once
        k = min(batch, n_perm - done)
        shuffled = rng.permuted(np.broadcast_to(pooled, (k, n)), axis=1)
        sb = shuffled[:, :nb].sum(axis=1)
        diff = np.abs(sb / nb - (total - sb) / (n - nb))
        hits += int((diff >= observed - 1e-12).sum())
        done += k
    return float((hits + 1) / (n_perm + 1))


def _window_values(source, plan_month: str, as_of) -> pd.DataFrame:
    start = pd.Period(plan_month, freq="M").end_time.normalize() + pd.Timedelta(days=1)
    end = pd.Timestamp(as_of).normalize() + pd.Timedelta(days=1)
    margin = f"CAST(sum({money_sql('margin')}) AS DOUBLE)" if "margin" in source.columns("transactions") else "NULL"
    return source.sql(f"""
        SELECT CAST(customer_id AS VARCHAR) AS customer_id,
               max(CASE WHEN amount > 0 THEN 1 ELSE 0 END) AS bought,
               CAST(sum({money_sql('amount')}) AS DOUBLE) AS spend,
               {margin} AS margin
        FROM transactions WHERE timestamp >= {date_sql(start)} AND timestamp < {date_sql(end)} GROUP BY 1""")


def measure_plan(source, rows: pd.DataFrame, plan_month: str, as_of) -> list[ActionResult]:
    """Measure every action of a past plan.

    Parameters
    ----------
    source : analysis.data.Source
        The validated source of the month that measures (it holds the month after the plan).
    rows : DataFrame
        The plan's list rows: ``customer_id``, ``action``, ``group`` (``contact``/``holdout``).
    plan_month : str
        ``YYYY-MM``, the month the plan was made; the window is the months after it up to ``as_of``.
    as_of : date-like
        End of the measuring month.
    """
    if rows is None or not len(rows):
        return []
    win = _window_values(source, plan_month, as_of)
    basis = "margin" if win["margin"].notna().any() else "spend"
    r = rows.assign(customer_id=rows["customer_id"].astype(str)).merge(win, on="customer_id", how="left")
    r["bought"] = r["bought"].fillna(0).astype(int)
    r["value"] = pd.to_numeric(r[basis], errors="coerce").fillna(0.0).astype(float)
    out = []
    for action in dict.fromkeys(rows["action"]):  # in the plan's order
        a = r[r["action"] == action]
        c, h = a[a["group"] == "contact"], a[a["group"] == "holdout"]
        nc, nh = len(c), len(h)
        bc, bh = int(c["bought"].sum()), int(h["bought"].sum())
        rate_c = bc / nc if nc else None
        rate_h = bh / nh if nh else None
        diff = lo = hi = p = None
        if nc and nh:
            t = two_proportion_test(bh, nh, bc, nc)
            diff, lo, hi, p = t.estimate, t.ci_low, t.ci_high, t.p_value
        vd = vlo = vhi = vp = None
        if nc >= 2 and nh >= 2:
            w = welch_test(h["value"].to_numpy(), c["value"].to_numpy())
            vd, vlo, vhi = w.estimate, w.ci_low, w.ci_high
            vp = permutation_p_value(h["value"].to_numpy(), c["value"].to_numpy())
        out.append(ActionResult(str(action), plan_month, nc, nh, bc, bh, rate_c, rate_h, diff, lo, hi, p, basis,
                                float(c["value"].mean()) if nc else None, float(h["value"].mean()) if nh else None,
                                vd, vlo, vhi, vp))
    return out


def results_frame(results: list[ActionResult]) -> pd.DataFrame:
    """The results as a table (one row per action)."""
    return pd.DataFrame([x.to_dict() for x in results]) if results else pd.DataFrame(
        columns=list(ActionResult.__dataclass_fields__))
