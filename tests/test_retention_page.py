"""The retention page and the subscription demo: the truth comes back, the month gets the page only with contract ends."""
from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from analysis.clv import discrete, retention
from analysis.data import load_source
from analysis.data.demo import write_demo_data
from analysis.data.demo_subscriptions import CHANNEL_EFFECTS, TRUE_BGBB, TRUE_SBG, make_subscription_data
from analysis.report.notebooks import NOTEBOOKS
from analysis.report.pages.retention import RetentionPage, plot_survival, survival_frame

AS_OF = "2026-10-31"
Z95 = 1.959963984540054
RAW_ID = re.compile(r"S1\d{5}")


@pytest.fixture(autouse=True)
def _close_figures():
    """A page's sections draw figures; close them after each test (no pile of open figures)."""
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.fixture(scope="module")
def subscriptions(tmp_path_factory):
    return write_demo_data(tmp_path_factory.mktemp("subs") / "subs", n_customers=4000, seed=11, fmt="csv",
                           subscriptions=True)


def _texts(section) -> str:
    out = list(section.texts())
    for part in section.parts:
        if part[0] == "table":
            out.append(part[1].to_string())
            out.append(part[2] or "")
        elif part[0] == "figure":
            out += [part[2], part[3]]
    return "\n".join(out)


def _inside(estimate, se, truth):
    return abs(estimate - truth) <= Z95 * se


# --- the demo's truth comes back --------------------------------------------------------------
def test_contract_ends_recover_the_true_sbg_within_its_interval(subscriptions):
    result = retention.analyse_retention(subscriptions, AS_OF, "month", cohort_by="year")
    fit = result.base.fit
    truth = json.loads((subscriptions / "truth.json").read_text())["sbg"]
    assert truth["alpha"] == TRUE_SBG["alpha"] and truth["period"] == "month"
    assert _inside(fit.alpha, fit.alpha_se, TRUE_SBG["alpha"]), (fit.alpha, fit.alpha_se)
    assert _inside(fit.beta, fit.beta_se, TRUE_SBG["beta"]), (fit.beta, fit.beta_se)
    assert [c.cohort for c in result.cohorts] == ["2023", "2024", "2025", "2026"]


def test_weekly_draws_recover_the_true_bgbb_within_its_interval(subscriptions, tmp_path):
    # draws.csv is a transactions table of its own: read as a source's transactions
    (tmp_path / "customers.csv").write_bytes((subscriptions / "customers.csv").read_bytes())
    (tmp_path / "transactions.csv").write_bytes((subscriptions / "draws.csv").read_bytes())
    fit = discrete.analyse_bgbb(tmp_path, AS_OF, "week").fit
    for name, truth in TRUE_BGBB.items():
        assert _inside(fit.params[name], fit.standard_errors[name], truth), (name, fit.params, fit.standard_errors)


def test_channel_effects_on_buying_and_leaving_are_recovered_by_kanta_clv(subscriptions, tmp_path):
    from analysis.cli import main

    params = tmp_path / "params.json"
    assert main(["clv", str(subscriptions), "--as-of", AS_OF, "--model", "pareto-nbd", "--covariates",
                 "acquisition_channel", "--out", str(tmp_path / "clv.csv"), "--params-out", str(params)]) == 0
    cov = json.loads(params.read_text())["covariates"]
    assert cov["reference"] == {"acquisition_channel": "retail_store"}
    for process, block in CHANNEL_EFFECTS.items():
        for key, truth in block.items():
            e = cov[process][key]
            assert e["ci_low"] < truth < e["ci_high"], (process, key, e)
    assert cov["purchase"]["acquisition_channel=online"]["ci_low"] > 1  # online clearly buys more ...
    assert cov["dropout"]["acquisition_channel=online"]["ci_high"] < 1  # ... and leaves at a lower rate


def test_subscription_demo_is_seeded_and_every_contract_ends_after_it_starts():
    a, b = make_subscription_data(300, 5), make_subscription_data(300, 5)
    pd.testing.assert_frame_equal(a["customers"], b["customers"])
    c = a["customers"]
    ended = c[c["churn_date"] != ""]
    assert (ended["churn_date"] > ended["signup_date"]).all() and 0 < len(ended) < len(c)
    # a contract ends at a monthly anniversary of its signup (the day clipped to the month's length)
    assert (pd.to_datetime(ended["churn_date"]).dt.day <= pd.to_datetime(ended["signup_date"]).dt.day).all()


# --- the page ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pages(subscriptions):
    result = retention.analyse_retention(subscriptions, AS_OF, "month", cohort_by="year")
    return {lang: RetentionPage(result, lang) for lang in ("en", "fi")}


def test_page_states_the_fit_projection_residual_value_and_holdout_in_both_languages(pages):
    en, fi = ({name: getattr(p, name)() for name in p.SECTIONS} for p in (pages["en"], pages["fi"]))
    fit = pages["en"].result.base.fit
    assert f"α = {fit.alpha:.3f}" in _texts(en["projection"])
    assert f"α = {fit.alpha:.3f}".replace(".", ",") in _texts(fi["projection"])
    assert "Holdout check" in _texts(en["holdout"]) and "Ennusteen tarkistus" in _texts(fi["holdout"])
    assert "DERL" in _texts(en["residual_value"]) and "kestotilaaja" in _texts(fi["residual_value"])
    for name in pages["en"].SECTIONS:
        if en[name]:
            assert _texts(en[name]) != _texts(fi[name]), name
    figures = [p for s in en.values() for p in s.parts if p[0] == "figure"]
    assert len(figures) == 4 and all(title and alt for _, _, title, alt in figures)


def test_key_numbers_are_the_running_subscribers_and_their_outlook(pages, subscriptions):
    page = pages["en"]
    numbers = {n.concept: n.value for n in page.key_numbers()}
    c = pd.read_csv(subscriptions / "customers.csv", keep_default_na=False)
    running = ((c["signup_date"] <= AS_OF) & ((c["churn_date"] == "") | (c["churn_date"] > AS_OF))).sum()
    assert numbers["subscribers_running"] == running
    # the tenure-weighted renewal rate: above a new subscriber's first renewal (the stayers are the loyal ones)
    fit = page.result.base.fit
    assert fit.retention_rate(1) < numbers["subscriber_renewal_rate"] < 1
    o = page.result.outlook
    assert numbers["subscriber_residual_value"] == pytest.approx(o["derl"] * page.result.value_per_period)


def test_page_shows_no_raw_ids(pages):
    for page in pages.values():
        for name in page.SECTIONS:
            assert not RAW_ID.search(_texts(getattr(page, name)())), name


def test_a_base_without_any_ended_contract_is_a_finding_not_a_crash(tmp_path):
    d = make_subscription_data(300, 3)
    d["customers"].assign(churn_date="").to_csv(tmp_path / "customers.csv", index=False)
    d["transactions"].to_csv(tmp_path / "transactions.csv", index=False)
    page = RetentionPage.build(tmp_path, AS_OF, "fi")
    overview = page.overview()
    findings = [p[1] for p in overview.parts if p[0] == "finding"]
    assert [f.reason for f in findings] == ["no_churn"]
    assert [n.value for n in page.key_numbers()][1:] == [None, None, None]
    assert "Ilman sovitettua mallia" in _texts(page.projection())
    assert not page.residual_value()


def test_plot_takes_data_and_labels_and_returns_axes(pages):
    import matplotlib.pyplot as plt

    labels = {"x": "months", "y": "share", "observed": "o", "fitted": "f", "projected": "p"}
    fig, ax = plt.subplots()
    assert plot_survival(survival_frame(pages["en"].result), labels=labels, ax=ax) is ax
    assert ax.get_xlabel() == "months"
    plt.close(fig)


# --- the month --------------------------------------------------------------------------------
def test_the_retention_page_is_registered_only_for_sources_with_contract_ends(subscriptions):
    spec = next(s for s in NOTEBOOKS if s.name == "retention")
    assert spec.applies(load_source(subscriptions, as_of=AS_OF))
    assert not spec.applies(load_source("data/sample", as_of=AS_OF))


@pytest.mark.parametrize("language", ["en", "fi"])
def test_month_with_contract_ends_renders_the_retention_page(tmp_path, language):
    from analysis import report

    data = write_demo_data(tmp_path / "subs", n_customers=600, seed=4, fmt="csv", subscriptions=True)
    specs = [s for s in report.NOTEBOOKS if s.name in ("customer_base", "retention")]
    landing = report.build_report("2026-10", data=data, out=tmp_path / "reports", language=language, quiet=True,
                                  specs=specs)
    page = landing.parent / "retention.html"
    html = page.read_text(encoding="utf-8")
    title = "Subscriptions: retention and residual value" if language == "en" else "Kestotilaukset: pysyvyys"
    assert title in html
    assert html.count("<img") >= 4
    assert not RAW_ID.search(html) and not RAW_ID.search(landing.read_text(encoding="utf-8"))
    assert "retention.html" in landing.read_text(encoding="utf-8")
    manifest = json.loads((landing.parent / "manifest.json").read_text())
    numbers = {n["concept"]: n for n in manifest["numbers"] if n.get("page", "retention.html").startswith("retention")}
    assert {"subscribers_running", "subscriber_renewal_rate", "subscriber_residual_value"} <= set(numbers)
    assert numbers["subscribers_running"]["value"] > 0
    assert np.isfinite(numbers["subscriber_renewal_rate"]["value"])


def test_committed_subscription_sample_is_reproducible_from_its_seed(tmp_path):
    import hashlib
    from pathlib import Path

    committed = Path(__file__).resolve().parents[1] / "data" / "subscriptions"
    fresh = write_demo_data(tmp_path / "s", n_customers=1000, seed=2026, fmt="csv", subscriptions=True)
    digest = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(fresh.iterdir())}
    assert digest == {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(committed.iterdir())}, \
        "run `kanta demo-data --subscriptions --out data/subscriptions --customers 1000 --seed 2026 --format csv`"


def test_cli_cohort_by_year_groups_monthly_contracts_like_the_page(tmp_path):
    """``kanta retention --period month --cohort-by year``: the page's cohorts, from the command."""
    from pathlib import Path

    from analysis.cli import main

    source = Path(__file__).resolve().parents[1] / "data" / "subscriptions"
    out = tmp_path / "r.json"
    assert main(["retention", str(source), "--as-of", "2026-10-31", "--period", "month", "--cohort-by", "year",
                 "--out", str(out)]) == 0
    by_year = json.loads(out.read_text())
    expected = retention.analyse_retention(source, "2026-10-31", "month", cohort_by="year").to_dict()
    assert by_year == json.loads(json.dumps(expected, default=float))
    assert main(["retention", str(source), "--as-of", "2026-10-31", "--period", "month", "--out", str(out)]) == 0
    assert len(json.loads(out.read_text())["cohorts"]) > len(by_year["cohorts"])  # monthly cohorts: more of them
