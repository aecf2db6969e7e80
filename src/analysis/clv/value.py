"""Customer value formulas: P(alive), discounted expected purchases and Gamma-Gamma spend per customer.
Given fitted parameters, score customers over a horizon in months; no fitting happens here.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.clv import likelihoods as pm
from analysis.clv.fitting import check_horizon, check_unit
from analysis.errors import ParameterError
from analysis.units import DAYS_PER_MONTH


def gg_expected_value(params, x, m):
    return pm.expected_spend(params, x, m)


def _check_purchase(params, model: str = "bgnbd") -> None:
    names = pm.PARAMS[model]
    bad = [k for k in names if not (np.isfinite(params.get(k, np.nan)) and params[k] > 0)]
    if bad:
        raise ParameterError(f"{model} parameters: {', '.join(bad)} must be positive finite numbers, got {params}.")


def _check_gg(params) -> None:
    bad = [k for k in ("p", "q", "v") if not (np.isfinite(params.get(k, np.nan)) and params[k] > 0)]
    if bad:
        raise ParameterError(f"gamma_gamma parameters: {', '.join(bad)} must be positive finite numbers, got {params}.")


def clv_from_params(purchase: dict, gamma_gamma: dict, frequency, recency, T, monetary_value, *,
                    model: str = "bgnbd", time_unit: str = "D", horizon_months: int = 12,
                    discount_rate: float = 0.01, days_per_month: float = DAYS_PER_MONTH) -> pd.DataFrame:
    """Score customers with given purchase-model (``model``) and Gamma-Gamma parameters.

    CLV is the sum over months ``m = 1..horizon_months`` of the expected purchases
    in month ``m`` times the expected average purchase value, discounted by
    ``(1 + discount_rate) ** m`` (cash flows at month ends). A month is
    ``days_per_month`` days; ``alpha`` (and ``beta``) are per ``time_unit``.

    Returns
    -------
    DataFrame
        ``p_alive, expected_purchases, expected_avg_value, clv`` and ``clv_if_alive``
        (the CLV if the customer is surely still active), in input order.

    Example
    -------
    >>> out = clv_from_params({"r": .24, "alpha": 4.4, "a": .79, "b": 2.4}, {"p": 6.25, "q": 3.74, "v": 15.4},
    ...                       [2], [30.4], [38.9], [35.0], time_unit="W")
    >>> round(float(out["p_alive"].iloc[0]), 3)
    0.725
    """
    _check_gg(gamma_gamma)
    x = np.asarray(frequency, float)
    purchases = discounted_purchases(purchase, x, recency, T, model=model, time_unit=time_unit,
                                     horizon_months=horizon_months, discount_rate=discount_rate,
                                     days_per_month=days_per_month)
    value = gg_expected_value(gamma_gamma, x, np.where(x > 0, np.asarray(monetary_value, float), 0.0))
    return combine(purchases, value)


def combine(purchases: pd.DataFrame, value: np.ndarray) -> pd.DataFrame:
    """Per-customer value from the purchase side and the spend per purchase (CLV = survival x value if alive)."""
    clv_if_alive = value * purchases["discounted_purchases_if_alive"].to_numpy()
    survival = purchases["survival_weight"].to_numpy() if "survival_weight" in purchases \
        else purchases["p_alive"].to_numpy()
    return pd.DataFrame({
        "p_alive": purchases["p_alive"].to_numpy(),
        "expected_purchases": purchases["expected_purchases"].to_numpy(),
        "expected_avg_value": value,
        "clv": survival * clv_if_alive,
        "clv_if_alive": clv_if_alive,
    })


def discounted_purchases(params: dict, frequency, recency, T, *, model: str = "bgnbd", time_unit: str = "D",
                         horizon_months: int = 12, discount_rate: float = 0.01,
                         days_per_month: float = DAYS_PER_MONTH) -> pd.DataFrame:
    """The purchase side of CLV: ``p_alive``, ``expected_purchases`` over the horizon,
    ``discounted_purchases_if_alive`` (sum over months of expected purchases in the month if
    alive, discounted) and ``survival_weight``; CLV = ``survival_weight * discounted_purchases_if_alive
    * expected_avg_value``. The weight is P(alive), or 1 under the NBD, whose P(alive) is NaN
    (not estimable) while its purchases and value over the finite horizon are.
    """
    _check_purchase(params, model)
    check_horizon(horizon_months, discount_rate, days_per_month)
    unit_days = check_unit(time_unit)
    x, t_x, T = (np.asarray(v, float) for v in (frequency, recency, T))
    months = np.arange(0, int(horizon_months) + 1)
    t = months * days_per_month / unit_days
    # E[purchases] = P(alive) x E[purchases | alive]; the conditional part gives the value if active.
    # It depends on (x, T) only: computed once per distinct pair (2F1 on thousands, not millions)
    pair, first = pm.codes(x, T)
    px, pT = x[first], T[first]
    cum_alive = np.stack([pm.expected_purchases_if_alive(model, params, ti, px, t_x[first], pT) for ti in t], axis=0)
    p_alive = pm.p_alive(model, params, x, t_x, T)
    survival = pm.survival_weight(model, params, x, t_x, T)
    disc = (1.0 + discount_rate) ** -months[1:]
    return pd.DataFrame({
        "p_alive": p_alive,
        "expected_purchases": survival * cum_alive[-1][pair],
        "survival_weight": survival,
        "discounted_purchases_if_alive": (disc[:, None] * np.diff(cum_alive, axis=0)).sum(axis=0)[pair],
    })

