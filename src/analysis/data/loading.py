"""Load a data source and check it against the data contract, inside DuckDB.

A source is a directory of CSV/Parquet files (or folders of Parquet parts), a
DuckDB database file, a ``.sql`` file of DuckDB view definitions that maps any
export onto the contract, or a PostgreSQL URL; every load is validated and bad input
raises a one-line :class:`~analysis.errors.DataError` before anything is computed or written.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

import duckdb
import pandas as pd

from analysis.data.contract import TABLES
from analysis.data.databases import load_database
from analysis.data.dates import BUSINESS_TIMEZONE, parse_date
from analysis.data.definitions import sql_definition
from analysis.data.engine import duckdb_connection, first_line, quote_ident, quote_literal
from analysis.data.source import Source
from analysis.data.tables import TableFile
from analysis.data.validation import validate_tables
from analysis.errors import DataError, ParameterError


# --- finding the tables -------------------------------------------------------
def _find_tables(path: Path, con: duckdb.DuckDBPyConnection) -> dict[str, TableFile]:
    found: dict[str, TableFile] = {}
    try:
        str(path.absolute()).encode("utf-8")
    except UnicodeEncodeError:  # DuckDB opens UTF-8 paths only: say so, not "the file is not UTF-8"
        shown = os.fsencode(str(path)).decode("utf-8", errors="backslashreplace")
        raise DataError(f"source: the path '{shown}' is not UTF-8 text, so its files cannot be opened; expected a "
                        "folder or file name in UTF-8 (rename it, or link it under a UTF-8 name).") from None
    if path.is_dir():
        for name in TABLES:
            csv_f, pq_f, pq_dir = path / f"{name}.csv", path / f"{name}.parquet", path / name
            if csv_f.is_file():
                found[name] = TableFile(name, "csv", str(csv_f), [csv_f])
            elif pq_f.is_file():
                found[name] = TableFile(name, "parquet", str(pq_f), [pq_f])
            elif pq_dir.is_dir():
                parts = sorted(pq_dir.rglob("*.parquet"))
                if not parts:
                    raise DataError(f"{name}: folder {pq_dir} holds no .parquet files (expected Parquet parts).")
                found[name] = TableFile(name, "parquet", str(pq_dir / "**" / "*.parquet"), parts)
        if "transactions" not in found:
            raise DataError(
                f"transactions: no transactions.csv, transactions.parquet or transactions/ folder in {path} "
                "(expected the transactions table of the data contract)."
            )
    elif path.is_file() and path.suffix.lower() == ".sql":
        found = sql_definition(path, con)
    elif path.is_file():
        try:
            con.execute(f"ATTACH {quote_literal(str(path))} AS src (READ_ONLY)")
        except duckdb.Error as exc:
            raise DataError(f"source: {path} is not a DuckDB database file ({first_line(exc)}).") from None
        rows = con.execute("SELECT table_schema, table_name, table_type FROM information_schema.tables "
                           "WHERE table_catalog = 'src' ORDER BY table_schema = 'main' DESC, table_schema").fetchall()
        for name in TABLES:
            homes = [(schema, kind) for schema, table, kind in rows if table.lower() == name]
            if len({schema for schema, _ in homes}) > 1 and homes[0][0] != "main":
                raise DataError(f"{name}: database {path} has a table {name!r} in several schemas "
                                f"({', '.join(sorted({s for s, _ in homes}))}); expected one, or one in schema main.")
            if homes:
                schema, kind = homes[0]
                found[name] = TableFile(name, "view" if kind == "VIEW" else "duckdb",
                                        f"src.{quote_ident(schema)}.{quote_ident(name)}", [path])
        if "transactions" not in found:
            names = sorted({r[1] for r in rows})
            raise DataError(f"transactions: database {path} has no table 'transactions' (found: {names or 'none'}).")
    else:
        raise DataError(f"source: {path} does not exist (expected a directory of CSV/Parquet files, a DuckDB "
                        "database file or a .sql source definition).")
    return found


def load_source(path, as_of=None, memory_limit: str | None = None, threads: int | None = None,
                timezone: str | None = None, tables: Iterable[str] | None = None) -> Source:
    """Open and validate a data source.

    Parameters
    ----------
    path : str or Path
        A directory with ``transactions.csv|.parquet|/`` (and optionally
        ``customers``, ``assignments``, ``campaigns``), a DuckDB database file, or a
        ``.sql`` source definition: DuckDB ``CREATE VIEW`` statements defining those
        tables from any export (relative paths resolve against the file's folder).
    as_of : date-like, optional
        Analysis date; transactions after it are excluded (and counted). Default:
        the date of the last transaction.
    memory_limit : str, optional
        DuckDB memory limit such as ``"3GB"`` for very large logs.
    timezone : str
        The business time zone (IANA name): timestamps with an offset and TIMESTAMPTZ
        columns are converted to its wall-clock time, whatever the machine's ``TZ``.
    tables : iterable of str, optional
        Read and validate only these of the contract's tables (``transactions`` always): a command that
        never reads contacts does not pay for checking them. Default: every table the source has.

    Returns
    -------
    Source

    Raises
    ------
    DataError
        When the data breaks the contract; the message names table, column,
        offending rows and what was expected.

    Example
    -------
    >>> src = load_source("data/sample", as_of="2026-10-31")  # doctest: +SKIP
    >>> src.sql("SELECT count(*) AS n FROM transactions")     # doctest: +SKIP
    """
    wanted = wanted_tables(tables)
    if isinstance(path, str) and path.startswith(("postgresql://", "postgres://")):
        return load_database(path, as_of, memory_limit, threads, timezone, tables=wanted)
    if isinstance(path, Source):
        return path if as_of is None or parse_date(as_of) == path.as_of else \
            load_source(path.path, as_of, timezone=path.timezone)
    path = Path(path)
    con = duckdb_connection(memory_limit, threads)
    found = _find_tables(path, con)
    return validate_tables(con, {n: t for n, t in found.items() if n in wanted}, path, as_of, timezone=timezone)


def wanted_tables(tables: Iterable[str] | None) -> frozenset[str]:
    """The contract's tables a load reads: ``tables`` and ``transactions``, or all of them.

    Example
    -------
    >>> sorted(wanted_tables(["customers"]))
    ['customers', 'transactions']
    >>> wanted_tables(["orders"])
    Traceback (most recent call last):
    ...
    analysis.errors.ParameterError: tables: got 'orders', expected some of transactions, customers, assignments, campaigns, contacts.
    """
    if tables is None:
        return frozenset(TABLES)
    unknown = [t for t in tables if t not in TABLES]
    if unknown:
        raise ParameterError(f"tables: got {', '.join(map(repr, unknown))}, expected some of {', '.join(TABLES)}.")
    return frozenset(tables) | {"transactions"}


def reopen_source(record: dict, memory_limit: str | None = None, threads: int | None = None) -> Source:
    """The source another process of this run validated (:meth:`Source.record`), opened without the checks again.

    A month's notebooks run in their own kernels minutes after the report process validated the
    data; at a million customers the checks (every row of transactions and contacts, unique IDs)
    take half a minute of CPU per kernel. Reopening makes the same views from the same files and
    takes the notes and counts from the record. When any file changed since (size or modification
    time), or the record is of a database source, the source is loaded and validated in full.

    Example
    -------
    >>> src = load_source("data/sample", as_of="2026-10-31")    # doctest: +SKIP
    >>> same = reopen_source(src.record())                        # doctest: +SKIP
    """
    path, as_of, timezone = record["path"], record["as_of"], record.get("timezone")
    if path.startswith(("postgresql://", "postgres://")):
        return load_source(path, as_of, memory_limit, threads, timezone)
    con = duckdb_connection(memory_limit, threads)
    tables = _find_tables(Path(path), con)
    probe = Source(Path(path), con, tables, parse_date(as_of), timezone or BUSINESS_TIMEZONE)
    try:
        same = probe.files_signature() == record["files"]
    except OSError:
        same = False
    if not same:
        return validate_tables(con, tables, Path(path), as_of, timezone=timezone)
    src = validate_tables(con, tables, Path(path), as_of, timezone=timezone, trusted=True)
    src._deferred.clear()
    src._notes[:] = record["notes"]
    src._quality.clear()
    src._quality.update(record["quality"])
    src.personal_columns = dict(record["personal_columns"])
    return src


def data_end(path, timezone: str | None = None) -> pd.Timestamp:
    """The day of the last transaction, read without the contract's row checks (one scan of the log).

    For choosing a report's month before the month's own load, which checks every row and refuses
    bad data with its sentence; data this cannot read is loaded in full here, for that sentence.
    """
    def last_day(src: Source):
        return src.sql("SELECT max(CAST(timestamp AS DATE)) AS d FROM transactions")["d"].iloc[0]

    if isinstance(path, Source):
        return pd.Timestamp(last_day(path))
    if not (isinstance(path, str) and path.startswith(("postgresql://", "postgres://"))):
        con = duckdb_connection()
        try:
            day = last_day(validate_tables(con, _find_tables(Path(path), con), Path(path), None, timezone=timezone,
                                           trusted=True))
        except Exception:  # noqa: BLE001 - unreadable without the checks: the full load below says why
            day = None
        if day is not None and not pd.isna(day):
            return pd.Timestamp(day)
    return pd.Timestamp(last_day(load_source(path, timezone=timezone)))
