"""The CLV page's figures: each plot takes the language-free result it draws and its words, and returns the Axes.

One signature, ``plot_x(data, *, labels, ax=None) -> Axes``: ``labels`` is a :class:`~analysis.report.text.Text`
of ``strings/clv.json`` (or a mapping of the same keys); nothing is shown, so a notebook can compose and change them.
Sized for a phone (6.4 in wide at 100 dpi, text of 9 pt or more).
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from analysis import clv
from analysis.report.pages.plot_labels import plot_words
from analysis.report.text import Text

__all__ = ["plot_clv_distribution", "plot_holdout", "plot_lorenz", "plot_p_alive_heatmap"]

Labels = Text | Mapping[str, str]


def _ax(ax, figsize):
    if ax is None:
        import matplotlib.pyplot as plt  # local: heavy import, kept off the start-up path

        _, ax = plt.subplots(figsize=figsize)
    return ax


def _formatter(func):
    from matplotlib.ticker import FuncFormatter  # local: heavy import, kept off the start-up path

    return FuncFormatter(lambda v, _: func(v))


def plot_holdout(scorecard: clv.HoldoutScorecard, *, labels: Labels, ax=None):
    """Fader-Hardie plot: actual vs predicted holdout purchases per calibration frequency
    (``scorecard.by_frequency`` of :func:`analysis.clv.scorecard`)."""
    w = plot_words(labels)
    by = scorecard.by_frequency
    ax = _ax(ax, (6.4, 4))
    x = np.arange(len(by))
    ax.plot(x, by["actual"], "o-", color="#1f4e79", label=w("actual"))
    ax.plot(x, by["predicted"], "s--", color="#d9822b", label=w("predicted"))
    ax.set_xticks(x, by["frequency_cal"])
    ax.set(xlabel=w("x_cal_purchases"), ylabel=w("y_holdout_purchases"))
    ax.yaxis.set_major_formatter(_formatter(lambda v: w.number(v, 1)))
    ax.legend(frameon=False)
    return ax


def plot_p_alive_heatmap(grid: pd.DataFrame, *, labels: Labels, ax=None):
    """Heat map of P(alive) by repeat purchases (rows) and recency in days (columns): :meth:`CLVModel.p_alive_grid`."""
    w = plot_words(labels)
    ax = _ax(ax, (6.4, 4.2))
    im = ax.imshow(grid.to_numpy(), origin="lower", aspect="auto", cmap="RdYlGn", vmin=0, vmax=1,
                   extent=[grid.columns.min(), grid.columns.max(), -0.5, grid.index.max() + 0.5])
    bar = ax.figure.colorbar(im, ax=ax, label=w("p_alive"))
    bar.ax.yaxis.set_major_formatter(_formatter(lambda v: w.pct(v, 0)))
    ax.set(xlabel=w("x_recency_days"), ylabel=w("y_repeat"))
    return ax


def plot_clv_distribution(clv_values, *, labels: Labels, ax=None, bins: int = 40):
    """Histogram of CLV (one value per customer) on ``bins`` log-spaced bins, as value is skewed."""
    w = plot_words(labels)
    ax = _ax(ax, (6, 4))
    v = np.asarray(clv_values, float)
    v = v[np.isfinite(v) & (v > 0)]
    edges = np.geomspace(max(v.min(), 0.01), v.max(), bins) if len(v) else bins
    ax.hist(v, bins=edges, color="#1f4e79")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(_formatter(lambda x: w.money(x, 2 if x < 1 else 0)))
    ax.set(xlabel=w("x_clv"), ylabel=w("y_customers"))
    return ax


def plot_lorenz(conc: clv.Concentration, *, labels: Labels, ax=None):
    """Concentration curve of value (:func:`analysis.clv.concentration`) with the 50 % and 80 % marks."""
    w = plot_words(labels)
    ax = _ax(ax, (5, 4.5))
    c = conc.curve
    ax.plot(c["customer_share"], c["value_share"], color="#1f4e79")
    ax.plot([0, 1], [0, 1], ":", color="grey", label=w("equal_value"))
    for share, level in ((conc.share_for_50, 0.5), (conc.share_for_80, 0.8)):
        ax.plot([share, share, 0], [0, level, level], "--", color="#d9822b", lw=0.8)
    ax.set(xlabel=w("x_share_customers"), ylabel=w("y_share_value"), xlim=(0, 1), ylim=(0, 1.01))
    pct = _formatter(lambda v: w.pct(v, 0))
    ax.xaxis.set_major_formatter(pct)
    ax.yaxis.set_major_formatter(pct)
    ax.legend(frameon=False, loc="lower right")
    return ax
