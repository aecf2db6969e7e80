"""The shifted-beta-geometric (sBG) model of contractual retention, fitted on survivor counts.
Survival, retention-rate curve, discounted expected residual lifetime (DERL) and a holdout check.

Each subscriber renews at the end of every period with a constant chance ``1 - theta``; ``theta``
varies across subscribers as Beta(alpha, beta), so the cohort's retention rate rises with tenure
as the likely leavers go first. The likelihood needs only counts: how many contracts ended in
period ``t`` and how many were still running when their observation ended at ``t``, so a fit costs
the same for a thousand or ten million subscribers.

References: Fader & Hardie (2007) "How to project customer retention", J. Interactive Marketing
21(1) (model, eqs. 1-7, the regular and high-end cohorts); Fader & Hardie (2010) "Customer-base
valuation in a contractual setting: the perils of ignoring heterogeneity", Marketing Science 29(1)
(DERL, eq. 6).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import betaln, hyp2f1, psi
from threadpoolctl import threadpool_limits

from analysis.errors import ModelError, ParameterError

#: Bound of the log-parameters during the fit; a fit that stops there has no proper maximum.
LOG_BOUND = 15.0
#: Fewest complete periods after signup a cohort needs for a fit (two: one retention rate does
#: not tell the spread of churn chances across subscribers from their mean).
MIN_PERIODS = 2
#: Fewest contracts that ended in the observed periods: without endings there is nothing to fit.
MIN_CHURNED = 1


# --------------------------------------------------------------------------- counts
def counts_from_survivors(survivors) -> tuple[np.ndarray, np.ndarray]:
    """``(churned, censored)`` of one cohort observed for ``len(survivors) - 1`` periods.

    ``survivors[t]`` is the number still subscribed ``t`` periods after signup (``survivors[0]``
    is the cohort's size). ``churned[t - 1]`` contracts ended in period ``t`` (t = 1..K);
    ``censored[t]`` were still running when their observation ended at ``t`` (here only at K).

    Example
    -------
    >>> counts_from_survivors([1000, 631, 468])
    (array([369., 163.]), array([  0.,   0., 468.]))
    """
    s = np.asarray(survivors, float)
    if s.ndim != 1 or len(s) < 2 or np.any(np.diff(s) > 0) or np.any(s < 0):
        raise ParameterError(f"survivors: got {list(s)}, expected at least two non-increasing counts >= 0.")
    censored = np.zeros(len(s))
    censored[-1] = s[-1]
    return -np.diff(s), censored


def _check_counts(churned, censored) -> tuple[np.ndarray, np.ndarray]:
    churned, censored = np.asarray(churned, float), np.asarray(censored, float)
    if len(censored) != len(churned) + 1 or np.any(churned < 0) or np.any(censored < 0):
        raise ParameterError("sBG counts: expected churned[t-1] for t = 1..K and censored[t] for t = 0..K, "
                             f"all >= 0; got {len(churned)} and {len(censored)} values.")
    return churned, censored


# --------------------------------------------------------------------------- the model
def survival(alpha: float, beta: float, t) -> np.ndarray:
    """S(t) = B(alpha, beta + t) / B(alpha, beta): share of a cohort still subscribed after ``t`` periods (FH 2007 eq. 5)."""
    t = np.asarray(t, float)
    return np.exp(betaln(alpha, beta + t) - betaln(alpha, beta))


def churn_probability(alpha: float, beta: float, t) -> np.ndarray:
    """P(T = t) = B(alpha + 1, beta + t - 1) / B(alpha, beta): share of a cohort whose contract ends in period ``t >= 1``."""
    t = np.asarray(t, float)
    return np.exp(betaln(alpha + 1, beta + t - 1) - betaln(alpha, beta))


def retention_rate(alpha: float, beta: float, t) -> np.ndarray:
    """r(t) = (beta + t - 1) / (alpha + beta + t - 1): share of those subscribed at ``t - 1`` who renew at ``t`` (eq. 7)."""
    t = np.asarray(t, float)
    return (beta + t - 1) / (alpha + beta + t - 1)


def derl(alpha: float, beta: float, discount_rate: float, n) -> np.ndarray:
    """Discounted expected residual lifetime, in periods, of a subscriber who has made ``n - 1`` renewals.

    FH (2010) eq. 6: ``DERL = (beta + n - 1) / (alpha + beta + n - 1) * 2F1(1, beta + n; alpha + beta + n; 1 / (1 + d))``:
    the expected number of further payments (the next one, at the end of period ``n``, undiscounted),
    each discounted by ``(1 + d)`` per period. Times the value per period it is the residual value.

    Example
    -------
    >>> round(float(derl(1.0, 1.0, 0.1, 1)), 3)  # = sum_{t>=1} S(t) / 1.1^(t-1) for alpha = beta = 1
    1.801
    """
    if not np.isfinite(discount_rate) or discount_rate <= 0:
        raise ParameterError(f"discount_rate: got {discount_rate!r}, expected a rate per period > 0 (e.g. 0.1).")
    n = np.asarray(n, float)
    return (beta + n - 1) / (alpha + beta + n - 1) * hyp2f1(1.0, beta + n, alpha + beta + n, 1 / (1 + discount_rate))


def residual_value(alpha: float, beta: float, discount_rate: float, tenure, value_per_period: float = 1.0) -> np.ndarray:
    """Expected discounted value still to come from a subscriber alive after ``tenure`` periods.

    A subscriber with tenure ``k`` (``k`` renewals made, still running) is ``n = k + 1`` in DERL's terms.
    """
    return value_per_period * derl(alpha, beta, discount_rate, np.asarray(tenure, float) + 1)


def sbg_loglik(theta, churned, censored) -> float:
    """sBG log-likelihood of survivor counts; ``theta`` is ``log(alpha, beta)``.

    ``sum_t churned_t log P(T = t) + sum_t censored_t log S(t)`` (FH 2007 eq. 6, with observation
    ending at different ``t`` for different subscribers, as in a base of many cohorts).
    """
    alpha, beta = np.exp(theta)
    t = np.arange(1, len(churned) + 1)
    out = float(np.dot(churned, betaln(alpha + 1, beta + t - 1)) + np.dot(censored, betaln(alpha, beta + np.arange(len(censored)))))
    return out - (churned.sum() + censored.sum()) * float(betaln(alpha, beta))


def _sbg_gradient(theta, churned, censored) -> np.ndarray:
    """Gradient of :func:`sbg_loglik` in ``log(alpha, beta)``."""
    alpha, beta = np.exp(theta)
    t, u = np.arange(1, len(churned) + 1), np.arange(len(censored))
    n = churned.sum() + censored.sum()
    pc, pu = psi(alpha + beta + t), psi(alpha + beta + u)
    d_a = np.dot(churned, psi(alpha + 1) - pc) + np.dot(censored, psi(alpha) - pu) - n * (psi(alpha) - psi(alpha + beta))
    d_b = np.dot(churned, psi(beta + t - 1) - pc) + np.dot(censored, psi(beta + u) - pu) - n * (psi(beta) - psi(alpha + beta))
    return np.array([d_a * alpha, d_b * beta])


# --------------------------------------------------------------------------- fitting
@dataclass(frozen=True)
class SBGFit:
    """A fitted sBG: parameters, standard errors (delta method on log-parameters) and fit facts."""

    alpha: float
    beta: float
    alpha_se: float
    beta_se: float
    log_likelihood: float
    n_customers: int
    n_churned: int
    periods: int  # longest observed tenure (K)
    converged: bool

    def survival(self, t) -> np.ndarray:
        return survival(self.alpha, self.beta, t)

    def retention_rate(self, t) -> np.ndarray:
        return retention_rate(self.alpha, self.beta, t)

    def derl(self, discount_rate: float, n) -> np.ndarray:
        return derl(self.alpha, self.beta, discount_rate, n)

    def projection(self, periods: int = 5) -> pd.DataFrame:
        """Projected survival and retention rate for the ``periods`` periods after the last one observed."""
        t = np.arange(self.periods + 1, self.periods + 1 + int(periods))
        return pd.DataFrame({"period": t, "survival": self.survival(t), "retention_rate": self.retention_rate(t)})

    def summary(self) -> pd.DataFrame:
        return pd.DataFrame({"parameter": ["alpha", "beta"], "estimate": [self.alpha, self.beta],
                             "std_error": [self.alpha_se, self.beta_se]})

    def to_dict(self) -> dict:
        return {"alpha": self.alpha, "beta": self.beta, "standard_errors": {"alpha": self.alpha_se, "beta": self.beta_se},
                "log_likelihood": self.log_likelihood, "n_customers": self.n_customers, "n_churned": self.n_churned,
                "periods": self.periods}


def _hessian(f, theta, h=1e-4):
    k = len(theta)
    H = np.empty((k, k))
    for i in range(k):
        for j in range(k):
            ei, ej = np.eye(k)[i] * h, np.eye(k)[j] * h
            H[i, j] = (f(theta + ei + ej) - f(theta + ei - ej) - f(theta - ei + ej) + f(theta - ei - ej)) / (4 * h * h)
    return H


def fit_sbg(churned, censored) -> SBGFit:
    """Maximum-likelihood sBG fit on counts (L-BFGS-B on log-parameters, Hessian standard errors).

    Parameters
    ----------
    churned : array
        ``churned[t - 1]``: contracts that ended in period ``t``, t = 1..K.
    censored : array
        ``censored[t]``: contracts still running when their observation ended at ``t``, t = 0..K.

    Raises
    ------
    ModelError
        ``too_few_periods`` (fewer than :data:`MIN_PERIODS` observed periods with subscribers at
        risk), ``no_churn`` (no contract ended: the churn chances cannot be estimated) or
        ``boundary_fit`` (a parameter ran to the edge of its space: no proper maximum).

    Example
    -------
    >>> fit = fit_sbg(*counts_from_survivors([1000, 869, 743, 653, 593, 551, 517, 491]))
    >>> round(fit.alpha, 3), round(fit.beta, 3)
    (0.668, 3.806)
    """
    churned, censored = _check_counts(churned, censored)
    at_risk = churned[::-1].cumsum()[::-1] + censored[::-1].cumsum()[::-1][1:]  # at risk in period t = 1..K
    periods = int(np.flatnonzero(at_risk > 0).max() + 1) if np.any(at_risk > 0) else 0
    n, n_churned = int(round(churned.sum() + censored.sum())), int(round(churned.sum()))
    facts = {"periods": periods, "minimum_periods": MIN_PERIODS, "customers": n, "churned": n_churned}
    if periods < MIN_PERIODS:
        raise ModelError(f"sBG: only {periods} complete period(s) after signup observed; the fit needs at least "
                         f"{MIN_PERIODS}.", reason="too_few_periods", facts=facts)
    if n_churned < MIN_CHURNED:
        raise ModelError("sBG: no contract ended in the periods observed, so the chances of ending cannot be estimated.",
                         reason="no_churn", facts=facts)

    def neg(theta):
        return -sbg_loglik(theta, churned, censored) / n

    def fun(theta):
        return neg(theta), -_sbg_gradient(theta, churned, censored) / n

    best = None
    for start in ((0.0, 0.0), (np.log(0.5), np.log(2.0)), (1.0, 2.0)):
        with np.errstate(all="ignore"), threadpool_limits(1):  # 2 parameters: a threaded BLAS only stalls
            out = minimize(fun, np.array(start), jac=True, method="L-BFGS-B", bounds=[(-LOG_BOUND, LOG_BOUND)] * 2,
                           options={"ftol": 1e-15, "gtol": 1e-10, "maxiter": 1000})
        if np.isfinite(out.fun) and (best is None or out.fun < best.fun):
            best = out
    theta = best.x
    if np.any(np.abs(theta) >= LOG_BOUND - 1e-3):
        k = "alpha" if abs(theta[0]) >= LOG_BOUND - 1e-3 else "beta"
        raise ModelError(f"sBG: the fit ran to the boundary of the parameter space ({k} = {np.exp(theta[0 if k == 'alpha' else 1]):.3g}); "
                         "every subscriber seems to have the same chance of ending, which the model cannot estimate.",
                         reason="boundary_fit", facts={**facts, "parameter": k})
    with np.errstate(all="ignore"):
        H = _hessian(neg, theta) * n
        ok = bool(np.all(np.isfinite(H)) and np.linalg.eigvalsh(H).min() > 0)
        se_log = np.sqrt(np.diag(np.linalg.inv(H))) if ok else np.full(2, np.nan)
    alpha, beta = np.exp(theta)
    return SBGFit(float(alpha), float(beta), float(alpha * se_log[0]), float(beta * se_log[1]),
                  float(-best.fun * n), n, n_churned, periods, bool(best.success and ok))


def fit_survivors(survivors) -> SBGFit:
    """:func:`fit_sbg` on one cohort's survivor counts (``survivors[0]`` = the cohort's size)."""
    return fit_sbg(*counts_from_survivors(survivors))


# --------------------------------------------------------------------------- holdout
@dataclass(frozen=True)
class RetentionHoldout:
    """Fit on the first ``calibration_periods`` periods, projection against the rest as observed."""

    fit: SBGFit
    calibration_periods: int
    comparison: pd.DataFrame  # period, observed, projected (shares of the cohort), error

    @property
    def mean_absolute_error(self) -> float:
        return float(self.comparison["error"].abs().mean())

    def to_dict(self) -> dict:
        return {"calibration_periods": self.calibration_periods, "alpha": self.fit.alpha, "beta": self.fit.beta,
                "mean_absolute_error": self.mean_absolute_error,
                "comparison": [{"period": int(r.period), "observed": float(r.observed), "projected": float(r.projected)}
                               for r in self.comparison.itertuples()]}


def holdout_check(survivors, calibration_periods: int) -> RetentionHoldout:
    """Fit on survivors at ``t = 0..calibration_periods`` and compare the projection with ``t`` beyond.

    Example
    -------
    >>> h = holdout_check([1000, 631, 468, 382, 326, 289, 262, 241, 223, 207, 194, 183, 173], 7)
    >>> h.comparison["period"].tolist()[:2], h.mean_absolute_error < 0.01
    ([8, 9], True)
    """
    return holdout_counts(*counts_from_survivors(survivors), calibration_periods)


def holdout_counts(churned, censored, calibration_periods: int) -> RetentionHoldout:
    """:func:`holdout_check` on counts whose observation ends at different tenures (a base of many cohorts).

    The calibration data is the same subscribers seen only up to ``calibration_periods``: endings after
    it and observation beyond it become "still running at ``calibration_periods``". The projection is
    compared with the observed (product-limit) survival of the later periods.
    """
    churned, censored = _check_counts(churned, censored)
    K, k = len(churned), int(calibration_periods)
    if not MIN_PERIODS <= k <= K - 1:
        raise ParameterError(f"calibration_periods: got {calibration_periods!r}, expected {MIN_PERIODS}..{K - 1} "
                             f"for {K} observed periods.")
    cal_censored = censored[: k + 1].copy()
    cal_censored[k] += churned[k:].sum() + censored[k + 1:].sum()
    fit = fit_sbg(churned[:k], cal_censored)
    t = np.arange(k + 1, K + 1)
    observed, projected = kaplan_meier(churned, censored)[k + 1:], fit.survival(t)
    return RetentionHoldout(fit, k, pd.DataFrame({"period": t, "observed": observed, "projected": projected,
                                                  "error": projected - observed}))


def kaplan_meier(churned, censored) -> np.ndarray:
    """Observed share still subscribed at ``t = 0..K`` (product-limit: right for cohorts observed for different spans)."""
    churned, censored = _check_counts(churned, censored)
    at_risk = churned[::-1].cumsum()[::-1] + censored[::-1].cumsum()[::-1][1:]
    with np.errstate(all="ignore"):
        hazard = np.where(at_risk > 0, churned / at_risk, 0.0)
    return np.concatenate([[1.0], np.cumprod(1 - hazard)])


__all__ = ["SBGFit", "RetentionHoldout", "fit_sbg", "fit_survivors", "counts_from_survivors", "survival",
           "churn_probability", "retention_rate", "derl", "residual_value", "sbg_loglik", "holdout_check",
           "holdout_counts", "kaplan_meier", "MIN_PERIODS"]
