"""A campaign's final report in numbers: execution, results, money (incremental revenue, ROI, CLV) and the planner.

Money uses the primary revenue test scaled to the campaign group; ROI only when the data or the caller gives a cost.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis import clv
from analysis.errors import ModelError, ParameterError
from analysis.experiments.brief import CampaignBrief, campaign_brief
from analysis.experiments.outcomes import experiment_outcomes, load
from analysis.experiments.result import ExperimentResult, analyse_experiment
from analysis.stats import (MeanTest, Result, mde_means, mde_proportions, plain, sample_size_means,
                            sample_size_proportions, summary_table, welch_test)

__all__ = ["CampaignReport", "campaign_report", "PLANNER_RELATIVE_MDE"]

PLANNER_RELATIVE_MDE = 0.2  # the planner's default target: a 20 % relative increase


@dataclass(frozen=True)
class CampaignReport(Result):
    """A campaign's final report in numbers: execution, results, money and the planner for the next test.

    Money figures use the primary revenue test (CUPED when it helps) scaled to the campaign group:
    ``incremental_revenue = difference per customer x customers in the campaign group``;
    ``roi = (incremental_revenue x margin_rate - campaign_cost) / campaign_cost`` when the brief
    gives a ``margin_rate`` (``roi_basis="margin"``: what the company keeps of the extra sales,
    for a games-of-chance company stakes minus prizes), else on sales (``roi_basis="revenue"``);
    ROI and cost per order only when a cost is known (``cost_source``: ``"given"`` by the caller,
    ``"campaigns"`` from the source's brief, or None; then both are None).
    """

    result: ExperimentResult
    brief: CampaignBrief | None
    start: pd.Timestamp
    last_assigned: pd.Timestamp
    end: pd.Timestamp
    split: tuple  # (variant, customers, observed share, planned share) with the control first
    n_treatment: int
    incremental_revenue: float
    incremental_revenue_low: float
    incremental_revenue_high: float
    campaign_cost: float | None
    cost_source: str | None
    roi: float | None
    roi_low: float | None
    roi_high: float | None
    cost_per_order: float | None
    cost_per_incremental_order: float | None
    clv_difference: MeanTest | None
    planner: dict
    margin_rate: float | None = None
    roi_basis: str | None = None

    @property
    def experiment_id(self) -> str:
        return self.result.experiment_id

    @property
    def verdict(self) -> str:
        return self.result.verdict

    @property
    def estimate(self) -> float:
        return self.incremental_revenue

    @property
    def ci_low(self) -> float:
        return self.incremental_revenue_low

    @property
    def ci_high(self) -> float:
        return self.incremental_revenue_high

    @property
    def p_value(self) -> float:
        return self.result.p_value

    def summary(self) -> pd.DataFrame:
        """Key figures as a tidy table."""
        rev = self.result.revenue_test
        rows = {"incremental_revenue": [self.incremental_revenue, self.incremental_revenue_low,
                                        self.incremental_revenue_high, np.nan if rev is None else rev.p_value]}
        if self.roi is not None:
            rows["roi"] = [self.roi, self.roi_low, self.roi_high, np.nan]
            rows["cost_per_order"] = [self.cost_per_order, np.nan, np.nan, np.nan]
        if self.clv_difference is not None:
            c = self.clv_difference
            rows["incremental_clv_per_customer"] = [c.estimate, c.ci_low, c.ci_high, c.p_value]
        return pd.concat([self.result.summary().iloc[:, :4], summary_table(rows)])

    def to_dict(self) -> dict:
        d = self.result.to_dict()
        brief = self.brief.to_dict() if self.brief is not None else {}
        d["campaign"] = {
            "goal": brief.get("goal"), "audience": brief.get("audience"), "channel": brief.get("channel"),
            "brief": brief or None,
            "start": str(self.start), "last_assigned": str(self.last_assigned), "end": str(self.end),
            "n_treatment": self.n_treatment,
            "split": [{"variant": v, "customers": int(n), "share": plain(s), "planned_share": plain(p)}
                      for v, n, s, p in self.split],
            "incremental_revenue": plain(self.incremental_revenue),
            "incremental_revenue_ci": [plain(self.incremental_revenue_low), plain(self.incremental_revenue_high)],
            "campaign_cost": self.campaign_cost, "cost_source": self.cost_source, "roi": plain(self.roi),
            "roi_ci": [plain(self.roi_low), plain(self.roi_high)], "roi_basis": self.roi_basis,
            "margin_rate": self.margin_rate,
            "cost_per_order": plain(self.cost_per_order),
            "cost_per_incremental_order": plain(self.cost_per_incremental_order),
            "incremental_clv_per_customer": None if self.clv_difference is None else plain(self.clv_difference.estimate),
            "planner": plain(self.planner),
        }
        # the campaign economics at the top level: null (not missing) when no cost is known
        d.update(campaign_cost=self.campaign_cost, cost_source=self.cost_source, roi=plain(self.roi),
                 roi_basis=self.roi_basis, cost_per_order=plain(self.cost_per_order))
        return d


def campaign_report(source_or_path, experiment_id: str, as_of=None, campaign_cost: float | None = None,
                    include_clv: bool = True, customer_values: pd.Series | None = None,
                    planner_mde_abs: float | None = None, brief: CampaignBrief | None = None,
                    result: ExperimentResult | None = None, **params) -> CampaignReport:
    """The campaign's final report in numbers: execution, results, money and the planner.

    Parameters
    ----------
    source_or_path : Source or path
    experiment_id : str
    as_of : date-like
    campaign_cost : float, optional
        What the campaign cost (euros); gives ROI and cost per order. Default: the cost in the
        source's ``campaigns`` table (``cost_fixed + cost_per_contact x campaign group``); with
        neither, no ROI is computed.
    include_clv : bool
        Compare expected future value between the groups (randomised, so causal).
    customer_values : pd.Series, optional
        Expected future value (CLV) per ``customer_id`` at ``as_of``, e.g. the month's customer
        base; default: fitted here with :func:`analysis.clv.analyse` (skipped when it cannot be estimated).
    planner_mde_abs : float, optional
        Increase in buying share the next test should detect; default 20 % of the control's rate.
    brief : CampaignBrief, optional
        Default: :func:`campaign_brief` of the source (None when it has no ``campaigns`` table).
    **params
        Passed to :func:`analyse_experiment` (windows, alpha, control, primary, margin ...).
        The brief's ``primary_metric``, when it names one, is the verdict's metric.

    Example
    -------
    >>> rep = campaign_report("data/sample", "reactivation-2026-03", as_of="2026-10-31",
    ...                       campaign_cost=500, include_clv=False, n_boot=200)
    >>> rep.verdict, rep.cost_source
    ('no_difference', 'given')
    """
    if campaign_cost is not None and campaign_cost < 0:
        raise ParameterError(f"campaign_cost: got {campaign_cost!r}, expected a cost in euros >= 0.")
    src = load(source_or_path, as_of)
    brief = brief if brief is not None else campaign_brief(src, experiment_id)
    out = params.pop("outcomes", None)
    if out is None:
        out = experiment_outcomes(src, experiment_id, **{k: params[k] for k in (
            "conversion_window_days", "retention_window_days", "pre_period_days") if k in params})
    r = result or analyse_experiment(src, experiment_id, outcomes=out, brief=brief, **params)
    arms = r.arms
    total = arms["customers"].sum()
    order = [r.control] + [v for v in arms.index if v != r.control]
    split = tuple((v, int(arms.loc[v, "customers"]), float(arms.loc[v, "customers"] / total),
                   float(arms.loc[v, "planned_share"])) for v in order)
    start, last = out["assigned_at"].min(), out["assigned_at"].max()
    end = last + pd.Timedelta(days=r.params["conversion_window_days"])
    n_t = int(arms.loc[r.treatment, "customers"])
    cost_source = "given" if campaign_cost is not None else None
    if campaign_cost is None and brief is not None:
        campaign_cost = brief.cost(n_t)
        cost_source = "campaigns" if campaign_cost is not None else None
    rev = r.revenue_test
    inc = inc_lo = inc_hi = float("nan")
    roi = roi_lo = roi_hi = cpo = cpio = basis = None
    margin_rate = brief.margin_rate if brief is not None else None
    if rev is not None:
        inc, inc_lo, inc_hi = rev.estimate * n_t, rev.ci_low * n_t, rev.ci_high * n_t
        if campaign_cost:
            kept = 1.0 if margin_rate is None else margin_rate
            basis = "revenue" if margin_rate is None else "margin"
            roi, roi_lo, roi_hi = ((x * kept - campaign_cost) / campaign_cost for x in (inc, inc_lo, inc_hi))
            tr = out[out["variant"] == r.treatment]
            ctrl = out[out["variant"] == r.control]
            orders = int(tr["n_purchases"].sum())
            cpo = campaign_cost / orders if orders else None
            extra_orders = (tr["n_purchases"].mean() - ctrl["n_purchases"].mean()) * n_t
            cpio = campaign_cost / extra_orders if extra_orders > 0 else None
    clv_diff = None
    if include_clv and r.revenue is not None:
        values = customer_values if customer_values is not None else _customer_values(src)
        clv_diff = None if values is None else _clv_difference(out, r, values)
    return CampaignReport(r, brief, start, last, end, split, n_t, inc, inc_lo, inc_hi, campaign_cost, cost_source,
                          roi, roi_lo, roi_hi, cpo, cpio, clv_diff,
                          _planner(out, r, planner_mde_abs, _base_customers(src)), margin_rate, basis)


def _customer_values(src) -> pd.Series | None:
    """CLV per customer at ``as_of``, or None when the CLV model cannot be estimated on this data."""
    try:
        values = clv.analyse(src, as_of=src.as_of).values
    except ModelError:
        return None
    return values.set_index("customer_id")["clv"]


def _clv_difference(out: pd.DataFrame, r: ExperimentResult, values: pd.Series) -> MeanTest | None:
    """Expected future value at as_of, campaign group minus control (randomised, so causal)."""
    v = out[["customer_id", "variant"]].assign(clv=out["customer_id"].map(values).fillna(0.0).to_numpy())
    a, b = v.loc[v["variant"] == r.control, "clv"], v.loc[v["variant"] == r.treatment, "clv"]
    return welch_test(a, b, r.params["alpha"]) if len(a) > 1 and len(b) > 1 else None


def _base_customers(src) -> int:
    """Customers in the data (the customers table, else the buyers): the most a test can ever split."""
    table = "customers" if src.has("customers") else "transactions"
    return int(src.sql(f"SELECT count(DISTINCT customer_id) AS n FROM {table}")["n"][0])


def _planner(out: pd.DataFrame, r: ExperimentResult, mde_abs: float | None, base_customers: int | None = None) -> dict:
    """Sample sizes for the next test: to detect a 20 % lift, what this test could detect, and to confirm it.

    ``n_base_per_arm`` is half the customer base (two groups of everyone): advice above it is not a plan, so the
    page says the smallest difference that many customers can detect (``mde_at_base``, ``revenue_mde_at_base``).
    The baseline is the control's own buying rate (half a percent when nobody bought). When every control
    customer bought, or the increase sought would pass 100 %, no test can show it: the conversion sizes are
    None and the detectable increases NaN, and the revenue plan still stands.
    """
    ctrl = out[out["variant"] == r.control]
    base = max(float(ctrl["converted"].mean()), 0.005)
    mde = float(mde_abs or max(round(PLANNER_RELATIVE_MDE * base, 3), 0.005))
    if base + mde >= 1 and not mde_abs:
        mde = float("nan")  # a 20 % rise from this rate passes 100 %: there is no such increase to plan for
    n_now = int(r.arms["customers"].min())
    sd = float(ctrl["revenue"].std(ddof=1)) if len(ctrl) > 1 else float("nan")
    if r.cuped is not None and r.cuped.variance_reduction > 0:  # CUPED shrinks the sd the next test faces
        sd *= math.sqrt(1 - r.cuped.variance_reduction)
    mde_rev = float(PLANNER_RELATIVE_MDE * ctrl["revenue"].mean()) if ctrl["revenue"].mean() > 0 else float("nan")
    n_rev = sample_size_means(sd, mde_rev) if sd > 0 and mde_rev > 0 else None
    if r.primary == "conversion":
        seen = r.conversion.estimate if r.conversion is not None else float("nan")
        confirm = _customers_for(base, seen)
    else:
        seen = r.estimate
        confirm = sample_size_means(sd, seen) if seen > 0 and sd > 0 else None
    return {
        "primary": r.primary, "baseline": base, "mde_abs": mde, "n_per_arm": _customers_for(base, mde),
        "n_now": n_now, "mde_now": _detectable_increase(base, max(n_now, 2)),
        "revenue_sd": sd, "revenue_mde": mde_rev, "n_per_arm_revenue": n_rev,
        "revenue_mde_now": mde_means(sd, max(n_now, 2)) if sd > 0 else float("nan"),
        "observed_difference": seen, "n_per_arm_to_confirm": confirm,
        **_at_base(base, sd, base_customers),
    }


def _customers_for(rate: float, increase: float) -> int | None:
    """Customers per arm to detect ``increase`` from ``rate``; None when the rise cannot happen (past 100 %)."""
    if not (0 < rate < 1 and increase > 0 and rate + increase < 1):  # NaN fails every comparison: None
        return None
    return sample_size_proportions(rate, increase)


def _detectable_increase(rate: float, n: int) -> float:
    """The smallest increase ``n`` customers per arm detect from ``rate``; NaN when none below 100 % can be."""
    try:
        return mde_proportions(rate, n) if rate + 1e-6 < 1 else float("nan")
    except ParameterError:  # n customers cannot reach the power at any rate below 100 %
        return float("nan")


def _at_base(rate: float, sd: float, base_customers: int | None) -> dict:
    """The largest test the base allows (everyone, split in two) and the smallest differences it detects."""
    if not base_customers or base_customers < 4:
        return {"n_base_per_arm": None, "mde_at_base": None, "revenue_mde_at_base": None}
    n = int(base_customers // 2)
    at_base = _detectable_increase(rate, n)
    return {"n_base_per_arm": n, "mde_at_base": None if math.isnan(at_base) else at_base,
            "revenue_mde_at_base": mde_means(sd, n) if sd > 0 else None}
