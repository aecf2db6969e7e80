"""Fitting the CLV models: input checks, compressed rows, one maximum-likelihood fit and its checks.
Boundary fits and spend outliers are named here so no estimate the data cannot support is reported.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.clv import likelihoods as pm
from analysis.errors import DataError, ModelError, ParameterError
from analysis.units import DAYS_PER_MONTH, UNIT_DAYS

RFM_COLUMNS = ("customer_id", "frequency", "recency", "T", "monetary_value")
#: Purchase models ``CLVModel(model="auto")`` chooses from, and the choices the CLI accepts.
PURCHASE_MODELS = pm.PURCHASE_MODELS
MODEL_CHOICES = (*PURCHASE_MODELS, "auto")

#: Fewest repeat customers (positive average spend) the spend model is fitted on.
MIN_REPEAT_CUSTOMERS = 10
#: Shortest observation period (oldest customer's age, days) from which dropout can be told apart
#: from a slow purchase rate; shorter histories would extrapolate a year from a few weeks.
MIN_HISTORY_DAYS = 90
#: A drop-out parameter (a, b, s, beta) below LOWER or any parameter above UPPER has run to the edge
#: of its space: the likelihood keeps rising towards "nobody leaves" or a degenerate mixture.
BOUNDARY_LOWER = 1e-6
BOUNDARY_UPPER = 1e6
DROPOUT_PARAMS = ("a", "b", "s", "beta")
#: Spend outlier rule: a repeat customer whose average purchase is above
#: ``exp(median(log m) + SPEND_OUTLIER_MADS * 1.4826 * MAD(log m))`` is left out of the spend model
#: fit and valued with the average capped at that bound (a robust z-score of 10 on the log scale:
#: about a thousand times the median for typical retail spreads; no real customer is excluded on CDNOW).
SPEND_OUTLIER_MADS = 10.0


# --------------------------------------------------------------------------- input
def check_unit(time_unit: str) -> float:
    if time_unit not in UNIT_DAYS:
        raise ParameterError(f"freq: got {time_unit!r}, expected one of {', '.join(UNIT_DAYS)}.")
    return UNIT_DAYS[time_unit]


def check_horizon(horizon_months, discount_rate, days_per_month=DAYS_PER_MONTH) -> None:
    """Raise :class:`ParameterError` unless the CLV horizon settings make sense."""
    if not np.isfinite(horizon_months) or horizon_months < 1 or int(horizon_months) != horizon_months:
        raise ParameterError(f"horizon_months: got {horizon_months!r}, expected a whole number of months >= 1.")
    if not np.isfinite(discount_rate) or not 0 <= discount_rate < 1:
        raise ParameterError(f"discount_rate: got {discount_rate!r}, expected a monthly rate in [0, 1), e.g. 0.01.")
    if not np.isfinite(days_per_month) or not 28 <= days_per_month <= 31:
        raise ParameterError(f"days_per_month: got {days_per_month!r}, expected a value between 28 and 31 (e.g. 30.4375).")


def check_rfm(table: pd.DataFrame, name: str = "customer table") -> pd.DataFrame:
    """Check that a table has lifetimes-style RFM columns with valid values; return it."""
    missing = [c for c in RFM_COLUMNS if c not in table.columns]
    if missing:
        raise DataError(f"{name}: missing column(s) {', '.join(missing)}; expected {', '.join(RFM_COLUMNS)}.")
    if table.empty:
        raise DataError(f"{name}: no customers with purchases; CLV needs at least one purchasing customer.")
    f, r, t = (table[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    bad = ~np.isfinite(f) | ~np.isfinite(r) | ~np.isfinite(t) | (f < 0) | (r < 0) | (r > t + 1e-9) | ((f == 0) & (r != 0))
    if bad.any():
        rows = np.flatnonzero(bad)
        raise DataError(
            f"{name}: {bad.sum()} rows have inconsistent frequency/recency/T, e.g. row {rows[0]}; "
            "expected frequency >= 0, 0 <= recency <= T and recency 0 when frequency is 0."
        )
    return table


def compress(table: pd.DataFrame, columns) -> tuple[pd.DataFrame, np.ndarray]:
    """Collapse identical rows of ``columns`` into one row with a ``weight``.

    Returns the distinct rows (with ``weight``) and, for every input row, the
    position of its distinct row, so predictions on the distinct rows map back.

    Example
    -------
    >>> rows, pos = compress(pd.DataFrame({"x": [1, 1, 2]}), ["x"])
    >>> rows["weight"].tolist(), pos.tolist()
    ([2, 1], [0, 0, 1])
    """
    columns = list(columns)
    # combine per-column codes pairwise (re-factorising keeps the combined code small): much
    # faster than factorising row tuples
    codes = np.zeros(len(table), dtype=np.int64)
    for c in columns:
        col_codes, col_uniques = pd.factorize(table[c].to_numpy(), use_na_sentinel=False)
        codes, _ = pd.factorize(codes * len(col_uniques) + col_codes)
    first = np.full(codes.max() + 1 if len(codes) else 0, -1, dtype=np.int64)
    first[codes[::-1]] = np.arange(len(codes))[::-1]  # first row of each distinct key
    distinct = table[columns].iloc[first].reset_index(drop=True)
    distinct["weight"] = np.bincount(codes, minlength=len(distinct))
    return distinct, codes


# --------------------------------------------------------------------------- fitting
@dataclass(frozen=True)
class FitResult:
    """One fitted model: parameters, their standard errors, fit quality and how it was reached."""

    model: str
    params: dict
    standard_errors: dict
    log_likelihood: float
    n_customers: int
    n_rows: int
    step: str  # the optimiser's start that succeeded: "moments" or "warm start"
    attempts: tuple = ()
    cov_log_params: tuple | None = None  # covariance of log-parameters (row-major), None if unknown
    at_bound: tuple = ()  # parameters that stopped on the optimiser's bounds

    @property
    def aic(self) -> float:
        return 2 * len(self.params) - 2 * self.log_likelihood

    @property
    def bic(self) -> float:
        return len(self.params) * np.log(max(self.n_customers, 1)) - 2 * self.log_likelihood

    def summary(self) -> pd.DataFrame:
        """Tidy table: one row per parameter with estimate and standard error."""
        return pd.DataFrame(
            {"model": self.model, "parameter": list(self.params), "estimate": list(self.params.values()),
             "std_error": [self.standard_errors.get(k, np.nan) for k in self.params]}
        )

    def to_dict(self) -> dict:
        return {"model": self.model, "params": dict(self.params), "standard_errors": dict(self.standard_errors),
                "log_likelihood": self.log_likelihood, "aic": self.aic, "bic": self.bic,
                "n_customers": self.n_customers, "n_rows": self.n_rows, "step": self.step,
                "attempts": list(self.attempts), "at_bound": list(self.at_bound)}

    def _repr_html_(self) -> str:
        return self.summary().to_html(index=False)


def fit_from_dict(d: dict) -> FitResult:
    """The :class:`FitResult` of its ``to_dict()`` (as a candidate record keeps it; no covariance)."""
    return FitResult(d["model"], dict(d["params"]), dict(d["standard_errors"]), float(d["log_likelihood"]),
                     int(d["n_customers"]), int(d["n_rows"]), d["step"], tuple(d.get("attempts", ())),
                     None, tuple(d.get("at_bound", ())))


def warm_start(model: str, rows: pd.DataFrame, n: int, seed: int = 0) -> dict | None:
    """Parameters from a fit on ``n`` customers drawn from the distinct rows (by weight), or None."""
    w = rows["weight"].to_numpy(float)
    pick = np.random.default_rng(seed).choice(len(rows), size=n, p=w / w.sum())
    sub, _ = compress(rows.iloc[pick].drop(columns="weight"), [c for c in rows.columns if c != "weight"])
    try:
        return fit_model(model, sub, sub["weight"]).params
    except ModelError:
        return None


def fit_model(model: str, data: pd.DataFrame, weights=None, initial: dict | None = None,
              polish: bool = True) -> FitResult:
    """Fit one model by maximum likelihood (:func:`analysis.clv.likelihoods.fit`).

    No penalty and no ladder of ever-looser settings: a fit either reaches a proper maximum, stops
    on the edge of the parameter space (``at_bound``; :func:`check_boundary` names it), or raises
    :class:`ModelError` with reason ``no_convergence``.

    Parameters
    ----------
    model : {"nbd", "bgnbd", "mbgnbd", "pareto_nbd", "gamma_gamma"}
    data : DataFrame
        ``frequency, recency, T`` (purchase models) or ``frequency, monetary_value``
        (Gamma-Gamma), one row per distinct pattern.
    weights : array, optional
        Number of customers per row (default 1 each).
    initial : dict, optional
        Starting parameters, e.g. from a fit on a subsample (warm start: fewer iterations).
    polish : bool
        Newton steps to machine precision after the optimiser (False to compare candidates quickly).

    Example
    -------
    >>> from analysis.clv.simulation import simulate_rfm
    >>> table = simulate_rfm(np.full(500, 365.0), {"r": 0.6, "alpha": 20.0, "a": 0.8, "b": 3.0}, seed=1)
    >>> rows, _ = compress(table, ["frequency", "recency", "T"])
    >>> res = fit_model("bgnbd", rows, rows["weight"])
    >>> res.step, res.at_bound
    ('moments', ())
    """
    names = pm.PARAMS[model]
    w = np.ones(len(data)) if weights is None else np.asarray(weights, float)
    cols = ("frequency", "monetary_value") if model == "gamma_gamma" else ("frequency", "recency", "T")
    est = pm.fit(model, {c: data[c].to_numpy(float) for c in cols}, w, start=initial, polish=polish)
    step = "warm start" if est.start == "given" else "moments"
    attempts = (f"{step}: {'ok' if est.converged else est.message}",)
    if not est.converged and not est.at_bound:
        raise ModelError(
            f"{model}: the maximum-likelihood fit did not converge ({est.message}); no parameters are reported.",
            reason="no_convergence", facts={"model": model, "steps": 1})
    cov = est.cov_log_params
    return FitResult(model=model, params={k: est.params[k] for k in names}, standard_errors=est.standard_errors(),
                     log_likelihood=est.log_likelihood, n_customers=int(round(w.sum())), n_rows=len(data), step=step,
                     attempts=attempts, cov_log_params=None if cov is None else tuple(map(tuple, cov)),
                     at_bound=est.at_bound)


def _moved(res: FitResult) -> list[tuple]:
    """The parameters that ran off: ``(name, value, standard_error, towards)``, drop-out parameters first.

    ``towards`` is ``"0"`` (a drop-out parameter below 1e-3 or on the lower bound), ``"inf"`` (any
    parameter above 1e3 or on the upper bound) or ``"flat"`` (an ordinary value whose standard error
    is not finite or ten times the value: the likelihood is flat along it).
    """
    out = []
    order = [k for k in res.params if k in DROPOUT_PARAMS] + [k for k in res.params if k not in DROPOUT_PARAMS]
    for k in order:
        v, se = res.params[k], res.standard_errors.get(k, np.nan)
        if not np.isfinite(v):
            out.append((k, v, se, "inf"))
        elif (k in DROPOUT_PARAMS and v < 1e-3) or (k in res.at_bound and v < 1):
            out.append((k, v, se, "0"))
        elif v > 1e3 or (k in res.at_bound and v >= 1):
            out.append((k, v, se, "inf"))
        elif k in DROPOUT_PARAMS and (not np.isfinite(se) or se > 10 * v):
            out.append((k, v, se, "flat"))
    if not out:  # the flat direction lies along a purchase parameter only
        out = [(k, v, se, "flat") for k, v in res.params.items()
               if not np.isfinite(se := res.standard_errors.get(k, np.nan)) or se > 10 * v]
    return out


def describe_boundary(res: FitResult) -> str:
    """The parameters that moved, in words a log can carry, e.g. ``"a -> 0 and b -> 1e+04 (b's standard error 8e+05)"``.

    Example
    -------
    >>> res = FitResult("bgnbd", {"r": 0.834, "alpha": 39.0, "a": 2e-9, "b": 1.2e4},
    ...                 {"r": float("nan"), "alpha": float("nan"), "a": float("nan"), "b": 8e5}, -100.0, 3000, 2000, "moments")
    >>> describe_boundary(res)
    "a -> 0 and b -> 1.2e+04 (b's standard error 8e+05)"
    """
    parts = []
    for k, v, se, towards in _moved(res):
        text = f"{k} -> 0" if towards == "0" else f"{k} -> {v:.2g}" if towards == "inf" else f"{k} = {v:.3g}"
        if np.isfinite(se) and towards != "0":
            text += f" ({k}'s standard error {se:.2g})"
        parts.append(text)
    return " and ".join(parts)


def boundary_problem(res: FitResult) -> tuple | None:
    """``(parameter, value)`` of the first parameter that ran to the edge of the space, or None.

    The edge: a drop-out parameter (a, b, s, beta) below :data:`BOUNDARY_LOWER`, any parameter
    above :data:`BOUNDARY_UPPER` or on the optimiser's bound, or a maximum without finite standard
    errors. The parameter named is one that moved (:func:`describe_boundary`), never an ordinary
    value whose standard error is merely undefined because another parameter ran off.
    """
    hit = any(not np.isfinite(v) or v > BOUNDARY_UPPER or (k in DROPOUT_PARAMS and v < BOUNDARY_LOWER)
              for k, v in res.params.items()) or bool(res.at_bound) \
        or any(not np.isfinite(res.standard_errors.get(k, np.nan)) for k in res.params)
    if not hit:
        return None
    moved = _moved(res)
    if not moved:
        k = next(k for k in res.params if not np.isfinite(res.standard_errors.get(k, np.nan)))
        return k, res.params[k]
    return moved[0][0], moved[0][1]


def check_boundary(res: FitResult) -> FitResult:
    """Raise :class:`ModelError` (reason ``boundary_fit``) when a purchase model ran to the edge of its space.

    A purchase model fitted on customers who never leave (or on too little history to see them
    leave) drives the drop-out parameters towards 0 or infinity (the NBD no-drop-out limit); the
    optimiser stops at a number such as ``a = 6e-14`` that says nothing about the customers, and
    the log-likelihood has no proper maximum (its Hessian is singular there). Such a fit must not
    produce P(alive) or CLV; whether the drop-out model is better than the NBD at all is the
    likelihood-ratio test's decision (:func:`analysis.clv.selection.dropout_test`).

    Example
    -------
    >>> res = FitResult("bgnbd", {"r": 2.0, "alpha": 39.0, "a": 6e-14, "b": 1e-5},
    ...                 {"r": .1, "alpha": 1.0, "a": 1e-12, "b": 1e-3}, -100.0, 3000, 2000, "moments")
    >>> try:
    ...     check_boundary(res)
    ... except ModelError as exc:
    ...     print(exc.reason, exc.facts["parameter"])
    boundary_fit a
    """
    problem = boundary_problem(res)
    if problem is None:
        return res
    k, v = problem
    moved = describe_boundary(res)
    facts = {"model": res.model, "parameter": k, "value": float(v), "moved": moved}
    pair = {"bgnbd": ("a", "b"), "mbgnbd": ("a", "b"), "pareto_nbd": ("s", "beta")}.get(res.model, ())
    if k in pair and all(np.isfinite(res.params[p]) and res.params[p] > 1e3 for p in pair):
        # both shape parameters of the drop-out mix run off together: every customer gets the same
        # drop-out chance, so the model has no spread across customers left to estimate
        raise ModelError(
            f"{res.model}: the fit ran to the boundary of the parameter space ({moved}); the customers' "
            "chances of leaving do not differ in this data as the model assumes, so this model gives no P(alive).",
            reason="boundary_common_dropout", facts=facts)
    raise ModelError(
        f"{res.model}: the fit ran to the boundary of the parameter space ({moved}); "
        "this model's drop-out cannot be estimated from this data, so it gives no P(alive).",
        reason="boundary_fit", facts=facts,
    )


def spend_outliers(monetary_value, n_mads: float = SPEND_OUTLIER_MADS) -> tuple[np.ndarray, float]:
    """Which positive average spends break the spend model, and the bound (see :data:`SPEND_OUTLIER_MADS`).

    Example
    -------
    >>> mask, bound = spend_outliers([20.0, 25, 30, 22, 28, 35, 18, 1e300])
    >>> mask.tolist()[-1], bool(mask[:-1].any()), bool(100 < bound < 1e6)
    (True, False, True)
    """
    m = np.asarray(monetary_value, float)
    if len(m) == 0:
        return np.zeros(0, bool), float("inf")
    lm = np.log(m)
    med = float(np.median(lm))
    mad = 1.4826 * float(np.median(np.abs(lm - med)))
    if mad <= 0:
        return np.zeros(len(m), bool), float("inf")
    log_bound = med + n_mads * mad
    return lm > log_bound, float(np.exp(log_bound))

