"""Bad input gets one clear sentence (table, column, rows, expectation), exit code 2 and no output."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from analysis.data import load_source
from sources import write_source
from analysis.errors import DataError

GOOD = "customer_id,timestamp,amount,transaction_id\nc1,2024-01-01,10.5,t1\nc2,2024-01-02 13:00:00,-3,t2\n"


def make(tmp_path, transactions=GOOD, customers=None, assignments=None, encoding="utf-8"):
    return write_source(tmp_path, transactions, customers, assignments, encoding)


def error_of(path, **kw) -> str:
    with pytest.raises(DataError) as exc:
        load_source(path, **kw)
    msg = str(exc.value)
    assert "\n" not in msg, "messages are one line"
    return msg


def test_good_source_loads_with_notes(tmp_path):
    src = load_source(make(tmp_path), as_of="2024-12-31")
    assert src.quality["transactions"] == 2 and src.quality["refund_rows"] == 1
    assert any("refund" in n for n in src.notes)
    assert len(src.fingerprint) == 64


def test_missing_source(tmp_path):
    assert "does not exist" in error_of(tmp_path / "nope")


def test_missing_transactions_table(tmp_path):
    msg = error_of(make(tmp_path, transactions=None, customers="customer_id,signup_date\nc1,2024-01-01\n"))
    assert msg.startswith("transactions:") and "no transactions.csv" in msg


def test_missing_required_column(tmp_path):
    msg = error_of(make(tmp_path, "customer_id,timestamp\nc1,2024-01-01\n"))
    assert msg.startswith("transactions: missing required column amount")


def test_unparsable_timestamp_names_the_line(tmp_path):
    msg = error_of(make(tmp_path, "customer_id,timestamp,amount\nc1,2024-01-01,1\nc2,31.12.2024,2\nc3,yesterday,3\n"))
    assert msg.startswith("transactions.timestamp: could not read 2 rows as a date or datetime")
    assert "line 3: '31.12.2024'" in msg and "line 4: 'yesterday'" in msg


def test_non_numeric_amount_names_the_line(tmp_path):
    msg = error_of(make(tmp_path, 'customer_id,timestamp,amount\nc1,2024-01-01,1\nc2,2024-01-01,"12,5e"\n'))
    assert msg.startswith("transactions.amount: could not read 1 row as a number") and "line 3: '12,5e'" in msg


def test_empty_table(tmp_path):
    assert "the table is empty" in error_of(make(tmp_path, "customer_id,timestamp,amount\n"))


def test_empty_file(tmp_path):
    assert "is empty" in error_of(make(tmp_path, ""))


def test_null_customer_id(tmp_path):
    msg = error_of(make(tmp_path, "customer_id,timestamp,amount\nc1,2024-01-01,1\n,2024-01-02,2\n"))
    assert msg.startswith("transactions.customer_id: 1 row has no value, e.g. line 3")


def test_duplicate_transaction_id(tmp_path):
    msg = error_of(make(tmp_path, "customer_id,timestamp,amount,transaction_id\nc1,2024-01-01,1,t1\nc2,2024-01-02,2,t1\n"))
    assert msg.startswith("transactions.transaction_id: 1 transaction ID appears more than once")
    assert "'t1' on lines 2 and 3" in msg


def test_rows_after_as_of_are_excluded_and_said(tmp_path):
    src = load_source(make(tmp_path), as_of="2024-01-01")
    assert src.quality["future_rows_excluded"] == 1 and src.quality["transactions"] == 1
    assert "1 transactions after as_of 2024-01-01 were excluded." in src.notes


def test_as_of_before_all_data(tmp_path):
    assert "no rows on or before as_of 2023-01-01" in error_of(make(tmp_path), as_of="2023-01-01")


def test_assignment_to_unknown_customer(tmp_path):
    msg = error_of(make(tmp_path, customers="customer_id,signup_date\nc1,2024-01-01\nc2,2024-01-01\n",
                        assignments="experiment_id,customer_id,variant,assigned_at\ne1,c1,a,2024-01-05\ne1,c9,b,2024-01-05\n"))
    assert msg.startswith("assignments.customer_id: 1 row refers to customers not in the customers table")
    assert "'c9'" in msg


def test_customer_in_two_variants(tmp_path):
    msg = error_of(make(tmp_path, assignments="experiment_id,customer_id,variant,assigned_at\n"
                                              "e1,c1,a,2024-01-05\ne1,c1,b,2024-01-05\ne2,c1,b,2024-01-05\n"))
    assert msg.startswith("assignments.variant: 1 customer is in more than one variant")
    assert "'c1' in a and b of 'e1'" in msg


def test_duplicate_customer_rows(tmp_path):
    msg = error_of(make(tmp_path, customers="customer_id,signup_date\nc1,2024-01-01\nc1,2024-02-01\nc2,2024-01-01\n"))
    assert msg.startswith("customers.customer_id: 1 customer ID appears more than once")


def test_non_utf8_csv(tmp_path):
    text = "customer_id,timestamp,amount,category\nc1,2024-01-01,1,arpajaiset\nc2,2024-01-02,2,hevospelit ÄÖ\n"
    msg = error_of(make(tmp_path, text, encoding="latin-1"))
    assert msg.startswith("transactions: transactions.csv is not UTF-8")


def test_non_utf8_header(tmp_path):
    msg = error_of(make(tmp_path, "asiakas_id_ä,timestamp,amount\nc1,2024-01-01,1\n", encoding="latin-1"))
    assert "is not UTF-8" in msg


def test_wrong_delimiter(tmp_path):
    msg = error_of(make(tmp_path, "customer_id;timestamp;amount\nc1;2024-01-01;1,5\n"))
    assert msg.startswith("transactions: transactions.csv is semicolon-separated")
    assert "expected comma-separated" in msg


def test_parquet_parts_and_duckdb_file_load_the_same(tmp_path, sample_dir):
    import duckdb

    tx = pd.read_csv(sample_dir / "transactions.csv")
    parts = tmp_path / "pq" / "transactions"
    parts.mkdir(parents=True)
    half = len(tx) // 2
    tx.iloc[:half].to_parquet(parts / "part-0.parquet")
    tx.iloc[half:].to_parquet(parts / "part-1.parquet")
    db = tmp_path / "kanta.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE TABLE transactions AS SELECT * FROM tx")
    a = load_source(tmp_path / "pq", as_of="2026-10-31").quality
    b = load_source(db, as_of="2026-10-31").quality
    c = load_source(sample_dir, as_of="2026-10-31").quality
    assert a["transactions"] == b["transactions"] == c["transactions"]
    assert a["buyers"] == b["buyers"] == c["buyers"]


def test_duckdb_file_without_transactions(tmp_path):
    import duckdb

    db = tmp_path / "x.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE TABLE orders AS SELECT 1 AS a")
    assert "has no table 'transactions' (found: ['orders'])" in error_of(db)


def test_sample_is_valid(sample_source):
    q = sample_source.quality
    assert q["customers"] == 2000 and q["experiments"] == 3
    assert q["future_rows_excluded"] > 0  # the extract runs into November


def test_ragged_csv_row(tmp_path):
    msg = error_of(make(tmp_path, "customer_id,timestamp,amount\nc1,2024-01-01,1\nc2,2024-01-02,2,extra\n"))
    assert msg.startswith("transactions: transactions.csv could not be read as CSV (line 3)")


def test_typed_parquet_still_gets_null_and_text_checks(tmp_path):
    ok = pd.DataFrame({"customer_id": [1, 2], "timestamp": pd.to_datetime(["2024-01-01", None]), "amount": [1.0, 2.0]})
    ok.to_parquet(tmp_path / "transactions.parquet")
    msg = error_of(tmp_path)
    assert msg.startswith("transactions.timestamp: could not read 1 row as a date or datetime") and "row 2" in msg
    text_amount = ok.assign(timestamp=pd.to_datetime(["2024-01-01", "2024-01-02"]), amount=["1.5", "kaksi"])
    text_amount.to_parquet(tmp_path / "transactions.parquet")
    assert "row 2: 'kaksi'" in error_of(tmp_path)


def test_write_json_replaces_atomically_and_leaves_no_temp_file(tmp_path):
    from analysis.data import write_json

    out = tmp_path / "params.json"
    write_json({"a": 1}, out)
    write_json({"a": 2, "ä": 0.5}, out)
    assert json.loads(out.read_text(encoding="utf-8")) == {"a": 2, "ä": 0.5}
    assert [p.name for p in tmp_path.iterdir()] == ["params.json"]


def test_campaign_briefs_are_an_optional_table_with_numeric_costs(tmp_path, sample_dir):
    import shutil

    src = tmp_path / "src"
    shutil.copytree(sample_dir, src)
    (src / "campaigns.csv").write_text("experiment_id,cost_fixed,cost_per_contact,goal\n"
                                       "newsletter-2026-09,200,0.05,More buyers\n", encoding="utf-8")
    s = load_source(src, as_of="2026-10-31")
    row = s.sql("SELECT * FROM campaigns").iloc[0]
    assert (row["cost_fixed"], row["cost_per_contact"], row["goal"]) == (200.0, 0.05, "More buyers")
    (src / "campaigns.csv").write_text("experiment_id,cost_fixed\nnewsletter-2026-09,lots\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"campaigns\.cost_fixed: could not read 1 row as a number, e\.g\. line 2"):
        load_source(src, as_of="2026-10-31")


# --- source definitions in SQL: the README's worked examples on committed miniature exports -----------
EXPORTS = Path(__file__).resolve().parent / "exports"
README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.parametrize("example", ["retail", "finnish_excel"])
def test_readme_shows_the_tested_source_definitions(example):
    assert (EXPORTS / example / "kanta.sql").read_text(encoding="utf-8").strip() in README.read_text(encoding="utf-8")


def test_line_item_retail_export_through_a_source_definition():
    """Invoice lines -> one transaction per invoice; cancellations are refunds; lines without a customer left out."""
    lines = pd.read_csv(EXPORTS / "retail" / "lines.csv", dtype={"CustomerID": str, "InvoiceNo": str})
    known = lines.dropna(subset=["CustomerID"]).assign(amount=lambda d: d.Quantity * d.UnitPrice)
    invoices = known.groupby("InvoiceNo").agg(amount=("amount", "sum"), customer=("CustomerID", "first"))
    assert lines["CustomerID"].isna().mean() > 0.15  # the export really has anonymous lines

    src = load_source(EXPORTS / "retail" / "kanta.sql")
    q = src.quality
    assert q["transactions"] == len(invoices) and q["buyers"] == invoices["customer"].nunique()
    assert q["refund_rows"] == int((invoices.index.str.startswith("C")).sum()) > 0
    total = src.sql("SELECT sum(amount) AS s FROM transactions")["s"].iloc[0]
    assert total == pytest.approx(invoices["amount"].round(2).sum())
    assert q["customers"] == invoices["customer"].nunique()
    first = src.sql("SELECT min(timestamp) AS t FROM transactions")["t"].iloc[0]
    assert str(first) == str(pd.to_datetime(known["InvoiceDate"], format="%m/%d/%Y %H:%M").min())


def test_finnish_excel_export_through_a_source_definition():
    """Semicolons, decimal commas, dd.mm.yyyy dates, zero-padded customer numbers, Kyllä/Ei permissions."""
    ostot = pd.read_csv(EXPORTS / "finnish_excel" / "ostot.csv", sep=";", decimal=",", dtype={"Asiakasnumero": str},
                        encoding="utf-8-sig")
    asiakkaat = pd.read_csv(EXPORTS / "finnish_excel" / "asiakkaat.csv", sep=";", dtype={"Asiakasnumero": str},
                            encoding="utf-8-sig")
    src = load_source(EXPORTS / "finnish_excel" / "kanta.sql")
    assert src.quality["transactions"] == len(ostot) and src.quality["customers"] == len(asiakkaat)
    assert src.sql("SELECT sum(amount) AS s FROM transactions")["s"].iloc[0] == pytest.approx(ostot["Summa €"].sum())
    assert str(src.as_of.date()) == str(pd.to_datetime(ostot["Ostopäivä"], format="%d.%m.%Y").max().date())
    cust = src.customers().set_index("customer_id")
    assert cust.index[0].startswith("00")  # leading zeros kept
    assert cust["marketing_permission"].sum() == (asiakkaat["Markkinointilupa"] == "Kyllä").sum()
    from analysis.customers.table import customer_table

    table = customer_table(src, src.as_of)
    assert {"share_koti_puutarha", "share_kauneus_terveys", "share_vaatteet_naiset"} <= set(table.columns)
    assert table["n_categories"].max() > 1
    assert not {"Nimi", "Sähköposti", "Puhelin"} & set(table.columns)


def test_wrong_columns_suggest_a_source_definition_naming_the_columns_found(tmp_path):
    import shutil

    shutil.copy(EXPORTS / "retail" / "lines.csv", tmp_path / "transactions.csv")
    msg = error_of(tmp_path)
    assert msg.startswith("transactions: missing required columns customer_id, timestamp, amount (found: InvoiceNo,")
    assert ("CREATE VIEW transactions AS SELECT CustomerID AS customer_id, InvoiceDate AS timestamp, "
            "Quantity * UnitPrice AS amount FROM 'transactions.csv'") in msg


@pytest.mark.parametrize("value,shown", [("n/a", "'n/a'"), ("NaN", "'NaN'"), ("", "None")])
def test_margin_is_checked_like_amount(tmp_path, value, shown):
    log = "customer_id,timestamp,amount,margin\nc1,2024-01-01,10.5,2.5\nc2,2024-01-02,8,\"%s\"\n" % value
    msg = error_of(make(tmp_path, log))
    assert msg.startswith("transactions.margin: could not read 1 row as a number, e.g. line 3: " + shown)
    assert msg.endswith("expected a number like 3.20 (decimal point, no thousands separator).")


def test_one_scan_still_names_the_first_broken_column(tmp_path):
    # customer_id, timestamp and amount are all broken: the message is the one the checks give in order
    log = "customer_id,timestamp,amount\nc1,2024-01-01,1\nnan,2024-13-45,x\n,2024-01-02,2\n"
    msg = error_of(make(tmp_path, log))
    assert msg.startswith("transactions.customer_id: 2 rows have no value, e.g. line 3 ('nan'), line 4;")
    fixed = log.replace("nan,", "c2,").replace("\n,", "\nc3,")
    assert error_of(make(tmp_path, fixed)).startswith("transactions.timestamp: could not read 1 row as a date")


def test_buyers_and_possible_duplicates_are_counted_when_read_and_keep_their_place(tmp_path):
    log = ("customer_id,timestamp,amount\nc1,2024-01-01,10\nc1,2024-01-01,10\nc2,2024-01-02,-3\n"
           "c3,2024-01-03,4\nc3,2024-01-03,4\nc3,2024-01-03,4\n")
    customers = "customer_id,signup_date,marketing_permission\nc1,2023-01-01,yes\nc2,2023-01-01,\nc3,2023-01-01,no\n"
    src = load_source(make(tmp_path, log, customers), as_of="2024-12-31")
    assert src.recorded("buyers") is None  # not taken by loading
    assert src.quality["buyers"] == 3 and src.quality["possible_duplicate_rows"] == 2
    assert [n.split(" ")[1] for n in src.notes] == ["refund", "groups", "customers"]


def test_default_memory_limit_and_temp_directory(tmp_path):
    import gc
    import tempfile

    from analysis.data import default_memory_limit, duckdb_connection

    assert default_memory_limit(24 * 2**30) == "3072MiB" and default_memory_limit(4 * 2**30) == "512MiB"
    assert default_memory_limit(2**30) == "256MiB"
    src = load_source(make(tmp_path))
    temp = Path(src.temp_directory)
    # named for this connection, made by DuckDB only when a query spills: a run that never spills leaves nothing
    assert temp.parent == Path(tempfile.gettempdir()) and temp.name.startswith("kanta-duckdb-")
    assert not temp.exists()
    small = duckdb_connection("64MB")
    small_temp = Path(small.execute("SELECT current_setting('temp_directory')").fetchone()[0])
    small.execute("SET preserve_insertion_order = false")
    small.execute("CREATE TABLE spilled AS SELECT range AS i, hash(range) AS h FROM range(5000000) ORDER BY h")
    assert small_temp.is_dir() and small_temp != temp
    small.close()
    assert not small_temp.exists()
    assert src.memory_limit == duckdb_connection().execute("SELECT current_setting('memory_limit')").fetchone()[0]
    assert load_source(make(tmp_path), memory_limit="1GB").memory_limit_bytes == pytest.approx(10**9, rel=1e-3)
    del src
    gc.collect()
    assert not temp.exists()


def test_reopened_source_has_the_views_notes_and_counts_without_checking_again(tmp_path, monkeypatch):
    # a notebook kernel reopens what the report process validated: same tables, same notes, no second scan
    import shutil

    from analysis.customers.table import customer_table
    from analysis.data import reopen_source

    d = tmp_path / "sample"
    from conftest import SAMPLE

    shutil.copytree(SAMPLE, d)
    src = load_source(d, as_of="2026-10-31")
    record = json.loads(json.dumps(src.record()))  # plain values: it travels as JSON or in a pickle
    from analysis.data import validation

    scans = []
    check = validation.Validator.check
    monkeypatch.setattr(validation.Validator, "check", lambda self, *a, **k: (scans.append(self.trusted), check(self, *a, **k)))
    again = reopen_source(record)
    assert scans and not any(not trusted for trusted in scans)  # the checks were passed over, not run
    assert again.notes == src.notes and again.quality == src.quality
    assert again.personal_columns == src.personal_columns
    pd.testing.assert_frame_equal(customer_table(again, "2026-10-31"), customer_table(src, "2026-10-31"))
    for view in ("contacts", "assignments", "campaigns", "customers"):
        assert again.sql(f"SELECT count(*) AS n FROM {view}")["n"].iloc[0] == \
            src.sql(f"SELECT count(*) AS n FROM {view}")["n"].iloc[0]
    # a file that changed since is validated in full: bad data is still refused with its sentence
    tx = pd.read_csv(d / "transactions.csv", dtype=str)
    tx.loc[3, "amount"] = "12,50"
    tx.to_csv(d / "transactions.csv", index=False)
    with pytest.raises(DataError, match=r"transactions\.amount: could not read 1 row"):
        reopen_source(record)
    assert not all(scans)


def test_data_end_reads_the_last_day_without_the_checks_and_bad_data_still_gets_its_sentence(tmp_path):
    from conftest import SAMPLE

    from analysis.data import data_end

    full = load_source(SAMPLE)
    assert data_end(SAMPLE) == pd.Timestamp(full.sql("SELECT max(CAST(timestamp AS DATE)) AS d FROM transactions")["d"].iloc[0])
    bad = tmp_path / "bad"
    bad.mkdir()
    pd.DataFrame({"customer_id": ["a", "b"], "timestamp": ["yesterday", "soon"], "amount": [1.0, 2.0]}).to_csv(
        bad / "transactions.csv", index=False)
    with pytest.raises(DataError, match=r"transactions\.timestamp: could not read 2 rows"):
        data_end(bad)
