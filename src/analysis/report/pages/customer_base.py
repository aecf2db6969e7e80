"""The customer-base page of the monthly report: one builder per section.

``notebooks/customer_base.ipynb`` calls one ``show_*`` function per section; every number comes from
the month's :class:`~analysis.base.state.CustomerBase` and every word from ``strings/customer_base.json``
and ``strings/concepts.json``.
"""
from __future__ import annotations

import pandas as pd

from analysis.report.display import heading, say, show_figure, show_table
from analysis.report.numbers import show_numbers
from analysis.report.site import month_label
from analysis.report.text import Text

CARD_CONCEPTS = ("customers_active", "customers_new", "customers_lost", "customers_returned", "customers_churned",
                 "customers_registered", "revenue", "avg_purchase", "purchase_frequency")
GLOSSARY_CONCEPTS = ("customers_active", "customers_new", "customers_lost", "customers_returned", "customers_churned",
                     "avg_purchase", "customers_registered")


def show_intro(base, language: str) -> None:
    """Page title and what the page covers."""

    tx = Text("customer_base", language)
    month, previous = base.flows["month"].iloc[-1], base.flows["month"].iloc[-2]
    heading(tx("title", month=month_label(month, language)), 1)
    say(tx("intro", month=month_label(month, language), month_in=month_label(month, language, inessive=True),
           previous=month_label(previous, language)))


def show_key_numbers(base, language: str) -> None:
    """The month's customer counts and sales as cards, each read from the month's customer base."""

    heading(Text("customer_base", language)("key_numbers"))
    show_numbers([base.key_number(c) for c in CARD_CONCEPTS], language)


def show_story(base, language: str) -> None:
    """The month in plain sentences."""

    tx = Text("customer_base", language)
    heading(tx("in_words"))
    say("\n".join(f"- {s}" for s in story(base.flows, tx)))


def show_trends(base, language: str) -> None:
    """Active customers, flows and revenue over the last months, as figures."""

    tx = Text("customer_base", language)
    monthly = base.flows
    heading(tx("trend_heading"))
    first, last = month_label(monthly["month"].iloc[0], language), month_label(monthly["month"].iloc[-1], language)
    now = monthly.iloc[-1]
    ax = plot_active(monthly, tx)
    show_figure(ax.figure, tx("fig_active_title"),
                tx("fig_active_alt", first=first, last=last, a0=tx.number(monthly["active"].iloc[0]),
                   a1=tx.number(now["active"])))
    ax = plot_flows(monthly, tx)
    show_figure(ax.figure, tx("fig_flows_title"),
                tx("fig_flows_alt", last=last, new=tx.number(now["new"]), returned=tx.number(now["returned"]),
                   lost=tx.number(now["lost"])))
    ax = plot_revenue(monthly, tx)
    show_figure(ax.figure, tx("fig_revenue_title"),
                tx("fig_revenue_alt", first=first, last=last, revenue=tx.money(now["revenue"])))


def show_monthly_table(base, language: str) -> None:

    tx = Text("customer_base", language)
    show_table(monthly_table(base.flows, tx), caption=tx("table_caption"))


def show_definitions(base, language: str) -> None:
    """The definitions this page uses, from the month's one glossary (same words on every page)."""

    tx = Text("customer_base", language)
    words = Text("concepts", language)
    heading(tx("definitions"))
    values = {"inactivity_days": base.settings.inactivity_days}
    say("\n".join(f"- **{words('label_' + c)}**: {words('define_' + c, **values)}" for c in GLOSSARY_CONCEPTS))


def show_quality(base, language: str) -> None:

    tx = Text("customer_base", language)
    heading(tx("quality"))
    say(tx("quality_intro"))
    show_table(quality_table(base.source, tx))


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


def _month_axes(ax, monthly: pd.DataFrame, tx: Text, ylabel: str) -> None:
    """Month labels below, numbers in the report's language on the left, light grid."""
    from matplotlib.ticker import FuncFormatter  # local: heavy import, kept off the start-up path

    labels = [month_label(m, "en")[:3] + " " + m[2:4] if tx.language == "en" else f"{int(m[5:])}/{m[2:4]}"
              for m in monthly["month"]]
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: tx.number(v)))
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)


def plot_active(monthly: pd.DataFrame, tx: Text, ax=None):
    """Active customers at each month end (line)."""
    import matplotlib.pyplot as plt  # local: heavy import, kept off the start-up path

    ax = ax or plt.subplots(figsize=(8, 3.2))[1]
    ax.plot(range(len(monthly)), monthly["active"], marker="o", color="#1f5f99")
    ax.set_ylim(bottom=0)
    _month_axes(ax, monthly, tx, tx("axis_customers"))
    return ax


def plot_flows(monthly: pd.DataFrame, tx: Text, ax=None):
    """New and returned customers above zero, lost customers below, per month."""
    import matplotlib.pyplot as plt  # local: heavy import, kept off the start-up path

    ax = ax or plt.subplots(figsize=(8, 3.2))[1]
    x = range(len(monthly))
    ax.bar(x, monthly["new"], color="#2e8b57", label=tx("series_new"))
    ax.bar(x, monthly["returned"], bottom=monthly["new"], color="#8fbc8f", label=tx("series_returned"))
    ax.bar(x, -monthly["lost"], color="#c0504d", label=tx("series_lost"))
    ax.axhline(0, color="#333", linewidth=0.8)
    ax.legend(loc="upper left", ncols=3, frameon=False, fontsize="small")
    _month_axes(ax, monthly, tx, tx("axis_customers"))
    return ax


def plot_revenue(monthly: pd.DataFrame, tx: Text, ax=None):
    """Revenue per month (bars)."""
    import matplotlib.pyplot as plt  # local: heavy import, kept off the start-up path

    ax = ax or plt.subplots(figsize=(8, 3.2))[1]
    ax.bar(range(len(monthly)), monthly["revenue"], color="#1f5f99")
    _month_axes(ax, monthly, tx, tx("axis_revenue"))
    return ax
