"""The command-line contract for bad input, command by command.

Bad input gets one line on stderr starting with "kanta: ", exit code 2, no traceback and
nothing written; argparse's own syntax errors (a word where a number goes, a choice not
offered) keep argparse's standard usage line + message, also with exit code 2.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from analysis.cli import main

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = str(ROOT / "data" / "sample")
AS_OF = "2026-10-31"


def _tree(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.fixture
def broken(tmp_path) -> str:
    """A source whose transactions.csv has a non-numeric amount on its second data row."""
    d = tmp_path / "broken"
    d.mkdir()
    (d / "transactions.csv").write_text("customer_id,timestamp,amount\nc1,2024-01-01,12.50\nc2,2024-01-02,abc\n")
    return str(d)


@pytest.fixture
def rejects(capsys, tmp_path):
    """Run ``kanta ARGS`` in-process and check the bad-input contract; returns the message.

    ``{tmp}`` in an argument is replaced by the test's tmp_path; nothing may appear in it
    (nor in the sample folder) during the run.
    """

    def run(*args: str, expect: str | None = None) -> str:
        argv = [a.replace("{tmp}", str(tmp_path)) for a in args]
        before, sample_before = _tree(tmp_path), _tree(Path(SAMPLE))
        try:
            code = main(argv)
        except SystemExit as exc:  # only argparse exits; main itself returns the code
            code = exc.code
        out, err = capsys.readouterr()
        assert code == 2, f"exit {code} for {argv}: {err}"
        assert "Traceback" not in err and "Traceback" not in out
        assert err.startswith("kanta: ") and err.endswith("\n") and err.count("\n") == 1, err
        assert out == "", f"stdout should be empty on bad input: {out!r}"
        assert _tree(tmp_path) == before, f"files written: {_tree(tmp_path) - before}"
        assert _tree(Path(SAMPLE)) == sample_before
        if expect is not None:
            assert expect in err, err
        return err.strip()

    return run


@pytest.fixture
def argparse_rejects(capsys, tmp_path):
    """argparse's syntax errors: exit 2, usage line + one "kanta <cmd>: error: ..." line, nothing written."""

    def run(*args: str, expect: str) -> str:
        before = _tree(tmp_path)
        with pytest.raises(SystemExit) as exc:
            main([a.replace("{tmp}", str(tmp_path)) for a in args])
        out, err = capsys.readouterr()
        assert exc.value.code == 2 and out == "" and "Traceback" not in err
        lines = err.strip().splitlines()
        assert lines[0].startswith("usage: kanta") and lines[-1].startswith("kanta ") and expect in lines[-1], err
        assert _tree(tmp_path) == before
        return lines[-1]

    return run


# --- the same three bad inputs for every command that reads a source --------------------------------
COMMANDS = {  # command -> arguments after the source (with a good --as-of and output)
    "validate": ["--as-of", AS_OF],
    "customers": ["--as-of", AS_OF, "--out", "{tmp}/out.csv"],
    "clv": ["--as-of", AS_OF, "--out", "{tmp}/out.csv"],
    "retention": ["--as-of", AS_OF, "--out", "{tmp}/out.json"],
    "churn": ["--as-of", AS_OF, "--out", "{tmp}/out.csv"],
    "segments": ["--as-of", AS_OF, "--out", "{tmp}/out.csv"],
    "experiment": ["--as-of", AS_OF, "--id", "reactivation-2026-03", "--out", "{tmp}/out.json"],
}


def _with(args: list[str], flag: str, value: str) -> list[str]:
    args = list(args)
    args[args.index(flag) + 1] = value
    return args


@pytest.mark.parametrize("command", COMMANDS)
def test_missing_source_is_named(rejects, command):
    msg = rejects(command, "{tmp}/no-such-folder", *COMMANDS[command])
    assert "no-such-folder" in msg


@pytest.mark.parametrize("command", COMMANDS)
def test_non_numeric_amount_names_table_column_and_row(rejects, broken, command):
    msg = rejects(command, broken, *COMMANDS[command], expect="transactions.amount")
    assert "abc" in msg or "line 3" in msg or "row" in msg


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("as_of", ["01.02.2026", "2026-02-30", "today"])
def test_bad_as_of_date_is_named(rejects, command, as_of):
    rejects(command, SAMPLE, *_with(COMMANDS[command], "--as-of", as_of), expect="as_of")


@pytest.mark.parametrize("command", ["customers", "clv", "churn", "segments"])
@pytest.mark.parametrize("out", ["{tmp}/out.xlsx", "{tmp}/out", "{tmp}/missing-folder/out.csv"])
def test_bad_output_file_writes_nothing(rejects, command, out):
    msg = rejects(command, SAMPLE, *_with(COMMANDS[command], "--out", out), expect="--out")
    assert ".csv or .parquet" in msg or "missing-folder" in msg


@pytest.mark.parametrize("out", ["{tmp}/out.csv", "{tmp}/missing-folder/out.json"])
def test_experiment_bad_output_file_fails_before_the_analysis(rejects, out):
    rejects("experiment", SAMPLE, *_with(COMMANDS["experiment"], "--out", out), expect="--out")


def test_as_of_after_the_data_has_no_traceback(capsys):
    """An as-of after the last transaction is allowed (nothing bought since) or a one-line error."""
    try:
        code = main(["validate", SAMPLE, "--as-of", "2030-01-01"])
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    assert code in (0, 2) and "Traceback" not in err
    assert code == 0 or err.count("\n") == 1


# --- demo-data --------------------------------------------------------------------------------------
@pytest.mark.parametrize("customers", ["0", "-5", "99"])
def test_demo_data_too_few_customers(rejects, customers):
    rejects("demo-data", "--out", "{tmp}/demo", "--customers", customers, expect="--customers")


def test_demo_data_will_not_replace_a_file(rejects, tmp_path):
    (tmp_path / "notes.txt").write_text("keep me\n")
    rejects("demo-data", "--out", "{tmp}/notes.txt", "--customers", "100", expect="--out")
    assert (tmp_path / "notes.txt").read_text() == "keep me\n"


def test_demo_data_will_not_replace_a_folder_that_is_not_demo_data(rejects, tmp_path):
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "thesis.md").write_text("keep me\n")
    rejects("demo-data", "--out", "{tmp}/work", "--customers", "100", expect="--out")
    assert (tmp_path / "work" / "thesis.md").read_text() == "keep me\n"


def test_demo_data_non_numeric_customers_is_argparse_error(argparse_rejects):
    argparse_rejects("demo-data", "--out", "{tmp}/demo", "--customers", "many", expect="--customers")


def test_customers_bad_memory_limit(rejects):
    rejects("customers", SAMPLE, *COMMANDS["customers"], "--memory-limit", "lots", expect="memory_limit")


# --- clv --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("flag, value, name", [
    ("--horizon-months", "0", "horizon_months"), ("--horizon-months", "-12", "horizon_months"),
    ("--discount-rate", "-0.1", "discount_rate"), ("--discount-rate", "1.5", "discount_rate"),
    ("--discount-rate", "nan", "discount_rate"), ("--days-per-month", "0", "days_per_month"),
])
def test_clv_bad_horizon_settings(rejects, flag, value, name):
    rejects("clv", SAMPLE, *COMMANDS["clv"], flag, value, expect=name)


def test_clv_params_out_must_be_json(rejects):
    rejects("clv", SAMPLE, *COMMANDS["clv"], "--params-out", "{tmp}/params.txt", expect="--params-out")


def test_clv_params_out_into_missing_folder(rejects):
    rejects("clv", SAMPLE, *COMMANDS["clv"], "--params-out", "{tmp}/nope/params.json", expect="nope")


def test_clv_horizon_in_words_is_argparse_error(argparse_rejects):
    argparse_rejects("clv", SAMPLE, *COMMANDS["clv"], "--horizon-months", "twelve", expect="--horizon-months")


# --- churn ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("days", ["0", "-30"])
@pytest.mark.parametrize("table", ["risk", "durations"])
def test_churn_inactivity_days_must_be_positive(rejects, days, table):
    rejects("churn", SAMPLE, *COMMANDS["churn"], "--table", table, "--inactivity-days", days,
            expect="inactivity_days")


@pytest.mark.parametrize("top", ["0", "-1"])
def test_churn_top_must_be_positive(rejects, top):
    rejects("churn", SAMPLE, *COMMANDS["churn"], "--no-clv", "--top", top, expect="top")


def test_churn_unknown_table_is_argparse_error(argparse_rejects):
    argparse_rejects("churn", SAMPLE, *COMMANDS["churn"], "--table", "everything", expect="--table")


# --- segments ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("k", ["abc", "0", "1", "-3", "2.5"])
def test_segments_bad_cluster_count(rejects, k):
    rejects("segments", SAMPLE, *COMMANDS["segments"], "--n-clusters", k, expect="n_clusters")


@pytest.mark.parametrize("days", ["0", "-10"])
def test_segments_inactivity_days_must_be_positive(rejects, days):
    rejects("segments", SAMPLE, *COMMANDS["segments"], "--inactivity-days", days, expect="--inactivity-days")
    rejects("segments", SAMPLE, *COMMANDS["segments"], "--passive-days", days, expect="--inactivity-days")  # 0.2 name


def test_segments_previous_centroids_must_exist(rejects):
    rejects("segments", SAMPLE, *COMMANDS["segments"], "--previous-centroids", "{tmp}/last-month.csv",
            expect="--previous-centroids")


def test_segments_centroids_out_must_be_csv(rejects):
    rejects("segments", SAMPLE, *COMMANDS["segments"], "--centroids-out", "{tmp}/c.json", expect="--centroids-out")


def test_segments_centroids_out_into_missing_folder(rejects):
    rejects("segments", SAMPLE, *COMMANDS["segments"], "--centroids-out", "{tmp}/nope/c.csv", expect="nope")


# --- experiment -------------------------------------------------------------------------------------
def test_experiment_unknown_id_lists_the_known_ones(rejects):
    msg = rejects("experiment", SAMPLE, *_with(COMMANDS["experiment"], "--id", "no-such-test"))
    assert "no-such-test" in msg and "reactivation-2026-03" in msg


@pytest.mark.parametrize("flag, value", [
    ("--alpha", "0"), ("--alpha", "1.5"), ("--conversion-window-days", "0"), ("--retention-window-days", "-1"),
    ("--control", "no-such-variant"), ("--campaign-cost", "-100"), ("--margin", "-0.5"),
])
def test_experiment_bad_parameters(rejects, flag, value):
    rejects("experiment", SAMPLE, *COMMANDS["experiment"], flag, value)


def test_experiment_without_assignments_table(rejects, tmp_path):
    d = tmp_path / "no-assignments"
    d.mkdir()
    (d / "transactions.csv").write_text("customer_id,timestamp,amount\nc1,2026-01-01,12.50\n")
    rejects("experiment", str(d), *COMMANDS["experiment"], expect="assignments")


# --- report: every bad input fails before anything is rendered ----------------------------------------
REPORT = ["report", "--data", SAMPLE, "--out", "{tmp}/reports", "--quiet"]


@pytest.mark.parametrize("period", ["2026-13", "2026-1", "oct-2026", "2026-10-01"])
def test_report_bad_period(rejects, period):
    rejects(*REPORT, "--period", period, expect="--period")


def test_report_period_after_the_data(rejects):
    rejects(*REPORT, "--period", "2026-12", expect="not complete")


def test_report_period_before_the_data(rejects):
    rejects(*REPORT, "--period", "2019-01")


def test_report_missing_data(rejects):
    rejects("report", "--data", "{tmp}/no-such-data", "--out", "{tmp}/reports", "--quiet", expect="no-such-data")


def test_report_broken_data(rejects, broken):
    rejects("report", "--data", broken, "--out", "{tmp}/reports", "--quiet", expect="transactions.amount")


@pytest.mark.parametrize("param, expect", [
    ("unknown=1", "unknown"), ("customer_base.unknown=1", "unknown"), ("no_equals_sign", "NAME=VALUE"),
    ("nosuchnotebook.as_of=1", "nosuchnotebook"), ("nosuchnotebook.n_clusters=3", "nosuchnotebook"),
    ("inactivity_days=0", "inactivity_days"),
    # values the notebook would reject: bad input (exit 2 before rendering), not a failed notebook (exit 1)
    ("clv.horizon_months=0", "horizon_months"), ("horizon_months=twelve", "horizon_months"),
    ("horizon_months=12.5", "horizon_months"), ("discount_rate=-0.1", "discount_rate"),
    ("p_alive_threshold=2", "p_alive_threshold"), ("n_clusters=1", "n_clusters"), ("n_clusters=abc", "n_clusters"),
    ("value_basis=margin", "value_basis"), ("group_by=shoe_size", "group_by"),
])
def test_report_bad_param(rejects, param, expect):
    rejects(*REPORT, "--period", "2026-10", "--param", param, expect=expect)


def test_report_unknown_experiment(rejects):
    rejects(*REPORT, "--experiment", "no-such-test", expect="no-such-test")


@pytest.mark.parametrize("jobs", ["0", "-2"])
def test_report_jobs_must_be_positive(rejects, jobs):
    rejects(*REPORT, "--period", "2026-10", "--jobs", jobs, expect="--jobs")


def test_report_out_is_a_file(rejects, tmp_path):
    (tmp_path / "reports").write_text("not a folder\n")
    rejects("report", "--data", SAMPLE, "--out", "{tmp}/reports", "--quiet", "--period", "2026-10", expect="--out")


def test_report_unknown_language_is_argparse_error(argparse_rejects):
    argparse_rejects(*REPORT, "--lang", "xx", expect="--lang")


def test_notebook_failure_keeps_its_own_exit_code():
    """A failing notebook is not bad input: exit 1, so schedulers can tell the two apart."""
    from analysis.errors import KantaError
    from analysis.report import NotebookFailed

    assert issubclass(NotebookFailed, KantaError) and NotebookFailed.exit_code == 1 and KantaError.exit_code == 2


# --- a real process: no traceback reaches the terminal -------------------------------------------------
@pytest.mark.parametrize("args", [
    ["validate", "{broken}"],
    ["clv", SAMPLE, "--as-of", AS_OF, "--out", "{tmp}/clv.csv", "--horizon-months", "0"],
    ["segments", SAMPLE, "--as-of", AS_OF, "--out", "{tmp}/seg.csv", "--n-clusters", "abc"],
    ["report", "--data", SAMPLE, "--out", "{tmp}/reports", "--period", "2026-13", "--quiet"],
], ids=["validate", "clv", "segments", "report"])
def test_real_process_prints_one_line_and_no_traceback(tmp_path, broken, args):
    before = _tree(tmp_path)
    argv = [a.replace("{tmp}", str(tmp_path)).replace("{broken}", broken) for a in args]
    p = subprocess.run([sys.executable, "-m", "analysis.cli", *argv], capture_output=True, text=True, cwd=tmp_path)
    assert p.returncode == 2 and "Traceback" not in p.stderr and p.stdout == ""
    assert p.stderr.startswith("kanta: ") and p.stderr.count("\n") == 1, p.stderr
    assert _tree(tmp_path) == before


# --- hostile and realistic inputs (issue 11): one sentence, exit 2, nothing written -------------------
EXPORTS = ROOT / "tests" / "exports"
HOSTILE = {  # what it protects against -> transactions.csv
    "nan_amount": "customer_id,timestamp,amount\nc1,2026-01-01,1\nc2,2026-01-02,NaN\n",
    "infinite_amount": "customer_id,timestamp,amount\nc1,2026-01-01,1\nc2,2026-01-02,-Infinity\n",
    "null_word_customer_id": "customer_id,timestamp,amount\nc1,2026-01-01,1\nNULL,2026-01-02,2\n",
    "epoch_timestamp": "customer_id,timestamp,amount\nc1,2026-01-01,1\nc2,epoch,2\n",
    "blank_header": "customer_id,,timestamp,amount\nc1,x,2026-01-01,1\n",
}


@pytest.mark.parametrize("case", HOSTILE)
@pytest.mark.parametrize("command", COMMANDS)
def test_hostile_values_are_refused_by_every_command(rejects, tmp_path, command, case):
    d = tmp_path / "hostile"
    d.mkdir()
    (d / "transactions.csv").write_text(HOSTILE[case])
    rejects(command, str(d), *COMMANDS[command], expect="transactions")


@pytest.mark.parametrize("command", COMMANDS)
def test_source_definition_that_writes_is_refused_by_every_command(rejects, tmp_path, command):
    sql = tmp_path / "kanta.sql"
    sql.write_text(f"CREATE VIEW transactions AS SELECT * FROM read_csv('{SAMPLE}/transactions.csv');\n"
                   f"COPY transactions TO '{tmp_path}/stolen.csv';\n")
    rejects(command, str(sql), *COMMANDS[command], expect="kanta.sql line 2")


def test_ids_matching_only_after_normalisation_are_refused(rejects, tmp_path):
    d = tmp_path / "ids"
    d.mkdir()
    (d / "transactions.csv").write_text("customer_id,timestamp,amount\n00042,2026-01-01,1\n")
    (d / "customers.csv").write_text("customer_id,signup_date\n42,2025-01-01\n")
    rejects("validate", str(d), "--as-of", AS_OF, expect="'00042' vs '42'")


def test_validate_suggests_a_source_definition_for_an_export(rejects, tmp_path):
    d = tmp_path / "export"
    d.mkdir()
    (d / "transactions.csv").write_text((EXPORTS / "retail" / "lines.csv").read_text())
    rejects("validate", str(d), expect="CREATE VIEW transactions AS SELECT CustomerID AS customer_id")


@pytest.mark.parametrize("example", ["retail", "finnish_excel"])
def test_validate_accepts_a_source_definition(run_cli, example):
    code, out, err = run_cli("validate", EXPORTS / example / "kanta.sql")
    assert code == 0 and err == "" and "valid" in out.splitlines()[0]


def test_customers_with_a_crafted_column_name_writes_only_the_table(run_cli, tmp_path):
    d = tmp_path / "src"
    d.mkdir()
    (d / "transactions.csv").write_text("customer_id,timestamp,amount\nc1,2026-01-01,1\n")
    header = f"x\"\" FROM customers; COPY (SELECT 1) TO '{tmp_path}/pwned.csv'; --"
    (d / "customers.csv").write_text(f'customer_id,signup_date,"{header}"\nc1,2025-01-01,a\n')
    before = _tree(tmp_path)
    code, out, err = run_cli("customers", d, "--as-of", "2026-01-01", "--out", tmp_path / "table.csv")
    assert code == 0 and _tree(tmp_path) == before | {"table.csv"}
