"""The CLV page of the monthly report: customer value from the month's customer base, in the reader's language.

Sentences, formatted tables, labels and figures are made here from language-free results
(:mod:`analysis.clv`, :class:`analysis.base.state.CustomerBase`); the words are in
``strings/clv.json``. ``notebooks/clv.ipynb`` calls one :class:`ClvPage` method per section.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from analysis import clv
from analysis.base import attach_intervals
from analysis.units import DAYS_PER_MONTH
from analysis.data.privacy import suppress_small_groups
from analysis.errors import ModelError
from analysis.findings import Estimation, Finding
from analysis.report.display import heading, say, show_figure, show_table
from analysis.report.numbers import KeyNumber, record, show_finding, show_numbers
from analysis.report.pages.clv_covariates import effect_sentences
from analysis.report.pages.clv_diagnostics import diagnostic_labels, plot_conditional_expectations, plot_tracking
from analysis.report.pii import show_group_table
from analysis.report.text import Text

#: Customer attributes the page breaks customer equity down by (those present in the data).
EQUITY_ATTRIBUTES = ("region", "acquisition_channel", "age_band", "main_channel")
MODEL_NAMES = {"bgnbd": "BG/NBD", "mbgnbd": "MBG/NBD", "pareto_nbd": "Pareto/NBD", "nbd": "NBD",
               "gamma_gamma": "Gamma-Gamma"}


def _tx(language_or_tx) -> Text:
    return language_or_tx if isinstance(language_or_tx, Text) else Text("clv", language_or_tx)


# --------------------------------------------------------------------------- words
def note_text(note: Mapping, language="en") -> str:
    """One of :attr:`analysis.clv.CLVModel.notes_` (a code and its facts) as a sentence.

    Example
    -------
    >>> note_text({"code": "refund_customers_excluded", "n": 12}, "en")
    '12 repeat customers with zero or negative average spend (refunds) were left out of the spend model.'
    """
    tx = _tx(language)
    facts = {k: v for k, v in note.items() if k != "code"}
    code = note["code"]
    if code == "refund_customers_excluded":
        return tx("note_refund_customers_excluded", n=tx.number(facts["n"]))
    if code == "spend_correlated":
        return tx("note_spend_correlated", r=tx.number(facts["r"], 2))
    if code == "spend_constant":
        return tx("note_spend_constant", amount=tx.money(facts["amount"], 2))
    if code == "spend_model_undefined":
        return tx("note_spend_model_undefined", q=tx.number(facts["q"], 2))
    if code == "spend_outliers_excluded":
        named = ", ".join(f"{c['pseudonym']} ({tx.money(c['monetary_value'])})" for c in facts["customers"])
        return tx("note_spend_outliers_excluded", n=tx.number(facts["n"]), bound=tx.money(facts["bound"]),
                  mads=tx.number(facts["rule_mads"]), customers=named)
    raise KeyError(f"clv note {code!r} has no words in strings/clv.json")


def model_sentences(model: clv.CLVModel, language="en", horizon_months: int = 12) -> list[str]:
    """The fitted models in everyday words: which purchase model and why, pace, drop-out, spend, checks, notes."""
    tx = _tx(language)
    facts = clv.model_facts(model)
    choice = model.choice_
    out = [choice_sentence(model, tx)]
    if facts.get("no_dropout"):
        out.append(tx("model_plain_nbd", days=tx.number(facts["days_between_purchases"]), months=horizon_months,
                      spend=tx.money(facts["mean_spend"], 2)))
    elif "dropout_per_year" in facts:
        out.append(tx("model_plain_pareto", days=tx.number(facts["days_between_purchases"]),
                      drop=tx.pct(facts["dropout_per_year"]), spend=tx.money(facts["mean_spend"], 2)))
    else:
        out.append(tx("model_plain", days=tx.number(facts["days_between_purchases"]),
                      drop=tx.pct(facts["dropout_per_purchase"]), spend=tx.money(facts["mean_spend"], 2)))
    if facts["spend_independent"]:
        out.append(tx("spend_independent", r=tx.number(facts["frequency_spend_correlation"], 2)))
    out.append(tx("model_fit", model=MODEL_NAMES[choice["model"]], n=tx.number(facts["n_customers"]),
                  rows=tx.number(facts["n_rows"])))
    out.extend(note_text(n, tx) for n in model.notes_)
    return out


def choice_sentence(model: clv.CLVModel, language="en") -> str:
    """Which purchase model was used and by which stated rule (requested, holdout error, BIC and why)."""
    tx = _tx(language)
    choice = model.choice_
    name = MODEL_NAMES[choice["model"]]
    n_out = int((~model.comparison_["eligible"].astype(bool)).sum()) if "eligible" in model.comparison_ else 0
    dropped = tx("choice_discarded", n=n_out) if n_out else ""
    rule = choice.get("choice_rule", choice.get("criterion"))
    if rule == "requested":
        return tx("choice_requested", model=name)
    if rule == "holdout_mae":
        mae = model.comparison_.set_index("model").loc[choice["model"], "holdout_mae"]
        return tx("choice_holdout", model=name, months=choice["holdout_months"], mae=tx.number(mae, 2),
                  tol=tx.pct(choice["tie_tolerance"], 0)) + dropped
    key = "choice_bic_not_scored" if choice.get("choice_reason") == "holdout_not_scored" else "choice_bic"
    return tx(key, model=name) + dropped


def candidates_table(model: clv.CLVModel, language="en") -> pd.DataFrame:
    """Every candidate purchase model: eligibility (status and reason), log-likelihood, BIC, the likelihood-ratio
    statistic against the NBD and the holdout error."""
    tx = _tx(language)
    c = model.comparison_
    col = lambda name: c[name] if name in c else pd.Series(np.nan, index=c.index)  # noqa: E731
    num = lambda v, d: tx.number(v, d) if v is not None and pd.notna(v) else "–"  # noqa: E731
    return pd.DataFrame({tx("col_model"): c["model"].map(MODEL_NAMES),
                         tx("col_status"): [tx(f"status_{s}") if tx.has(f"status_{s}") else tx("status_not_estimable")
                                            for s in c["status"]],
                         tx("col_loglik"): [num(v, 1) for v in col("log_likelihood")],
                         tx("col_bic"): [num(v, 1) for v in col("bic")],
                         tx("col_lr"): [num(v, 1) for v in col("lr_statistic")],
                         tx("col_mae"): [num(v, 3) for v in col("holdout_mae")]})


# --------------------------------------------------------------------------- tables
def params_table(result: clv.CLVResult, language="en") -> pd.DataFrame:
    tx = _tx(language)
    p = result.summary()
    return pd.DataFrame({tx("col_model"): p["model"].map(MODEL_NAMES), tx("col_parameter"): p["parameter"],
                         tx("col_estimate"): [tx.number(v, 3) for v in p["estimate"]],
                         tx("col_se"): [tx.number(v, 3) for v in p["std_error"]]})


def calibration_table(scorecard: clv.HoldoutScorecard, language="en") -> pd.DataFrame:
    tx = _tx(language)
    c = scorecard.p_alive_calibration
    return pd.DataFrame({
        tx("col_band"): [tx("band", lo=lo, hi=hi.rstrip("%")) for lo, hi in c["p_alive_band"].str.split("-")],
        tx("col_customers"): [tx.number(v) for v in c["n"]],
        tx("col_mean_palive"): [tx.pct(v) for v in c["mean_p_alive"]],
        tx("col_pred_buy"): [tx.pct(v) for v in c["predicted_buy_share"]],
        tx("col_act_buy"): [tx.pct(v) for v in c["actual_buy_share"]]})


def comparison_table(comparison: pd.DataFrame, language="en") -> pd.DataFrame:
    tx = _tx(language)
    m = comparison
    col = lambda name: m[name] if name in m else pd.Series(np.nan, index=m.index)  # noqa: E731  (failed fits)
    return pd.DataFrame({tx("col_model"): m["model"].map(MODEL_NAMES),
                         tx("col_loglik"): [tx.number(v, 1) for v in col("log_likelihood")],
                         tx("col_bic"): [tx.number(v, 1) for v in col("bic")],
                         tx("col_mae"): [tx.number(v, 2) for v in col("holdout_mae")],
                         tx("col_agg"): [tx.pct(v, signed=True) for v in col("holdout_aggregate_error")]})


def interval_bounds(customers: pd.DataFrame, intervals) -> pd.DataFrame:
    """``clv_low, clv_high`` of ``customers`` in the page's basis (margin by each customer's own rate, as the CLV):
    :func:`analysis.base.attach_intervals` of :class:`analysis.clv.CustomerIntervals` ``.values``."""
    return attach_intervals(customers, intervals.values)[["clv_low", "clv_high"]]


def _interval_text(tx: Text, low, high) -> str:
    return "–" if pd.isna(low) or pd.isna(high) else tx("interval_range", low=tx.money(low), high=tx.money(high))


def top_customers_table(customers: pd.DataFrame, language="en", n: int = 15, intervals=None) -> pd.DataFrame:
    """The ``n`` customers with the highest CLV, by pseudonym (with the CLV's interval when ``intervals`` is given)."""
    tx = _tx(language)
    top = customers.nlargest(n, "clv")
    table = pd.DataFrame({tx("col_customer"): top["pseudonym"].to_numpy(),
                          tx("col_clv"): [tx.money(v) for v in top["clv"]],
                          tx("col_palive"): [tx.pct(v, 0) if pd.notna(v) else "–" for v in top["p_alive"]],
                          tx("col_exp_purchases"): [tx.number(v, 1) for v in top["expected_purchases"]],
                          tx("col_avg_value"): [tx.money(v, 2) for v in top["expected_avg_value"]]})
    if intervals is not None:
        b = interval_bounds(top, intervals)
        table.insert(2, tx("col_clv_interval", level=tx.pct(intervals.level, 0)),
                     [_interval_text(tx, lo, hi) for lo, hi in zip(b["clv_low"], b["clv_high"])])
    return table


def level_label(value, language="en") -> str:
    tx = _tx(language)
    if pd.isna(value):
        return "–"
    return tx(f"level_{value}") if tx.has(f"level_{value}") else str(value)


def equity_table(equity: pd.DataFrame, attribute: str, language="en") -> pd.DataFrame:
    """:func:`analysis.clv.equity` by ``attribute``, formatted."""
    tx = _tx(language)
    e = equity
    table = pd.DataFrame({tx("col_group"): [level_label(v, tx) for v in e[attribute]],
                         tx("col_customers"): [tx.number(v) for v in e["n_customers"]],
                         tx("col_equity"): [tx.money(v) for v in e["equity"]],
                         tx("col_equity_share"): [tx.pct(v) for v in e["equity_share"]],
                         tx("col_customer_share"): [tx.pct(v) for v in e["customer_share"]],
                         tx("col_mean_clv"): [tx.money(v) for v in e["mean_clv"]]})
    return suppress_small_groups(table, e["n_customers"], keep=[tx("col_group")], count_column=tx("col_customers"))


def contact_table(contacts: pd.DataFrame, language="en", intervals=None) -> pd.DataFrame:
    """The contact-first list (:meth:`CustomerBase.contact_list`) by pseudonym, formatted (with CLV intervals)."""
    tx = _tx(language)
    c = contacts
    table = pd.DataFrame({tx("col_customer"): c["pseudonym"].to_numpy(),
                          tx("col_value_at_stake"): [tx.money(v) for v in c["value_at_stake"]],
                          tx("col_value_if_active"): [tx.money(v) for v in c["clv_if_alive"]],
                          tx("col_palive"): [tx.pct(v, 0) for v in c["p_alive"]],
                          tx("col_days_since"): [tx.number(v) for v in c["days_silent"]]})
    if intervals is not None and "clv" in c:  # the CLV itself beside its interval: "€40 (€35 – €45)"
        b = interval_bounds(c, intervals)
        table.insert(3, tx("col_clv_interval", level=tx.pct(intervals.level, 0)),
                     [tx.money(v) + ("" if pd.isna(lo) else f" ({_interval_text(tx, lo, hi)})")
                      for v, lo, hi in zip(c["clv"], b["clv_low"], b["clv_high"])])
    return table


# --------------------------------------------------------------------------- figures (return Axes)
def _ax(ax, figsize=(6, 4)):
    if ax is None:
        import matplotlib.pyplot as plt  # local: heavy import, kept off the start-up path

        _, ax = plt.subplots(figsize=figsize)
    return ax


def _formatter(func):
    from matplotlib.ticker import FuncFormatter  # local: heavy import, kept off the start-up path

    return FuncFormatter(lambda v, _: func(v))


def plot_holdout(scorecard: clv.HoldoutScorecard, language="en", ax=None):
    """Fader-Hardie plot: actual vs predicted holdout purchases per calibration frequency."""
    tx = _tx(language)
    by = scorecard.by_frequency
    ax = _ax(ax, (6.5, 4))
    x = np.arange(len(by))
    ax.plot(x, by["actual"], "o-", color="#1f4e79", label=tx("actual"))
    ax.plot(x, by["predicted"], "s--", color="#d9822b", label=tx("predicted"))
    ax.set_xticks(x, by["frequency_cal"])
    ax.set(xlabel=tx("x_cal_purchases"), ylabel=tx("y_holdout_purchases"))
    ax.yaxis.set_major_formatter(_formatter(lambda v: tx.number(v, 1)))
    ax.legend(frameon=False)
    return ax


def plot_p_alive_heatmap(grid: pd.DataFrame, language="en", ax=None):
    """Heat map of P(alive) by repeat purchases (rows) and recency (columns), from :meth:`CLVModel.p_alive_grid`."""
    tx = _tx(language)
    ax = _ax(ax, (7, 4.5))
    im = ax.imshow(grid.to_numpy(), origin="lower", aspect="auto", cmap="RdYlGn", vmin=0, vmax=1,
                   extent=[grid.columns.min(), grid.columns.max(), -0.5, grid.index.max() + 0.5])
    bar = ax.figure.colorbar(im, ax=ax, label=tx("p_alive"))
    bar.ax.yaxis.set_major_formatter(_formatter(lambda v: tx.pct(v, 0)))
    ax.set(xlabel=tx("x_recency_days"), ylabel=tx("y_repeat"))
    return ax


def plot_clv_distribution(clv_values, language="en", ax=None, bins: int = 40):
    """Histogram of CLV on log-spaced bins (value is skewed)."""
    tx = _tx(language)
    ax = _ax(ax)
    v = np.asarray(clv_values, float)
    v = v[np.isfinite(v) & (v > 0)]
    edges = np.geomspace(max(v.min(), 0.01), v.max(), bins) if len(v) else bins
    ax.hist(v, bins=edges, color="#1f4e79")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(_formatter(lambda x: tx.money(x, 2 if x < 1 else 0)))
    ax.set(xlabel=tx("x_clv"), ylabel=tx("y_customers"))
    return ax


def plot_lorenz(conc: clv.Concentration, language="en", ax=None):
    """Concentration curve of value with the 50 % and 80 % marks."""
    tx = _tx(language)
    ax = _ax(ax, (5, 4.5))
    c = conc.curve
    ax.plot(c["customer_share"], c["value_share"], color="#1f4e79")
    ax.plot([0, 1], [0, 1], ":", color="grey", label=tx("equal_value"))
    for share, level in ((conc.share_for_50, 0.5), (conc.share_for_80, 0.8)):
        ax.plot([share, share, 0], [0, level, level], "--", color="#d9822b", lw=0.8)
    ax.set(xlabel=tx("x_share_customers"), ylabel=tx("y_share_value"), xlim=(0, 1), ylim=(0, 1.01))
    pct = _formatter(lambda v: tx.pct(v, 0))
    ax.xaxis.set_major_formatter(pct)
    ax.yaxis.set_major_formatter(pct)
    ax.legend(frameon=False, loc="lower right")
    return ax


# --------------------------------------------------------------------------- the page
def _page_step(step):
    """Run a page-only step (an interval, a holdout refit) so that a numerical failure is a finding of its section.

    Valid data can still defeat such a step (a parameter drawn at the edge of its range, a refit that
    does not converge); the page says so in the step's section and the month goes on. A result with
    a non-finite bound counts as not computed.
    """
    try:
        out = step()
    except (ArithmeticError, ValueError, np.linalg.LinAlgError) as exc:
        raise ModelError(f"{type(exc).__name__}: {exc}", reason="step_failed") from exc
    if isinstance(out, Mapping):
        bounds = [out[k] for k in ("lower", "upper", "value", "low", "high") if k in out]
        if any(not np.isfinite(float(v)) for v in bounds if isinstance(v, (int, float, np.floating))):
            raise ModelError("the step gave a non-finite bound", reason="step_failed")
    return out


def with_backtest(lower: float, upper: float, point: float, error: float) -> tuple[float, float, bool]:
    """The equity interval widened to the model's own backtest miss (``error``, the holdout's relative error of
    total purchases) when the miss reaches outside it: ``(lower, upper, widened)``.

    Example
    -------
    >>> with_backtest(97.8, 102.2, 100.0, -0.045)
    (95.5, 104.5, True)
    >>> with_backtest(93.0, 107.0, 100.0, -0.045)
    (93.0, 107.0, False)
    """
    e = abs(float(error))
    lo, hi = min(lower, point * (1 - e)), max(upper, point * (1 + e))
    return round(lo, 6), round(hi, 6), bool(lo < lower or hi > upper)


class ClvPage:
    """The CLV page's sections in the report's language, read from the month's customer base.

    Every shared number (customer equity, value at risk, customers at risk, the contact-first
    list) comes from ``base``, so it equals the same number on every other page. When the CLV
    model could not be estimated (``base.clv is None``) the key-number section shows the finding
    and the model sections show nothing; extra analyses run through :meth:`attempt` show their
    own finding in their section.
    """

    def __init__(self, base, language: str = "en"):
        self.base = base
        self.language = language
        self.tx = _tx(language)
        self.result: clv.CLVResult | None = base.clv
        self._estimation = Estimation()

    # helpers
    @property
    def valued(self) -> pd.DataFrame:
        """Customers with a CLV (buyers), with the base's pseudonyms and attributes."""
        t = self.base.customers
        return t[t["clv"].notna()]

    def attempt(self, analysis: str, step):
        """``step()``, or None (and a finding its section shows) when it raises :class:`~analysis.errors.ModelError`.

        Not run at all (None, no finding) when the CLV model itself could not be estimated, so
        ``step`` may use ``base.clv`` freely.
        """
        if self.result is None:
            return None
        return self._estimation.attempt(analysis, lambda: _page_step(step))

    def _show_finding(self, analysis: str) -> None:
        f = next((f for f in [*self.base.findings, *self._estimation.findings] if f.analysis == analysis), None)
        if f is not None:
            show_finding(f, self.language)

    @property
    def findings(self) -> list[Finding]:
        return list(self._estimation.findings)

    # sections
    def key_numbers_section(self, interval: Mapping | None = None) -> None:
        """Title, what the page is about, the key-number cards (from the base) and the equity interval."""
        tx, base = self.tx, self.base
        s = base.settings
        heading(tx("title"), 1)
        dpm = self.result.days_per_month if self.result is not None else DAYS_PER_MONTH
        say(tx("intro", months=s.horizon_months, date=tx.date(base.as_of), rate=tx.pct(s.discount_rate),
               dpm=tx.number(dpm, 4)))
        heading(tx("key_numbers"))
        show_numbers([base.key_number(c) for c in ("customer_equity", "customers_valued", "value_at_risk",
                                                   "customers_at_risk")], self.language)
        if self.result is None:
            self._show_finding("clv")
            return
        margin = base.money_basis == "margin"
        if margin:  # equity = sum of sales CLV x each customer's margin rate
            sales = float(base.customers["clv_sales"].sum())
            ratio = float(base.customers["clv"].sum()) / sales if sales else float("nan")
            say(tx("margin_note", rate=tx.pct(ratio, 0)))
        if interval is not None:
            # the interval is of the sales forecast; on margin it is scaled by the base's margin share of it
            scale = ratio if margin else 1.0
            key = "equity_interval_process" if interval.get("covers") == "parameters+process" else "equity_interval"
            say(tx(key, lo=tx.money(interval["lower"] * scale), hi=tx.money(interval["upper"] * scale),
                   level=tx.pct(interval["level"], 0)))
            self.equity_interval = (interval["lower"] * scale, interval["upper"] * scale,
                                    float(base.customers["clv"].sum()))
        else:
            self._show_finding("clv_interval")

    def model_section(self) -> None:
        """The fitted models in plain words and their parameters."""
        if self.result is None:
            return
        heading(self.tx("model_heading"))
        for sentence in model_sentences(self.result.model, self.tx, self.result.horizon_months):
            say(sentence)
        show_table(candidates_table(self.result.model, self.tx), self.tx("candidates_caption"))
        show_table(params_table(self.result, self.tx), self.tx("params_caption"))

    def holdout_section(self, holdout: tuple | None, holdout_months: int = 6, diagnostics=None) -> None:
        """Holdout check: ``holdout`` is :func:`analysis.clv.scorecard`'s ``(scorecard, comparison)``.

        ``diagnostics`` (:func:`analysis.clv.diagnostics.diagnose` of the same calibration fit) adds the
        tracking plot and draws the conditional expectations from it; without it the section says why.
        """
        if self.result is None:
            return
        tx = self.tx
        heading(tx("holdout_heading"))
        if holdout is None:
            self._show_finding("clv_holdout")
            return
        sc, comparison = holdout
        say(tx("holdout_intro", cal_end=tx.date(sc.calibration_end), months=holdout_months,
               agg=tx.pct(sc.aggregate_error, signed=True), mae=tx.number(sc.mae, 2), bias=tx.number(sc.bias, 2)))
        if getattr(self, "equity_interval", None) is not None:
            lo, hi, widened = with_backtest(*self.equity_interval, sc.aggregate_error)
            if widened:  # an interval narrower than the model's own miss would claim more than the model knows
                say(tx("interval_backtest", agg=tx.pct(sc.aggregate_error, signed=True), lo=tx.money(lo),
                       hi=tx.money(hi)))
        import matplotlib.pyplot as plt  # local: heavy import, kept off the start-up path

        if diagnostics is not None:
            self._diagnostics(diagnostics)
        else:
            self._show_finding("clv_diagnostics")
            fig, ax = plt.subplots(figsize=(6.5, 4))
            plot_holdout(sc, tx, ax)
            show_figure(fig, tx("holdout_figure"), tx("holdout_alt"))
        if len(sc.p_alive_calibration):  # none under the NBD: P(alive) is not estimable
            show_table(calibration_table(sc, tx), tx("palive_cal_caption"))
        show_table(comparison_table(comparison, tx), tx("comparison_caption"))

    def _diagnostics(self, d) -> None:
        """The tracking plot (weekly and cumulative) and the conditional expectations (FHL 2005)."""
        import matplotlib.pyplot as plt  # local: heavy import, kept off the start-up path

        tx, t = self.tx, d.tracking
        labels = diagnostic_labels(self.language)
        hold = t[t["holdout"]]
        err = hold["expected"].sum() / hold["actual"].sum() - 1 if hold["actual"].sum() else float("nan")
        say(tx("tracking_text", n=tx.number(t.attrs.get("customers", 0)), cal_end=tx.date(d.calibration_end),
               weeks=len(hold), actual=tx.number(hold["actual"].sum()), expected=tx.number(hold["expected"].sum()),
               err=tx.pct(err, 1, signed=True)))
        fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
        plot_tracking(t, labels=labels, ax=axes[0])
        plot_tracking(t, labels=labels, cumulative=True, ax=axes[1])
        fig.tight_layout()
        show_figure(fig, tx("tracking_figure"), tx("tracking_alt"))
        say(tx("conditional_text"))
        fig, ax = plt.subplots(figsize=(6.5, 4))
        plot_conditional_expectations(d.conditional, labels=labels, ax=ax, number=lambda v: tx.number(v, 1))
        show_figure(fig, tx("holdout_figure"), tx("holdout_alt"))

    def p_alive_section(self) -> None:
        """Who is still active: P(alive) by purchase history."""
        if self.result is None:
            return
        import matplotlib.pyplot as plt  # local: heavy import, kept off the start-up path

        tx = self.tx
        heading(tx("heatmap_heading"))
        if self.result.model.purchase_model_ == "nbd":
            say(tx("p_alive_not_estimable", months=self.result.horizon_months))
            return
        grid = self.result.model.p_alive_grid()
        say(tx("heatmap_intro", days=tx.number(grid.columns.max())))
        fig, ax = plt.subplots(figsize=(7, 4.5))
        plot_p_alive_heatmap(grid, tx, ax)
        show_figure(fig, tx("heatmap_figure"), tx("heatmap_alt"))

    def distribution_section(self) -> None:
        """How value is spread: histogram and concentration curve."""
        if self.result is None:
            return
        import matplotlib.pyplot as plt  # local: heavy import, kept off the start-up path

        tx = self.tx
        values = self.valued["clv"]
        heading(tx("distribution_heading"))
        if not (values > 0).any():  # nothing to spread (concentration is undefined)
            return
        conc = clv.concentration(values)
        say(tx("distribution_intro", s50=tx.pct(conc.share_for_50), s80=tx.pct(conc.share_for_80),
               top20=tx.pct(conc.top20_share)))
        fig, ax = plt.subplots(figsize=(6, 4))
        plot_clv_distribution(values, tx, ax)
        show_figure(fig, tx("hist_figure"), tx("hist_alt"))
        fig, ax = plt.subplots(figsize=(5, 4.5))
        plot_lorenz(conc, tx, ax)
        show_figure(fig, tx("lorenz_figure"), tx("lorenz_alt"))

    def top_customers_section(self, n: int = 15, intervals=None) -> None:
        """The most valuable customers; with ``intervals`` (:func:`analysis.clv.result_intervals`) each CLV's interval."""
        if self.result is None:
            return
        heading(self.tx("top_heading"))
        top = top_customers_table(self.valued, self.tx, n, intervals)
        show_table(top, self.tx("top_caption", n=len(top)))
        if intervals is not None:
            say(self.tx("interval_note", level=self.tx.pct(intervals.level, 0)))
        else:
            self._show_finding("clv_customer_intervals")

    def equity_by_group_section(self, attributes: Sequence[str] = EQUITY_ATTRIBUTES) -> None:
        if self.result is None:
            return
        tx, values = self.tx, self.valued
        heading(tx("segment_heading"))
        present = [a for a in attributes if a in values.columns and values[a].notna().any()]
        missing = [a for a in attributes if a not in present]
        if missing:  # optional attributes the source does not hold: left out, and said so (the page is whole)
            names = ", ".join(tx("attr_" + a) if tx.has("attr_" + a) else a for a in missing)
            say(tx("segment_none" if not present else "segment_missing", attributes=names))
        for attribute in present:
            show_group_table(equity_table(clv.equity(values, by=attribute), attribute, tx),
                             tx("segment_caption", attribute=tx("attr_" + attribute)), self.language)

    def covariates_section(self, covariates: Mapping | None, attributes: Sequence[str]) -> None:
        """Who buys more often and who leaves sooner, holding the other attributes equal (covariate Pareto/NBD).

        ``covariates`` is :func:`analysis.clv.covariates.covariates_json` of the fit (None when there was no
        attribute to use or the fit could not be estimated: its finding is shown).
        """
        if self.result is None:
            return
        tx = self.tx
        heading(tx("covariates_heading"))
        if not attributes:
            say(tx("covariates_none"))
            return
        if covariates is None:
            self._show_finding("clv_covariates")
            return
        for sentence in effect_sentences(covariates, self.language, model="pareto_nbd"):
            say(sentence)

    def contact_section(self, n: int = 15, intervals=None) -> None:
        """Value at risk and the contact-first list: the same list as on the churn page (with CLV intervals)."""
        if self.result is None:
            return
        tx, base = self.tx, self.base
        heading(tx("risk_heading"))
        at_risk, var = base.key_number("customers_at_risk"), base.key_number("value_at_risk")
        contacts = base.contact_list()
        to_contact = KeyNumber("customers_to_contact", len(contacts))
        thr = tx.pct(base.settings.p_alive_threshold, 0)
        if at_risk.value is None:  # P(alive) not estimable: at risk is a finding, never a silent 0
            self._show_finding("at_risk")
            return
        if not at_risk.value:
            say(tx("no_risk", thr=thr))
            return
        say(tx("risk_intro", n=tx.number(at_risk.value), thr=thr, var=tx.money(var.value),
               k=tx.number(to_contact.value), days=base.settings.inactivity_days,
               floor=tx.pct(base.settings.contact_p_alive_floor, 0)))
        record([to_contact])  # customers at risk and value at risk are on the cards above
        if len(contacts):
            shown = contacts.head(n)
            if intervals is not None:  # the base's CLV (and sales CLV with margin) beside the list's own columns
                state = base.customers.set_index("customer_id")
                shown = shown.assign(**{c: shown["customer_id"].map(state[c]).to_numpy()
                                        for c in ("clv", "total_spend", "margin_rate") if c in state})
            show_table(contact_table(shown, tx, intervals), tx("risk_caption", n=min(n, len(contacts))))

    def method_section(self) -> None:
        say(self.tx("method_note"))
