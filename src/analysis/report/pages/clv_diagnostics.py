"""The CLV page's model diagnostics drawn: the tracking plot and conditional expectations (FHL 2005, Figs. 2-4).

Each plot takes the language-free data of :mod:`analysis.clv.diagnostics` and its words as ``labels`` and returns
the Axes; :func:`diagnostic_labels` makes those words in the report's language (``strings/clv.json``).
"""
from __future__ import annotations

from typing import Callable, Mapping

import numpy as np
import pandas as pd

from analysis.report.text import Text

ACTUAL, MODEL = "#1f4e79", "#d9822b"


def _ax(ax, figsize):
    if ax is None:
        import matplotlib.pyplot as plt  # local: heavy import, kept off the start-up path

        _, ax = plt.subplots(figsize=figsize)
    return ax


def diagnostic_labels(language: str = "en") -> dict[str, str]:
    """The words of both diagnostic plots in ``language``."""
    tx = Text("clv", language)
    keys = ("actual", "predicted", "diag_x_week", "diag_y_weekly", "diag_y_cumulative", "diag_calibration",
            "diag_holdout", "x_cal_purchases", "y_holdout_purchases")
    return {k: tx(k) for k in keys}


def plot_tracking(data: pd.DataFrame, *, labels: Mapping[str, str], cumulative: bool = False, ax=None):
    """Repeat purchases per week (or cumulated), actual against the model, the holdout period shaded.

    ``data`` is :func:`analysis.clv.diagnostics.tracking`; ``labels`` as :func:`diagnostic_labels`.
    """
    ax = _ax(ax, (7, 3.6))
    kind = "_cumulative" if cumulative else ""
    ax.plot(data["week"], data[f"actual{kind}"], "-", color=ACTUAL, lw=1.6, label=labels["actual"])
    ax.plot(data["week"], data[f"expected{kind}"], "--", color=MODEL, lw=1.6, label=labels["predicted"])
    hold = data.loc[data["holdout"], "week"]
    if len(hold):
        start = float(hold.iloc[0]) - 0.5
        ax.axvspan(start, float(data["week"].iloc[-1]) + 0.5, color="#999999", alpha=0.12, lw=0)
        ax.axvline(start, color="#555555", lw=0.8, ls=":")
        top = ax.get_ylim()[1]
        ax.text(start, top, " " + labels["diag_holdout"], va="top", ha="left", fontsize=8, color="#333333")
        ax.text(start, top, labels["diag_calibration"] + " ", va="top", ha="right", fontsize=8, color="#333333")
    ax.set(xlabel=labels["diag_x_week"], ylabel=labels["diag_y_cumulative" if cumulative else "diag_y_weekly"])
    ax.legend(frameon=False, loc="upper left")
    return ax


def plot_conditional_expectations(data: pd.DataFrame, *, labels: Mapping[str, str], ax=None,
                                  number: Callable[[float], str] | None = None):
    """Mean holdout purchases by calibration frequency, actual against the model.

    ``data`` is :func:`analysis.clv.diagnostics.conditional_expectations`; ``labels`` as :func:`diagnostic_labels`;
    ``number`` formats the axis' numbers in the report's language (e.g. ``Text.number``).
    """
    ax = _ax(ax, (6.5, 4))
    x = np.arange(len(data))
    ax.plot(x, data["actual"], "o-", color=ACTUAL, label=labels["actual"])
    ax.plot(x, data["expected"], "s--", color=MODEL, label=labels["predicted"])
    ax.set_xticks(x, data["frequency_cal"])
    ax.set(xlabel=labels["x_cal_purchases"], ylabel=labels["y_holdout_purchases"])
    if number is not None:
        from matplotlib.ticker import FuncFormatter  # local: heavy import, kept off the start-up path

        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: number(v)))
    ax.legend(frameon=False)
    return ax


__all__ = ["diagnostic_labels", "plot_conditional_expectations", "plot_tracking"]
