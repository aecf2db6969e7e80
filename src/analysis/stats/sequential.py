"""Always-valid sequential monitoring: the normal-mixture mSPRT and a simulation of naive peeking.

Stopping at the first look where the always-valid p-value is below alpha keeps the false-positive rate,
however often one looks.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from analysis.errors import ParameterError
from analysis.stats.results import Result, check_alpha, plain

__all__ = ["SequentialResult", "msprt", "simulate_peeking"]


# --- sequential monitoring --------------------------------------------------
@dataclass(frozen=True)
class SequentialResult(Result):
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
        return {"always_valid_p_value": plain(self.p_value), "ci_low": plain(self.ci_low),
                "ci_high": plain(self.ci_high), "estimate": plain(self.estimate), "tau": plain(self.tau),
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
    alpha = check_alpha(alpha)
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
