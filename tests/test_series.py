"""A monthly series that holds still: one churn threshold per report folder, averages over observable months only,
and month revenues that add up to the total."""
from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pandas as pd
import pytest

from analysis import report
from analysis.churn import churn_threshold, retention_kpis
from analysis.customers import monthly_activity
from analysis.data import load_source
from analysis.report.pages.churn import series_sentence
from analysis.report.series import series_threshold
from report_month import SAMPLE

RETAIL = Path(__file__).resolve().parent / "data" / "online_retail" / "kanta.sql"
CHURN_ONLY = [s for s in report.NOTEBOOKS if s.name == "churn"]


def _text(page: Path) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page.read_text(encoding="utf-8"))).split())


def _month(out: Path, period: str, params=None):
    r = report.render_month(period, data=SAMPLE, out=out, quiet=True, specs=CHURN_ONLY, params=params)
    assert r.exit_code == 0
    on_disk = json.loads((out / period / "manifest.json").read_text(encoding="utf-8"))
    assert on_disk["inactivity_days"] == r.manifest["inactivity_days"]
    return on_disk, _text(out / period / "churn.html")


# --- one threshold per series ----------------------------------------------------------------------
def test_consecutive_months_of_a_young_log_keep_one_threshold_until_the_operator_changes_it(tmp_path):
    # the sample's data-driven threshold grows from 90 to 120 days between April and May 2025
    assert churn_threshold(SAMPLE, "2025-04-30") == 90
    assert churn_threshold(SAMPLE, "2025-05-31") == 120
    out = tmp_path / "reports"

    april, _ = _month(out, "2025-04")
    assert april["inactivity_days"] == 90 and april["series_threshold"]["origin"] == "first"

    may, may_page = _month(out, "2025-05")
    assert may["inactivity_days"] == 90  # the series' threshold, not the month's data-driven 120
    assert may["series_threshold"] == {"inactivity_days": 90, "origin": "series", "since": "2025-04", "previous": 90,
                                       "from_period": "2025-04", "data_driven_days": 120, "changed": False}
    assert "has used 90 days since 2025-04" in may_page and "would give 120 days" in may_page
    assert may["notebooks"][0]["parameters"]["inactivity_days"] == 90

    june, june_page = _month(out, "2025-06", ["inactivity_days=120"])
    assert june["inactivity_days"] == 120 and june["series_threshold"]["changed"]
    assert "The threshold changed this month: the report series used 90 days up to 2025-05" in june_page
    assert "--param inactivity_days=120" in june_page

    july, _ = _month(out, "2025-07")
    assert july["inactivity_days"] == 120 and july["series_threshold"]["since"] == "2025-06"


def test_series_threshold_reads_the_latest_earlier_month_and_the_operator_overrides_it(tmp_path):
    for period, days, since in (("2011-03", 120, "2011-03"), ("2011-05", 150, "2011-05")):
        (tmp_path / period).mkdir()
        (tmp_path / period / "manifest.json").write_text(json.dumps(
            {"inactivity_days": days, "series_threshold": {"since": since}}), encoding="utf-8")
    assert series_threshold(tmp_path, "2011-04").inactivity_days == 120
    kept = series_threshold(tmp_path, "2011-07")
    assert (kept.inactivity_days, kept.origin, kept.since, kept.from_period) == (150, "series", "2011-05", "2011-05")
    assert series_threshold(tmp_path, "2011-05").inactivity_days == 120  # re-rendering a month reads the one before
    changed = series_threshold(tmp_path, "2011-07", given=90)
    assert (changed.inactivity_days, changed.origin, changed.previous, changed.changed) == (90, "operator", 150, True)
    assert series_threshold(tmp_path / "empty", "2011-07").inactivity_days is None  # a new series: data-driven


def test_the_change_of_threshold_is_said_in_both_languages():
    record = {"inactivity_days": 150, "origin": "operator", "since": "2011-06", "previous": 120, "changed": True}
    assert series_sentence(record, "en").startswith("The threshold changed this month: the report series used 120 days "
                                                    "up to 2011-05, and from 2011-06 it uses 150 days")
    assert series_sentence(record, "fi").startswith("Raja muuttui tässä kuussa: raporttisarja käytti 120 päivää "
                                                    "kuukauteen 2011-05 asti")


# --- averages over observable months ------------------------------------------------------------------
def _independent_pooled_churn(days: pd.DataFrame, ends: list[pd.Timestamp], n: int, first_day: pd.Timestamp):
    """Lost / active at the start, per month, from purchase days in plain pandas (no SQL, no flows table)."""

    def active(at):
        d = days["day"]
        return set(days.loc[(d <= at) & (d > at - pd.Timedelta(days=n)), "customer_id"])

    lost = start = 0
    observable = 0
    for prev, end in zip(ends[:-1], ends[1:]):
        if end.replace(day=1) < first_day + pd.Timedelta(days=n):
            continue
        a, b = active(prev), active(end)
        lost += len(a - b)
        start += len(a)
        observable += 1
    return lost / start, observable


def test_twelve_month_churn_average_covers_only_months_in_which_the_rule_can_fire():
    # the sample's log starts on 2023-12-11: with 90 days nobody can be lost before 2024-03-10, so a
    # 12-month average at 2024-10-31 covers April to October (7 months), not the months of the log's start
    from analysis.churn.rule import purchase_days

    src = load_source(SAMPLE, as_of="2024-10-31")
    k = retention_kpis(src, "2024-10-31", inactivity_days=90)
    assert k.log_start == pd.Timestamp("2023-12-11")
    assert k.months_observable == 7 and len(k.monthly) == 12
    assert k.monthly["observable"].tolist() == [False] * 5 + [True] * 7
    ends = [pd.Timestamp(e) for e in pd.date_range("2023-10-31", "2024-10-31", freq="ME")]
    expected, months = _independent_pooled_churn(purchase_days(src, "2024-10-31"), ends, 90, k.log_start)
    assert months == 7
    assert k.monthly_churn_rate == pytest.approx(expected, rel=1e-12)
    everything = k.monthly["lost"].sum() / k.monthly["active_start"].sum()
    assert everything < k.monthly_churn_rate  # the unobservable months (no one lost yet) pulled it down


def test_churn_page_says_how_many_months_the_average_covers(monkeypatch):
    from analysis.base import BaseSettings, CustomerBase
    from analysis.churn import analyse
    from analysis.report import display
    from analysis.report.pages.churn import ChurnPage

    shown = []
    monkeypatch.setattr(display, "_display", lambda obj: shown.append(str(obj.data)))
    base = CustomerBase.build(SAMPLE, "2024-10-31", BaseSettings(inactivity_days=90, n_clusters=3))
    ChurnPage(analyse(base=base), base, "en").kpis()._ipython_display_()  # as the notebook shows it
    text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", " ".join(shown))).split())
    assert "The average covers only the 7 of these 12 months" in text
    assert "not yet observable" in text


# --- one revenue of the month ------------------------------------------------------------------------
@pytest.mark.parametrize("source, as_of", [(SAMPLE, "2026-10-31"), (RETAIL, "2011-11-30")])
def test_monthly_revenues_add_up_to_the_sum_of_amounts_in_the_window(source, as_of):
    src = load_source(source, as_of=as_of)
    flows = monthly_activity(src, as_of, months=12, inactivity_days=120)
    first = flows["month_end"].iloc[0].replace(day=1).date()
    total = src.sql(f"SELECT SUM(amount) AS s FROM transactions WHERE CAST(timestamp AS DATE) >= DATE '{first}' "
                    f"AND CAST(timestamp AS DATE) <= DATE '{as_of}'")["s"].iloc[0]
    assert flows["revenue"].sum() == pytest.approx(float(total), rel=1e-9)
