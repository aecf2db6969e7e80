"""Moves between segments: transition matrices and this month's segments against last month's.
:class:`MonthlySegments` holds both months; :func:`monthly_segments` computes them from a source.
"""
from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.data import previous_month_end
from analysis.errors import ModelError
from analysis.segments.segmentation import Segmentation, as_source, segment_customers
from analysis.segments.settings import (ABC_CLASSES, NO_PURCHASE, NOT_REGISTERED, STAGES, STRATEGY_GROUPS, as_date,
                                        json_records)


def transition_matrix(before: pd.Series, after: pd.Series, order=None, normalize: bool = False) -> pd.DataFrame:
    """Customers moving from one label (rows, last month) to another (columns, this month).

    Parameters
    ----------
    before, after : Series indexed by customer_id
        Labels at the two dates; customers only in ``after`` come from the row "not_registered",
        customers in ``before`` without a label (a prospect has no pyramid class) from the row
        "prospect"; customers without a label in ``after`` are left out (so the matrix counts the
        customers that have a label now, as the month's counts do).
    order : sequence, optional
        Label order for rows and columns.
    normalize : bool
        Shares of each row (where did last month's "active" go) instead of counts.

    Example
    -------
    >>> b = pd.Series({"x": "active", "y": "active"}); a = pd.Series({"x": "active", "y": "lapsing", "z": "new"})
    >>> int(transition_matrix(b, a, ["new", "active", "lapsing"]).loc["active", "lapsing"])
    1
    """
    after = after.dropna()
    return _transitions(before.reindex(after.index).to_numpy(object), after.index.isin(before.index),
                        after.to_numpy(), order, normalize)


def _transitions(before: np.ndarray, known: np.ndarray, after: np.ndarray, order=None,
                 normalize: bool = False) -> pd.DataFrame:
    """:func:`transition_matrix` on aligned arrays: last month's label of each customer labelled now (``known``:
    registered last month), and this month's label."""
    start = np.where(~known, NOT_REGISTERED, np.where(pd.isna(before), NO_PURCHASE, before)).astype(object)
    m = pd.crosstab(start, after)
    if order is not None:
        extra = [k for k in (NO_PURCHASE, NOT_REGISTERED) if k in m.index and k not in order]
        rows = list(order) + extra
        m = m.reindex(index=rows, columns=list(order), fill_value=0)
    m.index.name, m.columns.name = "from", "to"
    if normalize:
        m = m.div(m.sum(axis=1).replace(0, np.nan), axis=0)
    return m


@dataclass(frozen=True)
class MonthlySegments:
    """This month's and last month's segmentation, with the transitions between them."""

    current: Segmentation
    previous: Segmentation

    @classmethod
    def from_base(cls, base) -> "MonthlySegments":
        """The month's segments read from its customer base (:class:`analysis.base.state.CustomerBase`).

        Nothing is recomputed: this month's labels are the base's ``customers`` states (with the
        potential value the strategy groups were formed on: the CLV when the base segmented with
        one), last month's the base's previous-month segmentation, and the clusters the model the
        base fitted (with its carry-over).
        """
        seg = base.segmentation
        if seg is None or base.previous_segmentation is None:
            finding = next((f for f in base.findings if f.analysis == "segments"), None)
            raise ModelError(finding.detail if finding else "segments: the customer base has no segmentation.",
                             reason=finding.reason if finding else "not_estimable",
                             facts=dict(finding.facts) if finding else {})
        current = Segmentation.from_states(base.customers, base.as_of, seg.settings, clusters=seg.clusters,
                                           potential_basis=seg.potential_basis)
        current = dataclasses.replace(current, findings=tuple(seg.findings))
        return cls(current=current, previous=base.previous_segmentation)

    def won_back(self) -> int:
        """Customers passive at the previous month end who are in any other stage now.

        Under the one churn rule this is the month flow ``customers_returned`` of
        :func:`analysis.customers.activity.monthly_activity` (bought this month after being lost at the
        previous month end), not the stage "returned" (came back within ``returned_days``).
        """
        m = self.transitions("lifecycle_stage")
        return int(m.loc["passive"].drop("passive").sum()) if "passive" in m.index else 0

    def key_numbers(self) -> dict[str, dict[str, float | int | None]]:
        """Concept id -> {"value": now, "previous": at the previous month end} (``customers_returned`` has no previous)."""
        now, before = self.current.key_numbers(), self.previous.key_numbers()
        out = {k: {"value": v, "previous": before.get(k)} for k, v in now.items()}
        out["customers_returned"] = {"value": self.won_back(), "previous": None}
        return out

    def summary(self) -> pd.DataFrame:
        """Customers per lifecycle stage now, at the previous month end, and the change."""
        now, before = self.current.counts("lifecycle_stage"), self.previous.counts("lifecycle_stage")
        return pd.DataFrame({"lifecycle_stage": list(STAGES), "customers": now.to_numpy(),
                             "previous": before.to_numpy(), "change": (now - before).to_numpy()})

    def to_dict(self) -> dict:
        return {"as_of": self.current.as_of.date().isoformat(), "previous_as_of": self.previous.as_of.date().isoformat(),
                "stages": json_records(self.summary()), "won_back": self.won_back(),
                "key_numbers": self.key_numbers()}

    def _repr_html_(self) -> str:
        return (f"<p>Segments on {self.current.as_of.date()} against {self.previous.as_of.date()}</p>"
                + self.summary().to_html(index=False))

    @functools.cached_property
    def _previous_rows(self) -> np.ndarray:
        """Each current customer's row in last month's table (-1: not registered then); matched once per month."""
        return pd.Index(self.previous.table["customer_id"]).get_indexer(self.current.table["customer_id"])

    def transitions(self, column: str = "lifecycle_stage", normalize: bool = False) -> pd.DataFrame:
        """:func:`transition_matrix` of ``column`` between last month and this month."""
        order = {"lifecycle_stage": STAGES, "abc_class": ABC_CLASSES, "strategy_group": STRATEGY_GROUPS}[column]
        after = self.current.table[column].to_numpy(object)
        labelled = ~pd.isna(after)
        rows = self._previous_rows[labelled]
        # a row of -1 (not registered last month) reads a placeholder, masked by ``rows >= 0``; last month may be empty
        before = np.append(self.previous.table[column].to_numpy(object), None)[rows]
        return _transitions(before, rows >= 0, after[labelled], order, normalize)

    def biggest_movement(self, column: str = "lifecycle_stage") -> tuple[str, str, int]:
        """The largest flow between two different labels (from, to, customers), new registrations excluded."""
        m = self.transitions(column).drop(index=NOT_REGISTERED, errors="ignore")
        long = m.stack()
        long = long[[a != b for a, b in long.index]]
        if long.empty or long.max() == 0:
            return ("", "", 0)
        (a, b) = long.sort_values(ascending=False, kind="mergesort").index[0]
        return (str(a), str(b), int(long[(a, b)]))


def monthly_segments(source, as_of, with_clusters: bool = True, previous_centroids=None, **params) -> MonthlySegments:
    """Segment the base at ``as_of`` and at the previous month end; this month's clusters keep last month's numbers.

    ``previous_centroids`` are the centroids published with last month's report (see
    :func:`read_centroids`): last month's customers are numbered against them, so a cluster keeps
    its number from report to report, not only between the two months of one report.
    """
    as_of = as_date(as_of)
    src = as_source(source, as_of)
    prev = segment_customers(src, previous_month_end(as_of), with_clusters=with_clusters,
                             previous_clusters=previous_centroids, **params)
    cur = segment_customers(src, as_of, previous_clusters=prev.clusters, with_clusters=with_clusters, **params)
    return MonthlySegments(current=cur, previous=prev)

