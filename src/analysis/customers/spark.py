"""Spark as the scale-out engine: the customer state and the monthly flows where the log lives in a cluster.

The transactions (and customers) are read from Parquet files or folders, Delta tables or metastore
tables, checked against the data contract in Spark SQL (one pass for the row checks), and the same
SQL text as on DuckDB (:func:`analysis.customers.table.customer_table_sql`,
:func:`analysis.customers.activity.monthly_activity_sql`, Spark dialect) runs on the cluster. What comes
back is one row per customer or per month, small enough for one machine, so the models run as usual.
Finding and checking the tables is :mod:`analysis.customers.spark_contract`.

Needs the ``spark`` extra (``pip install 'kanta[spark]'``) and Java 17.
"""
from __future__ import annotations

import os
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import duckdb
import pandas as pd
import pyarrow as pa

from analysis.customers.activity import monthly_activity_sql, monthly_flows_frame
from analysis.customers.spark_contract import (METASTORE_PREFIX, check_spark_source, find_spark_tables, first_line,
                                               read_spark_table, validate_customers, validate_transactions)
from analysis.customers.table import (check_freq, column_levels, customer_columns, customer_table_sql, has_margin,
                                      purchase_days_sql)
from analysis.data import (atomic_write, business_timezone, check_output_path, parse_date, quote_ident,
                           quote_literal, spreadsheet_safe_sql)
from analysis.errors import DataError, ParameterError

#: The master when none is given and Kanta is not launched by ``spark-submit``.
DEFAULT_MASTER = "local[*]"
#: How a user gets the engine.
INSTALL_HINT = "pip install 'kanta[spark]'"


def _require_pyspark():
    try:
        import pyspark  # noqa: F401  # local: the check that the optional spark extra is installed
    except ImportError:
        raise ParameterError("--engine spark: pyspark is not installed; install the Spark engine with "
                             f"{INSTALL_HINT} (it also needs Java 17).") from None


def _spark_levels(levels: tuple[str, ...]) -> tuple[str, ...]:
    """Category or channel values for :func:`analysis.customers.table.customer_table_sql` in Spark's dialect.

    The builder quotes values DuckDB's way (``'`` doubled, backslash as is); Spark reads a backslash
    as an escape, so it is doubled here and the literal reads back as the value. Column names come
    out the same (:func:`analysis.customers.table.level_columns` drops backslashes either way).
    """
    return tuple(v.replace("\\", "\\\\") for v in levels)


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
    from pyspark.sql import SparkSession  # local: pyspark is optional (the spark extra)

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
                                 f"({first_line(exc)}); expected Java 17 on the PATH (or JAVA_HOME) and a master "
                                 "such as local[*], spark://host:7077 or yarn.") from None
        active.sparkContext.setLogLevel("ERROR")
    try:
        return active.newSession()
    except Exception:  # Spark Connect sessions cannot be forked: use the caller's
        return active


class SparkSource:
    """A validated data source on Spark: temporary views ``transactions``, ``transactions_keyed``, ``customers``.

    Use :func:`load_spark_source` to make one. It answers the few questions the customer-table
    and flow builders ask of a :class:`analysis.data.Source` (``has``, ``columns``, ``sql``), so
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
        As on :class:`analysis.data.Source`.
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
        The business time zone (default :func:`analysis.data.business_timezone`): instants and text
        with an offset become its wall-clock time, text without one is taken as written.

    Returns
    -------
    SparkSource

    Raises
    ------
    DataError
        When the data breaks the contract: the same one sentence as :func:`analysis.data.load_source`
        names the table, column, first offending rows (row within its Parquet file) and what was expected.

    Example
    -------
    >>> src = load_spark_source("s3a://crm/kanta", as_of="2026-10-31")  # doctest: +SKIP
    """
    timezone = business_timezone(timezone)
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ParameterError(f"timezone: got {timezone!r}, expected a time zone name like Europe/Helsinki.") from None
    if as_of is not None:
        as_of = parse_date(as_of)
    source = check_spark_source(source)  # a .sql definition runs only in DuckDB's sandbox, never as Spark SQL
    if spark is None:
        spark = spark_session(master)
    else:
        try:
            spark = spark.newSession()
        except Exception:
            pass
    spark.conf.set("spark.sql.session.timeZone", timezone)
    # Spark reads a backslash in a string literal as an escape (DuckDB does not): see _spark_levels here and
    # the literals of spark_contract
    spark.conf.set("spark.sql.parser.escapedStringLiterals", "false")
    # "name" is an identifier, as in DuckDB (the builders quote column names that way); needs ANSI mode
    spark.conf.set("spark.sql.ansi.enabled", "true")
    spark.conf.set("spark.sql.ansi.doubleQuotedIdentifiers", "true")
    tables = find_spark_tables(spark, source)
    for name, (fmt, location) in tables.items():
        read_spark_table(spark, name, fmt, location).createOrReplaceTempView(f"raw_{name}")
    try:
        as_of_ts, quality = validate_transactions(spark, as_of)
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
            validate_customers(spark, src)
    except DataError:
        raise
    except Exception as exc:  # a file or table that fails while read (a type that does not hold, a lost executor)
        raise DataError(f"source: {source} could not be read on Spark ({first_line(exc)}).") from None
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
    cats, chans = levels or (column_levels(src, "category"), column_levels(src, "channel"))
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
    check_freq(freq, freq_multiplier)
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
    con = duckdb.connect(":memory:")
    for view in views:
        cols = ", ".join(f"{quote_ident(f.name)} {_DUCKDB_TYPES.get(f.dataType.simpleString().lower(), 'VARCHAR')}"
                         for f in src.spark.table(view).schema.fields)
        con.execute(f"CREATE TABLE {view} ({cols})")
    types = con.execute(f"DESCRIBE {duckdb_sql}").fetchall()
    df = src.spark.sql(spark_sql)
    if hasattr(df, "toArrow"):
        table = df.toArrow()
    else:  # pyspark < 4
        table = pa.Table.from_pandas(df.toPandas(), preserve_index=False)
    if table.column_names != [t[0] for t in types]:
        raise RuntimeError(f"the Spark and DuckDB queries give different columns: {table.column_names} vs "
                           f"{[t[0] for t in types]}")
    con.register("spark_result", table)
    select = "SELECT " + ", ".join(f"CAST({quote_ident(name)} AS {kind}) AS {quote_ident(name)}"
                                   for name, kind, *_ in types) + " FROM spark_result"
    return con, select


def _check_spark_unit(freq_multiplier) -> None:
    # customer_table_sql divides by a literal such as 7.0, which Spark reads as DECIMAL: days/7 would be
    # rounded to 6 decimals (DuckDB divides in DOUBLE). Whole days and calendar weeks divide exactly.
    if float(freq_multiplier) != 1.0:
        raise ParameterError(f"freq_multiplier: got {freq_multiplier!r}; the Spark engine computes whole days "
                             "(freq='D') and calendar weeks (freq='W') only, expected 1.")


def _collect_as_duckdb(source, as_of, freq, freq_multiplier, include_prospects, spark, master, timezone):
    """The customer table computed on Spark, typed as the DuckDB engine types it (:func:`_as_duckdb`)."""
    check_freq(freq, freq_multiplier)
    _check_spark_unit(freq_multiplier)
    as_of = parse_date(as_of)
    src = _spark_source(source, as_of, spark, master, timezone)
    levels = (column_levels(src, "category"), column_levels(src, "channel"))
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
    types, number format; in CSV a text cell a spreadsheet would run as a formula gets a leading ``'``,
    :func:`analysis.data.spreadsheet_safe_sql`). The file appears only when complete.
    """
    out = check_output_path(out)
    con, select = _collect_as_duckdb(source, as_of, freq, freq_multiplier, include_prospects, spark, master, timezone)
    fmt = "(FORMAT PARQUET)" if out.suffix.lower() == ".parquet" else "(FORMAT CSV, HEADER)"
    if out.suffix.lower() == ".csv":  # for people: formula-like text cells neutralised, as the DuckDB engine writes them
        select = spreadsheet_safe_sql(con, select)

    def copy(tmp) -> None:
        con.execute(f"COPY ({select}) TO {quote_literal(str(tmp))} {fmt}")

    atomic_write(out, copy)
    return int(con.execute("SELECT count(*) FROM spark_result").fetchone()[0])


def monthly_activity(source, as_of, months: int = 13, inactivity_days: int = 180, spark=None,
                     master: str | None = None, timezone: str | None = None) -> pd.DataFrame:
    """The monthly flows of :func:`analysis.customers.activity.monthly_activity`, computed on Spark.

    Same query text (:func:`analysis.customers.activity.monthly_activity_sql`, Spark dialect), same
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
