"""The experiment page: a campaign's final report in words, tables and figures, in English or Finnish.

Numbers come from :mod:`analysis.experiments` and :mod:`analysis.stats` (language-free results and verdict
codes), sentences from :mod:`analysis.report.pages.campaign`. ``notebooks/experiment.ipynb`` runs the analysis
in its cells (outcomes, tests, money, the weekly looks, the retention comparison, the figures) and passes the
results to one :class:`ExperimentPage` method per section, each returning a :class:`Section`.
"""
from __future__ import annotations

import datetime
import math
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator

from analysis import experiments
from analysis.base.state import CustomerBase
from analysis.data import load_source
from analysis.data.privacy import MIN_GROUP_SIZE
from analysis.errors import ModelError
from analysis.experiments import CampaignReport, ExperimentResult
from analysis.findings import Finding
from analysis.report.numbers import KeyNumber
from analysis.report.section import Section
from analysis.report.pages.campaign import (MEASURES, arm_order, arms_table, capped, campaign_text, caveats, clv_text, guards_table,
                                            lessons, measures_table, money_text, points, pv, verdict_sentence)
from analysis.report.text import Text
from analysis.stats import RetentionComparison, SequentialResult, simulate_peeking, wilson_interval

__all__ = ["ExperimentPage", "MonthValues", "Section", "experiment_finding", "plot_conversion", "plot_activity",
           "plot_sequential", "ANALYSIS", "PEEKING"]

#: The analysis id of the experiment comparison in findings (``strings/findings.json``).
ANALYSIS = "experiments.arms"
#: The peeking simulation the monitoring section quotes (:func:`analysis.stats.simulate_peeking`).
PEEKING = {"n_sims": 1000, "n_looks": 8, "seed": 2026}
#: Figure width in inches: 640 px at dpi 100, readable on a 390 px phone screen when scaled.
FIGURE_WIDTH = 6.4


def experiment_finding(exc: ModelError) -> Finding:
    """The page's finding for an experiment whose groups cannot be compared on valid data (one arm, too few).

    Example
    -------
    >>> experiment_finding(ModelError("every customer is in offer", reason="one_arm")).reason
    'one_arm'
    """
    return Finding(ANALYSIS, getattr(exc, "reason", None) or "not_estimable", dict(getattr(exc, "facts", {}) or {}),
                   str(exc), ("experiments_concluded",))


@dataclass(frozen=True)
class MonthValues:
    """The month's customer values for the experiment's value comparison, from its saved customer state.

    ``include_clv`` and ``customer_values`` are :func:`analysis.experiments.campaign_report`'s arguments:
    without a saved state the report fits its own CLV; a month whose CLV could not be estimated compares none.
    ``money_basis`` is what the values are (``"margin"`` or ``"sales"``), for the page's words.
    """

    money_basis: str = "sales"
    include_clv: bool = True
    customer_values: pd.Series | None = None

    @classmethod
    def load(cls, customer_base=None) -> "MonthValues":
        """From a saved :class:`~analysis.base.state.CustomerBase` (a path), or the defaults when None."""
        if not customer_base:
            return cls()
        base = CustomerBase.load(customer_base)
        if not base.estimated("clv"):
            return cls(base.money_basis, include_clv=False)
        return cls(base.money_basis, True, base.customers.set_index("customer_id")["clv"])


# --- figures: plot_x(data, *, labels, ax=None) -> Axes ----------------------------------------------
def _axes(ax, height: float) -> Axes:
    return ax if ax is not None else plt.subplots(figsize=(FIGURE_WIDTH, height))[1]


def plot_conversion(result: ExperimentResult, *, labels: Text, ax: Axes | None = None) -> Axes:
    """Share who bought per group with Wilson intervals at the result's alpha; returns the Axes.

    Example
    -------
    >>> r = experiments.analyse_experiment("data/sample", "reactivation-2026-03", as_of="2026-10-31", n_boot=200)
    >>> plot_conversion(r, labels=Text("experiments", "en")).get_ylabel()
    'Bought'
    """
    tx = labels
    ax = _axes(ax, 3.5)
    a = result.arms.loc[arm_order(result)]
    lo_hi = [wilson_interval(int(c), int(n), result.params["alpha"])
             for c, n in zip(a["conversions"], a["customers"])]
    rate = a["conversion_rate"].to_numpy()
    err = np.array([[r - lo for (lo, _), r in zip(lo_hi, rate)], [hi - r for (_, hi), r in zip(lo_hi, rate)]])
    ax.bar(range(len(a)), rate, yerr=err, color=["#9e9e9e"] + ["#1f77b4"] * (len(a) - 1), capsize=6)
    ax.yaxis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 5, 10]))
    ax.set_xticks(range(len(a)), [f"{v}\n({tx('arm_control') if v == result.control else tx('arm_treatment')})"
                                  for v in a.index])
    ax.yaxis.set_major_formatter(lambda y, _: tx.pct(y, 0))
    ax.set_ylabel(tx("axis_bought"))
    ax.spines[["top", "right"]].set_visible(False)
    return ax


def plot_activity(activity: RetentionComparison, *, labels: Text, ax: Axes | None = None) -> Axes:
    """Kaplan-Meier curves of the share still active per group, with their intervals; returns the Axes."""
    tx = labels
    ax = _axes(ax, 3.5)
    for arm, color in (("control", "#9e9e9e"), ("treatment", "#1f77b4")):
        c = activity.curves[activity.curves["arm"] == arm]
        ax.step(c["day"], c["survival"], where="post", color=color, label=tx(f"arm_{arm}"))
        ax.fill_between(c["day"], c["ci_low"], c["ci_high"], step="post", color=color, alpha=0.15)
    ax.set_xlim(0, activity.horizon_days)
    ax.set_ylim(0, 1.02)
    ax.yaxis.set_major_formatter(lambda y, _: tx.pct(y, 0))
    ax.set_xlabel(tx("axis_days"))
    ax.set_ylabel(tx("axis_active"))
    ax.legend(frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return ax


def plot_sequential(sequential: SequentialResult, *, labels: Text, ax: Axes | None = None) -> Axes:
    """Estimate and always-valid interval at each weekly look; returns the Axes."""
    tx = labels
    ax = _axes(ax, 3.5)
    lk = sequential.looks
    x = pd.to_datetime(lk["date"])
    ax.fill_between(x, 100 * lk["cs_low"], 100 * lk["cs_high"], color="#1f77b4", alpha=0.2, step="post")
    ax.plot(x, 100 * lk["estimate"], marker="o", color="#1f77b4")
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks(x, [tx.date(d) for d in lk["date"]], rotation=30, ha="right")
    ax.set_xlabel(tx("axis_look"))
    ax.set_ylabel(tx("axis_difference"))
    ax.spines[["top", "right"]].set_visible(False)
    return ax


class ExperimentPage:
    """One experiment's page: one method per notebook section, each returning a :class:`Section`.

    ``report`` is None when the experiment is not in the data or when its groups cannot be
    compared (``finding`` says why); every section then returns what can still be said. A section
    whose figure or second analysis the notebook computed takes it as an argument (``ax``,
    ``activity``, ``sequential``, ``peeking``); without it the section uses the report's own.

    Example
    -------
    >>> page = ExperimentPage.build("data/sample", "reactivation-2026-03", "en", as_of="2026-10-31",
    ...                             include_clv=False, n_boot=200)
    >>> page.verdict().texts()[2]
    'Verdict'
    """

    SECTIONS = ("verdict", "checks", "campaign", "results", "money", "sharper_estimates", "retention",
                "monitoring", "next_test", "caveats_and_lessons", "details")

    def __init__(self, experiment_id: str, report: CampaignReport | None, language: str = "en",
                 finding: Finding | None = None, known: tuple[str, ...] = (), money_basis: str = "sales"):
        self.experiment_id = str(experiment_id)
        self.report = report
        self.result = report.result if report is not None else None
        self.language = language
        self.finding = finding
        self.known = tuple(known)
        self.tx = Text("experiments", language)
        self.money_basis = money_basis  # "margin" when the month's customer values are margin
        self.shown: dict = {}  # the analyses a section was given (retention, weekly looks, peeking), for details()

    @classmethod
    def build(cls, source, experiment_id: str, language: str = "en", as_of=None, customer_base=None,
              **params) -> "ExperimentPage":
        """Analyse the experiment (:func:`analysis.experiments.campaign.campaign_report`) and make its page.

        A one-arm experiment or a group too small to compare becomes the page's finding.
        ``customer_base`` (a saved month state) gives the customers' CLV for the incremental-value
        comparison, so the page uses the month's one CLV instead of fitting its own (:class:`MonthValues`).
        The notebook makes the same calls in its cells.
        """
        src = load_source(source, as_of=as_of, tables=experiments.SOURCE_TABLES)
        month = MonthValues.load(customer_base)
        if customer_base:
            params.setdefault("include_clv", month.include_clv)
            if month.customer_values is not None:
                params.setdefault("customer_values", month.customer_values)
        known = tuple(experiments.experiment_ids(src))
        if str(experiment_id) not in known:
            return cls(experiment_id, None, language, known=known, money_basis=month.money_basis)
        try:
            report, finding = experiments.campaign_report(src, experiment_id, **params), None
        except ModelError as exc:  # valid data, no comparison: the page says why
            report, finding = None, experiment_finding(exc)
        return cls(experiment_id, report, language, finding, known, month.money_basis)

    def _section(self) -> Section:
        return Section(self.language)

    @property
    def compared(self) -> bool:
        """Whether the groups were compared (tests ran, not withheld for an overlap or an open window)."""
        return self.result is not None and self.result.conversion is not None

    def key_numbers(self) -> list[KeyNumber]:
        """Buying share per group, incremental revenue and, when the cost is known, ROI and cost per purchase."""
        rep, r = self.report, self.result
        if not self.compared:
            return []
        out = [KeyNumber("experiment_conversion_control", r.conversion.rate_a),
               KeyNumber("experiment_conversion_treatment", r.conversion.rate_b),
               KeyNumber("experiment_incremental_revenue", rep.incremental_revenue)]
        if rep.roi is not None:  # the ROI card's formula reproduces from the cards beside it
            if rep.roi_basis == "margin":
                out += [KeyNumber("experiment_incremental_margin", rep.incremental_revenue * rep.margin_rate)]
            out += [KeyNumber("experiment_campaign_cost", rep.campaign_cost),
                    KeyNumber("experiment_roi", rep.roi,
                              label_key="label_experiment_roi_margin" if rep.roi_basis == "margin" else None),
                    KeyNumber("experiment_cost_per_purchase", rep.cost_per_order)]
        return out

    # -- one method per section --
    def verdict(self) -> Section:
        """Title, what the page compares, and the verdict with the key numbers (or why there is none)."""
        tx, s = self.tx, self._section()
        s.heading(tx("title", experiment=self.experiment_id), 1)
        if self.report is None and self.finding is None:
            return s.text(tx("not_experiment", experiment=self.experiment_id, known=", ".join(self.known))
                          if self.known else tx("no_experiments"))
        s.text(tx("intro")).heading(tx("h_verdict"))
        if self.report is None:  # valid data the analysis cannot estimate: no verdict, and the manifest says why
            return s.text(tx("finding_intro")).finding(self.finding).verdict(self.experiment_id, "not_estimable")
        s.text("**" + verdict_sentence(self.result, self.language) + "**").numbers(self.key_numbers())
        s.verdict(self.experiment_id, self.result.verdict)
        if self.result.verdict != "withheld":
            s.text(tx(f"primary_from_{self.result.params.get('primary_source', 'auto')}",
                      metric=tx(f"metric_{self.result.primary}")))
        return s

    def checks(self) -> Section:
        s = self._section()
        if self.result is None:
            return s
        return s.heading(self.tx("h_guards")).table(guards_table(self.result, self.language))

    def campaign(self) -> Section:
        """Goal (from the data's campaign brief) and execution."""
        tx, s = self.tx, self._section()
        if self.report is None:
            return s
        text = campaign_text(self.report, self.language)
        return s.heading(tx("h_goal")).text(text["goal"]).heading(tx("h_execution")).text(text["execution"])

    def results(self, ax: Axes | None = None) -> Section:
        """The groups' table, the buying share per group (``ax``: :func:`plot_conversion` of the result) and every test."""
        tx, s = self.tx, self._section()
        if not self.compared:
            return s
        s.heading(tx("h_results")).table(arms_table(self.result, self.language), tx("h_arms"))
        ax = ax if ax is not None else plot_conversion(self.result, labels=tx)
        s.figure(ax, tx("fig_conversion"), tx("fig_conversion_alt"))
        return s.table(measures_table(self.result, self.language))

    def money(self) -> Section:
        tx, s = self.tx, self._section()
        if not self.compared:
            return s
        return s.heading(tx("h_money")).text(money_text(self.report, self.language)).text(
            clv_text(self.report, self.language, self.money_basis))

    def sharper_estimates(self) -> Section:
        """CUPED (revenue adjusted for pre-campaign spend) and the Bayesian chance that the campaign is better."""
        tx, s, r = self.tx, self._section(), self.result
        if r is None:
            return s
        if r.cuped is not None:
            c = r.cuped
            s.heading(tx("h_cuped")).text(tx(
                "cuped_text", days=r.params["pre_period_days"], vr=tx.pct(c.variance_reduction, 0),
                theta=tx.number(c.theta, 2), est=tx.money(c.estimate, 2), low=tx.money(c.ci_low, 2),
                high=tx.money(c.ci_high, 2), p=pv(tx, c.p_value), raw=tx.money(c.unadjusted.estimate, 2),
                raw_low=tx.money(c.unadjusted.ci_low, 2), raw_high=tx.money(c.unadjusted.ci_high, 2)))
        if r.bayes is not None:
            s.heading(tx("h_bayes")).text(tx("bayes_text", prob=tx.pct(r.bayes.prob_b_better, 0),
                                             loss=tx.number(100 * r.bayes.expected_loss_b, 2)))
        return s

    def retention(self, activity: RetentionComparison | None = None, ax: Axes | None = None) -> Section:
        """Retention after the window and the share still active per group (``activity``: the Kaplan-Meier
        comparison, default the result's; ``ax``: :func:`plot_activity` of it)."""
        tx, s, r = self.tx, self._section(), self.result
        if not self.compared:
            return s
        window, horizon = r.params["conversion_window_days"], r.params["retention_window_days"]
        s.heading(tx("h_retention"))
        if r.retention is not None:
            t = r.retention
            s.text(tx("retention_rate_text", start=window, end=horizon, a=tx.pct(t.rate_a, 1), b=tx.pct(t.rate_b, 1),
                      d=points(tx, t.estimate), low=tx.number(100 * t.ci_low, 1), high=tx.number(100 * t.ci_high, 1)))
        else:
            s.text(tx("retention_open", days=horizon))
        a = activity if activity is not None else r.activity
        self.shown["activity"] = a
        if a is None:
            return s.text(tx("retention_missing"))
        s.text(tx("retention_text", gap=window, horizon=tx.number(a.horizon_days), diff=tx.number(a.estimate, 1),
                  low=tx.number(a.ci_low, 1), high=tx.number(a.ci_high, 1), p=pv(tx, a.p_value)))
        ax = ax if ax is not None else plot_activity(a, labels=tx)
        return s.figure(ax, tx("fig_retention"), tx("fig_retention_alt"))

    def monitoring(self, sequential: SequentialResult | None = None, peeking: dict | None = None,
                   ax: Axes | None = None) -> Section:
        """Weekly always-valid monitoring (``sequential``: the weekly looks, default the result's; ``ax``:
        :func:`plot_sequential` of them) beside what naive weekly peeking does (``peeking``:
        :func:`analysis.stats.simulate_peeking`, default with :data:`PEEKING`)."""
        tx, s, r = self.tx, self._section(), self.result
        if not self.compared:
            return s
        s.heading(tx("h_sequential"))
        q = sequential if sequential is not None else r.sequential
        if q is None:
            return s.text(tx("sequential_missing"))
        peeking = peeking if peeking is not None else simulate_peeking(**PEEKING)
        self.shown.update(sequential=q, peeking=peeking)
        s.text(tx("sequential_text", sims=tx.number(peeking["n_sims"]), looks=peeking["n_looks"],
                  naive=tx.pct(peeking["naive_false_positive_rate"], 0),
                  naive_ill=tx.pct(peeking["naive_false_positive_rate"], 0, case="illative"),
                  msprt=tx.pct(peeking["msprt_false_positive_rate"], 1), p=pv(tx, q.p_value),
                  low=points(tx, q.ci_low), high=points(tx, q.ci_high)))
        ax = ax if ax is not None else plot_sequential(q, labels=tx)
        return s.figure(ax, tx("fig_sequential"), tx("fig_sequential_alt"))

    def next_test(self) -> Section:
        """The planner: customers per group the next test needs."""
        tx, s = self.tx, self._section()
        if self.report is None:
            return s
        pl = self.report.planner
        s.heading(tx("h_planner")).text(tx(
            "planner_text", baseline=tx.pct(pl["baseline"], 1), mde=points(tx, pl["mde_abs"]),
            n=tx.number(pl["n_per_arm"]), n_now=tx.number(pl["n_now"]), mde_now=points(tx, pl["mde_now"]),
            sd=tx.money(pl["revenue_sd"], 2), mde_rev=tx.money(pl["revenue_mde"], 2),
            n_rev=tx.number(pl["n_per_arm_revenue"]) if pl["n_per_arm_revenue"] else "–"))
        over = [x for x in (capped(tx, pl, pl["n_per_arm"], "conversion"),
                            capped(tx, pl, pl["n_per_arm_revenue"], "revenue")) if x]
        if over:
            s.text(" ".join(over))
        if pl["n_per_arm_to_confirm"]:
            seen = points(tx, pl["observed_difference"]) if pl["primary"] == "conversion" \
                else tx.money(pl["observed_difference"], 2)
            over = capped(tx, pl, pl["n_per_arm_to_confirm"], pl["primary"])
            s.text(tx("planner_confirm_capped", effect=seen) + " " + over if over else
                   tx("planner_confirm", effect=seen, n=tx.number(pl["n_per_arm_to_confirm"])))
        return s

    def caveats_and_lessons(self) -> Section:
        tx, s = self.tx, self._section()
        if self.report is None:
            return s
        s.heading(tx("h_caveats")).text("\n".join(f"- {c}" for c in caveats(self.report, self.language)))
        return s.heading(tx("h_lessons")).text("\n".join(f"- {c}" for c in lessons(self.report, self.language)))

    def details(self) -> Section:
        """Record, without showing anything, the language-free numbers behind every sentence and table of the
        page (:func:`page_details`) for ``manifest.json`` ``details``; call it after the other sections."""
        s = self._section()
        if self.report is None:
            return s
        return s.details(page_details(self.report, self.money_basis, **self.shown))

    def sections(self) -> list[Section]:
        """Every section in page order."""
        return [getattr(self, name)() for name in self.SECTIONS]


# --- the numbers behind the sentences, for the manifest ------------------------------------------------------
def _plain(x):
    """JSON-able: numpy scalars to Python, NaN to None, dates to ``YYYY-MM-DD``, containers recursively."""
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, (pd.Timestamp, np.datetime64, datetime.date)):
        x = pd.Timestamp(x)
        return str(x.date()) if x == x.normalize() else x.isoformat()
    if hasattr(x, "item"):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def _pairs(value):
    """A mapping of arms (a check's split and plan) as ``[[arm, value], ...]``: the sentence's order survives JSON."""
    return [[k, v] for k, v in value.items()] if isinstance(value, dict) else value


def _interval(t) -> dict | None:
    return None if t is None else {"estimate": t.estimate, "ci_low": t.ci_low, "ci_high": t.ci_high,
                                   "p_value": t.p_value}


def page_details(report: CampaignReport, money_basis: str = "sales", activity: RetentionComparison | None = None,
                 sequential: SequentialResult | None = None, peeking: dict | None = None) -> dict:
    """Every number the experiment page's sentences and tables state that is not a card, as codes and numbers.

    Read from the same result objects the sentences are made of (nothing is recomputed here): ``verdict``
    (code, primary metric, estimate and interval), ``guards`` (name, status and the facts of the sentence),
    ``execution`` (dates, window and the split), ``arms`` (the groups table; a group smaller than
    :data:`~analysis.data.privacy.MIN_GROUP_SIZE` has no numbers, as on the page), ``results`` (every
    measure: estimate, interval, p-value, Holm-corrected p-value), ``money``, ``clv``, ``cuped``, ``bayes``,
    ``retention``, ``activity``, ``sequential`` (the weekly looks and the peeking simulation) and
    ``sample_size`` (the planner, with the minimum detectable effects).
    """
    r = report.result
    out = {"verdict": {"code": r.verdict, "primary": r.primary, "primary_source": r.params.get("primary_source"),
                       "estimate": r.estimate, "ci_low": r.ci_low, "ci_high": r.ci_high, "alpha": r.params["alpha"],
                       "margin": r.params.get("margin")},
           "guards": [{"name": g.name, "status": g.status, **{k: _pairs(v) for k, v in g.facts.items()}}
                      for g in r.guards],
           "execution": {"start": report.start, "last_assigned": report.last_assigned,
                         "conversion_window_days": r.params["conversion_window_days"],
                         "retention_window_days": r.params["retention_window_days"],
                         "split": [{"arm": v, "customers": n, "share": s, "planned": p} for v, n, s, p in report.split]}}
    if r.conversion is not None:
        a = r.arms.loc[arm_order(r)]
        columns = ("customers", "conversion_rate", "revenue_per_customer", "purchases_per_customer", "retention_rate",
                   "pre_period_spend")
        shown = (a["customers"] >= MIN_GROUP_SIZE) | (a["customers"] == 0)  # as the page's table blanks them
        out["arms"] = [{"arm": arm, "control": arm == r.control, **{c: a.at[arm, c] if shown[arm] else None
                                                                    for c in columns}} for arm in a.index]
        s = r.summary()
        out["results"] = [{"measure": key, "role": s.loc[key, "role"], "arm": r.treatment, "control": r.control,
                           **{c: s.loc[key, c] for c in ("estimate", "ci_low", "ci_high", "p_value", "p_holm")}}
                          for key in MEASURES if key in s.index]
        if r.adjusted is not None:
            out["adjusted"] = [{"metric": m, "p_value": row["p_value"], "p_holm": row["p_holm"]}
                               for m, row in r.adjusted.iterrows()]
    out["money"] = {"incremental_revenue": report.incremental_revenue, "ci_low": report.incremental_revenue_low,
                    "ci_high": report.incremental_revenue_high, "campaign_cost": report.campaign_cost,
                    "cost_source": report.cost_source, "roi": report.roi, "roi_low": report.roi_low,
                    "roi_high": report.roi_high, "roi_basis": report.roi_basis, "margin_rate": report.margin_rate,
                    "cost_per_order": report.cost_per_order,
                    "cost_per_incremental_order": report.cost_per_incremental_order}
    c = report.clv_difference
    out["clv"] = None if c is None else {**_interval(c), "money_basis": money_basis, "customers": report.n_treatment}
    if r.cuped is not None:
        out["cuped"] = {**_interval(r.cuped), "pre_period_days": r.params["pre_period_days"],
                        "variance_reduction": r.cuped.variance_reduction, "theta": r.cuped.theta,
                        "unadjusted": _interval(r.cuped.unadjusted)}
    if r.bayes is not None:
        out["bayes"] = {"prob_b_better": r.bayes.prob_b_better, "expected_loss_b": r.bayes.expected_loss_b}
    t = r.retention
    out["retention"] = None if t is None else {**_interval(t), "rate_a": t.rate_a, "rate_b": t.rate_b}
    if activity is not None:
        out["activity"] = {**_interval(activity), "horizon_days": activity.horizon_days}
    if sequential is not None:
        looks = sequential.looks[["date", "estimate", "cs_low", "cs_high"]]
        out["sequential"] = {"p_value": sequential.p_value, "ci_low": sequential.ci_low, "ci_high": sequential.ci_high,
                             "looks": [dict(zip(looks.columns, row)) for row in looks.itertuples(index=False)],
                             "peeking": {k: peeking[k] for k in ("n_sims", "n_looks", "naive_false_positive_rate",
                                                                 "msprt_false_positive_rate")} if peeking else None}
    out["sample_size"] = dict(report.planner)
    return _plain(out)
