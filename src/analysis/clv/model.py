"""The CLV model: a purchase model (BG/NBD, MBG/NBD or Pareto/NBD) x Gamma-Gamma spend, fitted and scored.
Chooses the purchase model (holdout error, else BIC), names spend outliers and refuses unsupported fits.

Results are language-free; a fit that data cannot support raises :class:`~analysis.errors.ModelError`
with a ``reason`` code. Words, tables and figures: :mod:`analysis.report.pages.clv`; the command:
:mod:`analysis.cli.clv`.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from analysis.clv import likelihoods as pm
from analysis.clv.fitting import (MIN_HISTORY_DAYS, MIN_REPEAT_CUSTOMERS, MODEL_CHOICES, PURCHASE_MODELS,
                                  SPEND_OUTLIER_MADS, FitResult, check_boundary, check_horizon, check_rfm, check_unit,
                                  compress, fit_model, spend_outliers, warm_start)
from analysis.clv.holdout import HOLDOUT_MONTHS, holdout_mae
from analysis.clv.selection import TIE_TOLERANCE, choose, common_rate, dropout_test, eligibility
from analysis.clv.value import combine, discounted_purchases, gg_expected_value
from analysis.data.privacy import pseudonymize
from analysis.errors import ModelError, NotFittedError, ParameterError
from analysis.units import DAYS_PER_MONTH, UNIT_DAYS

#: Candidates whose holdout error is within this share of the best count as tied (the tie goes
#: to the lowest BIC: :mod:`analysis.clv.selection`).
HOLDOUT_TIE = TIE_TOLERANCE
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
    model : {"auto", "bgnbd", "mbgnbd", "pareto_nbd", "nbd"}
        The purchase model. ``auto`` fits all four; a drop-out model is eligible only when its fit
        stayed inside the parameter space and a likelihood-ratio test finds it significantly better
        than the NBD (no drop-out); among the eligible ones it picks the smallest holdout error (mean
        absolute error of holdout purchases per customer) when :meth:`fit` gets a calibration/holdout
        table, else the smallest BIC (:func:`analysis.clv.selection.choose` states the rule and its tie
        break). A requested drop-out model is refused (``no_evidence_of_dropout``) when it fails that test.

    Attributes
    ----------
    purchase_model_ : str
        The chosen purchase model's key.
    purchase_, gamma_gamma_ : FitResult
    comparison_ : DataFrame
        One row per candidate: ``model, status`` (``chosen``, ``fitted`` or the reason it is not
        eligible), ``n_params, log_likelihood, aic, bic, holdout_mae, holdout_aggregate_error, boundary,
        boundary_detail, lr_statistic, lr_p_value, eligible, reason``.
    candidates_ : list of dict
        The same records with each candidate's ``params`` (the params JSON's ``candidates``).
    choice_ : dict
        ``{"model", "choice_rule", "choice_reason", "tie_tolerance", "tie_break", "holdout"}``: rule
        ``requested``, ``holdout_mae`` or ``bic`` (reason ``no_holdout`` or ``holdout_not_scored``);
        ``holdout`` is the split (calibration end, holdout end, months, customers) or None;
        ``criterion`` repeats the rule.
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
        return fit_model(model, rows, rows["weight"], initial=start, polish=polish)

    def _fit_purchase(self, table: pd.DataFrame, holdout: pd.DataFrame | None) -> None:
        """Fit the candidates, test drop-out against the NBD, and choose by the stated rule (:mod:`~analysis.clv.selection`)."""
        rows = self._rows(table, ["frequency", "recency", "T"])
        auto = self.model == "auto"
        # a requested drop-out model is still tested against the NBD: its P(alive) needs evidence of leaving
        names = PURCHASE_MODELS if auto else tuple(dict.fromkeys((self.model, "nbd")))
        fits, errors, records = {}, {}, []
        for name in names:
            try:  # candidates are compared at the optimiser's precision; the chosen one is polished below
                fits[name] = self._fit_one(name, rows, polish=False)
            except ModelError as exc:
                errors[name] = exc
        nbd = fits.get("nbd")
        for name in names:
            res, boundary, detail, test = fits.get(name), None, None, None
            if res is not None:
                try:
                    check_boundary(res)
                except ModelError as exc:
                    boundary, detail = exc.reason, exc.facts.get("moved")
                    errors[name] = exc
                if name == "nbd" and boundary is not None and common_rate(res):
                    boundary = None  # r, alpha -> inf: one purchase rate for all, a Poisson limit that predicts well
                if name in pm.DROPOUT_MODELS and nbd is not None:
                    test = dropout_test(name, res.log_likelihood, nbd.log_likelihood)
            eligible, reason = eligibility(name, res, boundary if res is not None else
                                           getattr(errors.get(name), "reason", None), test)
            records.append({
                "model": name, "n_params": len(pm.PARAMS[name]),
                "log_likelihood": None if res is None else res.log_likelihood,
                "bic": None if res is None else res.bic, "aic": None if res is None else res.aic,
                "holdout_mae": None, "holdout_aggregate_error": None,
                "boundary": detail is not None, "boundary_detail": detail,
                "lr_statistic": None if test is None else test.statistic,
                "lr_p_value": None if test is None else test.p_value,
                "eligible": eligible, "reason": reason,
                "params": None if res is None else dict(res.params)})
        split = None
        if auto and holdout is not None:
            split = {"calibration_end": holdout.attrs.get("calibration_end"),
                     "holdout_end": holdout.attrs.get("holdout_end"),
                     "holdout_months": holdout.attrs.get("holdout_months", HOLDOUT_MONTHS),
                     "n_customers": int(len(holdout))}
            for rec in records:
                if rec["log_likelihood"] is None:
                    continue
                try:
                    score = holdout_mae(rec["model"], holdout, warm=fits[rec["model"]].params)
                except ModelError:
                    continue
                rec.update(score)
        if auto:
            choice = choose(records, holdout=split is not None)
        else:
            rec = records[0]
            choice = {"model": self.model if rec["eligible"] else None, "choice_rule": "requested",
                      "choice_reason": None, "tie_tolerance": None, "tie_break": None}
        self.candidates_ = records
        chosen = choice["model"]
        if chosen is None:
            raise self._refusal(records, errors)
        comparison = pd.DataFrame([{k: v for k, v in r.items() if k not in ("params", "calibration_fit")}
                                   for r in records])
        comparison["status"] = np.where(comparison["eligible"], "fitted", comparison["reason"])
        comparison.loc[comparison["model"] == chosen, "status"] = "chosen"
        self.comparison_ = comparison
        self.choice_ = {**choice, "criterion": choice["choice_rule"], "holdout": split,
                        "holdout_months": split["holdout_months"] if choice["choice_rule"] == "holdout_mae" else None}
        self.dropout_tests_ = {r["model"]: {"statistic": r["lr_statistic"], "p_value": r["lr_p_value"]}
                               for r in records if r["lr_statistic"] is not None}
        self.purchase_model_ = chosen
        first = fits[chosen]  # polished from where the comparison fit stopped; it says how that one started
        final = dataclasses.replace(fit_model(chosen, rows, rows["weight"], initial=first.params), step=first.step,
                                    attempts=first.attempts)
        self.purchase_ = final if chosen == "nbd" and common_rate(final) else check_boundary(final)

    @staticmethod
    def _refusal(records: list, errors: dict) -> ModelError:
        """The one error when no candidate may be chosen: the first candidate's own reason, with every candidate's."""
        first = records[0]
        exc = errors.get(first["model"])
        facts = {"candidates": [{k: r[k] for k in ("model", "eligible", "reason", "boundary_detail", "lr_statistic",
                                                   "lr_p_value")} for r in records]}
        if first["reason"] == "no_evidence_of_dropout":
            return ModelError(
                f"{first['model']}: not significantly better than purchases without drop-out (NBD; likelihood-ratio "
                f"statistic {first['lr_statistic']:.3g}, p = {first['lr_p_value']:.3g}): the data show no evidence "
                "that customers leave, so this model gives no P(alive); use --model nbd or auto.",
                reason="no_evidence_of_dropout", facts={"model": first["model"], **facts})
        if exc is not None:
            return ModelError(str(exc), reason=exc.reason, facts={**dict(exc.facts or {}), **facts})
        return ModelError("no purchase model could be fitted to this data.", reason="no_convergence", facts=facts)

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
        mv = spend["monetary_value"].to_numpy(float)
        constant = bool(np.ptp(mv) <= 1e-9 * abs(mv[0]))
        if constant:  # a counts-only log: one amount on every purchase, nothing for the spend model to estimate
            self.gamma_gamma_ = constant_spend(float(mv[0]), len(spend))
            self.notes_.append({"code": "spend_constant", "amount": float(mv[0])})
        else:
            srows = self._rows(spend, ["frequency", "monetary_value"])
            big = self.warm_start_rows is not None and len(srows) > self.warm_start_rows
            start = warm_start("gamma_gamma", srows, self.warm_start_rows) if big else None
            self.gamma_gamma_ = fit_model("gamma_gamma", srows, srows["weight"], initial=start)
        with np.errstate(all="ignore"):
            corr = float(np.corrcoef(spend["frequency"], mv)[0, 1]) if len(spend) > 2 and not constant else np.nan
        q = self.gamma_gamma_.params["q"]
        self.checks_ = {
            "frequency_spend_correlation": corr,
            "correlation_ok": bool(abs(corr) < 0.3) if np.isfinite(corr) else constant,
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


def constant_spend(amount: float, n_customers: int) -> FitResult:
    """The Gamma-Gamma limit of one amount on every purchase: ``v p / (q - 1) = amount`` and no spread, so every
    customer's expected spend per purchase is exactly ``amount`` (nothing estimated: no standard errors)."""
    p = q = 1e6
    return FitResult("gamma_gamma", {"p": p, "q": q + 1, "v": amount}, {"p": np.nan, "q": np.nan, "v": np.nan},
                     float("nan"), n_customers, 1, "constant spend", ("constant spend: not estimated",))


def model_facts(model: CLVModel) -> dict:
    """The fitted models in everyday quantities (days, shares, euros) for a plain-language summary.

    ``dropout_per_purchase`` (BG/NBD, MBG/NBD: mean chance of leaving after a purchase) or
    ``dropout_per_year`` (Pareto/NBD: mean chance that an active customer leaves within 365 days) or
    ``no_dropout`` (NBD: no evidence of leaving, so no drop-out chance is estimated).
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
    if key == "nbd":  # no drop-out estimated: no drop-out fact (never a made-up 0)
        facts["no_dropout"] = True
    elif key == "pareto_nbd":
        facts["dropout_per_year"] = float(1 - (pp["beta"] / (pp["beta"] + 365.0 / unit_days)) ** pp["s"])
    else:
        facts["dropout_per_purchase"] = float(pp["a"] / (pp["a"] + pp["b"]))
    return facts
