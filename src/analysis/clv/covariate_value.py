"""Customer value under a covariate model: each customer's P(alive), expected purchases and CLV with their
own covariate-scaled parameters (computed once per distinct history and covariate pattern).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit

from analysis.clv import likelihoods as pm
from analysis.clv.covariates import CovariateFit, _pareto_log_g
from analysis.clv.fitting import check_horizon, check_unit
from analysis.units import DAYS_PER_MONTH


def customer_params(fit: CovariateFit, table: pd.DataFrame) -> dict:
    """Each customer's model parameters: ``r, alpha, s, beta`` or ``r, alpha, a, b`` (``r`` and ``s`` shared)."""
    p, c = fit.params, fit.coefficients
    Zp, Zd = fit.purchase_design.matrix(table), fit.dropout_design.matrix(table)

    def lin(Z, block):
        return Z @ np.array(list(c[block].values())) if Z.shape[1] else np.zeros(len(table))

    out = {"r": p["r"], "alpha": p["alpha"] * np.exp(-lin(Zp, "purchase"))}
    if fit.model == "pareto_nbd":
        out.update(s=p["s"], beta=p["beta"] * np.exp(-lin(Zd, "dropout")))
    else:
        out.update(a=p["a"] * np.exp(lin(Zd, "dropout_a")), b=p["b"] * np.exp(lin(Zd, "dropout_b")))
    return out


def p_alive(model: str, params: dict, x, t_x, T) -> np.ndarray:
    """P(alive at T) with per-customer parameters (arrays)."""
    x, t_x, T = (np.asarray(v, float) for v in (x, t_x, T))
    if model == "bgnbd":
        return pm.p_alive("bgnbd", params, x, t_x, T)
    r, s = float(params["r"]), float(params["s"])
    alpha, beta = np.asarray(params["alpha"], float), np.asarray(params["beta"], float)
    with np.errstate(all="ignore"):
        alive = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
        g_tx, g_T = _pareto_log_g(r, alpha, s, beta, x, t_x), _pareto_log_g(r, alpha, s, beta, x, T)
        gone = np.log(s) - np.log(r + s + x) + g_tx + np.log(-np.expm1(np.minimum(g_T - g_tx, 0.0)))
    return expit(alive - gone)


def discounted_purchases(fit: CovariateFit, table: pd.DataFrame, time_unit: str = "D", horizon_months: int = 12,
                         discount_rate: float = 0.01, days_per_month: float = DAYS_PER_MONTH) -> pd.DataFrame:
    """``p_alive``, ``expected_purchases`` over the horizon and ``discounted_purchases_if_alive`` per customer.

    Same conventions as :func:`analysis.clv.value.discounted_purchases` (months of ``days_per_month``
    days, cash flows at month ends), each customer with their own parameters.
    """
    check_horizon(horizon_months, discount_rate, days_per_month)
    unit_days = check_unit(time_unit)
    x, t_x, T = (table[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    Z = np.hstack([fit.purchase_design.matrix(table), fit.dropout_design.matrix(table)])
    code, first = pm.codes(x, t_x, T, *Z.T)
    sub = table.iloc[first]
    params = customer_params(fit, sub)
    xs, ts, Ts = x[first], t_x[first], T[first]
    months = np.arange(0, int(horizon_months) + 1)
    t = months * days_per_month / unit_days
    cum = np.stack([pm.expected_purchases_if_alive(fit.model, params, ti, xs, ts, Ts) for ti in t], axis=0)
    pa = p_alive(fit.model, params, xs, ts, Ts)
    disc = (1.0 + discount_rate) ** -months[1:]
    return pd.DataFrame({
        "p_alive": pa[code],
        "expected_purchases": (pa * cum[-1])[code],
        "discounted_purchases_if_alive": (disc[:, None] * np.diff(cum, axis=0)).sum(axis=0)[code],
    })


def customer_value(fit: CovariateFit, table: pd.DataFrame, gamma_gamma: dict, time_unit: str = "D",
                   horizon_months: int = 12, discount_rate: float = 0.01,
                   days_per_month: float = DAYS_PER_MONTH) -> pd.DataFrame:
    """``customer_id, p_alive, expected_purchases, expected_avg_value, clv, clv_if_alive`` per customer.

    Spend per purchase is the Gamma-Gamma expectation (no covariates on spend).
    """
    purchases = discounted_purchases(fit, table, time_unit, horizon_months, discount_rate, days_per_month)
    x = table["frequency"].to_numpy(float)
    value = pm.expected_spend(gamma_gamma, x, np.where(x > 0, table["monetary_value"].to_numpy(float), 0.0))
    if_alive = value * purchases["discounted_purchases_if_alive"].to_numpy()
    return pd.DataFrame({
        "customer_id": table["customer_id"].to_numpy(),
        "p_alive": purchases["p_alive"].to_numpy(),
        "expected_purchases": purchases["expected_purchases"].to_numpy(),
        "expected_avg_value": value,
        "clv": purchases["p_alive"].to_numpy() * if_alive,
        "clv_if_alive": if_alive,
    })


__all__ = ["customer_params", "p_alive", "discounted_purchases", "customer_value"]
