"""Load a data source and check it against the data contract, inside DuckDB.

A source is a directory of CSV/Parquet files (or folders of Parquet parts) or a
DuckDB database file; every load is validated and bad input raises a one-line
:class:`~analysis.errors.DataError` before anything is computed or written.
"""
from __future__ import annotations

import csv
import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from analysis.errors import DataError, ParameterError

TABLES = ("transactions", "customers", "assignments", "campaigns")
REQUIRED = {
    "transactions": ("customer_id", "timestamp", "amount"),
    "customers": ("customer_id", "signup_date"),
    "assignments": ("experiment_id", "customer_id", "variant", "assigned_at"),
    "campaigns": ("experiment_id",),
}
#: Optional numeric columns of the campaign briefs (costs in currency units, margin as a share).
CAMPAIGN_NUMBERS = ("cost_fixed", "cost_per_contact", "margin_rate")
# Columns that identify a person: never carried into the customer table or reports.
PII_COLUMNS = ("name", "first_name", "last_name", "email", "phone", "address", "street_address", "ssn", "birth_date")
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

    def __init__(self, path: Path, con: duckdb.DuckDBPyConnection, tables: dict[str, _TableFile], as_of: pd.Timestamp):
        self.path = path
        self.con = con
        self._tables = tables
        self.as_of = as_of
        self.notes: list[str] = []
        self.quality: dict[str, int | float] = {}
        self._fingerprint: str | None = None

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
    elif path.is_file():
        try:
            con.execute(f"ATTACH {_lit(str(path))} AS src (READ_ONLY)")
        except duckdb.Error as exc:
            raise DataError(f"source: {path} is not a DuckDB database file ({_first_line(exc)}).") from None
        names = {r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_catalog = 'src'").fetchall()}
        for name in TABLES:
            if name in names:
                found[name] = _TableFile(name, "duckdb", f"src.{_q(name)}", [path])
        if "transactions" not in found:
            raise DataError(f"transactions: database {path} has no table 'transactions' (found: {sorted(names) or 'none'}).")
    else:
        raise DataError(f"source: {path} does not exist (expected a directory of CSV/Parquet files or a DuckDB database file).")
    return found


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
    else:
        con.execute(f"CREATE VIEW {raw} AS SELECT rowid + 1 AS __row, * FROM {t.location}")


# --- validation --------------------------------------------------------------
class _Validator:
    def __init__(self, con: duckdb.DuckDBPyConnection, tables: dict[str, _TableFile]):
        self.con = con
        self.tables = tables

    def label(self, name: str) -> str:
        t = self.tables[name]
        return "line" if t.kind == "csv" else "row"

    def columns(self, name: str) -> dict[str, str]:
        return {r[0]: r[1] for r in self.con.execute(f"DESCRIBE raw_{name}").fetchall() if r[0] != "__row"}

    def offending(self, name: str, condition: str, show: str) -> tuple[int, list]:
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
            raise DataError(
                f"{name}: missing required column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                f"(found: {', '.join(cols) or 'none'}; expected at least {', '.join(REQUIRED[name])})."
            )
        if self.con.execute(f"SELECT count(*) FROM raw_{name}").fetchone()[0] == 0:
            raise DataError(f"{name}: the table is empty (expected at least one row).")
        return cols

    def type_of(self, name: str, col: str) -> str:
        return self.columns(name)[col].upper()

    def not_null(self, name: str, col: str) -> None:
        c = _q(col)
        blank = f" OR trim({c}) = ''" if self.type_of(name, col) == "VARCHAR" else ""  # typed columns: NULL only
        n, rows = self.offending(name, f"{c} IS NULL{blank}", c)
        if n:
            where = ", ".join(f"{self.label(name)} {r[0]}" for r in rows)
            raise DataError(f"{name}.{col}: {_count(n, 'row has', 'rows have')} no value, e.g. {where}; expected a value in every row.")

    def parses(self, name: str, col: str, target: str, expected: str, allow_null: bool = False) -> None:
        noun = {"DOUBLE": "a number", "DATE": "a date"}.get(target, "a date or datetime")
        c = _q(col)
        have = self.type_of(name, col)
        already = (have == target or (target == "TIMESTAMP" and have.startswith(("TIMESTAMP", "DATE")))
                   or (target == "DOUBLE" and have.split("(")[0] in _NUMERIC) or (target == "DATE" and have == "DATE"))
        # A Parquet or DuckDB column of the right type cannot hold unparsable values: skip the casts.
        cond = "FALSE" if already else f"TRY_CAST({c} AS {target}) IS NULL AND {c} IS NOT NULL"
        if not allow_null:
            cond = f"({cond}) OR {c} IS NULL"
        n, rows = self.offending(name, cond, c)
        if n:
            raise DataError(
                f"{name}.{col}: could not read {_count(n, 'row', 'rows')} as {noun}, "
                f"{_rows_text(rows, self.label(name))}; expected {expected}."
            )

    def unique(self, name: str, col: str, what: tuple[str, str]) -> None:
        c = _q(col)
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


def _bool_sql(col: str) -> str:
    c = f"lower(trim(CAST({_q(col)} AS VARCHAR)))"
    return (f"CASE WHEN {c} IN ('true','t','1','yes','y','kyllä','k') THEN TRUE "
            f"WHEN {c} IN ('false','f','0','no','n','ei','e') THEN FALSE ELSE NULL END")


def load_source(path, as_of=None, memory_limit: str | None = None, threads: int | None = None) -> Source:
    """Open and validate a data source.

    Parameters
    ----------
    path : str or Path
        A directory with ``transactions.csv|.parquet|/`` (and optionally
        ``customers``, ``assignments``), or a DuckDB database file.
    as_of : date-like, optional
        Analysis date; transactions after it are excluded (and counted). Default:
        the date of the last transaction.
    memory_limit : str, optional
        DuckDB memory limit such as ``"3GB"`` for very large logs.

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
    if isinstance(path, Source):
        return path if as_of is None or parse_date(as_of) == path.as_of else load_source(path.path, as_of)
    path = Path(path)
    config = {}
    if memory_limit:
        config["memory_limit"] = memory_limit
    if threads:
        config["threads"] = threads
    try:
        con = duckdb.connect(":memory:", config=config)
    except duckdb.Error:
        raise ParameterError(f"memory_limit: got {memory_limit!r}, expected a size like 3GB." if memory_limit else
                             f"threads: got {threads!r}, expected a whole number >= 1.") from None
    try:
        con.execute("SET enable_progress_bar = false")
    except duckdb.Error:  # inside Jupyter without ipywidgets DuckDB refuses to change the setting at all
        pass
    tables = _find_tables(path, con)
    for t in tables.values():
        _register(con, t)
    v = _Validator(con, tables)

    # transactions
    cols = v.require("transactions")
    v.not_null("transactions", "customer_id")
    v.parses("transactions", "timestamp", "TIMESTAMP", "a date like 2026-10-31 or a datetime like 2026-10-31 14:05:00")
    v.parses("transactions", "amount", "DOUBLE", "a number like 12.50 (decimal point, no thousands separator)")
    if "transaction_id" in cols:
        v.unique("transactions", "transaction_id", ("transaction ID", "transaction IDs"))

    last_day = con.execute("SELECT max(CAST(TRY_CAST(timestamp AS TIMESTAMP) AS DATE)) FROM raw_transactions").fetchone()[0]
    as_of_ts = parse_date(as_of) if as_of is not None else pd.Timestamp(last_day)
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
               CAST(timestamp AS TIMESTAMP) AS timestamp,
               CAST(amount AS DOUBLE) AS amount,
               {opt['transaction_id']} AS transaction_id,
               lower(trim({opt['channel']})) AS channel,
               lower(trim({opt['category']})) AS category
        FROM raw_transactions""")
    con.execute("CREATE VIEW transactions_all AS SELECT CAST(customer_id AS VARCHAR) AS customer_id, "
                "* EXCLUDE (customer_id) FROM transactions_keyed_all")
    for view, base in (("transactions", "transactions_all"), ("transactions_keyed", "transactions_keyed_all")):
        con.execute(f"CREATE VIEW {view} AS SELECT * FROM {base} WHERE timestamp < TIMESTAMP {_lit(end)}")

    src = Source(path, con, tables, as_of_ts)
    q = src.quality
    stats = con.execute(f"""
        SELECT count(*) FILTER (WHERE timestamp < TIMESTAMP {_lit(end)}),
               count(*) FILTER (WHERE timestamp >= TIMESTAMP {_lit(end)}),
               count(DISTINCT customer_id) FILTER (WHERE timestamp < TIMESTAMP {_lit(end)}),
               count(*) FILTER (WHERE amount < 0 AND timestamp < TIMESTAMP {_lit(end)}),
               coalesce(sum(amount) FILTER (WHERE amount < 0 AND timestamp < TIMESTAMP {_lit(end)}), 0),
               min(CAST(timestamp AS DATE)), max(CAST(timestamp AS DATE) ) FILTER (WHERE timestamp < TIMESTAMP {_lit(end)})
        FROM transactions_keyed_all""").fetchone()
    q.update(transactions=stats[0], future_rows_excluded=stats[1], buyers=stats[2], refund_rows=stats[3],
             refund_amount=round(float(stats[4]), 2), first_day=str(stats[5]), last_day=str(stats[6]))
    if stats[0] == 0:
        raise DataError(f"transactions: no rows on or before as_of {as_of_ts.date()} (first transaction {stats[5]}); "
                        "expected as_of after the first transaction.")
    if stats[1]:
        src.notes.append(f"{stats[1]:,} transactions after as_of {as_of_ts.date()} were excluded.")
    if stats[3]:
        src.notes.append(f"{stats[3]:,} refund rows (negative amounts, {abs(stats[4]):,.2f} in total) are netted "
                         "per customer and day.")
    dup_days = con.execute("""SELECT count(*) FROM (SELECT customer_id, timestamp, amount FROM transactions_keyed
                              GROUP BY ALL HAVING count(*) > 1)""").fetchone()[0]
    q["possible_duplicate_rows"] = int(dup_days)
    if dup_days:
        src.notes.append(f"{dup_days:,} groups of transactions share customer, timestamp and amount (possible duplicates; kept).")

    if "customers" in tables:
        _customers(v, src)
    if "assignments" in tables:
        _assignments(v, src)
    if "campaigns" in tables:
        _campaigns(v, src)
    return src


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
    n, no_perm, unknown_buyers = con.execute("""
        SELECT (SELECT count(*) FROM customers),
               (SELECT count(*) FROM customers WHERE marketing_permission IS NULL),
               (SELECT count(DISTINCT t.customer_id) FROM transactions t ANTI JOIN customers c USING (customer_id))
    """).fetchone()
    src.quality.update(customers=n, missing_marketing_permission=no_perm, buyers_not_in_customers=unknown_buyers)
    if no_perm and "marketing_permission" in cols:
        src.notes.append(f"{no_perm:,} customers have no recorded marketing permission.")
    if unknown_buyers:
        src.notes.append(f"{unknown_buyers:,} customers in transactions are missing from the customers table.")


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
        where = "the customers table" if src.has("customers") else "transactions"
        raise DataError(f"assignments.customer_id: {_count(n, 'row refers', 'rows refer')} to customers not in {where}, "
                        f"{_rows_text(rows, v.label('assignments'))}; expected known customers.")
    both = con.execute("""
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
               CAST(variant AS VARCHAR) AS variant, CAST(assigned_at AS TIMESTAMP) AS assigned_at
               {''.join(', ' + o for o in optional)}
        FROM raw_assignments""")
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
