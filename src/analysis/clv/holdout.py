"""Holdout validation of the purchase models: calibration/holdout split, model comparison, scorecard.
Calibrate up to a date before ``as_of``, predict the purchases after it and compare with what happened.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis import customers, data
from analysis.clv import likelihoods as pm
from analysis.clv.fitting import (MIN_HISTORY_DAYS, MIN_REPEAT_CUSTOMERS, PURCHASE_MODELS, FitResult, check_boundary,
                                  check_unit, compress, fit_from_dict, fit_model)
from analysis.errors import DataError, ModelError, ParameterError
from analysis.units import DAYS_PER_MONTH

#: Holdout length (months) auto uses to choose between purchase models, when the history allows
#: a calibration period of at least MIN_HISTORY_DAYS before it.
HOLDOUT_MONTHS = 6


def holdout_mae(model: str, cal: pd.DataFrame, warm: dict | None = None) -> dict:
    """Fit ``model`` on the calibration period and score its holdout predictions (MAE, aggregate error).

    The calibration fit is scored wherever it stopped (a drop-out fit that ran towards "nobody leaves"
    predicts like the NBD): eligibility is decided on the whole history, the holdout only ranks.
    Raises :class:`ModelError` when the calibration fit does not converge. ``calibration_fit`` is that fit
    (``FitResult.to_dict()``), which :func:`scorecard` reuses instead of fitting the same split again.
    """
    t = cal.rename(columns={"frequency_cal": "frequency", "recency_cal": "recency", "T_cal": "T"})
    rows, _ = compress(t, ["frequency", "recency", "T"])
    res = fit_model(model, rows, rows["weight"], initial=warm, polish=False)
    x, tx, T = (rows[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    keys = compress(t, ["frequency", "recency", "T"])[1]
    pred = pm.expected_purchases(model, res.params, t["duration_holdout"].to_numpy(float),
                                 x[keys], tx[keys], T[keys])
    act = t["frequency_holdout"].to_numpy(float)
    return {"holdout_mae": float(np.mean(np.abs(pred - act))),
            "holdout_aggregate_error": float(pred.sum() / act.sum() - 1) if act.sum() else np.nan,
            "calibration_fit": res.to_dict()}


def holdout_split(source, as_of, freq: str = "D", holdout_months: int = HOLDOUT_MONTHS,
                  days_per_month: float = DAYS_PER_MONTH, table: pd.DataFrame | None = None) -> pd.DataFrame | None:
    """Calibration/holdout table for choosing a purchase model, or None when the history is too short.

    The calibration period ends ``holdout_months`` before ``as_of``; a split is possible when the
    oldest customer's history at that date is at least :data:`MIN_HISTORY_DAYS` days.
    """
    unit_days = check_unit(freq)
    src = source if isinstance(source, data.Source) else data.load_source(source, as_of=as_of)
    end = pd.Timestamp(as_of if as_of is not None else src.as_of)
    cal_end = (end - pd.Timedelta(days=round(holdout_months * days_per_month))).normalize()
    if table is not None:
        oldest = float(table["T"].max()) * unit_days - (end - cal_end).days
        if oldest < MIN_HISTORY_DAYS:
            return None
    cal = customers.calibration_holdout(src, calibration_end=cal_end, holdout_end=end, freq="D",
                                        freq_multiplier=unit_days)
    if cal.empty or float(cal["T_cal"].max()) * unit_days < MIN_HISTORY_DAYS \
            or int((cal["frequency_cal"] > 0).sum()) < MIN_REPEAT_CUSTOMERS:
        return None
    cal.attrs.update(calibration_end=str(cal_end.date()), holdout_end=str(end.date()), holdout_months=holdout_months)
    return cal


def compare_models(table: pd.DataFrame, holdout: pd.DataFrame | None = None,
                   models=PURCHASE_MODELS) -> pd.DataFrame:
    """Fit the purchase models side by side: log-likelihood, AIC, BIC and holdout error.

    ``table`` has ``frequency, recency, T``; ``holdout`` (optional, same rows) has
    ``frequency_holdout, duration_holdout`` for the holdout purchases. A fit at its boundary
    or without convergence is a row with its ``status`` and no numbers.
    """
    rows, pos = compress(table, ["frequency", "recency", "T"])
    x, tx, T = (rows[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    out = []
    for name in models:
        try:
            res = check_boundary(fit_model(name, rows, rows["weight"], polish=False))  # a comparison, not estimates
        except ModelError as exc:
            out.append({"model": name, "status": exc.reason, "note": str(exc)})
            continue
        rec = {"model": name, "status": "fitted", "log_likelihood": res.log_likelihood, "aic": res.aic,
               "bic": res.bic, **{f"param_{k}": v for k, v in res.params.items()}}
        if holdout is not None:
            pred = pm.expected_purchases(name, res.params, holdout["duration_holdout"].to_numpy(float),
                                         x[pos], tx[pos], T[pos])
            act = holdout["frequency_holdout"].to_numpy(float)
            rec.update(holdout_mae=float(np.mean(np.abs(pred - act))),
                       holdout_aggregate_error=float(pred.sum() / act.sum() - 1))
        out.append(rec)
    return pd.DataFrame(out)


def scored_candidates(fitted, calibration_end, holdout_end, freq: str = "D") -> list[dict] | None:
    """The candidate records of a fitted :class:`analysis.clv.CLVModel` whose automatic choice scored them on
    this very split (same calibration and holdout ends and time unit), or None.

    Each scored record carries its ``calibration_fit``: :func:`scorecard` reads those instead of fitting the
    same models on the same split again, so the holdout section reports the errors the choice was made on.
    """
    split = (getattr(fitted, "choice_", None) or {}).get("holdout")
    if not split or getattr(fitted, "time_unit", None) != freq:
        return None
    if (split.get("calibration_end"), split.get("holdout_end")) != (str(pd.Timestamp(calibration_end).date()),
                                                                  str(pd.Timestamp(holdout_end).date())):
        return None
    records = getattr(fitted, "candidates_", None) or []
    return records if any(r.get("calibration_fit") for r in records) else None


def comparison_of(records: list[dict]) -> pd.DataFrame:
    """:func:`compare_models`' table from candidate records scored on a split (their calibration fits):
    calibration log-likelihood, AIC, BIC and parameters, holdout error; ``status`` says why a row has no numbers."""
    out = []
    for r in records:
        fit = r.get("calibration_fit")
        if not fit:
            out.append({"model": r["model"], "status": r.get("reason") or "no_convergence"})
            continue
        res = fit_from_dict(fit)
        out.append({"model": r["model"], "status": "fitted", "log_likelihood": res.log_likelihood, "aic": res.aic,
                    "bic": res.bic, **{f"param_{k}": v for k, v in res.params.items()},
                    "holdout_mae": r["holdout_mae"], "holdout_aggregate_error": r["holdout_aggregate_error"]})
    return pd.DataFrame(out)


@dataclass(frozen=True)
class HoldoutScorecard:
    """Calibration/holdout validation of the purchase model (Fader-Hardie style)."""

    by_frequency: pd.DataFrame  # frequency_cal group, n, actual, predicted (mean holdout purchases)
    p_alive_calibration: pd.DataFrame  # p_alive bin, n, predicted and actual share buying in holdout
    aggregate_error: float  # predicted total / actual total - 1
    mae: float
    bias: float  # mean(predicted - actual) per customer
    n_customers: int
    fit: FitResult
    calibration_end: pd.Timestamp | None = None
    holdout_end: pd.Timestamp | None = None
    #: the per-customer calibration/holdout table it was computed from (for the diagnostics; not in ``to_dict``)
    calibration: pd.DataFrame | None = dataclasses.field(default=None, repr=False, compare=False)

    def summary(self) -> pd.DataFrame:
        return pd.DataFrame({"metric": ["customers", "aggregate_error", "mae", "bias"],
                             "value": [self.n_customers, self.aggregate_error, self.mae, self.bias]})

    def to_dict(self) -> dict:
        day = lambda d: None if d is None else str(pd.Timestamp(d).date())  # noqa: E731
        return {"n_customers": self.n_customers, "aggregate_error": self.aggregate_error, "mae": self.mae,
                "bias": self.bias, "calibration_end": day(self.calibration_end), "holdout_end": day(self.holdout_end),
                "fit": self.fit.to_dict(), "by_frequency": self.by_frequency.to_dict("records"),
                "p_alive_calibration": self.p_alive_calibration.to_dict("records")}

    def _repr_html_(self) -> str:
        return self.summary().to_html(index=False)


def _p_no_purchase_if_alive(model: str, params: dict, dur, x, T, n_draws: int = 400, seed: int = 0) -> np.ndarray:
    """P(no purchase in the next ``dur`` | alive at T). BG/NBD-type customers only leave right
    after a purchase, so it is the NBD zero term; under Pareto/NBD they can leave silently during
    the holdout, so it is integrated over the posterior rates by simulation (fixed seed)."""
    if model != "pareto_nbd":
        return ((params["alpha"] + T) / (params["alpha"] + T + dur)) ** (params["r"] + x)
    rng = np.random.default_rng(seed)
    lam = rng.gamma(params["r"] + x, 1.0, (n_draws, len(x))) / (params["alpha"] + T)
    mu = rng.gamma(params["s"], 1.0, (n_draws, len(x))) / (params["beta"] + T)
    return (mu / (lam + mu) + lam / (lam + mu) * np.exp(-(lam + mu) * dur)).mean(axis=0)


def holdout_scorecard(cal: pd.DataFrame, time_unit: str = "D", max_frequency: int = 7,
                      model: str = "bgnbd", fit: FitResult | None = None) -> HoldoutScorecard:
    """Fit the purchase model on the calibration period and compare predicted with actual holdout purchases.

    ``cal`` is the output of :func:`analysis.customers.table.calibration_holdout`
    (``frequency_cal, recency_cal, T_cal, frequency_holdout, duration_holdout``).
    The P(alive) check compares, per P(alive) band, the predicted probability of
    at least one holdout purchase, ``P(alive) * (1 - P(no purchase | alive))``,
    with the share of customers who did buy. ``fit``: the calibration fit when already made (it is checked
    for the boundary like a new one).
    """
    check_unit(time_unit)
    need = ["frequency_cal", "recency_cal", "T_cal", "frequency_holdout", "duration_holdout"]
    missing = [c for c in need if c not in cal.columns]
    if missing:
        raise DataError(f"calibration/holdout table: missing column(s) {', '.join(missing)}.")
    t = cal.rename(columns={"frequency_cal": "frequency", "recency_cal": "recency", "T_cal": "T"})
    rows, pos = compress(t, ["frequency", "recency", "T"])
    res = check_boundary(fit if fit is not None else fit_model(model, rows, rows["weight"], polish=False))
    p = res.params
    x, tx, T = (t[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    dur = t["duration_holdout"].to_numpy(float)
    pred = pm.expected_purchases(model, p, dur, x, tx, T)
    act = t["frequency_holdout"].to_numpy(float)
    grp = np.minimum(x, max_frequency).astype(int)
    by = (pd.DataFrame({"frequency_cal": grp, "actual": act, "predicted": pred})
          .groupby("frequency_cal").agg(n=("actual", "size"), actual=("actual", "mean"), predicted=("predicted", "mean"))
          .reset_index())
    by["frequency_cal"] = by["frequency_cal"].astype(str)
    by.loc[by["frequency_cal"] == str(max_frequency), "frequency_cal"] = f"{max_frequency}+"
    pa = pm.p_alive(model, p, x, tx, T)
    p_buy = pa * (1 - _p_no_purchase_if_alive(model, p, dur, x, T))
    bands = pd.cut(pa, [0, .2, .4, .6, .8, 1.0000001], right=False,
                   labels=["0-20%", "20-40%", "40-60%", "60-80%", "80-100%"])
    cal_tab = (pd.DataFrame({"p_alive_band": bands, "p_alive": pa, "predicted_buy_share": p_buy,
                             "actual_buy_share": (act > 0).astype(float)})
               .groupby("p_alive_band", observed=True)
               .agg(n=("p_alive", "size"), mean_p_alive=("p_alive", "mean"),
                    predicted_buy_share=("predicted_buy_share", "mean"), actual_buy_share=("actual_buy_share", "mean"))
               .reset_index())
    cal_tab["p_alive_band"] = cal_tab["p_alive_band"].astype(str)
    return HoldoutScorecard(by, cal_tab, float(pred.sum() / act.sum() - 1) if act.sum() else np.nan,
                            float(np.mean(np.abs(pred - act))), float(np.mean(pred - act)), len(t), res)


def scorecard(source, as_of, holdout_months: int = 6, freq: str = "D",
              days_per_month: float = DAYS_PER_MONTH, model: str = "bgnbd",
              fitted=None) -> tuple[HoldoutScorecard, pd.DataFrame]:
    """Holdout check at ``as_of``: calibrate up to ``holdout_months`` before it, predict the rest.

    Returns the :class:`HoldoutScorecard` of ``model`` (the page passes the chosen one) and the
    model comparison (:func:`compare_models`) on the same split. ``fitted``: the month's
    :class:`analysis.clv.CLVModel`; when its automatic choice scored the candidates on this split
    (:func:`scored_candidates`), their calibration fits are read instead of made again, so the table
    shows the holdout errors the choice was made on. The scorecard keeps the calibration table
    (``.calibration``) for :func:`analysis.clv.diagnostics.diagnose`.
    """
    if holdout_months < 1:
        raise ParameterError(f"holdout_months: got {holdout_months!r}, expected at least 1.")
    unit_days = check_unit(freq)
    end = pd.Timestamp(as_of)
    cal_end = (end - pd.Timedelta(days=round(holdout_months * days_per_month))).normalize()
    cal = customers.calibration_holdout(source, calibration_end=cal_end, holdout_end=end, freq="D",
                                        freq_multiplier=unit_days)
    records = scored_candidates(fitted, cal_end, end, freq) if fitted is not None else None
    fit = next((fit_from_dict(r["calibration_fit"]) for r in records or ()
                if r["model"] == model and r.get("calibration_fit")), None)
    sc = dataclasses.replace(holdout_scorecard(cal, freq, model=model, fit=fit), calibration_end=cal_end,
                             holdout_end=end, calibration=cal)
    if records is not None:
        return sc, comparison_of(records)
    table = cal.rename(columns={"frequency_cal": "frequency", "recency_cal": "recency", "T_cal": "T"})
    return sc, compare_models(table, cal)
