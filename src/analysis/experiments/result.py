"""The analysis of one experiment: guards first, then every test, the Holm-corrected family and a verdict code.

:class:`ExperimentResult` holds it all in no language; the report layer says the verdict in the reader's words.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.customers.table import is_purchase_sql
from analysis.errors import DataError, ModelError, ParameterError
from analysis.experiments.brief import CampaignBrief, campaign_brief
from analysis.experiments.guards import check_guards, control_and_treatments
from analysis.experiments.outcomes import experiment_outcomes, load
from analysis.stats import (BayesResult, BootstrapResult, CupedResult, MeanTest, ProportionTest, Result,
                            RetentionComparison, SequentialResult, adjust_p_values, bayes_proportions,
                            bootstrap_difference, check_alpha, check_margin, compare_retention, cuped_test,
                            mde_proportions, msprt, plain, summary_table, two_proportion_test, welch_test)

__all__ = ["ExperimentResult", "analyse_experiment", "arm_table", "sequential_looks", "VERDICTS",
           "AUTO_CONVERSION_BELOW"]

AUTO_CONVERSION_BELOW = 0.35  # win-back audiences: judge on conversion; regular buyers: on revenue

#: Verdict codes of :class:`ExperimentResult` (the report layer has the words for each).
VERDICTS = ("better", "worse", "no_difference", "non_inferior", "withheld")


# --- the analysis of one experiment ------------------------------------------
@dataclass(frozen=True)
class ExperimentResult(Result):
    """Everything known about one experiment at ``as_of``: guards, arms, tests and the verdict.

    ``verdict`` is one of :data:`VERDICTS`: ``withheld`` (a guard failed), ``better``, ``worse``,
    ``no_difference``, ``non_inferior`` (no clear difference, but shown to be no worse than
    ``margin``), on the primary metric, Holm-corrected over treatment arms; ``primary`` names the
    metric (``conversion`` or ``revenue``).
    """

    experiment_id: str
    as_of: pd.Timestamp
    control: str
    treatment: str
    params: dict
    guards: tuple
    arms: pd.DataFrame
    conversion: ProportionTest | None
    revenue: MeanTest | None
    revenue_bootstrap: BootstrapResult | None
    cuped: CupedResult | None
    bayes: BayesResult | None
    retention: ProportionTest | None
    activity: RetentionComparison | None
    sequential: SequentialResult | None
    adjusted: pd.DataFrame | None
    primary: str
    verdict: str
    all_treatments: tuple = ()

    @property
    def guards_passed(self) -> bool:
        return all(g.passed for g in self.guards)

    @property
    def revenue_test(self):
        """The revenue comparison the money figures use: CUPED when it removes variance, else plain Welch."""
        if self.cuped is not None and self.cuped.variance_reduction > 0:
            return self.cuped
        return self.revenue

    @property
    def primary_test(self):
        """The test the verdict rests on: conversion, or revenue per customer (CUPED when it helps)."""
        return self.conversion if self.primary == "conversion" else self.revenue_test

    @property
    def estimate(self) -> float:
        return float("nan") if self.primary_test is None else self.primary_test.estimate

    @property
    def ci_low(self) -> float:
        return float("nan") if self.primary_test is None else self.primary_test.ci_low

    @property
    def ci_high(self) -> float:
        return float("nan") if self.primary_test is None else self.primary_test.ci_high

    @property
    def p_value(self) -> float:
        if self.adjusted is None:
            return float("nan")
        return float(self.adjusted.loc[self.primary, "p_adjusted"])

    @property
    def guard_warnings(self) -> list:
        """Guards that let the verdict stand but did not pass cleanly (shown as warnings, never as passed)."""
        return [g for g in self.guards if g.passed and g.warning]

    def summary(self) -> pd.DataFrame:
        """Every metric's estimate, interval and p-value, with ``p_holm`` / ``p_bh`` over the metric family.

        ``role`` is ``primary`` on the rows of the verdict's metric, ``secondary`` on the others.
        """
        rows = {}
        if self.conversion is not None:
            c = self.conversion
            rows["conversion_difference"] = [c.estimate, c.ci_low, c.ci_high, c.p_value]
            rows["conversion_relative_lift"] = [c.relative_lift, c.lift_ci_low, c.lift_ci_high, c.p_value]
        for key, test in (("revenue_per_customer_difference", self.revenue),
                          ("revenue_per_customer_bootstrap", self.revenue_bootstrap),
                          ("revenue_per_customer_cuped", self.cuped), ("retention_difference", self.retention),
                          ("active_days_rmst_difference", self.activity)):
            if test is not None:
                rows[key] = [test.estimate, test.ci_low, test.ci_high, test.p_value]
        out = summary_table(rows)
        out["p_holm"], out["p_bh"], out["role"] = np.nan, np.nan, None
        if self.adjusted is not None:
            # each family member's corrected p-value sits on the rows of the test that gave its raw p-value
            cuped = self.revenue_test is self.cuped
            family = {"conversion": ("conversion_difference", "conversion_relative_lift"),
                      "revenue": ("revenue_per_customer_cuped" if cuped else "revenue_per_customer_difference",),
                      "retention": ("retention_difference",), "active_days": ("active_days_rmst_difference",)}
            cols = ["p_holm", "p_bh", "role"]
            for metric, rows_of in family.items():
                shown = [row for row in rows_of if row in out.index]
                if metric in self.adjusted.index and shown:
                    out.loc[shown, cols] = [self.adjusted.loc[metric, cols].tolist()] * len(shown)
        return out

    def to_dict(self) -> dict:
        """JSON-ready plain numbers (what ``kanta experiment --out`` writes)."""
        return {
            "experiment_id": self.experiment_id, "as_of": str(self.as_of.date()), "control": self.control,
            "treatment": self.treatment, "primary_metric": self.primary, "verdict": self.verdict,
            "guards": [g.to_dict() for g in self.guards],
            "arms": plain(self.arms.rename_axis("variant")),
            "conversion": plain(self.conversion), "revenue_per_customer": plain(self.revenue),
            "revenue_bootstrap": plain(self.revenue_bootstrap),
            "cuped": None if self.cuped is None else {
                "theta": plain(self.cuped.theta), "variance_reduction": plain(self.cuped.variance_reduction),
                "estimate": plain(self.cuped.estimate), "ci_low": plain(self.cuped.ci_low),
                "ci_high": plain(self.cuped.ci_high), "p_value": plain(self.cuped.p_value)},
            "bayes": plain(self.bayes), "retention": plain(self.retention),
            "active_days": None if self.activity is None else {
                "rmst_control": plain(self.activity.rmst_a), "rmst_treatment": plain(self.activity.rmst_b),
                "estimate": plain(self.activity.estimate), "ci_low": plain(self.activity.ci_low),
                "ci_high": plain(self.activity.ci_high), "logrank_p_value": plain(self.activity.p_value)},
            "sequential": plain(self.sequential),
            "p_values": None if self.adjusted is None else {
                k: {c: plain(v) for c, v in row.items()} for k, row in self.adjusted.to_dict(orient="index").items()},
            "params": plain(self.params),
        }


def arm_table(outcomes: pd.DataFrame) -> pd.DataFrame:
    """Per variant: customers, conversions, rates, revenue, purchases and retention."""
    g = outcomes.groupby("variant")
    out = pd.DataFrame({
        "customers": g.size(),
        "conversions": g["converted"].sum().astype(int),
        "conversion_rate": g["converted"].mean(),
        "revenue": g["revenue"].sum(),
        "revenue_per_customer": g["revenue"].mean(),
        "purchases_per_customer": g["n_purchases"].mean(),
        "retention_rate": g["retained"].apply(lambda s: s.astype(float).mean() if s.notna().all() else np.nan),
        "pre_period_spend": g["pre_period_spend"].mean(),
    })
    out["planned_share"] = g["planned_share"].mean() if "planned_share" in outcomes else np.nan
    out["observed_share"] = out["customers"] / out["customers"].sum()
    return out


def sequential_looks(source_or_path, experiment_id: str, as_of=None, control: str | None = None,
                     treatment: str | None = None, conversion_window_days: int = 30, look_every_days: int = 7,
                     tau: float | None = None, alpha: float = 0.05) -> SequentialResult:
    """Weekly looks at conversion-so-far with the always-valid mSPRT.

    At each look (every ``look_every_days`` after the first assignment, plus the end of the window)
    the difference in the share of customers who have bought since assignment is tested (the
    package's purchase-day rule: a day whose purchases were refunded the same day is no purchase).
    ``tau`` defaults to the planner's MDE for these arm sizes (80 % power), fixed before looking at effects.
    """
    src = load(source_or_path, as_of)
    if control is None or treatment is None:
        arms = src.sql("SELECT variant, " + ("is_control" if "is_control" in src.columns("assignments")
                       else "NULL AS is_control") + " FROM assignments WHERE experiment_id = ?", [experiment_id])
        control, others = control_and_treatments(arms, control, experiment_id)
        treatment = treatment or others[-1]
    c = int(conversion_window_days)
    first = src.sql(f"""
      WITH a AS (SELECT * FROM assignments WHERE experiment_id = ?),
      d AS (
        SELECT a.customer_id, a.assigned_at, CAST(t.timestamp AS DATE) AS day, min(t.timestamp) AS first_at
        FROM a JOIN transactions t ON t.customer_id = a.customer_id
         AND t.timestamp >= a.assigned_at AND t.timestamp < a.assigned_at + INTERVAL {c} DAY
        GROUP BY 1, 2, 3 HAVING {is_purchase_sql('t.amount')} = 1)
      SELECT a.customer_id, a.variant, a.assigned_at, min(d.first_at) AS first_buy
      FROM a LEFT JOIN d ON d.customer_id = a.customer_id AND d.assigned_at = a.assigned_at
      GROUP BY 1, 2, 3""", [experiment_id])
    if first.empty:
        raise ParameterError(f"experiment_id: no assignments for {experiment_id!r}.")
    start = first["assigned_at"].min()
    end = min(first["assigned_at"].max() + pd.Timedelta(days=c), src.as_of + pd.Timedelta(days=1))
    looks = list(pd.date_range(start + pd.Timedelta(days=look_every_days), end, freq=f"{look_every_days}D"))
    if not looks or looks[-1] < end:
        looks.append(end)
    est, var, ns = [], [], []
    for t in looks:
        seen = first[first["assigned_at"] < t]
        conv = seen["first_buy"].notna() & (seen["first_buy"] < t)
        a, b = conv[seen["variant"] == control], conv[seen["variant"] == treatment]
        if len(a) < 2 or len(b) < 2:
            continue
        pa, pb = a.mean(), b.mean()
        pbar = (a.sum() + b.sum()) / (len(a) + len(b))
        if pbar * (1 - pbar) == 0:  # everyone (or nobody) bought so far: Laplace's (x + 1) / (n + 2), not a zero variance
            pbar = (a.sum() + b.sum() + 1) / (len(a) + len(b) + 2)
        s2 = pbar * (1 - pbar) * (1 / len(a) + 1 / len(b))
        est.append(pb - pa), var.append(s2), ns.append((len(a), len(b)))
    if not est:
        raise ModelError(f"assignments: experiment {experiment_id!r} has too few customers per arm for sequential looks.",
                         reason="too_few_customers", facts={"experiment": experiment_id})
    if tau is None:
        na, nb = ns[-1]
        base = float(np.clip(first.loc[first["variant"] == control, "first_buy"].notna().mean(), 0.01, 0.9))
        tau = mde_proportions(base, max(2, int(2 / (1 / na + 1 / nb))), alpha)
    res = msprt(est, var, tau, alpha)
    res.looks.insert(1, "date", [t.date() for t in looks[:len(est)]])
    return res


def _followup_days(outcomes: pd.DataFrame, as_of: pd.Timestamp, horizon_days: int) -> float:
    """Days every customer has been followed (capped at the horizon): RMST is not extrapolated."""
    seen = (as_of + pd.Timedelta(days=1) - outcomes["assigned_at"].max()).total_seconds() / 86400
    return float(max(1.0, min(horizon_days, seen)))


def _declared_primary(brief, primary: str, experiment_id: str) -> tuple[str, str]:
    """The primary metric and where it came from: the campaigns table, the caller's parameter, or auto."""
    declared = None if brief is None else brief.primary_metric
    if declared is None:
        return primary, "auto" if primary == "auto" else "parameter"
    if declared not in ("conversion", "revenue"):
        raise DataError(f"campaigns.primary_metric: experiment {experiment_id!r} has {declared!r}; "
                        "expected conversion or revenue.")
    if primary not in ("auto", declared):
        raise ParameterError(f"primary: got {primary!r}, but the campaigns table declares {declared!r} for "
                             f"experiment {experiment_id!r}; the verdict follows the declared metric "
                             "(leave primary at auto, or correct the campaigns table).")
    return declared, "campaigns"


def analyse_experiment(source_or_path, experiment_id: str, as_of=None, conversion_window_days: int = 30,
                       retention_window_days: int = 90, alpha: float = 0.05, control: str | None = None,
                       primary: str = "auto", margin: float | None = None, min_units_per_arm: int = 30,
                       pre_period_days: int = 90, n_boot: int = 2000, seed: int = 0,
                       outcomes: pd.DataFrame | None = None, brief: "CampaignBrief | None" = None) -> ExperimentResult:
    """Guards first, then every test of one experiment, and a verdict (or the reason it is withheld).

    Parameters
    ----------
    source_or_path : Source or path
    experiment_id : str
    as_of : date-like
    conversion_window_days, retention_window_days : int
        Outcome windows after each customer's assignment.
    alpha : float
        Significance level. Every metric's p-value is also shown Holm-corrected over the whole
        family (conversion, revenue, retention, active days; every treatment arm), ``p_holm``.
    control : str, optional
        Control variant; default: the one ``assignments.is_control`` marks.
    primary : {"auto", "conversion", "revenue"}
        The metric the verdict is about. The experiment's row of the source's ``campaigns`` table
        declares it (``primary_metric``) when it names one; a different explicit ``primary`` is
        then refused. Otherwise this parameter; ``auto``: conversion when under 35 % of the
        control converts (win-back audiences), else revenue per customer (customers who buy
        anyway). Its p-value is corrected only over treatment arms (Holm): it was chosen before
        the results; the other metrics count as secondary.
    margin : float, optional
        Non-inferiority margin on the primary metric (absolute: rate points or euros).
    min_units_per_arm : int
        Fewer customers than this in an arm withholds the verdict.
    brief : CampaignBrief, optional
        Default: :func:`campaign_brief` of the source (its declared primary metric).

    Returns
    -------
    ExperimentResult
        ``params["primary_source"]`` says where the primary metric came from: ``"campaigns"``,
        ``"parameter"`` or ``"auto"``.

    Raises
    ------
    ModelError
        ``reason="one_arm"`` when every customer is in one variant, ``"too_few_customers"`` when a
        group has fewer than two customers: the data is valid, the comparison has no answer.

    Example
    -------
    >>> r = analyse_experiment("data/sample", "reactivation-2026-03", as_of="2026-10-31", n_boot=200)
    >>> r.verdict, r.primary  # 2,000 customers: the planted +5-point effect is not told from chance here
    ('no_difference', 'conversion')
    """
    alpha = check_alpha(alpha)
    check_margin(margin)
    if primary not in ("auto", "conversion", "revenue"):
        raise ParameterError(f"primary: got {primary!r}, expected 'auto', 'conversion' or 'revenue'.")
    src = load(source_or_path, as_of)
    brief = brief if brief is not None else campaign_brief(src, experiment_id)
    primary, primary_source = _declared_primary(brief, primary, experiment_id)
    out = outcomes if outcomes is not None else experiment_outcomes(
        src, experiment_id, conversion_window_days=conversion_window_days,
        retention_window_days=retention_window_days, pre_period_days=pre_period_days)
    control, treatments = control_and_treatments(out, control, experiment_id)
    guards = tuple(check_guards(out, src.as_of, conversion_window_days, min_units_per_arm))
    arms = arm_table(out)
    params = {"conversion_window_days": conversion_window_days, "retention_window_days": retention_window_days,
              "alpha": alpha, "margin": margin, "min_units_per_arm": min_units_per_arm,
              "pre_period_days": pre_period_days, "n_boot": n_boot, "seed": seed, "primary_source": primary_source}
    if primary == "auto":
        primary = "conversion" if arms.loc[control, "conversion_rate"] < AUTO_CONVERSION_BELOW else "revenue"
    # several treatments: the one compared in detail is the largest; all enter the correction
    treatment = max(treatments, key=lambda v: (arms.loc[v, "customers"], v))
    ctrl = out[out["variant"] == control]
    usable = all(g.passed for g in guards if g.name in ("one_variant_per_customer", "window_finished"))
    if not usable:
        return ExperimentResult(experiment_id, src.as_of, control, treatment, params, guards, arms, None, None, None,
                                None, None, None, None, None, None, primary, "withheld", tuple(treatments))
    pvals, tests = {}, {}
    for v in treatments:
        tr = out[out["variant"] == v]
        m_conv = margin if primary == "conversion" else None
        m_rev = margin if primary == "revenue" else None
        conv = two_proportion_test(int(ctrl["converted"].sum()), len(ctrl), int(tr["converted"].sum()), len(tr),
                                   alpha, margin=m_conv)
        rev = welch_test(ctrl["revenue"], tr["revenue"], alpha, margin=m_rev)
        cuped = cuped_test(ctrl["revenue"], ctrl["pre_period_spend"], tr["revenue"], tr["pre_period_spend"], alpha,
                           margin=m_rev)
        tests[v] = (conv, rev, cuped, tr)
        suffix = "" if v == treatment else f" ({v})"
        # revenue is judged on the CUPED-adjusted test: same estimand, smaller variance (the
        # covariate is measured before assignment, so it cannot absorb the campaign's effect)
        pvals["conversion" + suffix] = conv.p_value
        pvals["revenue" + suffix] = cuped.p_value if cuped.variance_reduction > 0 else rev.p_value
    conv, rev, cuped, tr = tests[treatment]
    retention = None
    if out["retained"].notna().all():
        retention = two_proportion_test(int(ctrl["retained"].sum()), len(ctrl), int(tr["retained"].sum()), len(tr), alpha)
        pvals["retention"] = retention.p_value
    try:
        activity = compare_retention(ctrl["active_days"], ctrl["lapsed"], tr["active_days"], tr["lapsed"],
                                     horizon_days=_followup_days(out, src.as_of, retention_window_days), alpha=alpha)
        pvals["active_days"] = activity.p_value
    except (ValueError, ZeroDivisionError, IndexError, KeyError):  # lifelines cannot fit degenerate arms
        activity = None
    # every metric looked at is one more chance of a false "significant": Holm over the whole family
    adjusted = adjust_p_values(pd.Series(pvals), "holm", alpha).rename(columns={"p_adjusted": "p_holm"})
    adjusted["p_bh"] = adjust_p_values(pd.Series(pvals), "bh", alpha)["p_adjusted"]
    prim = [k for k in pvals if k.split(" (")[0] == primary]
    adjusted["p_adjusted"] = np.nan
    adjusted.loc[prim, "p_adjusted"] = adjust_p_values(adjusted.loc[prim, "p_value"], "holm", alpha)["p_adjusted"]
    adjusted = adjusted.drop(columns="reject")
    adjusted["role"] = ["primary" if k in prim else "secondary" for k in adjusted.index]
    boot = bootstrap_difference(ctrl["revenue"], tr["revenue"], alpha, n_boot=n_boot, seed=seed)
    bayes = bayes_proportions(int(ctrl["converted"].sum()), len(ctrl), int(tr["converted"].sum()), len(tr),
                              alpha=alpha, seed=seed)
    try:
        sequential = sequential_looks(src, experiment_id, control=control, treatment=treatment,
                                      conversion_window_days=conversion_window_days, alpha=alpha)
    except (ModelError, ParameterError):
        sequential = None
    if not all(g.passed for g in guards):
        verdict = "withheld"
    else:
        test = conv if primary == "conversion" else (cuped if cuped.variance_reduction > 0 else rev)
        if adjusted.loc[primary, "p_adjusted"] < alpha:
            verdict = "better" if test.estimate > 0 else "worse"
        else:
            ni = test.adjusted.noninferiority_p_value if isinstance(test, CupedResult) else test.noninferiority_p_value
            verdict = "non_inferior" if ni is not None and ni < alpha else "no_difference"
    return ExperimentResult(experiment_id, src.as_of, control, treatment, params, guards, arms, conv, rev, boot, cuped,
                            bayes, retention, activity, sequential, adjusted, primary, verdict, tuple(treatments))
