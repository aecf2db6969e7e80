"""The retention page: subscribers' contracts by signup cohort, the sBG fit, projected survival and residual value.

Numbers come from :func:`analysis.clv.retention.analyse_retention` (language-free), words from
``strings/retention.json``. ``notebooks/retention.ipynb`` builds a :class:`RetentionPage` and shows one
:class:`~analysis.report.section.Section` per notebook section. The monthly report renders the page only
for a source whose ``customers`` table has ``churn_date``.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from analysis.clv import retention
from analysis.clv.retention import RetentionResult
from analysis.data.privacy import MIN_GROUP_SIZE, suppress_small_groups
from analysis.findings import Finding
from analysis.report.numbers import KeyNumber
from analysis.report.section import Section
from analysis.report.text import Text

__all__ = ["RetentionPage", "survival_frame", "rates_frame", "cohort_frame", "holdout_frame", "plot_survival",
           "plot_retention_rates", "plot_cohorts", "plot_holdout"]

#: Periods after signup the cohort table shows survival at (those observed for some cohort).
TABLE_PERIODS = {"month": (1, 3, 6, 12, 24), "year": (1, 2, 3, 5)}
#: Tenures of the residual-value table (whole periods already renewed).
TENURES = {"month": (0, 1, 3, 6, 12, 24), "year": (0, 1, 2, 3, 5)}
#: Periods projected on the page: two years of monthly contracts, five yearly ones.
PAGE_PROJECTION = {"month": 24, "year": 5}
OBSERVED, FITTED, PROJECTED = "#1f77b4", "#ff7f0e", "#ff7f0e"


# --- data for the figures (computed here, drawn by the plot functions) -----------------------------
def survival_frame(result: RetentionResult, projected: int | None = None) -> pd.DataFrame:
    """``period, observed, fitted`` share still subscribed: observed (product-limit) up to the last observed
    period, the sBG curve over those and ``projected`` more (NaN without a fit)."""
    observed = np.asarray(result.base.survival_observed, float)
    K = len(observed) - 1
    t = np.arange(0, K + 1 + (projected or PAGE_PROJECTION[result.period]))
    fit = result.base.fit
    return pd.DataFrame({"period": t, "observed": np.concatenate([observed, np.full(len(t) - K - 1, np.nan)]),
                         "fitted": fit.survival(t) if fit is not None else np.nan})


def rates_frame(result: RetentionResult, projected: int | None = None) -> pd.DataFrame:
    """``period, observed, fitted`` retention rate (share of those subscribed at ``t - 1`` who renew at ``t``)."""
    s = survival_frame(result, projected)
    with np.errstate(all="ignore"):
        observed = s["observed"].to_numpy() / s["observed"].shift(1).to_numpy()
    fit = result.base.fit
    out = pd.DataFrame({"period": s["period"], "observed": observed,
                        "fitted": fit.retention_rate(s["period"]) if fit is not None else np.nan})
    return out[out["period"] >= 1].reset_index(drop=True)


def cohort_frame(result: RetentionResult) -> pd.DataFrame:
    """Long ``cohort, period, observed``: each cohort's observed share still subscribed."""
    rows = [pd.DataFrame({"cohort": c.cohort, "period": np.arange(len(c.survival_observed)),
                          "observed": np.asarray(c.survival_observed, float)}) for c in result.cohorts]
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=["cohort", "period", "observed"])


def holdout_frame(result: RetentionResult) -> pd.DataFrame:
    """``period, observed, projected, calibration``: the base's observed survival and the projection of the fit on
    the first ``calibration`` periods (empty without a holdout check)."""
    h = result.holdout
    if h is None:
        return pd.DataFrame(columns=["period", "observed", "projected", "calibration"])
    obs = np.asarray(result.base.survival_observed, float)
    t = np.arange(len(obs))
    return pd.DataFrame({"period": t, "observed": obs, "projected": h.fit.survival(t),
                         "calibration": h.calibration_periods})


# --- figures: plot_x(data, *, labels, ax=None) -> Axes -------------------------------------------
def _axes(ax, figsize=(5.0, 3.4)):  # small figure, large type: the labels stay readable at 390 px
    if ax is not None:
        return ax
    return plt.subplots(figsize=figsize, layout="constrained")[1]


def _style(ax, labels):
    ax.set_xlabel(labels["x"], fontsize=12)
    ax.set_ylabel(labels["y"], fontsize=12)
    ax.tick_params(labelsize=11)
    pct = labels.get("pct") or (lambda y: f"{100 * y:.0f}%")
    ax.yaxis.set_major_formatter(lambda y, _: pct(y))
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(frameon=False, fontsize=11)
    return ax


def plot_survival(data: pd.DataFrame, *, labels: dict, ax=None):
    """Observed share still subscribed (dots) and the sBG curve, dashed where it projects; returns the Axes.

    ``labels``: ``x``, ``y``, ``observed``, ``fitted``, ``projected``.
    """
    ax = _axes(ax)
    seen = data[data["observed"].notna()]
    last = int(seen["period"].max()) if len(seen) else 0
    ax.plot(seen["period"], seen["observed"], "o", ms=5, color=OBSERVED, label=labels["observed"])
    if data["fitted"].notna().any():
        inside, beyond = data[data["period"] <= last], data[data["period"] >= last]
        ax.plot(inside["period"], inside["fitted"], color=FITTED, lw=2, label=labels["fitted"])
        ax.plot(beyond["period"], beyond["fitted"], color=PROJECTED, lw=2, ls="--", label=labels["projected"])
        ax.axvline(last, color="#888888", lw=0.8)
    ax.set_ylim(0, 1.02)
    return _style(ax, labels)


def plot_retention_rates(data: pd.DataFrame, *, labels: dict, ax=None):
    """Observed retention rate per period since signup (dots) and the sBG curve (rising with tenure); returns the Axes.

    ``labels``: ``x``, ``y``, ``observed``, ``fitted``.
    """
    ax = _axes(ax)
    seen = data[data["observed"].notna()]
    ax.plot(seen["period"], seen["observed"], "o", ms=4, color=OBSERVED, label=labels["observed"])
    if data["fitted"].notna().any():
        ax.plot(data["period"], data["fitted"], color=FITTED, lw=2, label=labels["fitted"])
    values = pd.concat([seen["observed"], data["fitted"]]).dropna()
    ax.set_ylim(max(0.0, float(values.min()) - 0.05) if len(values) else 0.0, 1.01)
    return _style(ax, labels)


def plot_cohorts(data: pd.DataFrame, *, labels: dict, ax=None):
    """Each signup cohort's observed share still subscribed by period since signup; returns the Axes.

    ``labels``: ``x``, ``y``.
    """
    ax = _axes(ax)
    for cohort, g in data.groupby("cohort", sort=True):
        ax.step(g["period"], g["observed"], where="post", lw=1.8, label=str(cohort))
    ax.set_ylim(0, 1.02)
    return _style(ax, labels)


def plot_holdout(data: pd.DataFrame, *, labels: dict, ax=None):
    """Observed survival against the projection of a fit on the first periods only; returns the Axes.

    ``labels``: ``x``, ``y``, ``observed``, ``projected``, ``calibration``.
    """
    ax = _axes(ax)
    ax.plot(data["period"], data["observed"], "o", ms=4, color=OBSERVED, label=labels["observed"])
    ax.plot(data["period"], data["projected"], color=PROJECTED, lw=2, ls="--", label=labels["projected"])
    if len(data):
        k = int(data["calibration"].iloc[0])
        ax.axvspan(0, k, color="#dddddd", alpha=0.5, lw=0, label=labels["calibration"])
    ax.set_ylim(0, 1.02)
    return _style(ax, labels)


# --- the page --------------------------------------------------------------------------------------
class RetentionPage:
    """The retention page: one method per notebook section, each returning a :class:`Section`.

    ``result`` is None when the analysis could not be made (``finding`` says why); a base whose sBG cannot be
    fitted keeps its observed cohorts and shows the reason where the projection would be.

    Example
    -------
    >>> page = RetentionPage.build("data/subscriptions", "2026-10-31", "en")
    >>> [n.concept for n in page.key_numbers()][:2], page.holdout().texts()[0]
    (['subscribers_running', 'subscriber_renewal_rate'], 'Holdout check')
    """

    SECTIONS = ("overview", "cohorts", "projection", "residual_value", "holdout")

    def __init__(self, result: RetentionResult | None, language: str = "en", finding: Finding | None = None):
        self.result = result
        self.language = language
        self.finding = finding
        self.tx = Text("retention", language)

    @classmethod
    def build(cls, source, as_of, language: str = "en", period: str = "month",
              cohort_by: str | None = "year") -> "RetentionPage":
        """Analyse the source's contracts (:func:`analysis.clv.retention.analyse_retention`) and make the page."""
        return cls(retention.analyse_retention(source, as_of, period, cohort_by=cohort_by), language)

    # -- words -------------------------------------------------------------------------------------
    def _unit(self, n: float, case: str = "") -> str:
        """``n`` periods in words ("1 month", "2.5 months", "1 kuukausi", "2,5 kuukautta"; genitive ``case="_gen"``:
        "3 kuukauden", for "after 3 months")."""
        one, _, many = self.tx(f"noun_{self.result.period}{case}").partition("|")
        return f"{self.tx.number(n, 0 if float(n).is_integer() else 1)} {one if n == 1 else many}"

    def _labels(self, y: str) -> dict:
        tx = self.tx
        return {"x": tx(f"axis_periods_{self.result.period}"), "y": tx(y), "observed": tx("legend_observed"),
                "fitted": tx("legend_fitted"), "projected": tx("legend_projected"),
                "calibration": tx("legend_calibration"), "pct": lambda y: tx.pct(y, 0)}

    def _section(self) -> Section:
        return Section(self.language)

    @property
    def fit(self):
        return None if self.result is None else self.result.base.fit

    def key_numbers(self) -> list[KeyNumber]:
        """Running subscribers, their mean chance to renew next, their mean residual value (or DERL)."""
        r = self.result
        if r is None:
            return []
        out = [KeyNumber("subscribers_running", r.running)]
        o = r.outlook
        reason = None if o is not None else (r.base.finding.reason if r.base.finding else "not_estimable")
        out.append(KeyNumber("subscriber_renewal_rate", None if o is None else o["renewal_rate"], reason=reason))
        out.append(KeyNumber(f"subscriber_derl_{r.period}s", None if o is None else o["derl"], reason=reason))
        if o is None or o.get("residual_value") is not None:
            out.append(KeyNumber("subscriber_residual_value", None if o is None else o["residual_value"],
                                 reason=reason))
        return out

    # -- sections ----------------------------------------------------------------------------------
    def overview(self) -> Section:
        """Title, what the page shows, the key numbers and (when the base has no fit) why."""
        tx, s, r = self.tx, self._section(), self.result
        s.heading(tx("title"), 1)
        if r is None:
            return s.text(tx("no_result")).finding(self.finding) if self.finding else s.text(tx("no_result"))
        s.text(tx("intro", period=tx(f"period_{r.period}"), cohort=tx(f"cohort_by_{r.cohort_by or r.period}"),
                   date=tx.date(r.as_of)))
        s.numbers(self.key_numbers())
        if r.base.finding is not None:
            s.text(tx("no_fit_intro")).finding(r.base.finding)
        elif r.outlook is not None:
            o = r.outlook
            s.text(tx("outlook", n=tx.number(o["subscribers"]), tenure=self._unit(round(o["mean_tenure"], 1)),
                      renew=tx.pct(o["renewal_rate"], 1), derl=self._unit(round(o["derl"], 1))))
        return s

    def cohorts(self) -> Section:
        """Cohorts by signup period: subscribers, share still subscribed after 1, 3, 6, ... periods, own sBG fit."""
        tx, s, r = self.tx, self._section(), self.result
        if r is None:
            return s
        s.heading(tx("h_cohorts")).text(tx("cohorts_text"))
        shown = [t for t in TABLE_PERIODS[r.period] if any(len(c.survival_observed) > t for c in r.cohorts)]
        rows = []
        for c in r.cohorts:
            row = {tx("col_cohort"): c.cohort, tx("col_subscribers"): tx.number(c.customers)}
            for t in shown:
                row[tx("col_after", n=self._unit(t, "_gen"))] = tx.pct(c.survival_observed[t], 0) if len(c.survival_observed) > t else "–"
            row[tx("col_fit")] = (tx("fit_value", a=tx.number(c.fit.alpha, 2), b=tx.number(c.fit.beta, 2))
                                  if c.fit is not None else tx(f"short_{c.finding.reason}") if tx.has(f"short_{c.finding.reason}")
                                  else tx("short_not_estimable"))
            rows.append(row)
        table = pd.DataFrame(rows)
        table = suppress_small_groups(table, [c.customers for c in r.cohorts], keep=[tx("col_cohort")],
                                      count_column=tx("col_subscribers"))
        s.table(table, tx("cap_cohorts", period=tx(f"period_{r.period}")))
        shown_cohorts = {c.cohort for c in r.cohorts if c.customers >= MIN_GROUP_SIZE}  # a small cohort's curve is not drawn
        if shown_cohorts:
            data = cohort_frame(r)
            ax = plot_cohorts(data[data["cohort"].isin(shown_cohorts)], labels=self._labels("axis_survival"))
            s.figure(ax, tx("fig_cohorts"), tx("fig_cohorts_alt"))
        young = [c for c in r.cohorts if c.fit is None]
        if young:
            s.text(tx("cohorts_unfitted", cohorts=", ".join(c.cohort for c in young)))
        return s

    def projection(self) -> Section:
        """The base's sBG fit in words, projected survival and the retention-rate curve, with the next periods' table."""
        tx, s, r = self.tx, self._section(), self.result
        if r is None:
            return s
        s.heading(tx("h_projection"))
        fit = r.base.fit
        if fit is None:
            ax = plot_survival(survival_frame(r), labels=self._labels("axis_survival"))
            return s.text(tx("projection_none")).figure(ax, tx("fig_survival"), tx("fig_survival_alt_observed"))
        mean = fit.alpha / (fit.alpha + fit.beta)
        s.text(tx("fit_text", a=tx.number(fit.alpha, 3), a_se=tx.number(fit.alpha_se, 3), b=tx.number(fit.beta, 3),
                  b_se=tx.number(fit.beta_se, 3), mean=tx.pct(mean, 1), first=tx.pct(fit.retention_rate(1), 1),
                  later=tx.pct(fit.retention_rate(len(r.base.survival_observed) + 1), 1),
                  k=self._unit(len(r.base.survival_observed), "_gen")))
        ax = plot_survival(survival_frame(r), labels=self._labels("axis_survival"))
        s.figure(ax, tx("fig_survival"), tx("fig_survival_alt"))
        ax = plot_retention_rates(rates_frame(r), labels=self._labels("axis_retention"))
        s.figure(ax, tx("fig_rates"), tx("fig_rates_alt"))
        K = len(r.base.survival_observed) - 1
        t = np.arange(K + 1, K + 1 + len(r.base.survival_projected))
        table = pd.DataFrame({tx("col_period"): [self._unit(int(v)) for v in t],
                              tx("col_survival"): [tx.pct(v, 1) for v in fit.survival(t)],
                              tx("col_retention"): [tx.pct(v, 1) for v in fit.retention_rate(t)]})
        return s.table(table, tx("cap_projection"))

    def residual_value(self) -> Section:
        """DERL and residual value per subscriber by tenure: a subscriber who has stayed longer is worth more."""
        tx, s, r = self.tx, self._section(), self.result
        if r is None or r.base.fit is None or r.residual.empty:
            return s
        s.heading(tx("h_residual"))
        s.text(tx("residual_text", rate=tx.pct(r.discount_rate, 2), period=tx(f"period_{r.period}"),
                  value=tx.money(r.value_per_period, 2) if r.value_per_period is not None else "–"))
        res = r.residual.set_index("tenure")
        tenures = [k for k in TENURES[r.period] if k in res.index]
        table = pd.DataFrame({
            tx("col_tenure"): [self._unit(k) for k in tenures],
            tx("col_renew_next"): [tx.pct(res.loc[k, "retention_rate"], 1) for k in tenures],
            tx("col_derl", unit=tx(f"unit_{r.period}")): [tx.number(res.loc[k, "derl"], 1) for k in tenures],
            tx("col_residual_value"): [tx.money(res.loc[k, "residual_value"], 2) if pd.notna(res.loc[k, "residual_value"])
                                       else "–" for k in tenures]})
        return s.table(table, tx("cap_residual"))

    def holdout(self) -> Section:
        """Fit on the first periods, compared with the later ones as observed."""
        tx, s, r = self.tx, self._section(), self.result
        if r is None:
            return s
        s.heading(tx("h_holdout"))
        h = r.holdout
        if h is None:
            return s.text(tx("holdout_none", n=self._unit(len(r.base.survival_observed) - 1)))
        last = h.comparison.iloc[-1]
        s.text(tx("holdout_text", k=self._unit(h.calibration_periods), mae=tx.number(100 * h.mean_absolute_error, 1),
                  t=self._unit(int(last["period"]), "_gen"), projected=tx.pct(last["projected"], 1),
                  observed=tx.pct(last["observed"], 1)))
        ax = plot_holdout(holdout_frame(r), labels=self._labels("axis_survival"))
        return s.figure(ax, tx("fig_holdout"), tx("fig_holdout_alt"))
