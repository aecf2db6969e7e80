"""The customer-base page as data: every section is a Section made from the month's customer base, and every plot
is ``plot_x(monthly, *, labels, ax=None) -> Axes`` sized for a phone. Numbers are recomputed from the sample here."""
from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

from analysis.base import BaseSettings, CustomerBase
from analysis.report.pages import customer_base as cb
from analysis.report.pages.customer_base import CustomerBasePage
from analysis.report.section import Section
from analysis.report.text import Text

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
AS_OF = "2026-10-31"


@pytest.fixture(scope="module")
def base():
    return CustomerBase.build(str(SAMPLE), AS_OF, BaseSettings(n_clusters=3))


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.mark.parametrize("language", ["en", "fi"])
def test_every_section_returns_a_section(base, language):
    page = CustomerBasePage(base, language)
    for name in CustomerBasePage.SECTIONS:
        section = getattr(page, name)()
        assert isinstance(section, Section) and section and section.language == language, name


@pytest.mark.parametrize("plot", [cb.plot_active, cb.plot_flows, cb.plot_revenue])
@pytest.mark.parametrize("language", ["en", "fi"])
def test_each_plot_takes_the_flows_and_labels_and_returns_its_axes(base, plot, language):
    ax = plot(base.flows, labels=Text("customer_base", language))
    assert isinstance(ax, matplotlib.axes.Axes)
    fig = ax.figure
    assert fig.get_figwidth() <= 6.4 and fig.dpi <= 100
    fig.canvas.draw()
    small = [t.get_text() for t in fig.findobj(matplotlib.text.Text)
             if t.get_visible() and t.get_text().strip() and t.get_fontsize() < 9]
    assert not small
    _assert_month_labels_do_not_overlap(ax)
    _, given = plt.subplots()
    assert plot(base.flows, labels=Text("customer_base", language), ax=given) is given


def _assert_month_labels_do_not_overlap(ax):
    """Labels of width w and height h, all rotated by r and dx apart, do not overlap when dx sin(r) > h (side by
    side across their lines) or dx cos(r) > w (one after the other along them)."""
    labels = [t for t in ax.get_xticklabels() if t.get_text()]
    x = ax.transData.transform([(t.get_position()[0], 0) for t in labels])[:, 0]
    r = np.radians(labels[0].get_rotation())
    h = labels[0].get_fontsize() * ax.figure.dpi / 72 * 1.2
    w = max((t.get_window_extent().width - h * np.sin(r)) / max(np.cos(r), 1e-9) for t in labels)
    dx = np.diff(x).min()
    assert dx * np.sin(r) > h or dx * np.cos(r) > w, (dx, h, w)


def test_plots_take_words_as_a_plain_mapping_too(base):
    ax = cb.plot_revenue(base.flows.tail(3), labels={"axis_revenue": "Myynti", "language": "fi"})
    assert ax.get_ylabel() == "Myynti"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["8/26", "9/26", "10/26"]


def test_two_years_of_months_thin_their_labels(base):
    months = pd.period_range("2024-11", "2026-10", freq="M").astype(str)
    monthly = pd.DataFrame({"month": months, "active": range(24)})
    ax = cb.plot_active(monthly, labels=Text("customer_base", "en"))
    assert len([t for t in ax.get_xticklabels() if t.get_text()]) == 12
    ax.figure.canvas.draw()
    _assert_month_labels_do_not_overlap(ax)


def test_key_numbers_are_the_bases_numbers(base):
    section = CustomerBasePage(base, "en").key_numbers()
    shown = {n.concept: n.value for p in section.parts if p[0] == "numbers" for n in p[1]}
    assert list(shown) == list(cb.CARD_CONCEPTS)
    expected = base.numbers()
    assert all(shown[c] == pytest.approx(expected[c]) for c in shown)


def test_quality_counts_the_transactions_up_to_the_month_end():
    """15,094 of the sample's rows fall on or before 31 October 2026 (counted here from the CSV)."""
    base = CustomerBase.build(str(SAMPLE), AS_OF, BaseSettings(n_clusters=3))
    rows = pd.read_csv(SAMPLE / "transactions.csv", usecols=["timestamp"])
    used = int((pd.to_datetime(rows["timestamp"]) < "2026-11-01").sum())
    tx = Text("customer_base", "en")
    table = next(p[1] for p in CustomerBasePage(base, "en").quality().parts if p[0] == "table")
    first = table.iloc[0]
    assert (first[tx("q_check")], first[tx("q_count")]) == (tx("q_transactions"), tx.number(used)) == \
        (tx("q_transactions"), "15,094")


def test_trend_figures_say_in_their_alt_text_what_they_show(base):
    f = base.flows
    tx = Text("customer_base", "fi")
    figures = [p for p in CustomerBasePage(base, "fi").trends().parts if p[0] == "figure"]
    assert [p[2] for p in figures] == [tx("fig_active_title"), tx("fig_flows_title"), tx("fig_revenue_title")]
    assert tx.number(f["active"].iloc[0]) in figures[0][3] and tx.number(f["active"].iloc[-1]) in figures[0][3]
    assert tx.money(f["revenue"].iloc[-1]) in figures[2][3]
    lost = int(f["lost"].iloc[-1])
    assert f" {lost} " in figures[1][3].replace("\xa0", " ")


def test_the_month_in_words_follows_the_flows(base):
    tx = Text("customer_base", "en")
    text = CustomerBasePage(base, "en").in_words().texts()[1]
    assert text == "\n".join(f"- {s}" for s in cb.story(base.flows, tx))
    cur, prev = base.flows.iloc[-1], base.flows.iloc[-2]
    assert tx("story_more", n=tx.number(cur["active"] - prev["active"])) in text  # 995 vs 982 active
