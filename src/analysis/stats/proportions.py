"""The Wilson score interval of one proportion, in closed form.

Its own module because the contacts and experiment pages need it without the test library: ``scipy.stats``
and statsmodels cost about a second of imports in every notebook kernel that loads the month's state.
"""
from __future__ import annotations

import math

from scipy.special import ndtri

__all__ = ["wilson_interval"]


def wilson_interval(conversions: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson score interval for one proportion (no continuity correction), as statsmodels'
    ``proportion_confint(method="wilson")`` computes it, to the last bit; ``(nan, nan)`` for ``n = 0``.

    Example
    -------
    >>> [round(x, 4) for x in wilson_interval(48, 80)]
    [0.4905, 0.7004]
    """
    if n == 0:
        return math.nan, math.nan
    q = conversions / n
    crit = float(-ndtri(alpha / 2.0))  # scipy.stats.norm.isf(alpha / 2)
    crit2 = crit ** 2
    denom = 1 + crit2 / n
    center = (q + crit2 / (2 * n)) / denom
    dist = crit * math.sqrt(q * (1.0 - q) / n + crit2 / (4.0 * n ** 2)) / denom
    return min(max(center - dist, 0.0), 1.0), min(max(center + dist, 0.0), 1.0)  # clipped to [0, 1] as statsmodels
