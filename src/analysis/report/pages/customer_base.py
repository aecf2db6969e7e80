"""The customer-base page of the monthly report: the month's customer counts, sales and data quality.

``notebooks/customer_base.ipynb`` shows each section with one :class:`CustomerBasePage` method returning a
:class:`~analysis.report.section.Section`; every number comes from the month's
:class:`~analysis.base.state.CustomerBase` and every word from ``strings/customer_base.json`` and
``strings/concepts.json``. Plots take the monthly flows and their words: ``plot_x(monthly, *, labels, ax=None)``.
"""
from __future__ import annotations

from typing import Mapping

import pandas as pd

from analysis.report.pages.plot_labels import plot_words
from analysis.report.section import Section
from analysis.report.site import month_label
from analysis.report.text import Text

__all__ = ["CustomerBasePage", "monthly_table", "plot_active", "plot_flows", "plot_revenue", "quality_table", "story"]

CARD_CONCEPTS = ("customers_active", "customers_new", "customers_lost", "customers_returned", "customers_churned",
                 "customers_registered", "revenue", "avg_purchase", "purchase_frequency")
GLOSSARY_CONCEPTS = ("customers_active", "customers_new", "customers_lost", "customers_returned", "customers_churned",
                     "avg_purchase", "customers_registered")
Labels = Text | Mapping[str, str]


class CustomerBasePage:
    """The customer-base page's sections in the report's language, read from the month's customer base.

    ``monthly`` arguments are the base's monthly flows (``base.flows``: one row per month, oldest first) or a
    slice of them; a figure argument left at None is drawn with this module's plot.

    Example
    -------
    >>> from analysis.base import BaseSettings, CustomerBase
    >>> page = CustomerBasePage(CustomerBase.build("data/sample", "2026-10-31", BaseSettings(n_clusters=3)), "en")
    >>> page.intro().texts()[0]
    'Customer base, October 2026'
    """

    SECTIONS = ("intro", "key_numbers", "in_words", "trends", "monthly_table", "definitions", "quality")

    def __init__(self, base, language: str = "en"):
        self.base = base
        self.language = language
        self.tx = Text("customer_base", language)

    def _section(self) -> Section:
        return Section(self.language)

    def intro(self) -> Section:
        """Page title and what the page covers."""
        tx, lang, flows = self.tx, self.language, self.base.flows
        month, previous = flows["month"].iloc[-1], flows["month"].iloc[-2]
        return self._section().heading(tx("title", month=month_label(month, lang)), 1).text(tx(
            "intro", month=month_label(month, lang), month_in=month_label(month, lang, inessive=True),
            previous=month_label(previous, lang)))

    def key_numbers(self) -> Section:
        """The month's customer counts and sales as cards, each read from the month's customer base."""
        return self._section().heading(self.tx("key_numbers")).numbers(
            [self.base.key_number(c) for c in CARD_CONCEPTS])

    def in_words(self, monthly: pd.DataFrame | None = None) -> Section:
        """The month in plain sentences (:func:`story` of the monthly flows)."""
        monthly = self.base.flows if monthly is None else monthly
        return self._section().heading(self.tx("in_words")).text("\n".join(f"- {s}" for s in story(monthly, self.tx)))

    def trends(self, monthly: pd.DataFrame | None = None, *, active=None, flows=None, revenue=None) -> Section:
        """Active customers, flows and revenue over the months of ``monthly``, as figures (Axes of
        :func:`plot_active`, :func:`plot_flows`, :func:`plot_revenue`)."""
        tx, lang = self.tx, self.language
        monthly = self.base.flows if monthly is None else monthly
        first, last = month_label(monthly["month"].iloc[0], lang), month_label(monthly["month"].iloc[-1], lang)
        now = monthly.iloc[-1]
        s = self._section().heading(tx("trend_heading"))
        s.figure(active if active is not None else plot_active(monthly, labels=tx), tx("fig_active_title"),
                 tx("fig_active_alt", first=first, last=last, a0=tx.number(monthly["active"].iloc[0]),
                    a1=tx.number(now["active"])))
        s.figure(flows if flows is not None else plot_flows(monthly, labels=tx), tx("fig_flows_title"),
                 tx("fig_flows_alt", last=last, new=tx.number(now["new"]), returned=tx.number(now["returned"]),
                    lost=tx.number(now["lost"])))
        return s.figure(revenue if revenue is not None else plot_revenue(monthly, labels=tx), tx("fig_revenue_title"),
                        tx("fig_revenue_alt", first=first, last=last, revenue=tx.money(now["revenue"])))

    def monthly_table(self, monthly: pd.DataFrame | None = None) -> Section:
        """The monthly figures as a table, newest month first."""
        monthly = self.base.flows if monthly is None else monthly
        return self._section().table(monthly_table(monthly, self.tx), self.tx("table_caption"))

    def definitions(self) -> Section:
        """The definitions this page uses, from the month's one glossary (same words on every page)."""
        words = Text("concepts", self.language)
        values = {"inactivity_days": self.base.settings.inactivity_days}
        return self._section().heading(self.tx("definitions")).text(
            "\n".join(f"- **{words('label_' + c)}**: {words('define_' + c, **values)}" for c in GLOSSARY_CONCEPTS))

    def quality(self, source=None) -> Section:
        """The data-quality checks of the month's load (``source``: the base's :class:`~analysis.data.Source`)."""
        tx = self.tx
        source = self.base.source if source is None else source
        return self._section().heading(tx("quality")).text(tx("quality_intro")).table(quality_table(source, tx))


def story(monthly: pd.DataFrame, tx: Text) -> list[str]:
    """The month in plain sentences for a marketing manager."""
    cur = monthly.iloc[-1]
    prev = monthly.iloc[-2] if len(monthly) > 1 else None
    days = int(cur["inactivity_days"])
    sentences = []
    if prev is not None:
        diff = int(cur["active"] - prev["active"])
        change = (tx("story_more", n=tx.number(diff)) if diff > 0 else
                  tx("story_fewer", n=tx.number(-diff)) if diff < 0 else tx("story_same"))
        sentences.append(tx("story_active", active=tx.number(cur["active"]), days=days, change=change))
    sentences.append(tx("story_flows", new_customers=tx.count(cur["new"], "noun_customer"), returned=tx.number(cur["returned"]),
                        lost=tx.number(cur["lost"]), days=days))
    if prev is not None and prev["revenue"]:
        rel = tx.pct(cur["revenue"] / prev["revenue"] - 1, 1, signed=True)
        sentences.append(tx("story_revenue", revenue=tx.money(cur["revenue"]), change=rel))
    sentences.append(tx("story_purchase", avg=tx.money(cur["avg_purchase"], 2),
                        freq=tx.number(cur["purchase_frequency"], 2)))
    net = cur["new"] + cur["returned"] - cur["lost"]
    if net != 0:
        sentences.append(tx("story_net_growth") if net > 0 else tx("story_net_shrink"))
    return sentences


def monthly_table(monthly: pd.DataFrame, tx: Text) -> pd.DataFrame:
    """The monthly figures formatted in the report's language, newest month first."""
    lang = tx.language
    rows = monthly.iloc[::-1]
    return pd.DataFrame({
        tx("col_month"): [month_label(m, lang) for m in rows["month"]],
        tx("col_active"): [tx.number(v) for v in rows["active"]],
        tx("col_new"): [tx.number(v) for v in rows["new"]],
        tx("col_returned"): [tx.number(v) for v in rows["returned"]],
        tx("col_lost"): [tx.number(v) for v in rows["lost"]],
        tx("col_revenue"): [tx.money(v) for v in rows["revenue"]],
        tx("col_avg_purchase"): [tx.money(v, 2) for v in rows["avg_purchase"]],
        tx("col_frequency"): [tx.number(v, 2) for v in rows["purchase_frequency"]],
    })


def quality_table(source, tx: Text) -> pd.DataFrame:
    """Data-quality checks of the source as a table (check, count, what it means); only non-zero rows
    besides the number of transactions used."""
    q = source.quality
    date = tx.date(source.as_of)
    rows = [(tx("q_transactions"), tx.number(q.get("transactions", 0)), tx("q_transactions_m", date=date))]
    checks = [("future_rows_excluded", "q_future", {"date": date}),
              ("refund_rows", "q_refunds", {"amount": tx.money(abs(q.get("refund_amount", 0)), 2)}),
              ("possible_duplicate_rows", "q_duplicates", {}),
              ("missing_marketing_permission", "q_permission", {}),
              ("buyers_not_in_customers", "q_unknown_buyers", {})]
    for key, label, values in checks:
        if q.get(key):
            rows.append((tx(label), tx.number(q[key]), tx(f"{label}_m", **values)))
    return pd.DataFrame(rows, columns=[tx("q_check"), tx("q_count"), tx("q_meaning")])


def _month_axes(ax, monthly: pd.DataFrame, tx, ylabel: str) -> None:
    """Month labels below (every other one past 13 months, so they never overlap), numbers in the report's
    language on the left, light grid."""
    from matplotlib.ticker import FuncFormatter  # local: heavy import, kept off the start-up path

    labels = [month_label(m, "en")[:3] + " " + m[2:4] if tx.language == "en" else f"{int(m[5:])}/{m[2:4]}"
              for m in monthly["month"]]
    step = 1 if len(labels) <= 13 else 2
    ax.set_xticks(range(0, len(labels), step), labels[::step], rotation=45, ha="right")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: tx.number(v)))
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)


def plot_active(monthly: pd.DataFrame, *, labels: Labels, ax=None):
    """Active customers at each month end (line): ``monthly`` is ``base.flows``; returns the Axes."""
    import matplotlib.pyplot as plt  # local: heavy import, kept off the start-up path

    tx = plot_words(labels)
    ax = ax or plt.subplots(figsize=(6.4, 3.2))[1]
    ax.plot(range(len(monthly)), monthly["active"], marker="o", color="#1f5f99")
    ax.set_ylim(bottom=0)
    _month_axes(ax, monthly, tx, tx("axis_customers"))
    return ax


def plot_flows(monthly: pd.DataFrame, *, labels: Labels, ax=None):
    """New and returned customers above zero, lost customers below, per month: ``monthly`` is ``base.flows``; returns the Axes."""
    import matplotlib.pyplot as plt  # local: heavy import, kept off the start-up path

    tx = plot_words(labels)
    ax = ax or plt.subplots(figsize=(6.4, 3.2))[1]
    x = range(len(monthly))
    ax.bar(x, monthly["new"], color="#2e8b57", label=tx("series_new"))
    ax.bar(x, monthly["returned"], bottom=monthly["new"], color="#8fbc8f", label=tx("series_returned"))
    ax.bar(x, -monthly["lost"], color="#c0504d", label=tx("series_lost"))
    ax.axhline(0, color="#333", linewidth=0.8)
    ax.legend(loc="lower left", bbox_to_anchor=(0, 1), ncols=3, frameon=False, fontsize=9)  # above the bars
    _month_axes(ax, monthly, tx, tx("axis_customers"))
    return ax


def plot_revenue(monthly: pd.DataFrame, *, labels: Labels, ax=None):
    """Revenue per month (bars): ``monthly`` is ``base.flows``; returns the Axes."""
    import matplotlib.pyplot as plt  # local: heavy import, kept off the start-up path

    tx = plot_words(labels)
    ax = ax or plt.subplots(figsize=(6.4, 3.2))[1]
    ax.bar(range(len(monthly)), monthly["revenue"], color="#1f5f99")
    _month_axes(ax, monthly, tx, tx("axis_revenue"))
    return ax
