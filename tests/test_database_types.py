"""Database types read right: PostgreSQL money in currency units, numeric of any precision, typed infinities and
year-1 timestamps refused like the text ones (also from DuckDB files), arrays as ids refused, passwords with any
character decoded once and never printed, a cut connection in one sentence."""
from __future__ import annotations

import subprocess
from urllib.parse import quote

import duckdb
import pytest

from analysis.data import DatabaseURL, child_environment, load_database, load_source
from analysis.errors import DataError
from test_postgres import _server_binaries, postgres  # noqa: F401 - the session's server

CUSTOMERS = "c1", "c2", "c3"


def psql(url: str, script: str) -> None:
    port = url.split("@127.0.0.1:")[1].split("/")[0]
    subprocess.run([str(_server_binaries() / "psql"), "-h", "127.0.0.1", "-p", port, "-U", "kanta", "-d", "crm",
                    "-v", "ON_ERROR_STOP=1", "-q"], input=script, text=True, check=True, capture_output=True)


def schema_with(url: str, schema: str, columns: str, rows: list[str]) -> str:
    values = ", ".join(f"({r})" for r in rows)
    psql(url, f"DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}; "
              f"CREATE TABLE {schema}.transactions ({columns}); INSERT INTO {schema}.transactions VALUES {values};"
              f"GRANT USAGE ON SCHEMA {schema} TO analyst; GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO analyst;")
    return url.replace("schema=crm", f"schema={schema}")


def test_money_is_read_in_euros_not_cents(postgres):  # noqa: F811
    url = schema_with(postgres, "t_money", "customer_id text, timestamp timestamp, amount money",
                      ["'c1', '2024-01-01', '12.34'", "'c2', '2024-01-02', '1,000.50'", "'c3', '2024-01-03', '-0.99'"])
    src = load_database(url, as_of="2024-01-31")
    got = src.sql("SELECT customer_id, amount FROM transactions ORDER BY 1")
    assert got["amount"].tolist() == [12.34, 1000.50, -0.99]


@pytest.mark.parametrize("kind, value, expected", [
    ("numeric", "12345678901234.125", 12345678901234.125),
    ("numeric(40,10)", "12345678901234.0123456789", 12345678901234.0123456789),
    ("numeric(5,4)", "1.2345", 1.2345),
    ("numeric(1000,900)", "0.5", 0.5),
])
def test_numeric_of_any_precision_is_read(postgres, kind, value, expected):  # noqa: F811
    url = schema_with(postgres, "t_numeric", f"customer_id text, timestamp timestamp, amount {kind}",
                      [f"'c1', '2024-01-01', {value}"])
    got = load_database(url, as_of="2024-01-31").sql("SELECT amount FROM transactions")["amount"].iloc[0]
    assert got == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("kind, value", [("numeric", "12345678901234567890.125"),
                                         ("numeric(40,10)", "123456789012345678901234567890.0123456789")])
def test_numeric_beyond_the_exact_money_range_is_refused_in_one_sentence(postgres, kind, value):  # noqa: F811
    # money is summed as DECIMAL(18, 4): an amount of 1e14 or more would not fit, and is no amount in currency units
    url = schema_with(postgres, "t_numeric_huge", f"customer_id text, timestamp timestamp, amount {kind}",
                      [f"'c1', '2024-01-01', {value}"])
    with pytest.raises(DataError, match=r"^transactions\.amount: 1 row is 100,000,000,000,000 or more in size"):
        load_database(url, as_of="2024-01-31")


@pytest.mark.parametrize("value", ["infinity", "-infinity", "0001-01-01 00:00:00", "294275-01-01 00:00:00"])
@pytest.mark.parametrize("kind", ["timestamp", "timestamptz", "date"])
def test_typed_infinite_or_placeholder_timestamps_are_refused_from_postgresql(postgres, value, kind):  # noqa: F811
    if kind == "date" and value.startswith("294275"):
        value = "5874897-12-31"
    url = schema_with(postgres, "t_inf", f"customer_id text, timestamp {kind}, amount numeric(12,2)",
                      ["'c1', '2024-01-01', 1", f"'c2', '{value}', 2"])
    with pytest.raises(DataError) as exc:
        load_database(url, as_of="2024-01-31")
    msg = str(exc.value)
    if kind == "date" and "0001" not in value:  # the driver's day count of an infinite date does not fit DuckDB's
        assert "could not be read" in msg and "column timestamp" in msg, msg
    else:
        assert msg.startswith("transactions.timestamp: could not read 1 row as a date"), msg
    assert "\n" not in msg


@pytest.mark.parametrize("value", ["infinity", "-infinity", "0001-01-01", "9999-12-31"])
def test_typed_infinite_or_placeholder_timestamps_are_refused_from_duckdb_files(tmp_path, value):
    db = tmp_path / "shop.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE TABLE transactions (customer_id VARCHAR, timestamp TIMESTAMP, amount DOUBLE)")
        con.execute(f"INSERT INTO transactions VALUES ('c1', '2024-01-01', 1), ('c2', '{value}', 2)")
    with pytest.raises(DataError, match=r"^transactions.timestamp: could not read 1 row as a date"):
        load_source(db, as_of="2024-01-31")


def test_typed_infinite_signup_dates_are_refused_from_duckdb_files(tmp_path):
    db = tmp_path / "shop.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE TABLE transactions AS SELECT 'c1' AS customer_id, TIMESTAMP '2024-01-01' AS timestamp, "
                    "1.0 AS amount")
        con.execute("CREATE TABLE customers AS SELECT 'c1' AS customer_id, DATE '-infinity' AS signup_date")
    with pytest.raises(DataError, match=r"^customers.signup_date: could not read 1 row"):
        load_source(db, as_of="2024-01-31")


@pytest.mark.parametrize("kind, value", [("text[]", "ARRAY['C100000']"), ("integer[]", "ARRAY[1, 2]"),
                                         ("jsonb", "'{\"id\": 1}'"), ("bytea", "'\\x00'")])
def test_arrays_and_other_non_scalar_ids_are_refused(postgres, kind, value):  # noqa: F811
    url = schema_with(postgres, "t_array", f"customer_id {kind}, timestamp timestamp, amount numeric(12,2)",
                      [f"{value}, '2024-01-01', 1"])
    with pytest.raises(DataError, match=r"^transactions.customer_id: the column holds .* not one value per row"):
        load_database(url, as_of="2024-01-31")


def test_arrays_as_ids_are_refused_from_duckdb_files(tmp_path):
    db = tmp_path / "shop.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE TABLE transactions AS SELECT ['C100000'] AS customer_id, TIMESTAMP '2024-01-01' AS "
                    "timestamp, 1.0 AS amount")
    with pytest.raises(DataError, match=r"^transactions.customer_id: the column holds varchar\[\] values"):
        load_source(db, as_of="2024-01-31")


HARD = ["pa#ss/w?rd", "p@ss:w%rd", "slash/only", "hash#only", "sp ace+plus", "äöå€", "end%"]


@pytest.mark.parametrize("password", HARD)
def test_password_with_any_character_connects_and_is_never_printed(postgres, password, monkeypatch):  # noqa: F811
    monkeypatch.delenv("PGPASSWORD", raising=False)
    psql(postgres, "ALTER ROLE analyst PASSWORD '" + password.replace("'", "''") + "';")
    try:
        for given in (password, quote(password, safe="")):  # as typed, and percent-encoded
            url = postgres.replace("kanta@", f"analyst:{given}@")
            shown = DatabaseURL(url)
            assert shown._password == password  # decoded once, for every consumer
            assert child_environment(str(shown)) == {"PGPASSWORD": password}
            src = load_database(url, as_of="2026-10-31")
            assert src.quality["customers"] == 2000
            for text in (str(shown), repr(shown), str(src.path), shown.mask(f"failed for {given} / {password}")):
                assert password not in text and (given not in text or given in str(postgres))
            wrong = url.replace(given, given + "x") if given else url
            with pytest.raises(DataError) as exc:
                load_database(wrong)
            assert password not in str(exc.value) and given not in str(exc.value)
    finally:
        psql(postgres, "ALTER ROLE analyst PASSWORD 'Sekret-pw-4711';")


def test_cut_connection_while_reading_is_one_sentence(postgres, monkeypatch):  # noqa: F811
    import adbc_driver_postgresql.dbapi as dbapi
    import pyarrow as pa

    real_connect = dbapi.connect

    class CutCursor:
        def __init__(self, cur):
            self.cur = cur

        def __getattr__(self, name):
            return getattr(self.cur, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.cur.close()

        def fetch_record_batch(self):
            reader = self.cur.fetch_record_batch()

            def batches():
                yield reader.read_next_batch()
                raise OSError("server closed the connection unexpectedly")
            return pa.RecordBatchReader.from_batches(reader.schema, batches())

    class CutConnection:
        def __init__(self, *a, **k):
            self.conn = real_connect(*a, **k)

        def cursor(self):
            return CutCursor(self.conn.cursor())

        def close(self):
            self.conn.close()

    monkeypatch.setattr(dbapi, "connect", CutConnection)
    with pytest.raises(DataError) as exc:
        load_database(postgres, as_of="2026-10-31")
    msg = str(exc.value)
    assert msg.startswith("source: could not read table transactions from") and "\n" not in msg
