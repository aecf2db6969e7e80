"""Finnish number formats and the case endings the report's sentences use after numbers."""
from __future__ import annotations

import pandas as pd
import pytest

from analysis.errors import ParameterError
from analysis.report.text import NBSP, Text, fmt_count, fmt_money, fmt_number, fmt_pct, with_case


def plain(text: str) -> str:
    """The no-break spaces (which keep "1 024 €" on one line) as ordinary spaces, for readable expectations."""
    return text.replace(NBSP, " ")


def test_finnish_numbers_have_a_space_between_thousands_a_decimal_comma_and_a_real_minus():
    assert fmt_number(1024, "fi") == f"1{NBSP}024"
    assert plain(fmt_number(1234567.891, "fi", 2)) == "1 234 567,89"
    assert plain(fmt_number(-1234, "fi")) == "\u22121 234"
    assert fmt_number(1234.5, "en", 1) == "1,234.5"
    assert plain(fmt_number(0.004, "fi", 2)) == "0,00"  # no "-0,00" either way
    assert plain(fmt_number(-0.004, "fi", 2)) == "0,00"


def test_finnish_percentages_and_euros_have_the_symbol_after_a_space():
    assert plain(fmt_pct(0.18, "fi", 0)) == "18 %"
    assert plain(fmt_pct(0.09, "fi", 1)) == "9,0 %"
    assert plain(fmt_pct(0.012, "fi", 1, signed=True)) == "+1,2 %"
    assert fmt_pct(0.18, "en", 0) == "18%"
    assert plain(fmt_money(1234, "fi")) == "1 234 €"
    assert fmt_money(-1234, "en") == "-€1,234"


@pytest.mark.parametrize("value, decimals, case, expected", [
    (0.18, 0, "illative", "18 %:iin"),      # nousi 18 %:iin
    (0.09, 1, "elative", "9,0 %:sta"),      # laski 9,0 %:sta
    (0.60, 0, "genitive", "60 %:n"),        # laski alle 60 %:n
    (0.05, 0, "inessive", "5 %:ssa"),       # pysyi 5 %:ssa
    (0.25, 0, "translative", "25 %:ksi"),   # muuttui 25 %:ksi
    (0.18, 0, "partitive", "18 %"),         # kasvoi 18 % (no ending)
])
def test_finnish_case_endings_after_a_percentage(value, decimals, case, expected):
    assert plain(fmt_pct(value, "fi", decimals, case=case)) == expected
    assert fmt_pct(value, "en", decimals, case=case) == fmt_pct(value, "en", decimals)  # English has no endings


def test_finnish_case_endings_after_euros_and_the_text_helpers():
    assert plain(fmt_money(500, "fi", case="genitive")) == "500 €:n"
    assert plain(fmt_money(1200, "fi", case="illative")) == "1 200 €:oon"
    assert plain(fmt_money(80, "fi", case="elative")) == "80 €:sta"
    tx = Text("report", "fi")
    assert plain(tx.pct(0.18, 0, case="illative")) == "18 %:iin"
    assert plain(tx.money(500, case="adessive")) == "500 €:lla"
    assert with_case("–", "fi", "illative") == "–"  # a missing number gets no ending
    with pytest.raises(ParameterError, match="case"):
        fmt_pct(0.1, "fi", case="illativ")


def test_a_count_agrees_with_its_noun():
    assert plain(fmt_count(1024, "asiakas|asiakasta", "fi")) == "1 024 asiakasta"
    assert fmt_count(1, "asiakas|asiakasta", "fi") == "1 asiakas"
    assert fmt_count(1, "customer|customers", "en") == "1 customer"
    assert fmt_count(0, "customer|customers", "en") == "0 customers"
    assert plain(Text("customer_base", "fi").count(2, "noun_customer")) == "2 asiakasta"


def test_the_month_story_says_one_customer_not_one_customers():
    from analysis.report.pages.customer_base import story

    flows = pd.DataFrame({"month": ["2026-09", "2026-10"], "active": [10, 10], "new": [3, 1], "returned": [1, 1],
                          "lost": [2, 2], "revenue": [100.0, 110.0], "avg_purchase": [10.0, 11.0],
                          "purchase_frequency": [1.0, 1.0], "inactivity_days": [150, 150]})
    fi = " ".join(story(flows, Text("customer_base", "fi")))
    en = " ".join(story(flows, Text("customer_base", "en")))
    assert "1 asiakas osti ensimmäistä kertaa" in fi and "1 customer made their first purchase" in en
    flows.loc[1, "new"] = 1024
    assert f"1{NBSP}024 asiakasta osti ensimmäistä kertaa" in " ".join(story(flows, Text("customer_base", "fi")))


def test_report_sentences_put_the_case_endings_where_finnish_needs_them():
    tx = Text("report", "fi")
    line = {"line": tx.pct(0.6, 0), "line_gen": tx.pct(0.6, 0, case="genitive")}
    text = plain(tx("action_retain_early", n=tx.number(41), value=tx.money(3800), perm="", **line))
    assert "laski tässä kuussa alle 60 %:n (kuukausi sitten se oli vähintään 60 %)" in text
    words = Text("experiments", "fi")
    seq = plain(words("sequential_text", sims="1 000", looks=8, naive=words.pct(0.18, 0),
                      naive_ill=words.pct(0.18, 0, case="illative"), msprt=words.pct(0.041, 1), p="p = 0,3",
                      low="−1", high="2"))
    assert "nosti väärien hälytysten osuuden 18 %:iin" in seq
