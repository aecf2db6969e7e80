"""The remaining hostile cases of the third campaign, each named after what it protects against."""
from __future__ import annotations

import os
from types import SimpleNamespace

import pandas as pd
import pytest

from analysis.cli import main
from analysis.data import load_source
from analysis.errors import DataError
from sources import write_source

TX = "customer_id,timestamp,amount\nc1,2024-01-05,10\nc2,2024-01-06,20\n"
ASSIGN = ("experiment_id,customer_id,variant,assigned_at\ne1,c1,offer,2024-01-01\ne1,c2,control,2024-01-01\n"
          "e2,c1,offer,2024-01-01\ne2,c2,control,2024-01-01\n")


def with_campaigns(tmp_path, campaigns: str):
    folder = write_source(tmp_path, TX, assignments=ASSIGN)
    (folder / "campaigns.csv").write_text(campaigns, encoding="utf-8")
    return folder


@pytest.mark.parametrize("column", ["cost_fixed", "cost_per_contact"])
def test_negative_campaign_cost_is_refused_by_validate_not_at_the_end_of_the_month(tmp_path, capsys, column):
    folder = with_campaigns(tmp_path, f"experiment_id,{column}\ne1,100\ne2,-250\n")
    assert main(["validate", str(folder)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"kanta: campaigns.{column}: 1 experiment has a negative value, e.g. 'e2' (-250)")
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize("rate", ["0", "1.5", "-0.2", "35"])
def test_margin_rate_that_is_no_share_is_refused_by_validate(tmp_path, rate):
    folder = with_campaigns(tmp_path, f"experiment_id,margin_rate\ne1,0.35\ne2,{rate}\n")
    with pytest.raises(DataError, match=r"^campaigns.margin_rate: 1 experiment has a value outside \(0, 1\]"):
        load_source(folder)


def test_zero_costs_are_a_campaign_that_cost_nothing_not_an_unknown_cost(tmp_path):
    from analysis.experiments.brief import campaign_brief
    from analysis.report.pages.campaign import money_text

    folder = with_campaigns(tmp_path, "experiment_id,cost_fixed,cost_per_contact\ne1,0,0\ne2,,\n")
    src = load_source(folder)
    assert campaign_brief(src, "e1").cost(contacts=100) == 0.0
    assert campaign_brief(src, "e2").cost(contacts=100) is None
    report = SimpleNamespace(result=SimpleNamespace(revenue=object()), incremental_revenue=120.0,
                             incremental_revenue_low=10.0, incremental_revenue_high=230.0, campaign_cost=0.0,
                             cost_source="campaigns")
    for language in ("en", "fi"):
        text = money_text(report, language)
        assert "0" in text and ("given as 0" in text or "annettu 0" in text)
        assert "No campaign cost is known" not in text
    unknown = SimpleNamespace(**{**report.__dict__, "campaign_cost": None})
    assert "No campaign cost is known" in money_text(unknown, "en")


@pytest.mark.parametrize("signup, day", [("2024-01-01T23:30:00Z", "2024-01-02"),
                                         ("2024-03-31 22:30:00+00:00", "2024-04-01"),
                                         ("2024-06-30T21:00:00Z", "2024-07-01"),
                                         ("2024-01-02T01:00:00+02:00", "2024-01-02"),
                                         ("2024-01-02", "2024-01-02")])
def test_signup_given_as_a_utc_instant_is_the_helsinki_day(tmp_path, signup, day):
    folder = write_source(tmp_path, TX, f"customer_id,signup_date\nc1,{signup}\nc2,2024-01-01\n")
    got = load_source(folder, as_of="2024-12-31").sql("SELECT signup_date FROM customers WHERE customer_id = 'c1'")
    assert str(pd.Timestamp(got["signup_date"].iloc[0]).date()) == day


@pytest.mark.parametrize("size", [1_048_576, 3_000_000, 12_000_000])
def test_valid_csv_with_a_multi_megabyte_value_is_read_not_refused_as_ragged(tmp_path, size):
    big = 'free text, with "quotes",\nand new lines ' * (size // 40)
    pd.DataFrame({"customer_id": ["c1", "c2", "c3"], "timestamp": ["2024-01-01"] * 3, "amount": [1, 2, 3],
                  "channel": ["web"] * 3, "category": ["a", big, "b"], "transaction_id": ["t1", "t2", "t3"],
                  "margin": [1, 1, 1]}).to_csv(tmp_path / "transactions.csv", index=False)
    assert load_source(tmp_path).quality["transactions"] == 3


def test_non_utf8_folder_name_is_refused_as_a_path_not_as_a_file_encoding(tmp_path, capsys):
    folder = os.fsdecode(os.fsencode(str(tmp_path)) + b"/kansio\xff")
    write_source(__import__("pathlib").Path(folder), TX)
    assert main(["validate", folder]) == 2
    err = capsys.readouterr().err
    assert "the path" in err and "not UTF-8" in err and "transactions.csv is not UTF-8" not in err


@pytest.mark.parametrize("column, value", [("timestamp", "0001-01-01"), ("timestamp", "0001-01-01 00:00:00"),
                                           ("timestamp", "9999-12-31"), ("timestamp", "1899-12-31")])
def test_year_0001_or_9999_timestamp_is_refused_not_a_traceback(tmp_path, column, value):
    folder = write_source(tmp_path, f"customer_id,timestamp,amount\nc1,2024-01-01,1\nc2,{value},2\n")
    with pytest.raises(DataError, match=r"^transactions.timestamp: could not read 1 row as a date"):
        load_source(folder)


def test_year_0001_signup_date_is_refused_not_a_traceback(tmp_path):
    folder = write_source(tmp_path, TX, "customer_id,signup_date\nc1,0001-01-01\nc2,2024-01-01\n")
    with pytest.raises(DataError, match=r"^customers.signup_date: could not read 1 row as a date"):
        load_source(folder)
