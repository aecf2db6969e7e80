"""The classic diagnostics of a purchase model (Fader, Hardie & Lee 2005, Figs. 2-4), computed as data.

The tracking table (repeat purchases per week and cumulated, actual against the model, calibration and holdout
period) and the conditional expectations of holdout purchases by calibration frequency. Plots are in the report layer.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.clv import likelihoods as pm
from analysis.customers import calibration_holdout, purchase_days_sql
from analysis.customers.table import open_source
from analysis.data import parse_date, quote_literal
from analysis.errors import ModelError, ParameterError


def _date(ts: pd.Timestamp) -> str:
    return f"DATE {quote_literal(ts.strftime('%Y-%m-%d'))}"


def expected_cumulative_repeats(model: str, params: dict, t) -> np.ndarray:
    """E[X(t)]: expected repeat purchases of one customer within ``t`` (model time units) of the first purchase.

    The conditional expectation of :func:`analysis.clv.likelihoods.expected_purchases` for a customer just
    born (``x = t_x = T = 0``), which is the model's unconditional expectation (FHL 2005 eq. 7 for BG/NBD,
    Schmittlein et al. 1987 for Pareto/NBD).

    Example
    -------
    >>> p = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}  # FHL (2005), CDNOW, weeks (lifetimes: 1.197)
    >>> round(float(expected_cumulative_repeats("bgnbd", p, [39.0])[0]), 3)
    1.197
    """
    t = np.asarray(t, float)
    zeros = np.zeros_like(t)
    return pm.expected_purchases(model, params, t, zeros, zeros, zeros)


def tracking(source, as_of, model: str, params: dict, calibration_end, *, unit_days: float = 1.0,
             period_days: int = 7) -> pd.DataFrame:
    """Repeat purchases per period and cumulated, actual against the model (the "tracking plot" data).

    The customers are those whose first purchase day is on or before ``calibration_end`` (the cohort the
    model was fitted on); a repeat purchase is any later purchase day (the package's purchase-day rule).
    The model's curve is the sum over those customers of :func:`expected_cumulative_repeats` from each
    one's first purchase, so it needs only the customers' first days, never their later purchases.

    Parameters
    ----------
    source : path or analysis.data.Source
    as_of : date-like
        End of the holdout period (the last day counted).
    model, params : str, dict
        The fitted purchase model (``params`` in units of ``unit_days`` days).
    calibration_end : date-like
        Last day of the calibration period.
    unit_days : float
        Days per model time unit (1 for a daily fit, 7 for a weekly one).
    period_days : int
        Length of a period of the table (7: weekly, as in FHL 2005).

    Returns
    -------
    pd.DataFrame
        One row per period from the cohort's first purchase day: ``period_start``, ``period_end`` (cut at
        ``as_of``), ``week`` (1, 2, ...), ``actual``, ``expected``, ``actual_cumulative``,
        ``expected_cumulative`` (repeat purchases) and ``holdout`` (True for a period that ends after
        ``calibration_end``). ``attrs``: ``calibration_end``, ``customers``.
    """
    as_of, cal_end = parse_date(as_of), parse_date(calibration_end, "calibration_end")
    if cal_end >= as_of:
        raise ParameterError(f"calibration_end: {cal_end.date()} must be before as_of {as_of.date()}.")
    if period_days < 1:
        raise ParameterError(f"period_days: got {period_days!r}, expected at least 1 day.")
    src = open_source(source, as_of)
    cohort = f"""
        WITH d AS (SELECT customer_id, day FROM ({purchase_days_sql()}) WHERE is_purchase = 1 AND day <= {_date(as_of)}),
        f AS (SELECT customer_id, MIN(day) AS first_day FROM d GROUP BY customer_id HAVING MIN(day) <= {_date(cal_end)})"""
    births = src.sql(f"{cohort} SELECT first_day AS day, COUNT(*) AS n FROM f GROUP BY first_day ORDER BY 1")
    if births.empty:
        raise ModelError(f"tracking: no customer made a first purchase on or before {cal_end.date()}.",
                         reason="no_data")
    repeats = src.sql(f"""{cohort}
        SELECT d.day, COUNT(*) AS n FROM d JOIN f ON f.customer_id = d.customer_id WHERE d.day > f.first_day
        GROUP BY d.day ORDER BY 1""")
    start = pd.Timestamp(births["day"].min())
    ends = pd.date_range(start + pd.Timedelta(days=period_days - 1), as_of, freq=f"{period_days}D")
    if len(ends) == 0 or ends[-1] < as_of:
        ends = ends.append(pd.DatetimeIndex([as_of]))
    # cumulative counts at the end of each period: expected over the (few) distinct first days at once
    born = pd.to_datetime(births["day"]).to_numpy()
    age_days = (ends.to_numpy()[:, None] - born[None, :]) / np.timedelta64(1, "D")
    # a day counts whole: a customer born on day b can buy again from day b + 1, so by the end of day e
    # they have been exposed for e - b days
    exposure = np.clip(age_days, 0, None) / unit_days
    expected_cum = (expected_cumulative_repeats(model, params, exposure.ravel()).reshape(exposure.shape)
                    * births["n"].to_numpy(float)[None, :]).sum(axis=1)
    rdays = pd.to_datetime(repeats["day"]).to_numpy()
    counts = repeats["n"].to_numpy(float)
    actual_cum = np.concatenate([[0.0], np.cumsum(counts)])[np.searchsorted(rdays, ends.to_numpy(), side="right")]
    starts = pd.DatetimeIndex([start]).append(ends[:-1] + pd.Timedelta(days=1))
    out = pd.DataFrame({"period_start": starts, "period_end": ends, "week": np.arange(1, len(ends) + 1),
                        "actual": np.diff(actual_cum, prepend=0.0), "expected": np.diff(expected_cum, prepend=0.0),
                        "actual_cumulative": actual_cum, "expected_cumulative": expected_cum,
                        "holdout": ends > cal_end})
    out.attrs.update(calibration_end=cal_end, customers=int(births["n"].sum()))
    return out


def conditional_expectations(cal: pd.DataFrame, model: str, params: dict, max_frequency: int = 7) -> pd.DataFrame:
    """Mean holdout repeat purchases by calibration frequency, actual against the model (FHL 2005, Fig. 4).

    Parameters
    ----------
    cal : pd.DataFrame
        :func:`analysis.customers.table.calibration_holdout` (``frequency_cal, recency_cal, T_cal,
        frequency_holdout, duration_holdout``), in the model's time unit.
    model, params : str, dict
        The purchase model fitted on the calibration period.
    max_frequency : int
        Calibration frequencies from this up are one group ("7+").

    Returns
    -------
    pd.DataFrame
        ``frequency_cal`` (0, 1, ..., "7+"), ``n``, ``actual``, ``expected`` (mean holdout purchases
        per customer of the group).
    """
    need = ["frequency_cal", "recency_cal", "T_cal", "frequency_holdout", "duration_holdout"]
    missing = [c for c in need if c not in cal.columns]
    if missing:
        raise ParameterError(f"calibration/holdout table: missing column(s) {', '.join(missing)}.")
    x, tx, T, dur, act = (cal[c].to_numpy(float) for c in need[:3] + ["duration_holdout", "frequency_holdout"])
    expected = pm.expected_purchases(model, params, dur, x, tx, T)
    group = np.minimum(x, max_frequency).astype(int)
    out = (pd.DataFrame({"group": group, "actual": act, "expected": expected})
           .groupby("group").agg(n=("actual", "size"), actual=("actual", "mean"), expected=("expected", "mean"))
           .reset_index())
    out.insert(0, "frequency_cal", [f"{g}+" if g == max_frequency else str(g) for g in out.pop("group")])
    return out




@dataclass(frozen=True)
class Diagnostics:
    """The tracking table and the conditional expectations of one calibration fit (see :func:`diagnose`)."""

    tracking: pd.DataFrame
    conditional: pd.DataFrame
    model: str
    calibration_end: pd.Timestamp
    holdout_end: pd.Timestamp

    def to_dict(self) -> dict:
        day = lambda d: str(pd.Timestamp(d).date())  # noqa: E731
        return {"model": self.model, "calibration_end": day(self.calibration_end), "holdout_end": day(self.holdout_end),
                "tracking": self.tracking.assign(period_start=self.tracking["period_start"].astype(str),
                                                 period_end=self.tracking["period_end"].astype(str)).to_dict("records"),
                "conditional": self.conditional.to_dict("records")}


def diagnose(source, as_of, fit, calibration_end, *, unit_days: float = 1.0, max_frequency: int = 7,
             calibration: pd.DataFrame | None = None) -> Diagnostics:
    """Both diagnostics of a purchase model fitted on the calibration period up to ``calibration_end``.

    ``fit`` is the calibration fit (:class:`analysis.clv.fitting.FitResult`, e.g. the holdout scorecard's
    ``fit``, in units of ``unit_days`` days); ``as_of`` ends the holdout period. ``calibration``: the
    calibration/holdout table of that split when already made (the scorecard's ``.calibration``), else read.
    """
    cal = calibration if calibration is not None else calibration_holdout(
        source, calibration_end=calibration_end, holdout_end=as_of, freq="D", freq_multiplier=unit_days)
    return Diagnostics(tracking(source, as_of, fit.model, fit.params, calibration_end, unit_days=unit_days),
                       conditional_expectations(cal, fit.model, fit.params, max_frequency),
                       fit.model, parse_date(calibration_end, "calibration_end"), parse_date(as_of))


__all__ = ["Diagnostics", "conditional_expectations", "diagnose", "expected_cumulative_repeats", "tracking"]
