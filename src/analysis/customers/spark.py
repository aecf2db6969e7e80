"""Spark as the scale-out engine: the customer state and the monthly flows where the log lives in a cluster.

The transactions (and customers) are read from Parquet files or folders, Delta tables or metastore
tables, checked against the data contract in Spark SQL (one pass for the row checks), and the same
SQL text as on DuckDB (:func:`analysis.customers.table.customer_table_sql`,
:func:`analysis.customers.table.monthly_activity_sql`, Spark dialect) runs on the cluster. What comes back
is one row per customer or per month, small enough for one machine, so the models run as usual.

Needs the ``spark`` extra (``pip install 'kanta[spark]'``) and Java 17.
"""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from analysis.customers.table import (_check_freq, _levels, customer_columns, customer_table_sql, has_margin,
                                monthly_activity_sql, monthly_flows_frame, purchase_days_sql)
from analysis.data.sources import (_NULL_WORDS, _OFFSET_RE, _SHOW_ROWS, _TIME_WORDS, REQUIRED, _count, _lit,
                           _rows_text, business_timezone, near_miss_error, parse_date)
from analysis.errors import DataError, ParameterError
from analysis.data import privacy

#: The master when none is given and Kanta is not launched by ``spark-submit``.
DEFAULT_MASTER = "local[*]"
#: How a user gets the engine.
INSTALL_HINT = "pip install 'kanta[spark]'"
#: A source that names a metastore database (or ``catalog.schema``) holding the tables.
METASTORE_PREFIX = "metastore:"
_INTEGER_TYPES = ("tinyint", "smallint", "int", "bigint")
_FLOAT_TYPES = ("float", "double")
# A plain decimal number as text: Spark would also read '12.5d' and '1f' (Java's float syntax).
_NUMBER_RE = r"^\s*[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?\s*$"


def _require_pyspark():
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise ParameterError("--engine spark: pyspark is not installed; install the Spark engine with "
                             f"{INSTALL_HINT} (it also needs Java 17).") from None


def _slit(text: str) -> str:
    """A Spark SQL string literal: backslashes and quotes escaped, so the text arrives as written."""
    return "'" + str(text).replace("\\", "\\\\").replace("'", "\\'") + "'"


def _spark_levels(levels: tuple[str, ...]) -> tuple[str, ...]:
    """Category or channel values for :func:`analysis.customers.table.customer_table_sql` in Spark's dialect.

    The builder quotes values DuckDB's way (``'`` doubled, backslash as is); Spark reads a backslash
    as an escape, so it is doubled here and the literal reads back as the value. Column names come
    out the same (:func:`analysis.customers.table.level_columns` drops backslashes either way).
    """
    return tuple(v.replace("\\", "\\\\") for v in levels)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:200]


def spark_session(master: str | None = None, app_name: str = "kanta", config: dict | None = None):
    """The Spark session Kanta runs on: the active one (a notebook, a job), else a new one at ``master``.

    Parameters
    ----------
    master : str, optional
        ``local[*]``, ``spark://host:7077``, ``yarn``, ``k8s://...``. Default: the master
        ``spark-submit`` was given, else :data:`DEFAULT_MASTER`.
    config : dict, optional
        Further Spark settings for a new session (``spark.executor.memory``, ...).

    Returns
    -------
    pyspark.sql.SparkSession
        A child session (:meth:`~pyspark.sql.SparkSession.newSession`): Kanta's temporary views and
        its time zone never touch the caller's session.
    """
    _require_pyspark()
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is None:
        builder = SparkSession.builder.appName(app_name)
        # spark-submit hands its --master over to the Python driver; a default must not override it
        if master is not None or "PYSPARK_GATEWAY_PORT" not in os.environ:
            builder = builder.master(master or DEFAULT_MASTER)
        settings = {"spark.ui.showConsoleProgress": "false", "spark.sql.execution.arrow.pyspark.enabled": "true"}
        for key, value in {**settings, **(config or {})}.items():
            builder = builder.config(key, value)
        try:
            active = builder.getOrCreate()
        except Exception as exc:  # no Java, a master that does not answer, a bad setting
            raise ParameterError(f"--spark-master: could not start Spark at {master or DEFAULT_MASTER!r} "
                                 f"({_first_line(exc)}); expected Java 17 on the PATH (or JAVA_HOME) and a master "
                                 "such as local[*], spark://host:7077 or yarn.") from None
        active.sparkContext.setLogLevel("ERROR")
    try:
        return active.newSession()
    except Exception:  # Spark Connect sessions cannot be forked: use the caller's
        return active


class SparkSource:
    """A validated data source on Spark: temporary views ``transactions``, ``transactions_keyed``, ``customers``.

    Use :func:`load_spark_source` to make one. It answers the few questions the customer-table
    and flow builders ask of a :class:`analysis.data.sources.Source` (``has``, ``columns``, ``sql``), so
    the same SQL builders run on it.

    Attributes
    ----------
    spark : pyspark.sql.SparkSession
        The session holding the views (its time zone is the business time zone).
    path : str
        Where the data came from.
    as_of : pd.Timestamp
        The analysis date; transactions after it are excluded and counted in :attr:`quality`.
    tables : dict
        Table name -> ``(format, location)``, format ``parquet``, ``delta`` or ``table``.
    notes, quality, personal_columns
        As on :class:`analysis.data.sources.Source`.
    """

    def __init__(self, spark, path: str, tables: dict[str, tuple[str, str]], as_of: pd.Timestamp, timezone: str):
        self.spark = spark
        self.path = path
        self.tables = tables
        self.as_of = as_of
        self.timezone = timezone
        self.notes: list[str] = []
        self.quality: dict[str, int | float] = {}
        self.personal_columns: dict[str, str] = {}
        #: optional transaction columns the source has (``margin`` adds ``margin_rate`` to the customer table)
        self.transaction_columns: tuple[str, ...] = ()

    def has(self, table: str) -> bool:
        """Whether the source holds ``table``."""
        return table in self.tables

    def columns(self, table: str) -> list[str]:
        """Column names of a validated view."""
        return list(self.spark.table(table).columns)

    def sql(self, query: str) -> pd.DataFrame:
        """Run Spark SQL against the validated views and bring the (small) result back as a DataFrame."""
        return self.spark.sql(query).toPandas()

    def __repr__(self) -> str:
        return f"SparkSource({self.path!r}, as_of={self.as_of.date()}, tables={sorted(self.tables)})"


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


def _find_spark_tables(spark, source: str) -> dict[str, tuple[str, str]]:
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
                raise DataError(f"{name}: could not look up table {table} in the metastore ({_first_line(exc)}).") \
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


def _read(spark, name: str, fmt: str, location: str):
    """The table as a DataFrame with the original row number ``__row`` where the format has one."""
    from pyspark.sql import functions as F

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
                        f"({_first_line(exc)}).") from None
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
    words = ", ".join(_slit(w) for w in _NULL_WORDS)
    text_like = kind == "string" or kind in _FLOAT_TYPES
    return f"({c} IS NULL" + (f" OR lower(trim(CAST({c} AS STRING))) IN ({words}))" if text_like else ")")


def _ident(col: str) -> str:
    return f"`{col.replace('`', '``')}`"


def _timestamp_sql(col: str, kind: str) -> str:
    """``col`` as business wall-clock time (TIMESTAMP_NTZ), NULL where it cannot be read.

    Text with an offset and instants (TIMESTAMP) are converted to the session's time zone, which
    :func:`load_spark_source` sets to the business time zone; text without one is taken as written.
    """
    c = _ident(col)
    if kind in ("timestamp_ntz", "timestamp", "date"):
        return f"CAST({c} AS TIMESTAMP_NTZ)"
    text = f"CAST({c} AS STRING)"
    return (f"CASE WHEN {text} RLIKE {_slit(_OFFSET_RE)} THEN CAST(try_cast({text} AS TIMESTAMP) AS TIMESTAMP_NTZ) "
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
        words = ", ".join(_slit(w) for w in _TIME_WORDS)
        bad = f"({c} IS NOT NULL AND ({value} IS NULL OR lower(trim(CAST({c} AS STRING))) IN ({words})))"
    return bad if allow_null else f"({bad} OR {c} IS NULL)"


def _examples(spark, view: str, condition: str, col: str) -> list[tuple]:
    rows = spark.sql(f"SELECT __row, {_ident(col)} AS v FROM {view} WHERE {condition} "
                     f"ORDER BY __row LIMIT {_SHOW_ROWS}").collect()
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
    raise DataError(f"{name}.{col}: {_count(n, 'row has', 'rows have')} no value, e.g. {where}; "
                    "expected a value in every row (not a placeholder such as NULL, nan or None).")


def _raise_parse(spark, name: str, col: str, condition: str, n: int, noun: str, expected: str) -> None:
    rows = _examples(spark, f"raw_{name}", condition, col)
    raise DataError(f"{name}.{col}: could not read {_count(n, 'row', 'rows')} as {noun}, "
                    f"{_rows_text(rows, 'row')}; expected {expected}.")


def _raise_duplicates(spark, name: str, col: str, what: tuple[str, str]) -> None:
    """Refuse a column that should be unique (one job: the count and the first examples together)."""
    c = _ident(col)
    dup = spark.sql(f"""
        SELECT v, lo, hi, count(*) OVER () AS n FROM (
            SELECT {c} AS v, min(__row) AS lo, max(__row) AS hi FROM raw_{name}
            WHERE {c} IS NOT NULL GROUP BY {c} HAVING count(*) > 1) d
        ORDER BY lo LIMIT {_SHOW_ROWS}""").collect()
    if not dup:
        return
    eg = "; ".join(f"{r['v']!r} on rows {r['lo']} and {r['hi']}" for r in dup)
    raise DataError(f"{name}.{col}: {_count(dup[0]['n'], what[0] + ' appears', what[1] + ' appear')} more than once, "
                    f"e.g. {eg}; expected each {col} once.")


def _validate_transactions(spark, as_of) -> tuple[pd.Timestamp, dict]:
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
    """:func:`analysis.data.sources._normal_id_sql` in Spark SQL: trimmed, lower case, no trailing ``.0``, no leading zeros."""
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
        SELECT id, known, count(*) OVER () AS n FROM pairs ORDER BY id LIMIT {_SHOW_ROWS}""").collect()
    if not pairs:
        return
    raise near_miss_error("transactions.customer_id", "customers.customer_id", pairs[0]["n"],
                          [(r["id"], r["known"]) for r in pairs])


def _validate_customers(spark, src: SparkSource) -> None:
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
        b = "lower(trim(CAST(marketing_permission AS STRING)))"
        perm = (f"CASE WHEN {b} IN ('true','t','1','yes','y','kyllä','k') THEN TRUE "
                f"WHEN {b} IN ('false','f','0','no','n','ei','e') THEN FALSE ELSE NULL END")
    checks["no_perm"] = f"({perm}) IS NULL"
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

    for i, c in enumerate(text):
        hits = {k: row[f"pii_{i}_{j}"] for j, k in enumerate(kinds) if row[f"pii_{i}_{j}"]}
        if hits:
            kind = max(hits, key=hits.get)
            by_name[c] = kind
            src.notes.append(f"customers.{c} holds personal data ({kind.replace('_', ' ')} in "
                             f"{_count(hits[kind], 'row', 'rows')}); it stays out of the customer table.")
    src.personal_columns.update(by_name)
    churn = _date_sql("churn_date", types["churn_date"]) if "churn_date" in types else "CAST(NULL AS DATE)"
    extra = "".join(f", CAST({_ident(c)} AS STRING) AS {_ident(c)}" for c in others if c not in by_name)
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


def load_spark_source(source, as_of=None, spark=None, master: str | None = None,
                      timezone: str | None = None) -> SparkSource:
    """Open and validate a data source on Spark.

    Parameters
    ----------
    source : str or Path
        A folder (local path or a cluster URI such as ``s3a://bucket/crm``, ``abfss://...``,
        ``dbfs:/...``) holding ``transactions`` (and optionally ``customers``) as
        ``name.parquet``, a ``name/`` folder of Parquet parts or a ``name/`` Delta table
        (a folder with ``_delta_log``; read with ``format("delta")``, so the session needs
        Delta Lake); or ``metastore:DATABASE`` for the metastore tables ``DATABASE.transactions``
        and ``DATABASE.customers`` (``metastore:catalog.schema`` on Unity Catalog).
    as_of : date-like, optional
        Analysis date; later transactions are excluded and counted. Default: the last transaction's date.
    spark : pyspark.sql.SparkSession, optional
        The session to run on (a notebook's or a job's); default :func:`spark_session` at ``master``.
    master : str, optional
        Spark master for a new session (default ``local[*]``, or spark-submit's ``--master``).
    timezone : str, optional
        The business time zone (default :func:`analysis.data.sources.business_timezone`): instants and text
        with an offset become its wall-clock time, text without one is taken as written.

    Returns
    -------
    SparkSource

    Raises
    ------
    DataError
        When the data breaks the contract: the same one sentence as :func:`analysis.data.sources.load_source`
        names the table, column, first offending rows (row within its Parquet file) and what was expected.

    Example
    -------
    >>> src = load_spark_source("s3a://crm/kanta", as_of="2026-10-31")  # doctest: +SKIP
    """
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    timezone = business_timezone(timezone)
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ParameterError(f"timezone: got {timezone!r}, expected a time zone name like Europe/Helsinki.") from None
    if as_of is not None:
        as_of = parse_date(as_of)
    if spark is None:
        spark = spark_session(master)
    else:
        try:
            spark = spark.newSession()
        except Exception:
            pass
    spark.conf.set("spark.sql.session.timeZone", timezone)
    # Spark reads a backslash in a string literal as an escape (DuckDB does not): see _slit and _spark_levels
    spark.conf.set("spark.sql.parser.escapedStringLiterals", "false")
    # "name" is an identifier, as in DuckDB (the builders quote column names that way); needs ANSI mode
    spark.conf.set("spark.sql.ansi.enabled", "true")
    spark.conf.set("spark.sql.ansi.doubleQuotedIdentifiers", "true")
    source = str(source)
    tables = _find_spark_tables(spark, source)
    for name, (fmt, location) in tables.items():
        _read(spark, name, fmt, location).createOrReplaceTempView(f"raw_{name}")
    try:
        as_of_ts, quality = _validate_transactions(spark, as_of)
        src = SparkSource(spark, source, tables, as_of_ts, timezone)
        src.transaction_columns = quality.pop("columns")
        src.quality.update(quality)
        if quality["future_rows_excluded"]:
            src.notes.append(f"{quality['future_rows_excluded']:,} transactions after as_of {as_of_ts.date()} "
                             "were excluded.")
        if quality["refund_rows"]:
            src.notes.append(f"{quality['refund_rows']:,} refund rows (negative amounts, "
                             f"{abs(quality['refund_amount']):,.2f} in total) are netted per customer and day.")
        if quality["possible_duplicate_rows"]:
            src.notes.append(f"{quality['possible_duplicate_rows']:,} groups of transactions share customer, timestamp "
                             "and amount (possible duplicates; kept).")
        if "customers" in tables:
            _validate_customers(spark, src)
    except DataError:
        raise
    except Exception as exc:  # a file or table that fails while read (a type that does not hold, a lost executor)
        raise DataError(f"source: {source} could not be read on Spark ({_first_line(exc)}).") from None
    return src


def _spark_source(source, as_of, spark, master, timezone) -> SparkSource:
    if isinstance(source, SparkSource):
        if as_of is not None and parse_date(as_of) > source.as_of:
            raise ParameterError(f"as_of: {parse_date(as_of).date()} is after the source's as_of "
                                 f"{source.as_of.date()}; load the source with the later date.")
        return source
    return load_spark_source(source, as_of=as_of, spark=spark, master=master, timezone=timezone)


def _customer_table_sql(src: SparkSource, as_of, freq, freq_multiplier, include_prospects, dialect: str,
                        levels: tuple | None = None) -> str:
    cats, chans = levels or (_levels(src, "category"), _levels(src, "channel"))
    capped = src.quality.get("category_levels", 0) > len(cats)
    if dialect == "spark":
        cats, chans = _spark_levels(cats), _spark_levels(chans)
    return customer_table_sql(as_of, freq, freq_multiplier, dialect, src.has("customers"), customer_columns(src),
                              cats, chans, include_prospects, table="transactions_keyed", count_all_categories=capped,
                              margin=has_margin(src))


def customer_table_query(source, as_of, freq: str = "D", freq_multiplier: float = 1, include_prospects: bool = False,
                         spark=None, master: str | None = None, timezone: str | None = None):
    """The customer table as a lazy Spark DataFrame (Spark's column types), for work that stays on the cluster.

    Returns ``(SparkSource, pyspark.sql.DataFrame)``: :func:`analysis.customers.table.customer_table_sql`
    in Spark's dialect; see :func:`customer_table` for the columns.
    """
    _check_freq(freq, freq_multiplier)
    _check_spark_unit(freq_multiplier)
    as_of = parse_date(as_of)
    src = _spark_source(source, as_of, spark, master, timezone)
    return src, src.spark.sql(_customer_table_sql(src, as_of, freq, freq_multiplier, include_prospects, "spark"))


# Spark's types of the validated views as DuckDB spells them (to ask DuckDB what its engine would return)
_DUCKDB_TYPES = {"string": "VARCHAR", "boolean": "BOOLEAN", "date": "DATE", "timestamp_ntz": "TIMESTAMP",
                 "timestamp": "TIMESTAMP", "double": "DOUBLE", "float": "FLOAT", "bigint": "BIGINT", "int": "INTEGER",
                 "smallint": "SMALLINT", "tinyint": "TINYINT"}


def _as_duckdb(src: SparkSource, spark_sql: str, duckdb_sql: str, views: tuple[str, ...]):
    """A result computed on Spark, brought back as Arrow and typed exactly as the DuckDB engine types it.

    Spark spells a few results differently (``datediff`` is INT where DuckDB's is BIGINT, ``x / 1.0``
    a DECIMAL where DuckDB's is DOUBLE, sums of counts BIGINT where DuckDB's are HUGEINT): DuckDB
    describes its own query over empty tables shaped like the Spark ``views``, and every column
    is cast to that type. Returns ``(connection, select)``; the select reads the typed result.
    """
    import duckdb

    from analysis.data.sources import _q

    con = duckdb.connect(":memory:")
    for view in views:
        cols = ", ".join(f"{_q(f.name)} {_DUCKDB_TYPES.get(f.dataType.simpleString().lower(), 'VARCHAR')}"
                         for f in src.spark.table(view).schema.fields)
        con.execute(f"CREATE TABLE {view} ({cols})")
    types = con.execute(f"DESCRIBE {duckdb_sql}").fetchall()
    df = src.spark.sql(spark_sql)
    if hasattr(df, "toArrow"):
        table = df.toArrow()
    else:  # pyspark < 4
        import pyarrow as pa
        table = pa.Table.from_pandas(df.toPandas(), preserve_index=False)
    if table.column_names != [t[0] for t in types]:
        raise RuntimeError(f"the Spark and DuckDB queries give different columns: {table.column_names} vs "
                           f"{[t[0] for t in types]}")
    con.register("spark_result", table)
    select = "SELECT " + ", ".join(f"CAST({_q(name)} AS {kind}) AS {_q(name)}" for name, kind, *_ in types) + \
        " FROM spark_result"
    return con, select


def _check_spark_unit(freq_multiplier) -> None:
    # customer_table_sql divides by a literal such as 7.0, which Spark reads as DECIMAL: days/7 would be
    # rounded to 6 decimals (DuckDB divides in DOUBLE). Whole days and calendar weeks divide exactly.
    if float(freq_multiplier) != 1.0:
        raise ParameterError(f"freq_multiplier: got {freq_multiplier!r}; the Spark engine computes whole days "
                             "(freq='D') and calendar weeks (freq='W') only, expected 1.")


def _collect_as_duckdb(source, as_of, freq, freq_multiplier, include_prospects, spark, master, timezone):
    """The customer table computed on Spark, typed as the DuckDB engine types it (:func:`_as_duckdb`)."""
    _check_freq(freq, freq_multiplier)
    _check_spark_unit(freq_multiplier)
    as_of = parse_date(as_of)
    src = _spark_source(source, as_of, spark, master, timezone)
    levels = (_levels(src, "category"), _levels(src, "channel"))
    sql = {d: _customer_table_sql(src, as_of, freq, freq_multiplier, include_prospects, d, levels)
           for d in ("spark", "duckdb")}
    views = ("transactions_keyed", "customers") if src.has("customers") else ("transactions_keyed",)
    return _as_duckdb(src, sql["spark"], sql["duckdb"], views)


def customer_table(source, as_of, freq: str = "D", freq_multiplier: float = 1, include_prospects: bool = False,
                   spark=None, master: str | None = None, timezone: str | None = None) -> pd.DataFrame:
    """One row per customer, computed on Spark: the same table as :func:`analysis.customers.table.customer_table`.

    Parameters
    ----------
    source : str, Path or SparkSource
        See :func:`load_spark_source`.
    as_of, freq, freq_multiplier, include_prospects
        As in :func:`analysis.customers.table.customer_table`.
    spark, master, timezone
        As in :func:`load_spark_source`.

    Returns
    -------
    pandas.DataFrame
        The columns of :func:`analysis.customers.table.customer_table` with its dtypes, ordered by ``customer_id``.
    """
    con, select = _collect_as_duckdb(source, as_of, freq, freq_multiplier, include_prospects, spark, master, timezone)
    out = con.execute(select).df()
    for c in ("first_purchase", "last_purchase", "signup_date"):
        out[c] = pd.to_datetime(out[c])
    return out


def write_customer_table(source, as_of, out, freq: str = "D", freq_multiplier: float = 1,
                         include_prospects: bool = False, spark=None, master: str | None = None,
                         timezone: str | None = None) -> int:
    """Compute the customer table on Spark and write it to ``out`` (.parquet or .csv); return its row count.

    The per-customer rows come back to the driver as Arrow, typed as the DuckDB engine types
    them, and are written by the same DuckDB writer as
    :func:`analysis.customers.table.write_customer_table`: both engines give the same file (columns,
    types, number format). The file appears only when complete.
    """
    from analysis.data.sources import atomic_write, check_output_path

    out = check_output_path(out)
    con, select = _collect_as_duckdb(source, as_of, freq, freq_multiplier, include_prospects, spark, master, timezone)
    fmt = "(FORMAT PARQUET)" if out.suffix.lower() == ".parquet" else "(FORMAT CSV, HEADER)"

    def copy(tmp) -> None:
        con.execute(f"COPY ({select}) TO {_lit(str(tmp))} {fmt}")

    atomic_write(out, copy)
    return int(con.execute("SELECT count(*) FROM spark_result").fetchone()[0])


def monthly_activity(source, as_of, months: int = 13, inactivity_days: int = 180, spark=None,
                     master: str | None = None, timezone: str | None = None) -> pd.DataFrame:
    """The monthly flows of :func:`analysis.customers.table.monthly_activity`, computed on Spark.

    Same query text (:func:`analysis.customers.table.monthly_activity_sql`, Spark dialect), same
    columns; one row per month.
    """
    as_of = parse_date(as_of)
    monthly_activity_sql(as_of, months, inactivity_days, "spark")  # parameters checked before Spark starts
    src = _spark_source(source, as_of, spark, master, timezone)
    # Spark recomputes a common table expression at every use: the customer-days are computed once, cached
    days = src.spark.sql(purchase_days_sql("spark", "transactions")).persist()
    days.createOrReplaceTempView("kanta_purchase_days")
    try:
        spark_sql = monthly_activity_sql(as_of, months, inactivity_days, "spark", has_customers=src.has("customers"),
                                         purchase_days="kanta_purchase_days")
        duckdb_sql = monthly_activity_sql(as_of, months, inactivity_days, "duckdb", has_customers=src.has("customers"))
        views = ("transactions", "customers") if src.has("customers") else ("transactions",)
        con, select = _as_duckdb(src, spark_sql, duckdb_sql, views)
        return monthly_flows_frame(con.execute(select).df(), inactivity_days)
    finally:
        days.unpersist()
        src.spark.catalog.dropTempView("kanta_purchase_days")


__all__ = ["SparkSource", "load_spark_source", "spark_session", "customer_table", "customer_table_query",
           "write_customer_table", "monthly_activity", "DEFAULT_MASTER", "METASTORE_PREFIX"]
