"""The experiment page: a campaign's final report in words, tables and figures, in English or Finnish.

Numbers come from :mod:`analysis.experiments.analysis` (language-free results and verdict codes), words
from ``strings/experiments.json``. ``notebooks/experiment.ipynb`` builds an :class:`ExperimentPage`
and shows one :class:`Section` per notebook section; the CLI uses :func:`campaign_text`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.experiments import analysis as experiments
from analysis.experiments.analysis import CampaignReport, ExperimentResult, Guard, RetentionComparison, SequentialResult
from analysis.findings import Estimation, Finding
from analysis.report.text import Text, fmt_number
from analysis.data.privacy import suppress_small_groups
from analysis.report.numbers import KeyNumber

#: The analysis id of the experiment comparison in findings (``strings/findings.json``).
ANALYSIS = "experiments.arms"


# --- small formatters ----------------------------------------------------------------------------
def p_text(p: float, language: str) -> str:
    """A p-value with two significant digits (0.14, 0.0088; "< 0.001" below that), decimal comma in Finnish.

    Example
    -------
    >>> p_text(0.01234, "fi"), p_text(0.0002, "en")
    ('0,012', '< 0.001')
    """
    text = "< 0.001" if p < 0.001 else f"{p:.2g}"
    return text.replace(".", ",") if language == "fi" else text


def _signed(tx: Text, x: float, decimals: int) -> str:
    return fmt_number(x, tx.language, decimals, signed=True)


def _points(tx: Text, x: float, signed: bool = False) -> str:
    """A difference of shares in percentage points (0.063 -> "6.3 percentage points")."""
    return tx("points", x=_signed(tx, 100 * x, 1) if signed else tx.number(100 * x, 1))


def _money(tx: Text, x: float, signed: bool = False) -> str:
    return ("+" if signed and x > 0 else "") + tx.money(x, 2)


def _effect(tx: Text, primary: str):
    """Formatter of the primary metric's effect: percentage points for conversion, euros for revenue."""
    return (lambda x, signed=False: _points(tx, x, signed)) if primary == "conversion" else \
        (lambda x, signed=False: _money(tx, x, signed))


def _pv(tx: Text, p: float) -> str:
    return tx("p_small") if p < 0.001 else tx("p_value", p=tx.number(p, 3))


def _arm_order(result: ExperimentResult) -> list[str]:
    return [result.control] + [v for v in result.arms.index if v != result.control]


# --- guards, verdict, tables ---------------------------------------------------------------------
def guard_message(guard: Guard, language: str = "en") -> str:
    """One guard as a plain sentence.

    Example
    -------
    >>> from analysis.experiments.analysis import Guard
    >>> guard_message(Guard("enough_units", False, {"variant": "control", "n": 12, "min": 30}))
    'Group control has only 12 customers (at least 30 needed); a difference would be mostly chance.'
    """
    tx = Text("experiments", language)
    f = guard.facts
    if guard.name == "one_variant_per_customer":
        if guard.passed:
            return tx("guard_multi_ok")
        return tx("guard_multi_fail", n_multi=tx.number(f["n_multi"]), n_twice=tx.number(f["n_twice"]))
    if guard.name == "sample_ratio":
        if not f.get("planned_known"):
            return tx("guard_srm_unknown")
        split = ", ".join(f"{v} {tx.number(n)}" for v, n in f["split"].items())
        plan = ", ".join(f"{v} {tx.pct(x, 0)}" for v, x in f["planned"].items())
        p, threshold = p_text(f["p_value"], language), p_text(f["threshold"], language)
        key = {"passed": "guard_srm_ok", "warning": "guard_srm_warn", "failed": "guard_srm_fail"}[guard.status]
        warning = p_text(f.get("warning_threshold", f["threshold"]), language)
        return tx(key, split=split, plan=plan, p=p, threshold=threshold, warning=warning)
    if guard.name == "window_finished":
        values = {"window": f["window_days"], "end": tx.date(f["ends"])}
        if guard.passed:
            return tx("guard_window_ok", **values)
        return tx("guard_window_fail", n_after=tx.number(f["n_after"]), n_open=tx.number(f["n_open"]),
                  as_of=tx.date(f["as_of"]), **values)
    if guard.name == "enough_units":
        return tx("guard_units_ok" if guard.passed else "guard_units_fail", variant=f["variant"],
                  n=tx.number(f["n"]), min=f["min"])
    raise KeyError(f"guard {guard.name!r} has no sentence in strings/experiments.json")


def verdict_sentence(result: ExperimentResult, language: str = "en") -> str:
    """The overall verdict in one sentence (from the verdict code and the primary test)."""
    tx = Text("experiments", language)
    r = result
    if r.verdict == "withheld":
        return tx("verdict_withheld")
    fmt = _effect(tx, r.primary)
    metric = tx(f"metric_{r.primary}")
    if r.verdict == "non_inferior":
        return tx("verdict_non_inferior", metric=metric, effect=fmt(r.estimate, True), low=fmt(r.ci_low, True),
                  high=fmt(r.ci_high, True), margin=fmt(r.params["margin"]))
    effect = abs(r.estimate) if r.verdict in ("better", "worse") else r.estimate
    return tx(f"verdict_{r.verdict}", metric=metric, effect=fmt(effect, r.verdict == "no_difference"),
              low=fmt(r.ci_low, True), high=fmt(r.ci_high, True))


def guards_table(result: ExperimentResult, language: str = "en") -> pd.DataFrame:
    """The checks as a table of plain sentences: passed, warning or failed (a warning never reads as passed)."""
    tx = Text("experiments", language)
    return pd.DataFrame({
        tx("col_check"): [tx(f"g_{g.name}") for g in result.guards],
        tx("col_result"): [tx(f"guard_{g.status}") for g in result.guards],
        tx("col_explanation"): [guard_message(g, language) for g in result.guards],
    })


def arms_table(result: ExperimentResult, language: str = "en") -> pd.DataFrame:
    """Per group: customers, share who bought, revenue and purchases per customer, retention."""
    tx = Text("experiments", language)
    a = result.arms.loc[_arm_order(result)]
    table = pd.DataFrame({
        tx("col_group"): a.index,
        tx("col_customers"): [tx.number(x) for x in a["customers"]],
        tx("col_conversion"): [tx.pct(x, 1) for x in a["conversion_rate"]],
        tx("col_revenue_pc"): [tx.money(x, 2) for x in a["revenue_per_customer"]],
        tx("col_purchases_pc"): [tx.number(x, 2) for x in a["purchases_per_customer"]],
        tx("col_retention"): [tx.pct(x, 1) for x in a["retention_rate"]],
        tx("col_pre_spend"): [tx.money(x, 2) for x in a["pre_period_spend"]],
    })
    return suppress_small_groups(table, a["customers"], keep=[tx("col_group")], count_column=tx("col_customers"))


_MEASURES = {"conversion_difference": ("m_conversion", "points"), "conversion_relative_lift": ("m_lift", "pct"),
             "revenue_per_customer_difference": ("m_revenue", "money"),
             "revenue_per_customer_bootstrap": ("m_bootstrap", "money"),
             "revenue_per_customer_cuped": ("m_cuped", "money"), "retention_difference": ("m_retention", "points"),
             "active_days_rmst_difference": ("m_rmst", "days")}


def measures_table(result: ExperimentResult, language: str = "en") -> pd.DataFrame:
    """Every measure's difference (campaign minus control), interval, p-value and Holm-corrected p-value.

    The verdict's measure is marked primary; the corrected p-value is what a secondary measure's
    "significant" must rest on, since every extra measure is one more chance of a false alarm.
    """
    tx = Text("experiments", language)
    s = result.summary()
    fmt = {"points": lambda x: _signed(tx, 100 * x, 1), "pct": lambda x: tx.pct(x, 0, signed=True),
           "money": lambda x: _money(tx, x, True), "days": lambda x: _signed(tx, x, 1)}
    rows = []
    for key, (label, kind) in _MEASURES.items():
        if key in s.index:
            e, lo, hi, p, p_holm, role = s.loc[key, ["estimate", "ci_low", "ci_high", "p_value", "p_holm", "role"]]
            f = fmt[kind]
            name = tx("primary_mark", label=tx(label)) if role == "primary" else tx(label)
            rows.append({tx("col_metric"): name, tx("col_estimate"): f(e),
                         tx("col_interval"): f"{f(lo)} … {f(hi)}", tx("col_p"): p_text(p, language),
                         tx("col_p_holm"): "–" if pd.isna(p_holm) else p_text(p_holm, language)})
    return pd.DataFrame(rows)


# --- caveats and lessons -------------------------------------------------------------------------
def caveats(report: CampaignReport, language: str = "en") -> list[str]:
    """What the reader should keep in mind: failed checks, one campaign, a wide interval, open windows."""
    tx = Text("experiments", language)
    r = report.result
    out = [tx("caveat_guard" if g.status == "failed" else "caveat_guard_warning", message=guard_message(g, language))
           for g in r.guards if g.status != "passed"]
    out.append(tx("caveat_one_campaign"))
    if r.verdict != "withheld" and r.primary_test is not None:
        t = r.primary_test
        fmt = _effect(tx, r.primary)
        if t.ci_high - t.ci_low > 2 * max(abs(t.estimate), 1e-12):
            out.append(tx("caveat_wide", low=fmt(t.ci_low), high=fmt(t.ci_high)))
        adj = r.adjusted
        for secondary in ("conversion", "revenue", "retention", "active_days"):
            if secondary == r.primary or adj is None or secondary not in adj.index:
                continue
            if adj.loc[secondary, "p_value"] < r.params["alpha"] <= adj.loc[secondary, "p_holm"]:
                out.append(tx("caveat_secondary", metric=tx(f"metric_{secondary}"),
                              p=tx.number(adj.loc[secondary, "p_holm"], 3)))
    out.append(tx("caveat_window", days=r.params["conversion_window_days"]))
    if r.retention is None:
        out.append(tx("caveat_retention_open"))
    return out


def lessons(report: CampaignReport, language: str = "en") -> list[str]:
    """What to do next, from the verdict code, the ROI and the planner."""
    tx = Text("experiments", language)
    r, planner = report.result, report.planner
    if r.verdict == "withheld":
        return [tx("lesson_fix_guard")]
    if r.verdict == "better":
        return [tx("lesson_rollout")] + ([tx("lesson_unprofitable")] if report.roi is not None and report.roi < 0 else [])
    if r.verdict == "worse":
        return [tx("lesson_stop")]
    if r.verdict == "non_inferior":
        return [tx("lesson_non_inferior")]
    out = []
    if planner["mde_now"] > planner["mde_abs"]:
        if r.primary == "conversion":
            out.append(tx("lesson_bigger", mde_now=_points(tx, planner["mde_now"]), mde=_points(tx, planner["mde_abs"]),
                          n=tx.number(planner["n_per_arm"])))
        elif planner["n_per_arm_revenue"]:
            out.append(tx("lesson_bigger_revenue", mde_now=tx.money(planner["revenue_mde_now"], 2),
                          mde=tx.money(planner["revenue_mde"], 2), n=tx.number(planner["n_per_arm_revenue"])))
    return out + [tx("lesson_no_effect")]


# --- the report's sentences ----------------------------------------------------------------------
def execution_text(report: CampaignReport, language: str = "en") -> str:
    """Who, when, through which channel and how the customers were split."""
    tx = Text("experiments", language)
    brief = report.brief
    split = ", ".join(tx("split_part", variant=v, n=tx.number(n), share=tx.pct(s, 0),
                         planned=tx.pct(p, 0) if p == p else "–") for v, n, s, p in report.split)
    until = tx("until", end=tx.date(report.last_assigned)) \
        if report.last_assigned.normalize() != report.start.normalize() else ""
    audience = (brief.audience if brief is not None else None) or \
        tx("audience_default", n=tx.number(sum(n for _, n, _, _ in report.split)))
    channel = (brief.channel if brief is not None else None) or tx("channel_unknown")
    return tx("execution_text", audience=audience, start=tx.date(report.start), until=until,
              window=report.result.params["conversion_window_days"], channel=channel, split=split)


def money_text(report: CampaignReport, language: str = "en") -> str | None:
    """Incremental revenue, and ROI and cost per purchase only when the campaign cost is known."""
    tx = Text("experiments", language)
    if report.result.revenue is None:
        return None
    m = lambda x: tx.money(x, 0)  # noqa: E731
    values = dict(incr=m(report.incremental_revenue), low=m(report.incremental_revenue_low),
                  high=m(report.incremental_revenue_high))
    if not report.campaign_cost:
        return tx("money_no_cost", **values)
    cpio = tx.money(report.cost_per_incremental_order, 2) if report.cost_per_incremental_order else tx("not_available")
    text = tx("money_text", cost=m(report.campaign_cost), roi=tx.pct(report.roi, 0), roi_low=tx.pct(report.roi_low, 0),
              roi_high=tx.pct(report.roi_high, 0), cpo=tx.money(report.cost_per_order, 2), cpio=cpio, **values)
    if report.cost_source == "campaigns":
        text += " " + tx("cost_from_campaigns", cost=m(report.campaign_cost))
    if report.roi_basis == "margin":
        text += " " + tx("roi_on_margin", rate=tx.pct(report.margin_rate, 0),
                         margin=m(report.incremental_revenue * report.margin_rate))
    else:
        text += " " + tx("roi_on_sales")
    return text


def clv_text(report: CampaignReport, language: str = "en", money_basis: str = "sales") -> str:
    """The incremental customer value; on ``money_basis="margin"`` (the month's CLV is margin) it says so."""
    tx = Text("experiments", language)
    c = report.clv_difference
    if c is None:
        return tx("clv_missing")
    return tx("clv_text_margin" if money_basis == "margin" else "clv_text", diff=tx.money(c.estimate, 2), low=tx.money(c.ci_low, 2), high=tx.money(c.ci_high, 2),
              total=tx.money(c.estimate * report.n_treatment, 0))


def campaign_text(report: CampaignReport, language: str = "en") -> dict:
    """Every sentence of the final report in one language (what ``kanta experiment`` prints and writes)."""
    tx = Text("experiments", language)
    brief = report.brief
    out = {
        "goal": (brief.goal if brief is not None else None) or tx("goal_unknown"),
        "execution": execution_text(report, language),
        "verdict": verdict_sentence(report.result, language),
        "guards": [guard_message(g, language) for g in report.result.guards],
    }
    money = money_text(report, language)
    if money is not None:
        out["money"] = money
    out["clv"] = clv_text(report, language)
    out["caveats"] = caveats(report, language)
    out["lessons"] = lessons(report, language)
    return out


# --- figures -------------------------------------------------------------------------------------
def _axes(ax, figsize):
    import matplotlib.pyplot as plt

    return ax if ax is not None else plt.subplots(figsize=figsize)[1]


def plot_conversion(result: ExperimentResult, language: str = "en", ax=None):
    """Share who bought per group with Wilson 95 % intervals; returns the Axes."""
    from matplotlib.ticker import MaxNLocator

    tx = Text("experiments", language)
    ax = _axes(ax, (6, 3.5))
    a = result.arms.loc[_arm_order(result)]
    lo_hi = [experiments.wilson_interval(int(c), int(n), result.params["alpha"])
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


def plot_activity(activity: RetentionComparison, language: str = "en", ax=None):
    """Kaplan-Meier curves of the share still active per group; returns the Axes."""
    tx = Text("experiments", language)
    ax = _axes(ax, (7, 3.8))
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


def plot_sequential(sequential: SequentialResult, language: str = "en", ax=None):
    """Estimate and always-valid interval at each weekly look; returns the Axes."""
    tx = Text("experiments", language)
    ax = _axes(ax, (7, 3.5))
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


# --- sections of the page ------------------------------------------------------------------------
@dataclass
class Section:
    """What one notebook section shows, in order: headings, paragraphs, tables, figures, key numbers, findings.

    Displayed in a notebook (``_ipython_display_``) it shows its parts with :mod:`analysis.report.display`
    and records key numbers and findings with :mod:`analysis.report.numbers`; built without a
    notebook it is plain data for tests (``texts()``).
    """

    language: str
    parts: list = field(default_factory=list)

    def heading(self, text: str, level: int = 2) -> "Section":
        self.parts.append(("heading", text, level))
        return self

    def text(self, text: str | None) -> "Section":
        if text:
            self.parts.append(("text", text))
        return self

    def table(self, df: pd.DataFrame, caption: str | None = None) -> "Section":
        self.parts.append(("table", df, caption))
        return self

    def figure(self, ax, title: str, alt: str) -> "Section":
        self.parts.append(("figure", ax.figure, title, alt))
        return self

    def numbers(self, numbers: list[KeyNumber]) -> "Section":
        if numbers:
            self.parts.append(("numbers", list(numbers)))
        return self

    def finding(self, finding: Finding) -> "Section":
        self.parts.append(("finding", finding))
        return self

    def texts(self) -> list[str]:
        """The headings and paragraphs as plain strings (for tests and logs)."""
        return [p[1] for p in self.parts if p[0] in ("heading", "text")]

    def __bool__(self) -> bool:
        return bool(self.parts)

    def _ipython_display_(self) -> None:
        from analysis.report.display import heading, say, show_figure
        from analysis.report.numbers import show_finding, show_numbers
        from analysis.report.pii import show_group_table

        for kind, *rest in self.parts:
            if kind == "heading":
                heading(rest[0], rest[1])
            elif kind == "text":
                say(rest[0])
            elif kind == "table":
                show_group_table(rest[0], rest[1], self.language)  # with the footnote when small groups are blank
            elif kind == "figure":
                show_figure(*rest)
            elif kind == "numbers":
                show_numbers(rest[0], self.language)
            elif kind == "finding":
                show_finding(rest[0], self.language)


class ExperimentPage:
    """One experiment's page: one method per notebook section, each returning a :class:`Section`.

    ``report`` is None when the experiment is not in the data or when its groups cannot be
    compared (``finding`` says why); every section then returns what can still be said.

    Example
    -------
    >>> page = ExperimentPage.build("data/sample", "reactivation-2026-03", "en", as_of="2026-10-31",
    ...                             include_clv=False, n_boot=200)
    >>> page.verdict().texts()[2]
    'Verdict'
    """

    SECTIONS = ("verdict", "checks", "campaign", "results", "money", "sharper_estimates", "retention",
                "monitoring", "next_test", "caveats_and_lessons")

    def __init__(self, experiment_id: str, report: CampaignReport | None, language: str = "en",
                 finding: Finding | None = None, known: tuple[str, ...] = ()):
        self.experiment_id = str(experiment_id)
        self.report = report
        self.result = report.result if report is not None else None
        self.language = language
        self.finding = finding
        self.known = tuple(known)
        self.tx = Text("experiments", language)
        self.money_basis = "sales"  # "margin" when the month's customer values are margin (set by build)

    @classmethod
    def build(cls, source, experiment_id: str, language: str = "en", as_of=None, customer_base=None,
              **params) -> "ExperimentPage":
        """Analyse the experiment (:func:`analysis.experiments.analysis.campaign_report`) and make its page.

        A one-arm experiment or a group too small to compare becomes the page's finding.
        ``customer_base`` (a saved month state) gives the customers' CLV for the incremental-value
        comparison, so the page uses the month's one CLV instead of fitting its own.
        """
        from analysis.data.sources import load_source

        src = load_source(source, as_of=as_of)
        basis = "sales"
        if customer_base:
            from analysis.base.state import CustomerBase

            base = CustomerBase.load(customer_base)
            basis = base.money_basis
            if not base.estimated("clv"):
                params.setdefault("include_clv", False)
            else:
                params.setdefault("customer_values", base.customers.set_index("customer_id")["clv"])
        known = tuple(experiments.experiment_ids(src))
        if str(experiment_id) not in known:
            return cls(experiment_id, None, language, known=known)
        est = Estimation()
        report = est.attempt(ANALYSIS, lambda: experiments.campaign_report(src, experiment_id, **params),
                             reason="not_estimable", affects=("experiments_concluded",))
        page = cls(experiment_id, report, language, est.findings[0] if est.findings else None, known)
        page.money_basis = basis
        return page

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
        if rep.roi is not None:
            out += [KeyNumber("experiment_roi", rep.roi),
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
        if self.report is None:
            return s.text(tx("finding_intro")).finding(self.finding)
        s.text("**" + verdict_sentence(self.result, self.language) + "**").numbers(self.key_numbers())
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

    def results(self) -> Section:
        tx, s = self.tx, self._section()
        if not self.compared:
            return s
        s.heading(tx("h_results")).table(arms_table(self.result, self.language), tx("h_arms"))
        s.figure(plot_conversion(self.result, self.language), tx("fig_conversion"), tx("fig_conversion_alt"))
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
                high=tx.money(c.ci_high, 2), p=_pv(tx, c.p_value), raw=tx.money(c.unadjusted.estimate, 2),
                raw_low=tx.money(c.unadjusted.ci_low, 2), raw_high=tx.money(c.unadjusted.ci_high, 2)))
        if r.bayes is not None:
            s.heading(tx("h_bayes")).text(tx("bayes_text", prob=tx.pct(r.bayes.prob_b_better, 0),
                                             loss=tx.number(100 * r.bayes.expected_loss_b, 2)))
        return s

    def retention(self) -> Section:
        tx, s, r = self.tx, self._section(), self.result
        if not self.compared:
            return s
        window, horizon = r.params["conversion_window_days"], r.params["retention_window_days"]
        s.heading(tx("h_retention"))
        if r.retention is not None:
            t = r.retention
            s.text(tx("retention_rate_text", start=window, end=horizon, a=tx.pct(t.rate_a, 1), b=tx.pct(t.rate_b, 1),
                      d=_points(tx, t.estimate), low=tx.number(100 * t.ci_low, 1), high=tx.number(100 * t.ci_high, 1)))
        else:
            s.text(tx("retention_open", days=horizon))
        if r.activity is None:
            return s.text(tx("retention_missing"))
        a = r.activity
        s.text(tx("retention_text", gap=window, horizon=tx.number(a.horizon_days), diff=tx.number(a.estimate, 1),
                  low=tx.number(a.ci_low, 1), high=tx.number(a.ci_high, 1), p=_pv(tx, a.p_value)))
        return s.figure(plot_activity(a, self.language), tx("fig_retention"), tx("fig_retention_alt"))

    def monitoring(self, n_sims: int = 1000, n_looks: int = 8, seed: int = 2026) -> Section:
        """Weekly always-valid monitoring, with a simulation of what naive weekly peeking does."""
        tx, s, r = self.tx, self._section(), self.result
        if not self.compared:
            return s
        s.heading(tx("h_sequential"))
        if r.sequential is None:
            return s.text(tx("sequential_missing"))
        peeking = experiments.simulate_peeking(n_sims=n_sims, n_looks=n_looks, seed=seed)
        q = r.sequential
        s.text(tx("sequential_text", sims=tx.number(peeking["n_sims"]), looks=peeking["n_looks"],
                  naive=tx.pct(peeking["naive_false_positive_rate"], 0),
                  naive_ill=tx.pct(peeking["naive_false_positive_rate"], 0, case="illative"),
                  msprt=tx.pct(peeking["msprt_false_positive_rate"], 1), p=_pv(tx, q.p_value),
                  low=_points(tx, q.ci_low), high=_points(tx, q.ci_high)))
        return s.figure(plot_sequential(q, self.language), tx("fig_sequential"), tx("fig_sequential_alt"))

    def next_test(self) -> Section:
        """The planner: customers per group the next test needs."""
        tx, s = self.tx, self._section()
        if self.report is None:
            return s
        pl = self.report.planner
        s.heading(tx("h_planner")).text(tx(
            "planner_text", baseline=tx.pct(pl["baseline"], 1), mde=_points(tx, pl["mde_abs"]),
            n=tx.number(pl["n_per_arm"]), n_now=tx.number(pl["n_now"]), mde_now=_points(tx, pl["mde_now"]),
            sd=tx.money(pl["revenue_sd"], 2), mde_rev=tx.money(pl["revenue_mde"], 2),
            n_rev=tx.number(pl["n_per_arm_revenue"]) if pl["n_per_arm_revenue"] else "–"))
        if pl["n_per_arm_to_confirm"]:
            seen = _points(tx, pl["observed_difference"]) if pl["primary"] == "conversion" \
                else tx.money(pl["observed_difference"], 2)
            s.text(tx("planner_confirm", effect=seen, n=tx.number(pl["n_per_arm_to_confirm"])))
        return s

    def caveats_and_lessons(self) -> Section:
        tx, s = self.tx, self._section()
        if self.report is None:
            return s
        s.heading(tx("h_caveats")).text("\n".join(f"- {c}" for c in caveats(self.report, self.language)))
        return s.heading(tx("h_lessons")).text("\n".join(f"- {c}" for c in lessons(self.report, self.language)))

    def sections(self) -> list[Section]:
        """Every section in page order."""
        return [getattr(self, name)() for name in self.SECTIONS]
