"""The data contract on Spark: finding the tables (a folder, a cluster URI or the metastore) and checking them.

The same checks and the same one-sentence errors as :func:`analysis.data.load_source`, in Spark SQL.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from analysis.data import REQUIRED, is_database_url, near_miss_error, parse_date, privacy
from analysis.data.contract import (NULL_WORDS, OFFSET_RE, PERMISSION_BLANKS, PERMISSION_NO, PERMISSION_WORDS,
                                     PERMISSION_YES, SHOW_ROWS,
                                     TIME_WORDS, plural, rows_text)
from analysis.data.engine import MONEY_LIMIT
from analysis.errors import DataError

if TYPE_CHECKING:
    from analysis.customers.spark import SparkSource  # local: type hints only (spark imports this module)

#: A source that names a metastore database (or ``catalog.schema``) holding the tables.
METASTORE_PREFIX = "metastore:"
_INTEGER_TYPES = ("tinyint", "smallint", "int", "bigint")
_FLOAT_TYPES = ("float", "double")
# A plain decimal number as text: Spark would also read '12.5d' and '1f' (Java's float syntax).
_NUMBER_RE = r"^\s*[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?\s*$"


def _slit(text: str) -> str:
    """A Spark SQL string literal: backslashes and quotes escaped, so the text arrives as written."""
    return "'" + str(text).replace("\\", "\\\\").replace("'", "\\'") + "'"


def first_line(exc: Exception) -> str:
    """The first line of an exception's message (at most 200 characters), for a one-sentence error."""
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:200]


# --- finding the tables -------------------------------------------------------
def _hadoop_path(spark, location: str):
    """``(filesystem, path)`` through the session's Hadoop configuration (local files, s3a://, abfss://, dbfs:/)."""
    try:
        jvm = spark.sparkContext._jvm
        p = jvm.org.apache.hadoop.fs.Path(location)
        return p.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), p
    except Exception:
        return None, None


def _exists(spark, location: str) -> bool:
    if "://" not in location and not location.startswith("dbfs:"):
        return Path(location).exists()
    fs, p = _hadoop_path(spark, location)
    if fs is None:
        return False
    try:
        return bool(fs.exists(p))
    except Exception:
        return False


def _is_file(spark, location: str) -> bool:
    if "://" not in location and not location.startswith("dbfs:"):
        return Path(location).is_file()
    fs, p = _hadoop_path(spark, location)
    try:
        return fs is not None and bool(fs.exists(p)) and bool(fs.getFileStatus(p).isFile())
    except Exception:
        return False


def check_spark_source(source) -> str:
    """``source`` as the Spark engine takes it, or a DataError saying why not, before Spark starts.

    A ``.sql`` source definition runs only in DuckDB's sandbox (:mod:`analysis.data.sandbox`: an
    allow-list of table functions, files only in named folders, configuration locked). Spark SQL has
    none of these: a query reads any path (``parquet.`/any/file```), calls Java (``java_method``) and
    changes settings, so Kanta never runs a definition's SQL on Spark. A DuckDB database file or a
    database URL is likewise the DuckDB engine's.

    Example
    -------
    >>> check_spark_source("s3a://crm/kanta")
    's3a://crm/kanta'
    >>> check_spark_source("exports/kanta.sql")
    Traceback (most recent call last):
    analysis.errors.DataError: source: kanta.sql is a .sql source definition, which runs only in DuckDB's sandbox; the Spark engine reads Parquet or Delta tables in a folder or metastore:DATABASE (expected --engine duckdb for a definition, or its views exported to Parquet).
    """
    text = str(source)
    if is_database_url(text):
        raise DataError("source: a database URL is read by the DuckDB engine; the Spark engine reads Parquet or "
                        f"Delta tables in a folder or {METASTORE_PREFIX}DATABASE (expected --engine duckdb).")
    if text.startswith(METASTORE_PREFIX) or "://" in text or text.startswith("dbfs:"):
        return text
    path = Path(text)
    if path.suffix.lower() == ".sql" and not path.is_dir():
        raise DataError(f"source: {path.name} is a .sql source definition, which runs only in DuckDB's sandbox; "
                        "the Spark engine reads Parquet or Delta tables in a folder or "
                        f"{METASTORE_PREFIX}DATABASE (expected --engine duckdb for a definition, or its views "
                        "exported to Parquet).")
    if path.is_file():
        raise DataError(f"source: {path.name} is a file; the Spark engine reads a folder of Parquet or Delta "
                        f"tables or {METASTORE_PREFIX}DATABASE (expected a folder, or --engine duckdb for a DuckDB "
                        "database file).")
    return text


def find_spark_tables(spark, source: str) -> dict[str, tuple[str, str]]:
    """The contract's tables in ``source``: a folder (local or a cluster URI) or ``metastore:DATABASE``."""
    found: dict[str, tuple[str, str]] = {}
    if source.startswith(METASTORE_PREFIX):
        database = source[len(METASTORE_PREFIX):].strip().rstrip(".")
        if not database:
            raise DataError(f"source: {source!r} names no database; expected metastore:DATABASE, e.g. metastore:crm.")
        for name in ("transactions", "customers"):
            table = f"{database}.{name}"
            try:
                exists = spark.catalog.tableExists(table)
            except Exception as exc:
                raise DataError(f"{name}: could not look up table {table} in the metastore ({first_line(exc)}).") \
                    from None
            if exists:
                found[name] = ("table", table)
        if "transactions" not in found:
            raise DataError(f"transactions: the metastore has no table {database}.transactions (expected the "
                            "transactions table of the data contract).")
        return found
    root = source.rstrip("/") or source
    if not _exists(spark, root):
        raise DataError(f"source: {source} does not exist (expected a folder of Parquet files or Delta tables, "
                        f"or {METASTORE_PREFIX}DATABASE for metastore tables).")
    for name in ("transactions", "customers"):
        file, folder = f"{root}/{name}.parquet", f"{root}/{name}"
        if _is_file(spark, file):
            found[name] = ("parquet", file)
        elif _exists(spark, f"{folder}/_delta_log"):
            found[name] = ("delta", folder)
        elif _exists(spark, folder):
            found[name] = ("parquet", folder)
        elif _exists(spark, f"{root}/{name}.csv"):
            raise DataError(f"{name}: {root}/{name}.csv is CSV; the Spark engine reads Parquet, Delta or metastore "
                            f"tables (expected {name}.parquet or a {name}/ folder; or run with --engine duckdb).")
    if "transactions" not in found:
        raise DataError(f"transactions: no transactions.parquet or transactions/ folder (Parquet or Delta) in {source} "
                        "(expected the transactions table of the data contract).")
    return found


def read_spark_table(spark, name: str, fmt: str, location: str):
    """The table as a DataFrame with the original row number ``__row`` where the format has one."""
    from pyspark.sql import functions as F  # local: pyspark is optional (the spark extra)

    try:
        if fmt == "table":
            df = spark.table(location)
        elif fmt == "delta":
            df = spark.read.format("delta").load(location)
        else:
            df = spark.read.parquet(location)
    except Exception as exc:
        text = str(exc)
        if fmt == "delta" and ("DATA_SOURCE_NOT_FOUND" in text or "delta" in text.lower() and "find" in text.lower()):
            raise DataError(f"{name}: {location} is a Delta table but this Spark session has no Delta Lake; expected "
                            "a session configured with delta-spark (spark.sql.extensions "
                            "io.delta.sql.DeltaSparkSessionExtension), as on Databricks.") from None
        raise DataError(f"{name}: {location} could not be read as {'a table' if fmt == 'table' else fmt.title()} "
                        f"({first_line(exc)}).") from None
    try:  # the row within its file, as DuckDB numbers Parquet rows (file_row_number + 1)
        return df.withColumn("__row", F.col("_metadata.row_index") + 1)
    except Exception:  # a table format without row indexes: examples are named without a row
        return df.withColumn("__row", F.lit(None).cast("bigint"))


# --- validation in Spark SQL ----------------------------------------------------
def _types(spark, view: str) -> dict[str, str]:
    return {f.name: f.dataType.simpleString().lower() for f in spark.table(view).schema.fields if f.name != "__row"}


def _null_sql(col: str, kind: str) -> str:
    """NULL, blank or a placeholder word (``NULL``, ``nan``, ``None``): not one customer."""
    c = _ident(col)
    words = ", ".join(_slit(w) for w in NULL_WORDS)
    text_like = kind == "string" or kind in _FLOAT_TYPES
    return f"({c} IS NULL" + (f" OR lower(trim(CAST({c} AS STRING))) IN ({words}))" if text_like else ")")


def _ident(col: str) -> str:
    return f"`{col.replace('`', '``')}`"


def unquotable_columns(columns) -> list[str]:
    r"""Column names the shared SQL builders cannot quote for Spark: those with a backslash.

    The builders quote names the ANSI way (``"name"``, :func:`analysis.data.quote_ident`). In Spark a
    backslash inside double quotes escapes the next character and stays in the name, so ``a\`` cannot
    be written at all and ``x\" , java_method(...) AS y --`` would end the name early and run the rest as SQL.

    Example
    -------
    >>> unquotable_columns(["region", "age band", "x\\", 'x\\" , java_method(1) AS y --'])
    ['x\\', 'x\\" , java_method(1) AS y --']
    """
    return [c for c in columns if "\\" in c]


def _timestamp_sql(col: str, kind: str) -> str:
    """``col`` as business wall-clock time (TIMESTAMP_NTZ), NULL where it cannot be read.

    Text with an offset and instants (TIMESTAMP) are converted to the session's time zone, which
    :func:`load_spark_source` sets to the business time zone; text without one is taken as written.
    """
    c = _ident(col)
    if kind in ("timestamp_ntz", "timestamp", "date"):
        return f"CAST({c} AS TIMESTAMP_NTZ)"
    text = f"CAST({c} AS STRING)"
    return (f"CASE WHEN {text} RLIKE {_slit(OFFSET_RE)} THEN CAST(try_cast({text} AS TIMESTAMP) AS TIMESTAMP_NTZ) "
            f"ELSE try_cast({text} AS TIMESTAMP_NTZ) END")


def _date_sql(col: str, kind: str) -> str:
    c = _ident(col)
    if kind == "date":
        return c
    if kind.startswith("timestamp"):
        return f"CAST(CAST({c} AS TIMESTAMP_NTZ) AS DATE)"
    return f"try_cast(CAST({c} AS STRING) AS DATE)"


def _amount_sql(col: str, kind: str) -> str:
    c = _ident(col)
    if kind in _INTEGER_TYPES or kind in _FLOAT_TYPES or kind.startswith("decimal"):
        return f"CAST({c} AS DOUBLE)"
    text = f"CAST({c} AS STRING)"
    return f"CASE WHEN {text} RLIKE {_slit(_NUMBER_RE)} THEN try_cast({text} AS DOUBLE) END"


def _bad_number_sql(col: str, kind: str) -> str:
    c, v = _ident(col), _amount_sql(col, kind)
    if kind in _INTEGER_TYPES or kind.startswith("decimal"):
        return f"{c} IS NULL"
    return f"({c} IS NULL OR {v} IS NULL OR isnan({v}) OR abs({v}) = double('inf'))"


def _bad_time_sql(col: str, kind: str, value: str, allow_null: bool = False) -> str:
    c = _ident(col)
    if kind in ("timestamp_ntz", "timestamp", "date"):
        bad = "FALSE"
    else:
        words = ", ".join(_slit(w) for w in TIME_WORDS)
        bad = f"({c} IS NOT NULL AND ({value} IS NULL OR lower(trim(CAST({c} AS STRING))) IN ({words})))"
    return bad if allow_null else f"({bad} OR {c} IS NULL)"


def _examples(spark, view: str, condition: str, col: str) -> list[tuple]:
    rows = spark.sql(f"SELECT __row, {_ident(col)} AS v FROM {view} WHERE {condition} "
                     f"ORDER BY __row LIMIT {SHOW_ROWS}").collect()
    return [(r["__row"] if r["__row"] is not None else "?", r["v"]) for r in rows]


def _require(spark, name: str) -> dict[str, str]:
    types = _types(spark, f"raw_{name}")
    missing = [c for c in REQUIRED[name] if c not in types]
    if missing:
        raise DataError(f"{name}: missing required column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                        f"(found: {', '.join(types) or 'none'}; expected at least {', '.join(REQUIRED[name])}).")
    return types


def _raise_null(spark, name: str, col: str, condition: str, n: int) -> None:
    rows = _examples(spark, f"raw_{name}", condition, col)
    where = ", ".join(f"row {r[0]}" + (f" ({str(r[1])!r})" if r[1] is not None and str(r[1]).strip() else "")
                      for r in rows)
    raise DataError(f"{name}.{col}: {plural(n, 'row has', 'rows have')} no value, e.g. {where}; "
                    "expected a value in every row (not a placeholder such as NULL, nan or None).")


def _raise_parse(spark, name: str, col: str, condition: str, n: int, noun: str, expected: str) -> None:
    rows = _examples(spark, f"raw_{name}", condition, col)
    raise DataError(f"{name}.{col}: could not read {plural(n, 'row', 'rows')} as {noun}, "
                    f"{rows_text(rows, 'row')}; expected {expected}.")


def _raise_duplicates(spark, name: str, col: str, what: tuple[str, str]) -> None:
    """Refuse a column that should be unique (one job: the count and the first examples together)."""
    c = _ident(col)
    dup = spark.sql(f"""
        SELECT v, lo, hi, count(*) OVER () AS n FROM (
            SELECT {c} AS v, min(__row) AS lo, max(__row) AS hi FROM raw_{name}
            WHERE {c} IS NOT NULL GROUP BY {c} HAVING count(*) > 1) d
        ORDER BY lo LIMIT {SHOW_ROWS}""").collect()
    if not dup:
        return
    eg = "; ".join(f"{r['v']!r} on rows {r['lo']} and {r['hi']}" for r in dup)
    raise DataError(f"{name}.{col}: {plural(dup[0]['n'], what[0] + ' appears', what[1] + ' appear')} more than once, "
                    f"e.g. {eg}; expected each {col} once.")


def validate_transactions(spark, as_of) -> tuple[pd.Timestamp, dict]:
    """The contract's checks on ``raw_transactions`` in one pass; the typed views; the quality counts."""
    types = _require(spark, "transactions")
    id_kind, ts_kind, amount_kind = types["customer_id"], types["timestamp"], types["amount"]
    ts, amount = _timestamp_sql("timestamp", ts_kind), _amount_sql("amount", amount_kind)
    checks = {
        "null_id": _null_sql("customer_id", id_kind),
        "bad_ts": _bad_time_sql("timestamp", ts_kind, ts),
        "bad_amount": _bad_number_sql("amount", amount_kind),
    }
    if "margin" in types:  # margin or gross gaming revenue per transaction, netted like amount
        checks["bad_margin"] = _bad_number_sql("margin", types["margin"])
    money = ("amount", "margin") if "margin" in types else ("amount",)
    for col in money:  # summed as exact decimals (MONEY_TYPE), as on DuckDB
        checks[f"huge_{col}"] = f"coalesce(abs({_amount_sql(col, types[col])}) >= {MONEY_LIMIT}, FALSE)"
    row = spark.sql("SELECT count(*) AS n, " + ", ".join(f"count_if({c}) AS {k}" for k, c in checks.items())
                    + f", max(CAST({ts} AS DATE)) AS last_day FROM raw_transactions").collect()[0]
    if row["n"] == 0:
        raise DataError("transactions: the table is empty (expected at least one row).")
    if row["null_id"]:
        _raise_null(spark, "transactions", "customer_id", checks["null_id"], row["null_id"])
    if row["bad_ts"]:
        _raise_parse(spark, "transactions", "timestamp", checks["bad_ts"], row["bad_ts"], "a date or datetime",
                     "a date like 2026-10-31 or a datetime like 2026-10-31 14:05:00")
    if row["bad_amount"]:
        _raise_parse(spark, "transactions", "amount", checks["bad_amount"], row["bad_amount"], "a number",
                     "a number like 12.50 (decimal point, no thousands separator)")
    if "bad_margin" in checks and row["bad_margin"]:
        _raise_parse(spark, "transactions", "margin", checks["bad_margin"], row["bad_margin"], "a number",
                     "a number like 3.20 (decimal point, no thousands separator)")
    for col in money:
        if row[f"huge_{col}"]:
            rows = _examples(spark, "raw_transactions", checks[f"huge_{col}"], col)
            raise DataError(f"transactions.{col}: {plural(row[f'huge_{col}'], 'row is', 'rows are')} {MONEY_LIMIT:,} or "
                            f"more in size, {rows_text(rows, 'row')}; expected an amount in currency units below that.")
    if "transaction_id" in types:
        _raise_duplicates(spark, "transactions", "transaction_id", ("transaction ID", "transaction IDs"))
    as_of_ts = parse_date(as_of) if as_of is not None else pd.Timestamp(row["last_day"])
    end = (as_of_ts + pd.Timedelta(days=1)).strftime("%Y-%m-%d")

    opt = {c: (f"CAST({_ident(c)} AS STRING)" if c in types else "CAST(NULL AS STRING)")
           for c in ("transaction_id", "channel", "category")}
    # integer IDs keep their type in transactions_keyed (cheaper to shuffle); text once per customer at the end
    key = "customer_id" if id_kind in _INTEGER_TYPES else "CAST(customer_id AS STRING)"
    spark.sql(f"""
        CREATE OR REPLACE TEMP VIEW transactions_keyed_all AS
        SELECT {key} AS customer_id, {ts} AS timestamp, {amount} AS amount,
               {opt['transaction_id']} AS transaction_id,
               lower(trim({opt['channel']})) AS channel, lower(trim({opt['category']})) AS category,
               {_amount_sql('margin', types['margin']) if 'margin' in types else 'CAST(NULL AS DOUBLE)'} AS margin
        FROM raw_transactions""")
    spark.sql("CREATE OR REPLACE TEMP VIEW transactions_all AS SELECT CAST(customer_id AS STRING) AS customer_id, "
              "timestamp, amount, transaction_id, channel, category, margin FROM transactions_keyed_all")
    for view, base in (("transactions", "transactions_all"), ("transactions_keyed", "transactions_keyed_all")):
        spark.sql(f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT * FROM {base} "
                  f"WHERE timestamp < TIMESTAMP_NTZ {_slit(end)}")
    before, after = f"timestamp < TIMESTAMP_NTZ {_slit(end)}", f"timestamp >= TIMESTAMP_NTZ {_slit(end)}"
    s = spark.sql(f"""
        SELECT count_if({before}) AS n, count_if({after}) AS future,
               count(DISTINCT CASE WHEN {before} THEN customer_id END) AS buyers,
               count_if(amount < 0 AND {before}) AS refunds,
               coalesce(sum(CASE WHEN amount < 0 AND {before} THEN amount END), 0) AS refund_amount,
               min(CAST(timestamp AS DATE)) AS first_day,
               max(CASE WHEN {before} THEN CAST(timestamp AS DATE) END) AS last_day
        FROM transactions_keyed_all""").collect()[0]
    quality = dict(transactions=int(s["n"]), future_rows_excluded=int(s["future"]), buyers=int(s["buyers"]),
                   refund_rows=int(s["refunds"]), refund_amount=round(float(s["refund_amount"]), 2),
                   first_day=str(s["first_day"]), last_day=str(s["last_day"]))
    if s["n"] == 0:
        raise DataError(f"transactions: no rows on or before as_of {as_of_ts.date()} (first transaction "
                        f"{s['first_day']}); expected as_of after the first transaction.")
    quality["possible_duplicate_rows"] = int(spark.sql(
        "SELECT count(*) AS n FROM (SELECT customer_id, timestamp, amount FROM transactions_keyed "
        "GROUP BY customer_id, timestamp, amount HAVING count(*) > 1) d").collect()[0]["n"])
    quality["columns"] = tuple(c for c in ("transaction_id", "channel", "category", "margin") if c in types)
    return as_of_ts, quality


def _normal_id_sql(x: str) -> str:
    """:func:`analysis.data.table_checks._normal_id_sql` in Spark SQL: trimmed, lower case, no trailing ``.0``, no leading zeros."""
    s = f"regexp_replace(lower(trim(CAST({x} AS STRING))), {_slit(chr(92) + '.0+$')}, '')"
    return f"CASE WHEN TRIM(LEADING '0' FROM {s}) = '' THEN {s} ELSE TRIM(LEADING '0' FROM {s}) END"


def _refuse_near_misses(spark) -> None:
    """Refuse transaction customer IDs that match the customers table only after normalisation (as DuckDB does)."""
    pairs = spark.sql(f"""
        WITH a AS (SELECT DISTINCT customer_id AS id FROM transactions_all),
             k AS (SELECT DISTINCT customer_id AS id FROM customers),
             miss AS (SELECT id FROM a LEFT ANTI JOIN k ON a.id = k.id),
             pairs AS (SELECT m.id AS id, min(k.id) AS known FROM miss m JOIN k
                       ON {_normal_id_sql('m.id')} = {_normal_id_sql('k.id')} GROUP BY m.id)
        SELECT id, known, count(*) OVER () AS n FROM pairs ORDER BY id LIMIT {SHOW_ROWS}""").collect()
    if not pairs:
        return
    raise near_miss_error("transactions.customer_id", "customers.customer_id", pairs[0]["n"],
                          [(r["id"], r["known"]) for r in pairs])


def validate_customers(spark, src: SparkSource) -> None:
    types = _require(spark, "customers")
    checks = {"null_id": _null_sql("customer_id", types["customer_id"]),
              "bad_signup": _bad_time_sql("signup_date", types["signup_date"],
                                          _date_sql("signup_date", types["signup_date"]))}
    if "churn_date" in types:
        checks["bad_churn"] = _bad_time_sql("churn_date", types["churn_date"],
                                            _date_sql("churn_date", types["churn_date"]), allow_null=True)
    # personal data: columns named so are never read; text columns are searched for values (one pass with the checks)
    others = [c for c in types if c not in ("customer_id", "signup_date", "churn_date", "marketing_permission")]
    by_name = {c: "name" for c in others if privacy.is_personal_column(c)}
    text = [c for c in others if c not in by_name and types[c] == "string"]
    kinds = list(privacy.PATTERNS)
    perm = "CAST(NULL AS BOOLEAN)"
    if "marketing_permission" in types:
        # the data contract's vocabulary (analysis.data.contract), in Spark SQL
        b = "trim(lower(coalesce(CAST(marketing_permission AS STRING), '')))"
        b = f"regexp_replace(regexp_replace({b}, '([a-z])[\\\\s_-]+([a-z])', '$1$2'), '^([01])\\\\.0+$', '$1')"
        yes = ", ".join(_slit(w) for w in PERMISSION_YES)
        no = ", ".join(_slit(w) for w in (*PERMISSION_NO, *PERMISSION_BLANKS))
        perm = f"CASE WHEN {b} IN ({yes}) THEN TRUE WHEN {b} IN ({no}) THEN FALSE ELSE NULL END"
    checks["no_perm"] = "TRUE"  # no column: nobody's permission is recorded
    if "marketing_permission" in types:
        checks["no_perm"] = f"{b} IN ({', '.join(_slit(w) for w in PERMISSION_BLANKS)})"
        checks["bad_perm"] = f"({perm}) IS NULL"
    for i, c in enumerate(text):
        for j, rx in enumerate(privacy.PATTERNS.values()):
            checks[f"pii_{i}_{j}"] = f"{_ident(c)} RLIKE {_slit(rx)}"
    row = spark.sql("SELECT count(*) AS n, " + ", ".join(f"count_if({c}) AS {k}" for k, c in checks.items())
                    + " FROM raw_customers").collect()[0]
    if row["n"] == 0:
        raise DataError("customers: the table is empty (expected at least one row).")
    if row["null_id"]:
        _raise_null(spark, "customers", "customer_id", checks["null_id"], row["null_id"])
    _raise_duplicates(spark, "customers", "customer_id", ("customer ID", "customer IDs"))
    for col, key in (("signup_date", "bad_signup"), ("churn_date", "bad_churn")):
        if key in checks and row[key]:
            _raise_parse(spark, "customers", col, checks[key], row[key], "a date", "a date like 2026-10-31")

    if "bad_perm" in checks and row["bad_perm"]:
        bad = [r[0] for r in spark.sql(f"SELECT DISTINCT CAST(marketing_permission AS STRING) AS v FROM raw_customers "
                                       f"WHERE {checks['bad_perm']} ORDER BY v LIMIT {SHOW_ROWS + 2}").collect()]
        raise DataError(f"customers.marketing_permission: {plural(int(row['bad_perm']), 'row holds', 'rows hold')} "
                        f"values that are not a recognised permission ({', '.join(map(privacy.shown_value, bad))}); expected "
                        f"{PERMISSION_WORDS}, a blank meaning no permission.")
    for i, c in enumerate(text):
        hits = {k: row[f"pii_{i}_{j}"] for j, k in enumerate(kinds) if row[f"pii_{i}_{j}"]}
        if hits:
            kind = max(hits, key=hits.get)
            by_name[c] = kind
            src.notes.append(f"customers.{c} holds personal data ({kind.replace('_', ' ')} in "
                             f"{plural(hits[kind], 'row', 'rows')}); it stays out of the customer table.")
    src.personal_columns.update(by_name)
    churn = _date_sql("churn_date", types["churn_date"]) if "churn_date" in types else "CAST(NULL AS DATE)"
    kept = [c for c in others if c not in by_name and c not in unquotable_columns(others)]
    for c in unquotable_columns(others):
        src.notes.append(f"customers.{c}: Spark SQL reads the backslash in this column name as an escape, so the "
                         "Spark engine leaves the column out of the customer table (rename it in the export, or "
                         "use --engine duckdb to keep it).")
    extra = "".join(f", CAST({_ident(c)} AS STRING) AS {_ident(c)}" for c in kept)
    spark.sql(f"""
        CREATE OR REPLACE TEMP VIEW customers AS
        SELECT CAST(customer_id AS STRING) AS customer_id,
               {_date_sql('signup_date', types['signup_date'])} AS signup_date,
               {perm} AS marketing_permission, {churn} AS churn_date{extra}
        FROM raw_customers""")
    unknown = int(spark.sql("""SELECT count(DISTINCT t.customer_id) AS n FROM transactions t
                               LEFT ANTI JOIN customers c ON t.customer_id = c.customer_id""").collect()[0]["n"])
    if unknown:
        _refuse_near_misses(spark)
    src.quality.update(customers=int(row["n"]), missing_marketing_permission=int(row["no_perm"]),
                       buyers_not_in_customers=unknown)
    if row["no_perm"] and "marketing_permission" in types:
        src.notes.append(f"{row['no_perm']:,} customers have no recorded marketing permission.")
    if unknown:
        src.notes.append(f"{unknown:,} customers in transactions are missing from the customers table.")

