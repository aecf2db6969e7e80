"""Database sources: a PostgreSQL URL read through ADBC into Arrow and on into DuckDB.

The tables stream from the server (``COPY`` in binary, Arrow record batches) straight into DuckDB
tables, once, and are then validated by the same code as files (:func:`analysis.data.sources.validate_tables`).

Other ADBC drivers (``adbc-driver-snowflake``, ``adbc-driver-bigquery``) hand over Arrow the same
way and could be plugged in beside :func:`load_database`; only PostgreSQL is tested.
"""
from __future__ import annotations

import hashlib
import os
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from analysis.data import sources as data
from analysis.errors import DataError, ParameterError

SCHEMES = ("postgresql://", "postgres://")
#: Passwords this process was given in URLs, by the URL's shown text (never written anywhere): a
#: child process that reads the same source (a report notebook) gets it as ``PGPASSWORD``
#: (:func:`child_environment`), never in a parameter.
_PASSWORDS: dict[str, str] = {}
#: The optional extra that brings the driver: ``pip install 'kanta[postgres]'``.
EXTRA = "postgres"


def is_database_url(value) -> bool:
    """Whether a source argument is a database URL rather than a file or folder.

    Example
    -------
    >>> is_database_url("postgresql://kanta@db.example.com/crm"), is_database_url("data/sample")
    (True, False)
    """
    return isinstance(value, str) and value.lower().startswith(SCHEMES)


class DatabaseURL(str):
    """A database URL whose text never holds the password (it is kept apart, for connecting only).

    The text is what messages, ``Source.path``, manifests and notebook parameters show; the
    password given in the URL (``user:secret@``) or its query (``?password=``) is not part of it and
    is not pickled. Without a password in the URL, libpq reads ``PGPASSWORD`` or ``~/.pgpass``.

    Example
    -------
    >>> url = DatabaseURL("postgresql://kanta:s3cret@db.example.com:5432/crm?schema=sales")
    >>> str(url), url.schema
    ('postgresql://kanta@db.example.com:5432/crm?schema=sales', 'sales')
    >>> "s3cret" in repr(url) + str(url)
    False
    """

    def __new__(cls, url: str):
        if isinstance(url, DatabaseURL):
            return url
        parts = urlsplit(str(url).strip())
        if parts.scheme.lower() not in ("postgresql", "postgres"):
            raise ParameterError(f"source: {parts.scheme}:// URLs are not supported; expected postgresql://.")
        userinfo, at, hostinfo = parts.netloc.rpartition("@")
        user, colon, password = userinfo.partition(":")
        query = parse_qsl(parts.query, keep_blank_values=True)
        schema = next((v for k, v in query if k == "schema"), None)
        password = next((v for k, v in query if k == "password"), password if colon else None)
        shown_query = urlencode([(k, v) for k, v in query if k != "password"], safe="/")
        shown = urlunsplit((parts.scheme, f"{user}{at}{hostinfo}", parts.path, shown_query, ""))
        self = super().__new__(cls, shown)
        self.schema = schema or None
        self._password = password or None
        if self._password:
            _PASSWORDS[shown] = self._password
        self._connect = urlunsplit((parts.scheme, parts.netloc, parts.path,
                                    urlencode([(k, v) for k, v in query if k != "schema"]), ""))
        return self

    def __repr__(self) -> str:
        return f"DatabaseURL({str(self)!r})"

    def __reduce__(self):  # pickles (saved customer bases, notebook parameters) never carry the password
        return DatabaseURL, (str(self),)

    def mask(self, text: str) -> str:
        """``text`` with the password (as given, percent-encoded, or from ``PGPASSWORD``) replaced by ``***``."""
        text = str(text)
        for password in {self._password, os.environ.get("PGPASSWORD")} - {None, ""}:
            for form in {password, quote(password, safe="")}:
                text = text.replace(form, "***")
        return text


def child_environment(source) -> dict[str, str]:
    """Environment variables a child process needs to read ``source`` as this process does.

    A report notebook runs in its own process and receives the source as text, which never holds
    the password (:class:`DatabaseURL`); when this process was given the URL with a password, the
    child gets it as ``PGPASSWORD``, which libpq reads when the URL has none. Empty for files,
    folders and URLs given without a password (the child then inherits ``PG*`` and ``~/.pgpass``).

    Example
    -------
    >>> url = DatabaseURL("postgresql://kanta:s3cret@db.example.com/crm")
    >>> child_environment(str(url)), child_environment("data/sample")
    ({'PGPASSWORD': 's3cret'}, {})
    """
    if not is_database_url(source):
        return {}
    password = source._password if isinstance(source, DatabaseURL) else _PASSWORDS.get(str(DatabaseURL(source)))
    return {"PGPASSWORD": password} if password else {}


def location(value):
    """A source argument as it is passed on: a :class:`DatabaseURL`, else an absolute :class:`~pathlib.Path`."""
    from pathlib import Path

    return DatabaseURL(value) if is_database_url(value) else Path(value).resolve()


def _driver():
    try:
        import adbc_driver_postgresql.dbapi as dbapi
    except ImportError:
        raise ParameterError(f"source: reading a postgresql:// source needs the ADBC PostgreSQL driver; install it "
                             f"with pip install 'kanta[{EXTRA}]'.") from None
    return dbapi


def _quoted(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def load_database(url, as_of=None, memory_limit: str | None = None, threads: int | None = None,
                  timezone: str | None = None) -> data.Source:
    """Read the contract's tables from a PostgreSQL database and validate them like files.

    Parameters
    ----------
    url : str
        ``postgresql://user@host:port/dbname[?schema=crm]``; credentials from the URL, the
        ``PG*`` environment variables or ``~/.pgpass`` (libpq's usual order).
    as_of, memory_limit, threads, timezone
        As in :func:`analysis.data.sources.load_source`.

    Returns
    -------
    analysis.data.sources.Source
        ``path`` is the URL without its password; ``fingerprint`` is computed over the rows read.

    Example
    -------
    >>> load_database("postgresql://kanta@localhost:5432/crm?schema=sales")  # doctest: +SKIP
    """
    url = DatabaseURL(url)
    dbapi = _driver()
    con = data.duckdb_connection(memory_limit, threads)
    try:
        conn = dbapi.connect(url._connect)
    except dbapi.Error as exc:
        raise DataError(f"source: could not connect to {url} ({_detail(exc, url)}).") from None
    tables: dict[str, data._TableFile] = {}
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
            for name in (n for n in data.TABLES if n in found):
                # One pass: the driver streams COPY output as Arrow batches, DuckDB stores them as they come.
                cur.execute(f"SELECT * FROM {_quoted(schema)}.{_quoted(name)}")
                con.from_arrow(cur.fetch_record_batch()).create(f"pg_{name}")
                tables[name] = data._TableFile(name, "duckdb", _quoted(f"pg_{name}"))
    except dbapi.Error as exc:
        raise DataError(f"source: could not read from {url} ({_detail(exc, url)}).") from None
    finally:
        conn.close()
    src = data.validate_tables(con, tables, url, as_of, timezone=timezone)
    src._fingerprint = _fingerprint(con, tables)
    return src


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
