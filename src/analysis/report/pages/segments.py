"""The segments page of the monthly report: rule tables, cluster names, advice, tables and figures.

Everything here takes the language-free results of :mod:`analysis.segments` (a
:class:`~analysis.segments.MonthlySegments`) plus the report's language and returns strings,
DataFrames or Axes; :class:`SegmentsPage` shows one section per call in the notebook.
The words live in ``strings/segments.json``; key numbers carry concept ids (:mod:`analysis.base.concepts`).
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from analysis.data.privacy import suppress_small_groups
from analysis.errors import ModelError
from analysis.findings import Finding
from analysis.report.display import heading, say, show_figure, show_table
from analysis.report.numbers import KeyNumber, record, show_finding, show_numbers
from analysis.report.pii import show_group_table
from analysis.report.text import Text, fmt_money, fmt_number, fmt_pct
from analysis.segments import (
    CLASS_CONCEPTS,
    NO_PURCHASE,
    NOT_REGISTERED,
    RFM_SEGMENTS,
    STAGE_CONCEPTS,
    STAGE_RULE_ORDER,
    STAGES,
    STRATEGY_GROUPS,
    BehaviourClusters,
    MonthlySegments,
    Segmentation,
    SegmentSettings,
    rfm_grid,
)


def _tx(language: str) -> Text:
    return Text("segments", language)


def _label(tx: Text, prefix: str, key) -> str:
    return tx(f"{prefix}{key}") if tx.has(f"{prefix}{key}") else str(key)


def stage_label(stage: str, tx: Text, settings: SegmentSettings | None = None) -> str:
    """The stage's name; "returned" names its window ("Returned within the last 30 days")."""
    s = settings or SegmentSettings()
    if stage == NOT_REGISTERED:
        return tx("stage_not_registered")
    return tx(f"stage_{stage}", returned_days=s.returned_days) if tx.has(f"stage_{stage}") else str(stage)


# --- rule tables ---------------------------------------------------------------------------------
def strategy_rules(settings: SegmentSettings | None = None, language: str = "en",
                   potential_basis: str | None = None) -> pd.DataFrame:
    """The strategy-group rules as a table (group, rule), saying what the potential value is.

    ``potential_basis`` ("clv" or "run_rate", :attr:`Segmentation.potential_basis`); by default
    it follows ``settings.value_basis``.
    """
    s, tx = settings or SegmentSettings(), _tx(language)
    basis = potential_basis or ("clv" if s.value_basis == "clv" else "run_rate")
    potential = tx("potential_clv" if basis == "clv" else "potential_run_rate", months=s.horizon_months)
    values = dict(keep=tx.pct(s.keep_share, 0), potential=tx.pct(s.potential_share, 0), potential_def=potential)
    return pd.DataFrame({
        tx("col_group"): [tx(f"group_{g}") for g in STRATEGY_GROUPS],
        tx("col_rule"): [tx(f"rule_group_{g}", **values) for g in STRATEGY_GROUPS],
    })


def stage_rules(settings: SegmentSettings | None = None, language: str = "en") -> pd.DataFrame:
    """The lifecycle rules as a table (order, stage, rule) in the report's language; first match wins."""
    s, tx = settings or SegmentSettings(), _tx(language)
    values = dict(new_days=s.new_days, passive_days=s.passive_days, factor=tx.number(s.lapsing_factor, 1),
                  min_days=s.lapsing_min_days, returned_days=s.returned_days,
                  p_alive=tx.number(s.p_alive_threshold, 2))
    rules = []
    for i, stage in enumerate(STAGE_RULE_ORDER, start=1):
        text = tx(f"rule_stage_{stage}", **values)
        if stage == "lapsing" and s.value_basis == "clv":
            text += " " + tx("rule_stage_lapsing_p_alive", **values)
        rules.append((i, stage_label(stage, tx, s), text))
    return pd.DataFrame(rules, columns=[tx("col_order"), tx("col_stage"), tx("col_rule")])


def rfm_grid_report(language: str = "en") -> pd.DataFrame:
    """:func:`analysis.segments.rfm_grid` with the segment names in the report's language."""
    tx = _tx(language)
    return rfm_grid().map(lambda k: tx(f"rfm_{k}"))


# --- cluster names and advice ------------------------------------------------------------------------
def cluster_names(clusters: BehaviourClusters | None, table: pd.DataFrame | None = None,
                  language: str = "en") -> pd.Series:
    """Plain-language name per cluster from :meth:`BehaviourClusters.traits` ("Frequent, online, high value")."""
    if clusters is None:
        return pd.Series(dtype=object, name="cluster_name")
    tx = _tx(language)
    names = {}
    for row in clusters.traits(table).itertuples(index=False):
        parts = [tx(f"trait_{code}") for code in (row.trait_1, row.trait_2) if code]
        if row.category:
            cat = row.category
            label = tx(f"category_{cat}") if tx.has(f"category_{cat}") else cat.replace("_", " ")
            parts.append(tx("trait_mostly", category=label))
        parts.append(tx(f"value_{row.value_level}"))
        name = ", ".join(parts)
        names[int(row.cluster)] = name[:1].upper() + name[1:]
    seen: dict[str, int] = {}
    for c in sorted(names):  # two clusters with the same traits get (2), (3)
        n = names[c]
        seen[n] = seen.get(n, 0) + 1
        if seen[n] > 1:
            names[c] = f"{n} ({seen[n]})"
    return pd.Series(names, name="cluster_name", dtype=object).sort_index()


def segment_advice(seg: Segmentation, language: str = "en") -> list[str]:
    """One Markdown paragraph per segment (lifecycle stage, strategy group, cluster) on what to do with it.

    Each paragraph names the segment, its size and its share of revenue, then the
    recommended action (clusters: by :func:`analysis.segments.cluster_advice_kind`).
    """
    tx = _tx(language)
    t = seg.table
    total = t["current_value"].sum()

    def para(title, mask, advice):
        n, share = int(mask.sum()), (t.loc[mask, "current_value"].sum() / total if total else float("nan"))
        return tx("advice_line", title=title, n=tx.number(n), share=tx.pct(share, 1), advice=advice)

    out = [para(stage_label(s, tx, seg.settings), t["lifecycle_stage"] == s, tx(f"advice_stage_{s}")) for s in STAGES]
    out += [para(tx(f"group_{g}"), t["strategy_group"] == g, tx(f"advice_group_{g}")) for g in STRATEGY_GROUPS]
    if seg.clusters is not None:
        names = cluster_names(seg.clusters, t, language)
        for row in seg.clusters.traits(t).itertuples(index=False):
            c = int(row.cluster)
            title = tx("cluster_title", k=c, name=names[c])
            out.append(para(title, t["cluster"] == c, tx(f"advice_cluster_{row.advice}")))
    return out


# --- tables (formatted in the report's language) -------------------------------------------------------
def pyramid_report(pyramid: pd.DataFrame, language: str = "en") -> pd.DataFrame:
    """:func:`analysis.segments.pyramid_table` with formatted numbers and translated headers (buyers only)."""
    tx = _tx(language)
    return _groups(pyramid["customers"], tx("col_customers"), tx("col_class"), {
        tx("col_class"): pyramid["abc_class"],
        tx("col_customers"): pyramid["customers"].map(tx.number),
        tx("col_customer_share"): pyramid["customer_share"].map(lambda v: tx.pct(v, 1)),
        tx("col_textbook_customer_share"): pyramid["textbook_customer_share"].map(lambda v: tx.pct(v, 0)),
        tx("col_revenue"): pyramid["revenue"].map(tx.money),
        tx("col_revenue_share"): pyramid["revenue_share"].map(lambda v: tx.pct(v, 1)),
        tx("col_textbook_revenue_share"): pyramid["textbook_revenue_share"].map(lambda v: tx.pct(v, 0)),
    })


def _groups(counts, count_column: str, label_column: str, columns: Mapping) -> pd.DataFrame:
    """A stakeholder table of groups: a group of fewer than ``MIN_GROUP_SIZE`` customers shows no numbers."""
    table = pd.DataFrame(columns)
    return suppress_small_groups(table, counts, keep=[label_column], count_column=count_column)


def strategy_report(strategy: pd.DataFrame, language: str = "en", potential_basis: str = "run_rate",
                    horizon_months: int = 12) -> pd.DataFrame:
    """:meth:`Segmentation.strategy_table` with formatted numbers; the potential column names its basis."""
    tx = _tx(language)
    potential = tx(f"col_potential_value_{potential_basis}", months=horizon_months)
    return _groups(strategy["customers"], tx("col_customers"), tx("col_group"), {
        tx("col_group"): strategy["strategy_group"].map(lambda g: tx(f"group_{g}")),
        tx("col_customers"): strategy["customers"].map(tx.number),
        tx("col_customer_share"): strategy["customer_share"].map(lambda v: tx.pct(v, 1)),
        tx("col_current_value"): strategy["current_value"].map(tx.money),
        tx("col_current_share"): strategy["current_share"].map(lambda v: tx.pct(v, 1)),
        potential: strategy["potential_value"].map(tx.money),
        tx("col_potential_share"): strategy["potential_share"].map(lambda v: tx.pct(v, 1)),
    })


def stage_counts_report(monthly: MonthlySegments, language: str = "en") -> pd.DataFrame:
    """Customers per lifecycle stage now, at the previous month end, and the change."""
    tx = _tx(language)
    s = monthly.summary()
    now, before = s["customers"].to_numpy(float), s["previous"].to_numpy(float)
    smallest = np.where((now > 0) & (before > 0), np.minimum(now, before), np.maximum(now, before))
    return _groups(smallest, tx("col_customers"), tx("col_stage"), {
        tx("col_stage"): [stage_label(k, tx, monthly.current.settings) for k in s["lifecycle_stage"]],
        tx("col_customers"): s["customers"].map(tx.number).to_numpy(),
        tx("col_share"): (s["customers"] / max(int(s["customers"].sum()), 1)).map(lambda v: tx.pct(v, 1)).to_numpy(),
        tx("col_previous_month"): s["previous"].map(tx.number).to_numpy(),
        tx("col_change"): s["change"].map(lambda d: fmt_number(d, language, 0, signed=bool(d))).to_numpy(),
    })


def rfm_report(seg: Segmentation, language: str = "en") -> pd.DataFrame:
    """Customers and revenue share per named RFM segment."""
    tx = _tx(language)
    t = seg.table
    g = t.groupby("rfm_segment").agg(customers=("customer_id", "size"), revenue=("current_value", "sum"))
    g = g.reindex(list(RFM_SEGMENTS) + [NO_PURCHASE], fill_value=0)
    total = g["revenue"].sum()
    return _groups(g["customers"], tx("col_customers"), tx("col_rfm_segment"), {
        tx("col_rfm_segment"): [tx(f"rfm_{k}") for k in g.index],
        tx("col_customers"): g["customers"].map(tx.number).to_numpy(),
        tx("col_customer_share"): (g["customers"] / max(len(t), 1)).map(lambda v: tx.pct(v, 1)).to_numpy(),
        tx("col_revenue_share"): (g["revenue"] / total if total else g["revenue"] * np.nan).map(
            lambda v: tx.pct(v, 1)).to_numpy(),
    })


def profile_report(profile: pd.DataFrame, names: Mapping[int, str] | pd.Series | None = None,
                   language: str = "en") -> pd.DataFrame:
    """:meth:`BehaviourClusters.profile` with the cluster names, formatted numbers and translated headers."""
    tx = _tx(language)
    names = pd.Series(names if names is not None else {}, dtype=object)
    table = _groups(profile["customers"], tx("col_customers"), tx("col_cluster"), {
        tx("col_cluster"): profile["cluster"].astype(int),
        tx("col_name"): profile["cluster"].map(names).fillna(""),
        tx("col_customers"): profile["customers"].map(tx.number),
        tx("col_customer_share"): profile["customer_share"].map(lambda v: tx.pct(v, 1)),
        tx("col_value_share"): profile["value_share"].map(lambda v: tx.pct(v, 1)),
        tx("col_purchase_days"): profile["purchase_days"].map(lambda v: tx.number(v, 1)),
        tx("col_recency_days"): profile["recency_days"].map(tx.number),
        tx("col_spend"): profile["spend"].map(tx.money),
        tx("col_tenure_days"): profile["tenure_days"].map(tx.number),
        tx("col_n_categories"): profile["n_categories"].map(lambda v: tx.number(v, 1)),
        tx("col_online_share"): profile["online_share"].map(lambda v: tx.pct(v, 0)),
        tx("col_spend_trend"): profile["spend_trend"].map(lambda v: tx.number(v, 2)),
    })
    blank = table[tx("col_customers")].str.startswith("<")  # a small cluster's name is made of its numbers too
    table.loc[blank, tx("col_name")] = ""
    return table


def localise_matrix(matrix: pd.DataFrame, column: str, language: str = "en",
                    settings: SegmentSettings | None = None) -> pd.DataFrame:
    """A transition matrix with translated row and column labels (stages, strategy groups or classes)."""
    tx = _tx(language)
    prefix = {"lifecycle_stage": "stage_", "strategy_group": "group_", "abc_class": "class_"}[column]

    def rename(k):
        if k in (NOT_REGISTERED, NO_PURCHASE) or prefix == "stage_":
            return stage_label(k, tx, settings)
        return _label(tx, prefix, k)

    return matrix.rename(index=rename, columns=rename)


# --- plots (take data and words, return an Axes) ---------------------------------------------------------
def plot_pyramid(pyramid: pd.DataFrame, labels: Mapping[str, str] | None = None, ax=None):
    """Bars of customer share and revenue share per class, textbook shares as markers (from ``pyramid_table``)."""
    import matplotlib.pyplot as plt  # local: heavy import, kept off the start-up path

    labels = {"customers": "customers", "revenue": "revenue", "textbook": "textbook", **(labels or {})}
    ax = ax or plt.subplots(figsize=(6, 3.5))[1]
    x = np.arange(len(pyramid))
    ax.bar(x - 0.2, pyramid["customer_share"] * 100, 0.4, label=labels["customers"], color="#4C72B0")
    ax.bar(x + 0.2, pyramid["revenue_share"] * 100, 0.4, label=labels["revenue"], color="#DD8452")
    ax.scatter(x - 0.2, pyramid["textbook_customer_share"] * 100, marker="_", s=400, color="black", zorder=3,
               label=labels["textbook"])
    ax.scatter(x + 0.2, pyramid["textbook_revenue_share"] * 100, marker="_", s=400, color="black", zorder=3)
    ax.set_xticks(x, pyramid["abc_class"])
    ax.set_ylabel("%")
    ax.set_ylim(0, 100)
    ax.legend(frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=3)
    ax.spines[["top", "right"]].set_visible(False)
    return ax


#: The strategy grid draws at most this many buyers (a seeded random sample of them above it): a million points
#: take seconds to draw and show the same picture.
PLOT_POINTS = 50_000


def plot_strategy_grid(table: pd.DataFrame, group_labels: Mapping[str, str] | None = None,
                       axis_labels=("current value", "potential value"), ax=None, language: str = "en",
                       max_points: int = PLOT_POINTS, seed: int = 0):
    """Buyers on current value x potential value (log scale, ticks in euros), coloured by strategy group.

    With more than ``max_points`` buyers, a random sample of ``max_points`` of them (drawn with ``seed``) is drawn.
    """
    import matplotlib.pyplot as plt  # local: heavy import, kept off the start-up path

    ax = ax or plt.subplots(figsize=(6, 4))[1]
    colors = {"keep": "#55A868", "develop": "#4C72B0", "change": "#C44E52"}
    b = table[table["n_purchases"].fillna(0).astype(float) > 0]
    if len(b) > max_points:
        b = b.iloc[np.sort(np.random.default_rng(seed).choice(len(b), max_points, replace=False))]
    for g in STRATEGY_GROUPS:
        d = b[b["strategy_group"] == g]
        ax.scatter(np.log10(1 + d["current_value"].clip(lower=0)), np.log10(1 + d["potential_value"].clip(lower=0)),
                   s=6, alpha=0.5, color=colors[g], label=(group_labels or {}).get(g, g))
    ax.set_xlabel(axis_labels[0])
    ax.set_ylabel(axis_labels[1])
    euros = np.array([0, 10, 100, 1_000, 10_000])  # log10(1 + €) positions labelled in euros
    for axis, lim in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
        ticks = np.log10(1 + euros)
        axis.set_ticks(ticks[ticks <= lim[1]], [fmt_money(e, language) for e in euros[ticks <= lim[1]]])
    ax.legend(frameon=False, markerscale=3)
    ax.spines[["top", "right"]].set_visible(False)
    return ax


def plot_k_selection(selection: pd.DataFrame, labels=("silhouette", "BIC", "clusters (k)"), ax=None,
                     language: str = "en"):
    """Silhouette (left axis) and BIC (right axis) over k, chosen k marked, numbers in the report's format."""
    import matplotlib.pyplot as plt  # local: heavy import, kept off the start-up path

    ax = ax or plt.subplots(figsize=(6, 3.2))[1]
    ax.plot(selection["k"], selection["silhouette"], "o-", color="#4C72B0", label=labels[0])
    ax.set_xlabel(labels[2])
    ax.set_ylabel(labels[0], color="#4C72B0")
    ax2 = ax.twinx()
    ax2.plot(selection["k"], selection["bic"], "s--", color="#DD8452", label=labels[1])
    ax2.set_ylabel(labels[1], color="#DD8452")
    for k in selection.loc[selection["chosen"], "k"]:
        ax.axvline(k, color="grey", lw=1, ls=":")
    ax.set_xticks(selection["k"])
    ax.yaxis.set_major_formatter(lambda v, _: fmt_number(v, language, 3))
    ax2.yaxis.set_major_formatter(lambda v, _: fmt_number(v, language, 0))
    return ax


def plot_transitions(matrix: pd.DataFrame, counts: pd.DataFrame | None = None, row_label="", col_label="", ax=None,
                     language: str = "en"):
    """Heat map of a transition matrix (row shares), annotated with the shares (and counts when given)."""
    import matplotlib.pyplot as plt  # local: heavy import, kept off the start-up path
    import seaborn as sns  # local: heavy import, kept off the start-up path

    ax = ax or plt.subplots(figsize=(6.5, 4.5))[1]
    annot = matrix.map(lambda v: "" if pd.isna(v) else fmt_pct(v, language, 0))
    if counts is not None:
        annot = annot + counts.reindex_like(matrix).map(lambda v: f"\n({fmt_number(v, language)})" if v else "")
    sns.heatmap(matrix.astype(float) * 100, annot=annot.to_numpy(), fmt="", cmap="Blues", vmin=0, vmax=100,
                cbar=False, ax=ax, linewidths=0.5)
    ax.set_xlabel(col_label)
    ax.set_ylabel(row_label)
    ax.tick_params(axis="y", rotation=0)
    return ax


# --- key numbers ---------------------------------------------------------------------------------------
#: The cards of the page, in order; every other stage and class count is recorded, not shown.
CARD_CONCEPTS = ("stage_active", "stage_lapsing", "stage_passive", "customers_returned", "a_revenue_share")


def key_numbers(monthly: MonthlySegments, base=None) -> list:
    """The page's numbers as typed :class:`~analysis.report.numbers.KeyNumber` (cards first, then the rest).

    With the month's ``base`` (:class:`analysis.base.state.CustomerBase`) every shared concept is
    read from it, so it carries the same number as on every other page; without it they come from
    ``monthly`` under the same rule (``customers_returned`` = :meth:`MonthlySegments.won_back`).
    """

    ids = list(CARD_CONCEPTS) + [c for c in (*STAGE_CONCEPTS.values(), *CLASS_CONCEPTS.values())
                                 if c not in CARD_CONCEPTS]
    if base is not None:
        return [base.key_number(c) for c in ids]
    values = monthly.key_numbers()
    return [KeyNumber(c, values[c]["value"], previous=values[c]["previous"]) for c in ids]


# --- the page -------------------------------------------------------------------------------------------
class SegmentsPage:
    """The segments page, one call per section; each call shows its heading, words, tables and figures.

    Parameters
    ----------
    monthly : MonthlySegments
        This month's and the previous month end's segmentation (e.g. :meth:`MonthlySegments.from_base`).
    language : {"en", "fi"}
    base : CustomerBase, optional
        The month's customer state: shared key numbers are read from it.

    Example
    -------
    >>> page = SegmentsPage(monthly_segments("data/sample", "2026-10-31"), "fi")  # doctest: +SKIP
    >>> page.key_numbers_section()                                                # doctest: +SKIP
    """

    def __init__(self, monthly: MonthlySegments | None, language: str = "en", base=None, finding=None):
        self.monthly, self.language, self.base, self.finding = monthly, language, base, finding
        self.tx = _tx(language)
        self.cur = monthly.current if monthly is not None else None
        self.prev = monthly.previous if monthly is not None else None

    @classmethod
    def from_base(cls, base, language: str = "en") -> "SegmentsPage":
        """The page of the month's customer base; when it has no segmentation, a page that says why."""

        try:
            return cls(MonthlySegments.from_base(base), language, base)
        except ModelError as exc:
            return cls(None, language, base, Finding("segments", exc.reason, exc.facts, str(exc)))

    @property
    def degraded(self) -> bool:
        """True when the segmentation could not be computed (the sections after the first show nothing)."""
        return self.monthly is None

    def _stage(self, stage: str) -> str:
        return stage_label(stage, self.tx, self.cur.settings) if stage else self.tx("k_none")

    def key_numbers_section(self) -> None:
        """Title, intro, the key-number cards (recorded for the manifest) and the biggest move."""


        tx = self.tx
        heading(tx("title"), 1)
        if self.degraded:
            show_finding(self.finding, self.language)
            return
        say(tx("intro", date=tx.date(self.cur.as_of), previous=tx.date(self.prev.as_of),
               n=tx.number(len(self.cur.table))))
        heading(tx("h_key_numbers"))
        numbers = key_numbers(self.monthly, self.base)
        show_numbers(numbers[:len(CARD_CONCEPTS)], self.language)
        record(numbers[len(CARD_CONCEPTS):])
        moved_from, moved_to, moved_n = self.monthly.biggest_movement("lifecycle_stage")
        say(tx("won_back_text", days=self.cur.settings.passive_days, returned_days=self.cur.settings.returned_days))
        if moved_n:
            say(tx("biggest_text", from_=self._stage(moved_from), to=self._stage(moved_to), n=tx.number(moved_n)))

    def pyramid_section(self) -> None:

        if self.degraded:
            return
        tx, s = self.tx, self.cur.settings
        pyramid = self.cur.pyramid()
        a = pyramid.set_index("abc_class").loc["A"]
        heading(tx("h_pyramid"))
        say(tx("pyramid_text_" + s.value_basis, a=tx.pct(s.a_share, 0), b=tx.pct(s.b_share, 0),
               a_rev=tx.pct(a["revenue_share"], 0),
               prospects=tx.number(int((self.cur.table["lifecycle_stage"] == "prospect").sum()))))
        show_group_table(pyramid_report(pyramid, self.language), tx("cap_pyramid"), self.language)
        ax = plot_pyramid(pyramid, {"customers": tx("lbl_customers"), "revenue": tx("lbl_revenue"),
                                    "textbook": tx("lbl_textbook")})
        show_figure(ax.figure, tx("fig_pyramid"), tx("alt_pyramid"))

    def strategy_section(self) -> None:

        if self.degraded:
            return
        tx, s, basis = self.tx, self.cur.settings, self.cur.potential_basis
        heading(tx("h_strategy"))
        say(tx("strategy_text"))
        show_table(strategy_rules(s, self.language, basis), tx("cap_strategy_rules"))
        say(tx(f"potential_note_{basis}", months=s.horizon_months))
        show_group_table(strategy_report(self.cur.strategy_table(), self.language, basis, s.horizon_months),
                         tx("cap_strategy"), self.language)
        ax = plot_strategy_grid(self.cur.table, {g: tx("group_" + g) for g in STRATEGY_GROUPS},
                                (tx("axis_current_value"), tx("axis_potential_value")), language=self.language)
        show_figure(ax.figure, tx("fig_strategy"), tx("alt_strategy"))
        buyers = int((self.cur.table["n_purchases"].fillna(0).astype(float) > 0).sum())
        if buyers > PLOT_POINTS:
            say(tx("strategy_plot_sample", n=tx.number(PLOT_POINTS), total=tx.number(buyers)))

    def stages_section(self) -> None:

        if self.degraded:
            return
        tx = self.tx
        heading(tx("h_stages"))
        say(tx("stages_text", returned_days=self.cur.settings.returned_days))
        show_table(stage_rules(self.cur.settings, self.language), tx("cap_stage_rules"))
        show_group_table(stage_counts_report(self.monthly, self.language), tx("cap_stage_counts"), self.language)

    def rfm_section(self) -> None:

        if self.degraded:
            return
        tx = self.tx
        heading(tx("h_rfm"))
        say(tx("rfm_text"))
        show_table(rfm_grid_report(self.language), tx("cap_rfm_grid"), index=True)
        show_group_table(rfm_report(self.cur, self.language), tx("cap_rfm"), self.language)

    def clusters_section(self) -> None:
        """The behavioural segments, or the reason they could not be formed this month."""

        if self.degraded:
            return
        tx, clusters = self.tx, self.cur.clusters
        heading(tx("h_clusters"))
        if clusters is None:
            finding = next((f for f in self.cur.findings if f.analysis == "segments.clusters"), None)
            show_finding(finding, self.language) if finding is not None else say(tx("clusters_none"))
            return
        fixed = self.cur.settings.n_clusters != "auto"
        say(tx("clusters_text_" + ("fixed" if fixed else "auto"), k=clusters.k_))
        ax = plot_k_selection(clusters.selection_, (tx("lbl_silhouette"), tx("lbl_bic"), tx("lbl_k")),
                              language=self.language)
        show_figure(ax.figure, tx("fig_k"), tx("alt_k"))
        names = cluster_names(clusters, self.cur.table, self.language)
        show_group_table(profile_report(clusters.profile(self.cur.table), names, self.language), tx("cap_profile"),
                         self.language)

    def transitions_section(self) -> None:

        if self.degraded:
            return
        tx = self.tx
        moved_from, moved_to, moved_n = self.monthly.biggest_movement("lifecycle_stage")
        heading(tx("h_transitions"))
        say(tx("transitions_text", previous=tx.date(self.prev.as_of), date=tx.date(self.cur.as_of),
               from_=self._stage(moved_from), to=self._stage(moved_to), n=tx.number(moved_n)))
        for column, key in (("lifecycle_stage", "stage"), ("abc_class", "class"), ("strategy_group", "group")):
            shares = localise_matrix(self.monthly.transitions(column, normalize=True), column, self.language,
                                     self.cur.settings)
            counts = localise_matrix(self.monthly.transitions(column), column, self.language, self.cur.settings)
            ax = plot_transitions(shares, counts, tx("lbl_from"), tx("lbl_to"), language=self.language)
            show_figure(ax.figure, tx(f"fig_{key}_transitions"), tx(f"alt_{key}_transitions"))

    def actions_section(self) -> None:

        if self.degraded:
            return
        tx = self.tx
        heading(tx("h_actions"))
        advice = segment_advice(self.cur, self.language)
        n_stages, n_groups = len(STAGES), len(STRATEGY_GROUPS)
        for title, paragraphs in ((tx("h_actions_stages"), advice[:n_stages]),
                                  (tx("h_actions_groups"), advice[n_stages:n_stages + n_groups]),
                                  (tx("h_actions_clusters"), advice[n_stages + n_groups:])):
            if paragraphs:
                heading(title, 3)
                say("\n\n".join(paragraphs))
