"""The CLV pipeline: from a data source (or a customer table) to a fitted model and per-customer values.
:func:`analyse` returns both as a :class:`CLVResult`; :func:`customer_value` only the values.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis import customers, detached
from analysis.clv.fitting import check_horizon, check_rfm, check_unit
from analysis.clv.holdout import holdout_split
from analysis.clv.model import CLVModel
from analysis.units import DAYS_PER_MONTH


def as_table(source_or_table, as_of, freq: str) -> pd.DataFrame:
    """The customer table of a source at ``as_of`` (in time unit ``freq``), or the table itself when given one."""
    if isinstance(source_or_table, pd.DataFrame):
        return source_or_table
    return customers.customer_table(source_or_table, as_of=as_of, freq=freq)


@dataclass(frozen=True)
class CLVResult:
    """A fitted model together with the per-customer values it produced.

    ``values`` has one row per customer: ``customer_id, p_alive, expected_purchases,
    expected_avg_value, clv, clv_if_alive`` (the value if the customer is surely still
    active; ``clv = p_alive * clv_if_alive``) and the customer table's columns.
    """

    model: CLVModel
    values: pd.DataFrame
    horizon_months: int
    discount_rate: float
    days_per_month: float
    as_of: pd.Timestamp | None = None

    @property
    def equity(self) -> float:
        """Customer equity: the sum of CLV over the horizon."""
        return float(self.values["clv"].sum())

    def summary(self) -> pd.DataFrame:
        """Parameters of both models with standard errors."""
        return self.model.summary()

    def parameters(self) -> dict:
        """The fitted parameters and settings as written by ``kanta clv --params-out`` (JSON-able)."""
        m = self.model
        key = m.purchase_model_
        return {key: m.purchase_.params, "gamma_gamma": m.gamma_gamma_.params, "time_unit": m.time_unit,
                "model": key, "choice": dict(m.choice_),
                "as_of": None if self.as_of is None else str(pd.Timestamp(self.as_of).date()),
                "horizon_months": self.horizon_months, "discount_rate": self.discount_rate,
                "days_per_month": self.days_per_month,
                "standard_errors": {key: m.purchase_.standard_errors, "gamma_gamma": m.gamma_gamma_.standard_errors},
                "comparison": m.comparison_.astype(object).where(m.comparison_.notna(), None).to_dict("records"),
                "gamma_gamma_checks": m.checks_}

    def to_dict(self) -> dict:
        """Parameters, settings, notes and portfolio totals (no per-customer rows)."""
        return {**self.parameters(), "notes": list(self.model.notes_), "n_customers": int(len(self.values)),
                "customer_equity": self.equity, "mean_p_alive": float(self.values["p_alive"].mean())}

    def _repr_html_(self) -> str:
        head = (f"<p><strong>CLV</strong>: {len(self.values):,} customers, equity {self.equity:,.0f} over "
                f"{self.horizon_months} months (discount {self.discount_rate:g}/month)</p>")
        return head + self.summary().to_html(index=False)


def analyse(source_or_table, as_of=None, horizon_months: int = 12, discount_rate: float = 0.01,
            days_per_month: float = DAYS_PER_MONTH, freq: str = "D", model: "CLVModel | str | None" = None,
            holdout=None) -> CLVResult:
    """Fit (unless ``model`` is a fitted :class:`CLVModel`) and score: the model and the per-customer values together.

    Same parameters as :func:`customer_value`, plus: ``model`` may be a purchase-model key
    (``"auto"`` when None, see :class:`CLVModel`); ``holdout`` is the source (or a ready
    calibration/holdout table) ``auto`` chooses by holdout error on. Given a source as
    ``source_or_table``, the holdout split is made from it.
    """
    return start_analyse(source_or_table, as_of, horizon_months, discount_rate, days_per_month, freq, model, holdout,
                         detach=False)()


#: From this many customers the month's fit runs in a child process (:func:`start_analyse` with ``detach=None``).
DETACH_CUSTOMERS = 50_000


def start_analyse(source_or_table, as_of=None, horizon_months: int = 12, discount_rate: float = 0.01,
                  days_per_month: float = DAYS_PER_MONTH, freq: str = "D", model: "CLVModel | str | None" = None,
                  holdout=None, *, detach: bool | None = None):
    """:func:`analyse` begun: returns a function that finishes it (the :class:`CLVResult`, or the fit's ModelError).

    The customer table and the holdout split are read here; the fit (numbers only: the RFM columns and the
    split) runs in a child interpreter (:mod:`analysis.detached`) when ``detach`` is true, or by default from
    :data:`DETACH_CUSTOMERS` customers, so the caller computes other parts meanwhile; the scoring runs here when
    finishing. The child fits the same numbers with the same code: the same model as a fit here.
    """
    check_horizon(horizon_months, discount_rate, days_per_month)
    check_unit(freq)
    table = as_table(source_or_table, as_of, freq)
    check_rfm(table)
    if isinstance(model, CLVModel):
        fitted = detached.run_here(lambda: model)
    else:
        key = "auto" if model is None else model.replace("-", "_")
        if key == "auto" and holdout is None and not isinstance(source_or_table, pd.DataFrame):
            holdout = source_or_table
        if key == "auto" and holdout is not None and not isinstance(holdout, pd.DataFrame):
            holdout = holdout_split(holdout, as_of, freq, days_per_month=days_per_month, table=table)
        detach = len(table) >= DETACH_CUSTOMERS if detach is None else detach
        if detach:  # only the numbers the fit reads go to the child (customers by position: the fit reads no id)
            rfm = table[["frequency", "recency", "T", "monetary_value"]].assign(customer_id=np.arange(len(table)))
            split = None if holdout is None else holdout.drop(columns=["customer_id"], errors="ignore")
            fitted = detached.start(fit_model, rfm, key, freq, split)
        else:
            fitted = detached.run_here(fit_model, table, key, freq, holdout)

    def finish() -> CLVResult:
        fit = fitted()
        out = fit.predict(table, horizon_months, discount_rate, days_per_month)
        extra = [c for c in table.columns if c not in out.columns]
        if extra:
            out = pd.concat([out, table[extra].reset_index(drop=True)], axis=1)
        return CLVResult(fit, out, int(horizon_months), float(discount_rate), float(days_per_month),
                         None if as_of is None else pd.Timestamp(as_of))

    return finish


def fit_model(table: pd.DataFrame, key: str, freq: str, holdout: pd.DataFrame | None) -> CLVModel:
    """The purchase and spend models fitted on ``table`` (``auto`` choosing on ``holdout``): the detachable part."""
    return CLVModel(time_unit=freq, model=key).fit(table, holdout=holdout)


def customer_value(source_or_table, as_of=None, horizon_months: int = 12, discount_rate: float = 0.01,
                   days_per_month: float = DAYS_PER_MONTH, freq: str = "D", model: "CLVModel | str | None" = None,
                   ) -> pd.DataFrame:
    """Fit a purchase model + Gamma-Gamma and return one row per customer with P(alive) and CLV.

    Parameters
    ----------
    source_or_table : Source, path or DataFrame
        A data source (the customer table is built with
        :func:`analysis.customers.table.customer_table`) or an already built customer table.
    as_of : date
        Analysis date (transactions on that day count).
    horizon_months : int
        CLV horizon in months; one month is ``days_per_month`` days.
    discount_rate : float
        Monthly discount rate.
    days_per_month : float
        Length of a month in days (default 30.4375 = 365.25 / 12).
    freq : {"D", "W"}
        Time unit of the customer table the models are fitted in.
    model : CLVModel or str, optional
        An already fitted model to score with (no refit), or a purchase-model key (default auto).

    Returns
    -------
    DataFrame
        ``customer_id, p_alive, expected_purchases, expected_avg_value, clv,
        frequency, recency, T, monetary_value`` plus the table's other columns.
        Use :func:`analyse` to get the fitted model as well.

    Example
    -------
    >>> values = customer_value("data/sample", as_of="2026-10-31", model="bgnbd")
    >>> bool(values["clv"].sum() > 0), bool((values["clv"] <= values["clv_if_alive"]).all())
    (True, True)
    """
    return analyse(source_or_table, as_of, horizon_months, discount_rate, days_per_month, freq, model).values

