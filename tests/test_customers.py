"""The customer table equals lifetimes' RFM summary and its monthly counts add up."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lifetimes.utils import calibration_and_holdout_data, summary_data_from_transaction_data

from analysis.customers import calibration_holdout, customer_table, monthly_activity
from analysis.data import load_source
from analysis.errors import ParameterError
from conftest import cdnow_transactions


def _lifetimes_summary(freq, as_of, freq_multiplier=1):
    tx = cdnow_transactions("sample")
    tx["timestamp"] = pd.to_datetime(tx["timestamp"])
    s = summary_data_from_transaction_data(tx, "customer_id", "timestamp", monetary_value_col="amount",
                                           observation_period_end=as_of, freq=freq, freq_multiplier=freq_multiplier)
    return s.sort_index()


@pytest.mark.parametrize("freq,mult", [("D", 1), ("W", 1), ("D", 7)])
def test_rfm_columns_equal_lifetimes_on_cdnow(cdnow_dir, freq, mult):
    as_of = "1998-06-30"
    ours = customer_table(cdnow_dir, as_of=as_of, freq=freq, freq_multiplier=mult).set_index("customer_id")
    theirs = _lifetimes_summary(freq, as_of, mult)
    assert len(ours) == len(theirs) == 2357
    ours = ours.loc[theirs.index]
    for col in ("frequency", "recency", "T", "monetary_value"):
        np.testing.assert_allclose(ours[col].to_numpy(), theirs[col].to_numpy(), rtol=1e-9, atol=1e-9, err_msg=col)


@pytest.mark.parametrize("freq", ["D", "W"])
def test_calibration_holdout_equals_lifetimes_on_cdnow(cdnow_dir, freq):
    tx = cdnow_transactions("sample")
    tx["timestamp"] = pd.to_datetime(tx["timestamp"])
    theirs = calibration_and_holdout_data(tx, "customer_id", "timestamp", calibration_period_end="1997-09-30",
                                          observation_period_end="1998-06-30", freq=freq,
                                          monetary_value_col="amount").sort_index()
    ours = calibration_holdout(cdnow_dir, "1997-09-30", "1998-06-30", freq=freq).set_index("customer_id")
    assert len(ours) == len(theirs)
    ours = ours.loc[theirs.index]
    for col in ("frequency_cal", "recency_cal", "T_cal", "monetary_value_cal", "frequency_holdout",
                "monetary_value_holdout", "duration_holdout"):
        np.testing.assert_allclose(ours[col].to_numpy(), theirs[col].to_numpy(), rtol=1e-9, atol=1e-9, err_msg=col)


def test_cdnow_cohort_in_weeks_as_days_over_seven(cdnow_dir):
    # Fader-Hardie's cohort: 2,357 customers, 39-week calibration; T is 27-39 weeks.
    cal = calibration_holdout(cdnow_dir, "1997-09-30", "1998-06-30", freq="D", freq_multiplier=7)
    assert len(cal) == 2357
    assert cal["T_cal"].max() == pytest.approx(38.86, abs=0.01)
    assert cal["T_cal"].min() == pytest.approx(27.0, abs=0.01)
    assert cal["duration_holdout"].iloc[0] == pytest.approx(273 / 7)


def _write(tmp_path, rows, customers=None):
    pd.DataFrame(rows, columns=["customer_id", "timestamp", "amount"]).to_csv(tmp_path / "transactions.csv", index=False)
    if customers is not None:
        pd.DataFrame(customers, columns=["customer_id", "signup_date"]).to_csv(tmp_path / "customers.csv", index=False)
    return tmp_path


def test_refund_is_netted_within_the_day(tmp_path):
    src = _write(tmp_path, [
        ("a", "2024-01-01 10:00", 50.0), ("a", "2024-01-01 11:00", -20.0),  # net 30 on day 1
        ("a", "2024-01-05", 10.0), ("a", "2024-01-05 12:00", -10.0),        # fully cancelled: not a purchase
        ("a", "2024-01-09", 40.0), ("a", "2024-01-12", -5.0),               # refund-only day: not a purchase
    ])
    row = customer_table(src, "2024-01-31").iloc[0]
    assert row["n_purchases"] == 2 and row["frequency"] == 1
    assert row["monetary_value"] == 40.0
    assert row["total_spend"] == pytest.approx(65.0)
    assert row["recency"] == 8 and row["T"] == 30


def test_purchase_on_as_of_counts_and_later_ones_do_not(tmp_path):
    src = _write(tmp_path, [("a", "2024-01-01", 5.0), ("a", "2024-01-31 23:59:59", 5.0), ("a", "2024-02-01", 5.0)])
    row = customer_table(load_source(src, as_of="2024-01-31"), "2024-01-31").iloc[0]
    assert row["frequency"] == 1 and row["days_since_last_purchase"] == 0 and row["T"] == 30


def test_prospects_are_listed_only_when_asked(tmp_path):
    src = _write(tmp_path, [("a", "2024-01-02", 5.0)], customers=[("a", "2024-01-01"), ("p", "2024-01-10"),
                                                                  ("late", "2024-03-01")])
    assert list(customer_table(src, "2024-01-31")["customer_id"]) == ["a"]
    table = customer_table(src, "2024-01-31", include_prospects=True)
    assert list(table["customer_id"]) == ["a", "p"]  # "late" signed up after as_of
    p = table.set_index("customer_id").loc["p"]
    assert p["n_purchases"] == 0 and np.isnan(p["frequency"]) and p["tenure_days"] == 21


def test_spend_trend_compares_last_90_days_with_the_90_before(tmp_path):
    src = _write(tmp_path, [("a", "2023-10-01", 30.0), ("a", "2024-05-01", 10.0), ("b", "2024-01-15", 10.0)])
    t = customer_table(src, "2024-06-01").set_index("customer_id")
    assert t.loc["a", "spend_last_90d"] == 10 and t.loc["a", "spend_prev_90d"] == 0
    assert t.loc["a", "spend_trend"] == 1.0
    assert t.loc["b", "spend_last_90d"] == 0 and t.loc["b", "spend_trend"] == -1.0


def test_monthly_counts_add_up_on_the_sample(sample_source):
    m = monthly_activity(sample_source, "2026-10-31", months=12, inactivity_days=90)
    assert len(m) == 12 and m["month"].iloc[-1] == "2026-10"
    prev = m["active"].shift(1)
    ok = (m["active"] == prev - m["lost"] + m["new"] + m["returned"]).iloc[1:]
    assert ok.all()
    assert (m["revenue"] > 0).all() and (m["avg_purchase"] > 0).all()


def test_monthly_counts_match_a_hand_count(tmp_path):
    src = _write(tmp_path, [("a", "2024-01-05", 10.0), ("a", "2024-03-10", 10.0),  # a: new Jan, lost Feb, returned Mar
                            ("b", "2024-02-02", 4.0), ("b", "2024-02-20", 6.0)])   # b: new Feb
    m = monthly_activity(src, "2024-03-31", months=3, inactivity_days=30).set_index("month")
    assert m.loc["2024-01", ["active", "new", "lost", "returned"]].tolist() == [1, 1, 0, 0]
    assert m.loc["2024-02", ["active", "new", "lost", "returned"]].tolist() == [1, 1, 1, 0]
    assert m.loc["2024-03", ["active", "new", "lost", "returned"]].tolist() == [1, 0, 1, 1]  # b lapsed in March
    assert m.loc["2024-02", "avg_purchase"] == 5.0 and m.loc["2024-02", "purchase_frequency"] == 2.0


def test_bad_frequency_is_a_parameter_error(sample_source):
    with pytest.raises(ParameterError, match="freq"):
        customer_table(sample_source, "2026-10-31", freq="M")


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_written_table_equals_the_dataframe(sample_source, tmp_path, suffix):
    from analysis.customers.table import write_customer_table

    out = tmp_path / f"table{suffix}"
    n = write_customer_table(sample_source, "2026-10-31", out)
    written = pd.read_csv(out) if suffix == ".csv" else pd.read_parquet(out)
    frame = customer_table(sample_source, "2026-10-31")
    assert n == len(frame) == len(written)
    assert list(written.columns) == list(frame.columns)
    for col in ("frequency", "recency", "T", "monetary_value", "total_spend"):
        np.testing.assert_allclose(written[col], frame[col])
    assert not list(tmp_path.glob(".*tmp*"))


def test_margin_rate_is_margin_over_amount_on_purchase_days(tmp_path):
    pd.DataFrame([
        ("a", "2024-01-01", 100.0, 30.0),
        ("a", "2024-01-03 10:00", 50.0, 10.0), ("a", "2024-01-03 12:00", -10.0, -2.0),  # netted: 40, margin 8
        ("a", "2024-01-07", -20.0, -5.0),                                               # refund-only: not a purchase
        ("b", "2024-01-02", 0.0, 0.0),                                                  # free item: no rate
    ], columns=["customer_id", "timestamp", "amount", "margin"]).to_csv(tmp_path / "transactions.csv", index=False)
    for freq in ("D", "W"):
        t = customer_table(tmp_path, "2024-01-31", freq=freq).set_index("customer_id")
        assert t.loc["a", "margin_rate"] == pytest.approx(38 / 140, rel=1e-12)
        assert pd.isna(t.loc["b", "margin_rate"])
        assert list(t.columns).index("margin_rate") == list(t.columns).index("signup_date") - 1
    assert load_source(tmp_path).sql("SELECT sum(margin) AS m FROM transactions")["m"].iloc[0] == 33.0


def test_no_margin_column_no_margin_rate(tmp_path):
    src = load_source(_write(tmp_path, [("a", "2024-01-01", 5.0)]), as_of="2024-01-31")
    assert "margin_rate" not in customer_table(src, "2024-01-31").columns
    assert src.sql("SELECT count(margin) AS n FROM transactions")["n"].iloc[0] == 0  # the column is there, empty


def test_spark_dialect_carries_margin_rate():
    from analysis.customers.table import customer_table_sql

    spark = customer_table_sql("2024-01-31", dialect="spark", margin=True)
    assert "SUM(CAST(margin AS DECIMAL(18, 4))) AS net_margin" in spark and "AS margin_rate" in spark \
        and "date_diff" not in spark
    assert "margin" not in customer_table_sql("2024-01-31", dialect="spark")


def test_writing_a_table_that_does_not_fit_spills_and_says_so(tmp_path, monkeypatch):
    import duckdb

    from analysis.customers import table as customers
    from analysis.customers.table import write_customer_table

    monkeypatch.setattr(customers, "STATE_BYTES", 0)  # one pass, however big: DuckDB spills

    (tmp_path / "log").mkdir()
    duckdb.execute(f"""COPY (SELECT i % 300000 AS customer_id, TIMESTAMP '2024-01-01' + to_days(CAST(i % 360 AS INTEGER))
                             AS timestamp, 1.0 + i % 7 AS amount FROM range(1000000) t(i))
                       TO '{tmp_path / "log" / "transactions.parquet"}' (FORMAT PARQUET)""")
    src = load_source(tmp_path / "log", as_of="2024-12-31", memory_limit="80MB", threads=1)
    assert write_customer_table(src, "2024-12-31", tmp_path / "t.parquet") == 300_000
    assert src.recorded("spilled_bytes") > 0
    assert any(n.startswith("The run spilled") and src.memory_limit in n for n in src.notes)
    assert pd.read_parquet(tmp_path / "t.parquet")["n_transactions"].sum() == 1_000_000
    small = load_source(tmp_path / "log", as_of="2024-12-31", memory_limit="20MB", threads=1)
    with pytest.raises(ParameterError, match=r"^memory_limit: the query needs more than DuckDB's memory limit"):
        write_customer_table(small, "2024-12-31", tmp_path / "t.parquet")


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_log_too_big_for_memory_is_split_into_passes_with_the_same_table(sample_dir, tmp_path, monkeypatch, suffix):
    from analysis.customers import table as customers

    src = load_source(sample_dir, as_of="2026-10-31")
    whole = customer_table(src, "2026-10-31")
    assert "customer_table_passes" not in src.quality
    # pretend each customer-day needs so much memory that four passes are needed
    budget = customers.STATE_SHARE * src.memory_limit_bytes
    monkeypatch.setattr(customers, "STATE_BYTES", int(3.5 * budget / src.quality["transactions"]))
    split = customer_table(src, "2026-10-31")
    assert src.quality["customer_table_passes"] == 4 and any("4 passes" in n for n in src.notes)
    pd.testing.assert_frame_equal(split, whole)
    n = customers.write_customer_table(src, "2026-10-31", tmp_path / f"t{suffix}")
    written = pd.read_csv(tmp_path / f"t{suffix}") if suffix == ".csv" else pd.read_parquet(tmp_path / f"t{suffix}")
    assert n == len(written) == len(whole) and list(written["customer_id"].astype(str)) == list(whole["customer_id"])
    assert not list(Path(src.temp_directory).iterdir())  # the parts are gone


def test_a_log_without_refunds_takes_the_shorter_query_with_the_same_table(tmp_path):
    # no negative amount: every customer-day is a purchase day, so the per-customer aggregate drops its
    # purchase-day conditions; the table must be the one the general rule gives
    from analysis.customers.table import customer_table_sql
    from analysis.data import load_source

    src = load_source(_write(tmp_path, [
        ("a", "2024-01-01 10:00", 50.0), ("a", "2024-01-01 11:00", 0.0), ("a", "2024-01-05", 10.0),
        ("b", "2024-01-09", 0.0), ("b", "2024-01-20", 7.5), ("c", "2024-01-30", 12.0),
    ]), as_of="2024-01-31")
    assert src.recorded("refund_rows") == 0
    general, short = (src.con.execute(customer_table_sql("2024-01-31", table="transactions_keyed", refunds=r)).df()
                      for r in (True, False))
    pd.testing.assert_frame_equal(general, short)
    assert "MIN(amount)" in customer_table_sql("2024-01-31") and "MIN(amount)" not in customer_table_sql(
        "2024-01-31", refunds=False)
    row = customer_table(src, "2024-01-31").set_index("customer_id").loc["a"]
    assert row["n_purchases"] == 2 and row["monetary_value"] == 10.0 and row["total_spend"] == 60.0
