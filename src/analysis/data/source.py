"""A validated data source: its DuckDB views, data-quality notes and counts, and its fingerprint.

Made by :func:`analysis.data.loading.load_source`; every analysis reads its data through one.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import duckdb
import pandas as pd

from analysis.data.contract import REQUIRED
from analysis.data.dates import BUSINESS_TIMEZONE
from analysis.data.engine import BYTES, SpillWatch
from analysis.data.locations import location
from analysis.data.tables import TableFile


class Source:
    """A validated data source: DuckDB views ``transactions``, ``customers``, ``assignments``.

    Use :func:`~analysis.data.loading.load_source` to make one. ``transactions`` holds only rows on or
    before ``as_of`` (later rows are excluded and counted in :attr:`quality`).

    Attributes
    ----------
    path : Path
        Where the data came from.
    as_of : pd.Timestamp
        The analysis date (midnight); transactions on that day count.
    con : duckdb.DuckDBPyConnection
        Connection holding the validated views.
    notes : list of str
        Data-quality sentences for reports (excluded rows, refunds, ...).
    quality : dict
        Data-quality counts behind the notes.
    """

    def __init__(self, path: Path, con: duckdb.DuckDBPyConnection, tables: dict[str, TableFile], as_of: pd.Timestamp,
                 timezone: str = BUSINESS_TIMEZONE):
        self.path = path
        self.con = con
        self._tables = tables
        self.as_of = as_of
        self.timezone = timezone
        self._notes: list[str] = []
        self._quality: dict[str, int | float] = {}
        # Counts that only describe the data (never refuse it) and cost a scan of their own are
        # taken when notes or quality are first read: ``kanta customers`` never pays for them.
        self._deferred: list = []
        self._loading = True  # validation is under way: notes are still being written, nothing deferred runs
        #: customers columns holding personal data -> what was found (``name`` = by column name,
        #: ``email`` / ``phone`` / ``identity_code`` = by value); kept out of the customer table.
        self.personal_columns: dict[str, str] = {}
        self._fingerprint: str | None = None
        #: a ``.sql`` source definition's connection: locked to its folders (:mod:`analysis.data.sandbox`), so
        #: outputs are written through a connection of their own
        self.sandboxed = False

    @property
    def notes(self) -> list[str]:
        """Data-quality sentences for reports (deferred counts are taken on first read)."""
        self._settle()
        return self._notes

    @property
    def quality(self) -> dict[str, int | float]:
        """Data-quality counts behind the notes (deferred counts are taken on first read)."""
        self._settle()
        return self._quality

    def add_note(self, text: str, **counts) -> None:
        """Add a note (once) and the counts behind it, without taking the deferred counts."""
        self._quality.update(counts)
        if text not in self._notes:
            self._notes.append(text)

    def notes_so_far(self) -> list[str]:
        """The notes without the deferred counts (for a command that must not pay for them, e.g. spill notes)."""
        return list(self._notes)

    def recorded(self, key: str, default=None):
        """A quality count already taken (``default`` when not), without taking the deferred counts."""
        return self._quality.get(key, default)

    def _defer(self, count) -> None:
        """Run ``count(source, position)`` when notes or quality are first read; its note goes at ``position``."""
        self._deferred.append((count, len(self._notes)))

    def _settle(self) -> None:
        while self._deferred and not self._loading:
            count, position = self._deferred.pop(0)
            count(self, position)

    @property
    def temp_directory(self) -> str:
        """Where DuckDB spills what does not fit in its memory limit."""
        return self.con.execute("SELECT current_setting('temp_directory')").fetchone()[0]

    @property
    def memory_limit(self) -> str:
        """DuckDB's memory limit for this source, as DuckDB prints it (e.g. ``2.7 GiB``)."""
        return self.con.execute("SELECT current_setting('memory_limit')").fetchone()[0]

    @property
    def memory_limit_bytes(self) -> int:
        """:attr:`memory_limit` in bytes."""
        number, unit = self.memory_limit.split()
        return int(float(number) * BYTES.get(unit, 1))

    def spill_watch(self):
        """Context manager around a heavy query: notes when DuckDB spilled to its temp directory."""
        return SpillWatch(self)

    def has(self, table: str) -> bool:
        """Whether the source holds ``table``."""
        return table in self._tables

    def sql(self, query: str, params: list | None = None) -> pd.DataFrame:
        """Run a query against the validated views and return a DataFrame."""
        return self.con.execute(query, params or []).df()

    def transactions(self) -> pd.DataFrame:
        return self.sql("SELECT * FROM transactions")

    def customers(self) -> pd.DataFrame:
        if not self.has("customers"):
            return pd.DataFrame(columns=["customer_id", "signup_date"])
        return self.sql("SELECT * FROM customers")

    def assignments(self) -> pd.DataFrame:
        if not self.has("assignments"):
            return pd.DataFrame(columns=list(REQUIRED["assignments"]))
        return self.sql("SELECT * FROM assignments")

    def columns(self, table: str) -> list[str]:
        """Column names of a validated view."""
        return [r[0] for r in self.con.execute(f"DESCRIBE {table}").fetchall()]

    @property
    def fingerprint(self) -> str:
        """SHA-256 over the input files (names and bytes), computed on first use."""
        if self._fingerprint is None:
            h = hashlib.sha256()
            for name in sorted(self._tables):
                for f in sorted(self._tables[name].files):
                    h.update(f"{name}/{f.name}\n".encode())
                    with open(f, "rb") as fh:
                        for chunk in iter(lambda: fh.read(1 << 20), b""):
                            h.update(chunk)
            self._fingerprint = h.hexdigest()
        return self._fingerprint

    def files_signature(self) -> list:
        """Name, size and modification time of every input file: cheap to compare, changes when a file does."""
        out = []
        for name in sorted(self._tables):
            for f in sorted(self._tables[name].files):
                st = os.stat(f)
                out.append([name, str(Path(f).resolve()), st.st_size, st.st_mtime_ns])
        return out

    def record(self) -> dict:
        """What validating this source found, for :func:`reopen_source` in another process of the same run.

        Takes the deferred counts (a report reads them anyway). Plain values only (JSON-safe).
        """
        return {"path": str(location(str(self.path))), "as_of": str(self.as_of.date()), "timezone": self.timezone,
                "files": self.files_signature(), "notes": list(self.notes), "quality": dict(self.quality),
                "personal_columns": dict(self.personal_columns)}

    def summary(self) -> str:
        """A short human summary of what was loaded."""
        q = self.quality
        lines = [
            f"source {self.path}: valid (as of {self.as_of.date()})",
            f"  transactions: {q.get('transactions', 0):,} rows, {q.get('buyers', 0):,} customers, "
            f"{q.get('first_day', '')} .. {q.get('last_day', '')}",
        ]
        if self.has("customers"):
            lines.append(f"  customers: {q.get('customers', 0):,} rows")
        if self.has("assignments"):
            lines.append(f"  assignments: {q.get('assignments', 0):,} rows, {q.get('experiments', 0)} experiments")
        if self.has("contacts"):
            lines.append(f"  contacts: {q.get('contacts', 0):,} rows")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"Source({str(self.path)!r}, as_of={self.as_of.date()}, tables={sorted(self._tables)})"
