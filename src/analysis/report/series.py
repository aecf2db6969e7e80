"""The report series: what consecutive months published into one report folder must share.

The churn threshold of a series is fixed by its first month and read back from the published manifests, so a
young log whose data-driven threshold grows (120 -> 150 -> 180 days) does not move the rule under the series.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from analysis.churn import churn_threshold
from analysis.errors import ModelError
from analysis.report.site import PERIOD_RE

#: How the month's threshold was decided.
ORIGINS = ("first", "series", "operator")


@dataclass(frozen=True)
class SeriesThreshold:
    """The churn threshold of one month of a report series and where it came from.

    Attributes
    ----------
    inactivity_days : int or None
        The threshold to use; None when this month starts the series without an operator's value
        (the data-driven rule decides it, and later months keep it).
    origin : {"first", "series", "operator"}
        "first": the month starts the series; "series": kept from the published month ``from_period``;
        "operator": set with ``--param inactivity_days=N``.
    since : str
        The month (``YYYY-MM``) from which the series has used this threshold.
    previous : int or None
        The series' threshold before this month (None when the month starts the series).
    from_period : str or None
        The published month whose manifest the series' threshold was read from.
    data_driven_days : int or None
        What the data-driven rule gives at this month end (filled in by the run when it is not used).
    """

    inactivity_days: int | None
    origin: str
    since: str
    previous: int | None = None
    from_period: str | None = None
    data_driven_days: int | None = None

    @property
    def changed(self) -> bool:
        """The operator set a threshold other than the series' one this month."""
        return self.previous is not None and self.inactivity_days is not None and self.inactivity_days != self.previous

    def resolved(self, days: int, data_driven_days: int | None = None) -> "SeriesThreshold":
        """The same record with the threshold the month actually used (and the data-driven one beside it)."""
        return SeriesThreshold(int(days), self.origin, self.since, self.previous, self.from_period,
                               None if data_driven_days is None else int(data_driven_days))

    def to_dict(self) -> dict:
        return {**asdict(self), "changed": self.changed}


def published_thresholds(out) -> dict[str, tuple[int, str]]:
    """``{period: (inactivity_days, since)}`` of every month published in the report folder ``out``.

    A manifest written before the series existed gives its resolved setting (``parameters.inactivity_days``)
    and its own month as ``since``; an unreadable manifest is skipped (the folder check guards what is in it).
    """
    out = Path(out)
    found = {}
    if not out.is_dir():
        return found
    for folder in out.iterdir():
        path = folder / "manifest.json"
        if not (PERIOD_RE.match(folder.name) and path.is_file()):
            continue
        try:
            m = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        days = m.get("inactivity_days", (m.get("parameters") or {}).get("inactivity_days"))
        if isinstance(days, int) and not isinstance(days, bool) and days > 0:
            since = (m.get("series_threshold") or {}).get("since") or folder.name
            found[folder.name] = (days, since)
    return found


def series_threshold(out, month, given: int | None = None) -> SeriesThreshold:
    """The churn threshold of ``month`` in the report series published in ``out``.

    The latest published month before ``month`` holds the series' threshold (when ``month`` is rendered
    before every published month, the earliest of them does); the operator's ``given`` value replaces
    it from this month on. Without a published month and without ``given`` the month starts the series
    with the data-driven threshold.

    Example
    -------
    >>> series_threshold("no-such-folder", "2011-03")
    SeriesThreshold(inactivity_days=None, origin='first', since='2011-03', previous=None, from_period=None, data_driven_days=None)
    """
    month = str(pd.Period(str(month), freq="M"))
    published = {p: v for p, v in published_thresholds(out).items() if p != month}
    earlier = sorted(p for p in published if p < month)
    source = earlier[-1] if earlier else (min(published) if published else None)
    if source is None:
        if given is not None:
            return SeriesThreshold(int(given), "operator", month)
        return SeriesThreshold(None, "first", month)
    days, since = published[source]
    if given is not None and int(given) != days:
        return SeriesThreshold(int(given), "operator", month, previous=days, from_period=source)
    if given is not None:
        return SeriesThreshold(days, "operator", since, previous=days, from_period=source)
    return SeriesThreshold(days, "series", since, previous=days, from_period=source)


def month_threshold(record: SeriesThreshold, source, as_of, used_days: int) -> SeriesThreshold:
    """``record`` resolved to the threshold the month used, with the data-driven threshold at ``as_of`` beside it.

    The data-driven value is what the page compares the series' threshold with ("the data alone would now
    say 180 days"); a log without a repeat purchase has none (None).
    """
    if record.origin == "first":
        return record.resolved(used_days, used_days)
    try:
        data_driven = churn_threshold(source, as_of)
    except ModelError:
        data_driven = None
    return record.resolved(used_days, data_driven)
