"""The Spark engine (local mode) gives the DuckDB engine's customer table, monthly flows and error sentences."""
from __future__ import annotations

import sys

import duckdb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from analysis import customers
from analysis.customers import spark as engine
from analysis.data import load_source
from analysis.errors import DataError, ParameterError
from conftest import SAMPLE, SAMPLE_AS_OF


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    """One local Spark for the module: two threads, no UI, few shuffle partitions.

    On a few thousand rows compiling generated code and re-planning shuffles cost more than the
    work (the module runs in half the time without them); results do not depend on either.
    """
    warehouse = tmp_path_factory.mktemp("warehouse")
    s = engine.spark_session("local[2]", app_name="kanta-tests", config={
        "spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "2", "spark.default.parallelism": "2",
        "spark.sql.codegen.wholeStage": "false", "spark.sql.adaptive.enabled": "false",
        "spark.sql.warehouse.dir": str(warehouse), "spark.driver.memory": "1g"})
    yield s
    s.stop()


@pytest.fixture(scope="module")
def sample_parquet(tmp_path_factory):
    """The committed sample (CSV) written to Parquet by DuckDB: what a Spark user would hand over."""
    d = tmp_path_factory.mktemp("sample_parquet")
    for table in ("transactions", "customers"):
        duckdb.sql(f"COPY (SELECT * FROM read_csv('{SAMPLE / (table + '.csv')}')) TO '{d / (table + '.parquet')}' "
                   "(FORMAT PARQUET)")
    return d


@pytest.fixture(scope="module")
def spark_sample(session, sample_parquet):
    return engine.load_spark_source(sample_parquet, as_of=SAMPLE_AS_OF, spark=session)


def assert_same_table(ours: pd.DataFrame, theirs: pd.DataFrame) -> None:
    """Same columns in the same order and types, same rows, same values (numbers to 1e-9, dates to the day)."""
    assert list(ours.columns) == list(theirs.columns)
    assert ours.dtypes.astype(str).tolist() == theirs.dtypes.astype(str).tolist()
    assert len(ours) == len(theirs)
    for col in theirs.columns:
        a, b = ours[col].reset_index(drop=True), theirs[col].reset_index(drop=True)
        assert a.isna().tolist() == b.isna().tolist(), col
        a, b = a[a.notna()], b[b.notna()]
        if b.dtype.kind in "fiu":
            np.testing.assert_allclose(a.astype(float), b.astype(float), rtol=0, atol=1e-9, err_msg=col)
        elif b.dtype.kind == "M":
            assert (pd.to_datetime(a).dt.strftime("%Y-%m-%d") == b.dt.strftime("%Y-%m-%d")).all(), col
        else:
            assert (a.astype(str) == b.astype(str)).all(), col


def test_sample_loads_with_the_duckdb_quality_counts(spark_sample, sample_parquet):
    duck = load_source(sample_parquet, as_of=SAMPLE_AS_OF)
    for key in ("transactions", "future_rows_excluded", "buyers", "refund_rows", "refund_amount", "first_day",
                "last_day", "possible_duplicate_rows", "customers", "missing_marketing_permission"):
        assert spark_sample.quality[key] == duck.quality[key], key
    assert spark_sample.quality["future_rows_excluded"] > 0  # the sample runs past as_of: the exclusion is exercised
    assert set(spark_sample.personal_columns) >= {"name", "email", "phone"}


def test_customer_table_on_spark_equals_duckdb(spark_sample, sample_parquet):
    ours = engine.customer_table(spark_sample, SAMPLE_AS_OF)
    theirs = customers.customer_table(load_source(sample_parquet, as_of=SAMPLE_AS_OF), SAMPLE_AS_OF)
    assert len(theirs) == 1832
    assert_same_table(ours, theirs)
    assert not {"name", "email", "phone"} & set(ours.columns)


def test_weekly_customer_table_on_spark_equals_duckdb(spark_sample, sample_parquet):
    ours = engine.customer_table(spark_sample, SAMPLE_AS_OF, freq="W")
    theirs = customers.customer_table(load_source(sample_parquet, as_of=SAMPLE_AS_OF), SAMPLE_AS_OF, freq="W")
    assert_same_table(ours, theirs)


def test_monthly_flows_on_spark_equal_duckdb(spark_sample, sample_parquet):
    ours = engine.monthly_activity(spark_sample, SAMPLE_AS_OF, months=13, inactivity_days=90)
    theirs = customers.monthly_activity(load_source(sample_parquet, as_of=SAMPLE_AS_OF), SAMPLE_AS_OF, months=13,
                                        inactivity_days=90)
    assert_same_table(ours, theirs)
    flows = ours.set_index("month")
    assert (flows["active"].iloc[1:].to_numpy() == (flows["active"].shift() - flows["lost"] + flows["new"]
                                                    + flows["returned"]).iloc[1:].to_numpy()).all()


def _write_parquet(folder, name: str, df: pd.DataFrame) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.register("df", df)
    con.execute(f"COPY (SELECT * FROM df) TO '{folder / (name + '.parquet')}' (FORMAT PARQUET)")


def test_offsets_integer_ids_and_odd_categories_give_the_duckdb_table(session, tmp_path):
    """Text with offsets becomes Helsinki time, integer IDs stay integers until the end, quotes and
    backslashes in categories are values (not SQL), later rows are excluded and counted, a margin
    column gives margin_rate."""
    tx = pd.DataFrame({
        "customer_id": [7, 7, 7, 12, 12, 12],
        # 21:30Z is 00:30 the next day in Helsinki; the last row is after as_of
        "timestamp": ["2026-06-30T21:30:00Z", "2026-07-10 10:00:00", "2026-08-01 09:00:00+03:00",
                      "2026-07-01", "2026-07-01 12:00", "2026-11-02 08:00"],
        "amount": ["10.5", "-2.5", "20", "7", "3", "99"],
        "category": ["Kid's toys", "a\\b", "Kid's toys", "koti & puutarha", "a\\b", "x"],
        "margin": ["1.0", "-0.5", "2", "0.7", "0.3", "9"],
    })
    _write_parquet(tmp_path, "transactions", tx)
    ours_src = engine.load_spark_source(tmp_path, as_of="2026-10-31", spark=session)
    duck = load_source(tmp_path, as_of="2026-10-31")
    assert ours_src.quality["future_rows_excluded"] == duck.quality["future_rows_excluded"] == 1
    ours = engine.customer_table(ours_src, "2026-10-31")
    theirs = customers.customer_table(duck, "2026-10-31")
    assert_same_table(ours, theirs)
    assert ours.loc[ours["customer_id"] == "7", "first_purchase"].iloc[0] == pd.Timestamp("2026-07-01")
    assert {"share_kid_s_toys", "share_a_b", "margin_rate"} <= set(ours.columns)


def _same_sentence_on_both_engines(session, folder, tx: pd.DataFrame) -> str:
    """Write ``tx`` as the transactions table; both engines refuse it with the same sentence, returned."""
    _write_parquet(folder, "transactions", tx)
    with pytest.raises(DataError) as duck:
        load_source(folder, as_of="2026-10-31")
    with pytest.raises(DataError) as ours:
        engine.load_spark_source(folder, as_of="2026-10-31", spark=session)
    assert str(ours.value) == str(duck.value)
    return str(ours.value)


@pytest.mark.parametrize("column, values", [
    ("customer_id", ["C1", "nan", "C2", None, "NULL"]),
    ("amount", ["12.50", "12,5e", "NaN", "3", "-Infinity"]),
    ("timestamp", ["2026-10-01", "epoch", "2026-10-02", "31.10.2026", "2026-10-03"]),
])
def test_bad_input_gives_the_duckdb_sentence(session, tmp_path, column, values):
    tx = pd.DataFrame({"customer_id": ["C1", "C2", "C3", "C4", "C5"],
                       "timestamp": ["2026-10-01", "2026-10-02", "2026-10-03", "2026-10-04", "2026-10-05"],
                       "amount": ["1", "2", "3", "4", "5"]})
    tx[column] = values
    message = _same_sentence_on_both_engines(session, tmp_path, tx)
    assert message.startswith(f"transactions.{column}: ") and "row 2" in message


def test_duplicate_transaction_ids_give_the_duckdb_sentence(session, tmp_path):
    tx = pd.DataFrame({"transaction_id": ["T1", "T2", "T1", "T3"], "customer_id": ["C1", "C2", "C3", "C4"],
                       "timestamp": ["2026-10-01"] * 4, "amount": [1.0, 2.0, 3.0, 4.0]})
    assert _same_sentence_on_both_engines(session, tmp_path, tx).startswith("transactions.transaction_id: ")


def test_delta_table_without_delta_lake_is_one_sentence(session, tmp_path):
    table = tmp_path / "transactions"
    (table / "_delta_log").mkdir(parents=True)
    _write_parquet(table, "part-0", pd.DataFrame({"customer_id": ["C1"], "timestamp": ["2026-10-01"],
                                                   "amount": [1.0]}))
    with pytest.raises(DataError, match=r"^transactions: .* is a Delta table but this Spark session has no Delta Lake"):
        engine.load_spark_source(tmp_path, as_of="2026-10-31", spark=session)


def test_metastore_tables_are_a_source(session, sample_parquet):
    session.sql("CREATE DATABASE IF NOT EXISTS kanta_crm")
    session.read.parquet(str(sample_parquet / "transactions.parquet")).write.mode("overwrite") \
        .saveAsTable("kanta_crm.transactions")
    src = engine.load_spark_source("metastore:kanta_crm", as_of=SAMPLE_AS_OF, spark=session)
    assert not src.has("customers")
    assert src.quality["buyers"] == 1832
    with pytest.raises(DataError, match=r"^transactions: the metastore has no table nowhere\.transactions"):
        engine.load_spark_source("metastore:nowhere", as_of=SAMPLE_AS_OF, spark=session)


def test_cli_engine_spark_writes_the_same_file(session, sample_parquet, tmp_path, run_cli):
    code, out, err = run_cli("customers", sample_parquet, "--as-of", SAMPLE_AS_OF, "--out", tmp_path / "duck.parquet")
    assert code == 0, err
    code, out, err = run_cli("customers", sample_parquet, "--as-of", SAMPLE_AS_OF, "--out", tmp_path / "spark.parquet",
                             "--engine", "spark")
    assert code == 0, err
    assert out.strip() == f"1832 customers -> {tmp_path / 'spark.parquet'} (Spark)"
    duck = pd.read_parquet(tmp_path / "duck.parquet")
    ours = pd.read_parquet(tmp_path / "spark.parquet")
    assert_same_table(ours, duck)
    schemas = [[(f.name, f.type) for f in pq.read_schema(tmp_path / name)]
               for name in ("spark.parquet", "duck.parquet")]
    assert schemas[0] == schemas[1]  # same Parquet types too (nullability aside)


def test_cli_without_pyspark_says_how_to_install(sample_parquet, tmp_path, run_cli, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyspark", None)  # import pyspark now fails as if not installed
    code, out, err = run_cli("customers", sample_parquet, "--as-of", SAMPLE_AS_OF, "--out", tmp_path / "c.parquet",
                             "--engine", "spark")
    assert code == 2
    assert err.count("\n") == 1 and "pip install 'kanta[spark]'" in err and "Traceback" not in err
    assert not (tmp_path / "c.parquet").exists()


def test_cli_memory_limit_is_refused_with_spark(sample_parquet, tmp_path, run_cli):
    code, out, err = run_cli("customers", sample_parquet, "--as-of", SAMPLE_AS_OF, "--out", tmp_path / "c.parquet",
                             "--engine", "spark", "--memory-limit", "3GB")
    assert code == 2 and err.startswith("kanta: --memory-limit: ")


def test_csv_folder_is_left_to_the_duckdb_engine(session):
    with pytest.raises(DataError, match=r"^transactions: .*transactions\.csv is CSV; the Spark engine reads Parquet, "
                                        r"Delta or metastore tables .*--engine duckdb\)\.$"):
        engine.load_spark_source(SAMPLE, as_of=SAMPLE_AS_OF, spark=session)


def test_fractional_units_are_refused_until_spark_divides_in_double(spark_sample):
    with pytest.raises(ParameterError, match=r"^freq_multiplier: got 7; the Spark engine computes whole days"):
        engine.customer_table(spark_sample, SAMPLE_AS_OF, freq_multiplier=7)


def test_ids_that_match_only_after_normalisation_give_the_duckdb_sentence(session, tmp_path):
    _write_parquet(tmp_path, "transactions", pd.DataFrame({
        "customer_id": ["00123", "C7 ", "42"], "timestamp": ["2026-10-01"] * 3, "amount": [1.0, 2.0, 3.0]}))
    _write_parquet(tmp_path, "customers", pd.DataFrame({
        "customer_id": ["123", "c7", "42"], "signup_date": ["2026-01-01"] * 3}))
    with pytest.raises(DataError) as duck:
        load_source(tmp_path, as_of="2026-10-31")
    with pytest.raises(DataError) as ours:
        engine.load_spark_source(tmp_path, as_of="2026-10-31", spark=session)
    assert str(ours.value) == str(duck.value)
    assert "only after removing spaces and ignoring case and dropping leading zeros" in str(ours.value)
