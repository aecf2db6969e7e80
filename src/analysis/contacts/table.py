"""The contacts table of a source: the check that a source has one, and how contact queries open a source.

Shared by the drop-out model, complaint handling, marketing pressure and satisfaction.
"""
from __future__ import annotations

import pandas as pd

from analysis.data import Source, load_source
from analysis.errors import DataError


def open_source(source, as_of) -> Source:
    """``source`` itself when it is a validated source, else the source loaded from that path at ``as_of``."""
    return source if isinstance(source, Source) else load_source(source, as_of=as_of)


def require_contacts(src) -> None:
    """Raise DataError when the source has no contacts table."""
    if not src.has("contacts"):
        raise DataError(f"contacts: the source {src.path} has no contacts table (contacts.csv, contacts.parquet, a "
                        "contacts/ folder or a view named contacts); expected one for the contact analyses.")


def date_sql(ts: pd.Timestamp) -> str:
    """The day of ``ts`` as a SQL timestamp literal (midnight)."""
    return f"TIMESTAMP '{ts.strftime('%Y-%m-%d')}'"
