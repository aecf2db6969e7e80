"""Customer lifetime value: a purchase model (BG/NBD, MBG/NBD or Pareto/NBD) x Gamma-Gamma spend.

Fits the package's own likelihoods (:mod:`analysis.clv.likelihoods`) on the customer table
(compressed to distinct rows with weights), chooses the purchase model (holdout error, else BIC),
names boundary fits and spend outliers, scores every customer over an explicit horizon in months
and validates on a holdout. Results are language-free; a fit that data cannot support raises
:class:`~analysis.errors.ModelError` with a ``reason`` code. Words, tables and figures:
:mod:`analysis.report.pages.clv`; the command: :mod:`analysis.cli.clv`.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.clv import likelihoods as pm
from analysis.errors import DataError, ModelError, NotFittedError, ParameterError
from analysis.units import DAYS_PER_MONTH, UNIT_DAYS  # noqa: F401 - part of this module's interface

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
#: Holdout length (months) auto uses to choose between purchase models, when the history allows
#: a calibration period of at least MIN_HISTORY_DAYS before it.
HOLDOUT_MONTHS = 6
#: Candidates whose holdout error is within this share of the best (or whose BIC is within
#: BIC_TIE of the best) count as tied; ties go to the earlier model in PURCHASE_MODELS, so the
#: chosen model does not flip from month to month on differences the data cannot tell apart.
HOLDOUT_TIE = 0.01
BIC_TIE = 2.0
#: Spend outlier rule: a repeat customer whose average purchase is above
#: ``exp(median(log m) + SPEND_OUTLIER_MADS * 1.4826 * MAD(log m))`` is left out of the spend model
#: fit and valued with the average capped at that bound (a robust z-score of 10 on the log scale:
#: about a thousand times the median for typical retail spreads; no real customer is excluded on CDNOW).
SPEND_OUTLIER_MADS = 10.0
#: Most outliers a note names one by one.
MAX_NAMED_OUTLIERS = 20


# --------------------------------------------------------------------------- input
def _check_unit(time_unit: str) -> float:
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


def _warm_start(model: str, rows: pd.DataFrame, n: int, seed: int = 0) -> dict | None:
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
    model : {"bgnbd", "mbgnbd", "pareto_nbd", "gamma_gamma"}
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


def check_boundary(res: FitResult) -> FitResult:
    """Raise :class:`ModelError` (reason ``boundary_fit``) when a purchase model ran to the edge of its space.

    A purchase model fitted on customers who never leave (or on too little history to see them
    leave) drives the drop-out parameters towards 0 or infinity (the NBD no-drop-out limit); the
    optimiser stops at a number such as ``a = 6e-14`` that says nothing about the customers, and
    the log-likelihood has no proper maximum (its Hessian is singular there). Such a fit must not
    produce P(alive) or CLV.

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
    problem = None
    for k, v in res.params.items():
        if not np.isfinite(v) or v > BOUNDARY_UPPER or (k in DROPOUT_PARAMS and v < BOUNDARY_LOWER):
            problem = (k, v)
            break
    if problem is None and res.at_bound:
        problem = (res.at_bound[0], res.params[res.at_bound[0]])
    if problem is None:
        bad_se = [k for k in res.params if not np.isfinite(res.standard_errors.get(k, np.nan))]
        if bad_se:
            problem = (bad_se[0], res.params[bad_se[0]])
    if problem is None:
        return res
    k, v = problem
    pair = {"bgnbd": ("a", "b"), "mbgnbd": ("a", "b"), "pareto_nbd": ("s", "beta")}.get(res.model, ())
    if k in pair and np.isfinite(v) and v > BOUNDARY_UPPER and all(res.params[p] > 1e3 for p in pair):
        # both shape parameters of the drop-out mix run off together: every customer gets the same
        # drop-out chance, so the model has no spread across customers left to estimate
        raise ModelError(
            f"{res.model}: the fit ran to the boundary of the parameter space ({k} = {v:.3g}); the customers' "
            "chances of leaving do not differ in this data as the model assumes, so P(alive) cannot be estimated "
            "and no CLV is reported.",
            reason="boundary_common_dropout", facts={"model": res.model, "parameter": k, "value": float(v)})
    raise ModelError(
        f"{res.model}: the fit ran to the boundary of the parameter space ({k} = {v:.3g}); "
        "customers in this data show no sign of leaving within the period observed, so P(alive) "
        "cannot be estimated and no CLV is reported.",
        reason="boundary_fit", facts={"model": res.model, "parameter": k, "value": float(v)},
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


# --------------------------------------------------------------------------- formulas
def _gg_expected_value(params, x, m):
    return pm.expected_spend(params, x, m)


def _check_purchase(params, model: str = "bgnbd") -> None:
    names = pm.PARAMS[model]
    bad = [k for k in names if not (np.isfinite(params.get(k, np.nan)) and params[k] > 0)]
    if bad:
        raise ParameterError(f"{model} parameters: {', '.join(bad)} must be positive finite numbers, got {params}.")


def _check_gg(params) -> None:
    bad = [k for k in ("p", "q", "v") if not (np.isfinite(params.get(k, np.nan)) and params[k] > 0)]
    if bad:
        raise ParameterError(f"gamma_gamma parameters: {', '.join(bad)} must be positive finite numbers, got {params}.")


def clv_from_params(purchase: dict, gamma_gamma: dict, frequency, recency, T, monetary_value, *,
                    model: str = "bgnbd", time_unit: str = "D", horizon_months: int = 12,
                    discount_rate: float = 0.01, days_per_month: float = DAYS_PER_MONTH) -> pd.DataFrame:
    """Score customers with given purchase-model (``model``) and Gamma-Gamma parameters.

    CLV is the sum over months ``m = 1..horizon_months`` of the expected purchases
    in month ``m`` times the expected average purchase value, discounted by
    ``(1 + discount_rate) ** m`` (cash flows at month ends). A month is
    ``days_per_month`` days; ``alpha`` (and ``beta``) are per ``time_unit``.

    Returns
    -------
    DataFrame
        ``p_alive, expected_purchases, expected_avg_value, clv`` and ``clv_if_alive``
        (the CLV if the customer is surely still active), in input order.

    Example
    -------
    >>> out = clv_from_params({"r": .24, "alpha": 4.4, "a": .79, "b": 2.4}, {"p": 6.25, "q": 3.74, "v": 15.4},
    ...                       [2], [30.4], [38.9], [35.0], time_unit="W")
    >>> round(float(out["p_alive"].iloc[0]), 3)
    0.725
    """
    _check_gg(gamma_gamma)
    x = np.asarray(frequency, float)
    purchases = discounted_purchases(purchase, x, recency, T, model=model, time_unit=time_unit,
                                     horizon_months=horizon_months, discount_rate=discount_rate,
                                     days_per_month=days_per_month)
    value = _gg_expected_value(gamma_gamma, x, np.where(x > 0, np.asarray(monetary_value, float), 0.0))
    return _combine(purchases, value)


def _combine(purchases: pd.DataFrame, value: np.ndarray) -> pd.DataFrame:
    clv_if_alive = value * purchases["discounted_purchases_if_alive"].to_numpy()
    return pd.DataFrame({
        "p_alive": purchases["p_alive"].to_numpy(),
        "expected_purchases": purchases["expected_purchases"].to_numpy(),
        "expected_avg_value": value,
        "clv": purchases["p_alive"].to_numpy() * clv_if_alive,
        "clv_if_alive": clv_if_alive,
    })


def discounted_purchases(params: dict, frequency, recency, T, *, model: str = "bgnbd", time_unit: str = "D",
                         horizon_months: int = 12, discount_rate: float = 0.01,
                         days_per_month: float = DAYS_PER_MONTH) -> pd.DataFrame:
    """The purchase side of CLV: ``p_alive``, ``expected_purchases`` over the horizon and
    ``discounted_purchases_if_alive`` (sum over months of expected purchases in the month if
    alive, discounted); CLV = ``p_alive * discounted_purchases_if_alive * expected_avg_value``.
    """
    _check_purchase(params, model)
    check_horizon(horizon_months, discount_rate, days_per_month)
    unit_days = _check_unit(time_unit)
    x, t_x, T = (np.asarray(v, float) for v in (frequency, recency, T))
    months = np.arange(0, int(horizon_months) + 1)
    t = months * days_per_month / unit_days
    # E[purchases] = P(alive) x E[purchases | alive]; the conditional part gives the value if active.
    # It depends on (x, T) only: computed once per distinct pair (2F1 on thousands, not millions)
    pair, first = pm._codes(x, T)
    px, pT = x[first], T[first]
    cum_alive = np.stack([pm.expected_purchases_if_alive(model, params, ti, px, t_x[first], pT) for ti in t], axis=0)
    p_alive = pm.p_alive(model, params, x, t_x, T)
    disc = (1.0 + discount_rate) ** -months[1:]
    return pd.DataFrame({
        "p_alive": p_alive,
        "expected_purchases": p_alive * cum_alive[-1][pair],
        "discounted_purchases_if_alive": (disc[:, None] * np.diff(cum_alive, axis=0)).sum(axis=0)[pair],
    })


# --------------------------------------------------------------------------- the model
def _holdout_mae(model: str, cal: pd.DataFrame, warm: dict | None = None) -> dict:
    """Fit ``model`` on the calibration period and score its holdout predictions (MAE, aggregate error)."""
    t = cal.rename(columns={"frequency_cal": "frequency", "recency_cal": "recency", "T_cal": "T"})
    rows, _ = compress(t, ["frequency", "recency", "T"])
    res = check_boundary(fit_model(model, rows, rows["weight"], initial=warm, polish=False))
    x, tx, T = (rows[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    keys = compress(t, ["frequency", "recency", "T"])[1]
    pred = pm.expected_purchases(model, res.params, t["duration_holdout"].to_numpy(float),
                                 x[keys], tx[keys], T[keys])
    act = t["frequency_holdout"].to_numpy(float)
    return {"holdout_mae": float(np.mean(np.abs(pred - act))),
            "holdout_aggregate_error": float(pred.sum() / act.sum() - 1) if act.sum() else np.nan}


class CLVModel:
    """Purchase model (BG/NBD, MBG/NBD, Pareto/NBD or the best of them) + Gamma-Gamma spend model.

    Parameters
    ----------
    time_unit : {"D", "W"}
        Unit of the table's ``frequency/recency/T`` (lifetimes' conventions).
    compress : bool
        Fit on distinct ``(frequency, recency, T)`` rows with weights (same result,
        fit time grows with distinct rows rather than customers).
    warm_start_rows : int or None
        With more distinct rows than this, first fit a random subsample of this many
        customers and start the full fit from its estimates (same optimum, fewer
        iterations). None: never.
    min_history_days : float
        Shortest observation period (the oldest customer's age in days) the model is
        fitted on (default :data:`MIN_HISTORY_DAYS`).
    model : {"auto", "bgnbd", "mbgnbd", "pareto_nbd"}
        The purchase model. ``auto`` fits all three, discards boundary fits and picks the one
        with the smallest holdout error (mean absolute error of holdout purchases per customer)
        when :meth:`fit` gets a calibration/holdout table, else the smallest BIC (near-ties, see
        :data:`HOLDOUT_TIE`, go to the earlier candidate: BG/NBD, MBG/NBD, Pareto/NBD).

    Attributes
    ----------
    purchase_model_ : str
        The chosen purchase model's key.
    purchase_, gamma_gamma_ : FitResult
    comparison_ : DataFrame
        One row per candidate: ``model, status`` (``chosen``, ``fitted``, ``boundary_fit``,
        ``no_convergence``), ``log_likelihood, aic, bic``, holdout error columns when scored,
        and the boundary ``parameter``.
    choice_ : dict
        ``{"model", "criterion"}``: criterion ``requested``, ``holdout_mae``, ``bic`` or ``only_valid``
        (every other candidate ran to its boundary).
    checks_ : dict
        Gamma-Gamma assumption checks (frequency-spend correlation, q > 1).
    notes_ : list of dict
        What the reader should know about the fit, language-free: ``{"code": ..., **facts}``
        with codes ``refund_customers_excluded`` (``n``), ``spend_outliers_excluded`` (``n``,
        ``bound``, ``customers``: pseudonym and value), ``spend_correlated`` (``r``) and
        ``spend_model_undefined`` (``q``); :mod:`analysis.report.pages.clv` words them.

    Example
    -------
    >>> table = simulate_rfm(np.random.default_rng(0).uniform(100, 700, 2000),
    ...                      {"r": 0.6, "alpha": 20.0, "a": 0.8, "b": 3.0}, {"p": 3, "q": 4, "v": 20}, seed=1)
    >>> model = CLVModel(model="bgnbd").fit(table)
    >>> scores = model.predict(table, horizon_months=12, discount_rate=0.01)
    >>> model.purchase_model_, bool(scores["p_alive"].between(0, 1).all())
    ('bgnbd', True)
    """

    def __init__(self, time_unit: str = "D", compress: bool = True, warm_start_rows: int | None = 50_000,
                 min_history_days: float = MIN_HISTORY_DAYS, model: str = "auto"):
        self.time_unit = time_unit
        self.compress = compress
        self.warm_start_rows = warm_start_rows
        self.min_history_days = min_history_days
        self.model = model

    def fit(self, table: pd.DataFrame, holdout: pd.DataFrame | None = None) -> "CLVModel":
        """Fit the purchase and spend models; raise :class:`ModelError` (with a ``reason``) when the data cannot support them.

        Reasons: ``history_too_short`` (observation period under ``min_history_days``),
        ``too_few_repeat_customers`` (under :data:`MIN_REPEAT_CUSTOMERS` repeat customers with
        positive spend), ``no_convergence`` and ``boundary_fit`` (:func:`check_boundary`; with
        ``auto``, when every candidate is at its boundary). A spend model with ``q <= 1`` is kept
        (P(alive) is still valid) but :meth:`predict` refuses CLV (``spend_model_undefined``).

        ``holdout`` (optional): :func:`analysis.customers.table.calibration_holdout` output on the same
        base, which ``auto`` uses to choose by holdout error.
        """
        unit_days = _check_unit(self.time_unit)
        if self.model not in MODEL_CHOICES:
            raise ParameterError(f"model: got {self.model!r}, expected one of {', '.join(MODEL_CHOICES)}.")
        check_rfm(table)
        self.notes_ = []
        history_days = float(table["T"].max()) * unit_days
        if history_days < self.min_history_days:
            raise ModelError(
                f"customer table: the oldest customer's history is {history_days:.0f} days; the purchase model needs "
                f"at least {self.min_history_days} days to tell customers who left from customers who buy rarely.",
                reason="history_too_short", facts={"days": round(history_days), "minimum": self.min_history_days})
        repeat = table["frequency"] > 0
        spend = table[repeat & (table["monetary_value"] > 0)]
        if len(spend) < MIN_REPEAT_CUSTOMERS:
            raise ModelError(
                f"customer table: only {len(spend)} repeat customers with positive spend; "
                f"the models need at least {MIN_REPEAT_CUSTOMERS}.",
                reason="too_few_repeat_customers", facts={"n": len(spend), "minimum": MIN_REPEAT_CUSTOMERS})
        self._fit_purchase(table, holdout)
        self._fit_spend(table, spend, repeat)
        T = table["T"].to_numpy(float)
        self.max_T_ = float(T.max())
        self.frequency_q99_ = float(np.quantile(table["frequency"].to_numpy(float), 0.99))
        return self

    def _rows(self, table: pd.DataFrame, columns) -> pd.DataFrame:
        if self.compress:
            return compress(table, columns)[0]
        return table[list(columns)].assign(weight=1)

    def _fit_one(self, model: str, rows: pd.DataFrame, polish: bool = True) -> FitResult:
        big = self.warm_start_rows is not None and len(rows) > self.warm_start_rows
        start = _warm_start(model, rows, self.warm_start_rows) if big else None
        return check_boundary(fit_model(model, rows, rows["weight"], initial=start, polish=polish))

    def _fit_purchase(self, table: pd.DataFrame, holdout: pd.DataFrame | None) -> None:
        rows = self._rows(table, ["frequency", "recency", "T"])
        candidates = PURCHASE_MODELS if self.model == "auto" else (self.model,)
        fits, records, errors = {}, [], {}
        for name in candidates:
            try:
                # candidates are compared at the optimiser's precision; the chosen one is polished below
                fits[name] = res = self._fit_one(name, rows, polish=len(candidates) == 1)
                records.append({"model": name, "status": "fitted", "log_likelihood": res.log_likelihood,
                                "aic": res.aic, "bic": res.bic})
            except ModelError as exc:
                errors[name] = exc
                records.append({"model": name, "status": exc.reason, "parameter": exc.facts.get("parameter")})
        if not fits:
            raise errors[candidates[0]]
        comparison = pd.DataFrame(records)
        criterion = "requested" if self.model != "auto" else "bic"
        if self.model == "auto" and holdout is not None and len(fits) > 1:
            scores = {}
            for name, res in fits.items():
                try:
                    scores[name] = _holdout_mae(name, holdout, warm=res.params)
                except ModelError:
                    continue
            for key in ("holdout_mae", "holdout_aggregate_error"):
                comparison[key] = comparison["model"].map({k: v[key] for k, v in scores.items()})
            if scores:
                criterion = "holdout_mae"
                best = min(v["holdout_mae"] for v in scores.values())
                chosen = next(k for k in candidates if k in scores
                              and scores[k]["holdout_mae"] <= best * (1 + HOLDOUT_TIE))
        if self.model == "auto" and len(fits) == 1:
            criterion = "only_valid"
        if criterion not in ("holdout_mae",):
            best = min(f.bic for f in fits.values())
            chosen = next(k for k in candidates if k in fits and fits[k].bic <= best + BIC_TIE)
        comparison.loc[comparison["model"] == chosen, "status"] = "chosen"
        self.comparison_ = comparison
        self.choice_ = {"model": chosen, "criterion": criterion,
                        "holdout_months": HOLDOUT_MONTHS if criterion == "holdout_mae" else None}
        if len(candidates) > 1:
            fits[chosen] = check_boundary(fit_model(chosen, rows, rows["weight"], initial=fits[chosen].params))
        self.purchase_model_, self.purchase_ = chosen, fits[chosen]

    def _fit_spend(self, table: pd.DataFrame, spend: pd.DataFrame, repeat) -> None:
        nonpos = int((repeat & (table["monetary_value"] <= 0)).sum())
        if nonpos:
            self.notes_.append({"code": "refund_customers_excluded", "n": nonpos})
        out, bound = spend_outliers(spend["monetary_value"].to_numpy(float))
        self.spend_bound_ = bound
        if out.any():
            from analysis.data.privacy import pseudonymize

            named = spend[out].sort_values("monetary_value", ascending=False).head(MAX_NAMED_OUTLIERS)
            self.notes_.append({
                "code": "spend_outliers_excluded", "n": int(out.sum()), "bound": bound, "rule_mads": SPEND_OUTLIER_MADS,
                "customers": [{"pseudonym": p, "monetary_value": float(v)} for p, v in
                              zip(pseudonymize(named["customer_id"]), named["monetary_value"])]})
            spend = spend[~out]
        if len(spend) < MIN_REPEAT_CUSTOMERS:
            raise ModelError(
                f"customer table: only {len(spend)} repeat customers with positive spend below the outlier bound; "
                f"the spend model needs at least {MIN_REPEAT_CUSTOMERS}.",
                reason="too_few_repeat_customers", facts={"n": len(spend), "minimum": MIN_REPEAT_CUSTOMERS})
        srows = self._rows(spend, ["frequency", "monetary_value"])
        big = self.warm_start_rows is not None and len(srows) > self.warm_start_rows
        start = _warm_start("gamma_gamma", srows, self.warm_start_rows) if big else None
        self.gamma_gamma_ = fit_model("gamma_gamma", srows, srows["weight"], initial=start)
        corr = float(np.corrcoef(spend["frequency"], spend["monetary_value"])[0, 1]) if len(spend) > 2 else np.nan
        q = self.gamma_gamma_.params["q"]
        self.checks_ = {
            "frequency_spend_correlation": corr,
            "correlation_ok": bool(abs(corr) < 0.3) if np.isfinite(corr) else False,
            "q": q,
            "q_ok": bool(q > 1),
            "n_spend_customers": int(len(spend)),
        }
        if not self.checks_["correlation_ok"]:
            self.notes_.append({"code": "spend_correlated", "r": corr})
        if not self.checks_["q_ok"]:
            self.notes_.append({"code": "spend_model_undefined", "q": q})

    def summary(self) -> pd.DataFrame:
        """Parameters of both models with standard errors."""
        return pd.concat([self.purchase_.summary(), self.gamma_gamma_.summary()], ignore_index=True)

    def _repr_html_(self) -> str:
        if not hasattr(self, "purchase_"):
            return f"<p>CLVModel(time_unit={self.time_unit!r}, model={self.model!r}), not fitted</p>"
        return self.summary().to_html(index=False)

    # -- prediction
    @property
    def params_(self) -> dict:
        """The chosen purchase model's parameters under its key, the spend model's, the time unit and the key."""
        self._check_fitted()
        return {self.purchase_model_: self.purchase_.params, "gamma_gamma": self.gamma_gamma_.params,
                "time_unit": self.time_unit, "model": self.purchase_model_}

    def purchases(self, table: pd.DataFrame, horizon_months: int = 12, discount_rate: float = 0.01,
                  days_per_month: float = DAYS_PER_MONTH) -> pd.DataFrame:
        """The purchase side per customer, in input order (see :func:`discounted_purchases`)."""
        self._check_fitted()
        rows, pos = compress(table, ["frequency", "recency", "T"])  # score each distinct history once
        out = discounted_purchases(self.purchase_.params, rows["frequency"], rows["recency"], rows["T"],
                                   model=self.purchase_model_, time_unit=self.time_unit,
                                   horizon_months=horizon_months, discount_rate=discount_rate,
                                   days_per_month=days_per_month)
        return out.iloc[pos].reset_index(drop=True)

    def predict(self, table: pd.DataFrame, horizon_months: int = 12, discount_rate: float = 0.01,
                days_per_month: float = DAYS_PER_MONTH) -> pd.DataFrame:
        """Per-customer ``p_alive, expected_purchases, expected_avg_value, clv`` over the horizon.

        Spend outliers (:func:`spend_outliers`) are valued with their average capped at the bound.
        """
        self._check_fitted()
        check_rfm(table)
        check_horizon(horizon_months, discount_rate, days_per_month)
        if not self.checks_["q_ok"]:
            q = self.gamma_gamma_.params["q"]
            raise ModelError(
                f"gamma_gamma: q = {q:.3g} is not above 1, so the expected spend per "
                "purchase is undefined; CLV cannot be computed for this data.",
                reason="spend_model_undefined", facts={"q": float(q)},
            )
        x = table["frequency"].to_numpy(float)
        m = np.minimum(np.where(x > 0, table["monetary_value"].to_numpy(float), 0.0), self.spend_bound_)
        purchases = self.purchases(table, horizon_months, discount_rate, days_per_month)
        out = _combine(purchases, _gg_expected_value(self.gamma_gamma_.params, x, m))
        out.insert(0, "customer_id", table["customer_id"].to_numpy())
        for c in ("frequency", "recency", "T", "monetary_value"):
            out[c] = table[c].to_numpy()
        return out

    def _check_fitted(self) -> None:
        if not hasattr(self, "purchase_"):
            raise NotFittedError("CLVModel: not fitted yet, call fit(table) first.")

    def p_alive_grid(self, max_frequency: int | None = None, T: float | None = None, n_recency: int = 30) -> pd.DataFrame:
        """P(alive) for a customer of age ``T`` by frequency (rows) and recency (columns), for a heat map."""
        self._check_fitted()
        T = self.max_T_ if T is None else float(T)
        max_frequency = int(min(self.frequency_q99_, 60)) if max_frequency is None else int(max_frequency)
        rec = np.linspace(0, T, n_recency)
        freqs = np.arange(0, max_frequency + 1)
        grid = np.array([pm.p_alive(self.purchase_model_, self.purchase_.params, np.full_like(rec, f),
                                    rec if f else 0 * rec, np.full_like(rec, T)) for f in freqs])
        unit = "days" if self.time_unit == "D" else "weeks"
        return pd.DataFrame(grid, index=pd.Index(freqs, name="frequency"),
                            columns=pd.Index(np.round(rec, 1), name=f"recency_{unit}"))


# --------------------------------------------------------------------------- pipeline
def _as_table(source_or_table, as_of, freq: str) -> pd.DataFrame:
    if isinstance(source_or_table, pd.DataFrame):
        return source_or_table
    from analysis.customers import table as customers

    return customers.customer_table(source_or_table, as_of=as_of, freq=freq)


def holdout_split(source, as_of, freq: str = "D", holdout_months: int = HOLDOUT_MONTHS,
                  days_per_month: float = DAYS_PER_MONTH, table: pd.DataFrame | None = None) -> pd.DataFrame | None:
    """Calibration/holdout table for choosing a purchase model, or None when the history is too short.

    The calibration period ends ``holdout_months`` before ``as_of``; a split is possible when the
    oldest customer's history at that date is at least :data:`MIN_HISTORY_DAYS` days.
    """
    from analysis.customers import table as customers
    from analysis.data import sources as data

    unit_days = _check_unit(freq)
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
    return cal


@dataclass(frozen=True)
class CLVResult:
    """A fitted model together with the per-customer values it produced.

    ``values`` has one row per customer: ``customer_id, p_alive, expected_purchases,
    expected_avg_value, clv, clv_if_alive`` (the value if the customer is surely still
    active; ``clv = p_alive * clv_if_alive``) and the customer table's columns.
    """

    model: CLVModel
    values: pd.DataFrame
    horizon_months: int
    discount_rate: float
    days_per_month: float
    as_of: pd.Timestamp | None = None

    @property
    def equity(self) -> float:
        """Customer equity: the sum of CLV over the horizon."""
        return float(self.values["clv"].sum())

    def summary(self) -> pd.DataFrame:
        """Parameters of both models with standard errors."""
        return self.model.summary()

    def parameters(self) -> dict:
        """The fitted parameters and settings as written by ``kanta clv --params-out`` (JSON-able)."""
        m = self.model
        key = m.purchase_model_
        return {key: m.purchase_.params, "gamma_gamma": m.gamma_gamma_.params, "time_unit": m.time_unit,
                "model": key, "choice": dict(m.choice_),
                "as_of": None if self.as_of is None else str(pd.Timestamp(self.as_of).date()),
                "horizon_months": self.horizon_months, "discount_rate": self.discount_rate,
                "days_per_month": self.days_per_month,
                "standard_errors": {key: m.purchase_.standard_errors, "gamma_gamma": m.gamma_gamma_.standard_errors},
                "comparison": m.comparison_.astype(object).where(m.comparison_.notna(), None).to_dict("records"),
                "gamma_gamma_checks": m.checks_}

    def to_dict(self) -> dict:
        """Parameters, settings, notes and portfolio totals (no per-customer rows)."""
        return {**self.parameters(), "notes": list(self.model.notes_), "n_customers": int(len(self.values)),
                "customer_equity": self.equity, "mean_p_alive": float(self.values["p_alive"].mean())}

    def _repr_html_(self) -> str:
        head = (f"<p><strong>CLV</strong>: {len(self.values):,} customers, equity {self.equity:,.0f} over "
                f"{self.horizon_months} months (discount {self.discount_rate:g}/month)</p>")
        return head + self.summary().to_html(index=False)


def analyse(source_or_table, as_of=None, horizon_months: int = 12, discount_rate: float = 0.01,
            days_per_month: float = DAYS_PER_MONTH, freq: str = "D", model: "CLVModel | str | None" = None,
            holdout=None) -> CLVResult:
    """Fit (unless ``model`` is a fitted :class:`CLVModel`) and score: the model and the per-customer values together.

    Same parameters as :func:`customer_value`, plus: ``model`` may be a purchase-model key
    (``"auto"`` when None, see :class:`CLVModel`); ``holdout`` is the source (or a ready
    calibration/holdout table) ``auto`` chooses by holdout error on. Given a source as
    ``source_or_table``, the holdout split is made from it.
    """
    check_horizon(horizon_months, discount_rate, days_per_month)
    _check_unit(freq)
    table = _as_table(source_or_table, as_of, freq)
    check_rfm(table)
    if not isinstance(model, CLVModel):
        key = "auto" if model is None else model.replace("-", "_")
        fitter = CLVModel(time_unit=freq, model=key)
        if key == "auto" and holdout is None and not isinstance(source_or_table, pd.DataFrame):
            holdout = source_or_table
        if key == "auto" and holdout is not None and not isinstance(holdout, pd.DataFrame):
            holdout = holdout_split(holdout, as_of, freq, days_per_month=days_per_month, table=table)
        model = fitter.fit(table, holdout=holdout)
    out = model.predict(table, horizon_months, discount_rate, days_per_month)
    extra = [c for c in table.columns if c not in out.columns]
    if extra:
        out = pd.concat([out, table[extra].reset_index(drop=True)], axis=1)
    return CLVResult(model, out, int(horizon_months), float(discount_rate), float(days_per_month),
                     None if as_of is None else pd.Timestamp(as_of))


def customer_value(source_or_table, as_of=None, horizon_months: int = 12, discount_rate: float = 0.01,
                   days_per_month: float = DAYS_PER_MONTH, freq: str = "D", model: "CLVModel | str | None" = None,
                   ) -> pd.DataFrame:
    """Fit a purchase model + Gamma-Gamma and return one row per customer with P(alive) and CLV.

    Parameters
    ----------
    source_or_table : Source, path or DataFrame
        A data source (the customer table is built with
        :func:`analysis.customers.table.customer_table`) or an already built customer table.
    as_of : date
        Analysis date (transactions on that day count).
    horizon_months : int
        CLV horizon in months; one month is ``days_per_month`` days.
    discount_rate : float
        Monthly discount rate.
    days_per_month : float
        Length of a month in days (default 30.4375 = 365.25 / 12).
    freq : {"D", "W"}
        Time unit of the customer table the models are fitted in.
    model : CLVModel or str, optional
        An already fitted model to score with (no refit), or a purchase-model key (default auto).

    Returns
    -------
    DataFrame
        ``customer_id, p_alive, expected_purchases, expected_avg_value, clv,
        frequency, recency, T, monetary_value`` plus the table's other columns.
        Use :func:`analyse` to get the fitted model as well.

    Example
    -------
    >>> values = customer_value("data/sample", as_of="2026-10-31", model="bgnbd")
    >>> bool(values["clv"].sum() > 0), bool((values["clv"] <= values["clv_if_alive"]).all())
    (True, True)
    """
    return analyse(source_or_table, as_of, horizon_months, discount_rate, days_per_month, freq, model).values


# --------------------------------------------------------------------------- model comparison & holdout
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
                      model: str = "bgnbd") -> HoldoutScorecard:
    """Fit the purchase model on the calibration period and compare predicted with actual holdout purchases.

    ``cal`` is the output of :func:`analysis.customers.table.calibration_holdout`
    (``frequency_cal, recency_cal, T_cal, frequency_holdout, duration_holdout``).
    The P(alive) check compares, per P(alive) band, the predicted probability of
    at least one holdout purchase, ``P(alive) * (1 - P(no purchase | alive))``,
    with the share of customers who did buy.
    """
    _check_unit(time_unit)
    need = ["frequency_cal", "recency_cal", "T_cal", "frequency_holdout", "duration_holdout"]
    missing = [c for c in need if c not in cal.columns]
    if missing:
        raise DataError(f"calibration/holdout table: missing column(s) {', '.join(missing)}.")
    t = cal.rename(columns={"frequency_cal": "frequency", "recency_cal": "recency", "T_cal": "T"})
    rows, pos = compress(t, ["frequency", "recency", "T"])
    res = check_boundary(fit_model(model, rows, rows["weight"], polish=False))  # a check, not the estimates
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
              days_per_month: float = DAYS_PER_MONTH, model: str = "bgnbd") -> tuple[HoldoutScorecard, pd.DataFrame]:
    """Holdout check at ``as_of``: calibrate up to ``holdout_months`` before it, predict the rest.

    Returns the :class:`HoldoutScorecard` of ``model`` (the page passes the chosen one) and the
    model comparison (:func:`compare_models`) on the same split.
    """
    from analysis.customers import table as customers

    if holdout_months < 1:
        raise ParameterError(f"holdout_months: got {holdout_months!r}, expected at least 1.")
    unit_days = _check_unit(freq)
    end = pd.Timestamp(as_of)
    cal_end = (end - pd.Timedelta(days=round(holdout_months * days_per_month))).normalize()
    cal = customers.calibration_holdout(source, calibration_end=cal_end, holdout_end=end, freq="D",
                                        freq_multiplier=unit_days)
    sc = dataclasses.replace(holdout_scorecard(cal, freq, model=model), calibration_end=cal_end, holdout_end=end)
    table = cal.rename(columns={"frequency_cal": "frequency", "recency_cal": "recency", "T_cal": "T"})
    return sc, compare_models(table, cal)


def model_facts(model: CLVModel) -> dict:
    """The fitted models in everyday quantities (days, shares, euros) for a plain-language summary.

    ``dropout_per_purchase`` (BG/NBD, MBG/NBD: mean chance of leaving after a purchase) or
    ``dropout_per_year`` (Pareto/NBD: mean chance that an active customer leaves within 365 days).
    """
    pp, gg = model.purchase_.params, model.gamma_gamma_.params
    unit_days = UNIT_DAYS[model.time_unit]
    key = model.purchase_model_
    facts = {
        "model": key,
        # mean purchase rate of the Gamma mixing distribution is r / alpha per time unit
        "days_between_purchases": float(pp["alpha"] / pp["r"] * unit_days),
        "mean_spend": float(gg["v"] * gg["p"] / (gg["q"] - 1)) if gg["q"] > 1 else float("nan"),
        "frequency_spend_correlation": model.checks_["frequency_spend_correlation"],
        "spend_independent": model.checks_["correlation_ok"],
        "q_ok": model.checks_["q_ok"],
        "criterion": model.choice_["criterion"],
        "n_customers": model.purchase_.n_customers,
        "n_rows": model.purchase_.n_rows,
    }
    if key == "pareto_nbd":
        facts["dropout_per_year"] = float(1 - (pp["beta"] / (pp["beta"] + 365.0 / unit_days)) ** pp["s"])
    else:
        facts["dropout_per_purchase"] = float(pp["a"] / (pp["a"] + pp["b"]))
    return facts


# --------------------------------------------------------------------------- portfolio
def equity(values: pd.DataFrame, by: str | None = None) -> pd.DataFrame:
    """Customer equity (sum of CLV), overall or per attribute value, with shares of customers and value."""
    if by is not None and by not in values.columns:
        raise ParameterError(f"equity: no column {by!r} in the customer values; available: {', '.join(values.columns)}.")
    total = values["clv"].sum()
    g = values.assign(_all="all").groupby(by or "_all", dropna=False, observed=True)
    out = g.agg(n_customers=("clv", "size"), equity=("clv", "sum"), mean_clv=("clv", "mean"),
                mean_p_alive=("p_alive", "mean")).reset_index().rename(columns={"_all": "group"})
    out["customer_share"] = out["n_customers"] / len(values)
    out["equity_share"] = out["equity"] / total if total else np.nan
    return out.sort_values("equity", ascending=False, ignore_index=True)


@dataclass(frozen=True)
class ValueAtRisk:
    """Customers whose P(alive) is below a threshold and what their value is."""

    threshold: float
    n_at_risk: int
    share_at_risk: float
    value_at_risk: float  # sum of their CLV (already discounted by P(alive))
    expected_value_lost: float  # CLV they would have if surely alive x P(already gone)
    customers: pd.DataFrame  # at-risk customers, most valuable-if-won-back first

    def to_dict(self) -> dict:
        return {"threshold": self.threshold, "n_at_risk": self.n_at_risk, "share_at_risk": self.share_at_risk,
                "value_at_risk": self.value_at_risk, "expected_value_lost": self.expected_value_lost}

    def summary(self) -> pd.DataFrame:
        """One row per figure (``metric``, ``value``)."""
        return pd.DataFrame({"metric": list(self.to_dict()), "value": list(self.to_dict().values())})

    def _repr_html_(self) -> str:
        return self.summary().to_html(index=False)


def value_at_risk(values: pd.DataFrame, threshold: float = 0.5) -> ValueAtRisk:
    """Value of customers with ``p_alive < threshold``.

    ``expected_value_lost`` is, per at-risk customer, ``clv_if_alive * (1 - p_alive)``:
    the value of the customer if still active, times the probability that they
    have already left. The customer list is sorted by that amount (contact first).
    """
    if not 0 < threshold < 1:
        raise ParameterError(f"p_alive_threshold: got {threshold!r}, expected a probability between 0 and 1.")
    risk = values[values["p_alive"] < threshold].copy()
    pa = risk["p_alive"]
    risk["value_if_active"] = risk["clv_if_alive"] if "clv_if_alive" in risk else risk["clv"] / pa.clip(lower=1e-300)
    risk["expected_value_lost"] = risk["value_if_active"] * (1 - pa)
    risk = risk.sort_values("expected_value_lost", ascending=False, ignore_index=True)
    return ValueAtRisk(float(threshold), len(risk), len(risk) / max(len(values), 1), float(risk["clv"].sum()),
                       float(risk["expected_value_lost"].sum()), risk)


@dataclass(frozen=True)
class Concentration:
    """Lorenz curve of value: customers sorted from most to least valuable."""

    curve: pd.DataFrame  # customer_share, value_share
    share_for_50: float  # smallest share of customers holding 50 % of value
    share_for_80: float
    top20_share: float  # share of value held by the top 20 % of customers
    gini: float

    def to_dict(self) -> dict:
        return {"share_for_50": self.share_for_50, "share_for_80": self.share_for_80,
                "top20_share": self.top20_share, "gini": self.gini}

    def summary(self) -> pd.DataFrame:
        """One row per figure (``metric``, ``value``)."""
        return pd.DataFrame({"metric": list(self.to_dict()), "value": list(self.to_dict().values())})

    def _repr_html_(self) -> str:
        return self.summary().to_html(index=False)


def concentration(clv, n_points: int = 201) -> Concentration:
    """How concentrated value is: the share of customers holding 50 % / 80 % of the CLV."""
    v = np.sort(np.clip(np.asarray(clv, float), 0, None))[::-1]
    n = len(v)
    if n == 0 or v.sum() <= 0:
        raise DataError("customer values: no positive CLV, so value concentration is undefined.")
    cum = np.concatenate([[0], np.cumsum(v) / v.sum()])
    cust = np.arange(n + 1) / n
    pts = np.linspace(0, 1, n_points)
    curve = pd.DataFrame({"customer_share": pts, "value_share": np.interp(pts, cust, cum)})
    share = lambda q: float(np.searchsorted(cum, q - 1e-12) / n)  # noqa: E731
    gini = float(2 * np.trapezoid(cum, cust) - 1)  # twice the area between the (descending) curve and the diagonal
    return Concentration(curve, share(0.5), share(0.8), float(np.interp(0.2, cust, cum)), gini)


# --------------------------------------------------------------------------- uncertainty
def _process_sd(model: "CLVModel", x, t_x, T, m, horizon_days: float, purchases: pd.DataFrame, rng,
                n_customers: int = 5000, n_sims: int = 200) -> float:
    """Standard deviation of total equity from customer-level randomness, by simulation.

    For a random sample of customers (at the fitted parameters): alive now with P(alive); purchase
    rate from its posterior Gamma(r + x, alpha + T); drop-out after each purchase with a probability
    from Beta(a, b + x) (Pareto/NBD: an exponential lifetime with rate from Gamma(s, beta + T));
    purchases in the horizon; each purchase's value from the Gamma-Gamma posterior of the
    customer's mean spend; discounted at the customer's own expected discount share. Customers are
    independent, so the variance of the total is the customer count times the mean variance.
    """
    pick = rng.choice(len(x), size=min(n_customers, len(x)), replace=False)
    x, t_x, T, m = x[pick], t_x[pick], T[pick], m[pick]
    pp, gg = model.purchase_.params, model.gamma_gamma_.params
    key = model.purchase_model_
    h = horizon_days / UNIT_DAYS[model.time_unit]
    pa = purchases["p_alive"].to_numpy()[pick]
    exp_if_alive = (purchases["expected_purchases"].to_numpy()[pick] / np.clip(pa, 1e-300, None))
    rho = np.where(exp_if_alive > 0, purchases["discounted_purchases_if_alive"].to_numpy()[pick]
                   / np.clip(exp_if_alive, 1e-300, None), 0.0)
    size = (n_sims, len(x))
    alive = rng.random(size) < pa
    lam = rng.gamma(pp["r"] + x, 1.0, size) / (pp["alpha"] + T)
    if key == "pareto_nbd":
        mu = rng.gamma(pp["s"], 1.0, size) / (pp["beta"] + T)
        n = rng.poisson(lam * np.minimum(rng.exponential(1.0, size) / mu, h))
    else:
        b = pp["b"] + x + (1 if key == "mbgnbd" else 0)
        n = np.minimum(rng.poisson(lam * h), rng.geometric(np.clip(rng.beta(pp["a"], b, size), 1e-12, 1)))
    nu = rng.gamma(gg["q"] + gg["p"] * x, 1.0, size) / (gg["v"] + x * m)
    spend = np.where(n > 0, rng.gamma(gg["p"] * np.maximum(n, 1), 1.0) / nu, 0.0)
    value = alive * rho * spend
    return float(np.sqrt(len(purchases) * value.var(axis=0, ddof=1).mean()))


def equity_interval(model: CLVModel, table: pd.DataFrame, horizon_months: int = 12, discount_rate: float = 0.01,
                    days_per_month: float = DAYS_PER_MONTH, n_draws: int = 200, level: float = 0.9,
                    seed: int = 0, process: bool = True) -> dict:
    """Interval for total customer equity: parameter uncertainty and, with ``process``, customers' own randomness.

    Parameters: the purchase-model and Gamma-Gamma log-parameters are drawn from their asymptotic
    normal distributions (inverse Hessian) and the base re-scored; draws giving q <= 1 (undefined
    expected spend) are dropped (and counted). Process: even with known parameters, which
    customers buy, how often and for how much is random; its standard deviation for the total
    is simulated customer by customer (:func:`_process_sd`, at the fitted parameters) and added
    to each parameter draw as a normal deviation (a sum over many independent customers).
    ``"covers"`` says which: ``"parameters+process"`` or ``"parameters"``; ``process_sd`` and
    ``parameter_sd`` give the size of each part.
    """
    model._check_fitted()
    rng = np.random.default_rng(seed)
    x = table["frequency"].to_numpy(float)
    m = np.minimum(np.where(x > 0, table["monetary_value"].to_numpy(float), 0.0), model.spend_bound_)
    rows, pos = compress(table, ["frequency", "recency", "T"])
    draws = []
    for res in (model.purchase_, model.gamma_gamma_):
        if res.cov_log_params is None:
            raise ModelError(f"{res.model}: no parameter covariance, so no equity interval.")
        mu = np.log(list(res.params.values()))
        draws.append(np.exp(rng.multivariate_normal(mu, np.array(res.cov_log_params), size=n_draws)))
    totals, dropped = [], 0
    names = pm.PARAMS[model.purchase_model_]
    for ppv, ggv in zip(*draws):
        pp, gg = dict(zip(names, ppv)), dict(zip(("p", "q", "v"), ggv))
        if gg["q"] <= 1:
            dropped += 1
            continue
        purchases = discounted_purchases(pp, rows["frequency"], rows["recency"], rows["T"],
                                         model=model.purchase_model_, time_unit=model.time_unit,
                                         horizon_months=horizon_months, discount_rate=discount_rate,
                                         days_per_month=days_per_month)
        per_history = (purchases["p_alive"] * purchases["discounted_purchases_if_alive"]).to_numpy()
        totals.append(float((per_history[pos] * _gg_expected_value(gg, x, m)).sum()))
    if len(totals) < n_draws / 2:
        raise ModelError(f"equity interval: {dropped} of {n_draws} parameter draws were invalid; no interval.")
    totals = np.array(totals)
    param_sd = float(totals.std(ddof=1)) if len(totals) > 1 else 0.0
    process_sd = 0.0
    if process:
        point = model.purchases(table, horizon_months, discount_rate, days_per_month)
        process_sd = _process_sd(model, x, table["recency"].to_numpy(float), table["T"].to_numpy(float), m,
                                 horizon_months * days_per_month, point, rng)
        totals = totals + rng.normal(0.0, process_sd, len(totals))
    lo, hi = np.quantile(totals, [(1 - level) / 2, (1 + level) / 2])
    return {"level": level, "lower": float(lo), "upper": float(hi), "n_draws": len(totals), "n_dropped": dropped,
            "covers": "parameters+process" if process else "parameters", "parameter_sd": param_sd,
            "process_sd": process_sd}


# --------------------------------------------------------------------------- simulation
def simulate_rfm(T, bgnbd: dict, gamma_gamma: dict | None = None, seed: int = 0) -> pd.DataFrame:
    """Draw a customer table from BG/NBD (+ Gamma-Gamma spend), one row per entry of ``T``.

    Exact and vectorised: repeat purchases are ``min(N, K)`` with ``N ~ Poisson(lambda T)``
    and ``K ~ Geometric(p)`` (the purchase after which the customer drops out); given
    ``N = n``, the ``x``-th purchase time is ``T * Beta(x, n - x + 1)``. Mean spend of
    ``x`` repeat purchases is ``Gamma(p x, rate = x nu)`` with ``nu ~ Gamma(q, rate = v)``.
    Used by the tests (parameter recovery) and the benchmark.

    Example
    -------
    >>> t = simulate_rfm(np.full(5, 100.0), {"r": 0.5, "alpha": 10, "a": 1.2, "b": 3})
    >>> list(t.columns[:4])
    ['customer_id', 'frequency', 'recency', 'T']
    """
    rng = np.random.default_rng(seed)
    T = np.asarray(T, float)
    n = len(T)
    lam = rng.gamma(bgnbd["r"], 1.0 / bgnbd["alpha"], n)
    p = rng.beta(bgnbd["a"], bgnbd["b"], n)
    N = rng.poisson(lam * T)
    K = rng.geometric(np.clip(p, 1e-12, 1))
    x = np.minimum(N, K)
    with np.errstate(all="ignore"):
        rec = np.where(x > 0, T * rng.beta(np.maximum(x, 1), np.maximum(N - x + 1, 1)), 0.0)
    out = pd.DataFrame({"customer_id": [f"S{i:07d}" for i in range(n)], "frequency": x.astype(float),
                        "recency": rec, "T": T, "alive": x < K})
    if gamma_gamma is not None:
        nu = rng.gamma(gamma_gamma["q"], 1.0 / gamma_gamma["v"], n)
        xs = np.maximum(x, 1)
        out["monetary_value"] = np.where(x > 0, rng.gamma(gamma_gamma["p"] * xs, 1.0 / (xs * nu)), 0.0)
    else:
        out["monetary_value"] = 0.0
    return out


__all__ = ["CLVModel", "FitResult", "HoldoutScorecard", "ValueAtRisk", "Concentration", "CLVResult",
           "customer_value", "clv_from_params", "analyse", "simulate_rfm", "compare_models", "holdout_scorecard",
           "scorecard", "equity", "value_at_risk", "concentration", "equity_interval", "model_facts",
           "fit_model", "compress", "check_boundary", "check_horizon", "check_rfm", "spend_outliers", "holdout_split",
           "discounted_purchases", "MIN_REPEAT_CUSTOMERS", "MIN_HISTORY_DAYS", "PURCHASE_MODELS", "MODEL_CHOICES"]
