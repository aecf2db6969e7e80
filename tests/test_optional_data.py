"""Degrade inside the page, never the month: a source without a customers table or without an optional attribute
publishes a whole month (exit 0), the attribute sections left out and said so."""
from __future__ import annotations

import html
import json
import re
import shutil

import pandas as pd
import pytest

from analysis import report
from analysis.cli import main as kanta
from report_month import PERIOD, SAMPLE


def _text(page) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page.read_text(encoding="utf-8"))).split())


def _copy(tmp_path, drop_table: str | None = None, drop_columns: tuple[str, ...] = ()):
    folder = tmp_path / "data"
    folder.mkdir()
    for f in SAMPLE.iterdir():  # truth.json too: still the demo's (synthetic) people, so the demo pseudonym key holds
        if f.name != f"{drop_table}.csv":
            shutil.copy(f, folder / f.name)
    if drop_columns:
        c = pd.read_csv(folder / "customers.csv", dtype=str, keep_default_na=False)
        c.drop(columns=list(drop_columns)).to_csv(folder / "customers.csv", index=False)
    return folder


def test_transactions_without_a_customers_table_publish_a_whole_month(tmp_path, capsys):
    data = _copy(tmp_path, drop_table="customers")
    out = tmp_path / "reports"
    code = kanta(["report", "--period", PERIOD, "--data", str(data), "--out", str(out), "--quiet"])
    assert code == 0, capsys.readouterr().err
    assert "degraded" not in capsys.readouterr().err
    m = json.loads((out / PERIOD / "manifest.json").read_text(encoding="utf-8"))
    assert m["degraded"] == [] and not any(nb["degraded"] for nb in m["notebooks"])
    assert {d["code"] for d in m["left_out"]} == {"attribute_missing"}
    assert {"customer_base", "churn", "clv", "segments"} <= {nb["name"] for nb in m["notebooks"]}
    churn = _text(out / PERIOD / "churn.html")
    assert "Left out: The comparison of customer lifetimes by group: the data has no customer attribute " \
           "'acquisition_channel'" in churn
    clv = _text(out / PERIOD / "clv.html")
    assert "Not broken down by region, acquisition channel, age band" in clv
    assert "Not computed" not in churn + clv


def test_customers_without_region_and_channel_leave_out_those_sections_only(tmp_path):
    data = _copy(tmp_path, drop_columns=("region", "acquisition_channel"))
    specs = [s for s in report.NOTEBOOKS if s.name in ("churn", "clv")]
    r = report.render_month(PERIOD, data=data, out=tmp_path / "reports", quiet=True, specs=specs, language="fi")
    assert r.exit_code == 0 and r.degraded == []
    assert [d["code"] for d in r.manifest["left_out"]] == ["attribute_missing"]
    clv = _text(r.landing.parent / "clv.html")
    assert "Ei eritelty tietojen" in clv and "ikäryhmä" in clv.lower()
    churn = _text(r.landing.parent / "churn.html")
    assert "Jätetty pois:" in churn


@pytest.mark.parametrize("exc", [ValueError("a = inf"), FloatingPointError("overflow"), ZeroDivisionError()])
def test_a_numerical_failure_of_a_page_step_is_a_finding_of_its_section(exc):
    from analysis.base import BaseSettings, CustomerBase
    from analysis.report.pages.clv import ClvPage

    base = CustomerBase.build(SAMPLE, "2026-10-31", BaseSettings(n_clusters=3, clv_model="bgnbd"))
    page = ClvPage(base, "en")

    def step():
        raise exc

    assert page.attempt("clv_interval", step) is None
    assert [(f.analysis, f.reason) for f in page.findings] == [("clv_interval", "step_failed")]
    assert page.attempt("clv_interval", lambda: {"lower": float("-inf"), "upper": 1.0, "level": 0.9}) is None
    with pytest.raises(KeyError):  # a bug is still a bug: the month fails on it
        page.attempt("clv_holdout", lambda: {}["missing"])
