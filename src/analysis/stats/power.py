"""The planner: power, customers per arm and the smallest detectable effect, for rates and for means.

statsmodels computes each (as R's ``power.prop.test`` does for proportions); results are rounded up to whole customers.
"""
from __future__ import annotations

import math

from scipy import optimize
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import power_proportions_2indep, samplesize_proportions_2indep_onetail

from analysis.errors import ParameterError
from analysis.stats.results import check_alpha

__all__ = ["power_proportions", "sample_size_proportions", "mde_proportions", "sample_size_means", "mde_means"]


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
    _check_rates(baseline, mde_abs)
    res = power_proportions_2indep(mde_abs, baseline, n, ratio=1, alpha=check_alpha(alpha), return_results=True)
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
    _check_rates(baseline, mde_abs)
    _check_power(power)
    n = samplesize_proportions_2indep_onetail(mde_abs, baseline, power, ratio=1, alpha=check_alpha(alpha),
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
    if sd <= 0 or mde == 0:
        raise ParameterError(f"sd {sd!r}, mde {mde!r}: expected a positive standard deviation and a non-zero effect.")
    _check_power(power)
    n = NormalIndPower().solve_power(effect_size=abs(mde) / sd, alpha=check_alpha(alpha), power=power, ratio=1)
    return int(math.ceil(float(n) - 1e-9))


def mde_means(sd: float, n: int, alpha: float = 0.05, power: float = 0.8) -> float:
    """Smallest difference in means detectable with ``n`` customers per arm (reverse of :func:`sample_size_means`).

    Example
    -------
    >>> round(mde_means(sd=1.0, n=63), 3)
    0.499
    """
    if sd <= 0 or n < 2:
        raise ParameterError(f"sd {sd!r}, n {n!r}: expected a positive standard deviation and n >= 2.")
    _check_power(power)
    effect = NormalIndPower().solve_power(nobs1=n, alpha=check_alpha(alpha), power=power, ratio=1)
    return float(effect * sd)
