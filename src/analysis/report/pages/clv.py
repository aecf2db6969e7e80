"""The CLV page of the monthly report: customer value from the month's customer base, in the reader's language.

Sentences, formatted tables, labels and figures are made here from language-free results
(:mod:`analysis.clv`, :class:`analysis.base.state.CustomerBase`); the words are in
``strings/clv.json``; figures in :mod:`.clv_figures` and :mod:`.clv_diagnostics`. ``notebooks/clv.ipynb`` runs
each analysis in a visible cell and shows it with one :class:`ClvPage` method per section, each returning a
:class:`~analysis.report.section.Section`.
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
from analysis.report.numbers import KeyNumber
from analysis.report.pages.clv_covariates import effect_sentences
from analysis.report.pages.clv_diagnostics import plot_conditional_expectations, tracking_figure
from analysis.report.pages.clv_figures import plot_clv_distribution, plot_holdout, plot_lorenz, plot_p_alive_heatmap
from analysis.report.section import Section
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


def equity_interval_key(interval: Mapping) -> str:
    """The sentence of :func:`analysis.clv.equity_interval`: parameters only, or both parts with the larger named
    (the standard deviations ``process_sd`` and ``parameter_sd`` it returns)."""
    if interval.get("covers") != "parameters+process":
        return "equity_interval"
    return "equity_interval_process" if interval["process_sd"] > interval["parameter_sd"] else \
        "equity_interval_process_params"


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

    Every method returns a :class:`Section` (displayed in a notebook, data in a test). Every shared
    number (customer equity, value at risk, customers at risk, the contact-first list) comes from
    ``base``, so it equals the same number on every other page; the page-only analyses (the equity
    interval, the holdout check, covariates, customer intervals) are computed in the notebook and
    passed in, each through :meth:`attempt` so that a failure is its section's finding. When the CLV
    model could not be estimated (``base.clv is None``) the key-number section shows the finding and
    the model sections are empty. A figure argument left at None is drawn with this module's plot.

    Example
    -------
    >>> from analysis.base import BaseSettings, CustomerBase
    >>> page = ClvPage(CustomerBase.build("data/sample", "2026-10-31", BaseSettings(n_clusters=3)), "en")
    >>> page.key_numbers().texts()[0]
    'Customer lifetime value'
    """

    SECTIONS = ("key_numbers", "model", "holdout", "p_alive", "distribution", "top_customers", "equity_by_group",
                "covariates", "contact", "method")

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

    def _section(self) -> Section:
        return Section(self.language)

    def _finding(self, s: Section, analysis: str) -> Section:
        f = next((f for f in [*self.base.findings, *self._estimation.findings] if f.analysis == analysis), None)
        return s.finding(f) if f is not None else s

    @property
    def findings(self) -> list[Finding]:
        return list(self._estimation.findings)

    def equity_interval(self, interval: Mapping | None) -> tuple[float, float, float] | None:
        """``(lower, upper, equity)`` of :func:`analysis.clv.equity_interval` in the page's value basis.

        The interval is of the sales forecast; on margin it is scaled by the base's margin share of it.
        """
        if interval is None or self.result is None:
            return None
        scale = self._margin_share() if self.base.money_basis == "margin" else 1.0
        return interval["lower"] * scale, interval["upper"] * scale, float(self.base.customers["clv"].sum())

    def _margin_share(self) -> float:
        sales = float(self.base.customers["clv_sales"].sum())  # equity = sum of sales CLV x each customer's margin rate
        return float(self.base.customers["clv"].sum()) / sales if sales else float("nan")

    # sections
    def key_numbers(self, interval: Mapping | None = None) -> Section:
        """Title, what the page is about, the key-number cards (from the base) and the equity interval."""
        tx, base, s = self.tx, self.base, self._section()
        st = base.settings
        dpm = self.result.days_per_month if self.result is not None else DAYS_PER_MONTH
        s.heading(tx("title"), 1).text(tx("intro", months=st.horizon_months, date=tx.date(base.as_of),
                                          rate=tx.pct(st.discount_rate), dpm=tx.number(dpm, 4)))
        s.heading(tx("key_numbers")).numbers([base.key_number(c) for c in ("customer_equity", "customers_valued",
                                                                           "value_at_risk", "customers_at_risk")])
        if self.result is None:
            return self._finding(s, "clv")
        if base.money_basis == "margin":
            s.text(tx("margin_note", rate=tx.pct(self._margin_share(), 0)))
        bounds = self.equity_interval(interval)
        if bounds is None:
            return self._finding(s, "clv_interval")
        return s.text(tx(equity_interval_key(interval), lo=tx.money(bounds[0]), hi=tx.money(bounds[1]),
                         level=tx.pct(interval["level"], 0)))

    def model(self) -> Section:
        """The fitted models in plain words, every candidate and the chosen models' parameters."""
        s = self._section()
        if self.result is None:
            return s
        tx, model = self.tx, self.result.model
        s.heading(tx("model_heading"))
        for sentence in model_sentences(model, tx, self.result.horizon_months):
            s.text(sentence)
        return s.table(candidates_table(model, tx), tx("candidates_caption")).table(params_table(self.result, tx),
                                                                                     tx("params_caption"))

    def holdout(self, holdout: tuple | None, holdout_months: int = 6, diagnostics=None, interval: Mapping | None = None,
                *, tracking=None, conditional=None, plain=None) -> Section:
        """Holdout check: ``holdout`` is :func:`analysis.clv.scorecard`'s ``(scorecard, comparison)``.

        ``diagnostics`` (:func:`analysis.clv.diagnostics.diagnose` of the same calibration fit) gives the
        tracking plot (``tracking``: an Axes of that figure) and the conditional expectations
        (``conditional``); without it the section says why and shows the plain holdout plot (``plain``).
        ``interval`` (the key numbers' equity interval) is widened to the model's own backtest miss when narrower.
        """
        s = self._section()
        if self.result is None:
            return s
        tx = self.tx
        s.heading(tx("holdout_heading"))
        if holdout is None:
            return self._finding(s, "clv_holdout")
        sc, comparison = holdout
        s.text(tx("holdout_intro", cal_end=tx.date(sc.calibration_end), months=holdout_months,
                  agg=tx.pct(sc.aggregate_error, signed=True), mae=tx.number(sc.mae, 2), bias=tx.number(sc.bias, 2)))
        bounds = self.equity_interval(interval)
        if bounds is not None:
            lo, hi, widened = with_backtest(*bounds, sc.aggregate_error)
            if widened:  # an interval narrower than the model's own miss would claim more than the model knows
                s.text(tx("interval_backtest", agg=tx.pct(sc.aggregate_error, signed=True), lo=tx.money(lo),
                          hi=tx.money(hi)))
        if diagnostics is not None:
            self._diagnostics(s, diagnostics, tracking, conditional)
        else:
            self._finding(s, "clv_diagnostics")
            s.figure(plain if plain is not None else plot_holdout(sc, labels=tx), tx("holdout_figure"),
                     tx("holdout_alt"))
        if len(sc.p_alive_calibration):  # none under the NBD: P(alive) is not estimable
            s.table(calibration_table(sc, tx), tx("palive_cal_caption"))
        return s.table(comparison_table(comparison, tx), tx("comparison_caption"))

    def _diagnostics(self, s: Section, d, tracking=None, conditional=None) -> None:
        """The tracking plot (weekly above, cumulative below) and the conditional expectations (FHL 2005)."""
        tx, t = self.tx, d.tracking
        hold = t[t["holdout"]]
        err = hold["expected"].sum() / hold["actual"].sum() - 1 if hold["actual"].sum() else float("nan")
        s.text(tx("tracking_text", n=tx.number(t.attrs.get("customers", 0)), cal_end=tx.date(d.calibration_end),
                  weeks=len(hold), actual=tx.number(hold["actual"].sum()), expected=tx.number(hold["expected"].sum()),
                  err=tx.pct(err, 1, signed=True)))
        s.figure(tracking if tracking is not None else tracking_figure(t, labels=tx), tx("tracking_figure"),
                 tx("tracking_alt"))
        s.text(tx("conditional_text"))
        s.figure(conditional if conditional is not None else plot_conditional_expectations(d.conditional, labels=tx),
                 tx("holdout_figure"), tx("holdout_alt"))

    def p_alive(self, grid: pd.DataFrame | None = None, ax=None) -> Section:
        """Who is still active: ``grid`` is :meth:`CLVModel.p_alive_grid` (P(alive) by purchases and recency)."""
        s = self._section()
        if self.result is None:
            return s
        tx = self.tx
        s.heading(tx("heatmap_heading"))
        if self.result.model.purchase_model_ == "nbd":
            return s.text(tx("p_alive_not_estimable", months=self.result.horizon_months))
        grid = self.result.model.p_alive_grid() if grid is None else grid
        s.text(tx("heatmap_intro", days=tx.number(grid.columns.max())))
        return s.figure(ax if ax is not None else plot_p_alive_heatmap(grid, labels=tx), tx("heatmap_figure"),
                        tx("heatmap_alt"))

    def distribution(self, conc: clv.Concentration | None = None, values=None, *, histogram=None,
                     lorenz=None) -> Section:
        """How value is spread: ``conc`` is :func:`analysis.clv.concentration` of ``values`` (the buyers' CLV);
        ``histogram`` and ``lorenz`` the figures (drawn here when None)."""
        s = self._section()
        if self.result is None:
            return s
        tx = self.tx
        values = self.valued["clv"] if values is None else values
        s.heading(tx("distribution_heading"))
        if conc is None:
            if not (values > 0).any():  # nothing to spread (concentration is undefined)
                return s
            conc = clv.concentration(values)
        s.text(tx("distribution_intro", s50=tx.pct(conc.share_for_50), s80=tx.pct(conc.share_for_80),
                  top20=tx.pct(conc.top20_share)))
        s.figure(histogram if histogram is not None else plot_clv_distribution(values, labels=tx), tx("hist_figure"),
                 tx("hist_alt"))
        return s.figure(lorenz if lorenz is not None else plot_lorenz(conc, labels=tx), tx("lorenz_figure"),
                        tx("lorenz_alt"))

    def top_customers(self, top: pd.DataFrame | None = None, intervals=None, n: int = 15) -> Section:
        """The most valuable customers (``top``: rows of :attr:`valued`, the ``n`` largest CLV when None); with
        ``intervals`` (:func:`analysis.clv.result_intervals`) each CLV's interval."""
        s = self._section()
        if self.result is None:
            return s
        tx = self.tx
        top = self.valued.nlargest(n, "clv") if top is None else top
        table = top_customers_table(top, tx, len(top), intervals)
        s.heading(tx("top_heading")).table(table, tx("top_caption", n=len(table)))
        if intervals is not None:
            return s.text(tx("interval_note", level=tx.pct(intervals.level, 0)))
        return self._finding(s, "clv_customer_intervals")

    def equity_by_group(self, equity: Mapping[str, pd.DataFrame] | None = None,
                        attributes: Sequence[str] = EQUITY_ATTRIBUTES) -> Section:
        """Customer equity by each of ``attributes``: ``equity`` maps an attribute to :func:`analysis.clv.equity` by it
        (computed here when None); an attribute without a table is one the data does not hold, and the page says so."""
        s = self._section()
        if self.result is None:
            return s
        tx, values = self.tx, self.valued
        if equity is None:
            equity = {a: clv.equity(values, by=a) for a in attributes if a in values and values[a].notna().any()}
        s.heading(tx("segment_heading"))
        missing = [a for a in attributes if a not in equity]
        if missing:  # optional attributes the source does not hold: left out, and said so (the page is whole)
            names = ", ".join(tx("attr_" + a) if tx.has("attr_" + a) else a for a in missing)
            s.text(tx("segment_none" if not equity else "segment_missing", attributes=names))
        for attribute, table in equity.items():
            label = tx("attr_" + attribute) if tx.has("attr_" + attribute) else attribute
            s.table(equity_table(table, attribute, tx), tx("segment_caption", attribute=label))
        return s

    def covariates(self, covariates: Mapping | None, attributes: Sequence[str],
                   sample: tuple[int, int] | None = None) -> Section:
        """Who buys more often and who leaves sooner, holding the other attributes equal (covariate Pareto/NBD).

        ``covariates`` is :func:`analysis.clv.covariates.covariates_json` of the fit (None when there was no
        attribute to use or the fit could not be estimated: its finding is shown). ``sample`` is
        (customers fitted, buyers) when the fit ran on a subsample (:func:`analysis.clv.covariate_design.fit_sample`).
        """
        s = self._section()
        if self.result is None:
            return s
        tx = self.tx
        s.heading(tx("covariates_heading"))
        if not attributes:
            return s.text(tx("covariates_none"))
        if covariates is None:
            return self._finding(s, "clv_covariates")
        for sentence in effect_sentences(covariates, self.language, model="pareto_nbd"):
            s.text(sentence)
        if sample is not None and sample[0] < sample[1]:
            s.text(tx("covariates_sample", n=tx.number(sample[0]), total=tx.number(sample[1])))
        return s

    def contact(self, contacts: pd.DataFrame | None = None, intervals=None, n: int = 15) -> Section:
        """Value at risk and the contact-first list (``contacts``: :meth:`CustomerBase.contact_list`, the same list as
        on the churn page; its first ``n`` shown, with CLV intervals when ``intervals`` is given)."""
        s = self._section()
        if self.result is None:
            return s
        tx, base = self.tx, self.base
        s.heading(tx("risk_heading"))
        at_risk, var = base.key_number("customers_at_risk"), base.key_number("value_at_risk")
        contacts = base.contact_list() if contacts is None else contacts
        to_contact = KeyNumber("customers_to_contact", len(contacts))
        thr = tx.pct(base.settings.p_alive_threshold, 0)
        if at_risk.value is None:  # P(alive) not estimable: at risk is a finding, never a silent 0
            return self._finding(s, "at_risk")
        if not at_risk.value:
            return s.text(tx("no_risk", thr=thr))
        s.text(tx("risk_intro", n=tx.number(at_risk.value), thr=thr, var=tx.money(var.value),
                  k=tx.number(to_contact.value), days=base.settings.inactivity_days,
                  floor=tx.pct(base.settings.contact_p_alive_floor, 0)))
        s.record([to_contact])  # customers at risk and value at risk are on the cards above
        if len(contacts):
            shown = contacts.head(n)
            if intervals is not None:  # the base's CLV (and sales CLV with margin) beside the list's own columns
                state = base.customers.set_index("customer_id")
                shown = shown.assign(**{c: shown["customer_id"].map(state[c]).to_numpy()
                                        for c in ("clv", "total_spend", "margin_rate") if c in state})
            s.table(contact_table(shown, tx, intervals), tx("risk_caption", n=min(n, len(contacts))))
        return s

    def method(self) -> Section:
        return self._section().text(self.tx("method_note"))
