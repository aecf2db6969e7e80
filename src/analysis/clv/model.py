"""The CLV model: a purchase model (BG/NBD, MBG/NBD or Pareto/NBD) x Gamma-Gamma spend, fitted and scored.
Chooses the purchase model (holdout error, else BIC), names spend outliers and refuses unsupported fits.

Results are language-free; a fit that data cannot support raises :class:`~analysis.errors.ModelError`
with a ``reason`` code. Words, tables and figures: :mod:`analysis.report.pages.clv`; the command:
:mod:`analysis.cli.clv`.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.clv import likelihoods as pm
from analysis.clv.fitting import (MIN_HISTORY_DAYS, MIN_REPEAT_CUSTOMERS, MODEL_CHOICES, PURCHASE_MODELS,
                                  SPEND_OUTLIER_MADS, FitResult, check_boundary, check_horizon, check_rfm, check_unit,
                                  compress, fit_model, spend_outliers, warm_start)
from analysis.clv.holdout import HOLDOUT_MONTHS, holdout_mae
from analysis.clv.value import combine, discounted_purchases, gg_expected_value
from analysis.data.privacy import pseudonymize
from analysis.errors import ModelError, NotFittedError, ParameterError
from analysis.units import DAYS_PER_MONTH, UNIT_DAYS

#: Candidates whose holdout error is within this share of the best (or whose BIC is within
#: BIC_TIE of the best) count as tied; ties go to the earlier model in PURCHASE_MODELS, so the
#: chosen model does not flip from month to month on differences the data cannot tell apart.
HOLDOUT_TIE = 0.01
BIC_TIE = 2.0
#: Most outliers a note names one by one.
MAX_NAMED_OUTLIERS = 20


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
    >>> from analysis.clv.simulation import simulate_rfm
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
        unit_days = check_unit(self.time_unit)
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
        start = warm_start(model, rows, self.warm_start_rows) if big else None
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
                    scores[name] = holdout_mae(name, holdout, warm=res.params)
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
        start = warm_start("gamma_gamma", srows, self.warm_start_rows) if big else None
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
        self.check_fitted()
        return {self.purchase_model_: self.purchase_.params, "gamma_gamma": self.gamma_gamma_.params,
                "time_unit": self.time_unit, "model": self.purchase_model_}

    def purchases(self, table: pd.DataFrame, horizon_months: int = 12, discount_rate: float = 0.01,
                  days_per_month: float = DAYS_PER_MONTH) -> pd.DataFrame:
        """The purchase side per customer, in input order (see :func:`discounted_purchases`)."""
        self.check_fitted()
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
        self.check_fitted()
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
        out = combine(purchases, gg_expected_value(self.gamma_gamma_.params, x, m))
        out.insert(0, "customer_id", table["customer_id"].to_numpy())
        for c in ("frequency", "recency", "T", "monetary_value"):
            out[c] = table[c].to_numpy()
        return out

    def check_fitted(self) -> None:
        """Raise :class:`NotFittedError` unless :meth:`fit` has run."""
        if not hasattr(self, "purchase_"):
            raise NotFittedError("CLVModel: not fitted yet, call fit(table) first.")

    def p_alive_grid(self, max_frequency: int | None = None, T: float | None = None, n_recency: int = 30) -> pd.DataFrame:
        """P(alive) for a customer of age ``T`` by frequency (rows) and recency (columns), for a heat map."""
        self.check_fitted()
        T = self.max_T_ if T is None else float(T)
        max_frequency = int(min(self.frequency_q99_, 60)) if max_frequency is None else int(max_frequency)
        rec = np.linspace(0, T, n_recency)
        freqs = np.arange(0, max_frequency + 1)
        grid = np.array([pm.p_alive(self.purchase_model_, self.purchase_.params, np.full_like(rec, f),
                                    rec if f else 0 * rec, np.full_like(rec, T)) for f in freqs])
        unit = "days" if self.time_unit == "D" else "weeks"
        return pd.DataFrame(grid, index=pd.Index(freqs, name="frequency"),
                            columns=pd.Index(np.round(rec, 1), name=f"recency_{unit}"))


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
