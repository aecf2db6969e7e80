"""Database sources: a PostgreSQL URL read through ADBC into Arrow and on into DuckDB.

The tables stream from the server (``COPY`` in binary, Arrow record batches) straight into DuckDB
tables, once, and are then validated by the same code as files (:func:`analysis.data.validation.validate_tables`).

Other ADBC drivers (``adbc-driver-snowflake``, ``adbc-driver-bigquery``) hand over Arrow the same
way and could be plugged in beside :func:`load_database`; only PostgreSQL is tested.
"""
from __future__ import annotations

import hashlib
from typing import Iterable

from analysis.data.contract import TABLES
from analysis.data.engine import duckdb_connection
from analysis.data.locations import DatabaseURL
from analysis.data.source import Source
from analysis.data.tables import TableFile
from analysis.data.validation import validate_tables
from analysis.errors import DataError, ParameterError

#: The optional extra that brings the driver: ``pip install 'kanta[postgres]'``.
EXTRA = "postgres"


def _driver():
    try:
        import adbc_driver_postgresql.dbapi as dbapi  # local: optional driver, only for postgresql:// sources
    except ImportError:
        raise ParameterError(f"source: reading a postgresql:// source needs the ADBC PostgreSQL driver; install it "
                             f"with pip install 'kanta[{EXTRA}]'.") from None
    return dbapi


def _quoted(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def load_database(url, as_of=None, memory_limit: str | None = None, threads: int | None = None,
                  timezone: str | None = None, tables: Iterable[str] = TABLES) -> Source:
    """Read the contract's tables from a PostgreSQL database and validate them like files.

    Parameters
    ----------
    url : str
        ``postgresql://user@host:port/dbname[?schema=crm]``; credentials from the URL, the
        ``PG*`` environment variables or ``~/.pgpass`` (libpq's usual order).
    as_of, memory_limit, threads, timezone, tables
        As in :func:`analysis.data.loading.load_source`.

    Returns
    -------
    analysis.data.source.Source
        ``path`` is the URL without its password; ``fingerprint`` is computed over the rows read.

    Example
    -------
    >>> load_database("postgresql://kanta@localhost:5432/crm?schema=sales")  # doctest: +SKIP
    """
    url = DatabaseURL(url)
    dbapi = _driver()
    con = duckdb_connection(memory_limit, threads)
    try:
        conn = dbapi.connect(url._connect)
    except dbapi.Error as exc:
        raise DataError(f"source: could not connect to {url} ({_detail(exc, url)}).") from None
    wanted = set(tables)
    tables: dict[str, TableFile] = {}
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT coalesce($1, current_schema())", parameters=(url.schema,))
            schema = cur.fetchone()[0]
            cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = $1",
                        parameters=(schema,))
            found = sorted(r[0] for r in cur.fetchall())
            if "transactions" not in found:
                raise DataError(f"transactions: database {url} has no table 'transactions' in schema {schema!r} "
                                f"(found: {', '.join(found) or 'none'}).")
            reading = None
            for name in (n for n in TABLES if n in found and n in wanted):
                reading = name
                cur.execute("SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = $1 "
                            "AND table_name = $2 ORDER BY ordinal_position", parameters=(schema, name))
                columns = ", ".join(_column_sql(c, kind) for c, kind in cur.fetchall())
                # One pass: the driver streams COPY output as Arrow batches, DuckDB stores them as they come.
                cur.execute(f"SELECT {columns} FROM {_quoted(schema)}.{_quoted(name)}")
                con.from_arrow(cur.fetch_record_batch()).create(f"pg_{name}")
                tables[name] = TableFile(name, "duckdb", _quoted(f"pg_{name}"))
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 - driver, Arrow or DuckDB: a cut connection surfaces in any of them
        if not _is_read_error(exc, dbapi):
            raise
        what = f" table {reading}" if reading else ""
        raise DataError(f"source: could not read{what} from {url} ({_detail(exc, url)}); expected a connection "
                        "that stays open while the tables are read.") from None
    finally:
        try:
            conn.close()
        except Exception:  # noqa: BLE001 - closing a connection the server already cut
            pass
    src = validate_tables(con, tables, url, as_of, timezone=timezone)
    src._fingerprint = _fingerprint(con, tables)
    return src


def _column_sql(column: str, kind: str) -> str:
    """A column as read: ``money`` in currency units (the driver gives cents) and ``numeric`` of any precision as
    its exact text (parsed by the contract's checks like a CSV value); everything else as stored."""
    c = _quoted(column)
    if kind == "money":
        return f"CAST(CAST({c} AS numeric) AS text) AS {c}"
    if kind == "numeric":
        return f"CAST({c} AS text) AS {c}"
    return c


def _is_read_error(exc: Exception, dbapi) -> bool:
    import duckdb  # local: only to name the errors a cut stream surfaces as
    import pyarrow  # local: only to name the errors a cut stream surfaces as

    return isinstance(exc, (dbapi.Error, duckdb.Error, pyarrow.ArrowException, OSError))


def _detail(exc: Exception, url: DatabaseURL) -> str:
    """The driver's first line without the ADBC prefix, password masked."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    for prefix in ("IO: ", "[libpq] ", "Failed to connect: "):
        text = text.removeprefix(prefix)
    return url.mask(text)[:200]


def _fingerprint(con, tables: dict) -> str:
    """SHA-256 over each table's name, row count and an order-free hash of its rows."""
    h = hashlib.sha256()
    for name in sorted(tables):
        n, rows = con.execute(f"SELECT count(*), coalesce(sum(hash(t)::HUGEINT), 0) FROM pg_{name} AS t").fetchone()
        h.update(f"{name}\n{n}\n{rows}\n".encode())
    return h.hexdigest()
