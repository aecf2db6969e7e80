"""A/B tests and campaign experiments: guards, tests, planner, CUPED, Bayesian and sequential views.

Every test returns a small frozen result object (estimate, interval, p-value, ``summary()``,
``to_dict()``), in no language; the words of a campaign's final report are made from these
results in :mod:`analysis.report.pages.experiments`. Where scipy or statsmodels computes a test
(Welch, Wilson/Newcombe, the z-test, chi-square, Holm/BH, power) it is called here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from analysis.customers.table import is_purchase_sql
from analysis.errors import DataError, ModelError, ParameterError

__all__ = [
    "ProportionTest", "MeanTest", "BootstrapResult", "SrmResult", "CupedResult", "BayesResult",
    "SequentialResult", "RetentionComparison", "CampaignBrief",
    "wilson_interval", "two_proportion_test", "welch_test", "bootstrap_difference", "srm_test", "adjust_p_values",
    "sample_size_proportions", "mde_proportions", "power_proportions", "sample_size_means", "mde_means",
    "cuped_test", "bayes_proportions", "msprt", "simulate_peeking", "compare_retention",
    "Guard", "ExperimentResult", "CampaignReport", "experiment_ids", "experiment_outcomes", "check_guards",
    "arm_table", "sequential_looks", "analyse_experiment", "campaign_brief", "campaign_report",
    "ended_experiments", "headline", "VERDICTS",
]

AUTO_CONVERSION_BELOW = 0.35  # win-back audiences: judge on conversion; regular buyers: on revenue
PLANNER_RELATIVE_MDE = 0.2  # the planner's default target: a 20 % relative increase
SRM_THRESHOLD = 0.001  # a sample ratio mismatch this strong withholds the verdict (common industry practice)
SRM_WARNING = 0.01  # weaker evidence of a mismatch: the verdict stands, the check reads as a warning
MIN_CUSTOMERS_TO_ESTIMATE = 2  # per arm: fewer leaves no variance to test with (a finding, not a verdict)

#: Verdict codes of :class:`ExperimentResult` (the report layer has the words for each).
VERDICTS = ("better", "worse", "no_difference", "non_inferior", "withheld")


def _check_alpha(alpha: float) -> float:
    if not 0 < alpha < 1:
        raise ParameterError(f"alpha: got {alpha!r}, expected a number between 0 and 1 (e.g. 0.05).")
    return float(alpha)


def _check_counts(conversions: int, n: int, arm: str) -> None:
    if n <= 0 or conversions < 0 or conversions > n:
        raise ParameterError(
            f"{arm}: got {conversions} conversions out of {n} customers, expected 0 <= conversions <= customers and customers > 0."
        )


def _check_margin(margin: float | None) -> None:
    if margin is not None and margin < 0:
        raise ParameterError(f"margin: got {margin!r}, expected a non-negative number (how much worse is acceptable).")


def _rows(rows: dict) -> pd.DataFrame:
    """Tidy summary: one row per quantity, columns estimate / ci_low / ci_high / p_value."""
    return pd.DataFrame.from_dict(rows, orient="index", columns=["estimate", "ci_low", "ci_high", "p_value"])


def _plain(value):
    """JSON-able plain value: numpy scalars to Python, NaN to None, frames to records, results to dicts."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if hasattr(value, "to_dict") and not isinstance(value, (pd.DataFrame, pd.Series)):
        return value.to_dict()
    if isinstance(value, pd.DataFrame):
        return [{str(k): _plain(v) for k, v in row.items()} for row in value.reset_index().to_dict(orient="records")]
    if isinstance(value, pd.Series):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (pd.Timestamp, np.datetime64)):
        return str(pd.Timestamp(value))
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if not np.isfinite(value) else float(value)
    if value is pd.NA:
        return None
    return value


class _Result:
    """What every result shares: ``to_dict()`` of plain values and a table in JupyterLab (each result
    defines its own tidy ``summary()``)."""

    def to_dict(self) -> dict:
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}

    def _repr_html_(self) -> str:
        return f"<p><strong>{type(self).__name__}</strong></p>" + self.summary().to_html(float_format=lambda x: f"{x:.4g}")


# --- frequentist tests ------------------------------------------------------
def wilson_interval(conversions: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson score interval for one proportion (no continuity correction; statsmodels ``proportion_confint``).

    Example
    -------
    >>> [round(x, 4) for x in wilson_interval(48, 80)]
    [0.4905, 0.7004]
    """
    from statsmodels.stats.proportion import proportion_confint

    lo, hi = proportion_confint(conversions, n, alpha=alpha, method="wilson")
    return float(lo), float(hi)


@dataclass(frozen=True)
class ProportionTest(_Result):
    """Two-proportion comparison, treatment ``b`` against control ``a``.

    ``estimate`` is the difference in conversion rate ``rate_b - rate_a`` (percentage points as a
    fraction), with a Newcombe hybrid score interval; ``relative_lift`` is ``rate_b / rate_a - 1``
    with a delta-method interval; ``p_value`` is the pooled two-sided z-test.
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
        return _rows({
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
        one-sided z-test (statsmodels ``test_proportions_2indep``, Wald).

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
    from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest, test_proportions_2indep

    alpha = _check_alpha(alpha)
    _check_counts(conversions_a, n_a, "control")
    _check_counts(conversions_b, n_b, "treatment")
    _check_margin(margin)
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
    if pa > 0:
        lift = pb / pa - 1
        se_lift = math.sqrt(var_b / pa**2 + pb**2 * var_a / pa**4)
        lift_lo, lift_hi = lift - zc * se_lift, lift + zc * se_lift
    else:
        lift = lift_lo = lift_hi = float("nan")
    ni_p = None
    if margin is not None:
        if var_a + var_b > 0:
            ni_p = float(test_proportions_2indep(conversions_b, n_b, conversions_a, n_a, value=-margin, method="wald",
                                                 compare="diff", alternative="larger", correction=False).pvalue)
        else:
            ni_p = float(diff + margin <= 0)
    return ProportionTest(conversions_a, n_a, conversions_b, n_b, pa, pb, diff, ci_low, ci_high, z, p_value,
                          lift, lift_lo, lift_hi, alpha, margin, ni_p)


@dataclass(frozen=True)
class MeanTest(_Result):
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
        return _rows({
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
    alpha = _check_alpha(alpha)
    _check_margin(margin)
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
class BootstrapResult(_Result):
    """Percentile bootstrap interval for ``statistic(b) - statistic(a)``."""

    estimate: float
    ci_low: float
    ci_high: float
    p_value: float
    n_boot: int
    seed: int
    alpha: float

    def summary(self) -> pd.DataFrame:
        return _rows({"difference": [self.estimate, self.ci_low, self.ci_high, self.p_value]})


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
    alpha = _check_alpha(alpha)
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
class SrmResult(_Result):
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
    from statsmodels.stats.multitest import multipletests

    alpha = _check_alpha(alpha)
    methods = {"holm": "holm", "bh": "fdr_bh", "fdr_bh": "fdr_bh"}
    if method not in methods:
        raise ParameterError(f"method: got {method!r}, expected 'holm' or 'bh'.")
    p = pd.Series(p_values, dtype=float)
    if p.empty:
        return pd.DataFrame({"p_value": [], "p_adjusted": [], "reject": []}, index=p.index)
    reject, adjusted, _, _ = multipletests(p.to_numpy(), alpha=alpha, method=methods[method])
    return pd.DataFrame({"p_value": p.to_numpy(), "p_adjusted": adjusted, "reject": reject}, index=p.index)


# --- planner ----------------------------------------------------------------
def _check_rates(baseline: float, mde_abs: float) -> float:
    p2 = baseline + mde_abs
    if not 0 < baseline < 1 or not 0 < p2 < 1 or mde_abs == 0:
        raise ParameterError(
            f"baseline {baseline!r} and mde_abs {mde_abs!r}: expected 0 < baseline < 1, a non-zero effect "
            "and baseline + mde_abs between 0 and 1."
        )
    return p2


def _check_power(power: float) -> None:
    if not 0 < power < 1:
        raise ParameterError(f"power: got {power!r}, expected a number between 0 and 1 (e.g. 0.8).")


def power_proportions(baseline: float, mde_abs: float, n: float, alpha: float = 0.05) -> float:
    """Power of the two-sided two-proportion test with ``n`` customers per arm.

    statsmodels ``power_proportions_2indep`` (pooled variance under H0, unpooled under H1), which
    is what R's ``power.prop.test`` computes.

    Example
    -------
    >>> round(power_proportions(0.5, 0.25, 50), 3)
    0.74
    """
    from statsmodels.stats.proportion import power_proportions_2indep

    _check_rates(baseline, mde_abs)
    res = power_proportions_2indep(mde_abs, baseline, n, ratio=1, alpha=_check_alpha(alpha), return_results=True)
    return float(res.power)


def sample_size_proportions(baseline: float, mde_abs: float, alpha: float = 0.05, power: float = 0.8) -> int:
    """Customers per arm to detect an absolute change ``mde_abs`` in a conversion rate.

    The classic normal-approximation formula with the pooled variance under H0 and the unpooled
    variance under H1 (Fleiss, without continuity correction), as R's ``power.prop.test`` solves it
    (two-sided, ``strict = FALSE``); computed by statsmodels
    ``samplesize_proportions_2indep_onetail`` and rounded up::

        n = (z_{1-alpha/2} sqrt(2 pbar (1 - pbar)) + z_{power} sqrt(p1 q1 + p2 q2))^2 / (p2 - p1)^2

    ``NormalIndPower`` with Cohen's arcsine effect size gives a slightly different n; the two agree
    within a few percent for the small effects campaigns have.

    Example
    -------
    >>> sample_size_proportions(0.5, 0.25, power=0.9)
    77
    """
    from statsmodels.stats.proportion import samplesize_proportions_2indep_onetail

    _check_rates(baseline, mde_abs)
    _check_power(power)
    n = samplesize_proportions_2indep_onetail(mde_abs, baseline, power, ratio=1, alpha=_check_alpha(alpha),
                                              alternative="two-sided")
    return int(math.ceil(float(n) - 1e-9))


def mde_proportions(baseline: float, n: int, alpha: float = 0.05, power: float = 0.8) -> float:
    """Smallest absolute increase of a conversion rate detectable with ``n`` customers per arm.

    The reverse of :func:`sample_size_proportions` (the same power, solved for ``p2 - p1`` upward).

    Example
    -------
    >>> round(0.5 + mde_proportions(0.5, 50, power=0.9), 4)
    0.8026
    """
    if not 0 < baseline < 1 or n < 2:
        raise ParameterError(f"baseline {baseline!r}, n {n!r}: expected 0 < baseline < 1 and n >= 2.")
    f = lambda d: power_proportions(baseline, d, n, alpha) - power  # noqa: E731
    hi = 1 - baseline - 1e-9
    if f(hi) < 0:
        raise ParameterError(f"n: {n} customers per arm cannot reach power {power} at any effect from baseline {baseline}.")
    return float(optimize.brentq(f, 1e-9, hi, xtol=1e-12))


def sample_size_means(sd: float, mde: float, alpha: float = 0.05, power: float = 0.8) -> int:
    """Customers per arm to detect a difference ``mde`` in a mean (e.g. revenue per customer).

    statsmodels ``NormalIndPower().solve_power(mde / sd, ...)``, rounded up.

    Example
    -------
    >>> sample_size_means(sd=1.0, mde=0.5)
    63
    """
    from statsmodels.stats.power import NormalIndPower

    if sd <= 0 or mde == 0:
        raise ParameterError(f"sd {sd!r}, mde {mde!r}: expected a positive standard deviation and a non-zero effect.")
    _check_power(power)
    n = NormalIndPower().solve_power(effect_size=abs(mde) / sd, alpha=_check_alpha(alpha), power=power, ratio=1)
    return int(math.ceil(float(n) - 1e-9))


def mde_means(sd: float, n: int, alpha: float = 0.05, power: float = 0.8) -> float:
    """Smallest difference in means detectable with ``n`` customers per arm (reverse of :func:`sample_size_means`).

    Example
    -------
    >>> round(mde_means(sd=1.0, n=63), 3)
    0.499
    """
    from statsmodels.stats.power import NormalIndPower

    if sd <= 0 or n < 2:
        raise ParameterError(f"sd {sd!r}, n {n!r}: expected a positive standard deviation and n >= 2.")
    _check_power(power)
    effect = NormalIndPower().solve_power(nobs1=n, alpha=_check_alpha(alpha), power=power, ratio=1)
    return float(effect * sd)


# --- variance reduction -----------------------------------------------------
@dataclass(frozen=True)
class CupedResult(_Result):
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
        out = _rows({
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


# --- Bayesian view ----------------------------------------------------------
def _prob_greater(a1: float, b1: float, a2: float, b2: float) -> float:
    """P(X2 > X1) for X1 ~ Beta(a1, b1), X2 ~ Beta(a2, b2); exact sum when a2 is an integer."""
    if float(a2).is_integer() and a2 <= 200_000:
        i = np.arange(int(a2))
        terms = (special.betaln(a1 + i, b1 + b2) - np.log(b2 + i) - special.betaln(1 + i, b2)
                 - special.betaln(a1, b1))
        return float(np.clip(np.exp(special.logsumexp(terms)), 0.0, 1.0))
    from scipy import integrate

    f = lambda x: stats.beta.pdf(x, a2, b2) * stats.beta.cdf(x, a1, b1)  # noqa: E731
    return float(integrate.quad(f, 0, 1, limit=200)[0])


@dataclass(frozen=True)
class BayesResult(_Result):
    """Beta-binomial posterior comparison of two conversion rates."""

    posterior_a: tuple[float, float]
    posterior_b: tuple[float, float]
    prob_b_better: float
    expected_loss_b: float
    expected_loss_a: float
    estimate: float
    ci_low: float
    ci_high: float

    def summary(self) -> pd.DataFrame:
        return pd.DataFrame({
            "quantity": ["P(B > A)", "expected loss choosing B", "expected loss choosing A", "difference B - A"],
            "value": [self.prob_b_better, self.expected_loss_b, self.expected_loss_a, self.estimate],
            "ci_low": [np.nan, np.nan, np.nan, self.ci_low],
            "ci_high": [np.nan, np.nan, np.nan, self.ci_high],
        })


def bayes_proportions(conversions_a: int, n_a: int, conversions_b: int, n_b: int, prior: tuple[float, float] = (1.0, 1.0),
                      alpha: float = 0.05, seed: int = 0, n_draws: int = 100_000) -> BayesResult:
    """P(treatment beats control) and expected loss with Beta priors (default uniform).

    ``prob_b_better`` is exact (Evan Miller's closed form); ``expected_loss_b`` is
    ``E[max(p_a - p_b, 0)]``, what we expect to lose by choosing B if it is in fact worse, also in
    closed form (Chris Stucchio's identity). The credible interval for the difference uses
    ``n_draws`` seeded posterior draws.

    Example
    -------
    >>> r = bayes_proportions(100, 1000, 130, 1000)
    >>> 0.9 < r.prob_b_better < 1
    True
    """
    _check_counts(conversions_a, n_a, "control")
    _check_counts(conversions_b, n_b, "treatment")
    a0, b0 = prior
    aa, ba = a0 + conversions_a, b0 + n_a - conversions_a
    ab, bb = a0 + conversions_b, b0 + n_b - conversions_b
    p_b = _prob_greater(aa, ba, ab, bb)
    # E[max(A - B, 0)] = E[A] P(A' > B) - E[B] P(A > B'), A' ~ Beta(aa+1, ba), B' ~ Beta(ab+1, bb)
    loss_b = aa / (aa + ba) * _prob_greater(ab, bb, aa + 1, ba) - ab / (ab + bb) * _prob_greater(ab + 1, bb, aa, ba)
    loss_a = ab / (ab + bb) * _prob_greater(aa, ba, ab + 1, bb) - aa / (aa + ba) * _prob_greater(aa + 1, ba, ab, bb)
    rng = np.random.default_rng(seed)
    d = rng.beta(ab, bb, n_draws) - rng.beta(aa, ba, n_draws)
    lo, hi = np.quantile(d, [alpha / 2, 1 - alpha / 2])
    return BayesResult((aa, ba), (ab, bb), p_b, max(loss_b, 0.0), max(loss_a, 0.0),
                       float(ab / (ab + bb) - aa / (aa + ba)), float(lo), float(hi))


# --- sequential monitoring --------------------------------------------------
@dataclass(frozen=True)
class SequentialResult(_Result):
    """Always-valid monitoring of a difference with the normal-mixture mSPRT.

    ``looks`` has one row per look: estimate, variance, confidence sequence (``cs_low``,
    ``cs_high``) and always-valid p-value; it is valid to stop at the first look where
    ``p_always_valid < alpha``, however often one looks.
    """

    looks: pd.DataFrame
    tau: float
    alpha: float
    estimate: float
    ci_low: float
    ci_high: float
    p_value: float
    stopped_at_look: int | None

    def summary(self) -> pd.DataFrame:
        return self.looks

    def to_dict(self) -> dict:
        """The last look's numbers (``looks`` holds every look)."""
        return {"always_valid_p_value": _plain(self.p_value), "ci_low": _plain(self.ci_low),
                "ci_high": _plain(self.ci_high), "estimate": _plain(self.estimate), "tau": _plain(self.tau),
                "stopped_at_look": self.stopped_at_look, "looks": len(self.looks)}


def msprt(estimates, variances, tau: float, alpha: float = 0.05) -> SequentialResult:
    """Mixture sequential probability ratio test for a difference (Johari et al. 2017).

    At each look the difference estimate ``d`` has variance ``s2``; with a normal mixing
    distribution N(0, tau^2) over the true effect the likelihood ratio is
    ``sqrt(s2 / (s2 + tau^2)) exp(tau^2 d^2 / (2 s2 (s2 + tau^2)))``. The always-valid p-value
    is the running minimum of ``1 / ratio`` (valid for "no effect at any look"); inverting the test
    gives the always-valid interval of each look.

    Parameters
    ----------
    estimates, variances : array-like
        Difference estimate and its variance at each look (cumulative data).
    tau : float
        Spread of the effects one expects (same units as the estimate), e.g. the MDE.
    alpha : float

    Example
    -------
    >>> r = msprt([0.01, 0.02, 0.025], [1e-4, 5e-5, 3e-5], tau=0.02)
    >>> r.looks["p_always_valid"].is_monotonic_decreasing
    True
    """
    alpha = _check_alpha(alpha)
    if tau <= 0:
        raise ParameterError(f"tau: got {tau!r}, expected a positive effect scale.")
    d = np.asarray(estimates, float)
    s2 = np.asarray(variances, float)
    t2 = tau * tau
    log_lr = 0.5 * np.log(s2 / (s2 + t2)) + t2 * d * d / (2 * s2 * (s2 + t2))
    p = np.minimum.accumulate(np.minimum(1.0, np.exp(-log_lr)))
    half = np.sqrt(s2 * (s2 + t2) / t2 * (2 * np.log(1 / alpha) + np.log((s2 + t2) / s2)))
    # Not intersected over looks: in campaign monitoring the estimand (conversion so far) grows
    # with time, so only the null of no effect at all is shared by every look.
    lo, hi = d - half, d + half
    looks = pd.DataFrame({"look": np.arange(1, d.size + 1), "estimate": d, "variance": s2,
                          "cs_low": lo, "cs_high": hi, "p_always_valid": p})
    hit = np.flatnonzero(p < alpha)
    return SequentialResult(looks, float(tau), alpha, float(d[-1]), float(lo[-1]), float(hi[-1]), float(p[-1]),
                            int(hit[0]) + 1 if hit.size else None)


def simulate_peeking(n_sims: int = 400, n_looks: int = 8, n_per_look: int = 200, tau: float = 0.3,
                     alpha: float = 0.05, seed: int = 0) -> dict:
    """False-positive rates of peeking at an A/A test: naive z-test vs always-valid mSPRT.

    Both arms come from the same normal distribution (sd 1); after every batch of
    ``n_per_look`` customers per arm one looks and stops at the first "significant" result.

    Returns
    -------
    dict
        ``naive_false_positive_rate``, ``msprt_false_positive_rate``, ``single_look_rate``.

    Example
    -------
    >>> r = simulate_peeking(n_sims=100, seed=1)
    >>> r["msprt_false_positive_rate"] <= r["naive_false_positive_rate"]
    True
    """
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n_sims, n_looks, n_per_look)).sum(axis=2).cumsum(axis=1)
    b = rng.normal(size=(n_sims, n_looks, n_per_look)).sum(axis=2).cumsum(axis=1)
    n = n_per_look * np.arange(1, n_looks + 1)
    d = (b - a) / n
    s2 = 2.0 / n  # known unit variance per customer and arm
    z = np.abs(d) / np.sqrt(s2)
    naive = (z > stats.norm.ppf(1 - alpha / 2)).any(axis=1)
    t2 = tau * tau
    log_lr = 0.5 * np.log(s2 / (s2 + t2)) + t2 * d * d / (2 * s2 * (s2 + t2))
    seq = (log_lr >= np.log(1 / alpha)).any(axis=1)
    return {"naive_false_positive_rate": float(naive.mean()), "msprt_false_positive_rate": float(seq.mean()),
            "single_look_rate": float((z[:, -1] > stats.norm.ppf(1 - alpha / 2)).mean()),
            "n_sims": n_sims, "n_looks": n_looks}


# --- retention --------------------------------------------------------------
@dataclass(frozen=True)
class RetentionComparison(_Result):
    """Kaplan-Meier curves per arm, log-rank test and restricted mean survival time (RMST).

    ``estimate`` is the RMST difference (treatment minus control): extra days active within
    the horizon per customer; ``p_value`` is the log-rank test.
    """

    curves: pd.DataFrame
    horizon_days: float
    rmst_a: float
    rmst_b: float
    estimate: float
    ci_low: float
    ci_high: float
    p_value: float
    logrank_statistic: float

    def summary(self) -> pd.DataFrame:
        return _rows({"rmst_a": [self.rmst_a, np.nan, np.nan, np.nan],
                      "rmst_b": [self.rmst_b, np.nan, np.nan, np.nan],
                      "rmst_difference": [self.estimate, self.ci_low, self.ci_high, self.p_value]})

    def to_dict(self) -> dict:
        """Plain numbers (the curves stay in ``curves``)."""
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self) if f.name != "curves"}


def _rmst(kmf, horizon_days: float) -> tuple[float, float]:
    """Restricted mean survival time of a fitted Kaplan-Meier curve and the variance of that estimate.

    Variance: sum over event times t_j <= horizon of A_j^2 d_j / (n_j (n_j - d_j)), A_j the area under
    the curve from t_j to the horizon (Klein & Moeschberger 2003, sec. 4.5). lifelines'
    ``restricted_mean_survival_time(return_variance=True)`` gives the variance of min(T, horizon)
    itself, not of its mean, so it is not used for the interval.
    """
    table = kmf.event_table
    times = table.index.to_numpy(dtype=float)
    sf = kmf.survival_function_.iloc[:, 0]
    st, sv = sf.index.to_numpy(dtype=float), sf.to_numpy()
    knots = np.append(st[st < horizon_days], horizon_days)
    widths = np.diff(knots)
    steps = sv[st < horizon_days][: len(widths)]
    area_after = np.append(np.cumsum((steps * widths)[::-1])[::-1], 0.0)  # area from each knot to the horizon
    rmst = float(area_after[0] + (knots[0] if knots[0] > 0 else 0.0))
    d, n = table["observed"].to_numpy(float), table["at_risk"].to_numpy(float)
    keep = (times <= horizon_days) & (d > 0) & (n > d)
    a = np.interp(times[keep], knots, area_after)
    var = float(np.sum(a * a * d[keep] / (n[keep] * (n[keep] - d[keep]))))
    return rmst, var


def compare_retention(durations_a, events_a, durations_b, events_b, horizon_days: float,
                      alpha: float = 0.05) -> RetentionComparison:
    """Compare how long customers stay active in control and treatment.

    Parameters
    ----------
    durations_a, events_a, durations_b, events_b : array-like
        Days from assignment until lapse (``event = 1``) or until observation ended (``0``).
    horizon_days : float
        Restriction time for the RMST.

    Example
    -------
    >>> r = compare_retention([5, 10, 30, 30], [1, 1, 0, 0], [20, 30, 30, 30], [1, 0, 0, 0], 30)
    >>> r.rmst_b > r.rmst_a
    True
    """
    from lifelines import KaplanMeierFitter
    from lifelines.statistics import logrank_test

    alpha = _check_alpha(alpha)
    fits, rows = [], []
    for label, dur, ev in (("control", durations_a, events_a), ("treatment", durations_b, events_b)):
        kmf = KaplanMeierFitter(alpha=alpha).fit(np.asarray(dur, float), np.asarray(ev, int), label=label)
        fits.append(kmf)
        sf = kmf.survival_function_[label]
        ci = kmf.confidence_interval_survival_function_
        rows.append(pd.DataFrame({"arm": label, "day": sf.index.to_numpy(), "survival": sf.to_numpy(),
                                  "ci_low": ci.iloc[:, 0].to_numpy(), "ci_high": ci.iloc[:, 1].to_numpy()}))
    (ra, va), (rb, vb) = (_rmst(k, horizon_days) for k in fits)
    lr = logrank_test(durations_a, durations_b, event_observed_A=events_a, event_observed_B=events_b)
    diff = float(rb - ra)
    half = stats.norm.ppf(1 - alpha / 2) * math.sqrt(va + vb)
    return RetentionComparison(pd.concat(rows, ignore_index=True), float(horizon_days), float(ra), float(rb), diff,
                               diff - half, diff + half, float(lr.p_value), float(lr.test_statistic))


# --- outcomes from data -----------------------------------------------------
def _load(source_or_path, as_of=None):
    from analysis.data.sources import load_source

    # A Source loaded at another date is reloaded at as_of: outcomes must not see later purchases.
    return load_source(source_or_path, as_of=as_of)


def _check_windows(conversion_window_days: int, retention_window_days: int, pre_period_days: int) -> None:
    if conversion_window_days < 1 or pre_period_days < 1:
        raise ParameterError(
            f"conversion_window_days {conversion_window_days!r}, pre_period_days {pre_period_days!r}: expected whole days >= 1."
        )
    if retention_window_days <= conversion_window_days:
        raise ParameterError(
            f"retention_window_days: got {retention_window_days!r}, expected more than conversion_window_days "
            f"({conversion_window_days}); retention is purchasing after the conversion window."
        )


def experiment_ids(source_or_path, as_of=None) -> list[str]:
    """Experiments in the source's ``assignments`` table, in order of first assignment."""
    src = _load(source_or_path, as_of)
    if not src.has("assignments"):
        return []
    return src.sql("SELECT experiment_id FROM assignments GROUP BY 1 ORDER BY min(assigned_at), 1")["experiment_id"].tolist()


def experiment_outcomes(source_or_path, experiment_id: str, as_of=None, conversion_window_days: int = 30,
                        retention_window_days: int = 90, pre_period_days: int = 90) -> pd.DataFrame:
    """One row per assigned customer with the outcomes an experiment is judged on.

    Windows start at each customer's ``assigned_at`` (purchases before it cannot be caused by
    the campaign): the conversion window is ``[assigned_at, assigned_at + conversion_window_days)``,
    the retention window the ``retention_window_days - conversion_window_days`` days after it.
    Purchases follow the package's one purchase-day rule (:func:`analysis.customers.table.is_purchase_sql`):
    refunds are netted per customer and day, so a purchase returned the same day is no conversion.

    Parameters
    ----------
    source_or_path : Source or path
    experiment_id : str
    as_of : date-like, optional
        Analysis date (transactions on that day count); required with a path.
    conversion_window_days, retention_window_days, pre_period_days : int

    Returns
    -------
    pd.DataFrame
        ``customer_id, variant, is_control, planned_share, assigned_at, converted, revenue,
        n_purchases, retained`` (NA while the retention window is open), ``pre_period_spend``
        (from the assignments table when given, else spend in the ``pre_period_days`` before
        assignment), ``window_complete``, ``active_days`` and ``lapsed`` (days from assignment to
        the last purchase before a gap of ``conversion_window_days`` without purchases, within
        ``retention_window_days``; ``lapsed`` False means censored).

    Example
    -------
    >>> out = experiment_outcomes("data/sample", "reactivation-2026-03", as_of="2026-10-31")
    >>> out.groupby("variant")["converted"].sum().to_dict()
    {'no_offer': 12, 'offer': 23}
    """
    _check_windows(conversion_window_days, retention_window_days, pre_period_days)
    src = _load(source_or_path, as_of)
    if not src.has("assignments"):
        raise DataError(f"assignments: the source {src.path} has no assignments table; expected one to analyse experiments.")
    cols = src.columns("assignments")
    n = src.sql("SELECT count(*) AS n FROM assignments WHERE experiment_id = ?", [experiment_id])["n"].iloc[0]
    if n == 0:
        known = ", ".join(experiment_ids(src)) or "none"
        raise ParameterError(f"experiment_id: no assignments for {experiment_id!r}; experiments in the data: {known}.")
    is_control = "a.is_control" if "is_control" in cols else "CAST(NULL AS BOOLEAN)"
    share = "a.planned_share" if "planned_share" in cols else "CAST(NULL AS DOUBLE)"
    given_pre = "a.pre_period_spend" if "pre_period_spend" in cols else "CAST(NULL AS DOUBLE)"
    as_of_end = src.as_of + pd.Timedelta(days=1)  # transactions ON as_of count
    c, r, p = int(conversion_window_days), int(retention_window_days), int(pre_period_days)
    q = f"""
    WITH a AS (SELECT * FROM assignments WHERE experiment_id = $exp),
    -- customer-days after the assignment, split at the end of the conversion window, with the
    -- package's purchase-day rule (refunds netted per day; a cancelled day is not a purchase)
    d AS (
      SELECT a.customer_id, a.assigned_at, CAST(t.timestamp AS DATE) AS day,
        t.timestamp < a.assigned_at + INTERVAL {c} DAY AS in_window,
        sum(t.amount) AS net_amount, {is_purchase_sql('t.amount')} AS is_purchase
      FROM a JOIN transactions t ON t.customer_id = a.customer_id
       AND t.timestamp >= a.assigned_at AND t.timestamp < a.assigned_at + INTERVAL {r} DAY
      GROUP BY 1, 2, 3, 4),
    w AS (
      SELECT customer_id, assigned_at,
        count(*) FILTER (WHERE in_window AND is_purchase = 1) AS n_purchases,
        coalesce(sum(net_amount) FILTER (WHERE in_window), 0) AS revenue,
        count(*) FILTER (WHERE NOT in_window AND is_purchase = 1) AS n_later
      FROM d GROUP BY 1, 2),
    pre AS (
      SELECT a.customer_id, a.assigned_at, sum(t.amount) AS spend
      FROM a JOIN transactions t ON t.customer_id = a.customer_id
       AND t.timestamp < a.assigned_at AND t.timestamp >= a.assigned_at - INTERVAL {p} DAY
      GROUP BY 1, 2)
    SELECT a.customer_id, a.variant, {is_control} AS is_control, {share} AS planned_share, a.assigned_at,
      coalesce(w.n_purchases, 0) > 0 AS converted, coalesce(w.revenue, 0) AS revenue,
      coalesce(w.n_purchases, 0) AS n_purchases, coalesce(w.n_later, 0) > 0 AS retained_if_complete,
      coalesce({given_pre}, pre.spend, 0) AS pre_period_spend,
      a.assigned_at + INTERVAL {c} DAY <= $end AS window_complete,
      a.assigned_at + INTERVAL {r} DAY <= $end AS retention_complete
    FROM a LEFT JOIN w ON w.customer_id = a.customer_id AND w.assigned_at = a.assigned_at
    LEFT JOIN pre ON pre.customer_id = a.customer_id AND pre.assigned_at = a.assigned_at
    ORDER BY a.assigned_at, a.customer_id
    """
    out = src.con.execute(q, {"exp": experiment_id, "end": as_of_end.to_pydatetime()}).df()
    out["retained"] = out["retained_if_complete"].astype("boolean").where(out["retention_complete"], pd.NA)
    out = out.drop(columns=["retained_if_complete", "retention_complete"])
    dur = _activity_durations(src, experiment_id, as_of_end, c, r)
    out = out.merge(dur, on=["customer_id", "assigned_at"], how="left")
    return out


def _activity_durations(src, experiment_id: str, as_of_end: pd.Timestamp, gap_days: int, horizon_days: int) -> pd.DataFrame:
    """Days each customer stays active after assignment: lapse = first gap of ``gap_days`` without purchases."""
    days = src.con.execute(f"""
      SELECT DISTINCT customer_id, assigned_at, day FROM (
        SELECT a.customer_id, a.assigned_at,
               floor(epoch(t.timestamp - a.assigned_at) / 86400)::INTEGER AS day
        FROM assignments a JOIN transactions t ON t.customer_id = a.customer_id
         AND t.timestamp >= a.assigned_at AND t.timestamp < a.assigned_at + INTERVAL {horizon_days} DAY
        WHERE a.experiment_id = $exp
        GROUP BY 1, 2, 3, CAST(t.timestamp AS DATE)
        HAVING {is_purchase_sql('t.amount')} = 1)""", {"exp": experiment_id}).df()
    base = src.con.execute("SELECT customer_id, assigned_at FROM assignments WHERE experiment_id = $exp",
                           {"exp": experiment_id}).df()
    observed = ((as_of_end - base["assigned_at"]).dt.total_seconds() / 86400).clip(lower=0, upper=horizon_days)
    base["end"] = observed.to_numpy()
    base["day"] = 0  # the assignment itself starts the clock
    ends = base.assign(day=base["end"], is_end=True)
    seq = pd.concat([base.assign(is_end=False), days.assign(is_end=False), ends], ignore_index=True)
    seq = seq[seq["day"] <= seq.groupby(["customer_id", "assigned_at"])["day"].transform("max")]
    seq = seq.sort_values(["customer_id", "assigned_at", "day", "is_end"], kind="mergesort")
    seq["gap"] = seq.groupby(["customer_id", "assigned_at"])["day"].shift(-1) - seq["day"]
    seq = seq[~seq["is_end"]]
    first_lapse = seq[seq["gap"] >= gap_days].groupby(["customer_id", "assigned_at"])["day"].min()
    last_seen = seq.groupby(["customer_id", "assigned_at"])["day"].max()
    res = pd.DataFrame({"last_seen": last_seen}).join(first_lapse.rename("lapse_day"))
    res["lapsed"] = res["lapse_day"].notna()
    res["active_days"] = res["lapse_day"].fillna(res["last_seen"]).astype(float)
    return res[["active_days", "lapsed"]].reset_index()


# --- guards -----------------------------------------------------------------
@dataclass(frozen=True)
class Guard:
    """One pre-analysis check: its name, whether it passed and the plain facts behind it.

    Names: ``one_variant_per_customer``, ``sample_ratio``, ``window_finished``, ``enough_units``.
    ``passed`` False withholds the verdict; ``warning`` True (only with ``passed``) keeps the verdict
    but the check did not pass cleanly (e.g. a sample ratio mismatch at 0.001 <= p < 0.01), so it
    must never be shown as passed. ``status`` is ``"passed"``, ``"warning"`` or ``"failed"``.
    The report layer says each in the reader's language (:func:`analysis.report.pages.experiments.guard_message`).
    """

    name: str
    passed: bool
    facts: dict = field(default_factory=dict)
    warning: bool = False

    @property
    def status(self) -> str:
        return "failed" if not self.passed else "warning" if self.warning else "passed"

    def to_dict(self) -> dict:
        return {"name": self.name, "passed": bool(self.passed), "status": self.status, "facts": _plain(self.facts)}


def _arms(outcomes: pd.DataFrame, control: str | None, experiment_id: str = "") -> tuple[str, list[str]]:
    """The control arm and the treatment arms; a one-arm experiment is a finding, not an error of the data."""
    counts = outcomes.groupby("variant").size()
    variants = sorted(counts.index)
    if len(variants) < 2:
        only = variants[0] if variants else ""
        raise ModelError(
            f"experiment {experiment_id}: every customer is in variant {only!r}; a comparison needs a control "
            "and a treatment group.", reason="one_arm",
            facts={"experiment": experiment_id, "variant": str(only), "customers": int(counts.sum())})
    if control is None:
        flagged = outcomes.loc[outcomes["is_control"].fillna(False).astype(bool), "variant"].unique() \
            if "is_control" in outcomes else []
        if len(flagged) == 1:
            control = flagged[0]
        else:
            raise ParameterError(
                f"control: could not tell the control arm among {', '.join(variants)} (assignments.is_control "
                "marks none or several); pass control=<variant name>."
            )
    if control not in variants:
        raise ParameterError(f"control: got {control!r}, expected one of the variants {', '.join(variants)}.")
    smallest = counts.idxmin()
    if counts.min() < MIN_CUSTOMERS_TO_ESTIMATE and "customer_id" in outcomes:
        raise ModelError(
            f"experiment {experiment_id}: group {smallest!r} has {int(counts.min())} customers; at least "
            f"{MIN_CUSTOMERS_TO_ESTIMATE} per group are needed to compare the groups.", reason="too_few_customers",
            facts={"experiment": experiment_id, "variant": str(smallest), "customers": int(counts.min()),
                   "minimum": MIN_CUSTOMERS_TO_ESTIMATE})
    return control, [v for v in variants if v != control]


def check_guards(outcomes: pd.DataFrame, as_of, conversion_window_days: int, min_units_per_arm: int = 30,
                 srm_threshold: float = SRM_THRESHOLD, srm_warning: float = SRM_WARNING) -> list[Guard]:
    """Checks that must pass before any verdict: SRM, one variant per customer, finished window, enough units.

    The sample ratio check fails (and withholds the verdict) at ``p < srm_threshold`` (0.001) and
    passes with a warning at ``p < srm_warning`` (0.01).

    Example
    -------
    >>> out = experiment_outcomes("data/sample", "newsletter-2026-09", as_of="2026-10-31")
    >>> [g.name for g in check_guards(out, "2026-10-31", 30) if not g.passed]
    []
    """
    as_of = pd.Timestamp(as_of)
    guards = []
    counts = outcomes.groupby("variant").size()
    dup = outcomes.groupby("customer_id")["variant"].agg(["size", "nunique"])
    n_multi, n_twice = int((dup["nunique"] > 1).sum()), int(((dup["nunique"] == 1) & (dup["size"] > 1)).sum())
    guards.append(Guard("one_variant_per_customer", n_multi == 0 and n_twice == 0,
                        {"n_multi": n_multi, "n_twice": n_twice}))
    shares = outcomes.groupby("variant")["planned_share"].mean() if "planned_share" in outcomes else None
    split = {str(v): int(c) for v, c in counts.items()}
    if shares is None or shares.isna().any():
        guards.append(Guard("sample_ratio", True, {"planned_known": False, "split": split}))
    else:
        srm = srm_test(counts.to_numpy(), shares.reindex(counts.index).to_numpy(), srm_threshold)
        guards.append(Guard("sample_ratio", not srm.mismatch, {
            "planned_known": True, "split": split, "planned": {str(v): float(x) for v, x in shares.items()},
            "p_value": srm.p_value, "threshold": srm_threshold, "warning_threshold": srm_warning},
            warning=not srm.mismatch and srm.p_value < srm_warning))
    after = int((outcomes["assigned_at"] > as_of + pd.Timedelta(days=1)).sum())
    open_ = int((~outcomes["window_complete"]).sum()) - after
    last_end = (outcomes["assigned_at"].max() + pd.Timedelta(days=conversion_window_days)).date()
    guards.append(Guard("window_finished", after == 0 and open_ == 0,
                        {"n_after": after, "n_open": open_, "window_days": int(conversion_window_days),
                         "ends": last_end.isoformat(), "as_of": as_of.date().isoformat()}))
    smallest = counts.idxmin()
    guards.append(Guard("enough_units", int(counts.min()) >= min_units_per_arm,
                        {"variant": str(smallest), "n": int(counts.min()), "min": int(min_units_per_arm)}))
    return guards


# --- the analysis of one experiment ------------------------------------------
@dataclass(frozen=True)
class ExperimentResult(_Result):
    """Everything known about one experiment at ``as_of``: guards, arms, tests and the verdict.

    ``verdict`` is one of :data:`VERDICTS`: ``withheld`` (a guard failed), ``better``, ``worse``,
    ``no_difference``, ``non_inferior`` (no clear difference, but shown to be no worse than
    ``margin``), on the primary metric, Holm-corrected over treatment arms; ``primary`` names the
    metric (``conversion`` or ``revenue``).
    """

    experiment_id: str
    as_of: pd.Timestamp
    control: str
    treatment: str
    params: dict
    guards: tuple
    arms: pd.DataFrame
    conversion: ProportionTest | None
    revenue: MeanTest | None
    revenue_bootstrap: BootstrapResult | None
    cuped: CupedResult | None
    bayes: BayesResult | None
    retention: ProportionTest | None
    activity: RetentionComparison | None
    sequential: SequentialResult | None
    adjusted: pd.DataFrame | None
    primary: str
    verdict: str
    all_treatments: tuple = ()

    @property
    def guards_passed(self) -> bool:
        return all(g.passed for g in self.guards)

    @property
    def revenue_test(self):
        """The revenue comparison the money figures use: CUPED when it removes variance, else plain Welch."""
        if self.cuped is not None and self.cuped.variance_reduction > 0:
            return self.cuped
        return self.revenue

    @property
    def primary_test(self):
        """The test the verdict rests on: conversion, or revenue per customer (CUPED when it helps)."""
        return self.conversion if self.primary == "conversion" else self.revenue_test

    @property
    def estimate(self) -> float:
        return float("nan") if self.primary_test is None else self.primary_test.estimate

    @property
    def ci_low(self) -> float:
        return float("nan") if self.primary_test is None else self.primary_test.ci_low

    @property
    def ci_high(self) -> float:
        return float("nan") if self.primary_test is None else self.primary_test.ci_high

    @property
    def p_value(self) -> float:
        if self.adjusted is None:
            return float("nan")
        return float(self.adjusted.loc[self.primary, "p_adjusted"])

    @property
    def guard_warnings(self) -> list:
        """Guards that let the verdict stand but did not pass cleanly (shown as warnings, never as passed)."""
        return [g for g in self.guards if g.passed and g.warning]

    def summary(self) -> pd.DataFrame:
        """Every metric's estimate, interval and p-value, with ``p_holm`` / ``p_bh`` over the metric family.

        ``role`` is ``primary`` on the rows of the verdict's metric, ``secondary`` on the others.
        """
        rows = {}
        if self.conversion is not None:
            c = self.conversion
            rows["conversion_difference"] = [c.estimate, c.ci_low, c.ci_high, c.p_value]
            rows["conversion_relative_lift"] = [c.relative_lift, c.lift_ci_low, c.lift_ci_high, c.p_value]
        for key, test in (("revenue_per_customer_difference", self.revenue),
                          ("revenue_per_customer_bootstrap", self.revenue_bootstrap),
                          ("revenue_per_customer_cuped", self.cuped), ("retention_difference", self.retention),
                          ("active_days_rmst_difference", self.activity)):
            if test is not None:
                rows[key] = [test.estimate, test.ci_low, test.ci_high, test.p_value]
        out = _rows(rows)
        out["p_holm"], out["p_bh"], out["role"] = np.nan, np.nan, None
        if self.adjusted is not None:
            # each family member's corrected p-value sits on the rows of the test that gave its raw p-value
            cuped = self.revenue_test is self.cuped
            family = {"conversion": ("conversion_difference", "conversion_relative_lift"),
                      "revenue": ("revenue_per_customer_cuped" if cuped else "revenue_per_customer_difference",),
                      "retention": ("retention_difference",), "active_days": ("active_days_rmst_difference",)}
            cols = ["p_holm", "p_bh", "role"]
            for metric, rows_of in family.items():
                shown = [row for row in rows_of if row in out.index]
                if metric in self.adjusted.index and shown:
                    out.loc[shown, cols] = [self.adjusted.loc[metric, cols].tolist()] * len(shown)
        return out

    def to_dict(self) -> dict:
        """JSON-ready plain numbers (what ``kanta experiment --out`` writes)."""
        return {
            "experiment_id": self.experiment_id, "as_of": str(self.as_of.date()), "control": self.control,
            "treatment": self.treatment, "primary_metric": self.primary, "verdict": self.verdict,
            "guards": [g.to_dict() for g in self.guards],
            "arms": _plain(self.arms.rename_axis("variant")),
            "conversion": _plain(self.conversion), "revenue_per_customer": _plain(self.revenue),
            "revenue_bootstrap": _plain(self.revenue_bootstrap),
            "cuped": None if self.cuped is None else {
                "theta": _plain(self.cuped.theta), "variance_reduction": _plain(self.cuped.variance_reduction),
                "estimate": _plain(self.cuped.estimate), "ci_low": _plain(self.cuped.ci_low),
                "ci_high": _plain(self.cuped.ci_high), "p_value": _plain(self.cuped.p_value)},
            "bayes": _plain(self.bayes), "retention": _plain(self.retention),
            "active_days": None if self.activity is None else {
                "rmst_control": _plain(self.activity.rmst_a), "rmst_treatment": _plain(self.activity.rmst_b),
                "estimate": _plain(self.activity.estimate), "ci_low": _plain(self.activity.ci_low),
                "ci_high": _plain(self.activity.ci_high), "logrank_p_value": _plain(self.activity.p_value)},
            "sequential": _plain(self.sequential),
            "p_values": None if self.adjusted is None else {
                k: {c: _plain(v) for c, v in row.items()} for k, row in self.adjusted.to_dict(orient="index").items()},
            "params": _plain(self.params),
        }


def arm_table(outcomes: pd.DataFrame) -> pd.DataFrame:
    """Per variant: customers, conversions, rates, revenue, purchases and retention."""
    g = outcomes.groupby("variant")
    out = pd.DataFrame({
        "customers": g.size(),
        "conversions": g["converted"].sum().astype(int),
        "conversion_rate": g["converted"].mean(),
        "revenue": g["revenue"].sum(),
        "revenue_per_customer": g["revenue"].mean(),
        "purchases_per_customer": g["n_purchases"].mean(),
        "retention_rate": g["retained"].apply(lambda s: s.astype(float).mean() if s.notna().all() else np.nan),
        "pre_period_spend": g["pre_period_spend"].mean(),
    })
    out["planned_share"] = g["planned_share"].mean() if "planned_share" in outcomes else np.nan
    out["observed_share"] = out["customers"] / out["customers"].sum()
    return out


def sequential_looks(source_or_path, experiment_id: str, as_of=None, control: str | None = None,
                     treatment: str | None = None, conversion_window_days: int = 30, look_every_days: int = 7,
                     tau: float | None = None, alpha: float = 0.05) -> SequentialResult:
    """Weekly looks at conversion-so-far with the always-valid mSPRT.

    At each look (every ``look_every_days`` after the first assignment, plus the end of the window)
    the difference in the share of customers who have bought since assignment is tested (the
    package's purchase-day rule: a day whose purchases were refunded the same day is no purchase).
    ``tau`` defaults to the planner's MDE for these arm sizes (80 % power), fixed before looking at effects.
    """
    src = _load(source_or_path, as_of)
    if control is None or treatment is None:
        arms = src.sql("SELECT variant, " + ("is_control" if "is_control" in src.columns("assignments")
                       else "NULL AS is_control") + " FROM assignments WHERE experiment_id = ?", [experiment_id])
        control, others = _arms(arms, control, experiment_id)
        treatment = treatment or others[-1]
    c = int(conversion_window_days)
    first = src.sql(f"""
      WITH a AS (SELECT * FROM assignments WHERE experiment_id = ?),
      d AS (
        SELECT a.customer_id, a.assigned_at, CAST(t.timestamp AS DATE) AS day, min(t.timestamp) AS first_at
        FROM a JOIN transactions t ON t.customer_id = a.customer_id
         AND t.timestamp >= a.assigned_at AND t.timestamp < a.assigned_at + INTERVAL {c} DAY
        GROUP BY 1, 2, 3 HAVING {is_purchase_sql('t.amount')} = 1)
      SELECT a.customer_id, a.variant, a.assigned_at, min(d.first_at) AS first_buy
      FROM a LEFT JOIN d ON d.customer_id = a.customer_id AND d.assigned_at = a.assigned_at
      GROUP BY 1, 2, 3""", [experiment_id])
    if first.empty:
        raise ParameterError(f"experiment_id: no assignments for {experiment_id!r}.")
    start = first["assigned_at"].min()
    end = min(first["assigned_at"].max() + pd.Timedelta(days=c), src.as_of + pd.Timedelta(days=1))
    looks = list(pd.date_range(start + pd.Timedelta(days=look_every_days), end, freq=f"{look_every_days}D"))
    if not looks or looks[-1] < end:
        looks.append(end)
    est, var, ns = [], [], []
    for t in looks:
        seen = first[first["assigned_at"] < t]
        conv = seen["first_buy"].notna() & (seen["first_buy"] < t)
        a, b = conv[seen["variant"] == control], conv[seen["variant"] == treatment]
        if len(a) < 2 or len(b) < 2:
            continue
        pa, pb = a.mean(), b.mean()
        pbar = (a.sum() + b.sum()) / (len(a) + len(b))
        s2 = max(pbar * (1 - pbar), 1e-9) * (1 / len(a) + 1 / len(b))
        est.append(pb - pa), var.append(s2), ns.append((len(a), len(b)))
    if not est:
        raise ModelError(f"assignments: experiment {experiment_id!r} has too few customers per arm for sequential looks.",
                         reason="too_few_customers", facts={"experiment": experiment_id})
    if tau is None:
        na, nb = ns[-1]
        base = float(np.clip(first.loc[first["variant"] == control, "first_buy"].notna().mean(), 0.01, 0.9))
        tau = mde_proportions(base, max(2, int(2 / (1 / na + 1 / nb))), alpha)
    res = msprt(est, var, tau, alpha)
    res.looks.insert(1, "date", [t.date() for t in looks[:len(est)]])
    return res


def _followup_days(outcomes: pd.DataFrame, as_of: pd.Timestamp, horizon_days: int) -> float:
    """Days every customer has been followed (capped at the horizon): RMST is not extrapolated."""
    seen = (as_of + pd.Timedelta(days=1) - outcomes["assigned_at"].max()).total_seconds() / 86400
    return float(max(1.0, min(horizon_days, seen)))


def _declared_primary(brief, primary: str, experiment_id: str) -> tuple[str, str]:
    """The primary metric and where it came from: the campaigns table, the caller's parameter, or auto."""
    declared = None if brief is None else brief.primary_metric
    if declared is None:
        return primary, "auto" if primary == "auto" else "parameter"
    if declared not in ("conversion", "revenue"):
        raise DataError(f"campaigns.primary_metric: experiment {experiment_id!r} has {declared!r}; "
                        "expected conversion or revenue.")
    if primary not in ("auto", declared):
        raise ParameterError(f"primary: got {primary!r}, but the campaigns table declares {declared!r} for "
                             f"experiment {experiment_id!r}; the verdict follows the declared metric "
                             "(leave primary at auto, or correct the campaigns table).")
    return declared, "campaigns"


def analyse_experiment(source_or_path, experiment_id: str, as_of=None, conversion_window_days: int = 30,
                       retention_window_days: int = 90, alpha: float = 0.05, control: str | None = None,
                       primary: str = "auto", margin: float | None = None, min_units_per_arm: int = 30,
                       pre_period_days: int = 90, n_boot: int = 2000, seed: int = 0,
                       outcomes: pd.DataFrame | None = None, brief: "CampaignBrief | None" = None) -> ExperimentResult:
    """Guards first, then every test of one experiment, and a verdict (or the reason it is withheld).

    Parameters
    ----------
    source_or_path : Source or path
    experiment_id : str
    as_of : date-like
    conversion_window_days, retention_window_days : int
        Outcome windows after each customer's assignment.
    alpha : float
        Significance level. Every metric's p-value is also shown Holm-corrected over the whole
        family (conversion, revenue, retention, active days; every treatment arm), ``p_holm``.
    control : str, optional
        Control variant; default: the one ``assignments.is_control`` marks.
    primary : {"auto", "conversion", "revenue"}
        The metric the verdict is about. The experiment's row of the source's ``campaigns`` table
        declares it (``primary_metric``) when it names one; a different explicit ``primary`` is
        then refused. Otherwise this parameter; ``auto``: conversion when under 35 % of the
        control converts (win-back audiences), else revenue per customer (customers who buy
        anyway). Its p-value is corrected only over treatment arms (Holm): it was chosen before
        the results; the other metrics count as secondary.
    margin : float, optional
        Non-inferiority margin on the primary metric (absolute: rate points or euros).
    min_units_per_arm : int
        Fewer customers than this in an arm withholds the verdict.
    brief : CampaignBrief, optional
        Default: :func:`campaign_brief` of the source (its declared primary metric).

    Returns
    -------
    ExperimentResult
        ``params["primary_source"]`` says where the primary metric came from: ``"campaigns"``,
        ``"parameter"`` or ``"auto"``.

    Raises
    ------
    ModelError
        ``reason="one_arm"`` when every customer is in one variant, ``"too_few_customers"`` when a
        group has fewer than two customers: the data is valid, the comparison has no answer.

    Example
    -------
    >>> r = analyse_experiment("data/sample", "reactivation-2026-03", as_of="2026-10-31", n_boot=200)
    >>> r.verdict, r.primary  # 2,000 customers: the planted +5-point effect is not told from chance here
    ('no_difference', 'conversion')
    """
    alpha = _check_alpha(alpha)
    _check_margin(margin)
    if primary not in ("auto", "conversion", "revenue"):
        raise ParameterError(f"primary: got {primary!r}, expected 'auto', 'conversion' or 'revenue'.")
    src = _load(source_or_path, as_of)
    brief = brief if brief is not None else campaign_brief(src, experiment_id)
    primary, primary_source = _declared_primary(brief, primary, experiment_id)
    out = outcomes if outcomes is not None else experiment_outcomes(
        src, experiment_id, conversion_window_days=conversion_window_days,
        retention_window_days=retention_window_days, pre_period_days=pre_period_days)
    control, treatments = _arms(out, control, experiment_id)
    guards = tuple(check_guards(out, src.as_of, conversion_window_days, min_units_per_arm))
    arms = arm_table(out)
    params = {"conversion_window_days": conversion_window_days, "retention_window_days": retention_window_days,
              "alpha": alpha, "margin": margin, "min_units_per_arm": min_units_per_arm,
              "pre_period_days": pre_period_days, "n_boot": n_boot, "seed": seed, "primary_source": primary_source}
    if primary == "auto":
        primary = "conversion" if arms.loc[control, "conversion_rate"] < AUTO_CONVERSION_BELOW else "revenue"
    # several treatments: the one compared in detail is the largest; all enter the correction
    treatment = max(treatments, key=lambda v: (arms.loc[v, "customers"], v))
    ctrl = out[out["variant"] == control]
    usable = all(g.passed for g in guards if g.name in ("one_variant_per_customer", "window_finished"))
    if not usable:
        return ExperimentResult(experiment_id, src.as_of, control, treatment, params, guards, arms, None, None, None,
                                None, None, None, None, None, None, primary, "withheld", tuple(treatments))
    pvals, tests = {}, {}
    for v in treatments:
        tr = out[out["variant"] == v]
        m_conv = margin if primary == "conversion" else None
        m_rev = margin if primary == "revenue" else None
        conv = two_proportion_test(int(ctrl["converted"].sum()), len(ctrl), int(tr["converted"].sum()), len(tr),
                                   alpha, margin=m_conv)
        rev = welch_test(ctrl["revenue"], tr["revenue"], alpha, margin=m_rev)
        cuped = cuped_test(ctrl["revenue"], ctrl["pre_period_spend"], tr["revenue"], tr["pre_period_spend"], alpha,
                           margin=m_rev)
        tests[v] = (conv, rev, cuped, tr)
        suffix = "" if v == treatment else f" ({v})"
        # revenue is judged on the CUPED-adjusted test: same estimand, smaller variance (the
        # covariate is measured before assignment, so it cannot absorb the campaign's effect)
        pvals["conversion" + suffix] = conv.p_value
        pvals["revenue" + suffix] = cuped.p_value if cuped.variance_reduction > 0 else rev.p_value
    conv, rev, cuped, tr = tests[treatment]
    retention = None
    if out["retained"].notna().all():
        retention = two_proportion_test(int(ctrl["retained"].sum()), len(ctrl), int(tr["retained"].sum()), len(tr), alpha)
        pvals["retention"] = retention.p_value
    try:
        activity = compare_retention(ctrl["active_days"], ctrl["lapsed"], tr["active_days"], tr["lapsed"],
                                     horizon_days=_followup_days(out, src.as_of, retention_window_days), alpha=alpha)
        pvals["active_days"] = activity.p_value
    except (ValueError, ZeroDivisionError, IndexError, KeyError):  # lifelines cannot fit degenerate arms
        activity = None
    # every metric looked at is one more chance of a false "significant": Holm over the whole family
    adjusted = adjust_p_values(pd.Series(pvals), "holm", alpha).rename(columns={"p_adjusted": "p_holm"})
    adjusted["p_bh"] = adjust_p_values(pd.Series(pvals), "bh", alpha)["p_adjusted"]
    prim = [k for k in pvals if k.split(" (")[0] == primary]
    adjusted["p_adjusted"] = np.nan
    adjusted.loc[prim, "p_adjusted"] = adjust_p_values(adjusted.loc[prim, "p_value"], "holm", alpha)["p_adjusted"]
    adjusted = adjusted.drop(columns="reject")
    adjusted["role"] = ["primary" if k in prim else "secondary" for k in adjusted.index]
    boot = bootstrap_difference(ctrl["revenue"], tr["revenue"], alpha, n_boot=n_boot, seed=seed)
    bayes = bayes_proportions(int(ctrl["converted"].sum()), len(ctrl), int(tr["converted"].sum()), len(tr),
                              alpha=alpha, seed=seed)
    try:
        sequential = sequential_looks(src, experiment_id, control=control, treatment=treatment,
                                      conversion_window_days=conversion_window_days, alpha=alpha)
    except (ModelError, ParameterError):
        sequential = None
    if not all(g.passed for g in guards):
        verdict = "withheld"
    else:
        test = conv if primary == "conversion" else (cuped if cuped.variance_reduction > 0 else rev)
        if adjusted.loc[primary, "p_adjusted"] < alpha:
            verdict = "better" if test.estimate > 0 else "worse"
        else:
            ni = test.adjusted.noninferiority_p_value if isinstance(test, CupedResult) else test.noninferiority_p_value
            verdict = "non_inferior" if ni is not None and ni < alpha else "no_difference"
    return ExperimentResult(experiment_id, src.as_of, control, treatment, params, guards, arms, conv, rev, boot, cuped,
                            bayes, retention, activity, sequential, adjusted, primary, verdict, tuple(treatments))


# --- campaign final report --------------------------------------------------
@dataclass(frozen=True)
class CampaignBrief(_Result):
    """What the source's optional ``campaigns`` table says about one experiment (any field may be missing).

    Text fields (``goal``, ``channel``, ``audience``) are shown as the data has them. ``cost_fixed``
    plus ``cost_per_contact`` times the customers contacted is the campaign's cost.
    """

    experiment_id: str
    goal: str | None = None
    channel: str | None = None
    audience: str | None = None
    primary_metric: str | None = None
    cost_fixed: float | None = None
    cost_per_contact: float | None = None
    margin_rate: float | None = None

    def cost(self, contacts: int) -> float | None:
        """The campaign's cost for ``contacts`` customers contacted; None when the brief gives no cost."""
        if self.cost_fixed is None and self.cost_per_contact is None:
            return None
        return float((self.cost_fixed or 0.0) + (self.cost_per_contact or 0.0) * contacts)

    def summary(self) -> pd.DataFrame:
        return pd.DataFrame({"value": [getattr(self, f.name) for f in fields(self)]},
                            index=[f.name for f in fields(self)])


_BRIEF_TEXT = ("goal", "channel", "audience", "primary_metric")
_BRIEF_NUMBERS = ("cost_fixed", "cost_per_contact", "margin_rate")


def campaign_brief(source, experiment_id: str) -> CampaignBrief | None:
    """The experiment's row of the source's ``campaigns`` table, or None when the source has no brief for it.

    Only the data says what a campaign was for and what it cost; nothing is assumed.

    Example
    -------
    >>> from analysis.data.sources import load_source
    >>> brief = campaign_brief(load_source("data/sample", as_of="2026-10-31"), "reactivation-2026-03")
    >>> brief.primary_metric, brief.cost(contacts=180)
    ('conversion', 390.0)
    """
    if not hasattr(source, "has") or not source.has("campaigns"):
        return None
    cols = set(source.columns("campaigns"))
    rows = source.sql("SELECT * FROM campaigns WHERE CAST(experiment_id AS VARCHAR) = ?", [str(experiment_id)])
    if rows.empty:
        return None
    row = rows.iloc[0]

    def value(name, kind):
        if name not in cols or pd.isna(row[name]):
            return None
        return str(row[name]) if kind is str else float(row[name])

    brief = CampaignBrief(str(experiment_id), **{k: value(k, str) for k in _BRIEF_TEXT},
                          **{k: value(k, float) for k in _BRIEF_NUMBERS})
    for k in ("cost_fixed", "cost_per_contact"):
        if getattr(brief, k) is not None and getattr(brief, k) < 0:
            raise DataError(f"campaigns.{k}: experiment {experiment_id!r} has {getattr(brief, k)}; expected a cost >= 0.")
    if brief.margin_rate is not None and not 0 < brief.margin_rate <= 1:
        raise DataError(f"campaigns.margin_rate: experiment {experiment_id!r} has {brief.margin_rate}; expected the "
                        "share of sales the company keeps, a number above 0 and at most 1 (e.g. 0.35).")
    if brief.primary_metric is not None:
        metric = brief.primary_metric.strip().lower()
        if metric not in ("conversion", "revenue"):
            raise DataError(f"campaigns.primary_metric: experiment {experiment_id!r} has {brief.primary_metric!r}; "
                            "expected conversion or revenue.")
        brief = replace(brief, primary_metric=metric)
    return brief


@dataclass(frozen=True)
class CampaignReport(_Result):
    """A campaign's final report in numbers: execution, results, money and the planner for the next test.

    Money figures use the primary revenue test (CUPED when it helps) scaled to the campaign group:
    ``incremental_revenue = difference per customer x customers in the campaign group``;
    ``roi = (incremental_revenue x margin_rate - campaign_cost) / campaign_cost`` when the brief
    gives a ``margin_rate`` (``roi_basis="margin"``: what the company keeps of the extra sales,
    for a games-of-chance company stakes minus prizes), else on sales (``roi_basis="revenue"``);
    ROI and cost per order only when a cost is known (``cost_source``: ``"given"`` by the caller,
    ``"campaigns"`` from the source's brief, or None; then both are None).
    """

    result: ExperimentResult
    brief: CampaignBrief | None
    start: pd.Timestamp
    last_assigned: pd.Timestamp
    end: pd.Timestamp
    split: tuple  # (variant, customers, observed share, planned share) with the control first
    n_treatment: int
    incremental_revenue: float
    incremental_revenue_low: float
    incremental_revenue_high: float
    campaign_cost: float | None
    cost_source: str | None
    roi: float | None
    roi_low: float | None
    roi_high: float | None
    cost_per_order: float | None
    cost_per_incremental_order: float | None
    clv_difference: MeanTest | None
    planner: dict
    margin_rate: float | None = None
    roi_basis: str | None = None

    @property
    def experiment_id(self) -> str:
        return self.result.experiment_id

    @property
    def verdict(self) -> str:
        return self.result.verdict

    @property
    def estimate(self) -> float:
        return self.incremental_revenue

    @property
    def ci_low(self) -> float:
        return self.incremental_revenue_low

    @property
    def ci_high(self) -> float:
        return self.incremental_revenue_high

    @property
    def p_value(self) -> float:
        return self.result.p_value

    def summary(self) -> pd.DataFrame:
        """Key figures as a tidy table."""
        rev = self.result.revenue_test
        rows = {"incremental_revenue": [self.incremental_revenue, self.incremental_revenue_low,
                                        self.incremental_revenue_high, np.nan if rev is None else rev.p_value]}
        if self.roi is not None:
            rows["roi"] = [self.roi, self.roi_low, self.roi_high, np.nan]
            rows["cost_per_order"] = [self.cost_per_order, np.nan, np.nan, np.nan]
        if self.clv_difference is not None:
            c = self.clv_difference
            rows["incremental_clv_per_customer"] = [c.estimate, c.ci_low, c.ci_high, c.p_value]
        return pd.concat([self.result.summary().iloc[:, :4], _rows(rows)])

    def to_dict(self) -> dict:
        d = self.result.to_dict()
        brief = self.brief.to_dict() if self.brief is not None else {}
        d["campaign"] = {
            "goal": brief.get("goal"), "audience": brief.get("audience"), "channel": brief.get("channel"),
            "brief": brief or None,
            "start": str(self.start), "last_assigned": str(self.last_assigned), "end": str(self.end),
            "n_treatment": self.n_treatment,
            "split": [{"variant": v, "customers": int(n), "share": _plain(s), "planned_share": _plain(p)}
                      for v, n, s, p in self.split],
            "incremental_revenue": _plain(self.incremental_revenue),
            "incremental_revenue_ci": [_plain(self.incremental_revenue_low), _plain(self.incremental_revenue_high)],
            "campaign_cost": self.campaign_cost, "cost_source": self.cost_source, "roi": _plain(self.roi),
            "roi_ci": [_plain(self.roi_low), _plain(self.roi_high)], "roi_basis": self.roi_basis,
            "margin_rate": self.margin_rate,
            "cost_per_order": _plain(self.cost_per_order),
            "cost_per_incremental_order": _plain(self.cost_per_incremental_order),
            "incremental_clv_per_customer": None if self.clv_difference is None else _plain(self.clv_difference.estimate),
            "planner": _plain(self.planner),
        }
        # the campaign economics at the top level: null (not missing) when no cost is known
        d.update(campaign_cost=self.campaign_cost, cost_source=self.cost_source, roi=_plain(self.roi),
                 roi_basis=self.roi_basis, cost_per_order=_plain(self.cost_per_order))
        return d


def campaign_report(source_or_path, experiment_id: str, as_of=None, campaign_cost: float | None = None,
                    include_clv: bool = True, customer_values: pd.Series | None = None,
                    planner_mde_abs: float | None = None, brief: CampaignBrief | None = None,
                    result: ExperimentResult | None = None, **params) -> CampaignReport:
    """The campaign's final report in numbers: execution, results, money and the planner.

    Parameters
    ----------
    source_or_path : Source or path
    experiment_id : str
    as_of : date-like
    campaign_cost : float, optional
        What the campaign cost (euros); gives ROI and cost per order. Default: the cost in the
        source's ``campaigns`` table (``cost_fixed + cost_per_contact x campaign group``); with
        neither, no ROI is computed.
    include_clv : bool
        Compare expected future value between the groups (randomised, so causal).
    customer_values : pd.Series, optional
        Expected future value (CLV) per ``customer_id`` at ``as_of``, e.g. the month's customer
        base; default: fitted here with :func:`analysis.clv.model.analyse` (skipped when it cannot be estimated).
    planner_mde_abs : float, optional
        Increase in buying share the next test should detect; default 20 % of the control's rate.
    brief : CampaignBrief, optional
        Default: :func:`campaign_brief` of the source (None when it has no ``campaigns`` table).
    **params
        Passed to :func:`analyse_experiment` (windows, alpha, control, primary, margin ...).
        The brief's ``primary_metric``, when it names one, is the verdict's metric.

    Example
    -------
    >>> rep = campaign_report("data/sample", "reactivation-2026-03", as_of="2026-10-31",
    ...                       campaign_cost=500, include_clv=False, n_boot=200)
    >>> rep.verdict, rep.cost_source
    ('no_difference', 'given')
    """
    if campaign_cost is not None and campaign_cost < 0:
        raise ParameterError(f"campaign_cost: got {campaign_cost!r}, expected a cost in euros >= 0.")
    src = _load(source_or_path, as_of)
    brief = brief if brief is not None else campaign_brief(src, experiment_id)
    out = params.pop("outcomes", None)
    if out is None:
        out = experiment_outcomes(src, experiment_id, **{k: params[k] for k in (
            "conversion_window_days", "retention_window_days", "pre_period_days") if k in params})
    r = result or analyse_experiment(src, experiment_id, outcomes=out, brief=brief, **params)
    arms = r.arms
    total = arms["customers"].sum()
    order = [r.control] + [v for v in arms.index if v != r.control]
    split = tuple((v, int(arms.loc[v, "customers"]), float(arms.loc[v, "customers"] / total),
                   float(arms.loc[v, "planned_share"])) for v in order)
    start, last = out["assigned_at"].min(), out["assigned_at"].max()
    end = last + pd.Timedelta(days=r.params["conversion_window_days"])
    n_t = int(arms.loc[r.treatment, "customers"])
    cost_source = "given" if campaign_cost is not None else None
    if campaign_cost is None and brief is not None:
        campaign_cost = brief.cost(n_t)
        cost_source = "campaigns" if campaign_cost is not None else None
    rev = r.revenue_test
    inc = inc_lo = inc_hi = float("nan")
    roi = roi_lo = roi_hi = cpo = cpio = basis = None
    margin_rate = brief.margin_rate if brief is not None else None
    if rev is not None:
        inc, inc_lo, inc_hi = rev.estimate * n_t, rev.ci_low * n_t, rev.ci_high * n_t
        if campaign_cost:
            kept = 1.0 if margin_rate is None else margin_rate
            basis = "revenue" if margin_rate is None else "margin"
            roi, roi_lo, roi_hi = ((x * kept - campaign_cost) / campaign_cost for x in (inc, inc_lo, inc_hi))
            tr = out[out["variant"] == r.treatment]
            ctrl = out[out["variant"] == r.control]
            orders = int(tr["n_purchases"].sum())
            cpo = campaign_cost / orders if orders else None
            extra_orders = (tr["n_purchases"].mean() - ctrl["n_purchases"].mean()) * n_t
            cpio = campaign_cost / extra_orders if extra_orders > 0 else None
    clv_diff = None
    if include_clv and r.revenue is not None:
        values = customer_values if customer_values is not None else _customer_values(src)
        clv_diff = None if values is None else _clv_difference(out, r, values)
    return CampaignReport(r, brief, start, last, end, split, n_t, inc, inc_lo, inc_hi, campaign_cost, cost_source,
                          roi, roi_lo, roi_hi, cpo, cpio, clv_diff, _planner(out, r, planner_mde_abs), margin_rate, basis)


def _customer_values(src) -> pd.Series | None:
    """CLV per customer at ``as_of``, or None when the CLV model cannot be estimated on this data."""
    from analysis.clv import model as clv

    try:
        values = clv.analyse(src, as_of=src.as_of).values
    except ModelError:
        return None
    return values.set_index("customer_id")["clv"]


def _clv_difference(out: pd.DataFrame, r: ExperimentResult, values: pd.Series) -> MeanTest | None:
    """Expected future value at as_of, campaign group minus control (randomised, so causal)."""
    v = out[["customer_id", "variant"]].assign(clv=out["customer_id"].map(values).fillna(0.0).to_numpy())
    a, b = v.loc[v["variant"] == r.control, "clv"], v.loc[v["variant"] == r.treatment, "clv"]
    return welch_test(a, b, r.params["alpha"]) if len(a) > 1 and len(b) > 1 else None


def _planner(out: pd.DataFrame, r: ExperimentResult, mde_abs: float | None) -> dict:
    """Sample sizes for the next test: to detect a 20 % lift, what this test could detect, and to confirm it."""
    ctrl = out[out["variant"] == r.control]
    base = float(np.clip(ctrl["converted"].mean(), 0.005, 0.95))
    mde = float(mde_abs or max(round(PLANNER_RELATIVE_MDE * base, 3), 0.005))
    n_now = int(r.arms["customers"].min())
    sd = float(ctrl["revenue"].std(ddof=1)) if len(ctrl) > 1 else float("nan")
    if r.cuped is not None and r.cuped.variance_reduction > 0:  # CUPED shrinks the sd the next test faces
        sd *= math.sqrt(1 - r.cuped.variance_reduction)
    mde_rev = float(PLANNER_RELATIVE_MDE * ctrl["revenue"].mean()) if ctrl["revenue"].mean() > 0 else float("nan")
    n_rev = sample_size_means(sd, mde_rev) if sd > 0 and mde_rev > 0 else None
    if r.primary == "conversion":
        seen = r.conversion.estimate if r.conversion is not None else float("nan")
        confirm = sample_size_proportions(base, seen) if seen > 0 and base + seen < 1 else None
    else:
        seen = r.estimate
        confirm = sample_size_means(sd, seen) if seen > 0 and sd > 0 else None
    return {
        "primary": r.primary, "baseline": base, "mde_abs": mde, "n_per_arm": sample_size_proportions(base, mde),
        "n_now": n_now, "mde_now": mde_proportions(base, max(n_now, 2)) if base + 1e-6 < 1 else float("nan"),
        "revenue_sd": sd, "revenue_mde": mde_rev, "n_per_arm_revenue": n_rev,
        "revenue_mde_now": mde_means(sd, max(n_now, 2)) if sd > 0 else float("nan"),
        "observed_difference": seen, "n_per_arm_to_confirm": confirm,
    }


# --- the month's experiments ---------------------------------------------------
def ended_experiments(source_or_path, as_of, conversion_window_days: int = 30) -> list[str]:
    """Experiments whose outcome window ended in the month that ends at ``as_of``.

    Example
    -------
    >>> ended_experiments("data/sample", "2026-10-31")
    ['newsletter-2026-09']
    """
    src = _load(source_or_path, as_of)
    if not src.has("assignments"):
        return []
    end = src.as_of + pd.Timedelta(days=1)
    start = end - pd.DateOffset(months=1)
    q = src.sql(f"""SELECT experiment_id, max(assigned_at) + INTERVAL {int(conversion_window_days)} DAY AS ends
                    FROM assignments GROUP BY 1 ORDER BY 2, 1""")
    return q.loc[(q["ends"] > start) & (q["ends"] <= end), "experiment_id"].tolist()


def headline(source_or_path, as_of, conversion_window_days: int = 30, retention_window_days: int = 90,
             alpha: float = 0.05, **params) -> dict:
    """Experiments that ended in the month ending at ``as_of``, each with its verdict code.

    An experiment that cannot be compared (one arm, a group of one) is listed with verdict
    ``not_estimable`` and its ``reason``; it does not stop the month.

    Returns
    -------
    dict
        ``n_ended``, ``n_<verdict>`` for every verdict and ``n_not_estimable``,
        ``experiments_concluded`` (ended with a verdict other than withheld: the landing page's
        key number) and ``experiments``: a list of ``{experiment_id, verdict, reason,
        primary_metric, estimate, ci_low, ci_high, p_value, customers}`` (plain JSON types).

    Example
    -------
    >>> h = headline("data/sample", "2026-10-31", n_boot=200)
    >>> h["experiments_concluded"], h["experiments"][0]["verdict"]
    (1, 'no_difference')
    """
    src = _load(source_or_path, as_of)
    rows = []
    for exp_id in ended_experiments(src, src.as_of, conversion_window_days):
        try:
            r = analyse_experiment(src, exp_id, conversion_window_days=conversion_window_days,
                                   retention_window_days=retention_window_days, alpha=alpha, **params)
        except ModelError as exc:
            rows.append({"experiment_id": exp_id, "verdict": "not_estimable", "reason": exc.reason,
                         "primary_metric": None, "estimate": None, "ci_low": None, "ci_high": None,
                         "p_value": None, "customers": exc.facts.get("customers")})
            continue
        rows.append({"experiment_id": exp_id, "verdict": r.verdict, "reason": None, "primary_metric": r.primary,
                     "estimate": _plain(r.estimate), "ci_low": _plain(r.ci_low), "ci_high": _plain(r.ci_high),
                     "p_value": _plain(r.p_value), "customers": int(r.arms["customers"].sum())})
    out = {"as_of": str(src.as_of.date()), "n_ended": len(rows)}
    for v in (*VERDICTS, "not_estimable"):
        out[f"n_{v}"] = sum(r["verdict"] == v for r in rows)
    out["experiments_concluded"] = len(rows) - out["n_withheld"] - out["n_not_estimable"]
    out["experiments"] = rows
    return out
