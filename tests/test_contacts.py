"""Contacts (issue 15): validation of the contacts table, the effects recovered from the demo truth, the CLI."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import contacts
from analysis.contacts import dropout
from analysis.data import load_source
from analysis.data.demo import write_demo_data
from analysis.errors import DataError

AS_OF = "2026-10-31"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """An 8,000-customer demo base (seed 1): enough complaints and marketing months to recover the truth."""
    return write_demo_data(tmp_path_factory.mktemp("contacts") / "demo", n_customers=8000, seed=1)


@pytest.fixture(scope="module")
def truth(demo):
    return json.loads((demo / "truth.json").read_text())


@pytest.fixture(scope="module")
def result(demo):
    return contacts.analyse(demo, AS_OF)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A small CSV demo base whose contacts.csv the validation tests rewrite."""
    return write_demo_data(tmp_path_factory.mktemp("contacts_small") / "demo", n_customers=1000, seed=5, fmt="csv")


def _with_contacts(small, tmp_path, edit):
    d = tmp_path / "src"
    d.mkdir()
    for name in ("transactions", "customers"):
        (d / f"{name}.csv").write_bytes((small / f"{name}.csv").read_bytes())
    c = pd.read_csv(small / "contacts.csv", dtype=str, keep_default_na=False)
    edit(c).to_csv(d / "contacts.csv", index=False)
    return d


# --- the recovered effects cover the demo truth -------------------------------------------------------
def test_irritation_threshold_interval_covers_the_true_threshold(result, truth):
    p = result.pressure
    assert p.ci_low <= truth["contact_threshold_per_month"] <= p.ci_high
    assert p.ci_low <= p.threshold <= p.ci_high and p.ci_high - p.ci_low <= 2  # of the 10 candidates
    assert p.per_contact_above.ci_low > 1.0  # more contacts above the threshold: more leaving
    assert list(p.profile["threshold"]) == list(range(1, 11))


def test_big_bases_screen_thresholds_on_a_subsample_and_fit_everyone_at_the_best(demo, result, monkeypatch):
    monkeypatch.setattr(dropout, "SEARCH_CUSTOMERS", 2000)  # as if the 8,000-customer base were big
    screened = contacts.dropout_model(demo, AS_OF)
    full = result.pressure
    assert screened.threshold == full.threshold
    assert (screened.threshold_low, screened.threshold_high) == (full.ci_low, full.ci_high)
    assert len(screened.profile) < len(full.profile)  # fewer thresholds fitted on everyone ...
    both = screened.profile.merge(full.profile, on="threshold")  # ... and those the same fits as without screening
    assert both["log_likelihood_x"].to_numpy() == pytest.approx(both["log_likelihood_y"].to_numpy(), abs=0.01)
    r, f = screened.ratios["open"], result.complaint.ratios["open"]
    assert (r.hazard_ratio, r.ci_low, r.ci_high) == pytest.approx((f.hazard_ratio, f.ci_low, f.ci_high), rel=1e-3)


def test_the_drop_out_fit_in_a_child_process_is_the_same_fit_to_the_last_bit(demo):
    """A big base fits the drop-out model in a child process while the month's other parts are computed: the
    same rows (customers as sorted codes) give the same profile, parameters and ratios as the fit here."""
    here = dropout.start_dropout_model(demo, AS_OF, detach=False)()
    child = dropout.start_dropout_model(demo, AS_OF, detach=True)()
    assert child.profile.equals(here.profile)
    assert (child.r, child.alpha, child.a, child.b, child.customers) == (here.r, here.alpha, here.a, here.b,
                                                                          here.customers)
    assert {k: v.to_dict() for k, v in child.ratios.items()} == {k: v.to_dict() for k, v in here.ratios.items()}
    assert (child.threshold, child.threshold_low, child.threshold_high, child.above) \
        == (here.threshold, here.threshold_low, here.threshold_high, here.above)


def test_a_script_without_a_main_guard_runs_once_when_the_fit_is_detached(small, tmp_path):
    """The child is a fresh interpreter, not multiprocessing's: an analyst's script that builds the month at top
    level (no ``if __name__ == "__main__"``) is not run again by the child."""
    import subprocess
    import sys

    script = tmp_path / "analysis_script.py"
    runs = tmp_path / "runs.txt"
    script.write_text(f"""
from analysis.contacts import dropout
with open({str(runs)!r}, "a") as f:
    f.write("run\\n")
model = dropout.start_dropout_model({str(small)!r}, {AS_OF!r}, detach=True)()
print(model.customers)
""")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert runs.read_text().splitlines() == ["run"]
    assert int(done.stdout) == dropout.start_dropout_model(small, AS_OF, detach=False)().customers


def test_a_drop_out_fit_that_fails_in_the_child_is_the_same_finding(small, tmp_path):
    from analysis.contacts.analysis import start_contact_models

    d = tmp_path / "few"
    d.mkdir()
    tx = pd.read_csv(small / "transactions.csv", dtype=str, keep_default_na=False)
    keep = tx["customer_id"].drop_duplicates().head(20)  # 20 customers: fewer repeat buyers than MIN_DROPOUTS
    tx[tx["customer_id"].isin(keep)].to_csv(d / "transactions.csv", index=False)
    for name in ("customers", "contacts"):
        (d / f"{name}.csv").write_bytes((small / f"{name}.csv").read_bytes())
    src = load_source(d, as_of=AS_OF)
    here, child = (start_contact_models(src, AS_OF, 150, detach=flag)() for flag in (False, True))
    assert here.model is None and [f.to_dict() for f in child.findings] == [f.to_dict() for f in here.findings]
    assert [f.reason for f in child.findings] == ["dropout_too_few"]


def test_likelihood_on_distinct_histories_equals_the_sum_over_customers(demo):
    # the fit evaluates the likelihood once per distinct history; value and gradient must be the per-customer sum's
    import numpy as np

    src = load_source(demo, as_of=AS_OF)
    arrays = dropout._customer_arrays(src.sql(dropout._histories_sql(pd.Timestamp(AS_OF))))
    _, counts, last_cell, x, t_x, age = arrays
    h = dropout._histories(counts, last_cell, x, t_x, age)
    assert len(h.patterns) < (x > 0).sum() and len(h.age0) < (x == 0).sum()  # it does compress
    design = dropout._design([1, 2, 3], 4)
    rng = np.random.default_rng(0)
    for _ in range(3):
        theta = np.concatenate([np.log([0.6, 20.0, 0.9, 5.0]) + rng.normal(0, 0.2, 4), rng.normal(0, 0.3, 6)])
        value, grad = dropout._nll(theta, h, design)
        ref_value, ref_grad = dropout._nll_rows(theta, counts.astype(float), last_cell, x, t_x, age, design)
        assert value == pytest.approx(ref_value, rel=1e-12)
        assert grad == pytest.approx(ref_grad, rel=1e-9, abs=1e-6)


def test_unresolved_complaint_hazard_ratio_interval_covers_the_truth(result, truth):
    r = result.complaint.ratios["open"]
    assert r.ci_low <= truth["complaint_hazard_ratio"] <= r.ci_high
    assert r.ci_low > 1.0


def test_resolution_speed_ratios_cover_the_truth_and_fast_removes_most_of_the_harm(result, truth):
    ratios = result.complaint.ratios
    assert ratios["resolved_fast"].hazard_ratio < ratios["open"].hazard_ratio
    true = truth["contacts"]["complaint_hazard_ratio_by_state"]
    for state in ("resolved_fast", "resolved_slow"):
        assert ratios[state].ci_low <= true[state] <= ratios[state].ci_high, state


def test_marketing_ratio_above_the_threshold_and_the_purchase_process_cover_the_truth(result, truth):
    above = result.pressure.per_contact_above
    true = truth["contacts"]["marketing_hazard_ratio_per_contact_above_threshold"]
    assert above.ci_low <= true <= above.ci_high
    m = result.complaint  # the BG/NBD part of the drop-out model: near the demo's purchase process
    assert m.r == pytest.approx(truth["bgnbd"]["r"], rel=0.15)
    assert m.alpha == pytest.approx(truth["bgnbd"]["alpha"], rel=0.15)
    assert m.a == pytest.approx(truth["bgnbd"]["a"], rel=0.25) and m.b == pytest.approx(truth["bgnbd"]["b"], rel=0.25)


def test_complaint_handling_counts_match_the_contacts_table(demo, result):
    c = pd.read_parquet(demo / "contacts.parquet")
    c = c[(c["type"] == "complaint") & (c["timestamp"] < "2026-11-01")]
    oct_ = c[c["timestamp"] >= "2026-10-01"]
    # resolved at first contact: closed within 24 hours, and by as_of (a case closed in November was open then)
    fast = ((oct_["resolved_at"] - oct_["timestamp"]) <= pd.Timedelta(hours=24)) & (oct_["resolved_at"] < "2026-11-01")
    m = result.handling.this_month()
    assert m["complaints"] == len(oct_)
    assert m["first_contact_share"] == pytest.approx(fast.mean())
    assert result.handling.open_at_as_of == int((c["resolved_at"].isna() | (c["resolved_at"] >= "2026-11-01")).sum())


def test_nps_the_standard_way():
    assert contacts.nps([10, 9, 9, 8, 7, 6, 3, 0]) == pytest.approx(100 * (3 / 8 - 3 / 8))
    assert contacts.nps([10, 10, 10, 6]) == pytest.approx(50.0)


def test_satisfaction_separates_the_scales(demo, result):
    src = load_source(demo, as_of=AS_OF)
    raw = src.sql("SELECT satisfaction, satisfaction_scale FROM contacts WHERE satisfaction IS NOT NULL "
                  "AND timestamp >= TIMESTAMP '2025-11-01'")
    row = result.satisfaction.iloc[0]
    assert row["csat_responses"] == (raw["satisfaction_scale"] == "1-5").sum()
    assert row["nps"] == pytest.approx(contacts.nps(raw.loc[raw["satisfaction_scale"] == "0-10", "satisfaction"]))


def test_too_few_complaints_degrades_to_a_finding(small, tmp_path):
    d = _with_contacts(small, tmp_path, lambda c: c[c["type"] != "complaint"])
    r = contacts.analyse(d, AS_OF)
    assert r.complaint is None
    assert "complaints_too_few" in {f.reason for f in r.findings}


# --- validation ------------------------------------------------------------------------------------------
def test_demo_contacts_load_normalised_and_without_free_text(small):
    src = load_source(small, as_of=AS_OF)
    cols = src.columns("contacts")
    assert "note" not in cols and {"direction", "type", "satisfaction_scale"} <= set(cols)
    assert any("note" in n and "not loaded" in n for n in src.notes)
    later = src.sql("SELECT count(*) AS n FROM contacts WHERE timestamp >= TIMESTAMP '2026-11-01' "
                    "OR resolved_at >= TIMESTAMP '2026-11-01'")["n"][0]
    assert later == 0


def test_direction_and_type_are_normalised(small, tmp_path):
    def edit(c):
        c.loc[0, "direction"] = "  Inbound "
        c.loc[1, "type"] = "COMPLAINT"
        return c
    src = load_source(_with_contacts(small, tmp_path, edit), as_of=AS_OF)
    assert set(src.sql("SELECT DISTINCT direction FROM contacts")["direction"]) <= {"inbound", "outbound"}


@pytest.mark.parametrize("column, value, message", [
    ("direction", "sideways", "contacts.direction: 1 row has an unknown value, e.g. line 4"),
    ("type", "gossip", "expected one of complaint, service, sales, marketing, feedback"),
    ("satisfaction_scale", "1-7", "contacts.satisfaction_scale"),
    ("timestamp", "yesterday", "contacts.timestamp"),
])
def test_bad_contacts_are_refused_in_one_sentence(small, tmp_path, column, value, message):
    def edit(c):
        c.loc[2, column] = value
        c.loc[2, "satisfaction"] = "4"
        return c
    with pytest.raises(DataError, match=message) as exc:
        load_source(_with_contacts(small, tmp_path, edit), as_of=AS_OF)
    assert "\n" not in str(exc.value)


def test_score_outside_its_scale_and_resolution_before_the_contact_are_refused(small, tmp_path):
    def score(c):
        c.loc[2, ["satisfaction", "satisfaction_scale"]] = ["9", "1-5"]
        return c
    with pytest.raises(DataError, match="outside the row's scale"):
        load_source(_with_contacts(small, tmp_path, score), as_of=AS_OF)

    def early(c):
        c.loc[2, "resolved_at"] = "2000-01-01 00:00:00"
        return c
    d2 = tmp_path / "b"
    d2.mkdir()
    with pytest.raises(DataError, match="resolved before the contact"):
        load_source(_with_contacts(small, d2, early), as_of=AS_OF)


def test_scale_is_inferred_without_a_scale_column(small, tmp_path):
    def only_csat(c):
        c = c.drop(columns="satisfaction_scale")
        c["satisfaction"] = c["satisfaction"].where(c["type"] != "feedback", "")
        return c
    src = load_source(_with_contacts(small, tmp_path, only_csat), as_of=AS_OF)
    assert set(src.sql("SELECT DISTINCT satisfaction_scale FROM contacts WHERE satisfaction IS NOT NULL")
               ["satisfaction_scale"]) == {"1-5"}

    def mixed(c):
        c = c.drop(columns="satisfaction_scale")
        c.loc[c.index[c["satisfaction"] != ""][0], "satisfaction"] = "12"
        return c
    d2 = tmp_path / "b"
    d2.mkdir()
    with pytest.raises(DataError, match="fits neither scale"):
        load_source(_with_contacts(small, d2, mixed), as_of=AS_OF)


# --- the command line -----------------------------------------------------------------------------------
def test_cli_writes_the_contract_keys(run_cli, demo, tmp_path, truth):
    out = tmp_path / "c.json"
    code, stdout, err = run_cli("contacts", demo, "--as-of", AS_OF, "--out", out)
    assert code == 0, err
    d = json.loads(out.read_text())
    hr = d["complaint_hazard_ratio"]
    assert hr["ci_low"] <= hr["value"] <= hr["ci_high"]
    t = d["contact_threshold_per_month"]
    assert t["ci_low"] <= truth["contact_threshold_per_month"] <= t["ci_high"]


def test_cli_without_contacts_exits_2_in_one_sentence(run_cli, cdnow_dir, tmp_path):
    out = tmp_path / "c.json"
    code, stdout, err = run_cli("contacts", cdnow_dir, "--as-of", "1998-06-30", "--out", out)
    assert code == 2 and err.startswith("kanta: contacts:") and err.count("\n") == 1
    assert not out.exists()


# --- the monthly report ---------------------------------------------------------------------------------
def _render(data, out, language="en"):
    from analysis import report
    from analysis.report.monthly import CONTACTS

    specs = [s for s in report.NOTEBOOKS if s.name == "customer_base"] + [CONTACTS]
    return report.build_report("2026-10", data=data, out=out, language=language, quiet=True, specs=specs)


@pytest.fixture(scope="module")
def months(tmp_path_factory):
    """One small demo month rendered with its contacts table and once more without it."""
    import shutil

    root = tmp_path_factory.mktemp("contacts_month")
    with_contacts = write_demo_data(root / "with", n_customers=1500, seed=3)
    without = root / "without"
    shutil.copytree(with_contacts, without)
    (without / "contacts.parquet").unlink()
    return {"with": _render(with_contacts, root / "r1").parent, "without": _render(without, root / "r2").parent}


def test_month_with_contacts_has_the_page_and_its_numbers(months):
    d = months["with"]
    assert (d / "contacts.html").is_file()
    page = (d / "contacts.html").read_text(encoding="utf-8")
    assert "Contacts and service" in page and "reply to" not in page and "@example.fi" not in page
    manifest = json.loads((d / "manifest.json").read_text())
    assert manifest["contacts_page"] is True
    on_landing = {n["concept"] for n in manifest["numbers"] if n["page"] == "index.html"}
    assert {"complaints_month", "complaints_first_contact_share", "customers_over_contact_threshold"} <= on_landing
    page_numbers = {n["concept"]: n["value"] for n in manifest["numbers"] if n["page"] == "contacts.html"}
    c = pd.read_parquet(d.parents[1] / "with" / "contacts.parquet")
    october = c[(c["type"] == "complaint") & (c["timestamp"] >= "2026-10-01") & (c["timestamp"] < "2026-11-01")]
    assert page_numbers["complaints_month"] == len(october)
    landing = {n["concept"]: n["value"] for n in manifest["numbers"] if n["page"] == "index.html"}
    for concept in ("complaints_month", "complaints_first_contact_share", "customers_over_contact_threshold"):
        assert landing[concept] == page_numbers[concept], concept  # one number, from the month's one state


def test_month_without_contacts_has_no_contacts_page(months):
    d = months["without"]
    assert not (d / "contacts.html").exists()
    manifest = json.loads((d / "manifest.json").read_text())
    assert manifest["contacts_page"] is False
    assert not any(n["concept"].startswith("complaints") for n in manifest["numbers"])
    assert "has no contacts table, so this month has no contacts page" in (d / "index.html").read_text(encoding="utf-8")


def test_strings_exist_in_both_languages():
    from pathlib import Path

    import analysis

    strings = json.loads((Path(analysis.__file__).parent / "strings" / "contacts.json").read_text(encoding="utf-8"))
    assert strings["title"] == {"en": "Contacts and service", "fi": "Yhteydenotot ja palvelu"}
    assert all(set(v) == {"en", "fi"} and all(v.values()) for v in strings.values())


def test_channel_names_from_the_data_stay_text_on_the_page(small, tmp_path):
    from analysis.base import CustomerBase
    from analysis.report.display import table_html
    from analysis.report.pages.contacts import channel_table

    def hostile(c):
        c.loc[c["type"] == "service", "channel"] = "<img src=x onerror=alert(1)>"
        return c
    d = _with_contacts(small, tmp_path, hostile)
    base = CustomerBase.build(d, AS_OF)
    a = contacts.analyse(base=base)
    html = table_html(channel_table(a.frequency["abc_class"], "abc_class"))
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html


def test_a_sql_source_definition_builds_contacts_from_a_crm_case_table(small, tmp_path):
    (tmp_path / "transactions.csv").write_bytes((small / "transactions.csv").read_bytes())
    c = pd.read_csv(small / "contacts.csv", dtype=str, keep_default_na=False)
    cases = pd.DataFrame({"CaseNo": c["contact_id"], "Asiakas": c["customer_id"], "Opened": c["timestamp"],
                          "Closed": c["resolved_at"], "Kind": c["type"].str.upper(), "Medium": c["channel"],
                          "Dir": c["direction"], "Score": c["satisfaction"], "Scale": c["satisfaction_scale"]})
    cases.to_csv(tmp_path / "cases.csv", index=False)
    (tmp_path / "kanta.sql").write_text("""
        CREATE VIEW transactions AS SELECT * FROM read_csv('transactions.csv');
        CREATE VIEW contacts AS
        SELECT CaseNo AS contact_id, Asiakas AS customer_id, Opened AS timestamp, nullif(Closed, '') AS resolved_at,
               Kind AS type, Medium AS channel, Dir AS direction, nullif(Score, '') AS satisfaction,
               nullif(Scale, '') AS satisfaction_scale
        FROM read_csv('cases.csv', all_varchar = true);
    """, encoding="utf-8")
    src = load_source(tmp_path / "kanta.sql", as_of=AS_OF)
    assert src.has("contacts")
    n = src.sql("SELECT count(*) AS n FROM contacts WHERE type = 'complaint'")["n"][0]
    assert n == ((c["type"] == "complaint") & (c["timestamp"] < "2026-11-01")).sum()


def test_promoters_stay_more_than_detractors(demo):
    """In the demo, NPS answers fall with the customer's drop-out probability: promoters stay more."""
    from analysis import churn

    src = load_source(demo, as_of=AS_OF)
    t = churn.churn_table(src, AS_OF, 150)
    r = contacts.nps_retention(src, AS_OF, t.assign(is_active=t["churned"] == 0), 150).set_index("group")
    assert r["customers"].sum() == src.sql(
        "SELECT count(DISTINCT customer_id) AS n FROM contacts WHERE satisfaction_scale = '0-10' "
        "AND timestamp < TIMESTAMP '2026-06-03'")["n"][0]
    assert r.loc["promoter", "ci_low"] > r.loc["detractor", "ci_high"]


def test_median_resolution_time_counts_open_complaints_as_open():
    """Kaplan-Meier median per month from the raw contacts file: a complaint still open at the month end (or
    closed only after it) is censored there, not left out; the old closed-only median was lower."""
    from lifelines import KaplanMeierFitter

    from analysis.contacts import complaint_handling

    sample = Path(__file__).resolve().parents[1] / "data" / "sample"
    end = pd.Timestamp("2026-11-01")
    c = pd.read_csv(sample / "contacts.csv", parse_dates=["timestamp", "resolved_at"])
    c = c[(c["type"] == "complaint") & (c["timestamp"] >= "2025-10-01") & (c["timestamp"] < end)]
    closed = c["resolved_at"].notna() & (c["resolved_at"] < end)
    hours = ((c["resolved_at"].where(closed, end) - c["timestamp"]).dt.total_seconds() / 3600)
    h = complaint_handling(sample, "2026-10-31").monthly.set_index("month")["median_hours_to_resolution"]
    lower = 0
    for month, g in c.assign(hours=hours, closed=closed).groupby(c["timestamp"].dt.to_period("M")):
        expected = KaplanMeierFitter().fit(g["hours"], g["closed"]).median_survival_time_
        if np.isfinite(expected):
            assert h[month] == pytest.approx(expected), month
        else:
            assert np.isnan(h[month]), month
        lower += g.loc[g["closed"], "hours"].median() < expected
    assert lower >= 3  # leaving the open ones out made several months look faster than they were


# --- the page: one Section per notebook section, from the results passed in (issue 20) --------------------------
def test_every_contacts_section_is_a_section_whose_words_come_from_the_results(result):
    from analysis.report.pages.contacts import ContactsPage
    from analysis.report.section import Section
    from analysis.report.text import Text

    page = ContactsPage(result, "en")
    sections = page.sections()
    assert [type(s) for s in sections] == [Section] * len(ContactsPage.SECTIONS) and all(sections)
    assert [s.texts()[0] for s in sections[1:]] == [
        "Complaints and how they are handled", "What follows a complaint", "Marketing pressure", "Satisfaction",
        "Who is contacted"]
    tx = Text("contacts", "en")
    m = result.handling.this_month()  # the sentence recomputed from the result
    assert sections[1].texts()[1] == tx("complaints_text", n=tx.number(m["complaints"]), hours=24,
                                        share=tx.pct(m["first_contact_share"], 0),
                                        open=tx.number(result.handling.open_at_as_of))
    p = result.pressure
    assert f"Up to {p.threshold} outbound marketing contacts a month" in sections[3].texts()[1]
    assert [k.concept for k in sections[0].parts[-1][1]] == [
        "complaints_month", "complaints_first_contact_share", "customers_over_contact_threshold"]
    kinds = [[part[0] for part in s.parts] for s in sections]
    assert kinds[1] == ["heading", "text", "figure", "table"] and kinds[3] == ["heading", "text", "figure", "table"]
    assert sections[4].texts()[1] == tx("satisfaction_text")
    assert sections[5].texts()[1:] == [tx("frequency_none")]  # analysed without a customer base: no segments


def test_a_section_shows_the_part_the_notebook_passes_in(result, demo):
    """An analyst recomputes a part with other arguments and passes it: the page shows that one."""
    from analysis.report.pages.contacts import ContactsPage

    page = ContactsPage(result, "en")
    longer = contacts.complaint_handling(demo, AS_OF, months=25)
    assert len(longer.monthly) > len(result.handling.monthly)
    table = [p for p in page.complaints(longer).parts if p[0] == "table"][0][1]
    assert len(table) == len(longer.monthly)
    assert page.pressure(None, 7).texts()[1].endswith("7 customers got more than "
                                                      f"{result.pressure.threshold}.")


def test_without_a_drop_out_model_the_sections_say_why(result):
    import dataclasses

    from analysis.findings import Finding
    from analysis.report.pages.contacts import ContactsPage

    finding = Finding("contacts.dropout", "dropout_too_few", {}, "too few", ("customers_over_contact_threshold",))
    a = dataclasses.replace(result, complaint=None, pressure=None, customers_over_threshold=None, findings=[finding])
    page = ContactsPage(a, "fi")
    for section in (page.after_complaint(), page.pressure()):
        assert [p[0] for p in section.parts] == ["heading", "finding"] and section.parts[1][1] is finding
    over = page.title_and_key_numbers().parts[-1][1][-1]
    assert over.value is None and over.reason == "dropout_too_few"


@pytest.mark.parametrize("name", ["plot_complaints", "plot_pressure"])
def test_contacts_plots_take_data_and_labels_and_return_their_axes(result, name):
    import matplotlib.pyplot as plt

    from analysis.report.pages import contacts as page
    from analysis.report.text import Text

    data = result.handling.monthly if name == "plot_complaints" else result.pressure
    plot = getattr(page, name)
    ax = plot(data, labels=Text("contacts", "fi"))
    assert ax.figure.get_figwidth() <= 6.4  # 640 px at dpi 100: readable on a phone
    fig, given = plt.subplots()
    assert plot(data, labels=Text("contacts", "en"), ax=given) is given
    assert given.get_ylabel() in ("Complaints", "Last purchase in the month (%)")
    with pytest.raises(TypeError):
        plot(data, Text("contacts", "en"))  # labels by name only
    plt.close("all")


def test_contacts_notebook_parameters_are_typed_for_papermill():
    from analysis.report.notebooks import notebook_parameters, notebooks_dir

    params = notebook_parameters(notebooks_dir() / "contacts.ipynb")
    assert list(params) == ["source", "as_of", "language", "inactivity_days", "customer_base"]
    assert {n: p["inferred_type_name"] for n, p in params.items()} == {
        "source": "str", "as_of": "str", "language": "str", "inactivity_days": "Optional[int]",
        "customer_base": "Optional[str]"}
    assert all(p["help"] for p in params.values())
