"""Contractual retention of a data source: cohorts by signup period, survivor counts and sBG fits.
Counts come from DuckDB (one row per cohort, tenure and outcome); the fits run on them (:mod:`analysis.clv.sbg`).

A contract is running ``t`` periods after ``signup_date`` when its ``churn_date`` is empty or
later than ``signup_date + t periods``. A subscriber is observed for every complete period up to
``as_of``; a contract that ended in the period still under way counts as running at the last
complete one (its ending is not yet a whole period's outcome).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
import numpy as np
import pandas as pd

from analysis.clv import sbg
from analysis.data import load_source, money_sql, quote_literal
from analysis.errors import DataError, ModelError, ParameterError
from analysis.findings import Finding

PERIODS = ("year", "month")
#: Periods projected beyond the last one observed (the contract asks for at least 5).
PROJECTED_PERIODS = 5
#: Default discount rate per year for DERL; per month it is the same rate compounded monthly.
DISCOUNT_PER_YEAR = 0.10


def check_period(period: str) -> str:
    if period not in PERIODS:
        raise ParameterError(f"period: got {period!r}, expected one of {', '.join(PERIODS)}.")
    return period


def period_discount(period: str, per_year: float = DISCOUNT_PER_YEAR) -> float:
    """A yearly discount rate as a rate per ``period``."""
    return per_year if period == "year" else (1 + per_year) ** (1 / 12) - 1


def _has_churn_column(src) -> bool:
    try:
        return "churn_date" in src.columns("raw_customers")
    except duckdb.Error:  # a source without raw views (a database): the view's column is there, look for values
        return int(src.sql("SELECT count(churn_date) AS n FROM customers")["n"].iloc[0]) > 0


def has_contracts(src) -> bool:
    """Whether the source records contract ends (``customers.churn_date``): the retention page is made only then."""
    try:
        return bool(src.has("customers") and _has_churn_column(src))
    except duckdb.Error:  # a customers view without the column
        return False


def check_contracts(src) -> None:
    """Raise :class:`DataError` unless the source has contract ends: ``customers.churn_date``, never before signup."""
    if not src.has("customers") or not _has_churn_column(src):
        raise DataError("customers: no churn_date column; retention needs each contract's end date "
                        "(customers.churn_date, empty while the contract runs).")
    bad = src.sql("SELECT customer_id, signup_date, churn_date, count(*) OVER () AS n FROM customers "
                  "WHERE churn_date < signup_date ORDER BY customer_id LIMIT 1")
    if len(bad):
        r = bad.iloc[0]
        raise DataError(f"customers.churn_date: {int(r['n'])} rows end before their signup_date, e.g. customer "
                        f"{r['customer_id']} (signup {pd.Timestamp(r['signup_date']).date()}, churn "
                        f"{pd.Timestamp(r['churn_date']).date()}); expected churn_date on or after signup_date.")


def check_cohort_by(cohort_by: str | None, period: str) -> str:
    """The cohort length: ``period`` by default; a year of monthly periods is allowed, a month of yearly ones not."""
    cohort_by = cohort_by or period
    if cohort_by not in PERIODS or PERIODS.index(cohort_by) > PERIODS.index(period):
        raise ParameterError(f"cohort_by: got {cohort_by!r}, expected {' or '.join(PERIODS[:PERIODS.index(period) + 1])} "
                             f"for {period} periods.")
    return cohort_by


def survivor_counts(src, as_of, period: str, cohort_by: str | None = None) -> pd.DataFrame:
    """One row per ``(cohort, t, churned)`` with ``customers``: contracts that ended in period ``t`` (churned)
    or were still running at ``t``, the last complete period observed (not churned). Computed in DuckDB.

    Cohorts are signup ``period``s, or signup years of monthly contracts with ``cohort_by="year"``."""
    check_period(period)
    cohort_by = check_cohort_by(cohort_by, period)
    d = f"CAST({quote_literal(str(pd.Timestamp(as_of).date()))} AS DATE)"
    step = f"INTERVAL 1 {period.upper()}"
    return src.sql(f"""
        WITH c AS (
            SELECT CAST(signup_date AS DATE) AS s, CAST(churn_date AS DATE) AS e,
                   CAST(date_trunc('{cohort_by}', signup_date) AS DATE) AS cohort,
                   datediff('{period}', signup_date, {d}) AS m_obs, datediff('{period}', signup_date, churn_date) AS m_end
            FROM customers WHERE signup_date <= {d}
        ), k AS (
            SELECT cohort,
                   m_obs - CASE WHEN s + m_obs * {step} > {d} THEN 1 ELSE 0 END AS k,
                   CASE WHEN e IS NULL OR e > {d} THEN NULL
                        ELSE greatest(1, m_end + CASE WHEN s + m_end * {step} < e THEN 1 ELSE 0 END) END AS tc
            FROM c
        )
        SELECT cohort, CASE WHEN tc <= k THEN tc ELSE k END AS t, coalesce(tc <= k, FALSE) AS churned,
               count(*) AS customers
        FROM k GROUP BY ALL ORDER BY cohort, t, churned""")


def to_counts(rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """``(churned, censored)`` arrays for :func:`analysis.clv.sbg.fit_sbg` from :func:`survivor_counts` rows."""
    K = int(rows["t"].max()) if len(rows) else 0
    t, n, ch = rows["t"].to_numpy(int), rows["customers"].to_numpy(float), rows["churned"].to_numpy(bool)
    churned = np.bincount(t[ch] - 1, weights=n[ch], minlength=K)[:K] if K else np.zeros(0)
    censored = np.bincount(t[~ch], weights=n[~ch], minlength=K + 1)
    return churned.astype(float), censored.astype(float)


def cohort_label(cohort, period: str) -> str:
    ts = pd.Timestamp(cohort)
    return str(ts.year) if period == "year" else f"{ts.year}-{ts.month:02d}"


@dataclass(frozen=True)
class CohortRetention:
    """One cohort's (or the base's) survivors observed, its sBG fit and projection, or why there is none."""

    cohort: str
    customers: int
    survival_observed: tuple  # share still subscribed at t = 0..K (product-limit)
    fit: sbg.SBGFit | None
    finding: Finding | None
    projected_periods: int = PROJECTED_PERIODS

    @property
    def survival_projected(self) -> list:
        """S(t) for the periods after the last observed one (empty without a fit)."""
        if self.fit is None:
            return []
        K = len(self.survival_observed) - 1
        return [float(v) for v in self.fit.survival(np.arange(K + 1, K + 1 + self.projected_periods))]

    def to_dict(self) -> dict:
        out = {"cohort": self.cohort, "customers": self.customers,
               "alpha": None if self.fit is None else self.fit.alpha, "beta": None if self.fit is None else self.fit.beta,
               "survival_observed": [float(v) for v in self.survival_observed],
               "survival_projected": self.survival_projected,
               "first_projected_period": len(self.survival_observed)}
        if self.fit is not None:
            out["standard_errors"] = {"alpha": self.fit.alpha_se, "beta": self.fit.beta_se}
        if self.finding is not None:
            out["finding"] = self.finding.to_dict()
        return out


def _cohort(label: str, rows: pd.DataFrame, projected: int) -> CohortRetention:
    churned, censored = to_counts(rows)
    observed = tuple(sbg.kaplan_meier(churned, censored))
    n = int(rows["customers"].sum())
    try:
        fit, finding = sbg.fit_sbg(churned, censored), None
    except ModelError as exc:
        fit, finding = None, Finding("retention.sbg", exc.reason, {"cohort": label, **exc.facts}, str(exc))
    return CohortRetention(label, n, observed, fit, finding, projected)


@dataclass(frozen=True)
class RetentionResult:
    """sBG for the whole base and per signup cohort, with residual value per subscriber by tenure."""

    as_of: pd.Timestamp
    period: str
    base: CohortRetention
    cohorts: tuple
    discount_rate: float  # per period
    value_per_period: float | None  # mean net amount per running contract in the last complete period
    residual: pd.DataFrame = field(default_factory=pd.DataFrame)  # tenure, retention_rate, derl, residual_value
    holdout: sbg.RetentionHoldout | None = None  # the base fitted on its first periods, against the later ones
    cohort_by: str | None = None  # cohorts by signup year or period (None: by period)
    running: int | None = None  # contracts running at as_of
    outlook: dict | None = None  # the running subscribers' mean next renewal rate, DERL and residual value

    @property
    def findings(self) -> list:
        return [c.finding for c in (self.base, *self.cohorts) if c.finding is not None]

    def to_dict(self) -> dict:
        base = self.base
        return {
            "as_of": str(self.as_of.date()), "period": self.period, "cohort_by": self.cohort_by or self.period,
            "running": self.running,
            "sbg": None if base.fit is None else {"alpha": base.fit.alpha, "beta": base.fit.beta},
            "standard_errors": None if base.fit is None else {"alpha": base.fit.alpha_se, "beta": base.fit.beta_se},
            "log_likelihood": None if base.fit is None else base.fit.log_likelihood,
            "customers": base.customers,
            "survival_observed": [float(v) for v in base.survival_observed],
            "first_projected_period": len(base.survival_observed),
            "projected_survival": base.survival_projected,
            "discount_rate": self.discount_rate, "value_per_period": self.value_per_period,
            "residual": self.residual.astype(object).where(self.residual.notna(), None).to_dict("records"),
            "holdout": None if self.holdout is None else self.holdout.to_dict(),
            "running_outlook": self.outlook,
            "cohorts": [c.to_dict() for c in self.cohorts],
            "findings": [f.to_dict() for f in self.findings],
        }


def value_per_period(src, as_of, period: str) -> float | None:
    """Mean net amount per contract running at ``as_of`` in the last period before it (None without transactions)."""
    d = f"CAST({quote_literal(str(pd.Timestamp(as_of).date()))} AS DATE)"
    row = src.sql(f"""
        WITH running AS (SELECT customer_id FROM customers
                         WHERE signup_date <= {d} - INTERVAL 1 {period.upper()} AND (churn_date IS NULL OR churn_date > {d}))
        SELECT (SELECT count(*) FROM running) AS n,
               (SELECT CAST(sum({money_sql('amount')}) AS DOUBLE) FROM transactions t SEMI JOIN running r USING (customer_id)
                WHERE CAST(t.timestamp AS DATE) > {d} - INTERVAL 1 {period.upper()}
                  AND CAST(t.timestamp AS DATE) <= {d}) AS amount""").iloc[0]
    if not row["n"] or pd.isna(row["amount"]):
        return None
    return float(row["amount"]) / float(row["n"])


def running_contracts(src, as_of) -> int:
    """Contracts running at ``as_of``: signed on or before it, not ended by it."""
    d = f"CAST({quote_literal(str(pd.Timestamp(as_of).date()))} AS DATE)"
    return int(src.sql(f"SELECT count(*) AS n FROM customers WHERE signup_date <= {d} "
                       f"AND (churn_date IS NULL OR churn_date > {d})")["n"].iloc[0])


def analyse_retention(source, as_of, period: str = "year", projected_periods: int = PROJECTED_PERIODS,
                      discount_rate: float | None = None, cohort_by: str | None = None) -> RetentionResult:
    """Cohorts by signup ``period``, their survivors and sBG fits, the base's fit and residual values.

    Parameters
    ----------
    source : Source or path
    as_of : date
        Analysis date: periods are observed up to it.
    period : {"year", "month"}
    projected_periods : int
        Periods projected beyond the last observed one (at least 5).
    discount_rate : float, optional
        Per period, for DERL (default :data:`DISCOUNT_PER_YEAR` a year).
    cohort_by : {"year", "month"}, optional
        Length of the signup cohorts (default ``period``; "year" groups monthly contracts by signup year).

    Raises
    ------
    DataError
        No ``customers.churn_date`` column, or a contract that ends before it starts.

    A cohort (or the base) whose fit cannot be made gets a :class:`~analysis.findings.Finding` instead.
    """
    check_period(period)
    cohort_by = check_cohort_by(cohort_by, period)
    if int(projected_periods) != projected_periods or projected_periods < 5:
        raise ParameterError(f"projected_periods: got {projected_periods!r}, expected a whole number >= 5.")
    src = load_source(source, as_of=as_of)
    as_of = pd.Timestamp(src.as_of)
    check_contracts(src)
    d = period_discount(period) if discount_rate is None else float(discount_rate)
    rows = survivor_counts(src, as_of, period, cohort_by)
    base_rows = rows.groupby(["t", "churned"], as_index=False)["customers"].sum()
    base = _cohort("all", base_rows, projected_periods)
    cohorts = tuple(_cohort(cohort_label(c, cohort_by), g, projected_periods) for c, g in rows.groupby("cohort"))
    value = value_per_period(src, as_of, period)
    residual = pd.DataFrame()
    if base.fit is not None:
        tenure = np.arange(0, len(base.survival_observed) + projected_periods)
        dl = base.fit.derl(d, tenure + 1)
        residual = pd.DataFrame({"tenure": tenure, "retention_rate": base.fit.retention_rate(tenure + 1), "derl": dl,
                                 "residual_value": dl * value if value is not None else np.nan})
    return RetentionResult(as_of, period, base, cohorts, d, value, residual, _holdout(base_rows), cohort_by,
                           running_contracts(src, as_of), running_outlook(base.fit, base_rows, d, value))


def running_outlook(fit: sbg.SBGFit | None, rows: pd.DataFrame, discount_rate: float, value: float | None) -> dict | None:
    """Means over the subscribers still running at their last complete period ``k`` (weights: how many have each
    tenure): the chance to renew at ``k + 1``, DERL and residual value. None without a fit.

    A tenure mix matters: the longer a subscriber has stayed, the likelier the next renewal (sBG), so the
    base's next renewal rate is the tenure-weighted mean of ``r(k + 1)``, not the rate of a new cohort.
    """
    running = rows[~rows["churned"]]
    if fit is None or running["customers"].sum() == 0:
        return None
    k, w = running["t"].to_numpy(float), running["customers"].to_numpy(float)
    dl = fit.derl(discount_rate, k + 1)
    out = {"subscribers": int(w.sum()), "renewal_rate": float(np.average(fit.retention_rate(k + 1), weights=w)),
           "derl": float(np.average(dl, weights=w)), "mean_tenure": float(np.average(k, weights=w))}
    out["residual_value"] = None if value is None else out["derl"] * value
    return out


def _holdout(rows: pd.DataFrame) -> sbg.RetentionHoldout | None:
    """The base fitted on all but its last third of periods (at least one held out), or None when too short."""
    churned, censored = to_counts(rows)
    K = len(churned)
    k = K - max(1, K // 3)
    if k < sbg.MIN_PERIODS:
        return None
    try:
        return sbg.holdout_counts(churned, censored, k)
    except ModelError:
        return None


__all__ = ["PERIODS", "PROJECTED_PERIODS", "DISCOUNT_PER_YEAR", "CohortRetention", "RetentionResult",
           "analyse_retention", "running_outlook", "survivor_counts", "running_contracts", "check_cohort_by", "to_counts", "check_contracts", "has_contracts", "value_per_period", "period_discount"]
