"""Simulated customer tables drawn from BG/NBD + Gamma-Gamma with known parameters.
The truth the tests recover and the benchmark times.
"""
from __future__ import annotations

import numpy as np
import pandas as pd


def simulate_rfm(T, bgnbd: dict, gamma_gamma: dict | None = None, seed: int = 0) -> pd.DataFrame:
    """Draw a customer table from BG/NBD (+ Gamma-Gamma spend), one row per entry of ``T``.

    Exact and vectorised: repeat purchases are ``min(N, K)`` with ``N ~ Poisson(lambda T)``
    and ``K ~ Geometric(p)`` (the purchase after which the customer drops out); given
    ``N = n``, the ``x``-th purchase time is ``T * Beta(x, n - x + 1)``. Mean spend of
    ``x`` repeat purchases is ``Gamma(p x, rate = x nu)`` with ``nu ~ Gamma(q, rate = v)``.
    Used by the tests (parameter recovery) and the benchmark.

    Example
    -------
    >>> t = simulate_rfm(np.full(5, 100.0), {"r": 0.5, "alpha": 10, "a": 1.2, "b": 3})
    >>> list(t.columns[:4])
    ['customer_id', 'frequency', 'recency', 'T']
    """
    rng = np.random.default_rng(seed)
    T = np.asarray(T, float)
    n = len(T)
    lam = rng.gamma(bgnbd["r"], 1.0 / bgnbd["alpha"], n)
    p = rng.beta(bgnbd["a"], bgnbd["b"], n)
    N = rng.poisson(lam * T)
    K = rng.geometric(np.clip(p, 1e-12, 1))
    x = np.minimum(N, K)
    with np.errstate(all="ignore"):
        rec = np.where(x > 0, T * rng.beta(np.maximum(x, 1), np.maximum(N - x + 1, 1)), 0.0)
    out = pd.DataFrame({"customer_id": [f"S{i:07d}" for i in range(n)], "frequency": x.astype(float),
                        "recency": rec, "T": T, "alive": x < K})
    if gamma_gamma is not None:
        nu = rng.gamma(gamma_gamma["q"], 1.0 / gamma_gamma["v"], n)
        xs = np.maximum(x, 1)
        out["monetary_value"] = np.where(x > 0, rng.gamma(gamma_gamma["p"] * xs, 1.0 / (xs * nu)), 0.0)
    else:
        out["monetary_value"] = 0.0
    return out
