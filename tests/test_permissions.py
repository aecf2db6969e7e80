"""Marketing permission is data, not a guess: every usual spelling is read, anything else is refused, and no
marketing list ever holds a customer without a recorded yes."""
from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from analysis.base import BaseSettings, CustomerBase, month_actions
from analysis.data import load_source, permission_values
from analysis.errors import DataError
from report_month import SAMPLE
from sources import write_source

TX = "customer_id,timestamp,amount\nc1,2024-01-01,10\nc2,2024-01-02,20\n"

SPELLINGS = [("true", "false"), ("TRUE", "False"), ("1", "0"), ("1.0", "0.0"), ("yes", "no"), ("Y", "N"),
             ("kyllä", "ei"), ("Kyllä", "EI"), ("ja", "nej"), ("Ja", "Nej"), ("opt-in", "opt-out"),
             (" Opt-In ", " OPT-OUT "), ("opt in", "opt out"), ("opt_in", "opt_out")]


def customers_csv(yes: str, no: str, blank: str = "") -> str:
    return (f"customer_id,signup_date,marketing_permission\nc1,2023-01-01,\"{yes}\"\nc2,2023-01-01,\"{no}\"\n"
            f"c3,2023-01-01,\"{blank}\"\n")


@pytest.mark.parametrize("yes, no", SPELLINGS)
def test_every_usual_permission_spelling_is_read_as_yes_or_no(tmp_path, yes, no):
    src = load_source(write_source(tmp_path, TX, customers_csv(yes, no)), as_of="2024-01-31")
    got = dict(src.sql("SELECT customer_id, marketing_permission FROM customers").itertuples(index=False))
    assert got == {"c1": True, "c2": False, "c3": False}  # a blank is "no permission"


@pytest.mark.parametrize("values", [["maybe"], ["opt-in", "pending"], ["true", "2"], ["si", "no"], ["yes", "-1"],
                                    ["1", "0", "unknown", "x", "z", "w", "v"], ["=1+1"], ["true", "trueish"]])
def test_unrecognised_permission_values_are_refused_naming_the_column_and_the_values(tmp_path, values):
    rows = "".join(f"c{i},2023-01-01,{v}\n" for i, v in enumerate(values, 1))
    folder = write_source(tmp_path, TX, "customer_id,signup_date,marketing_permission\n" + rows)
    with pytest.raises(DataError) as exc:
        load_source(folder, as_of="2024-01-31")
    msg = str(exc.value)
    assert msg.startswith("customers.marketing_permission: ") and "\n" not in msg
    assert "not a recognised permission" in msg and "opt-in/opt-out" in msg
    bad = [v for v in values if permission_values(pd.Series([v])).isna().all()]
    assert repr(sorted(bad)[0]) in msg
    assert f"{len(bad)} value" in msg


def test_a_column_without_one_recognised_value_is_refused_not_left_unfiltered(tmp_path):
    """The reported case: nothing recognised used to mean "the data has no permission" and every list was unfiltered."""
    rows = "".join(f"c{i},2023-01-01,{v}\n" for i, v in enumerate(["Agreed", "Declined", "Agreed"], 1))
    with pytest.raises(DataError, match="'Agreed', 'Declined'"):
        load_source(write_source(tmp_path, TX, "customer_id,signup_date,marketing_permission\n" + rows))


def test_blanks_are_no_permission_and_counted_in_a_note(tmp_path):
    cust = "customer_id,signup_date,marketing_permission\nc1,2023-01-01,yes\nc2,2023-01-01,\nc3,2023-01-01,NULL\n"
    src = load_source(write_source(tmp_path, TX, cust), as_of="2024-01-31")
    assert src.quality["missing_marketing_permission"] == 2
    assert any("2 customers have no recorded marketing permission" in n for n in src.notes)


def test_permission_values_is_the_one_reading_for_python_callers():
    s = pd.Series(["Opt-In", "opt-out", "1.0", "0", "", None, "Ja", "nej", "kyllä", "what"], dtype=object)
    assert permission_values(s).tolist() == [True, False, True, False, False, False, True, False, True, pd.NA]
    assert permission_values(pd.Series([True, False, None], dtype="boolean")).tolist() == [True, False, False]
    # each distinct spelling is read once and spread back to its rows, in order, on any index
    many = pd.Series(np.tile(s.to_numpy(), 500), index=np.arange(5000)[::-1] * 3)
    read = permission_values(many)
    assert (read.index == many.index).all()
    assert read.tolist() == permission_values(s).tolist() * 500


@pytest.fixture(scope="module")
def opt_in_sample(tmp_path_factory):
    """The sample with its permission column spelled opt-in/opt-out/blank (the campaign's 319 wrong rows)."""
    d = tmp_path_factory.mktemp("optin") / "source"
    shutil.copytree(SAMPLE, d)
    cust = pd.read_csv(d / "customers.csv", dtype=str, keep_default_na=False)
    truth = permission_values(cust["marketing_permission"]).astype(bool)
    rng = np.random.default_rng(7)
    spelled = np.where(truth, rng.choice(["opt-in", "Opt-In", " OPT IN"], len(cust)),
                       rng.choice(["opt-out", "Opt-Out", ""], len(cust)))
    cust["marketing_permission"] = spelled
    cust.to_csv(d / "customers.csv", index=False)
    return d, dict(zip(cust["customer_id"], truth))


def test_no_marketing_list_holds_a_customer_without_permission(opt_in_sample):
    folder, allowed = opt_in_sample
    base = CustomerBase.build(folder, "2026-10-31", BaseSettings(n_clusters=3))
    acts = month_actions(base)
    rows = 0
    for a in acts:
        assert a.permission_filtered, a.name
        ids = a.customers["customer_id"].astype(str)
        rows += len(ids)
        assert all(allowed[i] for i in ids), a.name
    assert rows > 0
    assert all(allowed[i] for i in base.contact_list()["customer_id"])


def test_segments_out_writes_permission_as_true_or_false(opt_in_sample, tmp_path):
    from analysis.cli import main

    folder, allowed = opt_in_sample
    out = tmp_path / "segments.csv"
    assert main(["segments", str(folder), "--as-of", "2026-10-31", "--out", str(out)]) == 0
    df = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert set(df["marketing_permission"]) == {"true", "false"}
    assert all((v == "true") == allowed[i] for i, v in zip(df["customer_id"], df["marketing_permission"]))
