"""Kaplan-Meier survival curves of customer lifetimes, alone and per group with log-rank tests.

Small groups are pooled into :data:`OTHER` first, so a curve of three customers never reaches a page.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter
from lifelines.statistics import multivariate_logrank_test, pairwise_logrank_test
from statsmodels.stats.multitest import multipletests

from analysis.churn.results import json_value, summary_html
from analysis.errors import ModelError, ParameterError
from analysis.units import DAYS_PER_MONTH  # 365.25 / 12: "3, 6, 12 months" on a day axis

SURVIVAL_MONTHS = (3, 6, 12)
#: The pooled level of groups / attribute levels too small to estimate on their own.
OTHER = "(other)"
#: Customers a group needs for its own Kaplan-Meier curve on the churn page (smaller ones are pooled).
MIN_GROUP_CUSTOMERS = 30


def _as_float_array(values, name: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise ModelError(f"{name}: values must be numbers.") from None
    if arr.ndim != 1:
        raise ModelError(f"{name}: expected one value per customer (a 1-d sequence).")
    return arr


def check_durations_events(durations, events) -> tuple[np.ndarray, np.ndarray]:
    """Durations and churn flags of every customer as arrays, checked once at the boundary."""
    d = _as_float_array(durations, "durations")
    e = _as_float_array(events, "events")
    if len(d) != len(e):
        raise ModelError(f"durations and events differ in length ({len(d)} vs {len(e)}).")
    if len(d) == 0:
        raise ModelError("durations: no customers to analyse (empty input).")
    if np.isnan(d).any():
        raise ModelError(f"durations: {int(np.isnan(d).sum())} values are missing (NaN); expected a duration for every customer.")
    if np.isnan(e).any() or not np.isin(e, (0.0, 1.0)).all():
        raise ModelError("events: expected 1 (churned) or 0 (still a customer, censored) for every customer.")
    if (d < 0).any():
        raise ModelError(f"durations: {int((d < 0).sum())} values are negative; a customer's time cannot run backwards.")
    return d, e.astype(bool)


@dataclass(frozen=True)
class KaplanMeierResult:
    """A Kaplan-Meier survival curve with its confidence band and at-risk counts.

    Attributes
    ----------
    label : str
        Name of the group (``"all"`` for the whole base).
    survival : pd.DataFrame
        Columns ``time, survival, lower, upper`` at every event time (starts at time 0).
    median : float
        Median lifetime in the durations' unit (``inf`` when the curve never drops to 0.5).
    n, n_events : int
        Customers and observed churns.
    unit_days : float
        Days per duration unit (1 for durations in days), used by :meth:`survival_at_months`.
    """

    label: str
    survival: pd.DataFrame
    median: float
    n: int
    n_events: int
    alpha: float
    unit_days: float
    durations: np.ndarray = field(repr=False)
    events: np.ndarray = field(repr=False)

    def survival_at(self, t):
        """Estimated share still a customer at time ``t`` (scalar or sequence, durations' unit).

        The Kaplan-Meier curve is a right-continuous step function: churns at exactly ``t`` count.
        """
        times = self.survival["time"].to_numpy()
        surv = self.survival["survival"].to_numpy()
        scalar = np.ndim(t) == 0
        tt = np.atleast_1d(np.asarray(t, dtype=float))
        idx = np.searchsorted(times, tt, side="right") - 1
        out = np.where(idx >= 0, surv[np.clip(idx, 0, None)], 1.0)
        return float(out[0]) if scalar else out

    def band_at(self, t) -> tuple[float, float]:
        """Lower and upper confidence limit of survival at time ``t``."""
        times = self.survival["time"].to_numpy()
        i = int(np.searchsorted(times, float(t), side="right") - 1)
        if i < 0:
            return 1.0, 1.0
        row = self.survival.iloc[i]
        return float(row["lower"]), float(row["upper"])

    def survival_at_months(self, months: Sequence[float] = SURVIVAL_MONTHS) -> dict[float, float]:
        """Survival at whole months (a month is 30.4375 days)."""
        return {m: self.survival_at(m * DAYS_PER_MONTH / self.unit_days) for m in months}

    def at_risk_table(self, times: Sequence[float] | None = None) -> pd.DataFrame:
        """Customers at risk, churned and censored by each time (the table printed under KM plots).

        ``at_risk`` counts customers whose duration is at least ``time``; ``churned`` and
        ``censored`` are cumulative up to and including ``time``.
        """
        if times is None:
            step = 3 * DAYS_PER_MONTH / self.unit_days
            horizon = float(self.durations.max()) if len(self.durations) else 0.0
            times = np.arange(0.0, horizon + step, step)
        d, e = self.durations, self.events
        rows = [
            {"time": float(t), "at_risk": int((d >= t).sum()),
             "churned": int(((d <= t) & e).sum()), "censored": int(((d <= t) & ~e).sum())}
            for t in times
        ]
        return pd.DataFrame(rows)

    def summary(self) -> pd.DataFrame:
        """One row: n, churns, median lifetime and survival at 3/6/12 months with bands."""
        row = {"group": self.label, "n": self.n, "churned": self.n_events, "median": self.median}
        for m, s in self.survival_at_months().items():
            lo, hi = self.band_at(m * DAYS_PER_MONTH / self.unit_days)
            row[f"survival_{m}m"], row[f"lower_{m}m"], row[f"upper_{m}m"] = s, lo, hi
        return pd.DataFrame([row])

    def to_dict(self) -> dict:
        """The summary row as plain JSON values (an infinite median, never reached, becomes None)."""
        return {k: json_value(v) for k, v in self.summary().iloc[0].items()}

    def _repr_html_(self) -> str:
        return summary_html(self.summary(), f"Kaplan-Meier: {self.label}")


def kaplan_meier(durations, events, *, label: str = "all", alpha: float = 0.05,
                 unit_days: float = 1.0) -> KaplanMeierResult:
    """Fit a Kaplan-Meier curve (lifelines) to customer lifetimes.

    Parameters
    ----------
    durations : sequence of float
        Time from start to churn, or to ``as_of`` for customers still active (censored).
    events : sequence of {0, 1}
        1 if the customer churned, 0 if censored.
    label : str
        Name of the group.
    alpha : float
        1 - confidence level of the pointwise band (Greenwood, log-log, as lifelines).
    unit_days : float
        Days per duration unit (1 when durations are days, 7 for weeks).

    Returns
    -------
    KaplanMeierResult

    Example
    -------
    >>> km = kaplan_meier([5, 8, 12, 12], [1, 0, 1, 0])
    >>> round(km.survival_at(10), 3)
    0.75
    """
    d, e = check_durations_events(durations, events)
    if not 0 < alpha < 1:
        raise ParameterError(f"alpha: got {alpha}, expected a number between 0 and 1.")
    kmf = KaplanMeierFitter(alpha=alpha).fit(d, e, label="km")
    sf = kmf.survival_function_["km"]
    ci = kmf.confidence_interval_survival_function_
    table = pd.DataFrame({
        "time": sf.index.to_numpy(dtype=float),
        "survival": sf.to_numpy(),
        "lower": ci.iloc[:, 0].to_numpy(),
        "upper": ci.iloc[:, 1].to_numpy(),
    })
    return KaplanMeierResult(label=str(label), survival=table, median=float(kmf.median_survival_time_),
                             n=int(len(d)), n_events=int(e.sum()), alpha=alpha, unit_days=unit_days,
                             durations=d, events=e)


@dataclass(frozen=True)
class GroupSurvival:
    """Kaplan-Meier curves per group with log-rank tests (pairwise and all groups at once).

    Attributes
    ----------
    group_by : str
        Name of the grouping attribute.
    curves : dict[str, KaplanMeierResult]
    multivariate : dict
        ``statistic``, ``df`` and ``p`` of the log-rank test that all curves are equal.
    pairwise : pd.DataFrame
        ``group_a, group_b, statistic, p, p_holm`` for every pair of groups (``p_holm``:
        Holm-adjusted for the number of pairs).
    pooled : tuple of str
        Groups smaller than ``min_group_size`` that were pooled into :data:`OTHER`.
    dropped : tuple of str
        Groups left out (the pooled group itself was still too small).
    """

    group_by: str
    curves: Mapping[str, KaplanMeierResult]
    multivariate: Mapping[str, float]
    pairwise: pd.DataFrame
    alpha: float
    pooled: tuple = ()
    dropped: tuple = ()

    def summary(self) -> pd.DataFrame:
        """One row per group: n, churns, median lifetime, survival at 3/6/12 months with bands."""
        return pd.concat([c.summary() for c in self.curves.values()], ignore_index=True)

    def significant_pairs(self) -> pd.DataFrame:
        """Pairs whose curves differ after Holm's correction for testing many pairs."""
        return self.pairwise[self.pairwise["p_holm"] < self.alpha]

    def best_and_worst(self, months: float = 12) -> tuple[str, str]:
        """The groups with the highest and the lowest survival at ``months``."""
        s = {label: km.survival_at_months((months,))[months] for label, km in self.curves.items()}
        return max(s, key=s.get), min(s, key=s.get)

    def to_dict(self) -> dict:
        return {"group_by": self.group_by, "alpha": self.alpha,
                "multivariate": {k: json_value(v) for k, v in self.multivariate.items()},
                "groups": [{k: json_value(v) for k, v in row.items()} for row in self.summary().to_dict("records")],
                "pairwise": [{k: json_value(v) for k, v in row.items()} for row in self.pairwise.to_dict("records")],
                "pooled": list(self.pooled), "dropped": list(self.dropped)}

    def _repr_html_(self) -> str:
        p = self.multivariate["p"]
        return summary_html(self.summary(), f"Survival by {self.group_by} (log-rank p = {p:.3g})")


def pool_small_groups(groups, min_size: int, *, events=None, min_events: int = 0,
                      fallback: str | None = None) -> tuple[np.ndarray, tuple, tuple]:
    """Pool groups with fewer than ``min_size`` members (or ``min_events`` events) into :data:`OTHER`.

    The pooled group is kept when it is itself large enough; otherwise its members join
    ``fallback`` (e.g. a model's reference level) or, without one, are marked None (left out).

    Returns
    -------
    (np.ndarray, tuple, tuple)
        The new label per member (object array, None = left out), the pooled labels and the
        labels left out.

    Example
    -------
    >>> labels, pooled, dropped = pool_small_groups(["a", "a", "a", "b", "c"], 3)
    >>> list(labels), pooled, dropped
    (['a', 'a', 'a', None, None], ('b', 'c'), ('b', 'c'))
    """
    g = np.asarray(pd.Series(list(groups), dtype="object").fillna("(missing)").astype(str), dtype=object)
    ev = np.zeros(len(g)) if events is None else np.asarray(events, dtype=float)

    def small(mask) -> bool:
        return mask.sum() < min_size or ev[mask].sum() < min_events

    labels = sorted(set(g))
    pooled = tuple(lab for lab in labels if small(g == lab))
    if not pooled:
        return g, (), ()
    out = g.copy()
    in_pool = np.isin(g, pooled)
    out[in_pool] = OTHER
    if not small(in_pool):
        return out, pooled, ()
    out[in_pool] = fallback
    return out, pooled, (() if fallback is not None else pooled)

def kaplan_meier_by_group(durations, events, groups, *, group_by: str = "group", alpha: float = 0.05,
                          unit_days: float = 1.0, min_group_size: int = 1) -> GroupSurvival:
    """Kaplan-Meier curve per group, with multivariate and pairwise log-rank tests.

    Parameters
    ----------
    durations, events : sequences
        As in :func:`kaplan_meier`.
    groups : sequence
        Group label per customer (missing labels become ``"(missing)"``).
    group_by : str
        Name of the grouping attribute.
    min_group_size : int
        Groups with fewer customers are pooled into :data:`OTHER` (a curve of 3 customers says
        nothing); when the pooled group is still smaller, it is left out.

    Raises
    ------
    ModelError
        ``reason="groups_not_comparable"`` when fewer than two groups are left or nobody churned
        (valid data, but no comparison to make).

    Example
    -------
    >>> g = kaplan_meier_by_group([1, 2, 3, 4], [1, 1, 1, 1], ["a", "a", "b", "b"])
    >>> sorted(g.curves)
    ['a', 'b']
    """
    d, e = check_durations_events(durations, events)
    groups = list(groups)
    if len(groups) != len(d):
        raise ModelError(f"groups: {len(groups)} labels for {len(d)} customers; expected one label per customer.")
    g, pooled, dropped = pool_small_groups(groups, min_group_size)
    keep = np.array([x is not None for x in g], dtype=bool)
    d, e, g = d[keep], e[keep], g[keep].astype(str)
    keep_labels = sorted(set(g.tolist()))
    if len(keep_labels) < 2 or not e.any():
        raise ModelError(f"{group_by}: {len(keep_labels)} group(s) with at least {min_group_size} customers and "
                         f"{int(e.sum())} churns; nothing to compare.", reason="groups_not_comparable",
                         facts={"group_by": group_by, "n_groups": len(keep_labels),
                                "min_group_size": int(min_group_size), "n_events": int(e.sum())})
    curves = {lab: kaplan_meier(d[g == lab], e[g == lab], label=lab, alpha=alpha, unit_days=unit_days)
              for lab in keep_labels}
    mv = multivariate_logrank_test(d, g, e)
    pw = pairwise_logrank_test(d, g, e).summary.reset_index()
    pw.columns = ["group_a", "group_b", "statistic", "p", "-log2(p)"]
    pairwise = pw[["group_a", "group_b", "statistic", "p"]].astype({"group_a": str, "group_b": str})
    pairwise["p_holm"] = multipletests(pairwise["p"].to_numpy(), method="holm")[1]
    return GroupSurvival(group_by=group_by, curves=curves,
                         multivariate={"statistic": float(mv.test_statistic), "df": int(mv.degrees_of_freedom),
                                       "p": float(mv.p_value)},
                         pairwise=pairwise, alpha=alpha, pooled=pooled, dropped=dropped)
