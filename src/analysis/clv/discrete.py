"""Customer value where buying happens at discrete opportunities (draws, appeals, seasons): BG/BB x spend.
Builds each customer's ``(x, t_x, n)`` over calendar opportunities in DuckDB and scores P(alive) and CLV.

The opportunities are the complete calendar periods (year, month or ISO week) from the period of a
customer's first purchase up to ``as_of``: opportunity 0 holds the first purchase, a customer buys
at most once per opportunity (several transactions in one period are one purchase of their summed
amount), and a period still under way at ``as_of`` is not an opportunity yet.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.clv import bgbb
from analysis.clv import likelihoods as pm
from analysis.clv.fitting import MIN_REPEAT_CUSTOMERS, check_horizon, compress, fit_model, spend_outliers
from analysis.data import load_source, money_sql, quote_literal
from analysis.errors import ModelError, ParameterError

#: Opportunities per month of the CLV horizon.
OPPORTUNITIES = {"year": 1 / 12, "month": 1.0, "week": 12 / (365.25 / 7)}


def check_opportunity(opportunity: str) -> str:
    if opportunity not in OPPORTUNITIES:
        raise ParameterError(f"opportunity: got {opportunity!r}, expected one of {', '.join(OPPORTUNITIES)}.")
    return opportunity


def opportunity_table(source, as_of, opportunity: str) -> pd.DataFrame:
    """One row per buying customer: ``customer_id, x, t_x, n, monetary_value`` (mean spend of the repeat
    opportunities) and ``mean_spend`` (of every opportunity with a purchase), computed in DuckDB."""
    check_opportunity(opportunity)
    src = load_source(source, as_of=as_of)
    d = f"CAST({quote_literal(str(pd.Timestamp(src.as_of).date()))} AS DATE)"
    p = opportunity
    # the start of the last complete period: the one holding as_of when as_of is its last day, else the one before
    last = (f"CASE WHEN date_trunc('{p}', {d} + INTERVAL 1 DAY) = {d} + INTERVAL 1 DAY THEN date_trunc('{p}', {d}) "
            f"ELSE date_trunc('{p}', {d}) - INTERVAL 1 {p.upper()} END")
    return src.sql(f"""
        WITH o AS (
            SELECT customer_id, CAST(date_trunc('{p}', timestamp) AS DATE) AS o,
                   CAST(sum({money_sql('amount')}) AS DOUBLE) AS spend
            FROM transactions WHERE CAST(timestamp AS DATE) <= {d} GROUP BY ALL
        ), i AS (
            SELECT customer_id, spend, datediff('{p}', min(o) OVER (PARTITION BY customer_id), o) AS i,
                   greatest(0, datediff('{p}', min(o) OVER (PARTITION BY customer_id), CAST({last} AS DATE))) AS n
            FROM o
        )
        SELECT customer_id,
               count(*) FILTER (WHERE i BETWEEN 1 AND n) AS x,
               coalesce(max(i) FILTER (WHERE i BETWEEN 1 AND n), 0) AS t_x,
               any_value(n) AS n,
               coalesce(avg(spend) FILTER (WHERE i BETWEEN 1 AND n), 0) AS monetary_value,
               avg(spend) FILTER (WHERE i <= n) AS mean_spend
        FROM i GROUP BY customer_id ORDER BY customer_id""")


@dataclass(frozen=True)
class DiscreteCLVResult:
    """BG/BB fit, the spend side and per-customer values (the same columns as :func:`analysis.clv.analyse`)."""

    fit: bgbb.BGBBFit
    gamma_gamma: dict | None  # None: the customer's own mean spend values each purchase
    spend_finding: str | None  # why Gamma-Gamma was not used
    values: pd.DataFrame
    opportunity: str
    as_of: pd.Timestamp
    horizon_months: int
    discount_rate: float
    horizon_opportunities: int

    def parameters(self) -> dict:
        """The fitted parameters and settings as written by ``kanta clv --model bgbb --params-out`` (JSON-able)."""
        return {"bgbb": dict(self.fit.params), "gamma_gamma": self.gamma_gamma, "model": "bgbb",
                "opportunity": self.opportunity, "time_unit": self.opportunity,
                "spend_model": "gamma_gamma" if self.gamma_gamma else "customer_mean", "spend_note": self.spend_finding,
                "as_of": str(self.as_of.date()), "horizon_months": self.horizon_months,
                "horizon_opportunities": self.horizon_opportunities, "discount_rate": self.discount_rate,
                "standard_errors": {"bgbb": dict(self.fit.standard_errors)},
                "log_likelihood": self.fit.log_likelihood, "n_customers": self.fit.n_customers,
                "n_rows": self.fit.n_rows}


def _spend(table: pd.DataFrame) -> tuple[np.ndarray, dict | None, str | None]:
    """Expected value per purchase: Gamma-Gamma on repeat customers when it can be fitted, else the customer's mean."""
    x, m = table["x"].to_numpy(float), table["monetary_value"].to_numpy(float)
    fallback = np.clip(table["mean_spend"].fillna(0).to_numpy(float), 0, None)
    spend = table[(x > 0) & (m > 0)]
    out, bound = spend_outliers(spend["monetary_value"].to_numpy(float))
    spend = spend[~out]
    if len(spend) < MIN_REPEAT_CUSTOMERS:
        return fallback, None, "too_few_repeat_customers"
    rows, _ = compress(spend.rename(columns={"x": "frequency"}), ["frequency", "monetary_value"])
    try:
        gg = fit_model("gamma_gamma", rows, rows["weight"]).params
    except ModelError as exc:
        return fallback, None, exc.reason
    if gg["q"] <= 1:
        return fallback, None, "spend_model_undefined"
    return pm.expected_spend(gg, x, np.minimum(m, bound)), gg, None


def analyse_bgbb(source, as_of, opportunity: str = "year", horizon_months: int = 12,
                 discount_rate: float = 0.01) -> DiscreteCLVResult:
    """Fit BG/BB on the source's opportunities and value every buying customer over ``horizon_months``.

    ``discount_rate`` is monthly (as for the other models); an opportunity ``k`` periods ahead is
    discounted by ``(1 + discount_rate) ** (k * months per opportunity)``. The horizon covers
    ``round(horizon_months x opportunities per month)`` opportunities (at least one).

    Raises :class:`ModelError` (a finding) when the BG/BB cannot be fitted on this data.
    """
    check_opportunity(opportunity)
    check_horizon(horizon_months, discount_rate)
    src = load_source(source, as_of=as_of)
    table = opportunity_table(src, src.as_of, opportunity)
    if table.empty:
        raise ModelError("transactions: no purchases up to as_of; BG/BB needs buying customers.",
                         reason="too_few_repeat_customers", facts={"n": 0, "minimum": bgbb.MIN_REPEAT_CUSTOMERS})
    rows, pos = compress(table, ["x", "t_x", "n"])
    fit = bgbb.fit_bgbb(rows["x"], rows["t_x"], rows["n"], rows["weight"])
    per_month = OPPORTUNITIES[opportunity]
    H = max(1, int(round(horizon_months * per_month)))
    d = (1 + discount_rate) ** (1 / per_month) - 1
    x, t_x, n = (rows[c].to_numpy(float) for c in ("x", "t_x", "n"))
    alive = bgbb.p_alive(fit.params, x, t_x, n)[pos]
    expected = bgbb.expected_transactions(fit.params, H, x, t_x, n)[pos]
    discounted = bgbb.discounted_transactions(fit.params, H, d, x, t_x, n)[pos]
    value, gg, note = _spend(table)
    clv = discounted * value
    with np.errstate(all="ignore"):
        if_alive = np.where(alive > 0, clv / alive, 0.0)
    values = pd.DataFrame({"customer_id": table["customer_id"].to_numpy(), "p_alive": alive,
                           "expected_purchases": expected, "expected_avg_value": value, "clv": clv,
                           "clv_if_alive": if_alive, "frequency": table["x"].to_numpy(),
                           "recency": table["t_x"].to_numpy(), "T": table["n"].to_numpy(),
                           "monetary_value": table["monetary_value"].to_numpy()})
    return DiscreteCLVResult(fit, gg, note, values, opportunity, pd.Timestamp(src.as_of), int(horizon_months),
                             float(discount_rate), H)


__all__ = ["OPPORTUNITIES", "DiscreteCLVResult", "analyse_bgbb", "opportunity_table", "check_opportunity"]
