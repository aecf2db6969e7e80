"""One account of the customer base: one state per month, one value per concept on every page, degrade don't collapse."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.cli import main as kanta
from analysis.base import BaseSettings, CustomerBase
from generators import awkward_sample, no_dropout_base
from report_month import PERIOD, SAMPLE, rendered_month

REQUIRED = ("customers_active", "customers_new", "customers_lost", "customers_returned", "customers_churned",
            "customer_equity", "value_at_risk", "customers_at_risk", "revenue")


@pytest.fixture(scope="module")
def base() -> CustomerBase:
    return CustomerBase.build(SAMPLE, "2026-10-31", BaseSettings(n_clusters=3))


def _tiny_source(folder: Path, last_purchases: dict[str, str], as_of: str = "2026-10-31") -> Path:
    """A few customers with given last purchase days (and one early purchase each)."""
    rows = []
    for cid, last in last_purchases.items():
        rows += [(cid, "2025-01-05", 10.0), (cid, last, 20.0)]
    folder.mkdir()
    pd.DataFrame(rows, columns=["customer_id", "timestamp", "amount"]).to_csv(folder / "transactions.csv", index=False)
    return folder


# --- the one churn rule ---------------------------------------------------------------------
def test_customer_silent_for_exactly_the_threshold_has_churned_and_one_day_less_is_active(tmp_path):
    as_of = pd.Timestamp("2026-10-31")
    src = _tiny_source(tmp_path / "src", {"at": str((as_of - pd.Timedelta(days=150)).date()),
                                          "before": str((as_of - pd.Timedelta(days=149)).date())})
    b = CustomerBase.build(src, as_of, BaseSettings(inactivity_days=150))
    state = b.customers.set_index("customer_id")
    assert bool(state.loc["at", "is_churned"]) and not bool(state.loc["at", "is_active"])
    assert bool(state.loc["before", "is_active"]) and not bool(state.loc["before", "is_churned"])
    assert state.loc["at", "days_silent"] == 150
    assert (b.numbers()["customers_active"], b.numbers()["customers_churned"]) == (1, 1)
    assert int(b.flows["active"].iloc[-1]) == 1  # the flows count the same customer as active
    # two customers cannot be fitted: a finding, not a crash, and no equity is made up
    assert b.clv is None and b.finding("clv") is not None
    assert b.numbers()["customer_equity"] is None
    assert b.key_number("customer_equity").reason == b.finding("clv").reason


def test_stage_passive_is_exactly_the_churned_customers(base):
    t = base.customers
    assert ((t["lifecycle_stage"] == "passive") == t["is_churned"]).all()


def test_flows_obey_their_identities(base):
    f = base.flows
    assert (f["active"].iloc[1:].to_numpy() == (f["active"].shift(1) - f["lost"] + f["new"] + f["returned"])
            .iloc[1:].to_numpy()).all()
    assert base.numbers()["customers_active"] == int(f["active"].iloc[-1])
    assert base.previous_numbers()["customers_active"] == int(f["active"].iloc[-2])


def test_returned_this_month_are_those_churned_last_month_who_bought(base):
    prev = base.previous.set_index("customer_id")
    now = base.customers.set_index("customer_id")
    churned_before = prev.index[prev["is_churned"]]
    bought_in_month = now.index[now["last_purchase"] >= pd.Timestamp("2026-10-01")]
    assert len(churned_before.intersection(bought_in_month)) == base.numbers()["customers_returned"]


def test_prospects_have_no_value_class(base):
    t = base.customers
    assert t.loc[~t["is_buyer"], "abc_class"].isna().all()
    n = base.numbers()
    assert n["customers_class_a"] + n["customers_class_b"] + n["customers_class_c"] == n["customers_buyers"]


def test_at_risk_customers_are_active_and_value_at_risk_is_their_value_at_stake(base):
    t = base.customers
    risk = t[t["is_at_risk"].fillna(False).astype(bool)]
    assert risk["is_active"].all() and (risk["p_alive"] < base.settings.p_alive_threshold).all()
    assert base.numbers()["value_at_risk"] == pytest.approx((risk["clv_if_alive"] - risk["clv"]).sum())
    assert base.numbers()["customer_equity"] == pytest.approx(t["clv"].sum())


def test_contact_list_is_at_risk_customers_with_permission_most_value_first(base):
    c = base.contact_list()
    state = base.customers.set_index("customer_id").loc[c["customer_id"]]
    assert state["is_at_risk"].all() and state["has_permission"].all()
    assert (state["p_alive"] >= base.settings.contact_p_alive_floor).all()  # nobody very likely gone already
    assert c["value_at_stake"].is_monotonic_decreasing
    assert len(c) == base.numbers()["customers_to_contact"]


def test_saved_state_reads_back_with_the_same_numbers(base, tmp_path):
    path = base.save(tmp_path / "base.pkl")
    again = CustomerBase.load(path)
    assert again.numbers() == base.numbers()
    assert again.source.as_of == base.as_of


def test_glossary_fills_in_the_threshold(base):
    g = {e["concept"]: e["settings"] for e in base.glossary()}
    assert g["customers_active"] == {"inactivity_days": base.settings.inactivity_days}


# --- one value per concept across the pages of a rendered month -----------------------------
@pytest.mark.parametrize("language", ["en", "fi"])
def test_every_concept_has_one_value_on_every_page(tmp_path_factory, language):
    month = rendered_month(tmp_path_factory, language)
    m = json.loads((month["month_dir"] / "manifest.json").read_text(encoding="utf-8"))
    values: dict[str, set] = {}
    pages: dict[str, set] = {}
    for n in m["numbers"]:
        assert {"concept", "page", "value"} <= set(n)
        assert (month["month_dir"] / n["page"]).is_file(), n
        v = n["value"]
        values.setdefault(n["concept"], set()).add(round(v, 6) if isinstance(v, float) else v)
        pages.setdefault(n["concept"], set()).add(n["page"])
    assert set(REQUIRED) <= set(values)
    for concept, seen in values.items():
        assert len(seen) == 1, f"{concept} has {seen} on {pages[concept]}"
    shared = [c for c in values if len(pages[c]) > 1]
    assert {"customers_active", "customers_churned", "value_at_risk"} <= set(shared)
    assert m["degraded"] == []


def test_landing_numbers_obey_the_flow_identity(tmp_path_factory):
    month = rendered_month(tmp_path_factory, "en")
    m = json.loads((month["month_dir"] / "manifest.json").read_text(encoding="utf-8"))
    n = {x["concept"]: x for x in m["numbers"] if x["page"] == "index.html"}
    assert n["customers_active"]["value"] == (n["customers_active"]["previous"] - n["customers_lost"]["value"]
                                              + n["customers_new"]["value"] + n["customers_returned"]["value"])


# --- degrade, don't collapse ------------------------------------------------------------------
def test_month_of_awkward_but_valid_data_publishes_degraded_with_exit_3(tmp_path, capsys):
    src = awkward_sample(SAMPLE, tmp_path / "awkward")
    out = tmp_path / "reports"
    code = kanta(["report", "--period", PERIOD, "--data", str(src), "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    month = out / PERIOD
    assert code == 3, err
    m = json.loads((month / "manifest.json").read_text(encoding="utf-8"))
    assert m["degraded"] and all(d["reason"] for d in m["degraded"])
    assert any("experiments/newsletter-2026-09" in d["page"] for d in m["degraded"])
    for page in ("index.html", "customer_base.html", "clv.html", "churn.html", "segments.html"):
        assert (month / page).is_file(), page
    assert "degraded" in err


def test_base_without_drop_out_is_valued_by_the_nbd_and_at_risk_is_a_finding(tmp_path, capsys, monkeypatch):
    # Until release 3 this month published no customer equity ("no sign of leaving"); no drop-out is now a
    # model (NBD): values over the horizon exist, P(alive) does not, and "at risk" says why it has no number.
    monkeypatch.setenv("KANTA_PSEUDONYM_KEY", "a-long-random-test-secret")  # not the demo data: a real key is needed
    src = no_dropout_base(tmp_path / "nodrop")
    out = tmp_path / "reports"
    code = kanta(["report", "--period", PERIOD, "--data", str(src), "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code in (0, 3), err
    m = json.loads((out / PERIOD / "manifest.json").read_text(encoding="utf-8"))
    landing = {n["concept"]: n for n in m["numbers"] if n["page"] == "index.html"}
    assert landing["customer_equity"]["value"] > 0
    assert landing["customers_active"]["value"] > 0  # the rest of the month is published
    numbers = {n["concept"]: n for n in m["numbers"]}
    assert numbers["customers_at_risk"]["value"] is None
    assert numbers["customers_at_risk"]["reason"] == "p_alive_not_estimable"
    html = (out / PERIOD / "clv.html").read_text(encoding="utf-8")
    assert "no evidence that customers leave" in html and "NBD" in html


def test_bad_data_still_publishes_nothing(tmp_path, capsys):
    src = tmp_path / "bad"
    src.mkdir()
    (src / "transactions.csv").write_text("customer_id,timestamp,amount\nA,2026-10-01,12,5e\n", encoding="utf-8")
    code = kanta(["report", "--period", PERIOD, "--data", str(src), "--out", str(tmp_path / "r"), "--quiet"])
    assert code == 2 and not (tmp_path / "r").exists()


def test_real_data_without_a_secret_pseudonym_key_is_refused_before_any_work(tmp_path, capsys):
    src = no_dropout_base(tmp_path / "nodrop")
    code = kanta(["report", "--period", PERIOD, "--data", str(src), "--out", str(tmp_path / "r"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "KANTA_PSEUDONYM_KEY" in err and not (tmp_path / "r").exists()


def test_manifest_says_which_pseudonym_key_was_used(tmp_path_factory):
    month = rendered_month(tmp_path_factory, "en")
    m = json.loads((month["month_dir"] / "manifest.json").read_text(encoding="utf-8"))
    assert m["pseudonym_key"] == "demo"  # the committed sample is the demo data


def test_month_from_a_line_item_retail_export_through_a_sql_source_publishes_degraded(tmp_path, capsys, monkeypatch):
    """Real-shaped data the project did not generate: two months of a wholesale log, cancellations, no attributes."""
    monkeypatch.setenv("KANTA_PSEUDONYM_KEY", "a-long-random-test-secret")
    sql = Path(__file__).parent / "exports" / "retail" / "kanta.sql"
    out = tmp_path / "reports"
    code = kanta(["report", "--data", str(sql), "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code == 3, err
    month = next(p for p in out.iterdir() if p.is_dir() and p.name[:2] == "20")
    m = json.loads((month / "manifest.json").read_text(encoding="utf-8"))
    codes = {(d["page"], d["code"]) for d in m["degraded"]}
    assert ("clv.html", "history_too_short") in codes
    assert all((month / page).is_file() for page in ("customer_base.html", "churn.html", "segments.html"))
    assert {n["concept"] for n in m["numbers"]} >= {"customers_active", "customers_churned", "revenue"}


@pytest.mark.parametrize("generator, size", [("one_time_buyers_base", 1500), ("single_cohort_base", 800),
                                             ("seasonal_base", 800), ("extreme_spenders_base", 800)])
def test_month_of_each_real_base_shape_publishes(tmp_path, capsys, monkeypatch, generator, size):
    """Shapes real bases have and the demo does not: the month publishes, whole or degraded, never crashes."""
    import generators

    monkeypatch.setenv("KANTA_PSEUDONYM_KEY", "a-long-random-test-secret")
    src = getattr(generators, generator)(tmp_path / "src", n_customers=size)
    out = tmp_path / "reports"
    # September: the generated logs run into October, so the month is complete whatever the last day drawn
    code = kanta(["report", "--period", "2026-09", "--data", str(src), "--out", str(out), "--quiet", "--jobs", "2"])
    err = capsys.readouterr().err
    assert code in (0, 3), err
    m = json.loads((out / "2026-09" / "manifest.json").read_text(encoding="utf-8"))
    assert (code == 3) == bool(m["degraded"])
    assert all(d["reason"] for d in m["degraded"])
    values = {n["concept"]: n["value"] for n in m["numbers"] if n["page"] == "index.html"}
    assert values["customers_active"] > 0 and values["revenue"] > 0


def test_month_of_a_base_with_one_month_of_history_publishes_with_value_degraded(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("KANTA_PSEUDONYM_KEY", "a-long-random-test-secret")
    rng = np.random.default_rng(5)
    rows = [(f"M{i:04d}", f"2026-10-{d:02d}", round(float(rng.gamma(4, 5)), 2))
            for i in range(300) for d in sorted(set(rng.integers(1, 32, rng.integers(1, 5))))]
    src = tmp_path / "onemonth"
    src.mkdir()
    pd.DataFrame(rows, columns=["customer_id", "timestamp", "amount"]).to_csv(src / "transactions.csv", index=False)
    out = tmp_path / "reports"
    code = kanta(["report", "--period", PERIOD, "--data", str(src), "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code == 3, err
    m = json.loads((out / PERIOD / "manifest.json").read_text(encoding="utf-8"))
    assert ("clv.html", "history_too_short") in {(d["page"], d["code"]) for d in m["degraded"]}
    landing = {n["concept"]: n for n in m["numbers"] if n["page"] == "index.html"}
    assert landing["customer_equity"]["value"] is None and landing["customers_new"]["value"] > 0


def test_kanta_clv_values_customers_exactly_as_the_monthly_report(base, tmp_path, capsys):
    out, params = tmp_path / "clv.csv", tmp_path / "clv.json"
    code = kanta(["clv", str(SAMPLE), "--as-of", "2026-10-31", "--out", str(out), "--params-out", str(params)])
    captured = capsys.readouterr()
    assert code == 0 and captured.err == ""
    v = pd.read_csv(out)
    assert list(v.columns[:6]) == ["customer_id", "pseudonym", "p_alive", "expected_purchases", "expected_avg_value",
                                   "clv"]
    p = json.loads(params.read_text(encoding="utf-8"))
    assert p["value_basis"] == base.money_basis == "margin"
    assert v["clv"].sum() == pytest.approx(base.numbers()["customer_equity"], rel=1e-9)
    assert p["model"] == base.clv.model.purchase_model_
    equity = f"{base.numbers()['customer_equity']:,.0f}"
    assert f"customer equity EUR {equity} (margin) over 12 months" in captured.out
    state = base.customers.set_index("customer_id")
    assert (v.set_index("customer_id")["pseudonym"] == state.loc[v["customer_id"], "pseudonym"]).all()
