"""The segments page of the monthly report: the month's segmentation in the reader's language.

:class:`SegmentsPage` returns one :class:`~analysis.report.section.Section` per notebook section, built from
the language-free results of :mod:`analysis.segments` (a :class:`~analysis.segments.MonthlySegments`) and
figures drawn in the notebook (:mod:`~analysis.report.pages.segments_figures`); words and tables are in
:mod:`~analysis.report.pages.segments_text`. Key numbers carry concept ids (:mod:`analysis.base.concepts`).
"""
from __future__ import annotations

import pandas as pd

from analysis.errors import ModelError
from analysis.findings import Finding
from analysis.report.numbers import KeyNumber
from analysis.report.pages.segments_figures import (PLOT_POINTS, plot_k_selection, plot_pyramid, plot_strategy_grid,
                                                    plot_transitions)
from analysis.report.pages.segments_text import (cluster_names, localise_matrix, pyramid_report, rfm_grid_report,
                                                 rfm_report, profile_report, segment_advice, stage_counts_report,
                                                 stage_label, stage_rules, strategy_report, strategy_rules, words)
from analysis.report.section import Section
from analysis.segments import CLASS_CONCEPTS, STAGE_CONCEPTS, STAGES, STRATEGY_GROUPS, MonthlySegments

__all__ = ["CARD_CONCEPTS", "PLOT_POINTS", "TRANSITIONS", "SegmentsPage", "cluster_names",
           "key_numbers", "localise_matrix", "plot_k_selection", "plot_pyramid", "plot_strategy_grid",
           "plot_transitions", "profile_report", "pyramid_report", "rfm_grid_report", "rfm_report", "segment_advice",
           "stage_counts_report", "stage_label", "stage_rules", "strategy_report", "strategy_rules", "words"]

#: The transition maps of the page: (segmentation column, string key of the figure).
TRANSITIONS = (("lifecycle_stage", "stage"), ("abc_class", "class"), ("strategy_group", "group"))


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
    """The segments page, one :class:`Section` per notebook section, each made from the result it is given.

    Parameters
    ----------
    monthly : MonthlySegments or None
        This month's and the previous month end's segmentation (e.g. :meth:`MonthlySegments.from_base`);
        None when the month has none (``finding`` says why: the first section shows it, the others are empty).
    language : {"en", "fi"}
    base : CustomerBase, optional
        The month's customer state: shared key numbers are read from it.

    Example
    -------
    >>> from analysis.base import BaseSettings, CustomerBase
    >>> page = SegmentsPage.from_base(CustomerBase.build("data/sample", "2026-10-31", BaseSettings(n_clusters=3)), "en")
    >>> page.stages().texts()[0]
    'Lifecycle stages'
    """

    SECTIONS = ("headline", "pyramid", "strategy", "stages", "rfm", "clusters", "transitions", "actions")

    def __init__(self, monthly: MonthlySegments | None, language: str = "en", base=None, finding=None):
        self.monthly, self.language, self.base, self.finding = monthly, language, base, finding
        self.tx = words(language)
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

    def _section(self) -> Section:
        return Section(self.language)

    def _stage(self, stage: str) -> str:
        return stage_label(stage, self.tx, self.cur.settings) if stage else self.tx("k_none")

    def sections(self) -> list[Section]:
        """Every section in page order, with the default figures."""
        return [getattr(self, name)() for name in self.SECTIONS]

    # -- one method per section --
    def headline(self, numbers: list[KeyNumber] | None = None) -> Section:
        """Title, intro, the key-number cards (the other numbers recorded for the manifest) and the biggest move."""
        tx = self.tx
        s = Section(self.language).heading(tx("title"), 1)
        if self.degraded:
            return s.finding(self.finding)
        s.text(tx("intro", date=tx.date(self.cur.as_of), previous=tx.date(self.prev.as_of),
                  n=tx.number(len(self.cur.table))))
        numbers = numbers if numbers is not None else key_numbers(self.monthly, self.base)
        s.heading(tx("h_key_numbers")).numbers(numbers[:len(CARD_CONCEPTS)]).record(numbers[len(CARD_CONCEPTS):])
        moved_from, moved_to, moved_n = self.monthly.biggest_movement("lifecycle_stage")
        s.text(tx("won_back_text", days=self.cur.settings.passive_days, returned_days=self.cur.settings.returned_days))
        if moved_n:
            s.text(tx("biggest_text", from_=self._stage(moved_from), to=self._stage(moved_to), n=tx.number(moved_n)))
        return s

    def pyramid(self, pyramid: pd.DataFrame | None = None, ax=None) -> Section:
        """The A/B/C pyramid (:meth:`Segmentation.pyramid`) as words, table and figure (``ax``, default
        :func:`plot_pyramid`)."""
        s = self._section()
        if self.degraded:
            return s
        tx, settings = self.tx, self.cur.settings
        pyramid = pyramid if pyramid is not None else self.cur.pyramid()
        a = pyramid.set_index("abc_class").loc["A"]
        s.heading(tx("h_pyramid")).text(tx(
            "pyramid_text_" + settings.value_basis, a=tx.pct(settings.a_share, 0), b=tx.pct(settings.b_share, 0),
            a_rev=tx.pct(a["revenue_share"], 0),
            prospects=tx.number(int((self.cur.table["lifecycle_stage"] == "prospect").sum()))))
        s.table(pyramid_report(pyramid, self.language), tx("cap_pyramid"))
        return s.figure(ax if ax is not None else plot_pyramid(pyramid, labels=tx), tx("fig_pyramid"),
                        tx("alt_pyramid"))

    def strategy(self, strategy: pd.DataFrame | None = None, ax=None) -> Section:
        """Keep / develop / change: the rules, the groups (:meth:`Segmentation.strategy_table`) and the grid
        (``ax``, default :func:`plot_strategy_grid`)."""
        s = self._section()
        if self.degraded:
            return s
        tx, settings, basis = self.tx, self.cur.settings, self.cur.potential_basis
        strategy = strategy if strategy is not None else self.cur.strategy_table()
        s.heading(tx("h_strategy")).text(tx("strategy_text"))
        s.table(strategy_rules(settings, self.language, basis), tx("cap_strategy_rules"))
        s.text(tx(f"potential_note_{basis}", months=settings.horizon_months))
        s.table(strategy_report(strategy, self.language, basis, settings.horizon_months), tx("cap_strategy"))
        s.figure(ax if ax is not None else plot_strategy_grid(self.cur.table, labels=tx), tx("fig_strategy"),
                 tx("alt_strategy"))
        buyers = int((self.cur.table["n_purchases"].fillna(0).astype(float) > 0).sum())
        if buyers > PLOT_POINTS:
            s.text(tx("strategy_plot_sample", n=tx.number(PLOT_POINTS), total=tx.number(buyers)))
        return s

    def stages(self) -> Section:
        """The lifecycle rules (first match wins) and the customers per stage now and at the previous month end."""
        s = self._section()
        if self.degraded:
            return s
        tx = self.tx
        s.heading(tx("h_stages")).text(tx("stages_text", returned_days=self.cur.settings.returned_days))
        s.table(stage_rules(self.cur.settings, self.language), tx("cap_stage_rules"))
        return s.table(stage_counts_report(self.monthly, self.language), tx("cap_stage_counts"))

    def rfm(self) -> Section:
        """The RFM grid (which scores make which segment) and the customers per named segment."""
        s = self._section()
        if self.degraded:
            return s
        tx = self.tx
        grid = rfm_grid_report(self.language).rename_axis("").reset_index()  # the R scores as the first column
        s.heading(tx("h_rfm")).text(tx("rfm_text")).table(grid, tx("cap_rfm_grid"))
        return s.table(rfm_report(self.cur, self.language), tx("cap_rfm"))

    def clusters(self, ax=None) -> Section:
        """The behavioural segments: how k was chosen (``ax``, default :func:`plot_k_selection`) and each cluster's
        profile, or the reason they could not be formed this month."""
        s = self._section()
        if self.degraded:
            return s
        tx, clusters = self.tx, self.cur.clusters
        s.heading(tx("h_clusters"))
        if clusters is None:
            finding = next((f for f in self.cur.findings if f.analysis == "segments.clusters"), None)
            return s.finding(finding) if finding is not None else s.text(tx("clusters_none"))
        fixed = self.cur.settings.n_clusters != "auto"
        s.text(tx("clusters_text_" + ("fixed" if fixed else "auto"), k=clusters.k_))
        s.figure(ax if ax is not None else plot_k_selection(clusters.selection_, labels=tx), tx("fig_k"), tx("alt_k"))
        names = cluster_names(clusters, self.cur.table, self.language)
        return s.table(profile_report(clusters.profile(self.cur.table), names, self.language), tx("cap_profile"))

    def transition_matrices(self, column: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        """``(shares, counts)`` of moves between the previous month end (rows) and now (columns), labels in words."""
        shares = self.monthly.transitions(column, normalize=True)
        counts = self.monthly.transitions(column)
        return tuple(localise_matrix(m, column, self.language, self.cur.settings) for m in (shares, counts))

    def transitions(self, axes=None) -> Section:
        """Moves since the previous month end: one heat map per :data:`TRANSITIONS` column (``axes`` in that order,
        default :func:`plot_transitions` of :meth:`transition_matrices`)."""
        s = self._section()
        if self.degraded:
            return s
        tx = self.tx
        moved_from, moved_to, moved_n = self.monthly.biggest_movement("lifecycle_stage")
        s.heading(tx("h_transitions")).text(tx(
            "transitions_text", previous=tx.date(self.prev.as_of), date=tx.date(self.cur.as_of),
            from_=self._stage(moved_from), to=self._stage(moved_to), n=tx.number(moved_n)))
        if axes is None:
            axes = [plot_transitions(shares, counts=counts, labels=tx)
                    for shares, counts in map(self.transition_matrices, (c for c, _ in TRANSITIONS))]
        for ax, (_, key) in zip(axes, TRANSITIONS):
            s.figure(ax, tx(f"fig_{key}_transitions"), tx(f"alt_{key}_transitions"))
        return s

    def actions(self) -> Section:
        """What to do with each lifecycle stage, strategy group and cluster (:func:`segment_advice`)."""
        s = self._section()
        if self.degraded:
            return s
        tx = self.tx
        s.heading(tx("h_actions"))
        advice = segment_advice(self.cur, self.language)
        n_stages, n_groups = len(STAGES), len(STRATEGY_GROUPS)
        for title, paragraphs in ((tx("h_actions_stages"), advice[:n_stages]),
                                  (tx("h_actions_groups"), advice[n_stages:n_stages + n_groups]),
                                  (tx("h_actions_clusters"), advice[n_stages + n_groups:])):
            if paragraphs:
                s.heading(title, 3).text("\n\n".join(paragraphs))
        return s
