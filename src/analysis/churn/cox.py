"""Cox proportional-hazards models: one checked fit (Efron ties, as R's coxph) and its PH check.

Input is validated once at the boundary; the Schoenfeld residuals are computed in linear time for large bases.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter
from lifelines.exceptions import ConvergenceError, ConvergenceWarning
from lifelines.statistics import proportional_hazard_test

from analysis.churn.concordance import cox_concordance
from analysis.churn.kaplan_meier import check_durations_events
from analysis.churn.results import json_value, summary_html
from analysis.errors import ModelError, ParameterError


def _validate_cox_frame(df: pd.DataFrame, duration_col: str, event_col: str,
                        covariates: Sequence[str], strata: Sequence[str]) -> None:
    """Check once, at the boundary, the problems that make a Cox fit fail or lie."""
    for col in [duration_col, event_col, *covariates, *strata]:
        if col not in df.columns:
            raise ModelError(f"column {col!r} is not in the data (columns: {', '.join(map(str, df.columns))}).")
    if not covariates:
        raise ModelError("no covariates to fit: give at least one column besides the duration and event columns.")
    check_durations_events(df[duration_col], df[event_col])
    if df[event_col].sum() == 0:
        raise ModelError(f"{event_col}: no churns observed, so a Cox model has nothing to explain.",
                         reason="cox_not_estimable", facts={"n_customers": int(len(df)), "n_events": 0})
    for col in [*covariates, *strata]:
        s = df[col]
        if s.isna().any():
            raise ModelError(f"column {col!r}: {int(s.isna().sum())} missing values (NaN); fill or drop them before fitting.")
    for col in covariates:
        s = df[col]
        if not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)):
            example = s.iloc[0]
            raise ModelError(f"column {col!r} is not numeric (e.g. {example!r}); one-hot encode it "
                             f"(see analysis.churn.one_hot) or leave it out.")
        if not np.isfinite(s.to_numpy(dtype=float)).all():
            raise ModelError(f"column {col!r}: infinite values; expected finite numbers.")
        if s.nunique() <= 1:
            raise ModelError(f"column {col!r} is constant ({s.iloc[0]!r} for every customer) and cannot "
                             f"explain churn; leave it out.")
    # collinearity: a column that is (almost) a linear combination of the others
    X = df[list(covariates)].to_numpy(dtype=float)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    if np.linalg.matrix_rank(X, tol=1e-8 * max(X.shape)) < X.shape[1]:
        for j, col in enumerate(covariates):
            others = np.delete(X, j, axis=1)
            if others.shape[1] == 0:
                continue
            coef, *_ = np.linalg.lstsq(others, X[:, j], rcond=None)
            resid = X[:, j] - others @ coef
            if float(resid @ resid) < 1e-8 * len(X):
                partners = [covariates[k if k < j else k + 1] for k in np.flatnonzero(np.abs(coef) > 1e-6)]
                raise ModelError(f"column {col!r} is collinear with {', '.join(map(repr, partners))} (one is a "
                                 f"linear combination of the others); drop one of them, e.g. a one-hot reference level.")


@dataclass(frozen=True)
class PHCheck:
    """Result of the proportional-hazards check (Schoenfeld residual test, rank time transform).

    Attributes
    ----------
    table : pd.DataFrame
        Per covariate: ``covariate, statistic, p, violates``.
    violating : tuple[str, ...]
        Covariates whose effect changes over time (p below ``p_threshold``).
    stratified : tuple[str, ...]
        Violating covariates the fit was stratified on instead of estimated.
    p_threshold : float
    """

    table: pd.DataFrame
    violating: tuple
    stratified: tuple
    p_threshold: float

    @property
    def ok(self) -> bool:
        return not self.violating

    @property
    def noted(self) -> tuple:
        """Violating covariates kept in the model (their hazard ratio is an average over time)."""
        return tuple(c for c in self.violating if c not in self.stratified)

    def summary(self) -> pd.DataFrame:
        return self.table.copy()

    def to_dict(self) -> dict:
        return {"ok": self.ok, "violating": list(self.violating), "stratified": list(self.stratified),
                "p_threshold": self.p_threshold,
                "tests": [{k: json_value(v) for k, v in row.items()} for row in self.table.to_dict("records")]}

    def _repr_html_(self) -> str:
        return summary_html(self.table, f"Proportional-hazards check (p < {self.p_threshold} violates)")


@dataclass(frozen=True)
class CoxResult:
    """A fitted Cox proportional-hazards model.

    Attributes
    ----------
    params : pd.Series
        Coefficients (log hazard ratios) indexed by covariate name.
    hazard_ratios : pd.DataFrame
        ``covariate, hazard_ratio, lower, upper, p`` (CI at level 1 - alpha).
    concordance : float
        Harrell's C on the fitted data (0.5 = no better than chance).
    ph_check : PHCheck or None
    strata : tuple of str
    n, n_events : int
    """

    params: pd.Series
    hazard_ratios: pd.DataFrame
    concordance: float
    ph_check: PHCheck | None
    strata: tuple
    n: int
    n_events: int
    alpha: float
    log_likelihood: float
    fitter: object = field(repr=False, compare=False)

    def summary(self) -> pd.DataFrame:
        """The coefficient table: coef, se, HR and its CI, z, p per covariate."""
        s = self.fitter.summary
        level = int(round(100 * (1 - self.alpha)))
        out = pd.DataFrame({
            "coef": s["coef"], "se": s["se(coef)"], "hazard_ratio": s["exp(coef)"],
            "lower": s[f"exp(coef) lower {level}%"], "upper": s[f"exp(coef) upper {level}%"],
            "z": s["z"], "p": s["p"],
        })
        out.index.name = "covariate"
        return out

    def predict_survival(self, df: pd.DataFrame, times: Sequence[float]) -> pd.DataFrame:
        """Survival curves for customers in ``df`` (rows: times, columns: customers)."""
        return self.fitter.predict_survival_function(df, times=list(times))

    def to_dict(self) -> dict:
        return {"n": self.n, "n_events": self.n_events, "alpha": self.alpha, "concordance": self.concordance,
                "log_likelihood": self.log_likelihood, "strata": list(self.strata),
                "coefficients": {cov: {k: json_value(v) for k, v in row.items()}
                                 for cov, row in self.summary().to_dict("index").items()},
                "ph_check": self.ph_check.to_dict() if self.ph_check is not None else None}

    def _repr_html_(self) -> str:
        return summary_html(self.summary(), f"Cox model: {self.n} customers, {self.n_events} churns, "
                                     f"concordance {self.concordance:.3f}")


def fit_cox(df: pd.DataFrame, duration_col: str, event_col: str, covariates: Sequence[str] | None = None, *,
            strata: Sequence[str] | None = None, alpha: float = 0.05, penalizer: float = 0.0,
            check_ph: bool = True, ph_p_threshold: float = 0.01, ph_action: str = "note",
            max_stratum_levels: int = 5) -> CoxResult:
    """Fit a Cox proportional-hazards model (lifelines; Efron's method for tied churn times, as R's coxph).

    Parameters
    ----------
    df : pd.DataFrame
        One row per customer: duration, event and numeric covariates.
    duration_col, event_col : str
        Columns with the time to churn (or censoring) and the churn indicator (1/0).
    covariates : sequence of str, optional
        Default: every other column except ``strata``.
    strata : sequence of str, optional
        Columns to stratify on (own baseline hazard per level, no coefficient).
    alpha : float
        1 - confidence level of the hazard-ratio intervals.
    penalizer : float
        L2 penalty (0 = plain partial likelihood, as R).
    check_ph : bool
        Run the proportional-hazards test (Schoenfeld residuals vs rank of time, as
        lifelines' ``check_assumptions``).
    ph_p_threshold : float
        p-value below which a covariate is said to violate PH (lifelines' default 0.01).
    ph_action : {"note", "stratify"}
        "note" keeps the model and reports the violation; "stratify" refits with violating
        covariates that have at most ``max_stratum_levels`` values as strata (continuous ones are noted).

    Returns
    -------
    CoxResult

    Example
    -------
    >>> from lifelines.datasets import load_rossi
    >>> cox = fit_cox(load_rossi(), "week", "arrest")
    >>> float(round(cox.params["fin"], 4))
    -0.3794
    """
    if ph_action not in ("note", "stratify"):
        raise ParameterError(f"ph_action: got {ph_action!r}, expected 'note' or 'stratify'.")
    if not isinstance(df, pd.DataFrame):
        raise ModelError("fit_cox expects a pandas DataFrame with one row per customer.")
    strata = list(strata or [])
    if covariates is None:
        covariates = [c for c in df.columns if c not in (duration_col, event_col, *strata)]
    covariates = list(covariates)
    _validate_cox_frame(df, duration_col, event_col, covariates, strata)

    def _fit(covs, strat):
        data = df[[duration_col, event_col, *covs, *strat]].copy()
        data[covs] = data[covs].astype(float)
        cph = CoxPHFitter(alpha=alpha, penalizer=penalizer, strata=strat or None)
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                cph.fit(data, duration_col=duration_col, event_col=event_col)
        except (ConvergenceError, np.linalg.LinAlgError) as exc:
            raise ModelError(f"Cox model did not converge ({str(exc).splitlines()[0][:160]}); check for a "
                             f"covariate that separates churners from non-churners perfectly.",
                             reason="cox_not_estimable",
                             facts={"n_customers": int(len(data)), "n_events": int(data[event_col].sum())}) from None
        # Newton-Raphson stopping with a large step means no unique maximum (separation): not an estimate
        unstable = any(issubclass(w.category, ConvergenceWarning)
                       and ("norm(delta)" in str(w.message) or "failed to converge" in str(w.message)) for w in caught)
        se = cph.summary["se(coef)"].to_numpy(dtype=float)
        if unstable or not np.isfinite(se).all() or not np.isfinite(cph.params_.to_numpy(dtype=float)).all():
            raise ModelError("Cox model has no unique estimate (the fit did not settle, or a standard error is "
                             "not finite): a covariate separates churners from non-churners.", reason="cox_not_estimable",
                             facts={"n_customers": int(len(data)), "n_events": int(data[event_col].sum())})
        return cph, data

    cph, data = _fit(covariates, strata)
    ph = None
    if check_ph:
        ph = ph_check(cph, data, ph_p_threshold)
        if ph.violating and ph_action == "stratify":
            to_strat = tuple(c for c in ph.violating if df[c].nunique() <= max_stratum_levels)
            remaining = [c for c in covariates if c not in to_strat]
            if to_strat and remaining:
                cph, data = _fit(remaining, strata + list(to_strat))
                ph = PHCheck(table=ph.table, violating=ph.violating, stratified=to_strat, p_threshold=ph_p_threshold)
    return _cox_result(cph, ph, strata + list(ph.stratified if ph else ()), alpha, data, event_col)


def scaled_schoenfeld_residuals(cph, data: pd.DataFrame) -> pd.DataFrame:
    """Scaled Schoenfeld residuals of a fitted lifelines ``CoxPHFitter`` (no strata), vectorised.

    The same numbers as ``cph.compute_residuals(data, "scaled_schoenfeld")`` (Efron's ties, rows
    in lifelines' order: sorted by duration, one row per churn), computed with cumulative sums
    over the risk sets instead of lifelines' row-by-row loop, whose array appends make it
    quadratic in the number of customers (17 minutes at 150,000 rows).

    Parameters
    ----------
    cph : lifelines.CoxPHFitter
        Fitted on ``data`` without strata.
    data : pd.DataFrame
        The frame the model was fitted on.

    Returns
    -------
    pd.DataFrame
        One row per churn, one column per covariate (``cph.params_`` order).
    """
    X, T, E, W, _, index, _ = cph._preprocess_dataframe(data)
    x = X.to_numpy(dtype=float)
    t = T.to_numpy(dtype=float)
    e = E.to_numpy(dtype=bool)
    score = W.to_numpy(dtype=float) * np.exp(x @ cph.params_.to_numpy(dtype=float))
    score_x = score[:, None] * x
    # risk set of the tie group starting at row s (rows sorted by duration): rows s..n-1
    risk = np.cumsum(score[::-1])[::-1]
    risk_x = np.cumsum(score_x[::-1], axis=0)[::-1]
    starts = np.flatnonzero(np.r_[True, t[1:] != t[:-1]])
    group = np.cumsum(np.r_[True, t[1:] != t[:-1]]) - 1
    n_groups = len(starts)
    ties = np.bincount(group, weights=e.astype(float), minlength=n_groups).astype(int)
    tie_phi = np.bincount(group, weights=np.where(e, score, 0.0), minlength=n_groups)
    tie_phi_x = np.zeros((n_groups, x.shape[1]))
    np.add.at(tie_phi_x, group[e], score_x[e])
    # Efron: the l-th of d tied churns sees the risk set minus l/d of the tied churners
    with_deaths = np.flatnonzero(ties > 0)
    d = ties[with_deaths]
    g = np.repeat(with_deaths, d)
    d_rep = np.repeat(d, d).astype(float)
    first = np.repeat(np.cumsum(d) - d, d)
    frac = (np.arange(len(g)) - first) / d_rep
    rs = risk[starts]
    rs_x = risk_x[starts]
    terms = ((rs_x[g] - frac[:, None] * tie_phi_x[g])
             / (d_rep * (rs[g] - frac * tie_phi[g]))[:, None])
    weighted_mean = np.zeros((n_groups, x.shape[1]))
    weighted_mean[with_deaths] = np.add.reduceat(terms, np.cumsum(d) - d, axis=0)
    resid = (x - weighted_mean[group])[e]
    schoenfeld = pd.DataFrame(resid, columns=cph.params_.index, index=index[e])
    scaled = float(cph.event_observed.sum()) * schoenfeld.dot(cph.variance_matrix_)
    scaled.columns = cph.params_.index
    return scaled


def ph_check(cph, data: pd.DataFrame, p_threshold: float) -> PHCheck:
    """The proportional-hazards test of a fitted ``CoxPHFitter`` per covariate (rank time transform)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # without strata, the residuals are computed here in linear time (lifelines' loop is quadratic)
        resids = scaled_schoenfeld_residuals(cph, data) if cph.strata is None else None
        res = proportional_hazard_test(cph, data, time_transform="rank", precomputed_residuals=resids)
    s = res.summary
    table = pd.DataFrame({"covariate": [str(i if not isinstance(i, tuple) else i[0]) for i in s.index],
                          "statistic": s["test_statistic"].to_numpy(), "p": s["p"].to_numpy()})
    table["violates"] = table["p"] < p_threshold
    order = list(cph.params_.index)
    table["_o"] = table["covariate"].map({c: i for i, c in enumerate(order)})
    table = table.sort_values("_o").drop(columns="_o").reset_index(drop=True)
    return PHCheck(table=table, violating=tuple(table.loc[table["violates"], "covariate"]), stratified=(),
                   p_threshold=p_threshold)


def _cox_result(cph, ph, strata, alpha, data, event_col) -> CoxResult:
    level = int(round(100 * (1 - alpha)))
    s = cph.summary
    hr = pd.DataFrame({
        "covariate": s.index.astype(str),
        "hazard_ratio": s["exp(coef)"].to_numpy(),
        "lower": s[f"exp(coef) lower {level}%"].to_numpy(),
        "upper": s[f"exp(coef) upper {level}%"].to_numpy(),
        "p": s["p"].to_numpy(),
    })
    params = cph.params_.copy()
    params.index = params.index.astype(str)
    params.name = "coef"
    return CoxResult(params=params, hazard_ratios=hr, concordance=float(cox_concordance(cph)), ph_check=ph,
                     strata=tuple(strata), n=int(len(data)), n_events=int(data[event_col].sum()), alpha=alpha,
                     log_likelihood=float(cph.log_likelihood_), fitter=cph)


def one_hot(df: pd.DataFrame, columns: Sequence[str], reference: Mapping[str, str] | None = None,
            min_share: float = 0.0) -> tuple[pd.DataFrame, dict]:
    """One-hot encode categorical columns, dropping one reference level per column.

    The reference is the most common level unless given, so hazard ratios read
    "compared with the typical customer". Columns are named ``<column>=<level>``.

    Returns
    -------
    (pd.DataFrame, dict)
        The encoded frame (other columns kept) and ``{column: reference level}``.

    Example
    -------
    >>> enc, ref = one_hot(pd.DataFrame({"r": ["a", "a", "b"]}), ["r"])
    >>> list(enc.columns), ref
    (['r=b'], {'r': 'a'})
    """
    reference = dict(reference or {})
    out = df.drop(columns=list(columns)).copy()
    refs = {}
    for col in columns:
        s = df[col].astype("object").where(df[col].notna(), "(missing)").astype(str)
        counts = s.value_counts()
        ref = str(reference.get(col, counts.index[0]))
        refs[col] = ref
        for level in sorted(counts.index):
            if level == ref or counts[level] < min_share * len(s) or counts[level] == 0:
                continue
            out[f"{col}={level}"] = (s == level).astype(float)
    return out, refs
