"""What predicts churn: early behaviour and customer attributes in a landmark Cox model.

Behaviour in a customer's first ``window_days`` predicts churn after them; small attribute levels are pooled first.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from analysis.churn.cox import CoxResult, fit_cox, one_hot
from analysis.churn.kaplan_meier import pool_small_groups
from analysis.churn.rule import ATTRIBUTES, as_of_date, source_at, sql_date
from analysis.errors import ModelError

#: A Cox attribute level needs this many customers and churns in the model data, else it is pooled
#: (a level of one customer, or one where nobody churned, has no finite hazard ratio).
MIN_LEVEL_CUSTOMERS = 20
MIN_LEVEL_EVENTS = 3
#: Churns the Cox model needs at all (fewer: the model is not estimated and the page says why).
MIN_COX_EVENTS = 10
#: Above this many customers in the Cox model's landmark set, the model (fit, concordance and proportional-hazards
#: check) runs on a seeded random subsample of this many customers: its standard errors and intervals are those of
#: the subsample (honest, a little wider), the page says so, and the fit time stops growing with the base.
COX_CUSTOMERS = 200_000


def _tx_columns(source) -> set:
    return set(source.columns("transactions"))


def early_behaviour(days: pd.DataFrame, windows_days: Sequence[int] = (30, 90)) -> pd.DataFrame:
    """Purchase days and spend in each customer's first 30 / 90 days (from the first purchase).

    Returns ``customer_id, purchases_30d, spend_30d, purchases_90d, spend_90d``; add breadth with
    :func:`early_categories`.
    """
    d = days.copy()
    first = d.groupby("customer_id")["day"].transform("min")
    d["age_days"] = (d["day"] - first).dt.days
    out = pd.DataFrame({"customer_id": sorted(d["customer_id"].unique())}).set_index("customer_id")
    for w in windows_days:
        win = d[d["age_days"] < w].groupby("customer_id")
        out[f"purchases_{w}d"] = win.size()
        out[f"spend_{w}d"] = win["spend"].sum()
    return out.fillna(0).reset_index()


def early_categories(source_or_path, as_of=None, windows_days: Sequence[int] = (30, 90)) -> pd.DataFrame:
    """Distinct product categories bought in each customer's first 30 / 90 days (SQL on DuckDB)."""
    src = source_at(source_or_path, as_of)
    as_of = as_of_date(src, as_of)
    if "category" not in _tx_columns(src):
        return pd.DataFrame(columns=["customer_id"] + [f"categories_{w}d" for w in windows_days])
    cols = ", ".join(f"COUNT(DISTINCT CASE WHEN d - f < {int(w)} THEN category END) AS categories_{int(w)}d"
                     for w in windows_days)
    q = f"""
        WITH p AS (
            SELECT customer_id, CAST(timestamp AS DATE) AS d, category
            FROM transactions WHERE CAST(timestamp AS DATE) <= {sql_date(as_of)} AND amount > 0),
        f AS (SELECT customer_id, MIN(d) AS f FROM p GROUP BY 1)
        SELECT p.customer_id, {cols} FROM p JOIN f USING (customer_id) GROUP BY 1"""
    out = src.sql(q)
    out["customer_id"] = out["customer_id"].astype(str)
    return out


@dataclass(frozen=True)
class ChurnCox:
    """The Cox model of churn on early behaviour and attributes, with what went into it.

    Attributes
    ----------
    cox : CoxResult
    references : dict
        ``{attribute: reference level}``: hazard ratios compare with a customer of these levels.
    window_days : int
        The landmark: behaviour in the first ``window_days`` predicts churn after them.
    n_excluded_recent : int
        Customers not in the model (started less than ``window_days`` ago, or churned within them).
    pooled : dict
        ``{attribute: levels pooled into OTHER}`` (too few customers or churns for their own ratio).
    n_eligible : int or None
        Customers in the landmark set when the model ran on a seeded subsample of them (``cox.n`` customers,
        see :data:`COX_CUSTOMERS`); None when it ran on all of them.
    """

    cox: CoxResult
    references: Mapping[str, str]
    window_days: int
    n_excluded_recent: int
    data: pd.DataFrame = field(repr=False)
    pooled: Mapping[str, tuple] = field(default_factory=dict)
    n_eligible: int | None = None

    def summary(self) -> pd.DataFrame:
        return self.cox.summary()

    def to_dict(self) -> dict:
        return {**self.cox.to_dict(), "references": dict(self.references), "window_days": self.window_days,
                "n_excluded_recent": self.n_excluded_recent, "pooled": {k: list(v) for k, v in self.pooled.items()},
                "n_eligible": self.n_eligible}

    def _repr_html_(self) -> str:
        return self.cox._repr_html_()


def cox_dataset(table: pd.DataFrame, early: pd.DataFrame, as_of, *, window_days: int = 90,
                attributes: Sequence[str] = ATTRIBUTES, min_level_customers: int = MIN_LEVEL_CUSTOMERS,
                min_level_events: int = MIN_LEVEL_EVENTS) -> tuple[pd.DataFrame, dict, int]:
    """Covariates for the Cox model: early behaviour (log spend) + one-hot attributes.

    Only customers whose first ``window_days`` are fully observed before ``as_of`` and who had
    not churned within them enter (a landmark at ``window_days``), so early behaviour never
    uses information from after the churn it is meant to predict.

    An attribute level with fewer than ``min_level_customers`` customers or fewer than
    ``min_level_events`` churns among them has no stable hazard ratio (one customer, or nobody
    churned: the fit is singular). Such levels are pooled into :data:`OTHER`; when the pooled
    group is itself that small, its customers join the reference level (the most common one).
    ``attrs["pooled"]`` holds ``{attribute: pooled levels}``.
    """
    as_of = pd.Timestamp(as_of)
    t = table.merge(early, on="customer_id", how="left")
    observed = t["start_date"] <= as_of - pd.Timedelta(days=window_days)
    alive_at_window = t["duration_days"] > window_days
    n_excluded = int((~(observed & alive_at_window)).sum())
    t = t[observed & alive_at_window].copy()
    behaviour = [c for c in early.columns if c != "customer_id"]
    for c in behaviour:
        t[c] = t[c].fillna(0).astype(float)
        if c.startswith("spend_"):
            t[c] = np.log1p(t[c].clip(lower=0))
    t = t.rename(columns={c: f"log_{c}" for c in behaviour if c.startswith("spend_")})
    covs = [f"log_{c}" if c.startswith("spend_") else c for c in behaviour]
    attrs = [a for a in attributes if a in t.columns]
    frame = t[["customer_id", "duration_days", "churned", *covs, *attrs]].copy()
    if frame.empty:  # e.g. a year of data and a long churn rule: nobody was observed past the window
        raise ModelError(f"cox: no customer was observed for {window_days} days after the first purchase and "
                         "still a customer then, so nothing predicts churn in this data.",
                         reason="cox_not_estimable", facts={"n_customers": 0, "n_events": 0,
                                                            "min_events": MIN_COX_EVENTS})
    pooled = {}
    for a in attrs:
        levels = frame[a].astype("object").where(frame[a].notna(), "(missing)").astype(str)
        reference = levels.value_counts().index[0] if len(levels) else None
        frame[a], small, _ = pool_small_groups(levels, min_level_customers, events=frame["churned"],
                                               min_events=min_level_events, fallback=reference)
        if small:
            pooled[a] = small
    enc, refs = one_hot(frame, attrs)
    # drop covariates that carry no information in this data (e.g. one category sold) rather than fail
    keep = [c for c in enc.columns if c in ("customer_id", "duration_days", "churned") or enc[c].nunique() > 1]
    out = enc[keep].reset_index(drop=True)
    out.attrs["pooled"] = pooled
    return out, refs, n_excluded


def fit_churn_cox(table: pd.DataFrame, early: pd.DataFrame, as_of, *, window_days: int = 90,
                  attributes: Sequence[str] = ATTRIBUTES, ph_action: str = "note", penalizer: float = 0.0,
                  min_events: int = MIN_COX_EVENTS, max_customers: int | None = COX_CUSTOMERS,
                  seed: int = 0) -> ChurnCox:
    """Fit the Cox churn model on early behaviour and customer attributes (see :func:`cox_dataset`).

    Small attribute levels are pooled first (:func:`cox_dataset`), so one unusual customer does not
    stop the model. With more than ``max_customers`` customers in the landmark set, the model runs
    on a random subsample of ``max_customers`` of them drawn with ``seed`` (the same customers on
    every run of the same data); :attr:`ChurnCox.n_eligible` then holds the size of the whole set.

    Raises
    ------
    ModelError
        ``reason="cox_not_estimable"`` (facts ``n_customers``, ``n_events``, ``min_events``) when
        fewer than ``min_events`` churns are observed after the landmark, or the model still cannot
        be fitted on this (valid) data.
    """
    data, refs, n_excluded = cox_dataset(table, early, as_of, window_days=window_days, attributes=attributes)
    n_eligible = None
    if max_customers is not None and len(data) > max_customers:
        n_eligible = int(len(data))
        pooled = data.attrs.get("pooled", {})
        rows = np.sort(np.random.default_rng(seed).choice(len(data), int(max_customers), replace=False))
        data = data.iloc[rows].reset_index(drop=True)
        # a rare level can vary in the whole set but not in the subsample: no information there, as in cox_dataset
        data = data[[c for c in data.columns if c in ("customer_id", "duration_days", "churned")
                     or data[c].nunique() > 1]]
        data.attrs["pooled"] = pooled
    covs = [c for c in data.columns if c not in ("customer_id", "duration_days", "churned")]
    facts = {"n_customers": int(len(data)), "n_events": int(data["churned"].sum()), "min_events": int(min_events)}
    if facts["n_events"] < min_events or not covs:
        raise ModelError(f"Cox model: {facts['n_events']} churns among {facts['n_customers']} customers followed "
                         f"past {window_days} days (at least {min_events} needed, and a covariate that varies).",
                         reason="cox_not_estimable", facts=facts)
    try:
        cox = fit_cox(data, "duration_days", "churned", covs, ph_action=ph_action, penalizer=penalizer)
    except (ModelError, np.linalg.LinAlgError) as exc:
        raise ModelError(f"Cox model could not be estimated: {exc}", reason="cox_not_estimable", facts=facts) from None
    return ChurnCox(cox=cox, references=refs, window_days=window_days, n_excluded_recent=n_excluded, data=data,
                    pooled=dict(data.attrs.get("pooled", {})), n_eligible=n_eligible)
