"""Hostile input, round three, the rest: personal data as customer IDs never reaches a page, experiments where
everyone (or nobody) converted are analysed, the Spark engine keeps the DuckDB engine's rules, refusals never
quote personal data, and labels are never TeX.

Every test is named after the case it protects against. Known answers are computed here independently
(Wilson and Newcombe from their formulas, MOVER-R, the score test's closed form at the boundary).
"""
from __future__ import annotations

import csv
import math
import pickle
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from statistics import NormalDist
from urllib.parse import quote

import duckdb
import numpy as np
import pandas as pd
import pytest

from analysis.customers import customer_table as duck_table
from analysis.customers import spark as engine
from analysis.customers.spark_contract import check_spark_source, unquotable_columns
from analysis.data import FORMULA_STARTS, load_source, privacy
from analysis.errors import DataError, KantaError
from analysis.report import find_pii
from analysis.stats import ratio_interval, two_proportion_test
from report_month import SAMPLE
from sources import write_source

AS_OF = "2026-10-31"
Z = NormalDist().inv_cdf(0.975)


# --- personal data used as the customer ID ----------------------------------------------------------------
_CHECK_MARKS = "0123456789ABCDEFHJKLMNPRSTUVWXY"


def identity_code(i: int) -> str:
    """A valid Finnish identity code (check mark by the official rule), distinct for each i < 28 * 12 * 50."""
    digits = f"{1 + i % 28:02d}{1 + (i // 28) % 12:02d}{40 + (i // 336) % 50:02d}"
    number = f"{2 + i % 897:03d}"
    return f"{digits}-{number}{_CHECK_MARKS[int(digits + number) % 31]}"


def sample_with_ids(folder: Path, kind: str) -> dict[str, str]:
    """The committed sample copied to ``folder`` with every customer ID replaced: the customer's own e-mail
    address, phone number (with spaces) or an identity code, or ``mixed``: the three kinds by turns (every third
    customer is known by each), as in a base merged from systems that keyed customers differently.
    Returns raw sample ID -> new ID."""
    folder.mkdir(parents=True)
    cust = pd.read_csv(SAMPLE / "customers.csv", dtype=str, keep_default_na=False)
    kinds = {"email": cust["email"], "phone": cust["phone"],
             "identity_code": pd.Series([identity_code(i) for i in range(len(cust))])}
    new = kinds[kind] if kind != "mixed" else pd.Series(
        [kinds[("email", "phone", "identity_code")[i % 3]][i] for i in range(len(cust))])
    ids = dict(zip(cust["customer_id"], new))
    assert len(set(ids.values())) == len(ids)
    for f in SAMPLE.iterdir():
        if f.suffix == ".csv" and "customer_id" in f.read_text(encoding="utf-8").split("\n", 1)[0]:
            t = pd.read_csv(f, dtype=str, keep_default_na=False)
            t["customer_id"] = t["customer_id"].map(lambda v: ids.get(v, v))
            t.to_csv(folder / f.name, index=False)
        else:
            (folder / f.name).write_bytes(f.read_bytes())
    return ids


class _Everything(HTMLParser):
    """Every piece of a page a person can read or follow: text, and every attribute value but embedded images."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.parts += [v for _, v in attrs if v and not v.startswith("data:")]

    def handle_data(self, data):
        self.parts.append(data)


@pytest.mark.slow
@pytest.mark.parametrize("kind, language", [("mixed", "en"), ("mixed", "fi")])
def test_email_phone_and_identity_code_ids_never_reach_a_page(tmp_path, kind, language):
    """One month per language on a base whose IDs are e-mail addresses, phone numbers and identity codes by turns
    (each kind on every page's lists: the top customers and the contact lists mix them)."""
    from analysis.report import build_report

    ids = sample_with_ids(tmp_path / "src", kind)
    raw = set(ids.values())
    assert sum("@" in v for v in raw) > 600 and sum(v.startswith("+358") for v in raw) > 600 \
        and sum(bool(re.fullmatch(r"\d{6}-\d{3}[0-9A-Y]", v)) for v in raw) > 600
    landing = build_report("2026-10", data=tmp_path / "src", out=tmp_path / "reports", language=language, quiet=True)
    pages = sorted((tmp_path / "reports").rglob("*.html"))
    assert landing.is_file() and len(pages) >= 7
    allowed = set(privacy.pseudonymize(sorted(raw)))
    shown_pseudonyms = set()
    for page in pages:
        parser = _Everything()
        parser.feed(page.read_text(encoding="utf-8"))
        everything = " ".join(" ".join(parser.parts).split())
        leaked = [v for v in raw if " ".join(v.split()) in everything]
        assert not leaked, (page.name, leaked[:3])
        shown_pseudonyms |= set(re.findall(r"\bK-[0-9a-f]{10}\b", everything))
    # the customer lists are there, by pseudonym: each one the keyed hash of one of these IDs, of every kind
    assert len(shown_pseudonyms) >= 10 and shown_pseudonyms <= allowed
    by_kind = {"email": [v for v in raw if "@" in v], "phone": [v for v in raw if v.startswith("+358")]}
    by_kind["identity_code"] = sorted(raw - set(by_kind["email"]) - set(by_kind["phone"]))
    for kind_ids in by_kind.values():
        assert shown_pseudonyms & set(privacy.pseudonymize(sorted(kind_ids)))


def gate_values(*ids: str) -> dict:
    return {"customer_id": set(ids), "name": set(), "email": set(), "phone": set(), "other": set()}


@pytest.mark.parametrize("page", [
    "<td>eino.jarvinen0@example.fi</td>", "<td>EINO.JARVINEN0@EXAMPLE.FI</td>",
    '<td title="eino.jarvinen0@example.fi">K-1a2b3c4d5e</td>', '<img alt="eino.jarvinen0@example.fi" src="x.png">',
    '<a href="mailto:eino.jarvinen0@example.fi">write</a>', '<span data-customer="eino.jarvinen0@example.fi"></span>',
    "<td>eino.jarvinen0&#64;example.fi</td>", "<li>Top: eino.jarvinen0@example.fi, 1 200 €</li>",
], ids=["text", "upper_case", "title", "alt", "mailto", "data_attribute", "entity", "in_a_sentence"])
def test_privacy_gate_catches_an_email_used_as_customer_id_wherever_the_page_leaks_it(page):
    assert find_pii(page, gate_values("eino.jarvinen0@example.fi"))


@pytest.mark.parametrize("page", ["<td>+358 40 5088723</td>", "<td>+358&nbsp;40&nbsp;5088723</td>",
                                  '<td title="+358 40 5088723">x</td>', "<p>call +358  40\n5088723</p>"],
                         ids=["text", "nbsp", "title", "line_break"])
def test_privacy_gate_catches_a_phone_number_with_spaces_used_as_customer_id(page):
    assert find_pii(page, gate_values("+358 40 5088723")) == ["customer_id +358 40 5088723"]


@pytest.mark.parametrize("page", ["<td>131052-308T</td>", '<td title="131052-308T">x</td>'])
def test_privacy_gate_catches_an_identity_code_used_as_customer_id(page):
    assert any(hit.endswith("131052-308T") for hit in find_pii(page, gate_values("131052-308T")))


def test_pseudonyms_of_personal_ids_and_ordinary_markup_pass_the_gate():
    ids = ["eino.jarvinen0@example.fi", "+358 40 5088723", "131052-308T", "C100000"]
    shown = " ".join(privacy.pseudonymize(ids))
    page = (f'<table class="C100000" style="width:358px"><tr><td title="{shown}">{shown}</td>'
            '<td>358 40</td><td>2026-10-31</td></tr></table><img src="data:image/png;base64,QUJD">')
    assert find_pii(page, gate_values(*ids)) == []


# --- experiments where everyone, or nobody, converted -----------------------------------------------------
def wilson(x: int, n: int) -> tuple[float, float]:
    """Wilson's score interval from its formula (Wilson 1927; Newcombe 1998 method 3)."""
    p, z2 = x / n, Z * Z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return centre - half, centre + half


def newcombe(xb: int, nb: int, xa: int, na: int) -> tuple[float, float]:
    """Newcombe's hybrid score interval for pb - pa (Newcombe 1998, method 10)."""
    pb, pa = xb / nb, xa / na
    (lb, ub), (la, ua) = wilson(xb, nb), wilson(xa, na)
    d = pb - pa
    return d - math.sqrt((pb - lb) ** 2 + (ua - pa) ** 2), d + math.sqrt((ub - pb) ** 2 + (pa - la) ** 2)


def test_newcombe_formula_here_reproduces_newcombes_published_example():
    low, high = newcombe(56, 70, 48, 80)  # Newcombe (1998), Table II example (b): 0.0524 to 0.3339
    assert (round(low, 4), round(high, 4)) == (0.0524, 0.3339)


@pytest.mark.parametrize("xa, na, xb, nb", [(100, 100, 100, 100), (0, 100, 0, 100), (50, 100, 100, 100),
                                            (100, 100, 60, 100), (40, 40, 37, 40), (0, 50, 50, 50), (3, 3, 3, 3)],
                         ids=["everyone", "nobody", "everyone_in_treatment", "everyone_in_control", "near_ceiling",
                              "all_or_nothing", "tiny_arms"])
def test_difference_in_conversion_has_the_newcombe_interval_at_rates_of_0_and_1(xa, na, xb, nb):
    r = two_proportion_test(xa, na, xb, nb)
    low, high = newcombe(xb, nb, xa, na)
    assert r.estimate == pytest.approx(xb / nb - xa / na, abs=1e-12)
    assert (r.ci_low, r.ci_high) == (pytest.approx(low, abs=1e-9), pytest.approx(high, abs=1e-9))
    assert r.ci_low <= r.estimate <= r.ci_high and -1 <= r.ci_low and r.ci_high <= 1
    if xa / na == xb / nb and xa in (0, na):
        assert r.p_value == 1.0 and r.ci_low < 0 < r.ci_high  # no difference, and none can be shown


def mover_r(x1: int, n1: int, x2: int, n2: int) -> tuple[float, float]:
    """MOVER-R for p1 / p2 (Donner & Zou 2012), written out here from the Wilson limits."""
    p1, p2 = x1 / n1, x2 / n2
    (l1, u1), (l2, u2) = wilson(x1, n1), wilson(x2, n2)
    low = (p1 * p2 - math.sqrt(max(0.0, (p1 * p2) ** 2 - l1 * u2 * (2 * p1 - l1) * (2 * p2 - u2)))) / (u2 * (2 * p2 - u2))
    high = (p1 * p2 + math.sqrt(max(0.0, (p1 * p2) ** 2 - u1 * l2 * (2 * p1 - u1) * (2 * p2 - l2)))) / (l2 * (2 * p2 - l2))
    return low, high


@pytest.mark.parametrize("xa, na, xb, nb", [(100, 100, 100, 100), (50, 100, 100, 100), (100, 100, 60, 100),
                                            (100, 100, 0, 100)])
def test_relative_lift_at_a_rate_of_one_has_a_real_interval_not_a_point(xa, na, xb, nb):
    r = two_proportion_test(xa, na, xb, nb)
    low, high = mover_r(xb, nb, xa, na)
    assert r.relative_lift == pytest.approx(xb / xa * na / nb - 1)
    assert (r.lift_ci_low, r.lift_ci_high) == (pytest.approx(low - 1, abs=1e-9), pytest.approx(high - 1, abs=1e-9))
    assert r.lift_ci_high - r.lift_ci_low > 0.03  # the delta method gave [0, 0] when everyone converted
    assert ratio_interval(xb, nb, xa, na) == (pytest.approx(low), pytest.approx(high))


def test_relative_lift_when_nobody_in_control_converted_has_no_value():
    r = two_proportion_test(0, 100, 0, 100)
    assert math.isnan(r.relative_lift) and math.isnan(r.lift_ci_low)
    with pytest.raises(KantaError):
        ratio_interval(5, 100, 0, 100)


@pytest.mark.parametrize("margin", [0.01, 0.05, 0.1])
def test_non_inferiority_when_everyone_converted_is_the_score_test_not_a_certainty(margin):
    # Under H0 pb = pa - margin with every customer converted, the restricted estimates are pa = 1, pb = 1 - margin:
    # z = margin / sqrt(margin (1 - margin) / n), one-sided
    r = two_proportion_test(100, 100, 100, 100, margin=margin)
    expected = 1 - NormalDist().cdf(margin / math.sqrt(margin * (1 - margin) / 100))
    assert r.noninferiority_p_value == pytest.approx(expected, rel=1e-6)
    assert r.noninferior == (expected < 0.05)  # 1 point is not ruled out by 100 customers a group; 5 points are


def experiment_source(folder: Path, rate_control: float, rate_treatment: float, n: int = 200) -> Path:
    """``n`` customers, half in each group, assigned 2026-09-01; a share of each group buys on day 4."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    ids = [f"c{i}" for i in range(n)]
    control = [i % 2 == 1 for i in range(n)]
    rows = []
    for i, c in enumerate(ids):
        rows += [(c, "2025-06-01 10:00", 20.0), (c, "2025-12-01 10:00", 25.0)]
        if i // 2 < round((rate_control if control[i] else rate_treatment) * (n // 2)):
            rows.append((c, "2026-09-05 10:00", round(10 + 30 * rng.random(), 2)))
    pd.DataFrame(rows, columns=["customer_id", "timestamp", "amount"]).to_csv(folder / "transactions.csv", index=False)
    pd.DataFrame({"customer_id": ids, "signup_date": "2025-01-01"}).to_csv(folder / "customers.csv", index=False)
    pd.DataFrame({"experiment_id": "exp", "customer_id": ids, "variant": ["control" if c else "offer" for c in control],
                  "assigned_at": "2026-09-01 09:00:00", "is_control": control, "planned_share": 0.5}).to_csv(
        folder / "assignments.csv", index=False)
    pd.DataFrame({"experiment_id": ["exp"], "primary_metric": ["conversion"], "cost_fixed": [100.0],
                  "cost_per_contact": [0.5]}).to_csv(folder / "campaigns.csv", index=False)
    return folder


@pytest.mark.parametrize("control, treatment, verdict", [(1.0, 1.0, "no_difference"), (0.0, 0.0, "no_difference"),
                                                         (0.5, 1.0, "better"), (1.0, 0.6, "worse")],
                         ids=["everyone", "nobody", "everyone_in_treatment", "everyone_in_control"])
def test_experiment_where_every_customer_converted_is_analysed_not_refused(tmp_path, control, treatment, verdict):
    from analysis.experiments import campaign_report

    src = experiment_source(tmp_path, control, treatment)
    rep = campaign_report(src, "exp", as_of=AS_OF, include_clv=False, n_boot=200)
    r = rep.result
    assert r.verdict == verdict and r.primary == "conversion"
    c = r.conversion
    assert (c.conversions_a, c.conversions_b) == (round(100 * control), round(100 * treatment))
    low, high = newcombe(c.conversions_b, 100, c.conversions_a, 100)
    assert (c.estimate, c.ci_low, c.ci_high) == (pytest.approx(treatment - control), pytest.approx(low),
                                                 pytest.approx(high))
    planner = rep.planner
    assert planner["baseline"] == max(control, 0.005)
    if control == 1.0:  # no increase above 100 % to plan for: said as such, not a refusal
        assert planner["n_per_arm"] is None and math.isnan(planner["mde_abs"]) and math.isnan(planner["mde_now"])
    else:
        assert planner["n_per_arm"] > 0
    # the revenue plan stands whatever the buying rate
    assert planner["n_per_arm_revenue"] is None or planner["n_per_arm_revenue"] > 0
    rep.to_dict()  # JSON-ready, NaN and None included


def test_sequential_interval_does_not_collapse_when_everyone_converted(tmp_path):
    from analysis.experiments import sequential_looks

    q = sequential_looks(experiment_source(tmp_path, 1.0, 1.0), "exp", as_of=AS_OF)
    assert q.estimate == 0 and q.p_value == 1.0
    assert q.ci_low < -0.01 and q.ci_high > 0.01  # was +-0.00002: a zero variance floored at 1e-9


def test_cli_experiment_where_everyone_converted_prints_the_verdict(tmp_path, run_cli):
    src = experiment_source(tmp_path / "src", 1.0, 1.0)
    out = tmp_path / "exp.json"
    code, stdout, err = run_cli("experiment", src, "--id", "exp", "--as-of", AS_OF, "--no-clv", "--out", out)
    assert code == 0, err
    assert stdout.startswith("exp (as of 2026-10-31): no_difference") and out.is_file()


@pytest.mark.slow
def test_experiment_page_renders_when_everyone_converted(tmp_path, monkeypatch, run_cli):
    monkeypatch.setenv(privacy.KEY_VARIABLE, "a-long-random-test-secret-0123456789")
    src = experiment_source(tmp_path / "src", 1.0, 1.0)
    code, out, err = run_cli("report", "--data", src, "--out", tmp_path / "r", "--period", "2026-10", "--experiment",
                             "exp", "--quiet")
    assert code == 0, err
    parser = _Everything()
    parser.feed((tmp_path / "r" / "experiments" / "exp" / "index.html").read_text(encoding="utf-8"))
    text = " ".join(" ".join(parser.parts).split())
    assert "No clear effect" in text and "100.0%" in text and "-3.7" in text


# --- the Spark engine: no .sql on Spark, no SQL through column names, spreadsheet-safe CSV -----------------
@pytest.mark.parametrize("name", ["kanta.sql", "KANTA.SQL", "missing/defs.sql"])
def test_spark_refuses_a_sql_source_definition_before_it_starts(tmp_path, name):
    path = tmp_path / name
    if not name.startswith("missing"):
        path.write_text("CREATE VIEW transactions AS SELECT * FROM read_csv('/etc/passwd');", encoding="utf-8")
    with pytest.raises(DataError, match=r"(?i)^source: .*\.sql is a \.sql source definition, which runs only in DuckDB's "
                                        r"sandbox; .*--engine duckdb"):
        check_spark_source(path)


def test_spark_refuses_a_database_file_or_url_before_it_starts(tmp_path):
    db = tmp_path / "shop.duckdb"
    duckdb.connect(str(db)).close()
    with pytest.raises(DataError, match=r"^source: shop.duckdb is a file; the Spark engine reads a folder"):
        check_spark_source(db)
    with pytest.raises(DataError, match=r"^source: a database URL is read by the DuckDB engine") as exc:
        check_spark_source("postgresql://kanta:s3cret@db.example.com/crm")
    assert "s3cret" not in str(exc.value)


@pytest.mark.parametrize("source", ["s3a://crm/kanta", "abfss://c@a.dfs.core.windows.net/x", "dbfs:/crm",
                                    "metastore:crm", "exports.sql"])
def test_spark_takes_folders_cluster_uris_and_the_metastore(tmp_path, source):
    if source == "exports.sql":  # a folder whose name ends in .sql is a folder
        (tmp_path / source).mkdir()
        source = str(tmp_path / source)
    assert check_spark_source(source) == source


def test_cli_spark_with_a_sql_definition_is_one_sentence_without_starting_spark(tmp_path, run_cli, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyspark", None)  # Spark must not even be imported
    write_source(tmp_path / "data", "customer_id,timestamp,amount\nc1,2024-01-01,10\n")
    sql = tmp_path / "kanta.sql"
    sql.write_text("CREATE VIEW transactions AS SELECT * FROM read_csv('data/transactions.csv');\n", encoding="utf-8")
    code, out, err = run_cli("customers", sql, "--as-of", "2024-01-31", "--out", tmp_path / "c.csv", "--engine", "spark")
    assert code == 2 and err.count("\n") == 1 and "DuckDB's sandbox" in err and "pip install" not in err
    assert not (tmp_path / "c.csv").exists()


# Three Parquet column names that made the Spark engine's customer table run Java and carry the pseudonym key: the
# first ends in a backslash, so Spark's quoted name runs on into the second, whose text is then read as SQL; the
# third is the column that name resolves to (the rest of the line is a comment).
EXPLOIT = ["k\\", " AS k, java_method('java.lang.System', 'getenv', 'KANTA_PSEUDONYM_KEY') AS leaked --", 'k\\", c.']
HOSTILE_NAMES = ["k\\", 'k\\", c.', "x\\", 'x\\" , java_method(1) AS y --', "tab\\tname", "back\\\\slash"]


def test_column_names_spark_cannot_quote_are_found():
    assert unquotable_columns(["region", "age band", 'quo"te', "Ikä-ryhmä", *HOSTILE_NAMES]) == HOSTILE_NAMES


@pytest.mark.parametrize("start", FORMULA_STARTS, ids=["equals", "plus", "minus", "at", "tab", "carriage_return"])
def test_spark_customer_table_csv_neutralises_formula_cells(tmp_path, monkeypatch, start):
    """The Spark writer's DuckDB side, fed the rows Spark would return (no Spark needed)."""
    con = duckdb.connect()
    con.execute("CREATE TABLE spark_result AS SELECT * FROM (VALUES (?, 2, -5.5, ?)) t(customer_id, n_purchases, "
                "total_spend, main_channel)", [f"{start}HYPERLINK(\"http://x\")", f"{start}web"])
    monkeypatch.setattr(engine, "_collect_as_duckdb", lambda *a, **k: (con, "SELECT * FROM spark_result"))
    assert engine.write_customer_table("folder", AS_OF, tmp_path / "c.csv") == 1
    with open(tmp_path / "c.csv", newline="", encoding="utf-8") as f:
        row = next(csv.DictReader(f))
    assert row["customer_id"] == f"'{start}HYPERLINK(\"http://x\")" and row["main_channel"] == f"'{start}web"
    assert row["total_spend"] == "-5.5"  # a negative number stays a number
    engine.write_customer_table("folder", AS_OF, tmp_path / "c.parquet")
    assert pd.read_parquet(tmp_path / "c.parquet")["customer_id"].iloc[0] == f"{start}HYPERLINK(\"http://x\")"


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    """One local Spark for the module (as in test_spark.py)."""
    s = engine.spark_session("local[1]", app_name="kanta-hostile", config={
        "spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "1", "spark.default.parallelism": "1",
        "spark.sql.codegen.wholeStage": "false", "spark.sql.adaptive.enabled": "false",
        "spark.sql.warehouse.dir": str(tmp_path_factory.mktemp("warehouse")), "spark.driver.memory": "1g"})
    yield s
    s.stop()


def test_spark_column_names_cannot_run_sql_and_csv_is_spreadsheet_safe(session, tmp_path, monkeypatch):
    monkeypatch.setenv(privacy.KEY_VARIABLE, "secret-key-never-in-a-table")
    folder = tmp_path / "src"
    folder.mkdir()
    tx = pd.DataFrame({"customer_id": ["=1+c1", "@c2", "c3"], "timestamp": ["2026-10-01", "2026-10-02", "2026-10-03"],
                       "amount": [10.0, 20.0, 5.0]})
    cust = pd.DataFrame({"customer_id": ["=1+c1", "@c2", "c3"], "signup_date": ["2026-01-01"] * 3,
                         "marketing_permission": ["true", "false", "yes"], "region": ["-Uusimaa", "Häme", "+Lappi"],
                         **{name: ["d", "e", "f"] for name in dict.fromkeys(EXPLOIT + HOSTILE_NAMES)}})
    con = duckdb.connect()
    for name, df in (("transactions", tx), ("customers", cust)):
        con.register("df", df)
        con.execute(f"COPY (SELECT * FROM df) TO '{folder / (name + '.parquet')}' (FORMAT PARQUET)")
        con.unregister("df")
    src = engine.load_spark_source(folder, as_of=AS_OF, spark=session)
    assert sum("Spark SQL reads the backslash" in n for n in src.notes) == len(HOSTILE_NAMES)
    _, lazy = engine.customer_table_query(src, AS_OF)
    assert "leaked" not in lazy.columns and EXPLOIT[1] in lazy.columns  # the middle name is only a (strange) name
    out = tmp_path / "c.csv"
    assert engine.write_customer_table(src, AS_OF, out) == 3
    assert "secret-key-never-in-a-table" not in out.read_text(encoding="utf-8")
    with open(out, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    theirs = duck_table(load_source(folder, as_of=AS_OF), AS_OF).drop(columns=HOSTILE_NAMES)
    assert list(rows[0]) == list(theirs.columns)  # the DuckDB engine's table without the names Spark cannot carry
    assert [r["customer_id"] for r in rows] == ["'=1+c1", "'@c2", "c3"]
    assert [r["region"] for r in rows] == ["'-Uusimaa", "Häme", "'+Lappi"]


# --- refusals never quote personal data (a column that slipped, a note in the wrong place) ----------------
TX = "customer_id,timestamp,amount\nc1,2024-01-01,10\nc2,2024-01-02,20\n"
SECRETS = ("Matti", "Meikäläinen", "010190-123A", "131052-308T", "matti@example.fi", "040 123 4567", "+358 40 1234567")
CONTACTS = "contact_id,customer_id,timestamp,direction,channel,type,note\nk1,c1,2024-01-01,inbound,phone,service,ok\n"


@pytest.mark.parametrize("files, kind", [
    ({"customers.csv": "customer_id,signup_date\nc1,2024-01-01\nc2,matti@example.fi\n"}, "an e-mail address"),
    ({"customers.csv": "customer_id,signup_date\nc1,2024-01-01\nc2,131052-308T\n"}, "an identity code"),
    ({"customers.csv": "customer_id,signup_date,marketing_permission\nc1,2024-01-01,true\nc2,2024-01-01,"
                       "matti@example.fi\n"}, "an e-mail address"),
    ({"customers.csv": "customer_id,signup_date,marketing_permission\nc1,2024-01-01,true\nc2,2024-01-01,"
                       "Matti Meikäläinen\n"}, "a person's name"),
    ({"transactions.csv": "customer_id,timestamp,amount\nc1,2024-01-01,10\nc2,2024-01-02,matti@example.fi\n"},
     "an e-mail address"),
    ({"transactions.csv": "customer_id,timestamp,amount\nc1,2024-01-01,10\nc2,010190-123A,3\n"}, "an identity code"),
    ({"transactions.csv": "customer_id,timestamp,amount\nc1,2024-01-01,10\nc2,2024-01-02,+358 40 1234567\n"},
     "a phone number"),
    ({"contacts.csv": CONTACTS + "k2,c1,2024-01-02,inbound,phone,Matti Meikäläinen matti@example.fi,x\n"},
     "a person's name"),
    ({"contacts.csv": CONTACTS + "k2,c1,matti@example.fi,inbound,phone,service,x\n"}, "an e-mail address"),
    ({"contacts.csv": CONTACTS + "k2,c1,2024-01-02,040 123 4567,phone,service,x\n"}, "a phone number"),
], ids=["signup_email", "signup_identity_code", "permission_email", "permission_name", "amount_email",
        "timestamp_mistyped_identity_code", "amount_phone", "contact_type_note", "contact_timestamp_email",
        "contact_direction_phone"])
def test_refusal_names_the_kind_of_personal_data_and_its_line_never_the_value(tmp_path, files, kind):
    write_source(tmp_path, TX)
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    with pytest.raises(DataError) as exc:
        load_source(tmp_path, as_of="2024-01-31")
    msg = str(exc.value)
    assert f"{kind} (not shown)" in msg and "\n" not in msg
    assert not [s for s in SECRETS if s in msg], msg


@pytest.mark.parametrize("name, text", [
    ("customers.csv", "customer_id,signup_date,name\nc1,2024-01-01,Anna\nc2,2024-01-01,Matti Meikäläinen,"
                      "matti@example.fi,010190-123A\n"),
    ("customers.csv", "customer_id,signup_date,name\nc1,2024-01-01,Anna\nc2,Matti Meikäläinen matti@example.fi\n"),
    ("customers.csv", 'customer_id,signup_date,name\nc1,2024-01-01,Anna\nc2,2024-01-01,"Matti Meikäläinen,'
                      "matti@example.fi\n"),
    ("assignments.csv", "experiment_id,customer_id,variant,assigned_at\ne1,c1,a,2024-01-05\n"
                        "e1,c2,b,2024-01-05,Matti Meikäläinen matti@example.fi\n"),
    ("contacts.csv", CONTACTS + "k2,c1,2024-01-02 Matti Meikäläinen matti@example.fi\n"),
], ids=["customers_extra_fields", "customers_missing_fields", "customers_open_quote", "assignments_extra_fields",
        "contacts_missing_fields"])
def test_ragged_row_anywhere_is_refused_by_line_and_field_count_without_the_row(tmp_path, name, text):
    write_source(tmp_path, TX)
    (tmp_path / name).write_text(text, encoding="utf-8")
    with pytest.raises(DataError) as exc:
        load_source(tmp_path, as_of="2024-01-31")
    msg = str(exc.value)
    assert msg.startswith(f"{name[:-4]}: {name} could not be read as CSV (line 3)") and "fields" in msg
    assert not [s for s in SECRETS if s in msg], msg


def test_values_that_are_not_personal_are_still_quoted_in_refusals(tmp_path):
    write_source(tmp_path, 'customer_id,timestamp,amount\nc1,2024-01-01,10\nc2,2024-01-02,"12,5e"\n')
    with pytest.raises(DataError, match=r"line 3: '12,5e'; expected a number"):
        load_source(tmp_path)


# --- labels are drawn as text, never as TeX -----------------------------------------------------------------
LABELS = ["$$", "$x$ and $y$", "tier_1 $5^2$", "\\$", "50 % off $", r"$\alpha$", "a_{b}$c$", "$\n$", "€5 – $5",
          r"\frac{1}{2}$"]


@pytest.mark.parametrize("label", LABELS)
def test_dollar_labels_in_segment_heatmaps_and_legends_are_drawn_as_text(tmp_path, label):
    import matplotlib.pyplot as plt

    from analysis.report.pages.segments import plot_transitions
    from analysis.report.text import Text

    matrix = pd.DataFrame([[0.5, 0.5], [0.2, 0.8]], index=[label, "plain"], columns=[label, "other"])
    ax = plot_transitions(matrix, labels=Text("segments", "en"))
    ax.set_title("to " + label)
    ax.plot([0, 1], [0, 1], label=label)
    ax.legend(title=label)
    ax.figure.savefig(tmp_path / "figure.png")
    assert ax.get_yticklabels()[0].get_text() == label and ax.get_legend().get_texts()[0].get_text() == label
    plt.close(ax.figure)


_FRESH_KERNEL = """
import matplotlib
matplotlib.use("Agg")
from analysis.report.pages.customer_base import plot_active  # what a notebook's first cell imports
import matplotlib.pyplot as plt
fig, ax = plt.subplots()
ax.barh(["bonus_$10_$20", r"$\\frac{1}{0}$"], [1, 2])
ax.set_title("a$b")
fig.savefig(__import__("sys").argv[1])
"""


def test_mathtext_is_off_in_a_fresh_notebook_kernel(tmp_path):
    p = subprocess.run([sys.executable, "-c", _FRESH_KERNEL, str(tmp_path / "f.png")], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr[-500:]
    assert (tmp_path / "f.png").stat().st_size > 0


# --- passwords in database URLs, without a server ------------------------------------------------------------
PASSWORDS = ["pa#ss/w?rd", "p@ss:w%rd", "x'; DROP ROLE analyst; --", "sp ace+plus", "äöå€", "back\\slash", "tab\there",
             "@@@", "=HYPERLINK(\"x\")", "k" * 200]


@pytest.mark.parametrize("password", PASSWORDS, ids=["hash_slash_question", "at_colon_percent", "sql", "space_plus",
                                                     "non_ascii", "backslash", "tab", "only_ats", "formula", "long"])
def test_password_of_any_shape_is_never_printed_when_the_server_cannot_be_reached(run_cli, password):
    for given in (password, quote(password, safe="")):  # as typed, and percent-encoded
        code, out, err = run_cli("validate", f"postgresql://analyst:{given}@127.0.0.1:1/crm")
        assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
        assert "postgresql://analyst@127.0.0.1:1/crm" in err
        for form in {password, quote(password, safe=""), quote(password)}:
            assert form not in out + err


@pytest.mark.parametrize("password", PASSWORDS[:6])
def test_password_is_decoded_once_for_every_consumer_and_never_pickled(password):
    from analysis.data import DatabaseURL, child_environment

    typed = DatabaseURL(f"postgresql://analyst:{password}@db.example.com/crm?schema=sales")
    encoded = DatabaseURL(f"postgresql://analyst:{quote(password, safe='')}@db.example.com/crm?schema=sales")
    in_query = DatabaseURL(f"postgresql://analyst@db.example.com/crm?schema=sales&password={quote(password, safe='')}")
    for url in (typed, encoded, in_query):
        assert str(url) == "postgresql://analyst@db.example.com/crm?schema=sales" and url.schema == "sales"
        assert child_environment(url) == {"PGPASSWORD": password}  # the notebooks get what libpq gets
        assert password not in repr(url) + pickle.dumps(url).decode("latin-1")
        assert url.mask(f"FATAL: password {password} / {quote(password, safe='')} rejected") == \
            "FATAL: password *** / *** rejected"
