"""Hostile and realistic inputs: each is refused in one sentence or read right, never run as SQL or leaked.

Every test is named after what it protects against.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from analysis.data import privacy
from analysis.customers.table import customer_table, write_customer_table
from analysis.data import load_source
from analysis.errors import DataError, ParameterError
from analysis.report import find_pii, pii_values
from sources import write_source

TX = "customer_id,timestamp,amount\nc1,2024-01-01,10\nc2,2024-01-02,20\n"


def make(folder: Path, transactions: str = TX, customers: str | None = None, assignments: str | None = None) -> Path:
    return write_source(folder, transactions, customers, assignments)


def refusal(path, **kw) -> str:
    with pytest.raises(DataError) as exc:
        load_source(path, **kw)
    msg = str(exc.value)
    assert "\n" not in msg and "Traceback" not in msg
    return msg


def files_in(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


# --- SQL injection through identifiers ------------------------------------------------------------
HOSTILE_HEADER = "x\" FROM customers; COPY (SELECT 42) TO '{out}' (FORMAT CSV); --"


def test_crafted_customers_column_name_runs_no_sql(tmp_path):
    pwned = tmp_path / "pwned.csv"
    header = HOSTILE_HEADER.format(out=pwned)
    quoted = '"' + header.replace('"', '""') + '"'
    src = make(tmp_path / "src", customers=f"customer_id,signup_date,{quoted}\nc1,2024-01-01,a\nc2,2024-01-01,b\n")
    before = files_in(tmp_path)
    table = customer_table(src, "2024-01-02")
    write_customer_table(src, "2024-01-02", tmp_path / "table.parquet")
    assert not pwned.exists(), "a column name ran as SQL"
    assert header in table.columns  # read as what it is: a (strange) column name
    assert files_in(tmp_path) == before | {"table.parquet"}


@pytest.mark.parametrize("header", ["age group", "2nd_channel", "Ikä-ryhmä", "select", "a.b"])
def test_odd_customer_headers_are_carried_not_broken(tmp_path, header):
    quoted = '"' + header + '"'
    src = make(tmp_path, customers=f"customer_id,signup_date,{quoted}\nc1,2024-01-01,x\nc2,2024-01-01,y\n")
    table = customer_table(src, "2024-01-02")
    assert list(table[header]) == ["x", "y"]


def test_e_mail_header_is_personal_data_and_stays_out(tmp_path):
    src = make(tmp_path, customers="customer_id,signup_date,E-mail\nc1,2024-01-01,a@example.fi\nc2,2024-01-01,b@example.fi\n")
    assert "E-mail" not in customer_table(src, "2024-01-31").columns


@pytest.mark.parametrize("header, what", [("customer_id,timestamp,,amount", "without a name"),
                                          ("customer_id,timestamp,amount,Amount", "twice")])
def test_blank_or_duplicate_header_is_one_sentence(tmp_path, header, what):
    msg = refusal(make(tmp_path, f"{header}\nc1,2024-01-01,1,2\n"))
    assert msg.startswith("transactions: transactions.csv") and what in msg


# --- values that are not values ---------------------------------------------------------------------
@pytest.mark.parametrize("amount", ["NaN", "inf", "-Infinity", "nan", "1e999"])
def test_non_finite_amount_is_refused(tmp_path, amount):
    msg = refusal(make(tmp_path, f"customer_id,timestamp,amount\nc1,2024-01-01,1\nc2,2024-01-02,{amount}\n"))
    assert msg.startswith("transactions.amount: could not read 1 row as a number") and "line 3" in msg


def test_nan_amount_in_typed_parquet_is_refused(tmp_path):
    pd.DataFrame({"customer_id": ["a", "b"], "timestamp": pd.to_datetime(["2024-01-01", "2024-01-02"]),
                  "amount": [1.0, float("inf")]}).to_parquet(tmp_path / "transactions.parquet")
    assert refusal(tmp_path).startswith("transactions.amount: could not read 1 row as a number")


@pytest.mark.parametrize("cid", ["NULL", "nan", "None", "", " ", "N/A"])
def test_null_like_customer_id_is_refused(tmp_path, cid):
    msg = refusal(make(tmp_path, f"customer_id,timestamp,amount\nc1,2024-01-01,1\n{cid},2024-01-02,2\n"))
    assert msg.startswith("transactions.customer_id: 1 row has no value, e.g. line 3")


def test_null_like_customer_id_in_customers_is_refused(tmp_path):
    msg = refusal(make(tmp_path, customers="customer_id,signup_date\nc1,2024-01-01\nnone,2024-01-01\n"))
    assert msg.startswith("customers.customer_id: 1 row has no value") and "'none'" in msg


@pytest.mark.parametrize("word", ["epoch", "infinity", "-infinity"])
def test_timestamp_words_are_refused(tmp_path, word):
    msg = refusal(make(tmp_path, f"customer_id,timestamp,amount\nc1,2024-01-01,1\nc2,{word},2\n"))
    assert msg.startswith("transactions.timestamp: could not read 1 row") and word in msg


def test_signup_date_word_is_refused(tmp_path):
    msg = refusal(make(tmp_path, customers="customer_id,signup_date\nc1,2024-01-01\nc2,epoch\n"))
    assert msg.startswith("customers.signup_date: could not read 1 row")


# --- IDs that only match after normalisation ---------------------------------------------------------
@pytest.mark.parametrize("tx_id, cust_id, step", [
    ("00123", "123", "dropping leading zeros"), ("123.0", "123", "dropping a trailing .0"),
    ('" c1 "', "c1", "removing spaces"), ("C1", "c1", "ignoring case"),
])
def test_ids_that_match_only_after_normalisation_are_refused(tmp_path, tx_id, cust_id, step):
    src = make(tmp_path, f"customer_id,timestamp,amount\n{tx_id},2024-01-01,1\nok,2024-01-02,2\n",
               customers=f"customer_id,signup_date\n{cust_id},2024-01-01\nok,2024-01-01\n")
    msg = refusal(src)
    assert msg.startswith("transactions.customer_id: 1 ID matches customers.customer_id only after")
    assert step in msg and repr(cust_id) in msg


def test_assignment_ids_that_match_only_after_normalisation_are_refused(tmp_path):
    src = make(tmp_path, "customer_id,timestamp,amount\n7,2024-01-01,1\n8,2024-01-02,2\n",
               customers="customer_id,signup_date\n7,2024-01-01\n8,2024-01-01\n",
               assignments="experiment_id,customer_id,variant,assigned_at\ne1,007,a,2024-01-05\ne1,8,b,2024-01-05\n")
    msg = refusal(src)
    assert msg.startswith("assignments.customer_id: 1 ID matches customers.customer_id only after dropping leading zeros")
    assert "'007' vs '7'" in msg


def test_genuinely_unknown_buyers_are_only_noted(tmp_path):
    src = load_source(make(tmp_path, customers="customer_id,signup_date\nc1,2024-01-01\n"))
    assert src.quality["buyers_not_in_customers"] == 1


# --- time zones ---------------------------------------------------------------------------------------
def test_offsets_are_converted_to_the_business_time_zone(tmp_path):
    src = make(tmp_path, "customer_id,timestamp,amount\nc1,2024-06-30T22:30:00Z,1\nc1,2024-06-30 23:30:00+02:00,2\n"
                         "c2,2024-06-30 23:30:00,3\n")
    ts = load_source(src).sql("SELECT customer_id, amount, timestamp FROM transactions ORDER BY amount")
    assert [str(t) for t in ts["timestamp"]] == ["2024-07-01 01:30:00", "2024-07-01 00:30:00", "2024-06-30 23:30:00"]
    utc = load_source(src, timezone="UTC").sql("SELECT timestamp FROM transactions ORDER BY amount")
    assert str(utc["timestamp"].iloc[0]) == "2024-06-30 22:30:00"


def test_unknown_time_zone_is_a_parameter_error(tmp_path):
    with pytest.raises(ParameterError, match="timezone: got 'Mars/Olympus'"):
        load_source(make(tmp_path), timezone="Mars/Olympus")


_TZ_SCRIPT = """
import sys
from analysis.customers.table import customer_table
t = customer_table(sys.argv[1], "2024-12-31")
print(t[["customer_id", "n_purchases", "first_purchase", "last_purchase", "total_spend"]].to_csv(index=False))
"""


@pytest.mark.parametrize("kind", ["timestamptz_parquet", "offset_csv"])
def test_results_do_not_depend_on_the_machine_time_zone(tmp_path, kind):
    if kind == "timestamptz_parquet":
        ts = pd.to_datetime(["2024-03-30 22:30:00", "2024-06-30 21:59:00", "2024-06-30 22:01:00"]).tz_localize("UTC")
        pd.DataFrame({"customer_id": ["a", "a", "b"], "timestamp": ts, "amount": [1.0, 2.0, 3.0]}).to_parquet(
            tmp_path / "transactions.parquet")
    else:
        make(tmp_path, "customer_id,timestamp,amount\na,2024-03-30T22:30:00Z,1\na,2024-06-30 21:59:00+00:00,2\n"
                       "b,2024-06-30T22:01:00-00:00,3\n")
    outputs = set()
    for tz in ("America/Los_Angeles", "Asia/Tokyo", "UTC"):
        env = {**os.environ, "TZ": tz}
        p = subprocess.run([sys.executable, "-c", _TZ_SCRIPT, str(tmp_path)], capture_output=True, text=True, env=env)
        assert p.returncode == 0, p.stderr
        outputs.add(p.stdout)
    assert len(outputs) == 1, outputs
    assert "2024-07-01" in outputs.pop()  # 22:01 UTC is past midnight in Helsinki


# --- categories and channels ---------------------------------------------------------------------------
def test_category_names_with_spaces_dashes_and_ampersands_are_counted(tmp_path):
    src = make(tmp_path, "customer_id,timestamp,amount,category,channel\n"
                         "c1,2024-01-01,1,Koti & puutarha,Verkko-kauppa\nc1,2024-01-02,2,Urheilu ja vapaa-aika,Myymälä\n"
                         "c1,2024-01-03,3,koti-puutarha,Verkko-kauppa\n")
    row = customer_table(src, "2024-01-31").iloc[0]
    assert row["n_categories"] == 3
    assert row["share_koti_puutarha"] == pytest.approx(1 / 3) and row["share_koti_puutarha_2"] == pytest.approx(1 / 3)
    assert row["share_urheilu_ja_vapaa_aika"] == pytest.approx(1 / 3)
    assert row["main_channel"] == "verkko-kauppa"


def test_more_than_30_categories_are_said_and_all_counted(tmp_path):
    rows = "".join(f"c1,2024-01-{1 + i % 28:02d},1,cat {i}\n" for i in range(40))
    src = load_source(make(tmp_path, "customer_id,timestamp,amount,category\n" + rows + "c1,2024-01-01,1,cat 0\n"))
    table = customer_table(src, src.as_of)
    assert table["n_categories"].iloc[0] == 40
    assert sum(c.startswith("share_") for c in table.columns) == 30 and "share_cat_0" in table.columns
    assert any("40 values" in n and "30 most frequent" in n for n in src.notes)


# --- personal data by name and by value --------------------------------------------------------------
FINNISH = ["nimi", "etunimi", "sukunimi", "sahkoposti", "sähköposti", "puhelin", "osoite", "hetu", "Sähköposti"]


@pytest.mark.parametrize("column", FINNISH)
def test_finnish_personal_columns_never_reach_the_customer_table(tmp_path, column):
    src = make(tmp_path, customers=f"customer_id,signup_date,{column},region\nc1,2024-01-01,Matti,Uusimaa\n"
                                   "c2,2024-01-01,Maija,Pirkanmaa\n")
    table = customer_table(src, "2024-01-31")
    assert column not in table.columns and "region" in table.columns


@pytest.mark.parametrize("value, kind", [("anna.virtanen@example.fi", "email"), ("+358 40 123 4567", "phone"),
                                         ("040-1234567", "phone"), ("131052-308T", "identity_code")])
def test_personal_data_in_an_innocent_column_is_found_by_value(tmp_path, value, kind):
    src = load_source(make(tmp_path, customers=f"customer_id,signup_date,referral\nc1,2024-01-01,{value}\n"
                                               "c2,2024-01-01,friend\n"))
    assert src.personal_columns == {"referral": kind}
    assert any(n.startswith("customers.referral holds personal data") for n in src.notes)
    assert "referral" not in customer_table(src, src.as_of).columns
    leaked = find_pii(f"<p>Top referral: {value}</p>", pii_values(src))
    assert leaked and "friend" not in " ".join(leaked)


def test_privacy_gate_finds_emails_and_identity_codes_of_unknown_origin():
    empty = {"customer_id": set(), "name": set(), "email": set(), "phone": set(), "other": set()}
    assert find_pii("<p>write to someone@example.com</p>", empty) == ["email someone@example.com"]
    assert find_pii("<td>131052-308T</td>", empty) == ["identity_code 131052-308T"]
    assert find_pii("<td>131052-308A</td><p>K-3fa9c02d1e 2026-10-31 12,5 %</p>", empty) == []  # bad check mark


def test_value_patterns_leave_ordinary_attributes_alone(tmp_path):
    src = load_source(make(tmp_path, customers="customer_id,signup_date,age_band,postal_code,joined\n"
                                               "c1,2024-01-01,25-34,00100,2024-01-01 10:00:00\n"
                                               "c2,2024-01-01,55-64,33100,2024-02-01 10:00:00\n"))
    assert src.personal_columns == {}


# --- pseudonym keys ------------------------------------------------------------------------------------
def test_stakeholder_pages_refuse_the_public_key_on_real_data(tmp_path, monkeypatch):
    real = make(tmp_path / "real")
    for value in (None, "", "   ", privacy.DEMO_KEY):
        if value is None:
            monkeypatch.delenv(privacy.KEY_VARIABLE, raising=False)
        else:
            monkeypatch.setenv(privacy.KEY_VARIABLE, value)
        with pytest.raises(ParameterError, match=privacy.KEY_VARIABLE) as exc:
            privacy.pseudonym_key_kind(real)
        assert "\n" not in str(exc.value)
    monkeypatch.setenv(privacy.KEY_VARIABLE, "a-long-random-secret-0123456789")
    assert privacy.pseudonym_key_kind(real) == "secret"


def test_demo_data_renders_with_the_demo_key(sample_dir, tmp_path, monkeypatch):
    monkeypatch.delenv(privacy.KEY_VARIABLE, raising=False)
    assert privacy.pseudonym_key_kind(sample_dir) == "demo"
    assert privacy.pseudonym_key_kind(sample_dir / "transactions.csv") == "demo"
    assert privacy.pseudonym_key_kind.__doc__
    fake = make(tmp_path / "fake")
    (fake / "truth.json").write_text(json.dumps({"answer": 42}), encoding="utf-8")  # not the generator's
    with pytest.raises(ParameterError):
        privacy.pseudonym_key_kind(fake)
    with pytest.raises(ParameterError):
        privacy.pseudonym_key_kind("postgresql://kanta@localhost/crm")


# --- source definitions in SQL ------------------------------------------------------------------------
@pytest.mark.parametrize("statement", [
    "COPY (SELECT 1) TO '{tmp}/out.csv'",
    "ATTACH '{tmp}/other.duckdb' AS other",
    "INSTALL httpfs",
    "LOAD httpfs",
    "SET threads = 1",
    "CREATE TABLE t AS SELECT 1 AS a",
    "CREATE MACRO m(a) AS a",
    "CREATE SECRET s (TYPE s3, KEY_ID 'x', SECRET 'y')",
    "INSERT INTO transactions VALUES ('c1', '2024-01-01', 1)",
    "EXPORT DATABASE '{tmp}/dump'",
    "PRAGMA version",
    "CALL pragma_version()",
    "DROP VIEW transactions",
    "SELECT 1",
])
def test_source_definition_runs_only_view_definitions(tmp_path, statement):
    make(tmp_path / "data")
    sql = tmp_path / "kanta.sql"
    sql.write_text("-- my export\nCREATE VIEW transactions AS SELECT * FROM read_csv('data/transactions.csv');\n"
                   + statement.format(tmp=tmp_path) + ";\n", encoding="utf-8")
    before = files_in(tmp_path)
    msg = refusal(sql)
    assert msg.startswith("source: kanta.sql line 3: ") and "only defines views" in msg
    assert files_in(tmp_path) == before


def test_source_definition_temp_view_cannot_shadow_the_validated_views(tmp_path):
    make(tmp_path / "data", "customer_id,timestamp,amount\nc1,2024-01-01,10\nc2,2024-01-02,NaN\n")
    sql = tmp_path / "kanta.sql"
    sql.write_text("CREATE OR REPLACE TEMP VIEW transactions AS SELECT * FROM read_csv('data/transactions.csv', "
                   "all_varchar = true);\n", encoding="utf-8")
    assert refusal(sql).startswith("transactions.amount: could not read 1 row as a number")


def test_source_definition_reads_relative_paths_from_its_own_folder(tmp_path, monkeypatch):
    make(tmp_path / "defs" / "exports")
    sql = tmp_path / "defs" / "kanta.sql"
    sql.write_text("CREATE VIEW transactions AS SELECT * FROM 'exports/transactions.csv';", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    src = load_source(sql)
    assert src.quality["transactions"] == 2
    assert [f.name for f in src._tables["transactions"].files] == ["kanta.sql", "transactions.csv"]


def test_source_definition_error_names_the_line_not_a_traceback(tmp_path):
    sql = tmp_path / "kanta.sql"
    sql.write_text("-- header\n\nCREATE VIEW transactions AS\nSELECT * FROM read_csv('missing.csv');\n", encoding="utf-8")
    msg = refusal(sql)
    assert msg.startswith("source: kanta.sql line 3: view transactions could not be defined") and "missing.csv" in msg


def test_source_definition_without_transactions_view(tmp_path):
    sql = tmp_path / "kanta.sql"
    sql.write_text("CREATE VIEW orders AS SELECT 1 AS a;", encoding="utf-8")
    assert refusal(sql).startswith("transactions: kanta.sql defines no view named transactions (defined: orders)")


def test_source_definition_views_get_the_same_validation_as_files(tmp_path):
    sql = tmp_path / "kanta.sql"
    sql.write_text("CREATE VIEW transactions AS SELECT 'c1' AS customer_id, DATE '2024-01-01' AS timestamp, "
                   "'NaN'::DOUBLE AS amount;", encoding="utf-8")
    assert refusal(sql).startswith("transactions.amount: could not read 1 row as a number, e.g. row 1")


def test_duckdb_database_with_views_and_schemas(tmp_path):
    db = tmp_path / "shop.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE SCHEMA crm")
        con.execute("CREATE TABLE crm.orders AS SELECT 'c1' AS cid, TIMESTAMP '2024-01-01 10:00' AS ts, 5.0 AS eur")
        con.execute("CREATE VIEW crm.transactions AS SELECT cid AS customer_id, ts AS timestamp, eur AS amount "
                    "FROM crm.orders")
        con.execute("CREATE TABLE crm.customers AS SELECT 'c1' AS customer_id, DATE '2023-12-01' AS signup_date")
    src = load_source(db)
    assert src.quality["transactions"] == 1 and src.quality["customers"] == 1


def test_timezone_option_sets_the_business_time_zone_of_the_run(tmp_path, monkeypatch, capsys):
    import os

    from analysis.cli import main as kanta

    monkeypatch.delenv("KANTA_TIMEZONE", raising=False)
    src = tmp_path / "tz"
    src.mkdir()
    (src / "transactions.csv").write_text("customer_id,timestamp,amount\nA,2026-10-31T23:30:00+00:00,10\n"
                                          "B,2026-10-30T12:00:00+00:00,5\n", encoding="utf-8")
    out = tmp_path / "c.csv"
    # 23:30 UTC on 31 October is already 1 November in Helsinki: after as_of, so excluded
    assert kanta(["customers", str(src), "--as-of", "2026-10-31", "--out", str(out)]) == 0
    assert "1 customers" in capsys.readouterr().out
    monkeypatch.delenv("KANTA_TIMEZONE", raising=False)
    assert kanta(["customers", str(src), "--as-of", "2026-10-31", "--out", str(out), "--timezone", "UTC"]) == 0
    assert "2 customers" in capsys.readouterr().out
    os.environ.pop("KANTA_TIMEZONE", None)
    assert kanta(["customers", str(src), "--as-of", "2026-10-31", "--out", str(out), "--timezone", "Mars/Base"]) == 2
    assert "--timezone" in capsys.readouterr().err


def test_html_in_an_experiment_id_stays_text_on_its_page(tmp_path, capsys):
    import shutil

    import pandas as pd

    from analysis.cli import main as kanta

    sample = Path(__file__).resolve().parents[1] / "data" / "sample"
    src = tmp_path / "src"
    shutil.copytree(sample, src)
    evil = "<img src=x onerror=alert(1)>"
    for name in ("assignments.csv", "campaigns.csv"):
        if (src / name).exists():
            t = pd.read_csv(src / name, dtype=str)
            t.loc[t["experiment_id"] == "reactivation-2026-03", "experiment_id"] = evil
            t.to_csv(src / name, index=False)
    out = tmp_path / "reports"
    code = kanta(["report", "--experiment", evil, "--period", "2026-10", "--data", str(src), "--out", str(out), "--quiet"])
    assert code in (0, 3), capsys.readouterr().err
    pages = list((out / "experiments").glob("*/index.html"))
    assert pages
    text = pages[0].read_text(encoding="utf-8")
    assert "<img src=x" not in text and "&lt;img src=x onerror=alert(1)&gt;" in text
