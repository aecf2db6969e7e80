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

from analysis.errors import KantaError, ModelError, ParameterError

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
        ``group_a, group_b, statistic, p, p_holm`` for every pair of groups (``p_holm``:
        Holm-adjusted for the number of pairs).
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
        """Pairs whose curves differ after Holm's correction for testing many pairs."""
        return self.pairwise[self.pairwise["p_holm"] < self.alpha]

    def sentence(self, language: str = "en") -> str:
        """The log-rank result in plain words."""
        from analysis.i18n import Text

        tx = Text("churn", language)
        p = self.multivariate["p"]
        groups = len(self.curves)
        ptxt = _fmt_p(p, tx, with_sign=True)
        group_by = attribute_label(self.group_by, language)
        if p >= self.alpha:
            return tx("logrank_no_difference", group_by=group_by, k=groups, p=ptxt)
        summ = self.summary()
        best = summ.loc[summ["survival_12m"].idxmax()]
        worst = summ.loc[summ["survival_12m"].idxmin()]
        text = tx("logrank_difference", group_by=group_by, k=groups, p=ptxt,
                  best=_value_label(best["group"], tx), best_s=tx.pct(best["survival_12m"], 0),
                  worst=_value_label(worst["group"], tx), worst_s=tx.pct(worst["survival_12m"], 0))
        n_sig = len(self.significant_pairs())
        return text + " " + tx("logrank_pairs", n_sig=n_sig, n_pairs=len(self.pairwise))


def _holm(p: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error over all pairs)."""
    m = len(p)
    order = np.argsort(p)
    adj = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out = np.empty(m)
    out[order] = np.minimum(adj, 1.0)
    return out


def _fmt_p(p: float, tx, with_sign: bool = False) -> str:
    """A p-value for readers: "0.042", "< 0.001" (with ``with_sign``: "= 0.042", "< 0.001")."""
    if p < 0.001:
        return "< " + tx.number(0.001, 3)
    return ("= " if with_sign else "") + tx.number(p, 3)


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
    pairwise["p_holm"] = _holm(pairwise["p"].to_numpy())
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
        label = covariate_labels(self.table["covariate"], language)
        names = lambda cs: "; ".join(label.get(c, c) for c in cs)  # noqa: E731
        noted = [c for c in self.violating if c not in self.stratified]
        parts = [tx("ph_violation", covariates=names(self.violating), p=tx.number(self.p_threshold, 2))]
        if self.stratified:
            parts.append(tx("ph_stratified", covariates=names(self.stratified)))
        if noted and self.stratified:
            parts.append(tx("ph_noted", covariates=names(noted)))
        elif noted:
            parts.append(tx("ph_noted_all"))
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
    >>> float(round(cox.params["fin"], 4))
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


# --------------------------------------------------------------------------
# Plots: take results, return an Axes, never compute
# --------------------------------------------------------------------------
def plot_survival(result, ax=None, *, language: str = "en", bands: bool = True, max_months: float | None = None):
    """Kaplan-Meier curve(s) with confidence bands, x axis in months.

    Parameters
    ----------
    result : KaplanMeierResult or GroupSurvival
    ax : matplotlib Axes, optional
    bands : bool
        Shade the pointwise confidence band.
    max_months : float, optional
        Cut the x axis.

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt

    from analysis.i18n import Text

    tx = Text("churn", language)
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    curves = list(result.curves.values()) if isinstance(result, GroupSurvival) else [result]
    for km in curves:
        s = km.survival
        months = s["time"].to_numpy() * km.unit_days / DAYS_PER_MONTH
        line, = ax.step(months, s["survival"], where="post", label=f"{_value_label(km.label, tx)} (n={tx.number(km.n)})")
        if bands:
            ax.fill_between(months, s["lower"], s["upper"], step="post", alpha=0.15, color=line.get_color())
    ax.set_xlabel(tx("axis_months"))
    ax.set_ylabel(tx("axis_survival"))
    ax.set_ylim(0, 1.02)
    ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: tx.pct(v, 0)))
    if max_months is not None:
        ax.set_xlim(0, max_months)
    ax.grid(alpha=0.3)
    if len(curves) > 1:
        ax.legend(fontsize="small", loc="lower left")
    return ax


def plot_forest(cox: CoxResult, ax=None, *, language: str = "en", labels: Mapping[str, str] | None = None):
    """Forest plot of hazard ratios with their confidence intervals (log x axis, line at 1).

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt

    from analysis.i18n import Text

    tx = Text("churn", language)
    hr = cox.hazard_ratios.iloc[::-1].reset_index(drop=True)
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 0.35 * len(hr) + 1.2))
    y = np.arange(len(hr))
    sig = hr["p"] < cox.alpha
    ax.errorbar(hr["hazard_ratio"], y, xerr=[hr["hazard_ratio"] - hr["lower"], hr["upper"] - hr["hazard_ratio"]],
                fmt="none", ecolor="0.4", capsize=2)
    ax.scatter(hr["hazard_ratio"], y, c=np.where(sig, "C3", "0.5"), zorder=3)
    ax.axvline(1.0, color="0.2", lw=0.8, ls="--")
    ax.set_xscale("log")
    from matplotlib.ticker import FuncFormatter, LogLocator

    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(0.2, 0.3, 0.5, 0.7, 1.0, 1.5)))
    ax.xaxis.set_minor_locator(LogLocator(base=10, subs=()))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: tx.number(x, 2 if x < 1 else 1)))
    names = [(labels or {}).get(c, c) for c in hr["covariate"]]
    ax.set_yticks(y, names)
    ax.set_xlabel(tx("axis_hazard_ratio"))
    ax.grid(axis="x", alpha=0.3)
    return ax


def plot_cohort_heatmap(table: pd.DataFrame, ax=None, *, language: str = "en", max_months: int | None = 24):
    """Heat map of a cohort retention table (rows: cohorts, columns: months since start, values: shares).

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt

    from analysis.i18n import Text

    tx = Text("churn", language)
    data = table.copy()
    if max_months is not None:
        data = data.loc[:, [c for c in data.columns if int(c) <= max_months]]
    if ax is None:
        _, ax = plt.subplots(figsize=(min(14, 0.35 * data.shape[1] + 2.5), 0.28 * data.shape[0] + 1.5))
    im = ax.imshow(data.to_numpy(dtype=float), aspect="auto", cmap="YlGnBu", vmin=0, vmax=1)
    ax.set_xticks(range(data.shape[1]), [str(c) for c in data.columns], fontsize="small")
    ax.set_yticks(range(data.shape[0]), [str(i) for i in data.index], fontsize="small")
    ax.set_xlabel(tx("axis_months_since"))
    ax.set_ylabel(tx("axis_signup_month"))
    bar = ax.figure.colorbar(im, ax=ax, fraction=0.03, pad=0.02, format=plt.FuncFormatter(lambda v, _: tx.pct(v, 0)))
    bar.set_label(tx("axis_cohort_share"))
    return ax


# --------------------------------------------------------------------------
# Churn definition and the duration / event table
# --------------------------------------------------------------------------
ATTRIBUTES = ("region", "age_band", "acquisition_channel", "marketing_permission")


def _source(source_or_path, as_of=None):
    """A validated Source (one loader for the whole package; a Source with the same as_of passes through)."""
    from analysis.data import load_source

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

    Purchase days follow :func:`analysis.customers.purchase_days_sql` (the package's one rule:
    a refund alone is not a purchase), so churn agrees with the customer table and monthly activity.
    """
    from analysis.customers import purchase_days_sql

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

    def sentence(self, language: str = "en") -> str:
        """The churn definition and why this N, in plain words."""
        from analysis.i18n import Text

        tx = Text("churn", language)
        if self.method == "contract":
            return tx("definition_contract")
        base = tx("definition_inactivity", n=self.inactivity_days)
        if self.data_driven:
            why = tx("definition_data_driven", q=tx.pct(self.quantile, 0), gap=tx.number(self.gap_quantile_days, 0),
                     n=self.inactivity_days, median=tx.number(self.median_gap_days, 0),
                     within=tx.pct(self.share_gaps_within, 1), n_gaps=tx.number(self.n_gaps))
        else:
            why = tx("definition_given", n=self.inactivity_days, within=tx.pct(self.share_gaps_within, 1))
        return base + " " + why


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
                 round_to: int = 30, method: str = "auto", days: pd.DataFrame | None = None) -> ChurnDefinition:
    """Decide the churn rule: contract end dates when the data has them, else N days of inactivity.

    Parameters
    ----------
    inactivity_days : int, optional
        N; None = data-driven (:func:`default_inactivity_days`).
    method : {"auto", "inactivity", "contract"}
        "auto" uses ``customers.churn_date`` when any customer has one.
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
    days = purchase_days(src, as_of) if days is None else days
    gaps = interpurchase_gaps(days)["gap_days"].to_numpy()
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
    """The Cox model of churn on early behaviour and attributes, with what went into it."""

    cox: CoxResult
    references: Mapping[str, str]
    window_days: int
    n_excluded_recent: int
    data: pd.DataFrame = field(repr=False)


def cox_dataset(table: pd.DataFrame, early: pd.DataFrame, as_of, *, window_days: int = 90,
                attributes: Sequence[str] = ATTRIBUTES) -> tuple[pd.DataFrame, dict, int]:
    """Covariates for the Cox model: early behaviour (log spend) + one-hot attributes.

    Only customers whose first ``window_days`` are fully observed before ``as_of`` and who had
    not churned within them enter (a landmark at ``window_days``), so early behaviour never
    uses information from after the churn it is meant to predict.
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
    frame = t[["customer_id", "duration_days", "churned", *covs, *attrs]]
    enc, refs = one_hot(frame, attrs)
    # drop covariates that carry no information in this data (e.g. one category sold) rather than fail
    keep = [c for c in enc.columns if c in ("customer_id", "duration_days", "churned") or enc[c].nunique() > 1]
    return enc[keep].reset_index(drop=True), refs, n_excluded


def fit_churn_cox(table: pd.DataFrame, early: pd.DataFrame, as_of, *, window_days: int = 90,
                  attributes: Sequence[str] = ATTRIBUTES, ph_action: str = "note", penalizer: float = 0.0) -> ChurnCox:
    """Fit the Cox churn model on early behaviour and customer attributes (see :func:`cox_dataset`)."""
    data, refs, n_excluded = cox_dataset(table, early, as_of, window_days=window_days, attributes=attributes)
    covs = [c for c in data.columns if c not in ("customer_id", "duration_days", "churned")]
    cox = fit_cox(data, "duration_days", "churned", covs, ph_action=ph_action, penalizer=penalizer)
    return ChurnCox(cox=cox, references=refs, window_days=window_days, n_excluded_recent=n_excluded, data=data)


# --------------------------------------------------------------------------
# Retention KPIs and cohorts
# --------------------------------------------------------------------------
def _active_ids(days: pd.DataFrame, at: pd.Timestamp, inactivity_days: int) -> set:
    """Customers whose last purchase on or before ``at`` is within ``inactivity_days`` (a customer at ``at``)."""
    d = days[days["day"] <= at]
    last = d.groupby("customer_id")["day"].max()
    return set(last.index[last > at - pd.Timedelta(days=inactivity_days)])


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
        Per month (from :func:`analysis.customers.monthly_activity`): active, new, lost,
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

    def summary(self) -> dict:
        return {"retention_rate": self.retention_rate, "customers_at_reference": self.customers_at_reference,
                "retained": self.retained, "monthly_churn_rate": self.monthly_churn_rate,
                "annual_churn_rate": self.annual_churn_rate, "inactivity_days": self.inactivity_days}


def annualise_churn(monthly_rate: float) -> float:
    """Annual churn from a constant monthly churn rate: ``1 - (1 - m) ** 12``.

    Example
    -------
    >>> round(annualise_churn(0.05), 4)
    0.4596
    """
    return 1.0 - (1.0 - monthly_rate) ** 12


def retention_kpis(source_or_path, as_of=None, inactivity_days: int | None = None, *, reference_months: int = 12,
                   months: int = 12, days: pd.DataFrame | None = None) -> RetentionKPIs:
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
    """
    from analysis.customers import monthly_activity

    src = _source(source_or_path, as_of)
    as_of = _as_of(src, as_of)
    days = purchase_days(src, as_of) if days is None else days
    n = define_churn(src, as_of, inactivity_days, days=days, method="inactivity").inactivity_days
    ref = as_of - pd.DateOffset(months=reference_months)
    at_ref = _active_ids(days, ref, n)
    retained = len(at_ref & _active_ids(days, as_of, n))
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
    d["k"] = (d["day"].dt.to_period("M") - d["cohort"]).apply(lambda x: x.n)
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


def gap_survival(days: pd.DataFrame, as_of) -> dict[str, KaplanMeierResult]:
    """How long customers stay silent: Kaplan-Meier of gaps between purchases, per frequency band.

    Finished gaps are events (the customer bought again); each customer's open gap since the
    last purchase is censored at ``as_of``. Bands are the number of purchase days before the
    gap (1, 2-4, 5+): frequent buyers fall silent for shorter spells.
    """
    as_of = pd.Timestamp(as_of)
    gaps = interpurchase_gaps(days)
    last = days.groupby("customer_id").agg(last=("day", "max"), n=("day", "size")).reset_index()
    open_gaps = pd.DataFrame({"gap_days": (as_of - last["last"]).dt.days, "purchase_number": last["n"], "event": 0})
    all_gaps = pd.concat([gaps.assign(event=1)[["gap_days", "purchase_number", "event"]], open_gaps],
                         ignore_index=True)
    band = _frequency_band(all_gaps["purchase_number"])
    return {b: kaplan_meier(all_gaps.loc[band == b, "gap_days"], all_gaps.loc[band == b, "event"], label=b)
            for b in np.unique(band)}


def churn_risk(source_or_path, as_of=None, inactivity_days: int | None = None, *, horizon_days: int = 30,
               value: pd.DataFrame | None = None, use_clv: bool = True, top: int | None = 50,
               days: pd.DataFrame | None = None) -> pd.DataFrame:
    """Customers most likely to churn in the next ``horizon_days``, ranked by expected value lost.

    A customer still a customer at ``as_of`` churns next month when their inactivity deadline
    (last purchase + N days) falls in the next ``horizon_days`` and they do not buy before it.
    The chance of that is ``S(N) / S(r)`` from :func:`gap_survival` (r = days since last
    purchase, S = share of silent spells of this frequency band lasting longer).
    Value is the customer's CLV (``analysis.clv.customer_value``) when available, else their
    spend in the last 365 days. IDs are pseudonymous.

    Returns
    -------
    pd.DataFrame
        ``customer, days_since_last_purchase, deadline, p_churn_next_month, value, value_basis,
        expected_value_lost`` (+ ``p_alive`` with CLV), sorted by expected value lost.
    """
    from analysis.privacy import pseudonymize

    src = _source(source_or_path, as_of)
    as_of = _as_of(src, as_of)
    days = purchase_days(src, as_of) if days is None else days
    n = define_churn(src, as_of, inactivity_days, days=days, method="inactivity").inactivity_days
    per = days.groupby("customer_id").agg(last=("day", "max"), n_purchases=("day", "size")).reset_index()
    per["recency_days"] = (as_of - per["last"]).dt.days
    due = per[(per["recency_days"] < n) & (per["recency_days"] >= n - horizon_days)].copy()
    curves = gap_survival(days, as_of)
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
            from analysis.clv import customer_value

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
# Headline numbers and the command line
# --------------------------------------------------------------------------
def _json_float(x) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def _churn_basis(source_or_path, as_of, inactivity_days):
    """What every churn summary starts from: the source, purchase days, the rule and the duration table."""
    src = _source(source_or_path, as_of)
    as_of = _as_of(src, as_of)
    days = purchase_days(src, as_of)
    definition = define_churn(src, as_of, inactivity_days, days=days)
    return src, as_of, days, definition, churn_table(src, as_of, definition=definition, days=days)


def headline(source_or_path, as_of, inactivity_days: int | None = None, **params) -> dict:
    """The few churn numbers of the monthly landing page (plain JSON-serialisable values).

    Keys: ``inactivity_days, customers, churned, median_lifetime_days (None when more than half
    never churn), survival_6m, survival_12m, retention_rate, monthly_churn_rate,
    annual_churn_rate, active, new, lost, returned`` (the last four for ``as_of``'s month).

    Example
    -------
    >>> headline("data/sample", "2026-10-31")["inactivity_days"]  # doctest: +SKIP
    150
    """
    src, as_of, days, definition, table = _churn_basis(source_or_path, as_of, inactivity_days)
    km = kaplan_meier(table["duration_days"], table["churned"])
    n = define_churn(src, as_of, inactivity_days, days=days, method="inactivity").inactivity_days
    kpi = retention_kpis(src, as_of, n, days=days, reference_months=params.get("reference_months", 12))
    last = kpi.monthly.iloc[-1]
    s = km.survival_at_months((6, 12))
    return {
        "inactivity_days": int(n), "definition": definition.method,
        "customers": int(len(table)), "churned": int(table["churned"].sum()),
        "median_lifetime_days": _json_float(km.median),
        "survival_6m": _json_float(s[6]), "survival_12m": _json_float(s[12]),
        "retention_rate": _json_float(kpi.retention_rate),
        "monthly_churn_rate": _json_float(kpi.monthly_churn_rate),
        "annual_churn_rate": _json_float(kpi.annual_churn_rate),
        "active": int(last["active"]), "new": int(last["new"]), "lost": int(last["lost"]),
        "returned": int(last["returned"]),
    }


def _cmd_churn(args) -> int:
    from analysis.data import check_output_path, write_table

    check_output_path(args.out)  # before the work, not after it
    if args.top is not None and args.top < 1:
        raise ParameterError(f"--top: got {args.top}, expected a whole number of customers >= 1.")
    src = _source(args.source, args.as_of)
    as_of = _as_of(src, args.as_of)
    days = purchase_days(src, as_of)
    if args.table == "durations":
        out = churn_table(src, as_of, args.inactivity_days, days=days)
        out = out.assign(customer_id=_pseudonyms(out["customer_id"])).rename(columns={"customer_id": "customer"})
        n = out.attrs["definition"].inactivity_days
        msg = f"{len(out)} customers, {int(out['churned'].sum())} churned"
    else:
        out = churn_risk(src, as_of, args.inactivity_days, days=days, top=args.top, use_clv=not args.no_clv)
        n = out.attrs["inactivity_days"]
        msg = f"{len(out)} customers at risk of churning in the next 30 days"
    out.attrs = {}
    write_table(out, args.out)
    rule = f"no purchase for {n} days" if n else "contract end date"  # n is None for contractual data
    print(f"{msg} (churn = {rule}, as of {as_of.date()}) -> {args.out}")
    return 0


def _pseudonyms(ids: pd.Series) -> pd.Series:
    from analysis.privacy import pseudonymize

    return pseudonymize(ids).to_numpy()


def add_cli(subparsers) -> None:
    """Register ``kanta churn SOURCE --as-of DATE --out FILE [--inactivity-days N]``."""
    p = subparsers.add_parser("churn", help="churn risk list (default) or duration/event table of every customer")
    p.add_argument("source", help="data source: a directory of CSV/Parquet files or a DuckDB database file")
    p.add_argument("--as-of", required=True, help="analysis date YYYY-MM-DD (transactions on that day count)")
    p.add_argument("--out", required=True, help="output file (.csv or .parquet)")
    p.add_argument("--inactivity-days", type=int, default=None,
                   help="churned after this many days without a purchase (default: 95th percentile of "
                        "gaps between purchases, rounded up to 30 days)")
    p.add_argument("--table", choices=["risk", "durations"], default="risk",
                   help="risk: customers likely to churn next month by expected value lost; durations: "
                        "one row per customer with duration_days and churned (censored at as-of)")
    p.add_argument("--top", type=int, default=None, help="keep only the first N rows of the risk list")
    p.add_argument("--no-clv", action="store_true", help="value customers by last-365-day spend instead of CLV")
    p.set_defaults(func=_cmd_churn)


# --------------------------------------------------------------------------
# One call for the notebook, and report tables in the report's language
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class ChurnAnalysis:
    """Everything the churn notebook shows, computed once for one ``as_of``."""

    as_of: pd.Timestamp
    definition: ChurnDefinition
    table: pd.DataFrame = field(repr=False)
    overall: KaplanMeierResult = field(repr=False)
    by_group: GroupSurvival | None = field(repr=False)
    cox: ChurnCox | None = field(repr=False)
    kpis: RetentionKPIs = field(repr=False)
    cohorts: pd.DataFrame = field(repr=False)
    risk: pd.DataFrame = field(repr=False)


def analyse(source_or_path, as_of=None, inactivity_days: int | None = None, *, group_by: str | None = "acquisition_channel",
            cox_attributes: Sequence[str] = ATTRIBUTES, window_days: int = 90, ph_action: str = "note",
            risk_top: int = 20, use_clv: bool = True, min_group_size: int = 30,
            min_cohort_size: int = 20) -> ChurnAnalysis:
    """Run the whole churn analysis: definition, curves, log-rank, Cox, KPIs, cohorts, risk list.

    Example
    -------
    >>> a = analyse("data/sample", "2026-10-31", use_clv=False)
    >>> a.definition.inactivity_days
    150
    """
    src, as_of, days, definition, table = _churn_basis(source_or_path, as_of, inactivity_days)
    overall = kaplan_meier(table["duration_days"], table["churned"])
    by_group = None
    if group_by:
        if group_by not in table.columns:
            raise ParameterError(f"group_by: {group_by!r} is not a customer attribute here "
                                 f"(available: {', '.join(a for a in ATTRIBUTES if a in table.columns)}).")
        by_group = kaplan_meier_by_group(table["duration_days"], table["churned"], table[group_by],
                                         group_by=group_by, min_group_size=min_group_size)
    early = early_behaviour(days, (30, window_days)).merge(early_categories(src, as_of, (30, window_days)),
                                                            on="customer_id", how="left")
    cox = fit_churn_cox(table, early, as_of, window_days=window_days, attributes=cox_attributes, ph_action=ph_action)
    n_activity = define_churn(src, as_of, inactivity_days, days=days, method="inactivity").inactivity_days
    kpis = retention_kpis(src, as_of, n_activity, days=days)
    cohorts = cohort_retention(src, as_of, days=days, min_cohort_size=min_cohort_size)
    risk = churn_risk(src, as_of, n_activity, days=days, top=risk_top, use_clv=use_clv)
    return ChurnAnalysis(as_of=as_of, definition=definition, table=table, overall=overall, by_group=by_group,
                         cox=cox, kpis=kpis, cohorts=cohorts, risk=risk)


def survival_table(results: Sequence[KaplanMeierResult], language: str = "en") -> pd.DataFrame:
    """Median lifetime and survival at 3/6/12 months (with 95 % bands) as a formatted report table."""
    from analysis.i18n import Text

    tx = Text("churn", language)
    rows = []
    for km in results:
        row = {tx("col_group"): _value_label(km.label, tx), tx("col_customers"): tx.number(km.n), tx("col_churned"): tx.number(km.n_events),
               tx("col_median_months"): (tx.number(km.median * km.unit_days / DAYS_PER_MONTH, 1)
                                         if np.isfinite(km.median) else tx("not_reached"))}
        for m, s in km.survival_at_months().items():
            lo, hi = km.band_at(m * DAYS_PER_MONTH / km.unit_days)
            row[tx("col_survival_m", m=m)] = f"{tx.pct(s, 0)} ({tx.pct(lo, 0)}–{tx.pct(hi, 0)})"
        rows.append(row)
    return pd.DataFrame(rows)


def at_risk_report(km: KaplanMeierResult, months: Sequence[int] = (0, 3, 6, 12, 18, 24), language: str = "en") -> pd.DataFrame:
    """The at-risk table at whole months, formatted (months as rows)."""
    from analysis.i18n import Text

    tx = Text("churn", language)
    t = km.at_risk_table([m * DAYS_PER_MONTH / km.unit_days for m in months])
    return pd.DataFrame({tx("col_month"): list(months), tx("at_risk"): t["at_risk"].map(tx.number),
                         tx("col_churned_cum"): t["churned"].map(tx.number),
                         tx("col_censored_cum"): t["censored"].map(tx.number)})


def attribute_label(name: str, language: str = "en") -> str:
    """A customer attribute's name in the report's language (``acquisition_channel`` -> "acquisition channel")."""
    from analysis.i18n import Text

    tx = Text("churn", language)
    return tx(f"attr_{name}") if tx.has(f"attr_{name}") else name


def _value_label(value, tx) -> str:
    """A group value in the report's language (strings/churn.json ``level_<value>``, "all" -> all customers)."""
    if value == "all":
        return tx("all_customers")
    return tx(f"level_{value}") if tx.has(f"level_{value}") else str(value)


def _level_label(attr: str, level: str, tx, language: str) -> str:
    level = {"True": tx("yes"), "False": tx("no"), "(missing)": tx("missing")}.get(level, _value_label(level, tx))
    return tx("attr_level", attr=attribute_label(attr, language), level=level)


def reference_labels(references: Mapping[str, str], language: str = "en") -> str:
    """The reference customer of a Cox model in words: "region: Uusimaa, age band: 25-34"."""
    from analysis.i18n import Text

    tx = Text("churn", language)
    return ", ".join(_level_label(a, str(v), tx, language) for a, v in references.items())


def covariate_labels(names: Sequence[str], language: str = "en") -> dict[str, str]:
    """Readable covariate names: ``log_spend_90d`` -> "Spend (log), first 90 days", ``region=Lappi`` -> "region: Lappi"."""
    import re

    from analysis.i18n import Text

    tx = Text("churn", language)
    out = {}
    for name in names:
        m = re.fullmatch(r"(purchases|log_spend|categories)_(\d+)d", name)
        if m:
            out[name] = tx(f"cov_{m.group(1)}", w=m.group(2))
        elif "=" in name:
            attr, level = name.split("=", 1)
            out[name] = _level_label(attr, level, tx, language)
        else:
            out[name] = name
    return out


def hazard_ratio_table(cox: CoxResult, language: str = "en") -> pd.DataFrame:
    """Hazard ratios with CIs and p-values, formatted."""
    from analysis.i18n import Text

    tx = Text("churn", language)
    hr = cox.hazard_ratios
    return pd.DataFrame({
        tx("col_covariate"): hr["covariate"].map(covariate_labels(hr["covariate"], language)),
        tx("col_hazard_ratio"): hr["hazard_ratio"].map(lambda x: tx.number(x, 2)),
        tx("col_ci"): [f"{tx.number(lo, 2)}–{tx.number(hi, 2)}" for lo, hi in zip(hr["lower"], hr["upper"])],
        "p": hr["p"].map(lambda p: _fmt_p(p, tx)),
    })


def monthly_table(kpis: RetentionKPIs, language: str = "en") -> pd.DataFrame:
    """Customers active, new, lost, returned and the churn rate per month, formatted."""
    from analysis.i18n import Text

    tx = Text("churn", language)
    m = kpis.monthly
    return pd.DataFrame({
        tx("col_month"): m["month"], tx("col_active_start"): m["active_start"].map(tx.number),
        tx("col_new"): m["new"].map(tx.number), tx("col_lost"): m["lost"].map(tx.number),
        tx("col_returned"): m["returned"].map(tx.number), tx("col_active_end"): m["active"].map(tx.number),
        tx("col_churn_rate"): m["churn_rate"].map(lambda x: tx.pct(x, 1)),
    })


def risk_table(risk: pd.DataFrame, language: str = "en") -> pd.DataFrame:
    """The churn risk list, formatted (pseudonymous IDs only)."""
    from analysis.i18n import Text

    tx = Text("churn", language)
    value_label = tx("col_clv") if (risk["value_basis"] == "clv").all() else tx("col_spend_365d")
    return pd.DataFrame({
        tx("col_customer"): risk["customer"], tx("col_purchases"): risk["n_purchases"].map(tx.number),
        tx("col_days_silent"): risk["days_since_last_purchase"].map(tx.number),
        tx("col_deadline"): risk["deadline"].map(tx.date),
        tx("col_p_churn"): risk["p_churn_next_month"].map(lambda x: tx.pct(x, 0)),
        value_label: risk["value"].map(tx.money),
        tx("col_value_lost"): risk["expected_value_lost"].map(tx.money),
    })
