"""The CLV page's model diagnostics drawn: the tracking plot and conditional expectations (FHL 2005, Figs. 2-4).

Each plot takes the language-free data of :mod:`analysis.clv.diagnostics` and its words as ``labels`` (a
:class:`~analysis.report.text.Text` of ``strings/clv.json`` or a mapping, as :func:`diagnostic_labels`) and
returns the Axes; it never shows the figure.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from analysis.report.pages.plot_labels import plot_words
from analysis.report.text import Text

ACTUAL, MODEL = "#1f4e79", "#d9822b"
#: The words both diagnostic plots use (keys of ``strings/clv.json``).
DIAGNOSTIC_KEYS = ("actual", "predicted", "diag_x_week", "diag_y_weekly", "diag_y_cumulative", "diag_calibration",
                   "diag_holdout", "x_cal_purchases", "y_holdout_purchases")


def _ax(ax, figsize):
    if ax is None:
        import matplotlib.pyplot as plt  # local: heavy import, kept off the start-up path

        _, ax = plt.subplots(figsize=figsize)
    return ax


def diagnostic_labels(language: str = "en") -> dict[str, str]:
    """The words of both diagnostic plots in ``language``, as a plain mapping (with its ``language``)."""
    tx = Text("clv", language)
    return {"language": language, **{k: tx(k) for k in DIAGNOSTIC_KEYS}}


def plot_tracking(data: pd.DataFrame, *, labels: Text | Mapping[str, str], cumulative: bool = False, ax=None):
    """Repeat purchases per week (or cumulated), actual against the model, the holdout period shaded.

    ``data`` is :func:`analysis.clv.diagnostics.tracking`; returns the Axes.
    """
    w = plot_words(labels)
    ax = _ax(ax, (6.4, 3.4))
    kind = "_cumulative" if cumulative else ""
    ax.plot(data["week"], data[f"actual{kind}"], "-", color=ACTUAL, lw=1.6, label=w("actual"))
    ax.plot(data["week"], data[f"expected{kind}"], "--", color=MODEL, lw=1.6, label=w("predicted"))
    hold = data.loc[data["holdout"], "week"]
    if len(hold):
        start = float(hold.iloc[0]) - 0.5
        ax.axvspan(start, float(data["week"].iloc[-1]) + 0.5, color="#999999", alpha=0.12, lw=0)
        ax.axvline(start, color="#555555", lw=0.8, ls=":")
        top = ax.get_ylim()[1]
        ax.text(start, top, " " + w("diag_holdout"), va="top", ha="left", fontsize=9, color="#333333")
        ax.text(start, top, w("diag_calibration") + " ", va="top", ha="right", fontsize=9, color="#333333")
    ax.set(xlabel=w("diag_x_week"), ylabel=w("diag_y_cumulative" if cumulative else "diag_y_weekly"))
    ax.legend(frameon=False, loc="upper left", fontsize=9)
    return ax


def plot_conditional_expectations(data: pd.DataFrame, *, labels: Text | Mapping[str, str], ax=None):
    """Mean holdout purchases by calibration frequency, actual against the model.

    ``data`` is :func:`analysis.clv.diagnostics.conditional_expectations`; returns the Axes.
    """
    w = plot_words(labels)
    ax = _ax(ax, (6.4, 4))
    x = np.arange(len(data))
    ax.plot(x, data["actual"], "o-", color=ACTUAL, label=w("actual"))
    ax.plot(x, data["expected"], "s--", color=MODEL, label=w("predicted"))
    ax.set_xticks(x, data["frequency_cal"])
    ax.set(xlabel=w("x_cal_purchases"), ylabel=w("y_holdout_purchases"))
    ax.yaxis.set_major_formatter(_formatter(lambda v: w.number(v, 1)))
    ax.legend(frameon=False)
    return ax


def tracking_figure(data: pd.DataFrame, *, labels: Text | Mapping[str, str], ax=None):
    """The tracking plot as the page shows it: weekly repeat purchases above, cumulative below (one figure,
    readable on a phone); ``ax`` the upper Axes of a two-row figure, or None. Returns the upper Axes."""
    import matplotlib.pyplot as plt  # local: heavy import, kept off the start-up path

    if ax is None:
        _, (ax, below) = plt.subplots(2, 1, figsize=(6.4, 6.2), sharex=True)
    else:
        below = ax.figure.axes[1]
    plot_tracking(data, labels=labels, ax=ax)
    plot_tracking(data, labels=labels, cumulative=True, ax=below)
    ax.set_xlabel("")
    ax.figure.tight_layout()
    return ax


def _formatter(func):
    from matplotlib.ticker import FuncFormatter  # local: heavy import, kept off the start-up path

    return FuncFormatter(lambda v, _: func(v))


__all__ = ["diagnostic_labels", "plot_conditional_expectations", "plot_tracking", "tracking_figure"]
