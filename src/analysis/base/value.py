"""The month's customer value: the one CLV fit and its conversion to margin, shared by the report and ``kanta clv``.
One path, so the CLI's sum of CLV is the report's customer equity for the same source, date and settings.
"""
from __future__ import annotations

import pandas as pd

from analysis.clv.pipeline import start_analyse
from analysis.units import DAYS_PER_MONTH

#: The CLV columns the value step adds (margin when the data has margin; the sales CLV then stays in ``clv_sales``).
CLV_COLUMNS = ("p_alive", "expected_purchases", "expected_avg_value", "clv", "clv_if_alive")


def margin_rates(table: pd.DataFrame) -> pd.Series | None:
    """Each customer's margin rate (margin / sales) when the customer table has one, else None.

    A customer without a rate of their own (no net sales) gets the sales-weighted rate of the
    others, so a margin value is never silently a sales value.

    Example
    -------
    >>> t = pd.DataFrame({"total_spend": [100.0, 300.0, 0.0], "margin_rate": [0.2, 0.4, None]})
    >>> margin_rates(t).round(3).tolist()
    [0.2, 0.4, 0.35]
    >>> margin_rates(t.drop(columns="margin_rate")) is None
    True
    """
    if "margin_rate" not in table or not table["margin_rate"].notna().any():
        return None
    rate = pd.to_numeric(table["margin_rate"], errors="coerce").astype(float)
    spend = table["total_spend"].astype(float).fillna(0.0).clip(lower=0) if "total_spend" in table \
        else pd.Series(1.0, index=table.index)
    known = rate.notna() & (spend > 0)
    overall = float((rate[known] * spend[known]).sum() / spend[known].sum()) if known.any() else float(rate.mean())
    return rate.fillna(overall)


def fit_customer_value(source, buyers: pd.DataFrame, as_of, settings, freq: str = "D",
                       days_per_month: float = DAYS_PER_MONTH):
    """The month's CLV fit on the buyers' customer table (:func:`analysis.clv.analyse`) with the month's settings.

    ``settings`` is a :class:`~analysis.base.settings.BaseSettings` (horizon, discount rate, model);
    ``source`` gives ``auto`` its calibration/holdout split. Raises :class:`~analysis.errors.ModelError`
    when the data cannot support a model (the caller makes it a finding or an empty file).
    """
    return start_customer_value(source, buyers, as_of, settings, freq, days_per_month, detach=False)()


def start_customer_value(source, buyers: pd.DataFrame, as_of, settings, freq: str = "D",
                         days_per_month: float = DAYS_PER_MONTH, detach: bool | None = None):
    """:func:`fit_customer_value` begun (:func:`analysis.clv.pipeline.start_analyse`): returns a function that
    finishes it. On a big base the fit runs in a child process meanwhile; the source is read only here."""
    return start_analyse(buyers.reset_index(drop=True), as_of, settings.horizon_months, settings.discount_rate,
                         days_per_month, freq, model=settings.clv_model, holdout=source, detach=detach)


def value_basis(table: pd.DataFrame) -> str:
    """``"margin"`` when the customer table carries margin rates, else ``"sales"``."""
    return "sales" if margin_rates(table) is None else "margin"


def attach_value(table: pd.DataFrame, fitted) -> pd.DataFrame:
    """``table`` with the CLV columns of ``fitted`` (NaN without a fit), in margin when the table has margin rates.

    In margin, ``clv`` and ``clv_if_alive`` are the sales values times each customer's margin rate
    (:func:`margin_rates`) and the sales CLV stays in ``clv_sales``. Rows are matched on ``customer_id``.
    """
    t = table
    if fitted is not None:
        v = fitted.values.set_index(fitted.values["customer_id"].astype(str))
        ids = t["customer_id"].astype(str)
        for c in CLV_COLUMNS:
            t[c] = ids.map(v[c]).astype(float).to_numpy()
    else:
        for c in CLV_COLUMNS:
            t[c] = float("nan")
    rate = margin_rates(t)
    if rate is not None:  # value is what the company keeps: margin, not sales
        t["clv_sales"] = t["clv"]
        t["clv"], t["clv_if_alive"] = t["clv"] * rate, t["clv_if_alive"] * rate
    return t


def attach_intervals(table: pd.DataFrame, bounds: pd.DataFrame) -> pd.DataFrame:
    """Per-customer interval bounds (:mod:`analysis.clv.intervals`, on the sales CLV of the fit) for ``table``'s
    customers, in the table's value basis: ``clv_low``/``clv_high`` scaled by each customer's margin rate as
    :func:`attach_value` scales the CLV itself; P(alive) bounds as they are. Customers without a bound get NaN.

    Example
    -------
    >>> t = pd.DataFrame({"customer_id": ["a", "b"], "total_spend": [10.0, 30.0], "margin_rate": [0.2, 0.4]})
    >>> b = pd.DataFrame({"customer_id": ["a"], "clv_low": [80.0], "clv_high": [130.0],
    ...                   "p_alive_low": [0.5], "p_alive_high": [0.9]})
    >>> attach_intervals(t, b).round(2).to_dict("list")
    {'clv_low': [16.0, nan], 'clv_high': [26.0, nan], 'p_alive_low': [0.5, nan], 'p_alive_high': [0.9, nan]}
    """
    b = bounds.set_index(bounds["customer_id"].astype(str))
    key = table["customer_id"].astype(str)
    rate = margin_rates(table)
    out = pd.DataFrame(index=table.index)
    for c in [c for c in ("clv_low", "clv_high", "p_alive_low", "p_alive_high") if c in b]:
        out[c] = key.map(b[c]).astype(float).to_numpy()
        if rate is not None and c.startswith("clv_"):
            out[c] = out[c] * rate.to_numpy()
    return out
