"""Intervals per customer: how far the fitted parameters' uncertainty moves each customer's CLV and P(alive).
A customer-level bootstrap (or draws from the Hessian's normal approximation) re-scores every customer from own history.

What an interval covers: the customer's *expected* value given their history (P(alive), expected
purchases, CLV as the model computes them) when the parameters are uncertain; not the purchases the
customer will actually make, which vary far more. The equity interval adds the process variance of
a finite base (:func:`analysis.clv.portfolio.process_sd`). The purchase model itself is taken as
chosen (``auto``'s choice is not redone per resample).
"""
from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.clv.fitting import MIN_REPEAT_CUSTOMERS, check_boundary, compress, fit_model
from analysis.clv.model import CLVModel
from analysis.clv.portfolio import process_sd
from analysis.errors import ModelError, ParameterError
from analysis.units import DAYS_PER_MONTH

METHODS = ("bootstrap", "hessian")
DEFAULT_LEVEL = 0.9
DEFAULT_RESAMPLES = 200
#: Fewest valid resamples (share of those drawn) an interval is reported from. Resamples whose fit
#: runs to the boundary are counted and left out; when that is more than half, the boundary is the
#: answer, not a detail, and no interval is reported.
MIN_VALID_SHARE = 0.5
#: Columns :func:`customer_intervals` adds (``kanta clv --interval``).
INTERVAL_COLUMNS = ("clv_low", "clv_high", "p_alive_low", "p_alive_high")
#: What the intervals cover, for the params JSON (language-free codes).
COVERS = "expected_value_given_parameter_uncertainty"
EQUITY_COVERS = "expected_value_given_parameter_uncertainty+process_variance"


def check_level(level) -> float:
    """Raise :class:`ParameterError` unless ``level`` is a probability strictly between 0 and 1."""
    try:
        ok = 0 < float(level) < 1
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ParameterError(f"interval: got {level!r}, expected a coverage level between 0 and 1, e.g. 0.9.")
    return float(level)


def check_interval(level, n_resamples) -> None:
    """Raise :class:`ParameterError` unless the level and the number of resamples make sense (checked before any work)."""
    check_level(level)
    if isinstance(n_resamples, bool) or int(n_resamples) != n_resamples or n_resamples < 10:
        raise ParameterError(f"resamples: got {n_resamples!r}, expected a whole number of at least 10, e.g. 200.")


# --------------------------------------------------------------------------- parameter draws
@dataclass(frozen=True)
class ParameterDraws:
    """Parameter sets standing for the uncertainty of a fit: bootstrap refits or Hessian draws.

    ``purchase`` and ``gamma_gamma`` have one row per valid draw (parameter names as columns);
    ``failed`` counts the draws left out by reason (``boundary_fit``, ``no_convergence``,
    ``spend_model_undefined``, ``spend_at_bound``, ``too_few_repeat_customers``, ...).
    """

    method: str
    model: str
    purchase: pd.DataFrame
    gamma_gamma: pd.DataFrame
    requested: int
    failed: dict
    seed: int

    @property
    def n_valid(self) -> int:
        return len(self.purchase)

    def standard_errors(self) -> dict:
        """Each parameter's spread over the draws: half its central 68 % range (the standard deviation of a normal).

        Robust on purpose: near a ridge of the likelihood (Gamma-Gamma's p, q, v) a few resamples run
        far out, which would swamp a plain standard deviation without moving the intervals.
        """
        def half68(d: pd.DataFrame) -> dict:
            return ((d.quantile(0.8413) - d.quantile(0.1587)) / 2).to_dict()

        return {self.model: half68(self.purchase), "gamma_gamma": half68(self.gamma_gamma)}

    def to_dict(self) -> dict:
        return {"method": self.method, "requested": self.requested, "valid": self.n_valid,
                "failed": dict(self.failed), "seed": self.seed}


def _spend_mask(model: CLVModel, table: pd.DataFrame) -> np.ndarray:
    """The customers the spend model was fitted on: repeat, positive average spend, not an outlier."""
    x, m = table["frequency"].to_numpy(float), table["monetary_value"].to_numpy(float)
    return (x > 0) & (m > 0) & (m <= model.spend_bound_)


def _refit(key: str, rows: pd.DataFrame, w: np.ndarray, start: dict) -> dict:
    """One resample's fit from the full fit's parameters; ModelError (with its reason) when it is not usable."""
    keep = w > 0
    res = fit_model(key, rows[keep], w[keep], initial=start)
    if key != "gamma_gamma":
        return check_boundary(res).params
    if res.at_bound or not all(np.isfinite(v) for v in res.params.values()):
        raise ModelError("gamma_gamma: resample fit at the boundary", reason="spend_at_bound")
    if res.params["q"] <= 1:
        raise ModelError("gamma_gamma: q <= 1 in a resample", reason="spend_model_undefined")
    return res.params


def parameter_draws(model: CLVModel, table: pd.DataFrame, method: str = "bootstrap",
                    n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> ParameterDraws:
    """Parameter sets for the intervals: a customer-level bootstrap (default) or the Hessian's normal approximation.

    Parameters
    ----------
    model : CLVModel
        Fitted on ``table``.
    table : DataFrame
        The customer table the model was fitted on (``frequency, recency, T, monetary_value``).
    method : {"bootstrap", "hessian"}
        ``bootstrap``: customers drawn with replacement (the same draw for both models, so a
        customer's purchases and spend stay together); the purchase model and Gamma-Gamma refitted
        from the full fit's parameters. The likelihoods work on distinct histories with weights, so a
        resample is a new weight vector and a refit costs a few milliseconds. ``hessian``: log-parameters
        drawn from their asymptotic normal distribution (inverse Hessian).
    n_resamples : int
        Resamples (or draws); 200 by default.
    seed : int
        Seed of the random draws: the same seed gives the same draws.

    Resamples whose purchase fit runs to the boundary (:func:`analysis.clv.fitting.check_boundary`) or
    does not converge, or whose spend model has q <= 1 or runs to its boundary, are left out and
    counted in ``failed``; :class:`ModelError` (reason ``interval_not_estimable``) when fewer than
    :data:`MIN_VALID_SHARE` of them remain.

    Example
    -------
    >>> from analysis.clv.simulation import simulate_rfm
    >>> t = simulate_rfm(np.full(300, 365.0), {"r": 0.6, "alpha": 20.0, "a": 0.8, "b": 3.0}, {"p": 3, "q": 4, "v": 20})
    >>> draws = parameter_draws(CLVModel(model="bgnbd").fit(t), t, n_resamples=20, seed=1)
    >>> draws.n_valid + sum(draws.failed.values())
    20
    """
    model.check_fitted()
    if method not in METHODS:
        raise ParameterError(f"interval method: got {method!r}, expected one of {', '.join(METHODS)}.")
    check_interval(0.5, n_resamples)
    n_resamples = int(n_resamples)
    key = model.purchase_model_
    names, gnames = list(model.purchase_.params), list(model.gamma_gamma_.params)
    rng = np.random.default_rng(seed)
    failed: dict = {}
    kept_p, kept_g = [], []
    if method == "hessian":
        draws = []
        for res in (model.purchase_, model.gamma_gamma_):
            if res.cov_log_params is None:
                raise ModelError(f"{res.model}: no parameter covariance (Hessian), so no interval.",
                                 reason="interval_not_estimable", facts={"model": res.model})
            mu = np.log(list(res.params.values()))
            draws.append(np.exp(rng.multivariate_normal(mu, np.array(res.cov_log_params), size=n_resamples)))
        for ppv, ggv in zip(*draws):
            reason = ("not_finite" if not (np.all(np.isfinite(ppv)) and np.all(np.isfinite(ggv)))
                      else "spend_model_undefined" if ggv[gnames.index("q")] <= 1 else None)
            if reason:
                failed[reason] = failed.get(reason, 0) + 1
                continue
            kept_p.append(ppv)
            kept_g.append(ggv)
    else:
        n = len(table)
        prows, ppos = compress(table, ["frequency", "recency", "T"])
        spend = _spend_mask(model, table)
        srows, spos = compress(table[spend], ["frequency", "monetary_value"])
        for _ in range(n_resamples):
            counts = np.bincount(rng.integers(0, n, n), minlength=n).astype(float)
            ws = np.bincount(spos, weights=counts[spend], minlength=len(srows))
            try:
                if (ws > 0).sum() < MIN_REPEAT_CUSTOMERS:
                    raise ModelError("too few repeat customers in a resample", reason="too_few_repeat_customers")
                pp = _refit(key, prows, np.bincount(ppos, weights=counts, minlength=len(prows)),
                            model.purchase_.params)
                gg = _refit("gamma_gamma", srows, ws, model.gamma_gamma_.params)
            except ModelError as exc:
                failed[exc.reason] = failed.get(exc.reason, 0) + 1
                continue
            kept_p.append([pp[k] for k in names])
            kept_g.append([gg[k] for k in gnames])
    out = ParameterDraws(method, key, pd.DataFrame(kept_p, columns=names, dtype=float),
                         pd.DataFrame(kept_g, columns=gnames, dtype=float), n_resamples, failed, int(seed))
    if out.n_valid < MIN_VALID_SHARE * n_resamples:
        raise ModelError(
            f"{key}: only {out.n_valid} of {n_resamples} {method} draws gave a valid fit "
            f"({', '.join(f'{k}: {v}' for k, v in sorted(failed.items()))}); no interval is reported.",
            reason="interval_not_estimable", facts={"model": key, "valid": out.n_valid, "requested": n_resamples,
                                                    "failed": dict(failed)})
    return out


# --------------------------------------------------------------------------- intervals
@dataclass(frozen=True)
class CustomerIntervals:
    """Per-customer and equity intervals at one level, from one set of parameter draws.

    ``values``: ``customer_id, p_alive, p_alive_low, p_alive_high, expected_purchases,
    expected_purchases_low, expected_purchases_high, clv, clv_low, clv_high`` (the requested
    customers, in the table's order). The point values are the model's own; the bounds are the
    percentiles of the draws, widened to the point value when all draws lie on one side, so
    ``low <= point <= high``. P(alive) bounds are empty when the model has no P(alive).
    ``equity``: ``{value, low, high, parameter_sd, process_sd}`` over the whole table.
    """

    level: float
    values: pd.DataFrame
    equity: dict
    draws: ParameterDraws
    horizon_months: int
    discount_rate: float
    not_finite: int = 0  # draws the value formulas could not evaluate (left out, counted)

    def interval_info(self) -> dict:
        """What the intervals are, for the params JSON: level, method, resamples, what they cover."""
        info = {"level": self.level, **self.draws.to_dict()}
        if self.not_finite:
            info["failed"] = {**info["failed"], "not_finite": self.not_finite}
        return {**info, "resamples": self.draws.n_valid - self.not_finite, "covers": COVERS,
                "equity_covers": EQUITY_COVERS if self.equity.get("process_sd") else COVERS}

    def to_dict(self) -> dict:
        return {"interval": self.interval_info(), "customer_equity": dict(self.equity)}

    def summary(self) -> pd.DataFrame:
        """Median relative half-width (half the width over the point value) of each interval, all and repeat customers."""
        rows = []
        v = self.values
        for group, sel in (("all", v["frequency"] >= 0), ("repeat", v["frequency"] > 0)):
            for c in ("p_alive", "expected_purchases", "clv"):
                ok = sel & v[c].notna() & (v[c] > 0)
                half = ((v[f"{c}_high"] - v[f"{c}_low"]) / 2 / v[c])[ok]
                rows.append({"customers": group, "quantity": c, "n": int(ok.sum()),
                             "median_relative_half_width": float(half.median()) if ok.any() else np.nan})
        return pd.DataFrame(rows)


def _scored_by(model: CLVModel, purchase: dict, gamma_gamma: dict) -> CLVModel:
    """A copy of ``model`` that scores with other parameters: every draw goes through the model's own ``predict``."""
    m = copy.copy(model)
    m.purchase_ = dataclasses.replace(model.purchase_, params=dict(purchase))
    m.gamma_gamma_ = dataclasses.replace(model.gamma_gamma_, params=dict(gamma_gamma))
    return m


def customer_intervals(model: CLVModel, table: pd.DataFrame, level: float = DEFAULT_LEVEL, *,
                       customers=None, draws: ParameterDraws | None = None, method: str = "bootstrap",
                       n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0, horizon_months: int = 12,
                       discount_rate: float = 0.01, days_per_month: float = DAYS_PER_MONTH,
                       process: bool = True, equity: bool = True) -> CustomerIntervals:
    """Intervals of CLV, P(alive) and expected purchases per customer, and of customer equity.

    Parameters
    ----------
    model : CLVModel
        Fitted on ``table``.
    table : DataFrame
        The customer table the model was fitted on (``customer_id, frequency, recency, T,
        monetary_value``), e.g. ``CLVResult.values``.
    level : float
        Coverage level of the intervals (0.9: the 5th and 95th percentiles of the draws).
    customers : list-like, optional
        Customer ids to return intervals for (e.g. a contact list and the top customers); default
        every customer. The draws are fitted and equity summed over the whole table either way.
    draws : ParameterDraws, optional
        Draws already made (:func:`parameter_draws`), so several lists share one bootstrap.
    method, n_resamples, seed
        How to make the draws when none are given (:func:`parameter_draws`).
    horizon_months, discount_rate, days_per_month
        The CLV settings the point values were computed with.
    process : bool
        Add the process variance of a finite base to the equity interval (default True).
    equity : bool
        Also the customer-equity interval (default True): every distinct history is scored in every draw. False
        scores only the requested customers' histories (a page's lists of a million-customer base: 30
        histories, not a million) and leaves ``equity`` without bounds.

    Every draw re-scores each customer from their own history with the model's own formulas;
    the bounds are percentiles over the draws.

    Example
    -------
    >>> from analysis.clv.simulation import simulate_rfm
    >>> t = simulate_rfm(np.full(300, 365.0), {"r": 0.6, "alpha": 20.0, "a": 0.8, "b": 3.0}, {"p": 3, "q": 4, "v": 20})
    >>> ci = customer_intervals(CLVModel(model="bgnbd").fit(t), t, n_resamples=20, seed=1)
    >>> v = ci.values
    >>> bool(((v["clv_low"] <= v["clv"]) & (v["clv"] <= v["clv_high"])).all())
    True
    """
    level = check_level(level)
    model.check_fitted()
    if draws is None:
        draws = parameter_draws(model, table, method, n_resamples, seed)
    table = table.reset_index(drop=True)
    if customers is None:
        pick = np.arange(len(table))
    else:
        wanted = pd.Index(pd.Series(list(customers), dtype=object).astype(str))
        pick = np.flatnonzero(table["customer_id"].astype(str).isin(wanted).to_numpy())
    settings = (horizon_months, discount_rate, days_per_month)
    point = model.predict(table if equity else table.iloc[pick], *settings)
    point_at = pick if equity else np.arange(len(pick))
    # each distinct history is scored once per draw: equity from all of them, bounds for the requested ones
    rows, pos = compress(table, ["frequency", "recency", "T", "monetary_value"])
    weight = rows.pop("weight").to_numpy(float)
    rows.insert(0, "customer_id", np.arange(len(rows)))
    need = np.unique(pos[pick])
    scored_rows = rows if equity else rows.iloc[need].reset_index(drop=True)
    per = {c: [] for c in ("p_alive", "expected_purchases", "clv")}
    totals = []
    with np.errstate(all="ignore"):
        for ppv, ggv in zip(draws.purchase.to_dict("records"), draws.gamma_gamma.to_dict("records")):
            scored = _scored_by(model, ppv, ggv).predict(scored_rows, *settings)
            # without equity a draw is judged on the histories it scored (a sum, so NaN anywhere leaves it out)
            totals.append(float(weight @ scored["clv"].to_numpy()) if equity else float(scored["clv"].to_numpy().sum()))
            for c in per:
                per[c].append(scored[c].to_numpy()[need] if equity else scored[c].to_numpy())
    totals = np.array(totals)
    finite = np.isfinite(totals)  # a draw the formulas cannot evaluate is left out and counted, never averaged in
    sub = table.iloc[pick]
    out = pd.DataFrame({"customer_id": sub["customer_id"].to_numpy(), "frequency": sub["frequency"].to_numpy()})
    q = [(1 - level) / 2, (1 + level) / 2]
    at = np.searchsorted(need, pos[pick])
    for c, stack in per.items():
        stack = np.array(stack)[finite]
        pt = point[c].to_numpy()[point_at]
        # NaN stays NaN (a model without P(alive)); every draw kept has finite values where the point has one
        lo, hi = np.quantile(stack, q, axis=0)[:, at] if len(stack) else np.full((2, len(pick)), np.nan)
        ok = np.isfinite(pt)
        out[c] = pt
        out[f"{c}_low"] = np.where(ok, np.fmin(lo, pt), np.nan)
        out[f"{c}_high"] = np.where(ok, np.fmax(hi, pt), np.nan)
    if not equity:
        return CustomerIntervals(level, out, {"value": None, "low": None, "high": None}, draws, int(horizon_months),
                                 float(discount_rate), int((~finite).sum()))
    total = float(point["clv"].sum())
    t_ok = totals[finite]
    param_sd = float(t_ok.std(ddof=1)) if len(t_ok) > 1 else 0.0
    p_sd = 0.0
    if process:
        x = table["frequency"].to_numpy(float)
        m = np.minimum(np.where(x > 0, table["monetary_value"].to_numpy(float), 0.0), model.spend_bound_)
        purchases = model.purchases(table, horizon_months, discount_rate, days_per_month)
        p_sd = process_sd(model, x, table["recency"].to_numpy(float), table["T"].to_numpy(float), m,
                          horizon_months * days_per_month, purchases, np.random.default_rng(draws.seed + 1))
        t_ok = t_ok + np.random.default_rng(draws.seed + 2).normal(0.0, p_sd, len(t_ok))
    lo, hi = np.quantile(t_ok, q) if len(t_ok) else (np.nan, np.nan)
    equity = {"value": total, "low": float(min(lo, total)), "high": float(max(hi, total)),
              "parameter_sd": param_sd, "process_sd": p_sd}
    return CustomerIntervals(level, out, equity, draws, int(horizon_months), float(discount_rate),
                             int((~finite).sum()))


def result_intervals(result, customers=None, level: float = DEFAULT_LEVEL, draws: ParameterDraws | None = None,
                     n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0, process: bool = True,
                     equity: bool = True) -> CustomerIntervals:
    """:func:`customer_intervals` for a :class:`~analysis.clv.pipeline.CLVResult`, with its horizon and discounting.

    For the report: make the draws once a month (``draws = parameter_draws(result.model,
    result.values)``) and pass them for each list (``customers=`` the contact list, the top customers);
    the equity interval is the same in each.
    """
    return customer_intervals(result.model, result.values, level, customers=customers, draws=draws,
                              n_resamples=n_resamples, seed=seed, horizon_months=result.horizon_months,
                              discount_rate=result.discount_rate, days_per_month=result.days_per_month,
                              process=process, equity=equity)


# --------------------------------------------------------------------------- the command's columns
def with_intervals(result, level: float, n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0,
                   columns=None) -> tuple[pd.DataFrame, dict]:
    """``result.values`` (``columns`` of them) with :data:`INTERVAL_COLUMNS`, and the JSON keys ``interval``, ``customer_equity``.

    For ``kanta clv --interval``: an interval that cannot be estimated leaves the columns empty and
    says why under ``interval.finding`` (the values themselves stand).
    """
    values = result.values if columns is None else result.values[list(columns)]
    values = values.reset_index(drop=True).copy()
    try:
        ci = result_intervals(result, level=level, n_resamples=n_resamples, seed=seed)
    except ModelError as exc:
        for c in INTERVAL_COLUMNS:
            values[c] = np.nan
        return values, {"interval": {"level": level, "method": "bootstrap", "requested": n_resamples,
                                     "covers": COVERS, "finding": {"reason": exc.reason, "detail": str(exc)}},
                        "customer_equity": {"value": float(result.values["clv"].sum()), "low": None, "high": None}}
    for c in INTERVAL_COLUMNS:
        values[c] = ci.values[c].to_numpy()
    return values, {"interval": ci.interval_info(), "customer_equity": {k: ci.equity[k] for k in ("value", "low", "high")}}


__all__ = ["METHODS", "DEFAULT_LEVEL", "DEFAULT_RESAMPLES", "INTERVAL_COLUMNS", "COVERS", "EQUITY_COVERS",
           "ParameterDraws", "CustomerIntervals", "check_level", "check_interval", "parameter_draws", "customer_intervals",
           "result_intervals", "with_intervals"]
