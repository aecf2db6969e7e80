"""The customer table: one row per customer, computed in SQL where the data is (DuckDB).

RFM columns follow lifetimes' conventions exactly (repeat purchase periods, same-period
purchases merged); the rest describes value, rhythm, breadth and channel for every analysis.
The SQL is written once through a tiny dialect map so the same query can run on Spark SQL.
"""
from __future__ import annotations

import math
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, NamedTuple

import duckdb
import pandas as pd

from analysis.data import (Source, atomic_write, check_output_path, load_source, money_sql, parse_date, quote_ident,
                           quote_literal, spreadsheet_safe_sql)
from analysis.data.privacy import is_personal_column, normalise_column_name
from analysis.errors import ParameterError

FREQ_DAYS = {"D": 1, "W": 7}

# The few functions whose spelling differs between engines.
DIALECTS = {
    "duckdb": {
        "days_between": "date_diff('day', {a}, {b})",
        "week_start": "date_trunc('week', {d})",
        "date_add": "({d} + INTERVAL ({n}) DAY)",
        "to_date": "CAST({x} AS DATE)",
        "arg_min": "arg_min({v}, {k})",
        "mode": "mode({x})",
        "month_start": "CAST(date_trunc('month', {d}) AS DATE)",
        "text": "VARCHAR",
    },
    "spark": {
        "days_between": "datediff({b}, {a})",
        "week_start": "CAST(date_trunc('week', {d}) AS DATE)",
        "date_add": "date_add({d}, {n})",
        "to_date": "to_date({x})",
        "arg_min": "min_by({v}, {k})",
        "mode": "mode({x})",
        "month_start": "trunc({d}, 'MM')",
        "text": "STRING",
    },
}

PURCHASE_DAY_RULE = (
    "A customer-day is a purchase when its net amount (purchases minus same-day refunds) is positive, "
    "or zero without refunds (free items); refund-only and fully cancelled days are not purchases, "
    "but their amounts still count in total_spend."
)


def dialect_sql(dialect: str, fn: str, **kw) -> str:
    """Function ``fn`` of :data:`DIALECTS` as ``dialect`` spells it, its placeholders filled from ``kw``."""
    return DIALECTS[dialect][fn].format(**kw)


def _period_sql(freq: str, dialect: str, col: str = "day") -> str:
    return col if freq == "D" else dialect_sql(dialect, "week_start", d=col)


def check_freq(freq: str, freq_multiplier: float) -> None:
    """Refuse a time unit other than days or weeks, or a multiplier that is not positive."""
    if freq not in FREQ_DAYS:
        raise ParameterError(f"freq: got {freq!r}, expected 'D' (days) or 'W' (weeks).")
    if not freq_multiplier or freq_multiplier <= 0:
        raise ParameterError(f"freq_multiplier: got {freq_multiplier!r}, expected a positive number.")


def is_purchase_sql(amount: str = "amount") -> str:
    """:data:`PURCHASE_DAY_RULE` as an aggregate over one customer-day's lines: 1 = a purchase day."""
    net = f"SUM({money_sql(amount)})"  # exact: +10.10 and -10.10 net to zero; no refund line: smallest not negative
    return f"CASE WHEN {net} > 0 OR ({net} = 0 AND MIN({amount}) >= 0) THEN 1 ELSE 0 END"


def purchase_days_sql(dialect: str = "duckdb", table: str = "transactions") -> str:
    """Customer-days with their net amount; ``is_purchase`` per :data:`PURCHASE_DAY_RULE`."""
    return f"""
        SELECT customer_id, {dialect_sql(dialect, 'to_date', x='timestamp')} AS day,
               SUM({money_sql('amount')}) AS net_amount, COUNT(*) AS n_lines,
               SUM(CASE WHEN amount < 0 THEN 1 ELSE 0 END) AS n_refund_lines,
               {is_purchase_sql()} AS is_purchase
        FROM {table}
        GROUP BY customer_id, {dialect_sql(dialect, 'to_date', x='timestamp')}"""


def _rfm_from_periods(periods: str, end_period: str, unit: float, dialect: str) -> str:
    """RFM columns from a relation of (customer_id, period, value) purchase periods."""
    return f"""
            SELECT customer_id,
                   CAST(COUNT(*) - 1 AS DOUBLE) AS frequency,
                   {dialect_sql(dialect, 'days_between', a='MIN(period)', b='MAX(period)')} / {float(unit)} AS recency,
                   {dialect_sql(dialect, 'days_between', a='MIN(period)', b=end_period)} / {float(unit)} AS T,
                   CASE WHEN COUNT(*) > 1
                        THEN CAST(SUM(value) - {dialect_sql(dialect, 'arg_min', v='value', k='period')} AS DOUBLE)
                             / (COUNT(*) - 1)
                        ELSE 0.0 END AS monetary_value
            FROM {periods}
            GROUP BY customer_id"""


def level_columns(prefix: str, levels: tuple[str, ...]) -> tuple[str, ...]:
    """Safe, unique column names for category levels of any text: ``share_`` + ``'Koti & puutarha'`` ->
    ``share_koti_puutarha``.

    Example
    -------
    >>> level_columns("share_", ("Koti & puutarha", "koti-puutarha", "2nd hand", "ÄÖ"))
    ('share_koti_puutarha', 'share_koti_puutarha_2', 'share_2nd_hand', 'share_ao')
    """
    out: list[str] = []
    for v in levels:
        base = prefix + (normalise_column_name(v) or "level")
        name, k = base, 2
        while name in out:
            name, k = f"{base}_{k}", k + 1
        out.append(name)
    return tuple(out)


def customer_table_sql(as_of, freq: str = "D", freq_multiplier: float = 1, dialect: str = "duckdb",
                       has_customers: bool = False, customer_columns: tuple[str, ...] = (),
                       categories: tuple[str, ...] = (), channels: tuple[str, ...] = (),
                       include_prospects: bool = False, table: str = "transactions",
                       count_all_categories: bool = False, margin: bool = False, ordered: bool = True,
                       refunds: bool = True) -> str:
    """The whole customer table as one SQL query (see :func:`customer_table`).

    The transactions are scanned once into customer-days and those are aggregated once per
    customer (with daily units the RFM columns come out of that same aggregate; weekly units
    group the days into weeks first). ``customer_id`` is cast to text once per customer at
    the end, so ``table`` may key rows by integer IDs. Category and channel values are SQL
    literals and customer attributes quoted identifiers, so no value or header runs as SQL;
    ``count_all_categories`` counts ``n_categories`` over every category (when ``categories``
    holds only the most frequent ones). With ``margin`` (the log has a ``margin`` column: margin or
    gross gaming revenue per transaction, netted per customer-day like ``amount``) the table gets
    ``margin_rate`` = sum(margin) / sum(amount) over the customer's purchase days (NULL when that
    amount is not positive). ``ordered=False`` leaves out the final ``ORDER BY customer_id``.
    ``refunds=False`` says the log has no negative amount (validation counted none): then every
    customer-day is a purchase day and the per-customer aggregate needs no purchase-day conditions
    (the same numbers, about a third less work on a 10M-row log).
    """
    unit = FREQ_DAYS[freq] * freq_multiplier
    text = DIALECTS[dialect]["text"]
    as_of_d = f"DATE {quote_literal(parse_date(as_of).strftime('%Y-%m-%d'))}"
    d90 = dialect_sql(dialect, "date_add", d=as_of_d, n=-90)
    d180 = dialect_sql(dialect, "date_add", d=as_of_d, n=-180)
    between = lambda a, b: dialect_sql(dialect, "days_between", a=a, b=b)  # noqa: E731
    day = dialect_sql(dialect, "to_date", x="timestamp")
    ch_day = "".join(f", SUM(CASE WHEN channel = {quote_literal(c)} THEN 1 ELSE 0 END) AS ch_{i}"
                     for i, c in enumerate(channels))
    cat_day = "".join(f", SUM(CASE WHEN category = {quote_literal(c)} THEN 1 ELSE 0 END) AS cat_{i}"
                      for i, c in enumerate(categories))
    ch_agg = "".join(f", SUM(ch_{i}) AS ch_{i}" for i in range(len(channels)))
    cat_agg = "".join(f", SUM(cat_{i}) AS cat_{i}" for i in range(len(categories)))
    n_cat = " + ".join(f"CASE WHEN a.cat_{i} > 0 THEN 1 ELSE 0 END" for i in range(len(categories))) or "0"
    # main channel: the most used one, ties broken by the order of `channels` (alphabetical)
    main_ch = f"CAST(NULL AS {text})"
    if channels:
        best = " , ".join(f"a.ch_{i}" for i in range(len(channels)))
        main_ch = "CASE " + " ".join(
            f"WHEN a.ch_{i} = GREATEST({best}) AND a.ch_{i} > 0 THEN {quote_literal(c)}"
            for i, c in enumerate(channels)) + " END"
    online = next((i for i, c in enumerate(channels) if c == "online"), None)
    online_sql = f"a.ch_{online} / CAST(a.n_transactions AS DOUBLE)" if online is not None else "0.0"
    share_cols = [quote_ident(c) for c in level_columns("share_", categories)]
    shares = "".join(f", a.cat_{i} / CAST(a.n_transactions AS DOUBLE) AS {c}" for i, c in enumerate(share_cols))
    attrs = "".join(f", c.{quote_ident(a)}" for a in customer_columns)
    m_day = f", SUM({money_sql('margin')}) AS net_margin" if margin else ""
    if refunds:
        purchase_day = {"n": "SUM(is_purchase)", "amount": "SUM(CASE WHEN is_purchase = 1 THEN net_amount ELSE 0 END)",
                        "first": "MIN(CASE WHEN is_purchase = 1 THEN day END)",
                        "last": "MAX(CASE WHEN is_purchase = 1 THEN day END)",
                        "first_value": dialect_sql(dialect, "arg_min",
                                                   v="CASE WHEN is_purchase = 1 THEN net_amount END",
                                                   k="CASE WHEN is_purchase = 1 THEN day END"),
                        "margin": "SUM(CASE WHEN is_purchase = 1 THEN net_margin ELSE 0 END)",
                        "is_purchase": is_purchase_sql(), "having": "HAVING SUM(is_purchase) > 0"}
    else:  # no negative amount in the log: every customer-day is a purchase day
        count = "CAST(COUNT(*) AS HUGEINT)" if dialect == "duckdb" else "SUM(is_purchase)"  # the type of the SUM
        purchase_day = {"n": count, "amount": "SUM(net_amount)", "first": "MIN(day)", "last": "MAX(day)",
                        "first_value": dialect_sql(dialect, "arg_min", v="net_amount", k="day"),
                        "margin": "SUM(net_margin)", "is_purchase": "1", "having": ""}
    m_agg = f", CAST({purchase_day['margin']} AS DOUBLE) AS purchase_margin" if margin else ""
    m_rate = (", CASE WHEN a.purchase_amount > 0 THEN a.purchase_margin / a.purchase_amount END AS margin_rate"
              if margin else "")

    signup = "c.signup_date" if has_customers else "CAST(NULL AS DATE)"
    if not has_customers:
        base_from, where = "buyers b", ""
    elif include_prospects:  # registered by as_of, bought or not (and buyers missing from customers)
        base_from = "customers c FULL JOIN buyers b USING (customer_id)"
        where = f"WHERE c.signup_date <= {as_of_d} OR b.customer_id IS NOT NULL"
    else:
        base_from, where = "buyers b LEFT JOIN customers c USING (customer_id)", ""
    daily = freq == "D"
    if daily:  # the RFM columns come out of the per-customer aggregate itself
        rfm_cte = ""
        rfm_cols = f"""CAST(a.n_purchases - 1 AS DOUBLE) AS frequency,
                   {between('a.first_purchase', 'a.last_purchase')} / {float(unit)} AS recency,
                   {between('a.first_purchase', as_of_d)} / {float(unit)} AS T,
                   CASE WHEN a.n_purchases > 1 THEN (a.purchase_amount - a.first_value) / (a.n_purchases - 1)
                        ELSE 0.0 END AS monetary_value"""
        rfm_join = ""
    else:
        rfm_cte = f"""
        periods AS (
            SELECT customer_id, {_period_sql(freq, dialect)} AS period, SUM(net_amount) AS value
            FROM pdays WHERE is_purchase = 1 GROUP BY customer_id, {_period_sql(freq, dialect)}),
        rfm AS ({_rfm_from_periods('periods', _period_sql(freq, dialect, as_of_d), unit, dialect)}),"""
        rfm_cols = "r.frequency, r.recency, r.T, r.monetary_value"
        rfm_join = "JOIN rfm r ON r.customer_id = a.customer_id"
    cats_cte, cats_join = "", ""
    if count_all_categories:
        cats_cte = f"""
        cats AS (
            SELECT customer_id, COUNT(DISTINCT NULLIF(category, '')) AS n_categories_all
            FROM {table} WHERE {day} <= {as_of_d} GROUP BY customer_id),"""
        cats_join = "JOIN cats ca ON ca.customer_id = a.customer_id"
        n_cat = "ca.n_categories_all"
    return f"""
        WITH pdays AS (
            SELECT customer_id, {day} AS day, SUM({money_sql('amount')}) AS net_amount, COUNT(*) AS n_lines,
                   {purchase_day['is_purchase']} AS is_purchase{m_day}{ch_day}{cat_day}
            FROM {table} WHERE {day} <= {as_of_d}
            GROUP BY customer_id, {day}),{rfm_cte}
        agg AS (
            SELECT customer_id, SUM(n_lines) AS n_transactions, CAST(SUM(net_amount) AS DOUBLE) AS total_spend,
                   {purchase_day['n']} AS n_purchases,
                   CAST({purchase_day['amount']} AS DOUBLE) AS purchase_amount,
                   {purchase_day['first']} AS first_purchase,
                   {purchase_day['last']} AS last_purchase,
                   CAST({purchase_day['first_value']} AS DOUBLE) AS first_value,
                   CAST(SUM(CASE WHEN day > {d90} THEN net_amount ELSE 0 END) AS DOUBLE) AS spend_last_90d,
                   CAST(SUM(CASE WHEN day > {d180} AND day <= {d90} THEN net_amount ELSE 0 END) AS DOUBLE)
                       AS spend_prev_90d
                   {m_agg}{ch_agg}{cat_agg}
            FROM pdays GROUP BY customer_id {purchase_day['having']}),{cats_cte}
        buyers AS (
            SELECT CAST(a.customer_id AS {text}) AS customer_id, {rfm_cols},
                   a.n_purchases, a.n_transactions, a.total_spend, a.first_purchase, a.last_purchase,
                   {between('a.last_purchase', as_of_d)} AS days_since_last_purchase,
                   a.purchase_amount / a.n_purchases AS avg_purchase,
                   CASE WHEN a.n_purchases > 1
                        THEN {between('a.first_purchase', 'a.last_purchase')} / CAST(a.n_purchases - 1 AS DOUBLE)
                   END AS mean_interpurchase_days,
                   a.spend_last_90d, a.spend_prev_90d,
                   CASE WHEN ABS(a.spend_last_90d) + ABS(a.spend_prev_90d) > 0
                        THEN (a.spend_last_90d - a.spend_prev_90d) / (ABS(a.spend_last_90d) + ABS(a.spend_prev_90d))
                        ELSE 0.0 END AS spend_trend,
                   {n_cat} AS n_categories, {main_ch} AS main_channel, {online_sql} AS online_share{shares}{m_rate}
            FROM agg a {rfm_join} {cats_join})
        SELECT customer_id, b.frequency, b.recency, b.T, b.monetary_value,
               COALESCE(b.n_purchases, 0) AS n_purchases, COALESCE(b.n_transactions, 0) AS n_transactions,
               COALESCE(b.total_spend, 0.0) AS total_spend, b.first_purchase, b.last_purchase,
               b.days_since_last_purchase,
               {between(f'COALESCE({signup}, b.first_purchase)', as_of_d)} AS tenure_days,
               b.avg_purchase, b.mean_interpurchase_days, COALESCE(b.spend_last_90d, 0.0) AS spend_last_90d,
               COALESCE(b.spend_prev_90d, 0.0) AS spend_prev_90d, COALESCE(b.spend_trend, 0.0) AS spend_trend,
               COALESCE(b.n_categories, 0) AS n_categories, b.main_channel, b.online_share
               {''.join(f', b.{c}' for c in share_cols)}{', b.margin_rate' if margin else ''},
               {signup} AS signup_date{attrs}
        FROM {base_from}
        {where}
        {'ORDER BY customer_id' if ordered else ''}"""


def open_source(source, as_of) -> Source:
    """``source`` itself when it is a validated source, else the source loaded from that path at ``as_of``."""
    return source if isinstance(source, Source) else load_source(source, as_of=as_of)


def has_margin(src) -> bool:
    """Whether the source's transactions have a ``margin`` column (the customer table then has ``margin_rate``)."""
    return "margin" in getattr(src, "transaction_columns", ())


def customer_columns(src: Source) -> tuple[str, ...]:
    """Customer attributes carried into the customer table: never personal data, by name or by value.

    Columns named like personal data (English or Finnish, :func:`analysis.data.privacy.is_personal_column`)
    and text columns where the loader found e-mail addresses, phone numbers or identity codes
    (``src.personal_columns``) are left out; the loader's notes say which.
    """
    if not src.has("customers"):
        return ()
    skip = {"customer_id", "signup_date", *getattr(src, "personal_columns", {})}
    return tuple(c for c in src.columns("customers") if c not in skip and not is_personal_column(c))


def column_levels(src: Source, column: str, limit: int = 30) -> tuple[str, ...]:
    """The values of ``category`` or ``channel`` (any text), alphabetical: the ``limit`` most frequent.

    When there are more, the source's notes say so (``n_categories`` still counts them all, see
    :func:`customer_table_sql`); nothing is dropped silently.
    """
    if column not in ("category", "channel"):
        raise ParameterError(f"column: got {column!r}, expected 'category' or 'channel'.")
    df = src.sql(f"SELECT {column} AS v, count(*) AS n FROM transactions WHERE {column} IS NOT NULL AND {column} <> '' "
                 f"GROUP BY {column} ORDER BY n DESC, v LIMIT {int(limit) + 1}")
    levels = list(df["v"])
    if len(levels) > limit:
        total = int(src.sql(f"SELECT count(DISTINCT {column}) AS k FROM transactions WHERE {column} <> ''")["k"].iloc[0])
        note = (f"transactions.{column} has {total:,} values; the customer table has columns for the {limit} most "
                f"frequent" + (" (n_categories counts all)." if column == "category" else "."))
        if hasattr(src, "add_note"):  # a DuckDB source: reading its notes would take its deferred counts
            src.add_note(note, **{f"{column}_levels": total})
        else:
            src.quality[f"{column}_levels"] = total
            if note not in src.notes:
                src.notes.append(note)
        levels = levels[:limit]
    return tuple(sorted(levels))


def customer_table(source, as_of, freq: str = "D", freq_multiplier: float = 1,
                   include_prospects: bool = False) -> pd.DataFrame:
    """One row per customer, computed in DuckDB.

    Parameters
    ----------
    source : Source or path
        A validated source (or a path to load).
    as_of : date-like
        Analysis date; purchases on that day count.
    freq : {"D", "W"}
        Time unit of ``frequency``, ``recency``, ``T`` (lifetimes' ``freq``;
        ``"W"`` bins calendar weeks starting Monday, as pandas' ``W`` periods).
    freq_multiplier : float
        Divide durations by this (``freq="D", freq_multiplier=7`` gives weeks as days/7).
    include_prospects : bool
        Also list registered customers who never bought (RFM columns empty).

    Returns
    -------
    pandas.DataFrame
        ``customer_id, frequency, recency, T, monetary_value`` (lifetimes' conventions)
        and ``n_purchases`` (purchase days), ``n_transactions``, ``total_spend`` (net of
        refunds), ``first_purchase``, ``last_purchase``, ``days_since_last_purchase``,
        ``tenure_days``, ``avg_purchase``, ``mean_interpurchase_days``,
        ``spend_last_90d``, ``spend_prev_90d``, ``spend_trend`` ((last − prev)/(|last| + |prev|),
        −1 stopped … +1 started), ``n_categories``, ``main_channel``, ``online_share``,
        ``share_<category>`` (share of lines), ``margin_rate`` (only when the transactions
        have a ``margin`` column: sum(margin) / sum(amount) over purchase days, NULL when that
        amount is not positive), ``signup_date`` and the customer attributes.

    Example
    -------
    >>> table = customer_table("data/sample", as_of="2026-10-31")  # doctest: +SKIP
    """
    src, query = _customer_table_query(source, as_of, freq, freq_multiplier, include_prospects)
    with _in_passes(src, query) as sql, src.spill_watch():
        df = src.sql(sql)
    for c in ("first_purchase", "last_purchase", "signup_date"):
        df[c] = pd.to_datetime(df[c])
    return df


#: DuckDB's aggregate state per customer-day in bytes (measured: 80 on a 100M-row log), and per
#: category/channel/margin column; a pass may fill this share of the memory limit.
STATE_BYTES, STATE_BYTES_PER_COLUMN, STATE_SHARE = 80, 16, 0.75


def _customer_table_query(source, as_of, freq, freq_multiplier, include_prospects) -> tuple[Source, _Query]:
    check_freq(freq, freq_multiplier)
    as_of = parse_date(as_of)
    src = open_source(source, as_of)
    if as_of > src.as_of:
        raise ParameterError(f"as_of: {as_of.date()} is after the source's as_of {src.as_of.date()}; "
                             "load the source with the later date.")
    cats, chans = column_levels(src, "category"), column_levels(src, "channel")
    capped = src.recorded("category_levels", 0) > len(cats)
    columns = customer_columns(src)

    def sql(table: str = "transactions_keyed", ordered: bool = True) -> str:
        return customer_table_sql(as_of, freq, freq_multiplier, "duckdb", src.has("customers"), columns, cats, chans,
                                  include_prospects, table=table, count_all_categories=capped, margin=has_margin(src),
                                  ordered=ordered, refunds=bool(src.recorded("refund_rows", 1)))

    state = int(src.recorded("transactions", 0) or 0) * (
        STATE_BYTES + STATE_BYTES_PER_COLUMN * (len(cats) + len(chans) + has_margin(src)))
    # prospects come from the customers table, which a split of the log by customer would repeat in every pass
    passes = 1 if include_prospects else max(1, math.ceil(state / (STATE_SHARE * src.memory_limit_bytes)))
    return src, _Query(sql, passes)


class _Query(NamedTuple):
    sql: Callable[..., str]
    passes: int


@contextmanager
def _in_passes(src: Source, query: _Query):
    """The customer table's SQL, computed in ``query.passes`` passes when one would not fit in memory.

    The aggregate state of a 100M-row log (one entry per customer-day) is several times DuckDB's
    memory limit; spilling it costs more than reading the log again. So a big log is split by a
    hash of ``customer_id`` into passes whose state fits, each written to a Parquet part in the
    source's temp directory, and the parts are read back in ``customer_id`` order.
    """
    if query.passes == 1:
        yield query.sql()
        return
    if src.temp_directory:  # DuckDB makes its temp directory only when it first spills
        Path(src.temp_directory).mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="customer-table-", dir=src.temp_directory or None))
    try:
        for k in range(query.passes):
            part = f"(SELECT * FROM transactions_keyed WHERE hash(customer_id) % {query.passes} = {k}) AS part"
            with src.spill_watch():
                part_file = quote_literal(str(folder / f'part-{k}.parquet'))
                src.con.execute(f"COPY ({query.sql(part, ordered=False)}) TO {part_file} (FORMAT PARQUET)")
        src.add_note(f"The customer table was computed in {query.passes} passes over the log (customers split by "
                     f"a hash of their ID) to stay within DuckDB's memory limit {src.memory_limit}.",
                     customer_table_passes=query.passes)
        yield f"SELECT * FROM read_parquet({quote_literal(str(folder / 'part-*.parquet'))}) ORDER BY customer_id"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def write_customer_table(source, as_of, out, freq: str = "D", freq_multiplier: float = 1,
                         include_prospects: bool = False) -> int:
    """Write the customer table straight from DuckDB to ``out`` (.parquet or .csv); return its row count.

    Nothing passes through pandas, so a base of tens of millions of customers is written within
    DuckDB's memory limit (spilling to its temp directory; the source's notes then say how much).
    The file appears only when complete (temp file, then rename).
    """
    out = check_output_path(out)
    src, query = _customer_table_query(source, as_of, freq, freq_multiplier, include_prospects)
    fmt = "(FORMAT PARQUET)" if out.suffix.lower() == ".parquet" else "(FORMAT CSV, HEADER)"
    counted = {}

    def copy(tmp) -> None:
        # the query sorts by customer_id itself: DuckDB need not keep its row order in memory
        src.con.execute("SET preserve_insertion_order = false")
        try:
            with _in_passes(src, query) as sql, src.spill_watch():
                if out.suffix.lower() == ".csv":  # for people: formula-like text cells neutralised
                    sql = spreadsheet_safe_sql(src.con, sql)
                if src.sandboxed:  # a .sql source's connection writes nowhere: a connection of its own does
                    limit = src.memory_limit
                    cursor = src.con.cursor()  # a session of its own (a streamed result holds its connection)
                    cursor.execute(f"SET TimeZone = {quote_literal(src.timezone)}")
                    cursor.execute("SET preserve_insertion_order = false")
                    rows = cursor.sql(sql).to_arrow_reader()
                    try:
                        with duckdb.connect(config={"memory_limit": limit}) as writer:
                            writer.register("kanta_rows", rows)
                            counted["n"] = writer.execute(
                                f"COPY kanta_rows TO {quote_literal(str(tmp))} {fmt}").fetchone()[0]
                    finally:
                        rows.close()
                else:
                    counted["n"] = src.con.execute(f"COPY ({sql}) TO {quote_literal(str(tmp))} {fmt}").fetchone()[0]
        finally:
            src.con.execute("RESET preserve_insertion_order")

    atomic_write(out, copy)
    return int(counted["n"])


def calibration_holdout(source, calibration_end, holdout_end, freq: str = "D", freq_multiplier: float = 1,
                        start=None) -> pd.DataFrame:
    """lifetimes' ``calibration_and_holdout_data`` in SQL.

    Returns one row per customer whose first purchase is on or before
    ``calibration_end``: ``frequency_cal, recency_cal, T_cal, monetary_value_cal``
    (lifetimes' RFM at ``calibration_end``) and ``frequency_holdout``,
    ``monetary_value_holdout`` (purchase periods after ``calibration_end`` up to
    ``holdout_end``; the mean amount per transaction line on purchase days, as
    lifetimes computes it), ``duration_holdout``.
    """
    check_freq(freq, freq_multiplier)
    cal, hold = parse_date(calibration_end, "calibration_end"), parse_date(holdout_end, "holdout_end")
    if hold <= cal:
        raise ParameterError(f"holdout_end: {hold.date()} must be after calibration_end {cal.date()}.")
    src = open_source(source, hold)
    if hold > src.as_of:
        raise ParameterError(f"holdout_end: {hold.date()} is after the source's as_of {src.as_of.date()}.")
    unit = FREQ_DAYS[freq] * freq_multiplier
    cal_d, hold_d = (f"DATE {quote_literal(x.strftime('%Y-%m-%d'))}" for x in (cal, hold))
    lo = (f"AND day >= DATE {quote_literal(parse_date(start, 'start').strftime('%Y-%m-%d'))}"
          if start is not None else "")
    period = _period_sql(freq, "duckdb")
    # Daily periods are the purchase days themselves; weekly ones group them first. As in
    # lifetimes, days up to calibration_end are calibration and later days holdout, even when a
    # week straddles the cut.
    in_cal = f"day <= {cal_d}"
    where = f"WHERE is_purchase = 1 AND day <= {hold_d} {lo}"
    periods = (f"SELECT customer_id, day AS period, {in_cal} AS in_cal, net_amount AS value, n_lines FROM pdays {where}"
               if freq == "D" else
               f"SELECT customer_id, {period} AS period, {in_cal} AS in_cal, SUM(net_amount) AS value, "
               f"SUM(n_lines) AS n_lines FROM pdays {where} GROUP BY customer_id, {period}, {in_cal}")
    cal_p, hold_p = "in_cal", "NOT in_cal"
    sql = f"""
        WITH pdays AS ({purchase_days_sql(table='transactions_keyed')}),
        periods AS ({periods}),
        agg AS (
            SELECT customer_id,
                   COUNT(*) FILTER (WHERE {cal_p}) AS n_cal,
                   MIN(period) FILTER (WHERE {cal_p}) AS first_cal,
                   MAX(period) FILTER (WHERE {cal_p}) AS last_cal,
                   SUM(value) FILTER (WHERE {cal_p}) AS value_cal,
                   arg_min(value, period) FILTER (WHERE {cal_p}) AS first_value,
                   COUNT(*) FILTER (WHERE {hold_p}) AS n_hold,
                   SUM(value) FILTER (WHERE {hold_p}) AS value_hold,
                   SUM(n_lines) FILTER (WHERE {hold_p}) AS lines_hold
            FROM periods GROUP BY customer_id HAVING COUNT(*) FILTER (WHERE {cal_p}) > 0)
        SELECT CAST(customer_id AS VARCHAR) AS customer_id,
               CAST(n_cal - 1 AS DOUBLE) AS frequency_cal,
               date_diff('day', first_cal, last_cal) / {float(unit)} AS recency_cal,
               date_diff('day', first_cal, {_period_sql(freq, 'duckdb', cal_d)}) / {float(unit)} AS T_cal,
               CASE WHEN n_cal > 1 THEN (value_cal - first_value) / (n_cal - 1) ELSE 0.0 END AS monetary_value_cal,
               CAST(n_hold AS DOUBLE) AS frequency_holdout,
               -- lifetimes averages the holdout value per transaction line, not per period
               COALESCE(value_hold / NULLIF(lines_hold, 0), 0.0) AS monetary_value_holdout,
               date_diff('day', {_period_sql(freq, 'duckdb', cal_d)}, {_period_sql(freq, 'duckdb', hold_d)})
                   / {float(unit)} AS duration_holdout
        FROM agg
        ORDER BY customer_id"""
    return src.sql(sql)

