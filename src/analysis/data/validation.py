"""Validation of a source against the data contract: the column checks and the transactions table.

The other tables' checks are in :mod:`analysis.data.table_checks`; bad input raises one :class:`DataError` sentence.
"""
from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

from analysis.data import table_checks
from analysis.data.contract import NULL_WORDS, OFFSET_RE, REQUIRED, SHOW_ROWS, TIME_WORDS, plural, rows_text
from analysis.data.dates import business_timezone, parse_date
from analysis.data.definitions import definition_hint, is_sandboxed
from analysis.data.engine import MONEY_LIMIT, first_line, money_sql, quote_ident, quote_literal
from analysis.data.sandbox import budget_error, end_of_load
from analysis.data.source import Source
from analysis.data.tables import TableFile, register
from analysis.errors import DataError, ParameterError

_NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT",
            "FLOAT", "DOUBLE", "REAL", "DECIMAL")


#: Contract columns besides the required ones that must hold one value per row.
_OPTIONAL = ("transaction_id", "margin", "churn_date", "marketing_permission", "contact_id", "resolved_at")


def _plausible(x: str) -> str:
    """A date or time a CRM can hold: years 1900-2261 (year 1 and 9999 are placeholders; pandas ends in 2262)."""
    return f"year({x}) BETWEEN 1900 AND 2261"


class Validator:
    """The contract's checks of one source. ``trusted``: the same views without the checks (see :func:`reopen_source`)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, tables: dict[str, TableFile], trusted: bool = False):
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
                f"SELECT __row, {show} FROM raw_{name} WHERE {condition} ORDER BY __row LIMIT {SHOW_ROWS}").fetchall()
        return n, rows

    def require(self, name: str) -> dict[str, str]:
        cols = self.columns(name)
        missing = [c for c in REQUIRED[name] if c not in cols]
        if missing:
            t = self.tables[name]
            hint = f"; {definition_hint(name, t, list(cols))}" if t.kind in ("csv", "parquet") else ""
            raise DataError(
                f"{name}: missing required column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                f"(found: {', '.join(cols) or 'none'}; expected at least {', '.join(REQUIRED[name])}){hint}."
            )
        for c in (*REQUIRED[name], *_OPTIONAL):
            kind = cols.get(c, "").upper()
            if kind.endswith("]") or kind.startswith(("STRUCT", "MAP", "UNION", "JSON", "BLOB", "BIT")):
                raise DataError(f"{name}.{c}: the column holds {kind.split('(')[0].lower()} values, not one value "
                                "per row; expected text, a number or a date in each row.")
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
        c = quote_ident(col)
        have = self.type_of(name, col)
        words = ", ".join(quote_literal(w) for w in NULL_WORDS)
        # integer and date columns can only be NULL; text and float columns can spell "no value"
        blank = f" OR lower(trim(CAST({c} AS VARCHAR))) IN ({words})" if have in ("VARCHAR", "FLOAT", "DOUBLE", "REAL") \
            else ""
        cond = f"{c} IS NULL{blank}"

        def refuse(n: int) -> None:
            n, rows = self.offending(name, cond, c)
            where = ", ".join(f"{self.label(name)} {r[0]}" + (f" ({str(r[1])!r})" if r[1] is not None and str(r[1]).strip()
                                                            else "") for r in rows)
            raise DataError(f"{name}.{col}: {plural(n, 'row has', 'rows have')} no value, e.g. {where}; "
                            "expected a value in every row (not a placeholder such as NULL, nan or None).")

        self.check(name, cond, refuse, pending)

    def value_sql(self, name: str, col: str, target: str) -> str:
        """``col`` read as ``target`` (NULL where it cannot be read); offsets converted to the business time zone.

        A text timestamp with an offset (``...+02:00``, ``...Z``) goes through TIMESTAMPTZ, which the
        connection's time zone turns into local wall-clock time; one without an offset is taken as local
        time as written (no DST shifts). TIMESTAMPTZ columns convert the same way.
        """
        c = quote_ident(col)
        have = self.type_of(name, col)
        if target == "TIMESTAMP" and (have.startswith("TIMESTAMP") or have == "DATE"):
            return f"CAST({c} AS TIMESTAMP)"
        if target == "TIMESTAMP" and have == "VARCHAR":
            return (f"CASE WHEN regexp_matches({c}, {quote_literal(OFFSET_RE)}) "
                    f"THEN CAST(TRY_CAST({c} AS TIMESTAMPTZ) AS TIMESTAMP) ELSE TRY_CAST({c} AS TIMESTAMP) END")
        if target == "DATE" and have.startswith("TIMESTAMP"):
            return f"CAST(CAST({c} AS TIMESTAMP) AS DATE)"
        if target == "DATE" and have == "VARCHAR":  # an instant (2024-01-01T23:30:00Z) is a day in the business zone
            return (f"CASE WHEN regexp_matches({c}, {quote_literal(OFFSET_RE)}) "
                    f"THEN CAST(CAST(TRY_CAST({c} AS TIMESTAMPTZ) AS TIMESTAMP) AS DATE) ELSE TRY_CAST({c} AS DATE) END")
        return f"TRY_CAST({c} AS {target})"

    def parses(self, name: str, col: str, target: str, expected: str, allow_null: bool = False,
               pending: list | None = None) -> None:
        noun = {"DOUBLE": "a number", "DATE": "a date"}.get(target, "a date or datetime")
        c = quote_ident(col)
        have = self.type_of(name, col)
        already = (have == target or (target == "TIMESTAMP" and have.startswith(("TIMESTAMP", "DATE")))
                   or (target == "DOUBLE" and have.split("(")[0] in _NUMERIC) or (target == "DATE" and have == "DATE"))
        v = self.value_sql(name, col, target)
        if already:  # a column of the right type cannot hold unparsable values, but a float can be NaN or inf
            cond = f"NOT isfinite({c})" if have in ("FLOAT", "DOUBLE", "REAL") else "FALSE"
            if target in ("TIMESTAMP", "DATE"):  # typed infinity (PostgreSQL, DuckDB files) and year 1 or 9999
                cond = f"NOT isfinite({v}) OR NOT ({_plausible(v)})"  # v: as TIMESTAMP/DATE (also _NS, TZ)
        elif target == "DOUBLE":  # 'NaN', 'inf', '-Infinity' parse as floats but are no amounts
            cond = f"{c} IS NOT NULL AND ({v} IS NULL OR NOT isfinite({v}))"
        else:  # 'epoch' and 'infinity' parse as 1970 and 9999
            words = ", ".join(quote_literal(w) for w in TIME_WORDS)
            cond = (f"{c} IS NOT NULL AND ({v} IS NULL OR NOT isfinite({v}) OR NOT ({_plausible(v)}) "
                    f"OR lower(trim(CAST({c} AS VARCHAR))) IN ({words}))")
        if not allow_null:
            cond = f"({cond}) OR {c} IS NULL"

        def refuse(n: int) -> None:
            n, rows = self.offending(name, cond, c)
            raise DataError(
                f"{name}.{col}: could not read {plural(n, 'row', 'rows')} as {noun}, "
                f"{rows_text(rows, self.label(name))}; expected {expected}."
            )

        self.check(name, cond, refuse, pending)

    def unique(self, name: str, col: str, what: tuple[str, str]) -> None:
        if self.trusted:
            return
        c = quote_ident(col)
        # as many distinct 64-bit hashes as values: no duplicate for sure (a collision can only make this
        # fail and fall through to the exact query), about a fifth cheaper than grouping the values
        if self.con.execute(f"SELECT count({c}) = count(DISTINCT hash({c})) FROM raw_{name}").fetchone()[0]:
            return
        dup = self.con.execute(
            f"SELECT {c}, count(*) AS n, min(__row), max(__row) FROM raw_{name} WHERE {c} IS NOT NULL "
            f"GROUP BY {c} HAVING count(*) > 1 ORDER BY min(__row) LIMIT {SHOW_ROWS}").fetchall()
        if dup:
            n = self.con.execute(
                f"SELECT count(*) FROM (SELECT {c} FROM raw_{name} WHERE {c} IS NOT NULL GROUP BY {c} HAVING count(*) > 1)"
            ).fetchone()[0]
            lab = self.label(name)
            eg = "; ".join(f"{d[0]!r} on {lab}s {d[2]} and {d[3]}" for d in dup)
            raise DataError(f"{name}.{col}: {plural(n, what[0] + ' appears', what[1] + ' appear')} more than once, e.g. {eg}; "
                            f"expected each {col} once.")


def validate_tables(con: duckdb.DuckDBPyConnection, tables: dict[str, TableFile], path, as_of=None,
                    timezone: str | None = None, trusted: bool = False) -> Source:
    """Register ``tables`` as ``raw_<name>`` in ``con`` and validate them: the one validation of every source kind."""
    timezone = business_timezone(timezone)
    try:
        con.execute(f"SET TimeZone = {quote_literal(timezone)}")
    except duckdb.Error:
        raise ParameterError(f"timezone: got {timezone!r}, expected a time zone name like Europe/Helsinki.") from None
    sandboxed = is_sandboxed(tables)
    try:
        src = _validate(con, tables, path, as_of, timezone, trusted)
    except (duckdb.InterruptException, duckdb.OutOfMemoryException) as exc:  # a view beyond the load's budget
        limit = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
        raise budget_error(con, f"source: {Path(str(path)).name}", [(t.name, t.location) for t in tables.values()],
                           exc, limit) from None
    except duckdb.Error as exc:  # a view or file that fails while read (a sniffed type that does not hold, ...)
        raise DataError(f"source: {Path(str(path)).name} could not be read ({first_line(exc)}).") from None
    if sandboxed:
        end_of_load(con)
        src.sandboxed = True
    return src


def _validate(con: duckdb.DuckDBPyConnection, tables: dict[str, TableFile], path, as_of, timezone: str,
              trusted: bool = False) -> Source:
    for t in tables.values():
        register(con, t)
    v = Validator(con, tables, trusted)

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
    for col in ("amount", "margin") if "margin" in cols else ("amount",):
        _within_money_limit(v, col, pending=checks)
    as_of_ts = parse_date(as_of) if as_of is not None else None
    # without as_of the window ends with the last transaction's day: no row is after it
    inside = "TRUE" if as_of_ts is None else \
        f"{ts} < TIMESTAMP {quote_literal((as_of_ts + pd.Timedelta(days=1)).strftime('%Y-%m-%d'))}"
    stats = v.run("transactions", checks, (
        f"count(*) FILTER (WHERE {inside})", f"count(*) FILTER (WHERE NOT ({inside}))",
        f"count(*) FILTER (WHERE {amount} < 0 AND {inside})",
        # exact, and guarded: this scan runs before a check refuses an amount out of the decimal's range
        f"coalesce(sum(CASE WHEN {amount} < 0 AND {amount} > -{MONEY_LIMIT} AND {inside} THEN {money_sql(amount)} END), 0)",
        f"min(CAST({ts} AS DATE))", f"max(CAST({ts} AS DATE)) FILTER (WHERE {inside})"))
    if "transaction_id" in cols:
        v.unique("transactions", "transaction_id", ("transaction ID", "transaction IDs"))
    if as_of_ts is None:
        as_of_ts = pd.Timestamp(stats[5])
    end = (as_of_ts + pd.Timedelta(days=1)).strftime("%Y-%m-%d")

    opt = {c: (f"CAST({quote_ident(c)} AS VARCHAR)" if c in cols else "CAST(NULL AS VARCHAR)")
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
        con.execute(f"CREATE VIEW {view} AS SELECT * FROM {base} WHERE timestamp < TIMESTAMP {quote_literal(end)}")

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
        table_checks.customers(v, src)
    if "assignments" in tables:
        table_checks.assignments(v, src)
    if "campaigns" in tables:
        table_checks.campaigns(v, src)
    if "contacts" in tables:
        table_checks.contacts(v, src)
    src._loading = False
    return src


def _within_money_limit(v: Validator, col: str, pending: list) -> None:
    """Amounts are summed as exact decimals (:data:`analysis.data.engine.MONEY_TYPE`): none may reach
    :data:`analysis.data.engine.MONEY_LIMIT` in size."""
    value = v.value_sql("transactions", col, "DOUBLE")
    cond = f"abs({value}) >= {MONEY_LIMIT}"

    def refuse(n: int) -> None:
        n, rows = v.offending("transactions", cond, quote_ident(col))
        raise DataError(f"transactions.{col}: {plural(n, 'row is', 'rows are')} {MONEY_LIMIT:,} or more in size, "
                        f"{rows_text(rows, v.label('transactions'))}; expected an amount in currency units below that.")

    v.check("transactions", cond, refuse, pending)


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
