"""Load a data source and check it against the data contract, inside DuckDB.

A source is a directory of CSV/Parquet files (or folders of Parquet parts), a
DuckDB database file or a ``.sql`` file of DuckDB view definitions that maps any
export onto the contract; every load is validated and bad input raises a one-line
:class:`~analysis.errors.DataError` before anything is computed or written.
"""
from __future__ import annotations

import csv
import glob
import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from analysis.data import privacy
from analysis.errors import DataError, ParameterError

TABLES = ("transactions", "customers", "assignments", "campaigns", "contacts")
REQUIRED = {
    "transactions": ("customer_id", "timestamp", "amount"),
    "customers": ("customer_id", "signup_date"),
    "assignments": ("experiment_id", "customer_id", "variant", "assigned_at"),
    "campaigns": ("experiment_id",),
    "contacts": ("customer_id", "timestamp", "direction", "channel", "type"),
}
#: Optional numeric columns of the campaign briefs (costs in currency units, margin as a share).
CAMPAIGN_NUMBERS = ("cost_fixed", "cost_per_contact", "margin_rate")
# Columns that identify a person by name (English and Finnish; see analysis.data.privacy for the rules and the
# patterns that find personal data by value): never carried into the customer table or reports.
PII_COLUMNS = tuple(sorted(privacy.PERSONAL_COLUMN_NAMES))
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
# Text an export writes for "no value": refused like an empty cell, never read as one customer called "nan".
_NULL_WORDS = ("", "null", "nan", "none", "n/a", "#n/a", "na", "nat", "<na>", "nil", "undefined")
# Words DuckDB would read as dates (1970-01-01, 9999-12-31, the clock): never a real transaction time.
_TIME_WORDS = ("epoch", "infinity", "+infinity", "-infinity", "allballs", "now", "today", "tomorrow", "yesterday")
_OFFSET_RE = r"\d:\d{2}(:\d{2}(\.\d+)?)?\s*([zZ]|[+-]\d{2}(:?\d{2})?|UTC|GMT)$"
_SHOW_ROWS = 3  # offending rows named in a message
_NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT",
            "FLOAT", "DOUBLE", "REAL", "DECIMAL")


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


def _q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def _count(n: int, one: str, many: str) -> str:
    """``1 row is`` / ``3 rows are``: messages read as sentences."""
    return f"{n:,} {one if n == 1 else many}"


def _rows_text(rows: list, label: str = "line") -> str:
    shown = ", ".join(f"{label} {r[0]}: {r[1]!r}" for r in rows[:_SHOW_ROWS])
    return f"e.g. {shown}"


@dataclass
class _TableFile:
    name: str
    kind: str  # csv | parquet | duckdb
    location: str  # file path, glob, or table name
    files: list[Path] = field(default_factory=list)


class Source:
    """A validated data source: DuckDB views ``transactions``, ``customers``, ``assignments``.

    Use :func:`load_source` to make one. ``transactions`` holds only rows on or
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

    def __init__(self, path: Path, con: duckdb.DuckDBPyConnection, tables: dict[str, _TableFile], as_of: pd.Timestamp,
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
        return int(float(number) * _BYTES.get(unit, 1))

    def spill_watch(self):
        """Context manager around a heavy query: notes when DuckDB spilled to its temp directory."""
        return _SpillWatch(self)

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
        from analysis.data.databases import location

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


# --- finding the tables -------------------------------------------------------
def _find_tables(path: Path, con: duckdb.DuckDBPyConnection) -> dict[str, _TableFile]:
    found: dict[str, _TableFile] = {}
    if path.is_dir():
        for name in TABLES:
            csv_f, pq_f, pq_dir = path / f"{name}.csv", path / f"{name}.parquet", path / name
            if csv_f.is_file():
                found[name] = _TableFile(name, "csv", str(csv_f), [csv_f])
            elif pq_f.is_file():
                found[name] = _TableFile(name, "parquet", str(pq_f), [pq_f])
            elif pq_dir.is_dir():
                parts = sorted(pq_dir.rglob("*.parquet"))
                if not parts:
                    raise DataError(f"{name}: folder {pq_dir} holds no .parquet files (expected Parquet parts).")
                found[name] = _TableFile(name, "parquet", str(pq_dir / "**" / "*.parquet"), parts)
        if "transactions" not in found:
            raise DataError(
                f"transactions: no transactions.csv, transactions.parquet or transactions/ folder in {path} "
                "(expected the transactions table of the data contract)."
            )
    elif path.is_file() and path.suffix.lower() == ".sql":
        found = _sql_definition(path, con)
    elif path.is_file():
        try:
            con.execute(f"ATTACH {_lit(str(path))} AS src (READ_ONLY)")
        except duckdb.Error as exc:
            raise DataError(f"source: {path} is not a DuckDB database file ({_first_line(exc)}).") from None
        rows = con.execute("SELECT table_schema, table_name, table_type FROM information_schema.tables "
                           "WHERE table_catalog = 'src' ORDER BY table_schema = 'main' DESC, table_schema").fetchall()
        for name in TABLES:
            homes = [(schema, kind) for schema, table, kind in rows if table.lower() == name]
            if len({schema for schema, _ in homes}) > 1 and homes[0][0] != "main":
                raise DataError(f"{name}: database {path} has a table {name!r} in several schemas "
                                f"({', '.join(sorted({s for s, _ in homes}))}); expected one, or one in schema main.")
            if homes:
                schema, kind = homes[0]
                found[name] = _TableFile(name, "view" if kind == "VIEW" else "duckdb",
                                         f"src.{_q(schema)}.{_q(name)}", [path])
        if "transactions" not in found:
            names = sorted({r[1] for r in rows})
            raise DataError(f"transactions: database {path} has no table 'transactions' (found: {names or 'none'}).")
    else:
        raise DataError(f"source: {path} does not exist (expected a directory of CSV/Parquet files, a DuckDB "
                        "database file or a .sql source definition).")
    return found


# --- source definitions in SQL ------------------------------------------------------------
_NAME = r'(?:"(?:[^"]|"")+"|[A-Za-z_][\w$]*)'
_CREATE_VIEW = re.compile(rf"CREATE\s+(?:OR\s+REPLACE\s+)?(?:TEMP(?:ORARY)?\s+)?VIEW\s+(?:IF\s+NOT\s+EXISTS\s+)?"
                          rf"({_NAME}(?:\s*\.\s*{_NAME}){{0,2}})(?=\s*(?:\(|AS\b))", re.I)
_SQL_CATALOG = "kanta_src"


def _without_leading_comments(sql: str) -> str:
    while True:
        sql = sql.lstrip()
        if sql.startswith("--"):
            sql = sql.split("\n", 1)[1] if "\n" in sql else ""
        elif sql.startswith("/*"):
            sql = sql.split("*/", 1)[1] if "*/" in sql else ""
        else:
            return sql


def _sql_definition(path: Path, con: duckdb.DuckDBPyConnection) -> dict[str, _TableFile]:
    """Run a ``.sql`` source definition: only ``CREATE VIEW`` statements, in a catalog of their own.

    DuckDB's own parser splits the statements and names their kind, so nothing that writes, copies,
    attaches, installs, loads or sets anything runs. Every view is created as
    ``kanta_src.main.<name>`` (a TEMP view would otherwise shadow the validated views), and
    relative file paths resolve against the definition's folder.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise DataError(f"source: {path.name} is not UTF-8 text; save the source definition as UTF-8.") from None
    try:
        statements = con.extract_statements(text)
    except duckdb.Error as exc:
        raise DataError(f"source: {path.name} is not valid DuckDB SQL ({_first_line(exc)}); expected "
                        "CREATE VIEW transactions AS SELECT ... statements.") from None
    views, at = [], 0
    for st in statements:
        sql = _without_leading_comments(st.query)
        where = text.find(sql[:40], at) if sql else -1
        at = where + 1 if where >= 0 else at
        line = text.count("\n", 0, where) + 1 if where >= 0 else "?"
        if not sql.rstrip(";").strip():
            continue
        m = _CREATE_VIEW.match(sql) if st.type == duckdb.StatementType.CREATE else None
        if m is None:
            what = " ".join(sql.split()[:2]).rstrip(";")
            raise DataError(f"source: {path.name} line {line}: {what!r} is not allowed; a source definition only "
                            "defines views (CREATE VIEW transactions AS SELECT ...) and never writes, copies, "
                            "attaches, installs, loads or sets anything.")
        name = re.findall(_NAME, m.group(1))[-1]
        name = name[1:-1].replace('""', '"') if name.startswith('"') else name
        views.append((line, name, f"CREATE OR REPLACE VIEW {_SQL_CATALOG}.main.{_q(name)}{sql[m.end(1):]}"))
    if not views:
        raise DataError(f"source: {path.name} defines no views; expected CREATE VIEW transactions AS SELECT ... "
                        "(customer_id, timestamp, amount).")
    home = con.execute("SELECT current_database()").fetchone()[0]
    con.execute(f"ATTACH ':memory:' AS {_SQL_CATALOG}")
    # Relative paths in read_csv(...) etc. resolve against the definition's folder for the whole session
    # (views are re-bound at every query); extensions are not installed behind the user's back.
    con.execute(f"SET file_search_path = {_lit(str(path.parent.resolve()))}")
    con.execute("SET autoinstall_known_extensions = false")
    con.execute(f"USE {_SQL_CATALOG}")
    try:
        for line, name, sql in views:
            try:
                con.execute(sql)
            except duckdb.Error as exc:
                raise DataError(f"source: {path.name} line {line}: view {name} could not be defined "
                                f"({_first_line(exc)}).") from None
    finally:
        con.execute(f"USE {_q(home)}")
    defined = {r[0].lower(): r[0] for r in con.execute(
        f"SELECT table_name FROM information_schema.tables WHERE table_catalog = {_lit(_SQL_CATALOG)}").fetchall()}
    files = [path] + _referenced_files(text, path.parent)
    found = {name: _TableFile(name, "view", f"{_SQL_CATALOG}.main.{_q(defined[name])}", files)
             for name in TABLES if name in defined}
    if "transactions" not in found:
        raise DataError(f"transactions: {path.name} defines no view named transactions (defined: "
                        f"{', '.join(sorted(defined.values()))}); expected CREATE VIEW transactions AS SELECT ... "
                        "with customer_id, timestamp and amount.")
    return found


def _referenced_files(text: str, folder: Path) -> list[Path]:
    """Files named in a definition's string literals (paths and globs), for the source fingerprint."""
    out: set[Path] = set()
    text = re.sub(r"/\*.*?\*/", " ", re.sub(r"--[^\n]*", " ", text), flags=re.S)  # "Kanta's" in a comment
    for literal in re.findall(r"'((?:[^']|'')+)'", text):
        literal = literal.replace("''", "'")
        if len(literal) > 500 or "\n" in literal:
            continue
        p = Path(literal) if Path(literal).is_absolute() else folder / literal
        try:
            out.update(Path(f) for f in glob.glob(str(p), recursive=True) if os.path.isfile(f))
        except (OSError, ValueError):
            continue
    return sorted(out)


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0][:200]


def _check_csv_header(t: _TableFile) -> None:
    """Catch a wrong delimiter or encoding on the header before DuckDB guesses."""
    f = t.files[0]
    with open(f, "rb") as fh:
        head = fh.read(64 * 1024)
    if not head.strip():
        raise DataError(f"{t.name}: {f.name} is empty (expected a header line and at least one row).")
    first = head.splitlines()[0]
    try:
        first.decode("utf-8")
    except UnicodeDecodeError:
        raise DataError(f"{t.name}: {f.name} is not UTF-8 text (header line); save it as UTF-8.") from None
    header = first.decode("utf-8").lstrip("\ufeff")
    names = [n.strip().lower() for n in next(csv.reader([header]), [])]
    if "" in names:
        raise DataError(f"{t.name}: {f.name} has a column without a name (column {names.index('') + 1} of the "
                        "header); expected a name for every column.")
    twice = next((n for i, n in enumerate(names) if n in names[:i]), None)
    if twice is not None:
        raise DataError(f"{t.name}: {f.name} names the column {twice!r} twice (column names ignore case); "
                        "expected each column once.")
    if "," not in header:
        for delim, label in ((";", "semicolon"), ("\t", "tab"), ("|", "pipe")):
            if delim in header:
                raise DataError(
                    f"{t.name}: {f.name} is {label}-separated (header {header.strip()!r}); "
                    "expected comma-separated columns, e.g. customer_id,timestamp,amount."
                )


def _register(con: duckdb.DuckDBPyConnection, t: _TableFile) -> None:
    """Create ``raw_<name>`` with an original row number ``__row`` (file line for CSV)."""
    raw = f"raw_{t.name}"
    if t.kind == "csv":
        _check_csv_header(t)
        # Every column as text so that validation, not the CSV sniffer, decides what is wrong.
        names = next(csv.reader([open(t.files[0], encoding="utf-8-sig", errors="replace").readline()]))
        cols = "{" + ", ".join(f"{_lit(n.strip())}: 'VARCHAR'" for n in names) + "}"
        reader = (f"read_csv({_lit(t.location)}, header=true, delim=',', quote='\"', escape='\"', "
                  f"columns={cols}, auto_detect=false, null_padding=false, strict_mode=true)")
        try:
            con.execute(f"CREATE TABLE {raw} AS SELECT row_number() OVER () + 1 AS __row, * FROM {reader}")
        except duckdb.Error as exc:
            full = str(exc)
            line = re.search(r"Line: (\d+)", full)
            at = f" (line {line.group(1)})" if line else ""
            if "unicode" in full.lower() or "utf-8" in full.lower():
                raise DataError(f"{t.name}: {t.files[0].name} is not UTF-8 text{at}; expected UTF-8, "
                                "e.g. save it from Excel as 'CSV UTF-8'.") from None
            detail = next((ln.strip() for ln in full.splitlines()[1:] if ln.strip()), _first_line(exc))[:160]
            if detail.startswith("Original Line:"):  # DuckDB quotes the row: say how many fields it has
                row = detail.split(":", 1)[1].strip()
                detail = f"{row!r} has {len(next(csv.reader([row])))} fields, the header {len(names)}"
            raise DataError(f"{t.name}: {t.files[0].name} could not be read as CSV{at}: {detail}; "
                            "expected comma-separated rows with the header's number of columns "
                            "(quote values that contain commas).") from None
    elif t.kind == "parquet":
        try:
            # file_row_number is free; a row_number() window would force a full materialisation.
            con.execute(f"CREATE VIEW {raw} AS SELECT * EXCLUDE (file_row_number), file_row_number + 1 AS __row "
                        f"FROM read_parquet({_lit(t.location)}, file_row_number=true)")
        except duckdb.Error as exc:
            raise DataError(f"{t.name}: {t.location} could not be read as Parquet ({_first_line(exc)}).") from None
    elif t.kind == "view":
        # A view has no row ids; DuckDB drops the window when a query does not use __row.
        con.execute(f"CREATE VIEW {raw} AS SELECT row_number() OVER () AS __row, * FROM {t.location}")
    else:
        con.execute(f"CREATE VIEW {raw} AS SELECT rowid + 1 AS __row, * FROM {t.location}")


# --- validation --------------------------------------------------------------
class _Validator:
    """The contract's checks of one source. ``trusted``: the same views without the checks (see :func:`reopen_source`)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, tables: dict[str, _TableFile], trusted: bool = False):
        self.con = con
        self.tables = tables
        self.trusted = trusted

    def label(self, name: str) -> str:
        t = self.tables[name]
        return "line" if t.kind == "csv" else "row"

    def columns(self, name: str) -> dict[str, str]:
        return {r[0]: r[1] for r in self.con.execute(f"DESCRIBE raw_{name}").fetchall() if r[0] != "__row"}

    def offending(self, name: str, condition: str, show: str) -> tuple[int, list]:
        if self.trusted:
            return 0, []
        n = self.con.execute(f"SELECT count(*) FROM raw_{name} WHERE {condition}").fetchone()[0]
        rows = []
        if n:
            rows = self.con.execute(
                f"SELECT __row, {show} FROM raw_{name} WHERE {condition} ORDER BY __row LIMIT {_SHOW_ROWS}").fetchall()
        return n, rows

    def require(self, name: str) -> dict[str, str]:
        cols = self.columns(name)
        missing = [c for c in REQUIRED[name] if c not in cols]
        if missing:
            t = self.tables[name]
            hint = f"; {_definition_hint(name, t, list(cols))}" if t.kind in ("csv", "parquet") else ""
            raise DataError(
                f"{name}: missing required column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                f"(found: {', '.join(cols) or 'none'}; expected at least {', '.join(REQUIRED[name])}){hint}."
            )
        if not self.trusted and self.con.execute(f"SELECT count(*) FROM raw_{name}").fetchone()[0] == 0:
            raise DataError(f"{name}: the table is empty (expected at least one row).")
        return cols

    def type_of(self, name: str, col: str) -> str:
        return self.columns(name)[col].upper()

    def check(self, name: str, condition: str, refuse, pending: list | None = None) -> None:
        """Refuse ``name`` when rows meet ``condition``: ``refuse(n)`` names them and raises.

        With ``pending``, the check is only queued there; :meth:`run` then counts every queued
        check of the table in one scan and runs the (slower) query naming rows only for a check
        that found some.
        """
        if pending is not None:
            pending.append((condition, refuse))
            return
        if self.trusted:
            return
        n = self.con.execute(f"SELECT count(*) FROM raw_{name} WHERE {condition}").fetchone()[0]
        if n:
            refuse(n)

    def run(self, name: str, pending: list, also: tuple[str, ...] = ()) -> tuple:
        """The queued checks of ``name`` and the ``also`` aggregates in one scan; refuse in queue order.

        Returns the values of the ``also`` aggregates.
        """
        if self.trusted:  # no checks; the aggregates the views are made from are still taken
            pending = []
            if not also:
                return ()
        counts = [f"count(*) FILTER (WHERE {cond})" for cond, _ in pending]
        row = self.con.execute(f"SELECT {', '.join(counts + list(also)) or 'NULL'} FROM raw_{name}").fetchone()
        for (_, refuse), n in zip(pending, row):
            if n:
                refuse(n)
        return tuple(row[len(pending):])

    def not_null(self, name: str, col: str, pending: list | None = None) -> None:
        """No NULL, blank or placeholder (``NULL``, ``nan``, ``None``) values: they are not one customer."""
        c = _q(col)
        have = self.type_of(name, col)
        words = ", ".join(_lit(w) for w in _NULL_WORDS)
        # integer and date columns can only be NULL; text and float columns can spell "no value"
        blank = f" OR lower(trim(CAST({c} AS VARCHAR))) IN ({words})" if have in ("VARCHAR", "FLOAT", "DOUBLE", "REAL") \
            else ""
        cond = f"{c} IS NULL{blank}"

        def refuse(n: int) -> None:
            n, rows = self.offending(name, cond, c)
            where = ", ".join(f"{self.label(name)} {r[0]}" + (f" ({str(r[1])!r})" if r[1] is not None and str(r[1]).strip()
                                                            else "") for r in rows)
            raise DataError(f"{name}.{col}: {_count(n, 'row has', 'rows have')} no value, e.g. {where}; "
                            "expected a value in every row (not a placeholder such as NULL, nan or None).")

        self.check(name, cond, refuse, pending)

    def value_sql(self, name: str, col: str, target: str) -> str:
        """``col`` read as ``target`` (NULL where it cannot be read); offsets converted to the business time zone.

        A text timestamp with an offset (``...+02:00``, ``...Z``) goes through TIMESTAMPTZ, which the
        connection's time zone turns into local wall-clock time; one without an offset is taken as local
        time as written (no DST shifts). TIMESTAMPTZ columns convert the same way.
        """
        c = _q(col)
        have = self.type_of(name, col)
        if target == "TIMESTAMP" and (have.startswith("TIMESTAMP") or have == "DATE"):
            return f"CAST({c} AS TIMESTAMP)"
        if target == "TIMESTAMP" and have == "VARCHAR":
            return (f"CASE WHEN regexp_matches({c}, {_lit(_OFFSET_RE)}) THEN CAST(TRY_CAST({c} AS TIMESTAMPTZ) AS TIMESTAMP) "
                    f"ELSE TRY_CAST({c} AS TIMESTAMP) END")
        if target == "DATE" and have.startswith("TIMESTAMP"):
            return f"CAST(CAST({c} AS TIMESTAMP) AS DATE)"
        return f"TRY_CAST({c} AS {target})"

    def parses(self, name: str, col: str, target: str, expected: str, allow_null: bool = False,
               pending: list | None = None) -> None:
        noun = {"DOUBLE": "a number", "DATE": "a date"}.get(target, "a date or datetime")
        c = _q(col)
        have = self.type_of(name, col)
        already = (have == target or (target == "TIMESTAMP" and have.startswith(("TIMESTAMP", "DATE")))
                   or (target == "DOUBLE" and have.split("(")[0] in _NUMERIC) or (target == "DATE" and have == "DATE"))
        v = self.value_sql(name, col, target)
        if already:  # a column of the right type cannot hold unparsable values, but a float can be NaN or inf
            cond = f"NOT isfinite({c})" if have in ("FLOAT", "DOUBLE", "REAL") else "FALSE"
        elif target == "DOUBLE":  # 'NaN', 'inf', '-Infinity' parse as floats but are no amounts
            cond = f"{c} IS NOT NULL AND ({v} IS NULL OR NOT isfinite({v}))"
        else:  # 'epoch' and 'infinity' parse as 1970 and 9999
            words = ", ".join(_lit(w) for w in _TIME_WORDS)
            cond = (f"{c} IS NOT NULL AND ({v} IS NULL OR NOT isfinite({v}) "
                    f"OR lower(trim(CAST({c} AS VARCHAR))) IN ({words}))")
        if not allow_null:
            cond = f"({cond}) OR {c} IS NULL"

        def refuse(n: int) -> None:
            n, rows = self.offending(name, cond, c)
            raise DataError(
                f"{name}.{col}: could not read {_count(n, 'row', 'rows')} as {noun}, "
                f"{_rows_text(rows, self.label(name))}; expected {expected}."
            )

        self.check(name, cond, refuse, pending)

    def unique(self, name: str, col: str, what: tuple[str, str]) -> None:
        if self.trusted:
            return
        c = _q(col)
        # as many distinct 64-bit hashes as values: no duplicate for sure (a collision can only make this
        # fail and fall through to the exact query), about a fifth cheaper than grouping the values
        if self.con.execute(f"SELECT count({c}) = count(DISTINCT hash({c})) FROM raw_{name}").fetchone()[0]:
            return
        dup = self.con.execute(
            f"SELECT {c}, count(*) AS n, min(__row), max(__row) FROM raw_{name} WHERE {c} IS NOT NULL "
            f"GROUP BY {c} HAVING count(*) > 1 ORDER BY min(__row) LIMIT {_SHOW_ROWS}").fetchall()
        if dup:
            n = self.con.execute(
                f"SELECT count(*) FROM (SELECT {c} FROM raw_{name} WHERE {c} IS NOT NULL GROUP BY {c} HAVING count(*) > 1)"
            ).fetchone()[0]
            lab = self.label(name)
            eg = "; ".join(f"{d[0]!r} on {lab}s {d[2]} and {d[3]}" for d in dup)
            raise DataError(f"{name}.{col}: {_count(n, what[0] + ' appears', what[1] + ' appear')} more than once, e.g. {eg}; "
                            f"expected each {col} once.")


# Words in export headers that point at a contract column, for the suggested source definition.
_HINTS = {
    "customer_id": ("customer", "customerid", "cust", "asiakas", "asiakasnumero", "asiakasnro", "client", "member",
                    "jasen", "user", "account"),
    "timestamp": ("timestamp", "date", "time", "datetime", "pvm", "paivamaara", "aika", "created", "ordered"),
    "amount": ("amount", "total", "sum", "summa", "value", "arvo", "revenue", "sales", "myynti", "price", "hinta"),
    "signup_date": ("signup", "registered", "created", "joined", "liittymispaiva", "liittynyt", "since", "date", "pvm"),
    "experiment_id": ("experiment", "test", "campaign", "kampanja"),
    "variant": ("variant", "group", "arm", "ryhma", "treatment"),
    "assigned_at": ("assigned", "date", "time", "pvm"),
}


def _ident(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) else _q(name)


def _guess_column(target: str, cols: list[str], taken: set[str]) -> str | None:
    words = _HINTS.get(target, ())
    for exact in (True, False):
        for c in cols:
            n = privacy.normalise_column_name(c)
            parts = n.split("_") + [n.replace("_", "")]
            hit = any(w in parts for w in words) if exact else any(w in n for w in words)
            if hit and c not in taken:
                return c
    return None


def _definition_hint(name: str, t: _TableFile, cols: list[str]) -> str:
    """A source definition that would map this export onto the contract, from the columns it has."""
    taken, select = set(), []
    norm = {privacy.normalise_column_name(c): c for c in cols}
    qty = next((c for n, c in norm.items() if n in ("quantity", "qty", "maara", "kpl", "lkm")), None)
    price = next((c for n, c in norm.items() if "price" in n or "hinta" in n), None)
    for target in REQUIRED[name]:
        if target in cols:
            select.append(target)
            continue
        if target == "amount" and qty and price:
            select.append(f"{_ident(qty)} * {_ident(price)} AS amount")
            taken |= {qty, price}
            continue
        guess = _guess_column(target, cols, taken)
        if guess is not None:
            taken.add(guess)
        select.append(f"{_ident(guess) if guess else '<column>'} AS {target}")
    what = t.files[0].name if len(t.files) == 1 else f"{name}/**/*.parquet"
    return (f"a source definition maps an export onto the contract, e.g. a file kanta.sql beside it with "
            f"CREATE VIEW {name} AS SELECT {', '.join(select)} FROM '{what}'; then run kanta validate kanta.sql")


def _bool_sql(col: str) -> str:
    c = f"lower(trim(CAST({_q(col)} AS VARCHAR)))"
    return (f"CASE WHEN {c} IN ('true','t','1','yes','y','kyllä','k') THEN TRUE "
            f"WHEN {c} IN ('false','f','0','no','n','ei','e') THEN FALSE ELSE NULL END")


def load_source(path, as_of=None, memory_limit: str | None = None, threads: int | None = None,
                timezone: str | None = None) -> Source:
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
    if isinstance(path, str) and path.startswith(("postgresql://", "postgres://")):
        from analysis.data.databases import load_database
        return load_database(path, as_of, memory_limit, threads, timezone)
    if isinstance(path, Source):
        return path if as_of is None or parse_date(as_of) == path.as_of else \
            load_source(path.path, as_of, timezone=path.timezone)
    path = Path(path)
    con = duckdb_connection(memory_limit, threads)
    return validate_tables(con, _find_tables(path, con), path, as_of, timezone=timezone)


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


#: Ceiling of the default DuckDB memory limit: with Python's own share a run stays under 4 GB.
DEFAULT_MEMORY_CEILING = 3 * 2**30
_MIN_MEMORY = 256 * 2**20
_BYTES = {"bytes": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40, "PiB": 2**50}


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
    import secrets
    import tempfile

    return os.path.join(tempfile.gettempdir(), f"kanta-duckdb-{os.getpid()}-{secrets.token_hex(6)}")


class _SpillWatch:
    """Watches a source's DuckDB temp directory while a query runs; notes the peak when it spilled.

    DuckDB deletes its temp files when a query ends, so the directory is measured every 0.2 s
    from a thread while the query runs (DuckDB releases the GIL).
    """

    def __init__(self, src: "Source"):
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
        import threading

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
                                 f"when spilling to disk ({_first_line(exc)[:120]}); expected a larger limit, e.g. "
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
    import shutil
    import weakref

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


def validate_tables(con: duckdb.DuckDBPyConnection, tables: dict[str, _TableFile], path, as_of=None,
                    timezone: str | None = None, trusted: bool = False) -> Source:
    """Register ``tables`` as ``raw_<name>`` in ``con`` and validate them: the one validation of every source kind."""
    timezone = business_timezone(timezone)
    try:
        con.execute(f"SET TimeZone = {_lit(timezone)}")
    except duckdb.Error:
        raise ParameterError(f"timezone: got {timezone!r}, expected a time zone name like Europe/Helsinki.") from None
    try:
        return _validate(con, tables, path, as_of, timezone, trusted)
    except duckdb.Error as exc:  # a view or file that fails while read (a sniffed type that does not hold, ...)
        raise DataError(f"source: {Path(str(path)).name} could not be read ({_first_line(exc)}).") from None


def _validate(con: duckdb.DuckDBPyConnection, tables: dict[str, _TableFile], path, as_of, timezone: str,
              trusted: bool = False) -> Source:
    for t in tables.values():
        _register(con, t)
    v = _Validator(con, tables, trusted)

    # transactions: every contract check and the counts behind the notes in one scan of the log;
    # a query naming offending rows runs only for a check that found some
    cols = v.require("transactions")
    checks: list = []
    v.not_null("transactions", "customer_id", pending=checks)
    v.parses("transactions", "timestamp", "TIMESTAMP", "a date like 2026-10-31 or a datetime like 2026-10-31 14:05:00",
             pending=checks)
    v.parses("transactions", "amount", "DOUBLE", "a number like 12.50 (decimal point, no thousands separator)",
             pending=checks)
    if "margin" in cols:
        v.parses("transactions", "margin", "DOUBLE", "a number like 3.20 (decimal point, no thousands separator)",
                 pending=checks)
    ts = v.value_sql("transactions", "timestamp", "TIMESTAMP")
    amount = v.value_sql("transactions", "amount", "DOUBLE")
    as_of_ts = parse_date(as_of) if as_of is not None else None
    # without as_of the window ends with the last transaction's day: no row is after it
    inside = "TRUE" if as_of_ts is None else \
        f"{ts} < TIMESTAMP {_lit((as_of_ts + pd.Timedelta(days=1)).strftime('%Y-%m-%d'))}"
    stats = v.run("transactions", checks, (
        f"count(*) FILTER (WHERE {inside})", f"count(*) FILTER (WHERE NOT ({inside}))",
        f"count(*) FILTER (WHERE {amount} < 0 AND {inside})",
        f"coalesce(sum({amount}) FILTER (WHERE {amount} < 0 AND {inside}), 0)",
        f"min(CAST({ts} AS DATE))", f"max(CAST({ts} AS DATE)) FILTER (WHERE {inside})"))
    if "transaction_id" in cols:
        v.unique("transactions", "transaction_id", ("transaction ID", "transaction IDs"))
    if as_of_ts is None:
        as_of_ts = pd.Timestamp(stats[5])
    end = (as_of_ts + pd.Timedelta(days=1)).strftime("%Y-%m-%d")

    opt = {c: (f"CAST({_q(c)} AS VARCHAR)" if c in cols else "CAST(NULL AS VARCHAR)")
           for c in ("transaction_id", "channel", "category")}
    # customer_id keeps its stored type in the *_keyed views: grouping 100M integer IDs is much
    # cheaper than grouping their text form, so big aggregations cast once per customer at the end.
    integer = cols["customer_id"].upper() in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT",
                                              "UINTEGER", "UBIGINT", "HUGEINT")
    key = "customer_id" if integer else "CAST(customer_id AS VARCHAR)"
    con.execute(f"""
        CREATE VIEW transactions_keyed_all AS
        SELECT {key} AS customer_id,
               {ts} AS timestamp,
               CAST(amount AS DOUBLE) AS amount,
               {opt['transaction_id']} AS transaction_id,
               lower(trim({opt['channel']})) AS channel,
               lower(trim({opt['category']})) AS category,
               {'CAST(margin AS DOUBLE)' if 'margin' in cols else 'CAST(NULL AS DOUBLE)'} AS margin
        FROM raw_transactions""")
    con.execute("CREATE VIEW transactions_all AS SELECT CAST(customer_id AS VARCHAR) AS customer_id, "
                "* EXCLUDE (customer_id) FROM transactions_keyed_all")
    for view, base in (("transactions", "transactions_all"), ("transactions_keyed", "transactions_keyed_all")):
        con.execute(f"CREATE VIEW {view} AS SELECT * FROM {base} WHERE timestamp < TIMESTAMP {_lit(end)}")

    src = Source(path, con, tables, as_of_ts, timezone)
    src._quality.update(transactions=stats[0], future_rows_excluded=stats[1], refund_rows=stats[2],
                        refund_amount=round(float(stats[3]), 2), first_day=str(stats[4]), last_day=str(stats[5]))
    if stats[0] == 0:
        raise DataError(f"transactions: no rows on or before as_of {as_of_ts.date()} (first transaction {stats[4]}); "
                        "expected as_of after the first transaction.")
    if stats[1]:
        src._notes.append(f"{stats[1]:,} transactions after as_of {as_of_ts.date()} were excluded.")
    if stats[2]:
        src._notes.append(f"{stats[2]:,} refund rows (negative amounts, {abs(stats[3]):,.2f} in total) are netted "
                          "per customer and day.")
    src._defer(_count_buyers_and_duplicates)
    #: the contract's optional transactions columns this source has (the views carry NULL for the others)
    src.transaction_columns = tuple(c for c in ("transaction_id", "channel", "category", "margin") if c in cols)

    if "customers" in tables:
        _customers(v, src)
    if "assignments" in tables:
        _assignments(v, src)
    if "campaigns" in tables:
        _campaigns(v, src)
    if "contacts" in tables:
        _contacts(v, src)
    src._loading = False
    return src


def _count_buyers_and_duplicates(src: Source, position: int) -> None:
    """Buyers and possible duplicates (rows sharing customer, timestamp and amount): one grouping, run when read.

    Neither refuses data, and the grouping costs as much as the customer table itself, so it runs
    only when a report or ``kanta validate`` reads the notes, never for ``kanta customers``.
    """
    with src.spill_watch():
        buyers, groups = src.con.execute("""
            SELECT count(*), coalesce(sum(d), 0) FROM (
                SELECT customer_id, count(*) FILTER (WHERE n > 1) AS d FROM (
                    SELECT customer_id, count(*) AS n FROM transactions_keyed GROUP BY customer_id, timestamp, amount)
                GROUP BY customer_id)""").fetchone()
    src._quality.update(buyers=int(buyers), possible_duplicate_rows=int(groups))
    if groups:
        src._notes.insert(position, f"{groups:,} groups of transactions share customer, timestamp and amount "
                                    "(possible duplicates; kept).")


def _customers(v: _Validator, src: Source) -> None:
    con = v.con
    cols = v.require("customers")
    v.not_null("customers", "customer_id")
    v.unique("customers", "customer_id", ("customer ID", "customer IDs"))
    v.parses("customers", "signup_date", "DATE", "a date like 2026-10-31")
    if "churn_date" in cols:
        v.parses("customers", "churn_date", "DATE", "a date like 2026-10-31", allow_null=True)
    extra = []
    for c in cols:
        if c in ("customer_id", "signup_date", "churn_date", "marketing_permission"):
            continue
        extra.append(f"CAST({_q(c)} AS VARCHAR) AS {_q(c)}")
    perm = _bool_sql("marketing_permission") if "marketing_permission" in cols else "CAST(NULL AS BOOLEAN)"
    churn = "CAST(churn_date AS DATE)" if "churn_date" in cols else "CAST(NULL AS DATE)"
    con.execute(f"""
        CREATE VIEW customers AS
        SELECT CAST(customer_id AS VARCHAR) AS customer_id, CAST(signup_date AS DATE) AS signup_date,
               {perm} AS marketing_permission, {churn} AS churn_date{''.join(', ' + e for e in extra)}
        FROM raw_customers""")
    if v.trusted:  # counts, notes and personal columns come with the run's record (reopen_source)
        return
    n, no_perm, unknown_buyers = con.execute("""
        SELECT (SELECT count(*) FROM customers),
               (SELECT count(*) FROM customers WHERE marketing_permission IS NULL),
               (SELECT count(DISTINCT t.customer_id) FROM transactions t ANTI JOIN customers c USING (customer_id))
    """).fetchone()
    if unknown_buyers:
        _refuse_near_misses(con, "transactions.customer_id", "SELECT DISTINCT customer_id FROM transactions_all",
                            "customers.customer_id", "SELECT customer_id FROM customers")
    src.quality.update(customers=n, missing_marketing_permission=no_perm, buyers_not_in_customers=unknown_buyers)
    _find_personal_columns(v, src, [c for c in cols if c not in ("customer_id", "signup_date", "churn_date",
                                                                  "marketing_permission")])
    if no_perm and "marketing_permission" in cols:
        src.notes.append(f"{no_perm:,} customers have no recorded marketing permission.")
    if unknown_buyers:
        src.notes.append(f"{unknown_buyers:,} customers in transactions are missing from the customers table.")


def _find_personal_columns(v: _Validator, src: Source, columns: list[str]) -> None:
    """Customers columns that hold personal data, by name or by value (e-mail, phone, identity code).

    They stay in the ``customers`` view (the privacy gate looks for their values in pages) but are
    never carried into the customer table (:func:`analysis.customers.table.customer_columns`).
    """
    found = {c: "name" for c in columns if privacy.is_personal_column(c)}
    text = [c for c in columns if c not in found and v.type_of("customers", c) == "VARCHAR"]
    if text:
        counts = v.con.execute("SELECT " + ", ".join(
            f"count(*) FILTER (WHERE regexp_matches({_q(c)}, {_lit(rx)}))"
            for c in text for rx in privacy.PATTERNS.values()) + " FROM raw_customers").fetchone()
        kinds = list(privacy.PATTERNS)
        for i, c in enumerate(text):
            hits = {k: counts[i * len(kinds) + j] for j, k in enumerate(kinds) if counts[i * len(kinds) + j]}
            if hits:
                kind = max(hits, key=hits.get)
                found[c] = kind
                src.notes.append(f"customers.{c} holds personal data ({kind.replace('_', ' ')} in "
                                 f"{_count(hits[kind], 'row', 'rows')}); it stays out of the customer table.")
        # names off the first-name list: a column of mostly distinct capitalised word pairs (privacy.name_like_column_sql)
        rest = [c for c in text if c not in found]
        if rest:
            shaped = v.con.execute("SELECT " + ", ".join(privacy.name_like_column_sql(_q(c)) for c in rest)
                                   + " FROM raw_customers").fetchone()
            for c, is_names in zip(rest, shaped):
                if is_names:
                    found[c] = "name_like"
                    src.notes.append(f"customers.{c} holds personal data (values shaped like person names); "
                                     "it stays out of the customer table.")
    src.personal_columns.update(found)


def _normal_id_sql(x: str) -> str:
    """An ID as exports mangle it: trimmed, lower case, without a trailing ``.0`` and leading zeros."""
    s = f"regexp_replace(lower(trim(CAST({x} AS VARCHAR))), '\\.0+$', '')"
    return f"CASE WHEN ltrim({s}, '0') = '' THEN {s} ELSE ltrim({s}, '0') END"


_NORMALISATIONS = (("removing spaces", str.strip), ("ignoring case", str.lower),
                   ("dropping a trailing .0", lambda x: re.sub(r"\.0+$", "", x)),
                   ("dropping leading zeros", lambda x: x.lstrip("0") or x))


def _refuse_near_misses(con, what: str, ids_sql: str, other: str, known_sql: str) -> None:
    """Refuse IDs that match the other table only after normalisation: they would silently join to nothing."""
    pairs = f"""
        WITH a AS (SELECT DISTINCT CAST(id AS VARCHAR) AS id FROM ({ids_sql}) AS t(id)),
             k AS (SELECT DISTINCT CAST(id AS VARCHAR) AS id FROM ({known_sql}) AS t(id)),
             miss AS (SELECT id FROM a ANTI JOIN k USING (id))
        SELECT m.id, min(k.id) FROM miss m JOIN k ON {_normal_id_sql('m.id')} = {_normal_id_sql('k.id')}
        GROUP BY m.id"""
    n = con.execute(f"SELECT count(*) FROM ({pairs})").fetchone()[0]
    if not n:
        return
    examples = con.execute(f"SELECT * FROM ({pairs}) ORDER BY 1 LIMIT {_SHOW_ROWS}").fetchall()
    raise near_miss_error(what, other, n, examples)


def near_miss_error(what: str, other: str, n: int, examples: list) -> DataError:
    """The sentence for ``n`` IDs of ``what`` that match ``other`` only after normalisation (any engine).

    ``examples`` are ``(id, matching id)`` pairs; the message names the normalisation steps, in order, that
    change some example on its way to a match.
    """
    steps, forms = [], list(examples)
    for label, fn in _NORMALISATIONS:
        after = [(fn(a), fn(b)) for a, b in forms]
        if after != forms:
            steps.append(label)
        forms = after
    eg = ", ".join(f"{a!r} vs {b!r}" for a, b in examples)
    return DataError(f"{what}: {_count(n, 'ID matches', 'IDs match')} {other} only after {' and '.join(steps)}, "
                     f"e.g. {eg}; expected the same spelling in both tables (fix the export or normalise the IDs "
                     "in a .sql source definition).")


def _assignments(v: _Validator, src: Source) -> None:
    con = v.con
    cols = v.require("assignments")
    for c in ("experiment_id", "customer_id", "variant"):
        v.not_null("assignments", c)
    v.parses("assignments", "assigned_at", "TIMESTAMP", "a date or datetime like 2026-10-31")
    known = "SELECT customer_id FROM customers" if src.has("customers") else \
        "SELECT DISTINCT customer_id FROM transactions_all"
    n, rows = v.offending("assignments", f"CAST(customer_id AS VARCHAR) NOT IN ({known})", "customer_id")
    if n:
        _refuse_near_misses(con, "assignments.customer_id", "SELECT customer_id FROM raw_assignments",
                            "customers.customer_id" if src.has("customers") else "transactions.customer_id", known)
        where = "the customers table" if src.has("customers") else "transactions"
        raise DataError(f"assignments.customer_id: {_count(n, 'row refers', 'rows refer')} to customers not in {where}, "
                        f"{_rows_text(rows, v.label('assignments'))}; expected known customers.")
    both = [] if v.trusted else con.execute("""
        SELECT experiment_id, customer_id, string_agg(DISTINCT variant, ' and ' ORDER BY variant), min(__row)
        FROM raw_assignments GROUP BY 1, 2 HAVING count(DISTINCT variant) > 1 ORDER BY min(__row) LIMIT 3""").fetchall()
    if both:
        n = con.execute("""SELECT count(*) FROM (SELECT 1 FROM raw_assignments GROUP BY experiment_id, customer_id
                           HAVING count(DISTINCT variant) > 1)""").fetchone()[0]
        eg = "; ".join(f"customer {b[1]!r} in {b[2]} of {b[0]!r}" for b in both)
        raise DataError(f"assignments.variant: {_count(n, 'customer is', 'customers are')} in more than one variant of the same experiment, "
                        f"e.g. {eg}; expected one variant per customer and experiment.")
    optional = []
    for c in cols:
        if c in REQUIRED["assignments"]:
            continue
        if c == "is_control":
            optional.append(f"{_bool_sql(c)} AS is_control")
        elif c in ("planned_share", "pre_period_spend"):
            v.parses("assignments", c, "DOUBLE", "a number like 12.50", allow_null=True)
            optional.append(f"CAST({_q(c)} AS DOUBLE) AS {_q(c)}")
        else:
            optional.append(f"CAST({_q(c)} AS VARCHAR) AS {_q(c)}")
    con.execute(f"""
        CREATE VIEW assignments AS
        SELECT CAST(experiment_id AS VARCHAR) AS experiment_id, CAST(customer_id AS VARCHAR) AS customer_id,
               CAST(variant AS VARCHAR) AS variant, {v.value_sql("assignments", "assigned_at", "TIMESTAMP")} AS assigned_at
               {''.join(', ' + o for o in optional)}
        FROM raw_assignments""")
    if v.trusted:
        return
    n, k = con.execute("SELECT count(*), count(DISTINCT experiment_id) FROM assignments").fetchone()
    src.quality.update(assignments=n, experiments=k)


def _campaigns(v: _Validator, src: Source) -> None:
    """Campaign briefs: one row per experiment, costs as numbers (no cost is "not known", never a default)."""
    cols = v.require("campaigns")
    v.not_null("campaigns", "experiment_id")
    v.unique("campaigns", "experiment_id", ("experiment", "experiments"))
    select = ["CAST(experiment_id AS VARCHAR) AS experiment_id"]
    for c in cols:
        if c == "experiment_id":
            continue
        if c in CAMPAIGN_NUMBERS:
            v.parses("campaigns", c, "DOUBLE", "a number like 500.00", allow_null=True)
            select.append(f"CAST({_q(c)} AS DOUBLE) AS {_q(c)}")
        else:
            select.append(f"CAST({_q(c)} AS VARCHAR) AS {_q(c)}")
    v.con.execute(f"CREATE VIEW campaigns AS SELECT {', '.join(select)} FROM raw_campaigns")


#: Allowed values of contacts.direction and contacts.type (after trimming and lower-casing).
CONTACT_DIRECTIONS = ("inbound", "outbound")
CONTACT_TYPES = ("complaint", "service", "sales", "marketing", "feedback")
#: Satisfaction scales: CSAT 1-5 and 0-10 (NPS is computed on the 0-10 scale).
SATISFACTION_SCALES = {"1-5": (1.0, 5.0), "0-10": (0.0, 10.0)}
#: Columns of contacts that are loaded; any other (free text such as an agent's notes) stays out.
CONTACT_COLUMNS = ("contact_id", "customer_id", "timestamp", "direction", "channel", "type", "resolved_at", "outcome",
                   "satisfaction", "satisfaction_scale")


def _contacts(v: _Validator, src: Source) -> None:
    """Customer contacts: one row per contact (service, complaint, sales, marketing, feedback), up to ``as_of``.

    ``direction`` and ``type`` are trimmed and lower-cased and must be one of :data:`CONTACT_DIRECTIONS` /
    :data:`CONTACT_TYPES`; ``channel`` and ``outcome`` are any text (trimmed, lower case). ``resolved_at``
    (optional) is when the case was closed: not before the contact, and NULL in the view when it is after
    ``as_of`` (the case was still open then). ``satisfaction`` (optional) is a score on the scale of
    ``satisfaction_scale`` (``1-5`` or ``0-10`` per row); without that column the scale is inferred for the
    whole table: every score within 1..5 reads as 1-5, else every score within 0..10 reads as 0-10, else
    the table is refused. Any other column (free text such as agents' notes, which can hold personal data)
    is not loaded, so it can never reach a page.
    """
    con = v.con
    cols = v.require("contacts")
    # every row check and the score range in one scan of the table (18M rows at a million customers);
    # a query naming offending rows runs only for a check that found some, refusals in this order
    checks: list = []

    def refuse_rows(condition: str, show: str, message):
        def refuse(_n: int) -> None:
            n, rows = v.offending("contacts", condition, show)
            raise DataError(message(_count, n, _rows_text(rows, v.label("contacts"))))

        checks.append((condition, refuse))

    for c in ("customer_id", "direction", "channel", "type"):
        v.not_null("contacts", c, pending=checks)
    v.parses("contacts", "timestamp", "TIMESTAMP", "a date like 2026-10-31 or a datetime like 2026-10-31 14:05:00",
             pending=checks)
    for col, allowed in (("direction", CONTACT_DIRECTIONS), ("type", CONTACT_TYPES)):
        norm = f"lower(trim(CAST({_q(col)} AS VARCHAR)))"
        refuse_rows(f"{norm} NOT IN ({', '.join(_lit(a) for a in allowed)})", _q(col),
                    lambda count, n, rows, col=col, allowed=allowed: (
                        f"contacts.{col}: {count(n, 'row has', 'rows have')} an unknown value, {rows}; "
                        f"expected one of {', '.join(allowed)}."))
    ts = v.value_sql("contacts", "timestamp", "TIMESTAMP")
    resolved = "CAST(NULL AS TIMESTAMP)"
    if "resolved_at" in cols:
        v.parses("contacts", "resolved_at", "TIMESTAMP", "a datetime like 2026-10-31 14:05:00 or no value (still open)",
                 allow_null=True, pending=checks)
        resolved = v.value_sql("contacts", "resolved_at", "TIMESTAMP")
        refuse_rows(f"{resolved} < {ts}", f"CAST({_q('resolved_at')} AS VARCHAR)",
                    lambda count, n, rows: (
                        f"contacts.resolved_at: {count(n, 'row is', 'rows are')} resolved before the contact itself, "
                        f"{rows}; expected resolved_at on or after timestamp."))
    score, scale, also = "CAST(NULL AS DOUBLE)", "CAST(NULL AS VARCHAR)", ()
    if "satisfaction" in cols:
        v.parses("contacts", "satisfaction", "DOUBLE", "a number such as 4 (1-5) or 9 (0-10)", allow_null=True,
                 pending=checks)
        score = v.value_sql("contacts", "satisfaction", "DOUBLE")
        if "satisfaction_scale" in cols:
            norm = (f"nullif(replace(replace(lower(trim(CAST({_q('satisfaction_scale')} AS VARCHAR))), ' ', ''), "
                    f"'\u2013', '-'), '')")
            refuse_rows(f"{score} IS NOT NULL AND ({norm} IS NULL OR {norm} NOT IN "
                        f"({', '.join(_lit(k) for k in SATISFACTION_SCALES)}))", _q("satisfaction_scale"),
                        lambda count, n, rows: (
                            f"contacts.satisfaction_scale: {count(n, 'row has', 'rows have')} a score without a known "
                            f"scale, {rows}; expected {' or '.join(SATISFACTION_SCALES)} in every row with a "
                            "satisfaction score."))
            scale = f"CASE WHEN {score} IS NOT NULL THEN {norm} END"
            bounds = " OR ".join(f"({scale} = {_lit(k)} AND {score} BETWEEN {a} AND {b})"
                                 for k, (a, b) in SATISFACTION_SCALES.items())
            refuse_rows(f"{score} IS NOT NULL AND NOT ({bounds})", f"CAST({_q('satisfaction')} AS VARCHAR)",
                        lambda count, n, rows: (
                            f"contacts.satisfaction: {count(n, 'row is', 'rows are')} outside the row's scale, {rows}; "
                            "expected 1 to 5 on the 1-5 scale and 0 to 10 on the 0-10 scale."))
        else:
            also = (f"min({score})", f"max({score})")
    found = v.run("contacts", checks, also)
    if also:  # without a scale column the scale is inferred for the whole table, from the range of its scores
        lo, hi = found
        inferred = next((k for k, (a, b) in SATISFACTION_SCALES.items() if lo is not None and lo >= a and hi <= b),
                        None)
        if lo is not None and inferred is None:
            raise DataError(f"contacts.satisfaction: scores run from {lo:g} to {hi:g}, which fits neither scale; "
                            "expected scores within 1-5 or 0-10 (or a satisfaction_scale column per row).")
        scale = f"CASE WHEN {score} IS NOT NULL THEN {_lit(inferred or '')} END"
    if "contact_id" in cols:
        v.unique("contacts", "contact_id", ("contact ID", "contact IDs"))
    text = {c: (f"nullif(lower(trim(CAST({_q(c)} AS VARCHAR))), '')" if c in cols else "CAST(NULL AS VARCHAR)")
            for c in ("contact_id", "outcome")}
    text["contact_id"] = "CAST(contact_id AS VARCHAR)" if "contact_id" in cols else "CAST(NULL AS VARCHAR)"
    end = f"TIMESTAMP {_lit((src.as_of + pd.Timedelta(days=1)).strftime('%Y-%m-%d'))}"
    con.execute(f"""
        CREATE VIEW contacts_all AS
        SELECT {text['contact_id']} AS contact_id, CAST(customer_id AS VARCHAR) AS customer_id, {ts} AS timestamp,
               lower(trim(CAST(direction AS VARCHAR))) AS direction, lower(trim(CAST(channel AS VARCHAR))) AS channel,
               lower(trim(CAST(type AS VARCHAR))) AS type, {resolved} AS resolved_at, {text['outcome']} AS outcome,
               {score} AS satisfaction, {scale} AS satisfaction_scale
        FROM raw_contacts""")
    con.execute(f"""
        CREATE VIEW contacts AS
        SELECT * REPLACE (CASE WHEN resolved_at < {end} THEN resolved_at END AS resolved_at)
        FROM contacts_all WHERE timestamp < {end}""")
    if v.trusted:
        return
    known = "SELECT customer_id FROM customers" if src.has("customers") else \
        "SELECT DISTINCT customer_id FROM transactions_all"
    n, later, unknown = con.execute(f"""
        SELECT count(*) FILTER (WHERE timestamp < {end}), count(*) FILTER (WHERE timestamp >= {end}),
               count(*) FILTER (WHERE timestamp < {end} AND customer_id NOT IN ({known}))
        FROM contacts_all""").fetchone()
    if unknown:
        _refuse_near_misses(con, "contacts.customer_id", "SELECT customer_id FROM contacts_all",
                            "customers.customer_id" if src.has("customers") else "transactions.customer_id", known)
        src.notes.append(f"{unknown:,} contacts belong to customers unknown to "
                         f"{'the customers table' if src.has('customers') else 'transactions'}; they are left out of "
                         "the contact analyses.")
    if later:
        src.notes.append(f"{later:,} contacts after as_of {src.as_of.date()} were excluded.")
    dropped = [c for c in cols if c not in CONTACT_COLUMNS]
    if dropped:
        src.notes.append(f"contacts column{'s' if len(dropped) > 1 else ''} {', '.join(dropped)} "
                         f"{'are' if len(dropped) > 1 else 'is'} not loaded (free text never reaches a page).")
    src.quality.update(contacts=n, contacts_future_rows_excluded=later, contacts_unknown_customers=unknown)


# --- writing outputs ------------------------------------------------------------
def check_output_path(out) -> Path:
    """An output file name ending in .csv or .parquet, in a folder that exists."""
    out = Path(out)
    if out.suffix.lower() not in (".csv", ".parquet"):
        raise ParameterError(f"--out: got {out.name!r}, expected a file name ending in .csv or .parquet.")
    if not out.parent.exists():
        raise ParameterError(f"--out: folder {out.parent} does not exist.")
    return out


def atomic_write(out, write) -> Path:
    """The one atomic writer: ``write(tmp)`` fills a temp file beside ``out``, then it is renamed into place.

    A failed run leaves no half-written file and no temp file behind.
    """
    out = Path(out)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
    return out


def write_table(df: pd.DataFrame, out) -> Path:
    """Write a table to ``.csv`` or ``.parquet`` atomically.

    Parquet timestamps are stored in microseconds so that Spark can read them.
    """
    out = check_output_path(out)
    if out.suffix.lower() == ".csv":
        return atomic_write(out, lambda tmp: df.to_csv(tmp, index=False))
    return atomic_write(out, lambda tmp: df.to_parquet(tmp, index=False, coerce_timestamps="us",
                                                       allow_truncated_timestamps=True))


def write_bytes(content: bytes, out) -> Path:
    """Write bytes atomically (:func:`atomic_write`)."""
    return atomic_write(out, lambda tmp: tmp.write_bytes(content))


def write_text(text: str, out) -> Path:
    """Write UTF-8 text atomically (:func:`write_bytes`)."""
    return write_bytes(text.encode("utf-8"), out)


def write_json(obj, out) -> Path:
    """Write JSON atomically (:func:`write_bytes`)."""
    import json

    return write_text(json.dumps(obj, indent=2, ensure_ascii=False, default=float) + "\n", out)


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
