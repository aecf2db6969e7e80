"""The CLV page as data: every section is a Section made from results, and every plot is
``plot_x(data, *, labels, ax=None) -> Axes`` sized for a phone. Texts are recomputed from the results here."""
from __future__ import annotations

from types import SimpleNamespace

import matplotlib
import numpy as np
import pandas as pd
import pytest

from analysis import clv
from analysis.base import BaseSettings, CustomerBase
from analysis.report.pages import clv_diagnostics, clv_figures
from analysis.report.pages.clv import EQUITY_ATTRIBUTES, ClvPage
from analysis.report.section import Section
from analysis.report.text import Text

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

SAMPLE, AS_OF = "data/sample", "2026-10-31"


@pytest.fixture(scope="module")
def base():
    from pathlib import Path

    return CustomerBase.build(str(Path(__file__).resolve().parents[1] / SAMPLE), AS_OF, BaseSettings(n_clusters=3))


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _fonts_at_least(fig, size: float) -> list[str]:
    """Texts of ``fig`` (titles, labels, ticks, legends, notes) smaller than ``size`` points."""
    fig.canvas.draw()
    return [f"{t.get_text()!r} {t.get_fontsize()}" for t in fig.findobj(matplotlib.text.Text)
            if t.get_visible() and t.get_text().strip() and t.get_fontsize() < size]


def test_every_section_returns_a_section(base):
    page = ClvPage(base, "en")
    args = {"holdout": (None,), "covariates": (None, ())}
    for name in ClvPage.SECTIONS:
        section = getattr(page, name)(*args.get(name, ()))
        assert isinstance(section, Section) and section, name
        assert section.language == "en"


def _tracking():
    weeks = np.arange(1, 11)
    actual = np.array([1, 2, 4, 5, 7, 8, 9, 9, 8, 7], float)
    return pd.DataFrame({"week": weeks, "actual": actual, "expected": actual + 0.5, "holdout": weeks > 7,
                         "actual_cumulative": actual.cumsum(), "expected_cumulative": (actual + 0.5).cumsum()})


def _plots(base):
    """Every plot of the page with data of the shape it draws."""
    model = base.clv.model
    by_frequency = pd.DataFrame({"frequency_cal": [0, 1, 2, 3], "actual": [0.1, 0.4, 0.8, 1.1],
                                 "predicted": [0.12, 0.38, 0.75, 1.2]})
    conditional = by_frequency.rename(columns={"predicted": "expected"})
    values = base.customers["clv"].dropna()
    return [(clv_figures.plot_holdout, SimpleNamespace(by_frequency=by_frequency)),
            (clv_figures.plot_p_alive_heatmap, model.p_alive_grid()),
            (clv_figures.plot_clv_distribution, values),
            (clv_figures.plot_lorenz, clv.concentration(values)),
            (clv_diagnostics.plot_tracking, _tracking()),
            (clv_diagnostics.plot_conditional_expectations, conditional),
            (clv_diagnostics.tracking_figure, _tracking())]


@pytest.mark.parametrize("language", ["en", "fi"])
def test_each_plot_takes_data_and_labels_and_returns_its_axes(base, language):
    tx = Text("clv", language)
    for plot, data in _plots(base):
        ax = plot(data, labels=tx)
        assert isinstance(ax, matplotlib.axes.Axes), plot.__name__
        assert ax.figure.get_figwidth() <= 6.4 and ax.figure.dpi <= 100, plot.__name__  # 390 px phones
        assert not _fonts_at_least(ax.figure, 9), (plot.__name__, _fonts_at_least(ax.figure, 9))
        if plot is not clv_diagnostics.tracking_figure:  # it draws on its own two-row figure
            fig, given = plt.subplots()
            assert plot(data, labels=tx, ax=given) is given, plot.__name__
        assert ax.get_xlabel() or ax.figure.axes[-1].get_xlabel(), plot.__name__


def test_plots_take_words_as_a_plain_mapping_too(base):
    words = clv_diagnostics.diagnostic_labels("fi")
    ax = clv_diagnostics.plot_conditional_expectations(_plots(base)[5][1], labels=words)
    assert ax.get_xlabel() == Text("clv", "fi")("x_cal_purchases")
    ax.figure.canvas.draw()
    assert any("," in t.get_text() for t in ax.get_yticklabels())  # Finnish decimal comma from the mapping's language


def test_equity_interval_is_scaled_to_margin_by_the_bases_own_share(base):
    """On margin the interval of the sales forecast is scaled by sum(CLV) / sum(sales CLV), computed here."""
    assert base.money_basis == "margin"
    t = base.customers
    share = t["clv"].sum() / t["clv_sales"].sum()
    page, tx = ClvPage(base, "en"), Text("clv", "en")
    interval = {"lower": 20000.0, "upper": 40000.0, "level": 0.9, "covers": "parameters+process",
                "process_sd": 3000.0, "parameter_sd": 2000.0}
    texts = page.key_numbers(interval).texts()
    assert tx("equity_interval_process", lo=tx.money(20000 * share), hi=tx.money(40000 * share), level="90%") in texts
    # the sentence names the larger part of the width, as the two standard deviations say
    texts = page.key_numbers({**interval, "process_sd": 1000.0}).texts()
    assert tx("equity_interval_process_params", lo=tx.money(20000 * share), hi=tx.money(40000 * share),
              level="90%") in texts
    assert tx("margin_note", rate=tx.pct(share, 0)) in texts
    assert texts[1] == tx("intro", months=12, date=tx.date(AS_OF), rate=tx.pct(0.01), dpm=tx.number(365.25 / 12, 4))


def test_value_spread_sentence_recomputed_from_the_buyers_values(base):
    values = np.sort(base.customers["clv"].dropna().to_numpy())[::-1]
    cum = np.cumsum(values) / values.sum()
    s50 = (np.argmax(cum >= 0.5) + 1) / len(values)  # the fewest customers holding half the value
    s80 = (np.argmax(cum >= 0.8) + 1) / len(values)
    tx = Text("clv", "en")
    section = ClvPage(base, "en").distribution()
    intro = section.texts()[1]
    assert intro.startswith(tx("distribution_intro", s50=tx.pct(s50), s80=tx.pct(s80), top20="§").split("§")[0])
    assert [p[0] for p in section.parts] == ["heading", "text", "figure", "figure"]


def test_top_customers_are_the_largest_values_by_pseudonym_only(base):
    t = base.customers.dropna(subset=["clv"]).sort_values("clv", ascending=False).head(5)
    section = ClvPage(base, "en").top_customers(n=5)
    table = next(p[1] for p in section.parts if p[0] == "table")
    assert list(table.iloc[:, 0]) == list(t["pseudonym"])
    shown = table.to_string()
    assert not any(str(c) in shown.split() for c in t["customer_id"])
    finding = [p for p in section.parts if p[0] == "finding"]
    assert not finding  # no interval was asked for, so no interval finding either


def test_an_attribute_the_data_lacks_is_named_and_the_others_shown(base):
    tx = Text("clv", "en")
    equity = {"region": clv.equity(ClvPage(base, "en").valued, by="region")}
    section = ClvPage(base, "en").equity_by_group(equity)
    missing = ", ".join(tx("attr_" + a) for a in EQUITY_ATTRIBUTES if a != "region")
    assert tx("segment_missing", attributes=missing) in section.texts()
    tables = [p for p in section.parts if p[0] == "table"]
    assert len(tables) == 1 and tables[0][2] == tx("segment_caption", attribute=tx("attr_region"))
    assert sum(int(v.replace(",", "")) for v in tables[0][1][tx("col_customers")]) == len(base.customers["clv"].dropna())


def test_contact_section_records_the_list_length_without_a_card(base):
    section = ClvPage(base, "en").contact(n=3)
    recorded = [n for p in section.parts if p[0] == "record" for n in p[1]]
    assert [(n.concept, n.value) for n in recorded] == [("customers_to_contact", len(base.contact_list()))]
    assert not [p for p in section.parts if p[0] == "numbers"]
    table = next(p[1] for p in section.parts if p[0] == "table")
    assert list(table.iloc[:, 0]) == list(base.contact_list().head(3)["pseudonym"])


def test_holdout_widens_a_narrow_interval_to_the_models_own_miss(base):
    from analysis.report.pages.clv import with_backtest

    tx = Text("clv", "en")
    equity = float(base.customers["clv"].sum())
    share = equity / base.customers["clv_sales"].sum()
    sales = equity / share
    interval = {"lower": sales * 0.99, "upper": sales * 1.01, "level": 0.9}  # +-1 %, narrower than a 5 % miss
    scorecard = SimpleNamespace(calibration_end=pd.Timestamp("2026-04-30"), aggregate_error=-0.05, mae=0.3, bias=-0.1,
                                by_frequency=_plots(base)[0][1].by_frequency, p_alive_calibration=pd.DataFrame())
    comparison = pd.DataFrame({"model": ["bgnbd"], "log_likelihood": [-100.0], "bic": [210.0], "holdout_mae": [0.3],
                               "holdout_aggregate_error": [-0.05]})
    section = ClvPage(base, "en").holdout((scorecard, comparison), 6, None, interval)
    lo, hi, widened = with_backtest(sales * 0.99 * share, sales * 1.01 * share, equity, -0.05)
    assert widened and lo == pytest.approx(equity * 0.95) and hi == pytest.approx(equity * 1.05)
    assert tx("interval_backtest", agg=tx.pct(-0.05, signed=True), lo=tx.money(lo), hi=tx.money(hi)) in section.texts()
    assert [p[0] for p in section.parts].count("figure") == 1  # the plain holdout plot: no diagnostics given


def test_covariates_fitted_on_a_subsample_say_so_with_their_numbers(base):
    """Above 200,000 buyers the report fits covariates on a seeded subsample; the page names both counts."""
    from analysis.clv.covariate_design import COVARIATE_CUSTOMERS, build_design, fit_sample
    from analysis.clv.covariates import covariates_json, fit_covariates

    buyers = base.customers[base.customers["is_buyer"]].reset_index(drop=True)
    fitted = fit_sample(buyers, max_customers=500, seed=0)
    assert len(fitted) == 500 and fitted.equals(fit_sample(buyers, max_customers=500, seed=0))
    assert fit_sample(buyers) is buyers and len(buyers) < COVARIATE_CUSTOMERS
    design = build_design(fitted, ["acquisition_channel"])
    fit = covariates_json(fit_covariates("pareto_nbd", fitted, design, design))
    for language in ("en", "fi"):
        page, tx = ClvPage(base, language), Text("clv", language)
        texts = page.covariates(fit, ["acquisition_channel"], sample=(500, len(buyers))).texts()
        assert tx("covariates_sample", n=tx.number(500), total=tx.number(len(buyers))) in texts
        whole = page.covariates(fit, ["acquisition_channel"], sample=(len(buyers), len(buyers))).texts()
        assert whole == texts[:-1]
