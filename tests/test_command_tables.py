"""A command reads and validates only the tables it uses (issue 20: ``kanta clv`` does not check contacts)."""
from __future__ import annotations

import shutil

import pandas as pd
import pytest

from analysis.cli import main as kanta
from analysis.data import load_source
from analysis.errors import ParameterError
from report_month import SAMPLE


@pytest.fixture()
def broken_contacts(tmp_path):
    """The sample with a contacts table that breaks the contract (a timestamp that is not a date)."""
    src = tmp_path / "src"
    shutil.copytree(SAMPLE, src)
    contacts = pd.read_csv(src / "contacts.csv", dtype=str)
    contacts.loc[0, "timestamp"] = "not a date"
    contacts.to_csv(src / "contacts.csv", index=False)
    return src


def test_full_load_refuses_the_broken_contacts(broken_contacts):
    with pytest.raises(Exception, match="contacts"):
        load_source(broken_contacts, as_of="2026-10-31")


def test_load_of_chosen_tables_leaves_the_others_unread(broken_contacts):
    src = load_source(broken_contacts, as_of="2026-10-31", tables=["customers"])
    names = {r[0] for r in src.con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert "raw_customers" in names and "raw_transactions" in names
    assert not any("contacts" in n or "campaigns" in n or "assignments" in n for n in names)


def test_clv_runs_without_reading_contacts(broken_contacts, tmp_path):
    out = tmp_path / "clv.csv"
    assert kanta(["clv", str(broken_contacts), "--as-of", "2026-10-31", "--out", str(out)]) == 0
    full = tmp_path / "clv_full.csv"
    assert kanta(["clv", str(SAMPLE), "--as-of", "2026-10-31", "--out", str(full)]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(out), pd.read_csv(full))


def test_unknown_table_is_a_parameter_error():
    with pytest.raises(ParameterError, match="orders"):
        load_source(SAMPLE, as_of="2026-10-31", tables=["orders"])
