"""The customer-base page of the monthly report: key numbers, plain sentences, figures, tables.

``notebooks/customer_base.ipynb`` only calls these; the numbers come from
``analysis.customers.monthly_activity`` and the words from ``strings/customer_base.json``.
"""
from __future__ import annotations

import pandas as pd

from analysis.i18n import Text, fmt_number
from analysis.report.pages import month_label


def headline(source, as_of, inactivity_days: int | None = None) -> dict:
    """Key numbers of the customer base for the month ending on ``as_of``.

    Returns registered, active, new, lost and returned customers, revenue, average
    purchase and purchase days per buying customer, as plain numbers (JSON-serialisable),
    counted as :func:`analysis.customers.monthly_activity` counts them.

    Example
    -------
    >>> headline("data/sample", "2026-10-31")["active"]  # doctest: +SKIP
    1125
    """
    from analysis import customers, survival

    days = survival.churn_threshold(source, as_of, inactivity_days)
    row = customers.monthly_activity(source, as_of, months=1, inactivity_days=days).iloc[-1]
    out = {key: int(row[key]) for key in ("registered", "active", "new", "lost", "returned")}
    for key in ("revenue", "avg_purchase", "purchase_frequency"):
        out[key] = None if pd.isna(row[key]) else round(float(row[key]), 6)
    return out


def _count_change(value, previous, tx: Text) -> str:
    if previous is None or pd.isna(previous):
        return tx("change_none")
    diff = value - previous
    pct = tx.pct(diff / previous, 1, signed=True) if previous else "–"
    return tx("change_count", diff=fmt_number(diff, tx.language, 0, signed=True), pct=pct)


def _rel_change(value, previous, tx: Text) -> str:
    if previous is None or pd.isna(previous) or not previous or pd.isna(value):
        return tx("change_none")
    return tx("change_rel", pct=tx.pct(value / previous - 1, 1, signed=True))


def key_numbers(monthly: pd.DataFrame, tx: Text) -> dict:
    """Cards for :func:`analysis.display.show_key_numbers` from ``monthly_activity`` rows.

    The last row is this month; the one before it the comparison month.
    """
    cur = monthly.iloc[-1]
    prev = monthly.iloc[-2] if len(monthly) > 1 else None
    p = (lambda k: None if prev is None else prev[k])  # noqa: E731
    cards = {}
    for key in ("active", "new", "lost", "returned", "registered"):
        cards[tx(f"kn_{key}")] = (tx.number(cur[key]), _count_change(cur[key], p(key), tx))
    cards[tx("kn_revenue")] = (tx.money(cur["revenue"]), _rel_change(cur["revenue"], p("revenue"), tx))
    cards[tx("kn_avg_purchase")] = (tx.money(cur["avg_purchase"], 2),
                                    _rel_change(cur["avg_purchase"], p("avg_purchase"), tx))
    cards[tx("kn_purchase_frequency")] = (tx.number(cur["purchase_frequency"], 2),
                                          _rel_change(cur["purchase_frequency"], p("purchase_frequency"), tx))
    return cards


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
    sentences.append(tx("story_flows", new=tx.number(cur["new"]), returned=tx.number(cur["returned"]),
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
    from matplotlib.ticker import FuncFormatter

    labels = [month_label(m, "en")[:3] + " " + m[2:4] if tx.language == "en" else f"{int(m[5:])}/{m[2:4]}"
              for m in monthly["month"]]
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: tx.number(v)))
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)


def plot_active(monthly: pd.DataFrame, tx: Text, ax=None):
    """Active customers at each month end (line)."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(8, 3.2))[1]
    ax.plot(range(len(monthly)), monthly["active"], marker="o", color="#1f5f99")
    ax.set_ylim(bottom=0)
    _month_axes(ax, monthly, tx, tx("axis_customers"))
    return ax


def plot_flows(monthly: pd.DataFrame, tx: Text, ax=None):
    """New and returned customers above zero, lost customers below, per month."""
    import matplotlib.pyplot as plt

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
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(8, 3.2))[1]
    ax.bar(range(len(monthly)), monthly["revenue"], color="#1f5f99")
    _month_axes(ax, monthly, tx, tx("axis_revenue"))
    return ax
