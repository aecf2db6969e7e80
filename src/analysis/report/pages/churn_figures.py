"""The churn page's figures: survival curves, the hazard-ratio forest and the cohort heat map.

Every plot is ``plot_x(data, *, labels, ax=None) -> Axes``: ``data`` is the result it draws (from
:mod:`analysis.churn`), ``labels`` the page's words (:func:`analysis.report.pages.churn_text.words`);
it never computes and never shows. Sized for a phone: 6.4 in wide at 100 dpi, fonts of 9 pt or more.
"""
from __future__ import annotations

import math
from typing import Mapping

import numpy as np
import pandas as pd
from matplotlib.ticker import FuncFormatter, LogLocator

from analysis.churn import CoxResult, GroupSurvival, KaplanMeierResult
from analysis.report.pages.churn_text import covariate_labels, value_label
from analysis.report.text import Text
from analysis.units import DAYS_PER_MONTH

__all__ = ["FIGURE_WIDTH", "FONT_SIZE", "plot_cohort_heatmap", "plot_forest", "plot_survival"]

#: Widest figure (inches at 100 dpi: 640 px, read on a 390 px phone at 60 %) and smallest font (points).
FIGURE_WIDTH, FONT_SIZE = 6.4, 9


def _axes(ax, height: float):
    import matplotlib.pyplot as plt  # local: pyplot is heavy; the CLI imports these pages for their words only

    return ax if ax is not None else plt.subplots(figsize=(FIGURE_WIDTH, height), layout="constrained")[1]


def plot_survival(data: KaplanMeierResult | GroupSurvival, *, labels: Text, ax=None, bands: bool = True,
                  max_months: float | None = None):
    """Kaplan-Meier curve(s) with their 95 % bands, months on the x axis, the legend below the plot.

    Parameters
    ----------
    data : KaplanMeierResult or GroupSurvival
        One curve (``a.overall``) or one per group (``a.by_group``).
    labels : Text
        The churn page's words in the report's language.
    ax : matplotlib Axes, optional
    bands : bool
        Shade the pointwise confidence band.
    max_months : float, optional
        Cut the x axis.

    Returns
    -------
    matplotlib.axes.Axes

    Example
    -------
    >>> from analysis.churn import kaplan_meier
    >>> from analysis.report.pages.churn_text import words
    >>> ax = plot_survival(kaplan_meier([30, 60, 90], [1, 0, 1]), labels=words("en"))
    >>> ax.get_ylabel()
    'Share still a customer'
    """
    tx = labels
    curves = list(data.curves.values()) if isinstance(data, GroupSurvival) else [data]
    ax = _axes(ax, 4.2 if len(curves) > 1 else 3.6)
    for km in curves:
        s = km.survival
        months = s["time"].to_numpy() * km.unit_days / DAYS_PER_MONTH
        line, = ax.step(months, s["survival"], where="post", label=f"{value_label(km.label, tx)} (n={tx.number(km.n)})")
        if bands:
            ax.fill_between(months, s["lower"], s["upper"], step="post", alpha=0.15, color=line.get_color())
    ax.set_xlabel(tx("axis_months"), fontsize=FONT_SIZE + 1)
    ax.set_ylabel(tx("axis_survival"), fontsize=FONT_SIZE + 1)
    ax.set_ylim(0, 1.02)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: tx.pct(v, 0)))
    ax.tick_params(labelsize=FONT_SIZE)
    if max_months is not None:
        ax.set_xlim(0, max_months)
    ax.grid(alpha=0.3)
    if len(curves) > 1:  # below the data, so no curve hides behind it
        ax.legend(fontsize=FONT_SIZE, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2, frameon=False)
    return ax


def plot_forest(data: CoxResult, *, labels: Text, ax=None, names: Mapping[str, str] | None = None):
    """Forest plot of hazard ratios with their confidence intervals (log x axis, line at 1; red: significant).

    ``names`` are the covariates' readable names (default :func:`~analysis.report.pages.churn_text.covariate_labels`).

    Returns
    -------
    matplotlib.axes.Axes
    """
    tx = labels
    hr = data.hazard_ratios.iloc[::-1].reset_index(drop=True)
    ax = _axes(ax, 0.3 * len(hr) + 1.2)
    names = names if names is not None else covariate_labels(hr["covariate"], tx.language)
    y = np.arange(len(hr))
    sig = hr["p"] < data.alpha
    ax.errorbar(hr["hazard_ratio"], y, xerr=[hr["hazard_ratio"] - hr["lower"], hr["upper"] - hr["hazard_ratio"]],
                fmt="none", ecolor="0.4", capsize=2)
    ax.scatter(hr["hazard_ratio"], y, c=np.where(sig, "C3", "0.5"), zorder=3)
    ax.axvline(1.0, color="0.2", lw=0.8, ls="--")
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(0.2, 0.3, 0.5, 0.7, 1.0, 1.5)))
    ax.xaxis.set_minor_locator(LogLocator(base=10, subs=()))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: tx.number(x, 2 if x < 1 else 1)))
    ax.set_yticks(y, [names.get(c, c) for c in hr["covariate"]])
    ax.set_ylim(-0.7, len(hr) - 0.3)
    ax.tick_params(labelsize=FONT_SIZE)
    ax.set_xlabel(tx("axis_hazard_ratio"), fontsize=FONT_SIZE + 1)
    ax.grid(axis="x", alpha=0.3)
    return ax


def _every(n: int, most: int) -> int:
    """The step that leaves at most ``most`` of ``n`` tick labels."""
    return max(1, math.ceil(n / most))


def plot_cohort_heatmap(data: pd.DataFrame, *, labels: Text, ax=None, max_months: int | None = 24):
    """Heat map of a cohort retention table (rows: cohorts, columns: months since start, values: shares).

    Tick labels are thinned so they never overlap at 9 pt (every k-th month and cohort).

    Returns
    -------
    matplotlib.axes.Axes
    """
    tx = labels
    table = data
    if max_months is not None:
        table = table.loc[:, [c for c in table.columns if int(c) <= max_months]]
    ax = _axes(ax, min(8.0, 0.2 * table.shape[0] + 1.6))
    im = ax.imshow(table.to_numpy(dtype=float), aspect="auto", cmap="YlGnBu", vmin=0, vmax=1)
    xs = range(0, table.shape[1], _every(table.shape[1], 9))
    ys = range(0, table.shape[0], _every(table.shape[0], 16))
    ax.set_xticks(list(xs), [str(table.columns[i]) for i in xs])
    ax.set_yticks(list(ys), [str(table.index[i]) for i in ys])
    ax.tick_params(labelsize=FONT_SIZE)
    ax.set_xlabel(tx("axis_months_since"), fontsize=FONT_SIZE + 1)
    ax.set_ylabel(tx("axis_signup_month"), fontsize=FONT_SIZE + 1)
    bar = ax.figure.colorbar(im, ax=ax, fraction=0.04, pad=0.02, format=FuncFormatter(lambda v, _: tx.pct(v, 0)))
    bar.set_label(tx("axis_cohort_share"), fontsize=FONT_SIZE)
    bar.ax.tick_params(labelsize=FONT_SIZE)
    return ax
