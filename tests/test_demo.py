"""The demo base is seeded, realistic in shape, and carries its ground truth."""
from __future__ import annotations

import hashlib
import json

import pandas as pd
import pytest

from analysis.data.demo import make_demo_data, write_demo_data
from analysis.errors import ParameterError


def _digest(d):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.iterdir())}


def test_same_seed_same_bytes(tmp_path):
    a = write_demo_data(tmp_path / "a", n_customers=300, seed=7)
    b = write_demo_data(tmp_path / "b", n_customers=300, seed=7)
    c = write_demo_data(tmp_path / "c", n_customers=300, seed=8)
    assert _digest(a) == _digest(b)
    assert _digest(a)["transactions.parquet"] != _digest(c)["transactions.parquet"]


def test_committed_sample_is_reproducible_from_its_seed(tmp_path, sample_dir):
    fresh = write_demo_data(tmp_path / "s", n_customers=2000, seed=2026, fmt="csv")
    assert _digest(fresh) == _digest(sample_dir), "run `make sample-data` after changing the generator"


def test_demo_has_prospects_refunds_experiments_and_pii_columns():
    d = make_demo_data(1000, seed=3)
    tx, cu, asg = d["transactions"], d["customers"], d["assignments"]
    buyers = set(tx["customer_id"])
    assert 0.04 < 1 - len(buyers & set(cu["customer_id"])) / len(cu) < 0.15  # prospects
    assert (tx["amount"] < 0).any() and tx["transaction_id"].is_unique
    assert set(tx["category"]) == {"lottery", "sports_betting", "horse_racing", "instant_games"}
    assert asg["experiment_id"].nunique() == 3
    assert not asg.duplicated(["experiment_id", "customer_id"]).any()
    assert {"name", "email", "phone"} <= set(cu.columns)
    truth = d["truth"]
    assert truth["bgnbd"]["alpha"] > 0 and truth["experiments"]["reactivation-2026-03"]["true_conversion_uplift"] > 0


def test_simulated_dropout_matches_the_beta_distribution():
    # Share of buyers who dropped out by the end, against the truth file's own flags.
    d = make_demo_data(3000, seed=11)
    tc = d["truth_customers"]
    mean_p = tc["p_dropout"].mean()
    a, b = d["truth"]["bgnbd"]["a"], d["truth"]["bgnbd"]["b"]
    assert mean_p == pytest.approx(a / (a + b), rel=0.05)


def test_too_few_customers_is_refused():
    with pytest.raises(ParameterError):
        make_demo_data(10)


def test_truth_json_is_valid_json(sample_dir):
    t = json.loads((sample_dir / "truth.json").read_text())
    assert t["time_unit"] == "D" and set(t["gamma_gamma"]) == {"p", "q", "v"}
    tc = pd.read_csv(sample_dir / "truth_customers.csv")
    assert len(tc) == t["n_customers"]


def test_demo_campaigns_table_carries_the_true_costs_and_loads_as_campaign_briefs(tmp_path):
    from analysis.data import load_source
    from analysis.experiments import campaign_brief

    out = write_demo_data(tmp_path / "d", n_customers=600, seed=4)
    truth = json.loads((out / "truth.json").read_text())["experiments"]
    camp = pd.read_parquet(out / "campaigns.parquet")
    assert list(camp["experiment_id"]) == list(truth)
    assert {"cost_fixed", "cost_per_contact", "channel", "goal", "audience", "primary_metric", "margin_rate"} <= set(camp)
    src = load_source(out, as_of="2026-10-31")
    for exp_id, t in truth.items():
        brief = campaign_brief(src, exp_id)
        assert brief.cost(t["n_treated"]) == pytest.approx(t["true_cost"])
        assert brief.primary_metric == t["primary_metric"] and brief.margin_rate == t["margin_rate"]



def test_demo_contacts_and_their_truth_keys(tmp_path):
    from analysis.data import load_source

    out = write_demo_data(tmp_path / "d", n_customers=600, seed=4)
    truth = json.loads((out / "truth.json").read_text())
    assert truth["complaint_hazard_ratio"] > 1 and isinstance(truth["contact_threshold_per_month"], int)
    assert truth["contacts"]["complaint_hazard_ratio_by_state"]["open"] == truth["complaint_hazard_ratio"]
    c = pd.read_parquet(out / "contacts.parquet")
    assert {"customer_id", "timestamp", "direction", "channel", "type", "resolved_at", "satisfaction",
            "satisfaction_scale"} <= set(c.columns)
    assert set(c["type"]) == {"complaint", "service", "sales", "marketing", "feedback"}
    assert len(c) == truth["contacts"]["n_contacts"] and c["contact_id"].is_unique
    nps = c.loc[c["satisfaction_scale"] == "0-10", "satisfaction"]
    assert nps.between(0, 10).all() and c.loc[c["satisfaction_scale"] == "1-5", "satisfaction"].between(1, 5).all()
    assert load_source(out, as_of="2026-10-31").has("contacts")


def test_demo_margin_is_the_stake_times_the_category_rate():
    d = make_demo_data(400, seed=9)
    tx, rates = d["transactions"], d["truth"]["margin_rates"]
    assert set(rates) == set(tx["category"])
    expected = (tx["amount"] * tx["category"].map(rates)).round(2)
    assert (tx["margin"] - expected).abs().max() < 0.011
    overall = tx["margin"].sum() / tx["amount"].sum()
    assert 0.25 < overall < 0.45  # the mix of categories near the campaigns' margin_rate (0.35)
