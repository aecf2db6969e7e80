"""Dates of a run: the business time zone, date parameters and month ends.

Parameters are read strictly (ISO dates only), so ``01.02.2026`` or ``today`` never silently becomes a date.
"""
from __future__ import annotations

import os
import re

import pandas as pd

from analysis.errors import ParameterError

#: Timestamps with an offset (and TIMESTAMPTZ columns) are converted to this zone's wall-clock time.
BUSINESS_TIMEZONE = "Europe/Helsinki"
#: The operator's choice of business time zone for a run (``kanta ... --timezone``); notebooks inherit it.
TIMEZONE_VARIABLE = "KANTA_TIMEZONE"


def business_timezone(timezone: str | None = None) -> str:
    """The business time zone: the one given, else the run's ``--timezone``, else Europe/Helsinki (never the machine's).

    Example
    -------
    >>> business_timezone("Europe/Stockholm")
    'Europe/Stockholm'
    """
    return timezone or os.environ.get(TIMEZONE_VARIABLE) or BUSINESS_TIMEZONE


_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$")


def parse_date(value, what: str = "as_of") -> pd.Timestamp:
    """A date parameter as a midnight Timestamp; a clear ParameterError otherwise.

    Text must be an ISO date (``2026-10-31``, optionally with a time): ``01.02.2026`` would
    silently become 2 January and ``today`` would read the clock.
    """
    if isinstance(value, str) and not _ISO_DATE.match(value.strip()):
        ts = pd.NaT
    else:
        try:
            ts = pd.Timestamp(value)
        except (ValueError, TypeError):
            ts = pd.NaT
    if ts is pd.NaT or pd.isna(ts):
        raise ParameterError(f"{what}: got {value!r}, expected a date like 2026-10-31.")
    return ts.normalize()


def month_end(as_of) -> pd.Timestamp:
    """The last day of the month of ``as_of``."""
    return (parse_date(as_of) + pd.offsets.MonthEnd(0)).normalize()


def previous_month_end(as_of) -> pd.Timestamp:
    """The last day of the month before ``as_of``'s month."""
    return (parse_date(as_of).replace(day=1) - pd.Timedelta(days=1)).normalize()


_PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def period_end(period: str) -> pd.Timestamp:
    """``'2026-10'`` -> Timestamp('2026-10-31')."""
    if not _PERIOD.match(str(period)):
        raise ParameterError(f"--period: got {period!r}, expected a month like 2026-10.")
    return month_end(pd.Timestamp(f"{period}-01"))
