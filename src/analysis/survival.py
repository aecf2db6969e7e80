"""Churn and retention: how long customers stay, who is leaving, and what predicts it.

Kaplan-Meier curves and log-rank tests (lifelines), Cox proportional hazards with a
plain-words PH check, the churn definition with explicit censoring at ``as_of``, and retention KPIs.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from analysis.errors import ModelError, ParameterError

DAYS_PER_MONTH = 30.4375  # 365.25 / 12: "3, 6, 12 months" on a day axis
SURVIVAL_MONTHS = (3, 6, 12)


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
        ``group_a, group_b, statistic, p`` for every pair of groups.
    """

    group_by: str
    curves: Mapping[str, KaplanMeierResult]
    multivariate: Mapping[str, float]
    pairwise: pd.DataFrame
    alpha: float

    def summary(self) -> pd.DataFrame:
        """One row per group: n, churns, median lifetime, survival at 3/6/12 months with bands."""
        return pd.concat([c.summary() for c in self.curves.values()], ignore_index=True)

    def significant_pairs(self) -> pd.DataFrame:
        return self.pairwise[self.pairwise["p"] < self.alpha]

    def sentence(self, language: str = "en") -> str:
        """The log-rank result in plain words."""
        from analysis.i18n import Text

        tx = Text("churn", language)
        p = self.multivariate["p"]
        groups = len(self.curves)
        ptxt = _fmt_p(p, tx)
        if p >= self.alpha:
            return tx("logrank_no_difference", group_by=self.group_by, k=groups, p=ptxt)
        summ = self.summary()
        best = summ.loc[summ["survival_12m"].idxmax()]
        worst = summ.loc[summ["survival_12m"].idxmin()]
        text = tx("logrank_difference", group_by=self.group_by, k=groups, p=ptxt,
                  best=best["group"], best_s=tx.pct(best["survival_12m"], 0),
                  worst=worst["group"], worst_s=tx.pct(worst["survival_12m"], 0))
        n_sig = len(self.significant_pairs())
        return text + " " + tx("logrank_pairs", n_sig=n_sig, n_pairs=len(self.pairwise))


def _fmt_p(p: float, tx) -> str:
    return "< " + tx.number(0.001, 3) if p < 0.001 else tx.number(p, 3)


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
        Name of the grouping attribute, used in sentences.
    min_group_size : int
        Groups with fewer customers are left out (a curve of 3 customers says nothing).

    Example
    -------
    >>> g = kaplan_meier_by_group([1, 2, 3, 4], [1, 1, 1, 1], ["a", "a", "b", "b"])
    >>> sorted(g.curves)
    ['a', 'b']
    """
    from lifelines.statistics import multivariate_logrank_test, pairwise_logrank_test

    d, e = _check_durations_events(durations, events)
    g = pd.Series(list(groups), dtype="object").fillna("(missing)").astype(str).to_numpy()
    if len(g) != len(d):
        raise ModelError(f"groups: {len(g)} labels for {len(d)} customers; expected one label per customer.")
    labels, counts = np.unique(g, return_counts=True)
    keep_labels = labels[counts >= min_group_size]
    if len(keep_labels) < 2:
        raise ModelError(f"{group_by}: fewer than two groups with at least {min_group_size} customers; nothing to compare.")
    keep = np.isin(g, keep_labels)
    d, e, g = d[keep], e[keep], g[keep]
    curves = {lab: kaplan_meier(d[g == lab], e[g == lab], label=lab, alpha=alpha, unit_days=unit_days)
              for lab in keep_labels}
    mv = multivariate_logrank_test(d, g, e)
    pw = pairwise_logrank_test(d, g, e).summary.reset_index()
    pw.columns = ["group_a", "group_b", "statistic", "p", "-log2(p)"]
    pairwise = pw[["group_a", "group_b", "statistic", "p"]].astype({"group_a": str, "group_b": str})
    return GroupSurvival(group_by=group_by, curves=curves,
                         multivariate={"statistic": float(mv.test_statistic), "df": int(mv.degrees_of_freedom),
                                       "p": float(mv.p_value)},
                         pairwise=pairwise, alpha=alpha)


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
        raise ModelError(f"{event_col}: no churns observed, so a Cox model has nothing to explain.")
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

    def sentence(self, language: str = "en") -> str:
        """What the check found and what was done, in plain words."""
        from analysis.i18n import Text

        tx = Text("churn", language)
        if self.ok:
            return tx("ph_ok", p=tx.number(self.p_threshold, 2))
        noted = [c for c in self.violating if c not in self.stratified]
        parts = [tx("ph_violation", covariates=", ".join(self.violating), p=tx.number(self.p_threshold, 2))]
        if self.stratified:
            parts.append(tx("ph_stratified", covariates=", ".join(self.stratified)))
        if noted:
            parts.append(tx("ph_noted", covariates=", ".join(noted)))
        return " ".join(parts)


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
    >>> round(cox.params["fin"], 4)
    -0.3794
    """
    from lifelines import CoxPHFitter
    from lifelines.exceptions import ConvergenceError

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
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                cph.fit(data, duration_col=duration_col, event_col=event_col)
        except (ConvergenceError, np.linalg.LinAlgError) as exc:
            raise ModelError(f"Cox model did not converge ({str(exc).splitlines()[0][:160]}); check for a "
                             f"covariate that separates churners from non-churners perfectly.") from None
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


def _ph_check(cph, data: pd.DataFrame, p_threshold: float) -> PHCheck:
    from lifelines.statistics import proportional_hazard_test

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = proportional_hazard_test(cph, data, time_transform="rank")
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
