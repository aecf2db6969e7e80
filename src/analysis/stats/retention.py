"""How long two groups stay active: Kaplan-Meier curves, the log-rank test and the RMST difference.

Durations are days from assignment to lapse (or to the end of observation); lifelines fits the curves.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter
from lifelines.statistics import logrank_test
from scipy import stats

from analysis.stats.results import Result, check_alpha, plain, summary_table

__all__ = ["RetentionComparison", "compare_retention"]


# --- retention --------------------------------------------------------------
@dataclass(frozen=True)
class RetentionComparison(Result):
    """Kaplan-Meier curves per arm, log-rank test and restricted mean survival time (RMST).

    ``estimate`` is the RMST difference (treatment minus control): extra days active within
    the horizon per customer; ``p_value`` is the log-rank test.
    """

    curves: pd.DataFrame
    horizon_days: float
    rmst_a: float
    rmst_b: float
    estimate: float
    ci_low: float
    ci_high: float
    p_value: float
    logrank_statistic: float

    def summary(self) -> pd.DataFrame:
        return summary_table({"rmst_a": [self.rmst_a, np.nan, np.nan, np.nan],
                      "rmst_b": [self.rmst_b, np.nan, np.nan, np.nan],
                      "rmst_difference": [self.estimate, self.ci_low, self.ci_high, self.p_value]})

    def to_dict(self) -> dict:
        """Plain numbers (the curves stay in ``curves``)."""
        return {f.name: plain(getattr(self, f.name)) for f in fields(self) if f.name != "curves"}


def _rmst(kmf, horizon_days: float) -> tuple[float, float]:
    """Restricted mean survival time of a fitted Kaplan-Meier curve and the variance of that estimate.

    Variance: sum over event times t_j <= horizon of A_j^2 d_j / (n_j (n_j - d_j)), A_j the area under
    the curve from t_j to the horizon (Klein & Moeschberger 2003, sec. 4.5). lifelines'
    ``restricted_mean_survival_time(return_variance=True)`` gives the variance of min(T, horizon)
    itself, not of its mean, so it is not used for the interval.
    """
    table = kmf.event_table
    times = table.index.to_numpy(dtype=float)
    sf = kmf.survival_function_.iloc[:, 0]
    st, sv = sf.index.to_numpy(dtype=float), sf.to_numpy()
    knots = np.append(st[st < horizon_days], horizon_days)
    widths = np.diff(knots)
    steps = sv[st < horizon_days][: len(widths)]
    area_after = np.append(np.cumsum((steps * widths)[::-1])[::-1], 0.0)  # area from each knot to the horizon
    rmst = float(area_after[0] + (knots[0] if knots[0] > 0 else 0.0))
    d, n = table["observed"].to_numpy(float), table["at_risk"].to_numpy(float)
    keep = (times <= horizon_days) & (d > 0) & (n > d)
    a = np.interp(times[keep], knots, area_after)
    var = float(np.sum(a * a * d[keep] / (n[keep] * (n[keep] - d[keep]))))
    return rmst, var


def compare_retention(durations_a, events_a, durations_b, events_b, horizon_days: float,
                      alpha: float = 0.05) -> RetentionComparison:
    """Compare how long customers stay active in control and treatment.

    Parameters
    ----------
    durations_a, events_a, durations_b, events_b : array-like
        Days from assignment until lapse (``event = 1``) or until observation ended (``0``).
    horizon_days : float
        Restriction time for the RMST.

    Example
    -------
    >>> r = compare_retention([5, 10, 30, 30], [1, 1, 0, 0], [20, 30, 30, 30], [1, 0, 0, 0], 30)
    >>> r.rmst_b > r.rmst_a
    True
    """
    alpha = check_alpha(alpha)
    fits, rows = [], []
    for label, dur, ev in (("control", durations_a, events_a), ("treatment", durations_b, events_b)):
        kmf = KaplanMeierFitter(alpha=alpha).fit(np.asarray(dur, float), np.asarray(ev, int), label=label)
        fits.append(kmf)
        sf = kmf.survival_function_[label]
        ci = kmf.confidence_interval_survival_function_
        rows.append(pd.DataFrame({"arm": label, "day": sf.index.to_numpy(), "survival": sf.to_numpy(),
                                  "ci_low": ci.iloc[:, 0].to_numpy(), "ci_high": ci.iloc[:, 1].to_numpy()}))
    (ra, va), (rb, vb) = (_rmst(k, horizon_days) for k in fits)
    lr = logrank_test(durations_a, durations_b, event_observed_A=events_a, event_observed_B=events_b)
    diff = float(rb - ra)
    half = stats.norm.ppf(1 - alpha / 2) * math.sqrt(va + vb)
    return RetentionComparison(pd.concat(rows, ignore_index=True), float(horizon_days), float(ra), float(rb), diff,
                               diff - half, diff + half, float(lr.p_value), float(lr.test_statistic))
