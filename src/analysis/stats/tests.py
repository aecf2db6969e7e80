"""Frequentist comparisons of two arms: proportions, means, bootstrap, CUPED, sample ratio and multiple testing.

Where scipy or statsmodels computes a test (Welch, Wilson/Newcombe, the z-test, chi-square, Holm/BH)
it is called here; every test returns a small frozen result in no language.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import (confint_proportions_2indep, proportions_ztest,
                                          test_proportions_2indep)

from analysis.errors import ParameterError
from analysis.stats.proportions import wilson_interval
from analysis.stats.results import Result, check_alpha, check_counts, check_margin, summary_table

__all__ = ["ProportionTest", "MeanTest", "BootstrapResult", "SrmResult", "CupedResult", "wilson_interval", "ratio_interval",
           "two_proportion_test", "welch_test", "bootstrap_difference", "srm_test", "adjust_p_values", "cuped_test",
           "SRM_THRESHOLD"]

SRM_THRESHOLD = 0.001  # a sample ratio mismatch this strong withholds the verdict (common industry practice)


# --- frequentist tests ------------------------------------------------------
def ratio_interval(conversions_1: int, n_1: int, conversions_2: int, n_2: int,
                   alpha: float = 0.05) -> tuple[float, float]:
    """Interval for the ratio of two proportions ``p1 / p2`` by MOVER-R from the Wilson intervals.

    The MOVER-R limits of Donner & Zou (2012, Stat Methods Med Res 21: 347-359; see Newcombe 2016,
    Stat Methods Med Res 25: 1774-1778), both proportions positive, ``(l_i, u_i)`` the Wilson
    interval of ``p_i``::

        L = (p1 p2 - sqrt((p1 p2)^2 - l1 u2 (2 p1 - l1)(2 p2 - u2))) / (u2 (2 p2 - u2))
        U = (p1 p2 + sqrt((p1 p2)^2 - u1 l2 (2 p1 - u1)(2 p2 - l2))) / (l2 (2 p2 - l2))

    It stays valid where the delta method has no variance (a rate of 0 or 1). ``p2`` must be > 0.

    Example
    -------
    >>> [round(x, 4) for x in ratio_interval(100, 100, 100, 100)]  # everyone converted in both arms
    [0.963, 1.0384]
    """
    if conversions_2 <= 0:
        raise ParameterError("ratio_interval: the denominator's proportion is 0, so the ratio has no value.")
    p1, p2 = conversions_1 / n_1, conversions_2 / n_2
    l1, u1 = wilson_interval(conversions_1, n_1, alpha)
    l2, u2 = wilson_interval(conversions_2, n_2, alpha)
    pp = p1 * p2
    low = (pp - math.sqrt(max(pp**2 - l1 * u2 * (2 * p1 - l1) * (2 * p2 - u2), 0.0))) / (u2 * (2 * p2 - u2))
    high = (pp + math.sqrt(max(pp**2 - u1 * l2 * (2 * p1 - u1) * (2 * p2 - l2), 0.0))) / (l2 * (2 * p2 - l2))
    return float(low), float(high)


@dataclass(frozen=True)
class ProportionTest(Result):
    """Two-proportion comparison, treatment ``b`` against control ``a``.

    ``estimate`` is the difference in conversion rate ``rate_b - rate_a`` (percentage points as a
    fraction), with a Newcombe hybrid score interval; ``relative_lift`` is ``rate_b / rate_a - 1``
    with a delta-method interval (MOVER-R, :func:`ratio_interval`, when a rate is 0 or 1 and the
    delta method has no variance); ``p_value`` is the pooled two-sided z-test (1 when every customer,
    or none, converted in both arms: nothing tells the arms apart).
    """

    conversions_a: int
    n_a: int
    conversions_b: int
    n_b: int
    rate_a: float
    rate_b: float
    estimate: float
    ci_low: float
    ci_high: float
    z: float
    p_value: float
    relative_lift: float
    lift_ci_low: float
    lift_ci_high: float
    alpha: float
    margin: float | None = None
    noninferiority_p_value: float | None = None

    @property
    def significant(self) -> bool:
        return self.p_value < self.alpha

    @property
    def noninferior(self) -> bool | None:
        """True when the treatment is shown to be no worse than control by more than ``margin``."""
        return None if self.noninferiority_p_value is None else self.noninferiority_p_value < self.alpha

    def summary(self) -> pd.DataFrame:
        return summary_table({
            "rate_a": [self.rate_a, *wilson_interval(self.conversions_a, self.n_a, self.alpha), np.nan],
            "rate_b": [self.rate_b, *wilson_interval(self.conversions_b, self.n_b, self.alpha), np.nan],
            "difference": [self.estimate, self.ci_low, self.ci_high, self.p_value],
            "relative_lift": [self.relative_lift, self.lift_ci_low, self.lift_ci_high, self.p_value],
        })


def two_proportion_test(conversions_a: int, n_a: int, conversions_b: int, n_b: int, alpha: float = 0.05,
                        margin: float | None = None) -> ProportionTest:
    """Compare conversion rates of control ``a`` and treatment ``b``.

    Parameters
    ----------
    conversions_a, n_a : int
        Converted customers and all customers in the control arm.
    conversions_b, n_b : int
        The same for the treatment arm.
    alpha : float
        Two-sided significance level; intervals are ``1 - alpha``.
    margin : float, optional
        Non-inferiority margin (absolute, e.g. 0.01 = one percentage point). When given,
        ``noninferiority_p_value`` tests H0: ``rate_b - rate_a <= -margin`` with an unpooled
        one-sided z-test (statsmodels ``test_proportions_2indep``, Wald; the score test when every
        customer, or none, converted in both arms and Wald has no variance).

    Returns
    -------
    ProportionTest
        Difference ``rate_b - rate_a`` with Newcombe's hybrid score interval (method 10 of
        Newcombe 1998; statsmodels ``confint_proportions_2indep(method="newcomb")``), the pooled
        z-test p-value (statsmodels ``proportions_ztest``) and the relative lift with a
        delta-method interval.

    Example
    -------
    >>> r = two_proportion_test(48, 80, 56, 70)
    >>> round(r.ci_low, 4), round(r.ci_high, 4)
    (0.0524, 0.3339)
    """
    alpha = check_alpha(alpha)
    check_counts(conversions_a, n_a, "control")
    check_counts(conversions_b, n_b, "treatment")
    check_margin(margin)
    pa, pb = conversions_a / n_a, conversions_b / n_b
    diff = pb - pa
    ci_low, ci_high = (float(x) for x in confint_proportions_2indep(
        conversions_b, n_b, conversions_a, n_a, method="newcomb", compare="diff", alpha=alpha))
    pooled = (conversions_a + conversions_b) / (n_a + n_b)
    if 0 < pooled < 1:
        z, p_value = (float(x) for x in proportions_ztest([conversions_b, conversions_a], [n_b, n_a]))
    else:  # nobody (or everybody) converted in both arms: no evidence of any difference
        z, p_value = 0.0, 1.0
    # relative lift rate_b / rate_a - 1, delta method on the ratio
    zc = stats.norm.ppf(1 - alpha / 2)
    var_a, var_b = pa * (1 - pa) / n_a, pb * (1 - pb) / n_b
    if pa > 0 and (pa == 1 or pb in (0, 1)):
        # an arm where everyone (or nobody) converted has no Wald variance: the delta method would give a
        # zero-width interval, so the ratio's interval comes from the arms' Wilson intervals (MOVER-R)
        lift = pb / pa - 1
        ratio_lo, ratio_hi = ratio_interval(conversions_b, n_b, conversions_a, n_a, alpha)
        lift_lo, lift_hi = ratio_lo - 1, ratio_hi - 1
    elif pa > 0:
        lift = pb / pa - 1
        se_lift = math.sqrt(var_b / pa**2 + pb**2 * var_a / pa**4)
        lift_lo, lift_hi = lift - zc * se_lift, lift + zc * se_lift
    else:
        lift = lift_lo = lift_hi = float("nan")
    ni_p = None
    if margin is not None:
        # everyone (or nobody) converted in both arms: Wald has no variance and would call any margin ruled out;
        # the score test (Farrington-Manning, variance under the null) still measures the arms' sizes
        method = "wald" if var_a + var_b > 0 else "score"
        with np.errstate(divide="ignore", invalid="ignore"):
            ni_p = float(test_proportions_2indep(conversions_b, n_b, conversions_a, n_a, value=-margin, method=method,
                                                 compare="diff", alternative="larger", correction=False).pvalue)
    return ProportionTest(conversions_a, n_a, conversions_b, n_b, pa, pb, diff, ci_low, ci_high, z, p_value,
                          lift, lift_lo, lift_hi, alpha, margin, ni_p)


@dataclass(frozen=True)
class MeanTest(Result):
    """Welch comparison of means, treatment ``b`` minus control ``a`` (e.g. revenue per customer)."""

    n_a: int
    n_b: int
    mean_a: float
    mean_b: float
    estimate: float
    ci_low: float
    ci_high: float
    t: float
    df: float
    p_value: float
    std_error: float
    alpha: float
    margin: float | None = None
    noninferiority_p_value: float | None = None

    @property
    def significant(self) -> bool:
        return self.p_value < self.alpha

    @property
    def relative_lift(self) -> float:
        return self.mean_b / self.mean_a - 1 if self.mean_a else float("nan")

    def summary(self) -> pd.DataFrame:
        return summary_table({
            "mean_a": [self.mean_a, np.nan, np.nan, np.nan],
            "mean_b": [self.mean_b, np.nan, np.nan, np.nan],
            "difference": [self.estimate, self.ci_low, self.ci_high, self.p_value],
        })


def _as_values(values, arm: str) -> np.ndarray:
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    if x.size < 2:
        raise ParameterError(f"{arm}: got {x.size} values, expected at least 2 to estimate a variance.")
    return x


def welch_test(values_a, values_b, alpha: float = 0.05, margin: float | None = None) -> MeanTest:
    """Welch's unequal-variance t-test and interval for ``mean(b) - mean(a)`` (scipy ``ttest_ind``).

    Parameters
    ----------
    values_a, values_b : array-like
        One value per customer (e.g. revenue in the window) for control and treatment.
    alpha : float
        Two-sided level.
    margin : float, optional
        Non-inferiority margin in the values' units: H0 ``mean_b - mean_a <= -margin``.

    Returns
    -------
    MeanTest

    Example
    -------
    >>> r = welch_test([0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0],
    ...                [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4])
    >>> round(r.p_value, 5)
    0.07939
    """
    alpha = check_alpha(alpha)
    check_margin(margin)
    a, b = _as_values(values_a, "control"), _as_values(values_b, "treatment")
    se = math.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
    diff = float(b.mean() - a.mean())
    if se == 0:  # every customer in both arms has the same value: nothing to test
        ni_p = None if margin is None else float(diff + margin <= 0)
        return MeanTest(a.size, b.size, float(a.mean()), float(b.mean()), diff, diff, diff, 0.0,
                        float(a.size + b.size - 2), 1.0, 0.0, alpha, margin, ni_p)
    res = stats.ttest_ind(b, a, equal_var=False)
    ci = res.confidence_interval(1 - alpha)
    ni_p = None
    if margin is not None:  # shifting b by the margin tests mean_b + margin - mean_a <= 0, same variance
        ni_p = float(stats.ttest_ind(b + margin, a, equal_var=False, alternative="greater").pvalue)
    return MeanTest(a.size, b.size, float(a.mean()), float(b.mean()), diff, float(ci.low), float(ci.high),
                    float(res.statistic), float(res.df), float(res.pvalue), se, alpha, margin, ni_p)


@dataclass(frozen=True)
class BootstrapResult(Result):
    """Percentile bootstrap interval for ``statistic(b) - statistic(a)``."""

    estimate: float
    ci_low: float
    ci_high: float
    p_value: float
    n_boot: int
    seed: int
    alpha: float

    def summary(self) -> pd.DataFrame:
        return summary_table({"difference": [self.estimate, self.ci_low, self.ci_high, self.p_value]})


def bootstrap_difference(values_a, values_b, alpha: float = 0.05, n_boot: int = 2000, seed: int = 0,
                         statistic=np.mean) -> BootstrapResult:
    """Bootstrap interval for a difference of a statistic (default mean), robust to skewed revenue.

    Each arm is resampled with replacement on its own (stratified bootstrap). The p-value is the
    two-sided share of bootstrap differences on the other side of zero.

    Example
    -------
    >>> r = bootstrap_difference([0, 0, 10, 0, 50], [0, 20, 0, 30, 40], seed=1)
    >>> r.ci_low < r.estimate < r.ci_high
    True
    """
    alpha = check_alpha(alpha)
    a, b = _as_values(values_a, "control"), _as_values(values_b, "treatment")
    rng = np.random.default_rng(seed)
    est = float(statistic(b) - statistic(a))
    # resample in blocks to keep memory bounded on large arms
    diffs = np.empty(n_boot)
    block = max(1, int(2e7 // max(a.size, b.size)))
    for start in range(0, n_boot, block):
        k = min(block, n_boot - start)
        ia = rng.integers(0, a.size, size=(k, a.size))
        ib = rng.integers(0, b.size, size=(k, b.size))
        diffs[start:start + k] = statistic(b[ib], axis=1) - statistic(a[ia], axis=1)
    lo, hi = np.quantile(diffs, [alpha / 2, 1 - alpha / 2])
    p = min(1.0, 2 * min((diffs <= 0).mean(), (diffs >= 0).mean()))
    return BootstrapResult(est, float(lo), float(hi), float(p), n_boot, seed, alpha)


@dataclass(frozen=True)
class SrmResult(Result):
    """Sample ratio mismatch check: chi-square goodness of fit against the planned split."""

    observed: tuple
    expected: tuple
    statistic: float
    df: int
    p_value: float
    threshold: float = SRM_THRESHOLD

    @property
    def mismatch(self) -> bool:
        """True when the arms' sizes are too far from the plan to trust randomisation."""
        return self.p_value < self.threshold

    def summary(self) -> pd.DataFrame:
        return pd.DataFrame({"observed": self.observed, "expected": self.expected})


def srm_test(observed_counts: Sequence[int], expected_shares: Sequence[float],
             threshold: float = SRM_THRESHOLD) -> SrmResult:
    """Chi-square test (scipy ``chisquare``) of observed arm sizes against the planned shares.

    Parameters
    ----------
    observed_counts : sequence of int
        Customers per arm.
    expected_shares : sequence of float
        Planned share per arm (normalised to sum to 1).
    threshold : float
        ``mismatch`` is flagged when ``p_value < threshold`` (default 0.001).

    Example
    -------
    >>> srm_test([5000, 5200], [0.5, 0.5]).mismatch
    False
    """
    obs = np.asarray(observed_counts, dtype=float)
    shares = np.asarray(expected_shares, dtype=float)
    if obs.shape != shares.shape or obs.size < 2:
        raise ParameterError(
            f"srm_test: got {obs.size} counts and {shares.size} shares, expected the same number (at least 2)."
        )
    if (shares <= 0).any() or not np.isfinite(shares).all():
        raise ParameterError("srm_test: planned shares must all be positive numbers.")
    expected = shares / shares.sum() * obs.sum()
    res = stats.chisquare(obs, f_exp=expected)
    return SrmResult(tuple(int(x) for x in obs), tuple(float(x) for x in expected), float(res.statistic),
                     obs.size - 1, float(res.pvalue), threshold)


def adjust_p_values(p_values, method: str = "holm", alpha: float = 0.05) -> pd.DataFrame:
    """Holm (family-wise error) or Benjamini-Hochberg (false discovery rate) adjusted p-values.

    Computed by statsmodels ``multipletests`` (``holm`` / ``fdr_bh``).

    Parameters
    ----------
    p_values : sequence of float or pd.Series
        One p-value per metric or variant (a Series keeps its labels).
    method : {"holm", "bh"}
    alpha : float

    Returns
    -------
    pd.DataFrame
        Columns ``p_value``, ``p_adjusted``, ``reject``.

    Example
    -------
    >>> adjust_p_values([0.01, 0.04, 0.03], "holm")["p_adjusted"].round(2).tolist()
    [0.03, 0.06, 0.06]
    """
    alpha = check_alpha(alpha)
    methods = {"holm": "holm", "bh": "fdr_bh", "fdr_bh": "fdr_bh"}
    if method not in methods:
        raise ParameterError(f"method: got {method!r}, expected 'holm' or 'bh'.")
    p = pd.Series(p_values, dtype=float)
    if p.empty:
        return pd.DataFrame({"p_value": [], "p_adjusted": [], "reject": []}, index=p.index)
    reject, adjusted, _, _ = multipletests(p.to_numpy(), alpha=alpha, method=methods[method])
    return pd.DataFrame({"p_value": p.to_numpy(), "p_adjusted": adjusted, "reject": reject}, index=p.index)

# --- variance reduction -----------------------------------------------------
@dataclass(frozen=True)
class CupedResult(Result):
    """CUPED-adjusted comparison: ``y - theta (x - mean x)`` then Welch."""

    theta: float
    variance_reduction: float
    adjusted: MeanTest
    unadjusted: MeanTest

    @property
    def estimate(self) -> float:
        return self.adjusted.estimate

    @property
    def ci_low(self) -> float:
        return self.adjusted.ci_low

    @property
    def ci_high(self) -> float:
        return self.adjusted.ci_high

    @property
    def p_value(self) -> float:
        return self.adjusted.p_value

    def summary(self) -> pd.DataFrame:
        out = summary_table({
            "unadjusted": [self.unadjusted.estimate, self.unadjusted.ci_low, self.unadjusted.ci_high, self.unadjusted.p_value],
            "cuped": [self.estimate, self.ci_low, self.ci_high, self.p_value],
        })
        out["std_error"] = [self.unadjusted.std_error, self.adjusted.std_error]
        return out


def cuped_test(values_a, covariate_a, values_b, covariate_b, alpha: float = 0.05,
               margin: float | None = None) -> CupedResult:
    """Welch test on CUPED-adjusted outcomes using a pre-period covariate (Deng et al. 2013).

    ``theta = cov(x, y) / var(x)`` on both arms pooled; ``variance_reduction`` is the share of
    the outcome's variance removed (``1 - var(y_cuped) / var(y)``, about ``corr(x, y)^2``).

    Example
    -------
    >>> rng = np.random.default_rng(0); x = rng.gamma(2, 10, 400); y = x + rng.normal(0, 5, 400)
    >>> r = cuped_test(y[:200], x[:200], y[200:], x[200:])
    >>> r.variance_reduction > 0.5
    True
    """
    ya, yb = np.asarray(values_a, float), np.asarray(values_b, float)
    xa, xb = np.asarray(covariate_a, float), np.asarray(covariate_b, float)
    if ya.shape != xa.shape or yb.shape != xb.shape:
        raise ParameterError("cuped_test: each arm needs one covariate value per outcome value.")
    y, x = np.concatenate([ya, yb]), np.concatenate([xa, xb])
    vx = x.var(ddof=1)
    theta = float(np.cov(x, y, ddof=1)[0, 1] / vx) if vx > 0 else 0.0
    mx = x.mean()
    adj_a, adj_b = ya - theta * (xa - mx), yb - theta * (xb - mx)
    vy = y.var(ddof=1)
    vr = float(1 - np.concatenate([adj_a, adj_b]).var(ddof=1) / vy) if vy > 0 else 0.0
    return CupedResult(theta, vr, welch_test(adj_a, adj_b, alpha, margin), welch_test(ya, yb, alpha, margin))
