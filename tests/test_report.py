"""The monthly report: pages without code, Finnish formats, manifest, atomic publish, clear errors."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from analysis import report
from analysis.cli import main as kanta
from analysis.data import load_source
from analysis.errors import ParameterError
from analysis.churn import churn_threshold
from report_month import PERIOD, SAMPLE, rendered_month


@pytest.fixture(scope="session")
def month(tmp_path_factory) -> dict:
    return rendered_month(tmp_path_factory)


@pytest.fixture(scope="session")
def month_fi(tmp_path_factory) -> dict:
    return rendered_month(tmp_path_factory, "fi")


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _notebook(path: Path, cells: list[str], parameters: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(parameters, metadata={"tags": ["parameters"]})]
    nb.cells += [nbformat.v4.new_code_cell(c) for c in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


PARAMS = 'source = "../data/sample"\nas_of = "2026-10-31"\nlanguage = "en"'


# --- periods ------------------------------------------------------------------
def test_last_complete_month_is_the_month_before_a_partial_one():
    assert str(report.last_complete_period("2026-11-15")) == "2026-10"
    assert str(report.last_complete_period("2026-10-31")) == "2026-10"
    assert str(report.month_end(report.parse_period("2024-02"))).startswith("2024-02-29")


def test_period_in_the_wrong_shape_is_refused():
    with pytest.raises(ParameterError, match="YYYY-MM"):
        report.parse_period("2026-13")


# --- a rendered month ---------------------------------------------------------
def test_month_has_landing_page_manifest_and_index(month):
    out, month_dir = month["out"], month["month_dir"]
    assert month_dir == out / PERIOD
    assert (month_dir / "index.html").is_file() and (month_dir / "manifest.json").is_file()
    assert (out / "index.html").is_file()
    assert (month_dir / "customer_base.html").is_file()
    index = (out / "index.html").read_text(encoding="utf-8")
    assert f"href='{PERIOD}/index.html'" in index
    assert not list(out.parent.glob(".kanta-render-*")), "the staging folder is removed after publishing"


def test_manifest_records_parameters_fingerprint_versions_and_timings(month):
    m = json.loads((month["month_dir"] / "manifest.json").read_text(encoding="utf-8"))
    for key in ("period", "as_of", "previous_as_of", "language", "parameters", "data", "package", "git_commit",
                "libraries", "started_at", "duration_s", "notebooks", "numbers", "degraded", "glossary",
                "customer_base", "experiments_ended"):
        assert key in m, key
    assert (m["period"], m["as_of"], m["previous_as_of"]) == (PERIOD, "2026-10-31", "2026-09-30")
    assert m["data"]["fingerprint"] == load_source(SAMPLE, as_of="2026-10-31").fingerprint
    assert re.fullmatch(r"[0-9a-f]{64}", m["data"]["fingerprint"])
    assert m["package"]["version"] == report.package_version()
    assert re.fullmatch(r"[0-9a-f]{40}|unknown", m["git_commit"])
    assert {"pandas", "papermill", "nbconvert", "duckdb"} <= set(m["libraries"])
    nb = {n["name"]: n for n in m["notebooks"]}
    n_days = churn_threshold(SAMPLE, "2026-10-31")
    assert nb["customer_base"]["parameters"] == {"source": "data/sample", "as_of": "2026-10-31", "language": "en",
                                                 "inactivity_days": n_days, "customer_base": "customer_base"}
    # one churn threshold for the whole month: "lost" on one page is "passive" on another
    assert {nb[n]["parameters"]["inactivity_days"] for n in ("customer_base", "churn", "segments")} == {n_days}
    assert m["parameters"]["inactivity_days"] == n_days
    assert all(n["duration_s"] > 0 and n["started_at"] for n in m["notebooks"])
    assert str(SAMPLE.parents[1]) not in json.dumps(m) and str(month["out"]) not in json.dumps(m)  # no machine paths


def test_landing_page_numbers_match_monthly_activity(month):
    from analysis.customers import monthly_activity

    m = json.loads((month["month_dir"] / "manifest.json").read_text(encoding="utf-8"))
    act = monthly_activity(SAMPLE, "2026-10-31", months=2,
                           inactivity_days=churn_threshold(SAMPLE, "2026-10-31")).set_index("month")
    landing = {n["concept"]: n for n in m["numbers"] if n["page"] == "index.html"}
    cur, prev = landing["customers_active"]["value"], landing["customers_active"]["previous"]
    assert cur == act.loc["2026-10", "active"] and prev == act.loc["2026-09", "active"]
    assert landing["revenue"]["value"] == pytest.approx(act.loc["2026-10", "revenue"])
    page = (month["month_dir"] / "index.html").read_text(encoding="utf-8")
    assert f">{cur:,}<" in page
    change = cur / prev - 1
    assert f"{cur - prev:+d} ({100 * change:+.1f}%) vs previous month" in page


def test_experiment_that_ended_in_the_month_is_listed(month):
    # newsletter-2026-09: assigned 2026-09-28, the 30-day outcome window closes 2026-10-28
    m = json.loads((month["month_dir"] / "manifest.json").read_text(encoding="utf-8"))
    assert [e["id"] for e in m["experiments_ended"]] == ["newsletter-2026-09"]
    assert "newsletter-2026-09" in (month["month_dir"] / "index.html").read_text(encoding="utf-8")


def test_ended_experiment_verdict_is_in_the_manifest_and_on_the_landing_page(month):
    """The verdict the experiment page reached, as a code, with its short words on the landing page."""
    from analysis import experiments
    from analysis.report.text import Text

    m = json.loads((month["month_dir"] / "manifest.json").read_text(encoding="utf-8"))
    (ended,) = m["experiments_ended"]
    expected = experiments.analyse_experiment(load_source(SAMPLE, as_of="2026-10-31"), "newsletter-2026-09",
                                              as_of="2026-10-31").verdict
    assert ended["verdict"] == expected and ended["verdict"]
    exp_manifest = json.loads((month["out"] / "experiments" / "newsletter-2026-09" / "manifest.json").read_text())
    assert exp_manifest["verdict"] == expected
    words = Text("experiments", "en")(f"verdict_short_{expected}")
    assert f"newsletter-2026-09: {words}" in (month["month_dir"] / "index.html").read_text(encoding="utf-8")


def test_pages_have_no_code_prompts_or_scripts(month):
    for page in month["month_dir"].glob("*.html"):
        text = page.read_text(encoding="utf-8")
        body = text[text.index("<body"):]
        for marker in ("jp-InputArea", "jp-InputPrompt", "jp-OutputPrompt", "In&nbsp;[", "NBVAL_CHECK_OUTPUT",
                       "import ", "load_source(", "<script", "<pre"):
            assert marker not in body, f"{page.name} shows {marker!r}"
        assert not re.search(r"<(script|link)[^>]+(src|href)=['\"]https?://", text), page.name
        assert "Run details" in text and "<title>" in text
        assert len(text) < 1_500_000, f"{page.name} is too big to e-mail"


def test_figures_are_embedded_with_alt_text(month):
    text = (month["month_dir"] / "customer_base.html").read_text(encoding="utf-8")
    images = re.findall(r"<img [^>]*>", text)
    assert len(images) >= 3
    assert all(re.search(r"src=['\"]data:image/png;base64,", i) and re.search(r"alt=['\"][^'\"]{20,}['\"]", i)
               for i in images)


def test_rendered_pages_contain_no_personal_data(month):
    src = load_source(SAMPLE, as_of="2026-10-31")
    pii = report.pii_values(src)
    for page in month["out"].rglob("*.html"):
        assert report.find_pii(page.read_text(encoding="utf-8"), pii) == [], page.name


# --- privacy check itself -----------------------------------------------------
def test_find_pii_catches_names_emails_phones_and_raw_ids(sample_source):
    cust = sample_source.customers().iloc[0]
    pii = report.pii_values(sample_source)
    assert report.find_pii(f"<td>{cust.customer_id}</td>", pii) == [f"customer_id {cust.customer_id}"]
    assert report.find_pii(f"<p>Dear {cust['name']},</p>", pii) == [f"name {cust['name']}"]
    assert report.find_pii(f"<a>{cust.email.upper()}</a>", pii) == [f"email {cust.email}"]
    assert report.find_pii(f"<p>call {cust.phone.replace(' ', '-')}</p>", pii)[0].startswith("phone ")


def test_find_pii_accepts_pseudonyms_and_ignores_embedded_images(sample_source):
    from analysis.data.privacy import pseudonymize

    cust_id = sample_source.customers()["customer_id"].iloc[0]
    page = (f"<p>{pseudonymize([cust_id]).iloc[0]}</p><img src='data:image/png;base64,AAA{cust_id}AAA' alt='x'/>"
            f"<style>.{cust_id} {{}}</style>")
    assert report.find_pii(page, report.pii_values(sample_source)) == []


# --- languages -----------------------------------------------------------------
def test_finnish_report_uses_finnish_words_and_number_formats(month_fi):
    landing = (month_fi["month_dir"] / "index.html").read_text(encoding="utf-8")
    page = (month_fi["month_dir"] / "customer_base.html").read_text(encoding="utf-8")
    assert "Asiakasraportti lokakuu 2026" in landing and "Tärkeimmät luvut" in landing
    assert "Ajon tiedot" in page and "Tietojen laatu" in page and "Kuukausi lyhyesti" in page
    assert re.search(r"\d,\d{2}\u00a0€", page), "money with decimal comma and € after the number"
    assert re.search(r"\d\u00a0\d{3}\u00a0€", landing), "thousands separated by a (no-break) space"
    assert re.search(r"[+−]\d+,\d\u00a0%", landing), "changes as Finnish percentages"
    body = page[page.index("<body"):]
    for english in ("Key numbers", "Active customers", "Data quality", "Revenue", "previous month"):
        assert english not in body, english
    assert "lang=\"fi\"" in page or "lang='fi'" in page or 'lang="fi"' in landing


# --- failures ------------------------------------------------------------------
def test_unknown_parameter_is_an_error_before_anything_runs(tmp_path):
    nb = _notebook(tmp_path / "customer_base.ipynb", ["x = 1"], PARAMS)
    with pytest.raises(ParameterError, match="unknown parameter 'inactivty_days'"):
        report.check_parameters(nb, {"source": "x", "as_of": "2026-10-31", "language": "en", "inactivty_days": 90})
    spec = report.NotebookSpec("customer_base", {"inactivty_days": 90})
    out = tmp_path / "reports"
    with pytest.raises(ParameterError, match="inactivty_days"):
        report.build_report(PERIOD, data=SAMPLE, out=out, notebooks=tmp_path, quiet=True, specs=[spec])
    assert not out.exists()


def test_notebook_without_required_parameters_is_refused(tmp_path):
    nb = _notebook(tmp_path / "x.ipynb", ["y = 2"], 'source = "../data/sample"')
    with pytest.raises(ParameterError, match="lacks as_of, language"):
        report.check_parameters(nb, {"source": "x"})


def test_failing_notebook_leaves_published_reports_untouched(month, tmp_path, capsys):
    out = tmp_path / "reports"
    shutil.copytree(month["out"], out)
    before = _tree(out)
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    _notebook(notebooks / "customer_base.ipynb", ["a = 1", "raise ValueError('segment table is empty')"],
              PARAMS + "\ninactivity_days = 180")
    code = kanta(["report", "--period", PERIOD, "--data", str(SAMPLE), "--out", str(out), "--quiet",
                  "--notebooks", str(notebooks)])
    message = capsys.readouterr().err.strip()
    assert code == 1, message
    assert len(message.splitlines()) == 1
    assert "customer_base.ipynb" in message and "In [4]" in message  # papermill counts its injected cell
    assert "ValueError: segment table is empty" in message
    assert _tree(out) == before, "previous month and index untouched"
    kept = tmp_path / ".kanta-failed" / PERIOD / "customer_base.ipynb"
    assert kept.is_file() and str(kept) in message
    assert not list(tmp_path.glob(".kanta-render-*"))


def test_bad_data_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys):
    bad = tmp_path / "bad"
    bad.mkdir()
    tx = pd.read_csv(SAMPLE / "transactions.csv", nrows=50)
    tx["amount"] = tx["amount"].astype(str)
    tx.loc[7, "amount"] = "12,5e"
    tx.to_csv(bad / "transactions.csv", index=False)
    out = tmp_path / "reports"
    code = kanta(["report", "--period", "2026-10", "--data", str(bad), "--out", str(out), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and err.startswith("kanta: ") and "amount" in err
    assert "Traceback" not in err and not out.exists()


def test_month_not_complete_in_the_data_is_refused(tmp_path, capsys):
    code = kanta(["report", "--period", "2026-12", "--data", str(SAMPLE), "--out", str(tmp_path / "r"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "not complete" in err and not (tmp_path / "r").exists()


def test_index_lists_months_newest_first(tmp_path):
    for p in ("2026-08", "2026-10", "2026-09"):
        (tmp_path / p).mkdir()
        (tmp_path / p / "index.html").write_text("<html></html>", encoding="utf-8")
    (tmp_path / "notes").mkdir()
    text = report.write_index(tmp_path).read_text(encoding="utf-8")
    positions = [text.index(f"href='{p}/index.html'") for p in ("2026-10", "2026-09", "2026-08")]
    assert positions == sorted(positions) and "notes" not in text


def test_parameter_override_reaches_notebook_and_key_numbers(tmp_path):
    from analysis.customers import monthly_activity

    specs = [s for s in report.NOTEBOOKS if s.name == "customer_base"]
    landing = report.build_report(PERIOD, data=SAMPLE, out=tmp_path / "r", quiet=True, specs=specs,
                                  params=["inactivity_days=90"])
    m = json.loads((landing.parent / "manifest.json").read_text(encoding="utf-8"))
    assert m["notebooks"][0]["parameters"]["inactivity_days"] == 90
    expected = monthly_activity(SAMPLE, "2026-10-31", months=1, inactivity_days=90).iloc[-1]
    values = {(n["page"], n["concept"]): n["value"] for n in m["numbers"]}
    assert values[("index.html", "customers_active")] == expected["active"]
    assert values[("customer_base.html", "customers_active")] == expected["active"]
    page = (landing.parent / "customer_base.html").read_text(encoding="utf-8")
    assert "fewer than 90 days" in page


def test_unknown_override_is_refused_naming_what_exists(tmp_path, capsys):
    code = kanta(["report", "--period", PERIOD, "--data", str(SAMPLE), "--out", str(tmp_path / "r"), "--quiet",
                  "--param", "inactivty_days=90"])
    err = capsys.readouterr().err
    assert code == 2 and "inactivty_days" in err and "inactivity_days" in err and not (tmp_path / "r").exists()


def test_experiment_report_on_its_own_goes_to_the_experiments_folder(tmp_path, capsys):
    out = tmp_path / "reports"
    code = kanta(["report", "--experiment", "reactivation-2026-03", "--period", "2026-10", "--data", str(SAMPLE),
                  "--out", str(out), "--quiet"])
    assert code == 0, capsys.readouterr().err
    page = out / "experiments" / "reactivation-2026-03" / "index.html"
    assert page.is_file() and (page.parent / "manifest.json").is_file()
    m = json.loads((page.parent / "manifest.json").read_text(encoding="utf-8"))
    assert m["parameters"]["experiment_id"] == "reactivation-2026-03" and m["as_of"] == "2026-10-31"
    assert "experiments/reactivation-2026-03/index.html" in (out / "index.html").read_text(encoding="utf-8")


def test_unknown_experiment_is_refused_listing_the_known_ones(tmp_path, capsys):
    code = kanta(["report", "--experiment", "spring-sale", "--data", str(SAMPLE), "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and "spring-sale" in err and "reactivation-2026-03" in err and not (tmp_path / "r").exists()


# --- the customer-base page -------------------------------------------------------
def _two_months(**now) -> pd.DataFrame:
    base = {"month": "2026-09", "active": 100, "new": 10, "lost": 5, "returned": 2, "registered": 150,
            "revenue": 1000.0, "avg_purchase": 20.0, "purchase_frequency": 1.5, "inactivity_days": 180}
    return pd.DataFrame([base, {**base, "month": "2026-10", **now}])


def test_story_says_the_base_shrank_when_more_customers_lapsed_than_came():
    from analysis.report.text import Text
    from analysis.report.pages import customer_base as page

    sentences = page.story(_two_months(active=90, new=3, returned=1, lost=14, revenue=1100.0), Text("customer_base", "en"))
    assert sentences[0].startswith("90 customers were active") and "10 fewer than a month earlier" in sentences[0]
    assert "(+10.0% compared" in sentences[2]
    assert "shrank" in sentences[-1]


def test_key_numbers_show_count_and_relative_change_in_both_languages():
    from analysis.report.text import Text
    from analysis.report.numbers import KeyNumber, format_change, format_value

    en, fi = Text("report", "en"), Text("report", "fi")
    assert format_change(KeyNumber("customers_active", 1125, previous=1092), en) == "+33 (+3.0%) vs previous month"
    assert format_change(KeyNumber("customers_active", 1250, previous=100), fi) == \
        "+1\u00a0150 (+1\u00a0150,0\u00a0%) edelliseen kuukauteen"
    assert format_change(KeyNumber("retention_rate", 0.413, previous=0.436), fi) == "−2,3 %-yks. edelliseen kuukauteen"
    assert format_change(KeyNumber("revenue", 14381.56, previous=14123.78), en) == "+1.8% vs previous month"
    assert format_change(KeyNumber("revenue", 10.0), en) is None
    assert format_value(19.33, "money_cents", fi) == "19,33\u00a0€"
    assert format_value(None, "money", fi) == "–"


def test_unknown_concept_is_refused_where_it_is_written():
    from analysis.report.numbers import KeyNumber

    with pytest.raises(KeyError, match="customers_actve"):
        KeyNumber("customers_actve", 1)


def test_publishing_replaces_a_month_in_one_move(tmp_path):
    from analysis.report.monthly import _publish

    target, staged, scratch = tmp_path / "reports" / PERIOD, tmp_path / "staged", tmp_path / "scratch"
    target.mkdir(parents=True)
    (target / "old.html").write_text("old", encoding="utf-8")
    staged.mkdir()
    (staged / "index.html").write_text("new", encoding="utf-8")
    scratch.mkdir()
    _publish(staged, target, scratch)
    assert sorted(p.name for p in target.iterdir()) == [".kanta-report", "index.html"]  # marked as Kanta's
    assert not staged.exists() and list(scratch.iterdir()) == []


def test_landing_page_states_the_one_churn_threshold_and_a_glossary(month):
    landing = (month["month_dir"] / "index.html").read_text(encoding="utf-8")
    n = churn_threshold(SAMPLE, "2026-10-31")
    assert f"within the last {n} days and has churned (is lost) after {n} days or more" in landing
    assert "id='glossary'" in landing
    assert f"fewer than {n} days before the month end" in landing  # the definition of active, threshold filled in


def test_month_publishes_segment_centroids_for_next_month(month):
    m = json.loads((month["month_dir"] / "manifest.json").read_text(encoding="utf-8"))
    segments = next(n for n in m["notebooks"] if n["name"] == "segments")
    assert segments["parameters"]["centroids_out"] == "segments_centroids.csv"
    assert segments["parameters"]["previous_centroids"] is None  # no earlier month in this folder
    centroids = pd.read_csv(month["month_dir"] / "segments_centroids.csv")
    assert "cluster" in centroids.columns and len(centroids) >= 2


def test_a_kernel_that_dies_before_its_first_cell_is_started_again(tmp_path, monkeypatch):
    # two kernels starting at once can be handed the same TCP port; nothing ran, so a new start is safe
    import papermill as pm

    from analysis.report import notebooks

    calls = []

    def execute(path, output, **kw):
        calls.append(path)
        if len(calls) == 1:
            raise RuntimeError("Kernel died before replying to kernel_info")
        Path(output).write_text("{}")

    monkeypatch.setattr(pm, "execute_notebook", execute)
    monkeypatch.setattr(notebooks, "check_parameters", lambda path, parameters: None)
    notebooks.execute_notebook(tmp_path / "a.ipynb", tmp_path / "out.ipynb", {}, progress=False)
    assert len(calls) == 2 and (tmp_path / "out.ipynb").exists()
    # a kernel that keeps dying, or any other failure, is still the notebook's failure
    calls.clear()
    monkeypatch.setattr(pm, "execute_notebook", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("Kernel died "
                                                                                                 "before replying to kernel_info")))
    with pytest.raises(notebooks.NotebookFailed, match="could not be run"):
        notebooks.execute_notebook(tmp_path / "a.ipynb", tmp_path / "out2.ipynb", {}, progress=False)


def test_kanta_notebooks_copies_notebooks_that_run_from_their_folder(tmp_path):
    """A working copy for JupyterLab: outputs cleared, the source relative to the copy, installed ones untouched."""
    import papermill as pm

    from analysis.cli import main
    from analysis.report.notebooks import notebooks_dir

    before = {p.name: p.read_bytes() for p in notebooks_dir().glob("*.ipynb")}
    work = tmp_path / "work" / "nb"
    assert main(["notebooks", str(work), "--data", str(SAMPLE)]) == 0
    copied = sorted(p.name for p in work.glob("*.ipynb"))
    assert copied == sorted(before)
    for name in copied:  # every notebook, its typed parameter kept (papermill still reads it as a str)
        params = pm.inspect_notebook(str(work / name))
        source = params["source"]["default"].strip('"')
        assert (work / source).resolve() == SAMPLE.resolve() and not Path(source).is_absolute(), name
        assert params["source"]["inferred_type_name"] == "str" and params["source"]["help"], name
    nb = nbformat.read(work / "clv.ipynb", as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
    assert main(["notebooks", str(work), "--data", str(SAMPLE)]) == 2  # an analyst's edits are never overwritten
    assert {p.name: p.read_bytes() for p in notebooks_dir().glob("*.ipynb")} == before
