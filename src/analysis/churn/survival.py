"""Churn and retention: how long customers stay, who is leaving, and what predicts it.

Kaplan-Meier curves and log-rank tests (lifelines), Cox proportional hazards with a
proportional-hazards check, the churn definition with explicit censoring at ``as_of``, retention
KPIs, cohorts and the "due next month" list. Results carry no language: their words, tables and
figures are in :mod:`analysis.report.pages.churn`, the command line in :mod:`analysis.cli.churn`.

Degrade, don't collapse: a group or a model that cannot be estimated on valid data raises
:class:`~analysis.errors.ModelError` with a ``reason`` (``groups_not_comparable``,
``cox_not_estimable``); :func:`analyse` records it as a :class:`~analysis.findings.Finding` and
computes the rest of the page. Levels too small to estimate are pooled first (:data:`OTHER`).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from analysis.errors import KantaError, ModelError, ParameterError
from analysis.findings import Estimation, Finding
from analysis.units import DAYS_PER_MONTH  # 365.25 / 12: "3, 6, 12 months" on a day axis

SURVIVAL_MONTHS = (3, 6, 12)
#: The pooled level of groups / attribute levels too small to estimate on their own.
OTHER = "(other)"
#: Customers a group needs for its own Kaplan-Meier curve on the churn page (smaller ones are pooled).
MIN_GROUP_CUSTOMERS = 30
#: A Cox attribute level needs this many customers and churns in the model data, else it is pooled
#: (a level of one customer, or one where nobody churned, has no finite hazard ratio).
MIN_LEVEL_CUSTOMERS = 20
MIN_LEVEL_EVENTS = 3
#: Churns the Cox model needs at all (fewer: the model is not estimated and the page says why).
MIN_COX_EVENTS = 10
#: Above this many customers in the Cox model's landmark set, the model (fit, concordance and proportional-hazards
#: check) runs on a seeded random subsample of this many customers: its standard errors and intervals are those of
#: the subsample (honest, a little wider), the page says so, and the fit time stops growing with the base.
COX_CUSTOMERS = 200_000


def _html(frame: pd.DataFrame, title: str) -> str:
    """A short HTML view of a result for JupyterLab: its class name and its summary table."""
    return f"<p><strong>{title}</strong></p>" + frame.to_html(max_rows=20)


# --------------------------------------------------------------------------
# Kaplan-Meier
# --------------------------------------------------------------------------
def _as_float_array(values, name: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise ModelError(f"{name}: values must be numbers.") from None
    if arr.ndim != 1:
        raise ModelError(f"{name}: expected one value per customer (a 1-d sequence).")
    return arr


def _check_durations_events(durations, events) -> tuple[np.ndarray, np.ndarray]:
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
        return {k: _json_value(v) for k, v in self.summary().iloc[0].items()}

    def _repr_html_(self) -> str:
        return _html(self.summary(), f"Kaplan-Meier: {self.label}")


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
    from lifelines import KaplanMeierFitter

    d, e = _check_durations_events(durations, events)
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
                "multivariate": {k: _json_value(v) for k, v in self.multivariate.items()},
                "groups": [{k: _json_value(v) for k, v in row.items()} for row in self.summary().to_dict("records")],
                "pairwise": [{k: _json_value(v) for k, v in row.items()} for row in self.pairwise.to_dict("records")],
                "pooled": list(self.pooled), "dropped": list(self.dropped)}

    def _repr_html_(self) -> str:
        p = self.multivariate["p"]
        return _html(self.summary(), f"Survival by {self.group_by} (log-rank p = {p:.3g})")


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
    from lifelines.statistics import multivariate_logrank_test, pairwise_logrank_test
    from statsmodels.stats.multitest import multipletests

    d, e = _check_durations_events(durations, events)
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


# --------------------------------------------------------------------------
# Cox proportional hazards
# --------------------------------------------------------------------------
def _validate_cox_frame(df: pd.DataFrame, duration_col: str, event_col: str,
                        covariates: Sequence[str], strata: Sequence[str]) -> None:
    """Check once, at the boundary, the problems that make a Cox fit fail or lie."""
    for col in [duration_col, event_col, *covariates, *strata]:
        if col not in df.columns:
            raise ModelError(f"column {col!r} is not in the data (columns: {', '.join(map(str, df.columns))}).")
    if not covariates:
        raise ModelError("no covariates to fit: give at least one column besides the duration and event columns.")
    _check_durations_events(df[duration_col], df[event_col])
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
                             f"(see survival.one_hot) or leave it out.")
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
                "tests": [{k: _json_value(v) for k, v in row.items()} for row in self.table.to_dict("records")]}

    def _repr_html_(self) -> str:
        return _html(self.table, f"Proportional-hazards check (p < {self.p_threshold} violates)")


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
                "coefficients": {cov: {k: _json_value(v) for k, v in row.items()}
                                 for cov, row in self.summary().to_dict("index").items()},
                "ph_check": self.ph_check.to_dict() if self.ph_check is not None else None}

    def _repr_html_(self) -> str:
        return _html(self.summary(), f"Cox model: {self.n} customers, {self.n_events} churns, "
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
    from lifelines import CoxPHFitter
    from lifelines.exceptions import ConvergenceError, ConvergenceWarning

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
        ph = _ph_check(cph, data, ph_p_threshold)
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


def _ph_check(cph, data: pd.DataFrame, p_threshold: float) -> PHCheck:
    from lifelines.statistics import proportional_hazard_test

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
    return CoxResult(params=params, hazard_ratios=hr, concordance=float(cph.concordance_index_), ph_check=ph,
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


# --------------------------------------------------------------------------
# Churn definition and the duration / event table
# --------------------------------------------------------------------------
ATTRIBUTES = ("region", "age_band", "acquisition_channel", "marketing_permission")


def _source(source_or_path, as_of=None):
    """A validated Source (one loader for the whole package; a Source with the same as_of passes through)."""
    from analysis.data.sources import load_source

    return load_source(source_or_path, as_of=as_of)


def _as_of(source, as_of) -> pd.Timestamp:
    ts = pd.Timestamp(as_of if as_of is not None else source.as_of)
    if pd.isna(ts):
        raise ParameterError("as_of: expected a date such as 2026-10-31.")
    return ts.normalize()


def _sql_date(ts: pd.Timestamp) -> str:
    return f"DATE '{ts.date().isoformat()}'"


def _tx_columns(source) -> set:
    return set(source.columns("transactions"))


def purchase_days(source_or_path, as_of=None) -> pd.DataFrame:
    """One row per customer and purchase day up to ``as_of`` (inclusive) with the day's net spend.

    Purchase days follow :func:`analysis.customers.table.purchase_days_sql` (the package's one rule:
    a refund alone is not a purchase), so churn agrees with the customer table and monthly activity.
    """
    from analysis.customers.table import purchase_days_sql

    src = _source(source_or_path, as_of)
    as_of = _as_of(src, as_of)
    q = f"""
        SELECT customer_id, day, net_amount AS spend FROM ({purchase_days_sql()})
        WHERE is_purchase = 1 AND day <= {_sql_date(as_of)} ORDER BY 1, 2"""
    out = src.sql(q)
    out["day"] = pd.to_datetime(out["day"])
    out["customer_id"] = out["customer_id"].astype(str)
    return out


def interpurchase_gaps(days: pd.DataFrame) -> pd.DataFrame:
    """Gaps in days between a customer's consecutive purchase days.

    Returns ``customer_id, gap_days, purchase_number`` (the gap after the customer's
    ``purchase_number``-th purchase day).
    """
    d = days.sort_values(["customer_id", "day"])
    prev = d.groupby("customer_id")["day"].shift()
    k = d.groupby("customer_id").cumcount()  # purchases before this one
    gaps = pd.DataFrame({"customer_id": d["customer_id"], "gap_days": (d["day"] - prev).dt.days, "purchase_number": k})
    return gaps.dropna(subset=["gap_days"]).astype({"gap_days": int}).reset_index(drop=True)


def gap_table(source_or_path, as_of=None) -> pd.DataFrame:
    """:func:`interpurchase_gaps` of :func:`purchase_days`, computed in DuckDB and without customer ids.

    ``gap_days, purchase_number`` of every finished gap (the same rows as
    :func:`interpurchase_gaps`, in no particular order): what the churn rule, the retention
    KPIs and the "due next month" list need, without bringing every purchase day into pandas.
    """
    from analysis.customers.table import purchase_days_sql

    src = _source(source_or_path, as_of)
    as_of = _as_of(src, as_of)
    q = f"""
        SELECT CAST(day - prev AS INTEGER) AS gap_days, CAST(k AS BIGINT) AS purchase_number FROM (
            SELECT day, LAG(day) OVER w AS prev, ROW_NUMBER() OVER w - 1 AS k
            FROM ({purchase_days_sql()}) WHERE is_purchase = 1 AND day <= {_sql_date(as_of)}
            WINDOW w AS (PARTITION BY customer_id ORDER BY day))
        WHERE prev IS NOT NULL"""
    return src.sql(q)


@dataclass(frozen=True)
class ChurnDefinition:
    """How churn is defined for one run.

    Attributes
    ----------
    method : {"inactivity", "contract"}
        "inactivity": churned ``inactivity_days`` after the last purchase (non-contractual data);
        "contract": ``customers.churn_date`` (contractual data).
    inactivity_days : int or None
    data_driven : bool
        True when ``inactivity_days`` came from the gap distribution.
    quantile : float
        Quantile of the inter-purchase gaps used for the data-driven default.
    gap_quantile_days : float
        That quantile, before rounding.
    share_gaps_within : float
        Share of observed gaps shorter than or equal to ``inactivity_days``.
    median_gap_days : float
    n_gaps : int
    """

    method: str
    inactivity_days: int | None
    data_driven: bool
    quantile: float
    gap_quantile_days: float
    share_gaps_within: float
    median_gap_days: float
    n_gaps: int

    def to_dict(self) -> dict:
        return {k: _json_value(getattr(self, k)) for k in ("method", "inactivity_days", "data_driven", "quantile",
                                                           "gap_quantile_days", "share_gaps_within",
                                                           "median_gap_days", "n_gaps")}

    def summary(self) -> pd.DataFrame:
        return pd.Series(self.to_dict(), name="value", dtype="object").to_frame()

    def _repr_html_(self) -> str:
        return _html(self.summary(), "Churn definition")

def default_inactivity_days(gap_days, quantile: float = 0.95, round_to: int = 30) -> int:
    """Data-driven inactivity threshold: a high quantile of inter-purchase gaps, rounded up.

    A customer who has been silent longer than 95 % of the gaps between purchases ever
    observed is unlikely to be between two purchases; rounding up to whole 30-day months keeps
    the rule easy to say ("no purchase for 4 months") and errs towards calling churn late
    rather than early.

    Example
    -------
    >>> default_inactivity_days([10, 20, 30, 40, 100], quantile=0.9, round_to=30)
    90
    """
    g = np.asarray(gap_days, dtype=float)
    if len(g) == 0:
        raise ModelError("transactions: no customer bought on two different days, so the gap between purchases "
                         "is unknown; give inactivity_days explicitly.")
    if not 0.5 <= quantile < 1:
        raise ParameterError(f"quantile: got {quantile}, expected a value in [0.5, 1).")
    q = float(np.quantile(g, quantile))
    return int(max(round_to, math.ceil(q / round_to) * round_to))


def _has_contract_dates(src) -> bool:
    if not src.has("customers"):
        return False
    cols = set(src.columns("customers"))
    if "churn_date" not in cols:
        return False
    return int(src.sql("SELECT COUNT(churn_date) AS n FROM customers")["n"].iloc[0]) > 0


def define_churn(source_or_path, as_of=None, inactivity_days: int | None = None, *, quantile: float = 0.95,
                 round_to: int = 30, method: str = "auto", days: pd.DataFrame | None = None,
                 gaps: pd.DataFrame | None = None) -> ChurnDefinition:
    """Decide the churn rule: contract end dates when the data has them, else N days of inactivity.

    Parameters
    ----------
    inactivity_days : int, optional
        N; None = data-driven (:func:`default_inactivity_days`).
    method : {"auto", "inactivity", "contract"}
        "auto" uses ``customers.churn_date`` when any customer has one.
    days, gaps : pd.DataFrame, optional
        :func:`purchase_days` and :func:`interpurchase_gaps` of them, when already computed.
    """
    src = _source(source_or_path, as_of)
    as_of = _as_of(src, as_of)
    if method not in ("auto", "inactivity", "contract"):
        raise ParameterError(f"method: got {method!r}, expected 'auto', 'inactivity' or 'contract'.")
    if inactivity_days is not None and (int(inactivity_days) != inactivity_days or inactivity_days < 1):
        raise ParameterError(f"inactivity_days: got {inactivity_days!r}, expected a whole number of days ≥ 1.")
    contract = _has_contract_dates(src)
    if method == "contract" and not contract:
        raise ParameterError("method: 'contract' needs customers.churn_date, but no customer has one.")
    if method == "contract" or (method == "auto" and contract):
        return ChurnDefinition("contract", None, False, quantile, float("nan"), float("nan"), float("nan"), 0)
    if gaps is None:  # without the purchase days at hand, the gaps come from DuckDB (no per-day frame)
        gaps = interpurchase_gaps(days) if days is not None else gap_table(src, as_of)
    gaps = gaps["gap_days"].to_numpy()
    data_driven = inactivity_days is None
    n = default_inactivity_days(gaps, quantile, round_to) if data_driven else int(inactivity_days)
    return ChurnDefinition(
        method="inactivity", inactivity_days=n, data_driven=data_driven, quantile=quantile,
        gap_quantile_days=float(np.quantile(gaps, quantile)) if len(gaps) else float("nan"),
        share_gaps_within=float((gaps <= n).mean()) if len(gaps) else float("nan"),
        median_gap_days=float(np.median(gaps)) if len(gaps) else float("nan"), n_gaps=int(len(gaps)))


def churn_threshold(source_or_path, as_of=None, inactivity_days: int | None = None) -> int:
    """The number of days without a purchase after which a customer counts as lost.

    The one threshold behind "active", "lost" and "passive" on every page: ``inactivity_days``
    when given, else the data-driven default of :func:`define_churn` at ``as_of``.

    Example
    -------
    >>> churn_threshold("data/sample", "2026-10-31")  # doctest: +SKIP
    150
    """
    if inactivity_days is not None:
        return define_churn(source_or_path, as_of, inactivity_days, method="inactivity").inactivity_days
    return define_churn(source_or_path, as_of, None, method="inactivity").inactivity_days


def _customer_attributes(src, as_of) -> pd.DataFrame | None:
    if not src.has("customers"):
        return None
    cols = set(src.columns("customers"))
    keep = ["customer_id"] + [c for c in ("signup_date", "churn_date", *ATTRIBUTES) if c in cols]
    cust = src.sql(f"SELECT {', '.join(keep)} FROM customers")
    cust["customer_id"] = cust["customer_id"].astype(str)
    for c in ("signup_date", "churn_date"):
        if c in cust:
            cust[c] = pd.to_datetime(cust[c])
    return cust


def churn_table(source_or_path, as_of=None, inactivity_days: int | None = None, *, start: str = "first_purchase",
                definition: ChurnDefinition | None = None, days: pd.DataFrame | None = None) -> pd.DataFrame:
    """The duration / event table: one row per customer, censored explicitly at ``as_of``.

    Inactivity rule: a customer churns on ``last_purchase + inactivity_days`` when that date is on
    or before ``as_of``; otherwise the customer is still a customer and censored at ``as_of``.
    Contract rule: churn on ``customers.churn_date`` when on or before ``as_of``.

    Parameters
    ----------
    inactivity_days : int, optional
        N; None = data-driven default (see :func:`define_churn`).
    start : {"first_purchase", "signup"}
        Where a lifetime starts (signup falls back to the first purchase when missing or later).

    Returns
    -------
    pd.DataFrame
        ``customer_id, start_date, first_purchase, last_purchase, n_purchases, total_spend,
        churn_date (NaT if censored), churned (0/1), duration_days`` plus customer attributes.
        ``attrs["definition"]`` holds the :class:`ChurnDefinition`.

    Example
    -------
    >>> t = churn_table("data/sample", "2026-10-31", inactivity_days=120)
    >>> bool(t["churned"].isin([0, 1]).all())
    True
    """
    if start not in ("first_purchase", "signup"):
        raise ParameterError(f"start: got {start!r}, expected 'first_purchase' or 'signup'.")
    src = _source(source_or_path, as_of)
    as_of = _as_of(src, as_of)
    days = purchase_days(src, as_of) if days is None else days
    definition = definition or define_churn(src, as_of, inactivity_days, days=days)
    per = days.groupby("customer_id").agg(first_purchase=("day", "min"), last_purchase=("day", "max"),
                                          n_purchases=("day", "size"), total_spend=("spend", "sum")).reset_index()
    cust = _customer_attributes(src, as_of)
    if definition.method == "contract":
        base = cust[cust["signup_date"].notna() & (cust["signup_date"] <= as_of)]
        t = base.merge(per, on="customer_id", how="left")
        t["start_date"] = t["signup_date"]
        ended = t["churn_date"].notna() & (t["churn_date"] <= as_of)
        t["churn_date"] = t["churn_date"].where(ended)
    else:
        t = per if cust is None else per.merge(cust.drop(columns=[c for c in ("churn_date",) if c in cust]),
                                               on="customer_id", how="left")
        t["start_date"] = t["first_purchase"]
        if start == "signup" and "signup_date" in t:
            t["start_date"] = t["signup_date"].where(t["signup_date"] <= t["first_purchase"], t["first_purchase"])
        churn_date = t["last_purchase"] + pd.Timedelta(days=definition.inactivity_days)
        ended = churn_date <= as_of
        t["churn_date"] = churn_date.where(ended)
    t["churned"] = ended.astype(int)
    t["duration_days"] = (t["churn_date"].where(ended, as_of) - t["start_date"]).dt.days.astype(int)
    first = ["customer_id", "start_date", "first_purchase", "last_purchase", "n_purchases", "total_spend",
             "churn_date", "churned", "duration_days"]
    t = t[first + [c for c in t.columns if c not in first and c != "churn_date"]]
    t = t.sort_values("customer_id").reset_index(drop=True)
    t.attrs["definition"] = definition
    t.attrs["as_of"] = as_of
    return t


def early_behaviour(days: pd.DataFrame, windows_days: Sequence[int] = (30, 90)) -> pd.DataFrame:
    """Purchase days and spend in each customer's first 30 / 90 days (from the first purchase).

    Returns ``customer_id, purchases_30d, spend_30d, purchases_90d, spend_90d``; add breadth with
    :func:`early_categories`.
    """
    d = days.copy()
    first = d.groupby("customer_id")["day"].transform("min")
    d["age_days"] = (d["day"] - first).dt.days
    out = pd.DataFrame({"customer_id": sorted(d["customer_id"].unique())}).set_index("customer_id")
    for w in windows_days:
        win = d[d["age_days"] < w].groupby("customer_id")
        out[f"purchases_{w}d"] = win.size()
        out[f"spend_{w}d"] = win["spend"].sum()
    return out.fillna(0).reset_index()


def early_categories(source_or_path, as_of=None, windows_days: Sequence[int] = (30, 90)) -> pd.DataFrame:
    """Distinct product categories bought in each customer's first 30 / 90 days (SQL on DuckDB)."""
    src = _source(source_or_path, as_of)
    as_of = _as_of(src, as_of)
    if "category" not in _tx_columns(src):
        return pd.DataFrame(columns=["customer_id"] + [f"categories_{w}d" for w in windows_days])
    cols = ", ".join(f"COUNT(DISTINCT CASE WHEN d - f < {int(w)} THEN category END) AS categories_{int(w)}d"
                     for w in windows_days)
    q = f"""
        WITH p AS (
            SELECT customer_id, CAST(timestamp AS DATE) AS d, category
            FROM transactions WHERE CAST(timestamp AS DATE) <= {_sql_date(as_of)} AND amount > 0),
        f AS (SELECT customer_id, MIN(d) AS f FROM p GROUP BY 1)
        SELECT p.customer_id, {cols} FROM p JOIN f USING (customer_id) GROUP BY 1"""
    out = src.sql(q)
    out["customer_id"] = out["customer_id"].astype(str)
    return out


@dataclass(frozen=True)
class ChurnCox:
    """The Cox model of churn on early behaviour and attributes, with what went into it.

    Attributes
    ----------
    cox : CoxResult
    references : dict
        ``{attribute: reference level}``: hazard ratios compare with a customer of these levels.
    window_days : int
        The landmark: behaviour in the first ``window_days`` predicts churn after them.
    n_excluded_recent : int
        Customers not in the model (started less than ``window_days`` ago, or churned within them).
    pooled : dict
        ``{attribute: levels pooled into OTHER}`` (too few customers or churns for their own ratio).
    n_eligible : int or None
        Customers in the landmark set when the model ran on a seeded subsample of them (``cox.n`` customers,
        see :data:`COX_CUSTOMERS`); None when it ran on all of them.
    """

    cox: CoxResult
    references: Mapping[str, str]
    window_days: int
    n_excluded_recent: int
    data: pd.DataFrame = field(repr=False)
    pooled: Mapping[str, tuple] = field(default_factory=dict)
    n_eligible: int | None = None

    def summary(self) -> pd.DataFrame:
        return self.cox.summary()

    def to_dict(self) -> dict:
        return {**self.cox.to_dict(), "references": dict(self.references), "window_days": self.window_days,
                "n_excluded_recent": self.n_excluded_recent, "pooled": {k: list(v) for k, v in self.pooled.items()},
                "n_eligible": self.n_eligible}

    def _repr_html_(self) -> str:
        return self.cox._repr_html_()


def cox_dataset(table: pd.DataFrame, early: pd.DataFrame, as_of, *, window_days: int = 90,
                attributes: Sequence[str] = ATTRIBUTES, min_level_customers: int = MIN_LEVEL_CUSTOMERS,
                min_level_events: int = MIN_LEVEL_EVENTS) -> tuple[pd.DataFrame, dict, int]:
    """Covariates for the Cox model: early behaviour (log spend) + one-hot attributes.

    Only customers whose first ``window_days`` are fully observed before ``as_of`` and who had
    not churned within them enter (a landmark at ``window_days``), so early behaviour never
    uses information from after the churn it is meant to predict.

    An attribute level with fewer than ``min_level_customers`` customers or fewer than
    ``min_level_events`` churns among them has no stable hazard ratio (one customer, or nobody
    churned: the fit is singular). Such levels are pooled into :data:`OTHER`; when the pooled
    group is itself that small, its customers join the reference level (the most common one).
    ``attrs["pooled"]`` holds ``{attribute: pooled levels}``.
    """
    as_of = pd.Timestamp(as_of)
    t = table.merge(early, on="customer_id", how="left")
    observed = t["start_date"] <= as_of - pd.Timedelta(days=window_days)
    alive_at_window = t["duration_days"] > window_days
    n_excluded = int((~(observed & alive_at_window)).sum())
    t = t[observed & alive_at_window].copy()
    behaviour = [c for c in early.columns if c != "customer_id"]
    for c in behaviour:
        t[c] = t[c].fillna(0).astype(float)
        if c.startswith("spend_"):
            t[c] = np.log1p(t[c].clip(lower=0))
    t = t.rename(columns={c: f"log_{c}" for c in behaviour if c.startswith("spend_")})
    covs = [f"log_{c}" if c.startswith("spend_") else c for c in behaviour]
    attrs = [a for a in attributes if a in t.columns]
    frame = t[["customer_id", "duration_days", "churned", *covs, *attrs]].copy()
    if frame.empty:  # e.g. a year of data and a long churn rule: nobody was observed past the window
        raise ModelError(f"cox: no customer was observed for {window_days} days after the first purchase and "
                         "still a customer then, so nothing predicts churn in this data.",
                         reason="cox_not_estimable", facts={"n_customers": 0, "n_events": 0,
                                                            "min_events": MIN_COX_EVENTS})
    pooled = {}
    for a in attrs:
        levels = frame[a].astype("object").where(frame[a].notna(), "(missing)").astype(str)
        reference = levels.value_counts().index[0] if len(levels) else None
        frame[a], small, _ = pool_small_groups(levels, min_level_customers, events=frame["churned"],
                                               min_events=min_level_events, fallback=reference)
        if small:
            pooled[a] = small
    enc, refs = one_hot(frame, attrs)
    # drop covariates that carry no information in this data (e.g. one category sold) rather than fail
    keep = [c for c in enc.columns if c in ("customer_id", "duration_days", "churned") or enc[c].nunique() > 1]
    out = enc[keep].reset_index(drop=True)
    out.attrs["pooled"] = pooled
    return out, refs, n_excluded


def fit_churn_cox(table: pd.DataFrame, early: pd.DataFrame, as_of, *, window_days: int = 90,
                  attributes: Sequence[str] = ATTRIBUTES, ph_action: str = "note", penalizer: float = 0.0,
                  min_events: int = MIN_COX_EVENTS, max_customers: int | None = COX_CUSTOMERS,
                  seed: int = 0) -> ChurnCox:
    """Fit the Cox churn model on early behaviour and customer attributes (see :func:`cox_dataset`).

    Small attribute levels are pooled first (:func:`cox_dataset`), so one unusual customer does not
    stop the model. With more than ``max_customers`` customers in the landmark set, the model runs
    on a random subsample of ``max_customers`` of them drawn with ``seed`` (the same customers on
    every run of the same data); :attr:`ChurnCox.n_eligible` then holds the size of the whole set.

    Raises
    ------
    ModelError
        ``reason="cox_not_estimable"`` (facts ``n_customers``, ``n_events``, ``min_events``) when
        fewer than ``min_events`` churns are observed after the landmark, or the model still cannot
        be fitted on this (valid) data.
    """
    data, refs, n_excluded = cox_dataset(table, early, as_of, window_days=window_days, attributes=attributes)
    n_eligible = None
    if max_customers is not None and len(data) > max_customers:
        n_eligible = int(len(data))
        pooled = data.attrs.get("pooled", {})
        rows = np.sort(np.random.default_rng(seed).choice(len(data), int(max_customers), replace=False))
        data = data.iloc[rows].reset_index(drop=True)
        # a rare level can vary in the whole set but not in the subsample: no information there, as in cox_dataset
        data = data[[c for c in data.columns if c in ("customer_id", "duration_days", "churned")
                     or data[c].nunique() > 1]]
        data.attrs["pooled"] = pooled
    covs = [c for c in data.columns if c not in ("customer_id", "duration_days", "churned")]
    facts = {"n_customers": int(len(data)), "n_events": int(data["churned"].sum()), "min_events": int(min_events)}
    if facts["n_events"] < min_events or not covs:
        raise ModelError(f"Cox model: {facts['n_events']} churns among {facts['n_customers']} customers followed "
                         f"past {window_days} days (at least {min_events} needed, and a covariate that varies).",
                         reason="cox_not_estimable", facts=facts)
    try:
        cox = fit_cox(data, "duration_days", "churned", covs, ph_action=ph_action, penalizer=penalizer)
    except (ModelError, np.linalg.LinAlgError) as exc:
        raise ModelError(f"Cox model could not be estimated: {exc}", reason="cox_not_estimable", facts=facts) from None
    return ChurnCox(cox=cox, references=refs, window_days=window_days, n_excluded_recent=n_excluded, data=data,
                    pooled=dict(data.attrs.get("pooled", {})), n_eligible=n_eligible)


# --------------------------------------------------------------------------
# Retention KPIs and cohorts
# --------------------------------------------------------------------------
def _active_ids(days: pd.DataFrame, at: pd.Timestamp, inactivity_days: int) -> set:
    """Customers whose last purchase on or before ``at`` is within ``inactivity_days`` (a customer at ``at``)."""
    # the last purchase by ``at`` is within the window exactly when some purchase day is: no grouping needed
    day = days["day"]
    return set(days.loc[(day <= at) & (day > at - pd.Timedelta(days=inactivity_days)), "customer_id"])


@dataclass(frozen=True)
class RetentionKPIs:
    """Retention and churn of the customer base, as the source documents define them.

    Attributes
    ----------
    reference_date : pd.Timestamp
        Date whose customers are followed (default: 12 months before ``as_of``).
    customers_at_reference, retained : int
        Customers at the reference date, and those of them still customers at ``as_of``.
    retention_rate : float
        ``retained / customers_at_reference``.
    monthly : pd.DataFrame
        Per month (from :func:`analysis.customers.table.monthly_activity`): active, new, lost,
        returned, revenue, ... plus ``active_start`` and ``churn_rate = lost / active_start``.
    monthly_churn_rate : float
        Pooled over the months shown: ``sum(lost) / sum(active_start)``.
    annual_churn_rate : float
        ``1 - (1 - monthly_churn_rate) ** 12``.
    """

    as_of: pd.Timestamp
    reference_date: pd.Timestamp
    inactivity_days: int
    customers_at_reference: int
    retained: int
    retention_rate: float
    monthly: pd.DataFrame
    monthly_churn_rate: float
    annual_churn_rate: float

    def to_dict(self) -> dict:
        return {"as_of": self.as_of.date().isoformat(), "reference_date": self.reference_date.date().isoformat(),
                "retention_rate": _json_value(self.retention_rate),
                "customers_at_reference": self.customers_at_reference, "retained": self.retained,
                "monthly_churn_rate": _json_value(self.monthly_churn_rate),
                "annual_churn_rate": _json_value(self.annual_churn_rate), "inactivity_days": self.inactivity_days}

    def summary(self) -> pd.DataFrame:
        """The month-by-month table (active at start, new, lost, returned, churn rate)."""
        return self.monthly.copy()

    def _repr_html_(self) -> str:
        return _html(self.monthly, f"Retention: {self.retention_rate:.1%} of the customers of "
                                   f"{self.reference_date.date()} still customers")


def annualise_churn(monthly_rate: float) -> float:
    """Annual churn from a constant monthly churn rate: ``1 - (1 - m) ** 12``.

    Example
    -------
    >>> round(annualise_churn(0.05), 4)
    0.4596
    """
    return 1.0 - (1.0 - monthly_rate) ** 12


def retention_kpis(source_or_path, as_of=None, inactivity_days: int | None = None, *, reference_months: int = 12,
                   months: int = 12, days: pd.DataFrame | None = None,
                   flows: pd.DataFrame | None = None, gaps: pd.DataFrame | None = None) -> RetentionKPIs:
    """Retention rate, monthly / annual churn rate and customers lost, returned and new per month.

    Parameters
    ----------
    inactivity_days : int, optional
        A customer is a customer at a date when they bought within this many days before it
        (None = data-driven, :func:`define_churn`).
    reference_months : int
        Retention follows the customers of the date this many months before ``as_of``.
    months : int
        Months of the monthly table (and of the pooled churn rate).
    flows : pd.DataFrame, optional
        The month flows already counted with the same ``inactivity_days``
        (:attr:`analysis.base.state.CustomerBase.flows`); the last ``months + 1`` rows are used.
    days, gaps : pd.DataFrame, optional
        :func:`purchase_days` and :func:`interpurchase_gaps`, when already computed.
    """
    from analysis.customers.table import monthly_activity

    src = _source(source_or_path, as_of)
    as_of = _as_of(src, as_of)
    days = purchase_days(src, as_of) if days is None else days
    n = define_churn(src, as_of, inactivity_days, days=days, gaps=gaps, method="inactivity").inactivity_days
    ref = as_of - pd.DateOffset(months=reference_months)
    at_ref = _active_ids(days, ref, n)
    retained = len(at_ref & _active_ids(days, as_of, n))
    if flows is not None and len(flows) >= months + 1:
        monthly = flows.iloc[-(months + 1):].reset_index(drop=True).copy()
    else:
        monthly = monthly_activity(src, as_of, months=months + 1, inactivity_days=n)
    monthly["active_start"] = monthly["active"].shift(1)
    monthly = monthly.iloc[1:].reset_index(drop=True)
    monthly["churn_rate"] = monthly["lost"] / monthly["active_start"].where(monthly["active_start"] > 0)
    pooled = float(monthly["lost"].sum() / monthly["active_start"].sum()) if monthly["active_start"].sum() else float("nan")
    return RetentionKPIs(as_of=as_of, reference_date=pd.Timestamp(ref), inactivity_days=n,
                         customers_at_reference=len(at_ref), retained=retained,
                         retention_rate=retained / len(at_ref) if at_ref else float("nan"),
                         monthly=monthly, monthly_churn_rate=pooled, annual_churn_rate=annualise_churn(pooled))


def cohort_retention(source_or_path, as_of=None, *, cohort: str = "auto", max_months: int | None = None,
                     min_cohort_size: int = 1, days: pd.DataFrame | None = None) -> pd.DataFrame:
    """Cohort retention table: share of each cohort that bought in each month since it started.

    Rows are cohorts (signup month, or first-purchase month when there is no customers table or
    ``cohort="first_purchase"``), columns months since the start (0, 1, 2, ...). A cell is the
    share of the cohort with at least one purchase day in that calendar month; cells after
    ``as_of``'s month are empty; cohorts smaller than ``min_cohort_size`` are left out (a share of
    3 customers is noise). ``attrs["sizes"]`` holds the cohort sizes.
    """
    src = _source(source_or_path, as_of)
    as_of = _as_of(src, as_of)
    days = purchase_days(src, as_of) if days is None else days
    if cohort not in ("auto", "signup", "first_purchase"):
        raise ParameterError(f"cohort: got {cohort!r}, expected 'auto', 'signup' or 'first_purchase'.")
    cust = _customer_attributes(src, as_of)
    use_signup = cohort == "signup" or (cohort == "auto" and cust is not None and "signup_date" in cust)
    if use_signup:
        if cust is None or "signup_date" not in cust:
            raise ParameterError("cohort: 'signup' needs customers.signup_date.")
        start = cust.loc[cust["signup_date"].notna() & (cust["signup_date"] <= as_of), ["customer_id", "signup_date"]]
        start = start.rename(columns={"signup_date": "start"})
    else:
        start = days.groupby("customer_id")["day"].min().rename("start").reset_index()
    start = start.assign(cohort=start["start"].dt.to_period("M"))
    d = days.merge(start, on="customer_id")
    d = d[d["day"] >= d["start"].dt.to_period("M").dt.start_time]
    # whole calendar months since the cohort's month, as integers (no per-row Period objects)
    d["k"] = ((d["day"].dt.year * 12 + d["day"].dt.month)
              - (d["cohort"].dt.year * 12 + d["cohort"].dt.month)).astype(int)
    active = d.drop_duplicates(["customer_id", "k"]).groupby(["cohort", "k"]).size()
    sizes = start.groupby("cohort").size()
    table = (active / sizes.reindex(active.index.get_level_values(0)).to_numpy()).unstack("k")
    sizes = sizes[sizes >= min_cohort_size]
    table = table.reindex(index=sizes.index).fillna(0.0)
    last = as_of.to_period("M")
    for c in table.index:  # months not yet lived by the cohort stay empty, not zero
        table.loc[c, [k for k in table.columns if c + int(k) > last]] = np.nan
    table = table.reindex(columns=range(0, (max_months if max_months is not None else int(table.columns.max())) + 1))
    table.index = table.index.astype(str)
    table.columns.name = "months_since_start"
    table.index.name = "cohort"
    table.attrs["sizes"] = {str(k): int(v) for k, v in sizes.items()}
    table.attrs["cohort_by"] = "signup" if use_signup else "first_purchase"
    return table


# --------------------------------------------------------------------------
# Churn risk list
# --------------------------------------------------------------------------
def _frequency_band(n_purchases) -> np.ndarray:
    n = np.asarray(n_purchases)
    return np.select([n <= 1, n <= 4], ["1", "2-4"], "5+")


def gap_survival(days: pd.DataFrame, as_of, gaps: pd.DataFrame | None = None) -> dict[str, KaplanMeierResult]:
    """How long customers stay silent: Kaplan-Meier of gaps between purchases, per frequency band.

    Finished gaps are events (the customer bought again); each customer's open gap since the
    last purchase is censored at ``as_of``. Bands are the number of purchase days before the
    gap (1, 2-4, 5+): frequent buyers fall silent for shorter spells. ``gaps``:
    :func:`interpurchase_gaps` of ``days``, when already computed.
    """
    as_of = pd.Timestamp(as_of)
    gaps = interpurchase_gaps(days) if gaps is None else gaps
    last = days.groupby("customer_id").agg(last=("day", "max"), n=("day", "size")).reset_index()
    open_gaps = pd.DataFrame({"gap_days": (as_of - last["last"]).dt.days, "purchase_number": last["n"], "event": 0})
    all_gaps = pd.concat([gaps.assign(event=1)[["gap_days", "purchase_number", "event"]], open_gaps],
                         ignore_index=True)
    band = _frequency_band(all_gaps["purchase_number"])
    return {b: kaplan_meier(all_gaps.loc[band == b, "gap_days"], all_gaps.loc[band == b, "event"], label=b)
            for b in np.unique(band)}


def churn_risk(source_or_path, as_of=None, inactivity_days: int | None = None, *, horizon_days: int = 30,
               value: pd.DataFrame | None = None, use_clv: bool = True, top: int | None = 50,
               days: pd.DataFrame | None = None, gaps: pd.DataFrame | None = None) -> pd.DataFrame:
    """Customers most likely to churn in the next ``horizon_days``, ranked by expected value lost.

    A customer still a customer at ``as_of`` churns next month when their inactivity deadline
    (last purchase + N days) falls in the next ``horizon_days`` and they do not buy before it.
    The chance of that is ``S(N) / S(r)`` from :func:`gap_survival` (r = days since last
    purchase, S = share of silent spells of this frequency band lasting longer).
    Value is the customer's CLV: ``value`` (``customer_id, clv[, p_alive]``, e.g. from the month's
    customer base) or, with ``use_clv``, :func:`analysis.clv.model.customer_value`; else their spend in
    the last 365 days. IDs are pseudonymous. This list is "due next month"
    (concept ``customers_due_next_month``), not the value at risk of the customer base.

    Returns
    -------
    pd.DataFrame
        ``customer, days_since_last_purchase, deadline, p_churn_next_month, value, value_basis,
        expected_value_lost`` (+ ``p_alive`` with CLV), sorted by expected value lost.
    """
    from analysis.data.privacy import pseudonymize

    src = _source(source_or_path, as_of)
    as_of = _as_of(src, as_of)
    days = purchase_days(src, as_of) if days is None else days
    gaps = interpurchase_gaps(days) if gaps is None else gaps
    n = define_churn(src, as_of, inactivity_days, days=days, gaps=gaps, method="inactivity").inactivity_days
    per = days.groupby("customer_id").agg(last=("day", "max"), n_purchases=("day", "size")).reset_index()
    per["recency_days"] = (as_of - per["last"]).dt.days
    due = per[(per["recency_days"] < n) & (per["recency_days"] >= n - horizon_days)].copy()
    curves = gap_survival(days, as_of, gaps)
    band = _frequency_band(due["n_purchases"])
    p = np.zeros(len(due))
    for b, km in curves.items():
        m = band == b
        if m.any():
            s_r = km.survival_at(due.loc[m, "recency_days"].to_numpy() - 0.5)  # still silent at r days
            s_n = km.survival_at(n - 0.5)  # silent for the whole N days (a purchase on day N saves the customer)
            p[m] = np.clip(s_n / np.where(s_r > 0, s_r, np.nan), 0, 1)
    due["p_churn_next_month"] = np.nan_to_num(p, nan=1.0)
    due["deadline"] = due["last"] + pd.Timedelta(days=n)
    basis = "spend_365d"
    if value is None and use_clv:
        try:
            from analysis.clv.model import customer_value

            value = customer_value(src, as_of, horizon_months=12)
        except KantaError:  # the list still works on past spend when the CLV model cannot be fitted
            value = None
    if value is not None and "clv" in value:
        v = value[["customer_id", "clv"] + (["p_alive"] if "p_alive" in value else [])].copy()
        v["customer_id"] = v["customer_id"].astype(str)
        due = due.merge(v.rename(columns={"clv": "value"}), on="customer_id", how="left")
        basis = "clv"
    else:
        recent = days[days["day"] > as_of - pd.Timedelta(days=365)].groupby("customer_id")["spend"].sum()
        due["value"] = due["customer_id"].map(recent).fillna(0.0)
    due["value"] = due["value"].fillna(0.0)
    due["value_basis"] = basis
    due["expected_value_lost"] = due["p_churn_next_month"] * due["value"]
    due = due.sort_values(["expected_value_lost", "customer_id"], ascending=[False, True])
    due["customer"] = pseudonymize(due["customer_id"]).to_numpy()
    cols = ["customer", "n_purchases", "recency_days", "deadline", "p_churn_next_month", "value", "value_basis",
            "expected_value_lost"] + (["p_alive"] if "p_alive" in due else [])
    out = due[cols].rename(columns={"recency_days": "days_since_last_purchase"}).reset_index(drop=True)
    out.attrs["inactivity_days"] = n
    out.attrs["n_due"] = len(out)
    out.attrs["expected_churners"] = float(out["p_churn_next_month"].sum())
    out.attrs["expected_value_lost"] = float(out["expected_value_lost"].sum())
    return out.head(top) if top else out


# --------------------------------------------------------------------------
# Headline numbers and the command line's tables
# --------------------------------------------------------------------------
def _json_value(x):
    """numpy scalars, timestamps and non-finite floats as plain JSON values."""
    if x is None:
        return None
    if isinstance(x, pd.Timestamp):
        return None if pd.isna(x) else x.date().isoformat()
    if hasattr(x, "item"):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def _churn_basis(source_or_path, as_of, inactivity_days, method: str = "auto"):
    """What every churn summary starts from: the source, purchase days, their gaps, the rule and the duration table."""
    src = _source(source_or_path, as_of)
    as_of = _as_of(src, as_of)
    days = purchase_days(src, as_of)
    gaps = gap_table(src, as_of)  # once, in DuckDB: the rule, the KPIs and the risk list all read them
    definition = define_churn(src, as_of, inactivity_days, days=days, gaps=gaps, method=method)
    return src, as_of, days, gaps, definition, churn_table(src, as_of, definition=definition, days=days)


def export_table(source_or_path, as_of, table: str = "risk", *, inactivity_days: int | None = None,
                 top: int | None = None, use_clv: bool = True) -> pd.DataFrame:
    """The table ``kanta churn`` writes: the "due next month" list or the duration / event table.

    ``table="durations"`` is :func:`churn_table` with pseudonymous customer ids (column
    ``customer``); ``"risk"`` is :func:`churn_risk`. ``attrs`` holds ``inactivity_days`` (None for
    contract churn) and ``as_of``.
    """
    from analysis.data.privacy import pseudonymize

    if table not in ("risk", "durations"):
        raise ParameterError(f"table: got {table!r}, expected 'risk' or 'durations'.")
    src = _source(source_or_path, as_of)
    as_of = _as_of(src, as_of)
    days = purchase_days(src, as_of)
    if table == "durations":
        out = churn_table(src, as_of, inactivity_days, days=days)
        n = out.attrs["definition"].inactivity_days
        out = out.assign(customer_id=pseudonymize(out["customer_id"]).to_numpy()).rename(
            columns={"customer_id": "customer"})
    else:
        out = churn_risk(src, as_of, inactivity_days, days=days, top=top, use_clv=use_clv)
        n = out.attrs["inactivity_days"]
    out.attrs = {"inactivity_days": n, "as_of": as_of}
    return out


# --------------------------------------------------------------------------
# One call for the notebook
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class ChurnAnalysis:
    """Everything the churn page shows, computed once for one ``as_of``.

    ``by_group`` and ``cox`` are None when they could not be estimated on this data; ``findings``
    then says why (:class:`~analysis.findings.Finding`, analyses ``"survival.groups"`` and
    ``"survival.cox"``), and everything else is still there.
    """

    as_of: pd.Timestamp
    definition: ChurnDefinition
    table: pd.DataFrame = field(repr=False)
    overall: KaplanMeierResult = field(repr=False)
    by_group: GroupSurvival | None = field(repr=False)
    cox: ChurnCox | None = field(repr=False)
    kpis: RetentionKPIs = field(repr=False)
    cohorts: pd.DataFrame = field(repr=False)
    risk: pd.DataFrame = field(repr=False)
    findings: tuple = ()

    def finding(self, analysis: str) -> Finding | None:
        """The finding of one part (``"survival.groups"``, ``"survival.cox"``), or None when it was estimated."""
        return next((f for f in self.findings if f.analysis == analysis), None)

    def summary(self) -> pd.DataFrame:
        """The page's numbers in one column (language-free names)."""
        k, km = self.kpis, self.overall
        s12 = km.survival_at_months((12,))[12]
        rows = {"inactivity_days": self.definition.inactivity_days, "customers": km.n, "churned": km.n_events,
                "median_lifetime_days": km.median, "survival_12m": s12, "retention_rate": k.retention_rate,
                "monthly_churn_rate": k.monthly_churn_rate, "annual_churn_rate": k.annual_churn_rate,
                "customers_due_next_month": self.risk.attrs.get("n_due"),
                "logrank_p": self.by_group.multivariate["p"] if self.by_group is not None else None,
                "cox_concordance": self.cox.cox.concordance if self.cox is not None else None}
        return pd.Series(rows, name="value", dtype="object").to_frame()

    def to_dict(self) -> dict:
        return {"as_of": self.as_of.date().isoformat(),
                **{k: _json_value(v) for k, v in self.summary()["value"].items()},
                "definition": self.definition.to_dict(), "overall": self.overall.to_dict(),
                "by_group": self.by_group.to_dict() if self.by_group is not None else None,
                "cox": self.cox.to_dict() if self.cox is not None else None,
                "kpis": self.kpis.to_dict(), "findings": [f.to_dict() for f in self.findings]}

    def _repr_html_(self) -> str:
        return _html(self.summary(), f"Churn analysis as of {self.as_of.date()}")


def analyse(source_or_path=None, as_of=None, inactivity_days: int | None = None, *, base=None,
            group_by: str | None = "acquisition_channel", cox_attributes: Sequence[str] = ATTRIBUTES,
            window_days: int = 90, ph_action: str = "note", risk_top: int = 20, use_clv: bool = True,
            min_group_size: int = MIN_GROUP_CUSTOMERS, min_cohort_size: int = 20) -> ChurnAnalysis:
    """Run the whole churn analysis: definition, curves, log-rank, Cox, KPIs, cohorts, "due next month" list.

    Parameters
    ----------
    source_or_path, as_of, inactivity_days
        The data and the rule, when no ``base`` is given.
    base : analysis.base.state.CustomerBase, optional
        The month's customer state. Given, the analysis uses its source, ``as_of``, its one churn
        rule (``settings.inactivity_days``: silent that many days or more = churned, the same
        customers as ``base.customers.is_churned``), its month flows and its CLV values, so the
        churn page agrees with every other page.
    group_by : str or None
        Attribute for the curves by group.
    min_group_size : int
        Groups with fewer customers are pooled (:func:`kaplan_meier_by_group`).

    The curves by group and the Cox model degrade: when they cannot be estimated, they are None
    and :attr:`ChurnAnalysis.findings` says why.

    Example
    -------
    >>> a = analyse("data/sample", "2026-10-31", use_clv=False)
    >>> a.definition.inactivity_days, a.findings
    (150, ())
    """
    value = None
    flows = None
    if base is not None:
        source_or_path, as_of, inactivity_days = base.source, base.as_of, base.settings.inactivity_days
        flows = base.flows
        if base.estimated("clv"):
            value = base.customers.loc[base.customers["is_buyer"], ["customer_id", "clv", "p_alive"]]
    elif source_or_path is None:
        raise ParameterError("analyse: give a source or the month's customer base (base=...).")
    method = "inactivity" if base is not None else "auto"
    src, as_of, days, gaps, definition, table = _churn_basis(source_or_path, as_of, inactivity_days, method)
    if base is not None and not definition.data_driven:
        # the base holds the resolved number; say "data-driven" when that is where it came from
        try:
            derived = define_churn(src, as_of, None, days=days, gaps=gaps, method="inactivity")
        except ModelError:  # no repeat purchases: the number can only have been given
            derived = definition
        if derived.inactivity_days == definition.inactivity_days:
            definition = derived
    overall = kaplan_meier(table["duration_days"], table["churned"])
    estimation = Estimation()
    by_group = None
    if group_by:
        def compare_groups():
            if group_by not in table.columns:  # valid data without that attribute: nothing to compare by
                available = ", ".join(a for a in ATTRIBUTES if a in table.columns) or "none"
                raise ModelError(f"group_by: {group_by!r} is not a customer attribute in this data "
                                 f"(available: {available}).", reason="attribute_missing",
                                 facts={"attribute": group_by, "available": available})
            return kaplan_meier_by_group(table["duration_days"], table["churned"], table[group_by],
                                         group_by=group_by, min_group_size=min_group_size)

        by_group = estimation.attempt("survival.groups", compare_groups, reason="groups_not_comparable")
    early = early_behaviour(days, (30, window_days)).merge(early_categories(src, as_of, (30, window_days)),
                                                            on="customer_id", how="left")
    cox = estimation.attempt("survival.cox", lambda: fit_churn_cox(
        table, early, as_of, window_days=window_days, attributes=cox_attributes, ph_action=ph_action),
        reason="cox_not_estimable")
    n_activity = define_churn(src, as_of, inactivity_days, days=days, gaps=gaps, method="inactivity").inactivity_days
    kpis = retention_kpis(src, as_of, n_activity, days=days, flows=flows, gaps=gaps)
    cohorts = cohort_retention(src, as_of, days=days, min_cohort_size=min_cohort_size)
    risk = churn_risk(src, as_of, n_activity, days=days, gaps=gaps, top=risk_top, value=value,
                      use_clv=use_clv and base is None)
    return ChurnAnalysis(as_of=as_of, definition=definition, table=table, overall=overall, by_group=by_group,
                         cox=cox, kpis=kpis, cohorts=cohorts, risk=risk, findings=tuple(estimation.findings))
