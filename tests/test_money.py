"""Money is summed exactly (decimals in SQL) and written rounded to cents."""
from __future__ import annotations

import types

import pandas as pd
import pytest

from analysis.customers import customer_table, monthly_activity
from analysis.data import load_source
from analysis.errors import DataError
from analysis.report.plan_lists import write_lists


def _source(folder, rows):
    folder.mkdir(exist_ok=True)
    pd.DataFrame(rows, columns=["customer_id", "timestamp", "amount"]).to_csv(folder / "transactions.csv", index=False)
    return load_source(folder, as_of="2026-10-31")


def test_the_same_month_twice_gives_bit_identical_revenue(sample_dir):
    runs = [monthly_activity(load_source(sample_dir, as_of="2026-10-31"), "2026-10-31", months=13,
                             inactivity_days=150)["revenue"].tolist() for _ in range(2)]
    assert runs[0] == runs[1]
    # every month's revenue is a whole number of cents, exactly as the log's amounts add up
    assert all(round(r, 2) == r for r in runs[0])


def test_amounts_like_a_tenth_and_two_tenths_add_up_to_exact_cents(tmp_path):
    # in floating point 0.1 + 0.2 is 0.30000000000000004 and ten times 0.1 is 0.9999999999999999
    rows = [("A", "2026-10-01", 0.1), ("A", "2026-10-01", 0.2)] + [("B", "2026-10-02", 0.1)] * 10
    src = _source(tmp_path / "tenths", rows)
    table = customer_table(src, "2026-10-31").set_index("customer_id")
    assert table.loc["A", "total_spend"] == 0.3 and table.loc["B", "total_spend"] == 1.0
    flows = monthly_activity(src, "2026-10-31", months=1)
    assert flows["revenue"].iloc[-1] == 1.3


def test_a_day_whose_refund_cancels_it_exactly_is_no_purchase(tmp_path):
    # 0.1 + 0.2 - 0.3 is 5.6e-17 in floating point: a "positive" day that would count as a purchase
    rows = [("A", "2026-09-01", 20.0), ("A", "2026-10-01", 0.1), ("A", "2026-10-01", 0.2), ("A", "2026-10-01", -0.3)]
    table = customer_table(_source(tmp_path / "cancelled", rows), "2026-10-31").set_index("customer_id")
    assert table.loc["A", "n_purchases"] == 1 and table.loc["A", "total_spend"] == 20.0
    assert table.loc["A", "last_purchase"] == pd.Timestamp("2026-09-01")


def test_an_amount_beyond_the_exact_range_is_refused_in_one_sentence(tmp_path):
    rows = [("A", "2026-10-01", 10.0), ("B", "2026-10-02", 1e300)]
    with pytest.raises(DataError, match=r"^transactions\.amount: 1 row is 100,000,000,000,000 or more in size, "
                                        r"e\.g\. line 3: .*; expected an amount in currency units below that\.$"):
        _source(tmp_path / "huge", rows)


def test_contact_lists_show_money_in_cents(tmp_path):
    rows = pd.DataFrame({"customer_id": ["C1", "C2"], "pseudonym": ["K-1", "K-2"], "action": "retain",
                         "reason": "r", "group": "contact", "p_alive": [0.123456789, 0.5],
                         "clv": [102.13000000000001, 0.1 + 0.2], "value_at_stake": [1 / 3, 2.675]})
    plan = types.SimpleNamespace(actions=[types.SimpleNamespace(name="retain", customers=rows)])
    write_lists(plan, tmp_path / "lists")
    text = (tmp_path / "lists" / "retain.csv").read_text(encoding="utf-8")
    assert "102.13," in text and ",0.3," in text and "0.33" in text and "102.13000000000001" not in text
    assert "0.123456789" in text  # a probability is not money: kept as computed
