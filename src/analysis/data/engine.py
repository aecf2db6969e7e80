"""The DuckDB engine a source runs in: the connection with its memory limit and temp directory.

Also the spill watch (notes when a query spilled to disk) and quoting names and values into DuckDB SQL.
"""
from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import threading
import weakref
from typing import TYPE_CHECKING

import duckdb

from analysis.errors import ParameterError

if TYPE_CHECKING:
    from analysis.data.source import Source  # local: annotations only (source.py imports this module)


def quote_ident(identifier: str) -> str:
    """A column or table name quoted for DuckDB SQL (in double quotes, inner double quotes doubled)."""
    return '"' + identifier.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    """A value as a DuckDB string literal: ``Kanta's`` -> ``'Kanta''s'``."""
    return "'" + str(text).replace("'", "''") + "'"


#: The SQL type money is summed in: exact decimals (a sum of DOUBLEs depends on the order the engine adds
#: them in, so the same month could differ in its last digits between runs). Four decimals keep sub-cent
#: prices exact; 18 digits hold every amount below :data:`MONEY_LIMIT`. DuckDB and Spark spell it alike.
MONEY_TYPE = "DECIMAL(18, 4)"
#: Amounts and margins must be smaller than this in size (validation refuses larger ones).
MONEY_LIMIT = 10**14


def money_sql(expr: str) -> str:
    """``expr`` (an amount as DOUBLE) as :data:`MONEY_TYPE`, so ``SUM`` over it is exact in any order.

    Example
    -------
    >>> amounts = "(VALUES (0.1::DOUBLE), (0.2::DOUBLE)) t(x)"
    >>> duckdb.connect().execute(f"SELECT SUM(x) = 0.3, SUM({money_sql('x')}) = 0.3 FROM {amounts}").fetchone()
    (False, True)
    """
    return f"CAST({expr} AS {MONEY_TYPE})"


def first_line(exc: Exception) -> str:
    """The first line of an engine's error (at most 200 characters), for a one-sentence message."""
    return str(exc).strip().splitlines()[0][:200]


#: Ceiling of the default DuckDB memory limit: with Python's own share a run stays under 4 GB.
DEFAULT_MEMORY_CEILING = 3 * 2**30
_MIN_MEMORY = 256 * 2**20
BYTES = {"bytes": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40, "PiB": 2**50}


def machine_memory() -> int | None:
    """Physical memory of the machine in bytes (``None`` where the system does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def default_memory_limit(total: int | None = None) -> str:
    """DuckDB's memory limit when the run names none: an eighth of the machine's memory, at most 3 GB.

    DuckDB's own default (80 % of the machine) let a 100M-row log take 11.6 GB; under this limit big
    aggregates spill to the temp directory instead, and a laptop keeps room for the notebooks.

    Example
    -------
    >>> default_memory_limit(24 * 2**30), default_memory_limit(8 * 2**30)
    ('3072MiB', '1024MiB')
    """
    total = machine_memory() if total is None else total
    limit = DEFAULT_MEMORY_CEILING if not total else max(_MIN_MEMORY, min(DEFAULT_MEMORY_CEILING, total // 8))
    return f"{limit // 2**20}MiB"


def _temp_directory() -> str:
    """A temp directory name of this connection's own, in the system's temp folder.

    Not created here: DuckDB creates it when a query first spills and removes it when the
    connection closes, so a run that never spills (or a notebook kernel that is killed) leaves nothing.
    """
    return os.path.join(tempfile.gettempdir(), f"kanta-duckdb-{os.getpid()}-{secrets.token_hex(6)}")


class SpillWatch:
    """Watches a source's DuckDB temp directory while a query runs; notes the peak when it spilled.

    DuckDB deletes its temp files when a query ends, so the directory is measured every 0.2 s
    from a thread while the query runs (DuckDB releases the GIL).
    """

    def __init__(self, src: Source):
        self.src = src
        self.peak = 0
        self._stop = None

    def _size(self) -> int:
        try:
            return sum(e.stat().st_size for e in os.scandir(self._folder) if e.is_file())
        except OSError:
            return 0

    def _watch(self) -> None:
        while not self._stop.wait(0.2):
            self.peak = max(self.peak, self._size())

    def __enter__(self):
        self._folder = self.src.temp_directory  # read here: the connection is busy while the thread runs
        self._limit = self.src.memory_limit
        if self._folder:
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._watch, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, kind, exc, tb) -> None:
        if self._stop is not None:
            self._note()
        if kind is not None and issubclass(kind, duckdb.OutOfMemoryException):
            raise ParameterError(f"memory_limit: the query needs more than DuckDB's memory limit {self._limit} even "
                                 f"when spilling to disk ({first_line(exc)[:120]}); expected a larger limit, e.g. "
                                 "--memory-limit 3GB.") from None

    def _note(self) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._size())
        if self.peak:
            q = self.src._quality
            q["spilled_bytes"] = max(q.get("spilled_bytes", 0), self.peak)
            note = next((i for i, n in enumerate(self.src._notes) if n.startswith("The run spilled")), None)
            size = q["spilled_bytes"]
            size = f"{size / 2**30:,.1f} GB" if size >= 2**30 else f"{max(size / 2**20, 0.1):,.1f} MB"
            text = (f"The run spilled up to {size} to disk (DuckDB memory limit "
                    f"{self._limit}): slower than in memory, but within the limit.")
            if note is None:
                self.src._notes.append(text)
            else:
                self.src._notes[note] = text


def duckdb_connection(memory_limit: str | None = None, threads: int | None = None) -> duckdb.DuckDBPyConnection:
    """The in-memory DuckDB connection a source is loaded into, with the run's limits.

    Without ``memory_limit`` the limit is :func:`default_memory_limit` (from the machine's memory)
    and DuckDB spills what does not fit to a temp directory of the connection's own in the
    system's temp folder (``TMPDIR``), removed with the connection.
    """
    temp = _temp_directory()
    config = {"memory_limit": memory_limit or default_memory_limit(), "temp_directory": temp}
    if threads:
        config["threads"] = threads
    try:
        con = duckdb.connect(":memory:", config=config)
    except duckdb.Error:
        shutil.rmtree(temp, ignore_errors=True)
        raise ParameterError(f"memory_limit: got {memory_limit!r}, expected a size like 3GB." if memory_limit else
                             f"threads: got {threads!r}, expected a whole number >= 1.") from None
    weakref.finalize(con, shutil.rmtree, temp, True)
    try:
        con.execute("SET enable_progress_bar = false")
    except duckdb.Error:  # inside Jupyter without ipywidgets DuckDB refuses to change the setting at all
        pass
    # give freed query memory back to the system soon: the report process and its notebook kernels run side by side
    try:
        con.execute("SET allocator_flush_threshold = '32MB'")
        con.execute("SET allocator_background_threads = true")
    except duckdb.Error:  # settings of the process's DuckDB instance: a DuckDB without them works as before
        pass
    return con
