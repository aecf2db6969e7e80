"""Simulated customer bases with known covariate effects, for tests and benchmarks (vectorised, seeded).

Pareto/NBD: rates ``lambda ~ Gamma(r, alpha_i)``, ``mu ~ Gamma(s, beta_i)``; BG/NBD: ``lambda`` as above,
drop-out after each repeat purchase with ``p ~ Beta(a_i, b_i)``; the scales follow
:mod:`analysis.clv.covariates`. Time is in days, recency rounded up to whole days as in a daily customer table.
"""
from __future__ import annotations

import numpy as np
import pandas as pd


def simulate_covariate_base(n: int, params: dict, attributes: dict, effects: dict, model: str = "pareto_nbd",
                            max_age_days: int = 730, min_age_days: int = 180, seed: int = 0) -> pd.DataFrame:
    """A customer table (``customer_id, frequency, recency, T, monetary_value`` and attributes) with known effects.

    Parameters
    ----------
    n : int
        Customers.
    params : dict
        The reference customer's ``r, alpha, s, beta`` (Pareto/NBD) or ``r, alpha, a, b`` (BG/NBD), per day.
    attributes : dict
        ``{column: {level: share}}`` for categorical columns, ``{column: (mean, sd)}`` for numeric ones.
    effects : dict
        ``{block: {key: gamma}}`` with blocks ``purchase``, ``dropout`` (Pareto/NBD) or ``dropout_a``,
        ``dropout_b`` (BG/NBD), keys ``COL=LEVEL`` or ``COL`` (numeric, per standard deviation as given).
    """
    rng = np.random.default_rng(seed)
    table = pd.DataFrame({"customer_id": [f"S{i:07d}" for i in range(n)]})
    for col, spec in attributes.items():
        if isinstance(spec, dict):
            levels = list(spec)
            p = np.array([spec[k] for k in levels], float)
            table[col] = np.array(levels, dtype=object)[rng.choice(len(levels), size=n, p=p / p.sum())]
        else:
            table[col] = np.round(rng.normal(spec[0], spec[1], size=n), 1)

    def lin(block):
        out = np.zeros(n)
        for key, gamma in effects.get(block, {}).items():
            col, _, level = key.partition("=")
            if level:
                out += gamma * (table[col].astype(str) == level).to_numpy(float)
            else:
                mean, sd = attributes[col]
                out += gamma * (table[col].to_numpy(float) - mean) / sd
        return out

    T = rng.integers(min_age_days, max_age_days + 1, size=n).astype(float)
    lam = rng.gamma(params["r"], 1.0 / (params["alpha"] * np.exp(-lin("purchase"))))
    if model == "pareto_nbd":
        mu = rng.gamma(params["s"], 1.0 / (params["beta"] * np.exp(-lin("dropout"))))
        life = np.minimum(rng.exponential(1.0 / mu), T)
        x = rng.poisson(lam * life)
        t_x = np.where(x > 0, life * rng.random(n) ** (1.0 / np.maximum(x, 1)), 0.0)
    else:
        p = rng.beta(params["a"] * np.exp(lin("dropout_a")), params["b"] * np.exp(lin("dropout_b")))
        k = rng.geometric(p)  # repeat purchases made before dropping out (if time allowed)
        events = rng.poisson(lam * T)
        x = np.minimum(events, k)
        t_x = np.where(x > 0, T * rng.beta(np.maximum(x, 1), np.maximum(events - x, 0) + 1), 0.0)
    t_x = np.ceil(t_x)  # whole days, as in a daily customer table (never 0 for a repeat buyer)
    table["frequency"], table["recency"], table["T"] = x.astype(float), np.where(x > 0, t_x, 0.0), T
    table["monetary_value"] = np.where(x > 0, np.round(rng.gamma(3.0, 10.0, size=n), 2), 0.0)
    return table


__all__ = ["simulate_covariate_base"]
