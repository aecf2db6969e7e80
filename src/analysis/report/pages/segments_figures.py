"""The segments page's figures: the A/B/C pyramid, the strategy grid, the choice of k and the transition maps.

Every plot is ``plot_x(data, *, labels, ax=None) -> Axes``: ``data`` is the table it draws (from
:mod:`analysis.segments`), ``labels`` the page's words (:func:`analysis.report.pages.segments_text.words`);
it never computes and never shows. Sized for a phone: 6.4 in wide at 100 dpi, fonts of 9 pt or more.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.report.text import Text
from analysis.segments import STRATEGY_GROUPS

__all__ = ["FIGURE_WIDTH", "FONT_SIZE", "PLOT_POINTS", "plot_k_selection", "plot_pyramid", "plot_strategy_grid",
           "plot_transitions"]

#: Widest figure (inches at 100 dpi: 640 px, read on a 390 px phone at 60 %) and smallest font (points).
FIGURE_WIDTH, FONT_SIZE = 6.4, 9

#: The strategy grid draws at most this many buyers (a seeded random sample of them above it): a million points
#: take seconds to draw and show the same picture.
PLOT_POINTS = 50_000


def _axes(ax, height: float):
    import matplotlib.pyplot as plt  # local: pyplot is heavy; the CLI imports these pages for their words only

    return ax if ax is not None else plt.subplots(figsize=(FIGURE_WIDTH, height), layout="constrained")[1]


def plot_pyramid(data: pd.DataFrame, *, labels: Text, ax=None):
    """Bars of customer share and revenue share per class, textbook shares as markers.

    Parameters
    ----------
    data : DataFrame
        :meth:`analysis.segments.Segmentation.pyramid` (``abc_class``, ``customer_share``, ``revenue_share``,
        ``textbook_customer_share``, ``textbook_revenue_share``).
    labels : Text
        The segments page's words in the report's language.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes

    Example
    -------
    >>> from analysis.report.pages.segments_text import words
    >>> t = pd.DataFrame({"abc_class": ["A", "B", "C"], "customer_share": [.2, .3, .5], "revenue_share": [.6, .3, .1],
    ...                   "textbook_customer_share": [.2, .3, .5], "textbook_revenue_share": [.8, .15, .05]})
    >>> [t.get_text() for t in plot_pyramid(t, labels=words("en")).get_xticklabels()]
    ['A', 'B', 'C']
    """
    ax = _axes(ax, 3.6)
    x = np.arange(len(data))
    ax.bar(x - 0.2, data["customer_share"] * 100, 0.4, label=labels("lbl_customers"), color="#4C72B0")
    ax.bar(x + 0.2, data["revenue_share"] * 100, 0.4, label=labels("lbl_revenue"), color="#DD8452")
    ax.scatter(x - 0.2, data["textbook_customer_share"] * 100, marker="_", s=400, color="black", zorder=3,
               label=labels("lbl_textbook"))
    ax.scatter(x + 0.2, data["textbook_revenue_share"] * 100, marker="_", s=400, color="black", zorder=3)
    ax.set_xticks(x, data["abc_class"])
    ax.set_ylabel("%", fontsize=FONT_SIZE + 1)
    ax.set_ylim(0, 100)
    ax.tick_params(labelsize=FONT_SIZE + 1)
    ax.legend(frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=3, fontsize=FONT_SIZE)
    ax.spines[["top", "right"]].set_visible(False)
    return ax


def plot_strategy_grid(data: pd.DataFrame, *, labels: Text, ax=None, max_points: int = PLOT_POINTS, seed: int = 0):
    """Buyers on current value x potential value (log scale, ticks in euros), coloured by strategy group.

    ``data`` is the segmentation's customer table (``n_purchases``, ``current_value``, ``potential_value``,
    ``strategy_group``). With more than ``max_points`` buyers, a random sample of ``max_points`` of them
    (drawn with ``seed``) is drawn.
    """
    ax = _axes(ax, 4.4)
    colors = {"keep": "#55A868", "develop": "#4C72B0", "change": "#C44E52"}
    b = data[data["n_purchases"].fillna(0).astype(float) > 0]
    if len(b) > max_points:
        b = b.iloc[np.sort(np.random.default_rng(seed).choice(len(b), max_points, replace=False))]
    for g in STRATEGY_GROUPS:
        d = b[b["strategy_group"] == g]
        ax.scatter(np.log10(1 + d["current_value"].clip(lower=0)), np.log10(1 + d["potential_value"].clip(lower=0)),
                   s=6, alpha=0.5, color=colors[g], label=labels(f"group_{g}"))
    ax.set_xlabel(labels("axis_current_value"), fontsize=FONT_SIZE + 1)
    ax.set_ylabel(labels("axis_potential_value"), fontsize=FONT_SIZE + 1)
    euros = np.array([0, 10, 100, 1_000, 10_000])  # log10(1 + €) positions labelled in euros
    for axis, lim in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
        ticks = np.log10(1 + euros)
        axis.set_ticks(ticks[ticks <= lim[1]], [labels.money(e) for e in euros[ticks <= lim[1]]])
    ax.tick_params(labelsize=FONT_SIZE)
    ax.legend(frameon=False, markerscale=3, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=3,
              fontsize=FONT_SIZE)
    ax.spines[["top", "right"]].set_visible(False)
    return ax


def plot_k_selection(data: pd.DataFrame, *, labels: Text, ax=None):
    """Silhouette (left axis) and BIC (right axis) over k, the chosen k marked (``BehaviourClusters.selection_``)."""
    ax = _axes(ax, 3.4)
    ax.plot(data["k"], data["silhouette"], "o-", color="#4C72B0", label=labels("lbl_silhouette"))
    ax.set_xlabel(labels("lbl_k"), fontsize=FONT_SIZE + 1)
    ax.set_ylabel(labels("lbl_silhouette"), color="#4C72B0", fontsize=FONT_SIZE + 1)
    ax2 = ax.twinx()
    ax2.plot(data["k"], data["bic"], "s--", color="#DD8452", label=labels("lbl_bic"))
    ax2.set_ylabel(labels("lbl_bic"), color="#DD8452", fontsize=FONT_SIZE + 1)
    for k in data.loc[data["chosen"], "k"]:
        ax.axvline(k, color="grey", lw=1, ls=":")
    ax.set_xticks(data["k"])
    ax.yaxis.set_major_formatter(lambda v, _: labels.number(v, 3))
    ax2.yaxis.set_major_formatter(lambda v, _: labels.number(v, 0))
    for a in (ax, ax2):
        a.tick_params(labelsize=FONT_SIZE)
    return ax


def plot_transitions(data: pd.DataFrame, *, labels: Text, ax=None, counts: pd.DataFrame | None = None):
    """Heat map of a transition matrix (row shares; rows: previous month end, columns: now), annotated with the
    shares and, when given, the counts; column labels are turned so long stage names never overlap."""
    import seaborn as sns  # local: heavy import, only this figure needs it

    ax = _axes(ax, 0.45 * len(data) + 2.2)
    annot = data.map(lambda v: "" if pd.isna(v) else labels.pct(v, 0))
    if counts is not None:
        annot = annot + counts.reindex_like(data).map(lambda v: f"\n({labels.number(v)})" if v else "")
    sns.heatmap(data.astype(float) * 100, annot=annot.to_numpy(), fmt="", cmap="Blues", vmin=0, vmax=100,
                cbar=False, ax=ax, linewidths=0.5, annot_kws={"fontsize": FONT_SIZE})
    ax.set_xlabel(labels("lbl_to"), fontsize=FONT_SIZE + 1)
    ax.set_ylabel(labels("lbl_from"), fontsize=FONT_SIZE + 1)
    ax.tick_params(axis="both", labelsize=FONT_SIZE)
    ax.tick_params(axis="y", rotation=0)
    ax.tick_params(axis="x", rotation=35)
    for t in ax.get_xticklabels():
        t.set_horizontalalignment("right")
    return ax
