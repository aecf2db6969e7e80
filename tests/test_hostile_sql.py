"""Hostile ``.sql`` source definitions: the sandbox (DuckDB's own controls plus an allow-list checked before any
view runs) refuses each one in one sentence naming the line and the function or file, and nothing is written,
read from outside or changed."""
from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest

from analysis.cli import main
from analysis.data import load_source
from analysis.data.sandbox import ALLOWED_PATHS_VARIABLE, TIME_LIMIT_VARIABLE
from analysis.errors import DataError
from sources import write_source

TX = "customer_id,timestamp,amount\nc1,2024-01-01,10\nc2,2024-01-02,20\n"
GOOD = "CREATE VIEW transactions AS SELECT * FROM read_csv('data/transactions.csv');\n"


def definition(folder: Path, *views: str) -> Path:
    write_source(folder / "data", TX)
    sql = folder / "kanta.sql"
    sql.write_text("".join(views), encoding="utf-8")
    return sql


def refusal(sql: Path) -> str:
    with pytest.raises(DataError) as exc:
        load_source(sql)
    msg = str(exc.value)
    assert "\n" not in msg and "Traceback" not in msg and msg.startswith("source: kanta.sql")
    return msg


def files_in(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.fixture
def outside(tmp_path) -> Path:
    """A folder beside the definition's, with a file a view must not read and a victim it must not overwrite."""
    d = tmp_path / "outside"
    write_source(d, TX)
    (d / "victim.json").write_text("precious\n")
    return d


def test_enable_profiling_to_a_file_is_refused_by_name_and_writes_nothing(tmp_path, outside):
    sql = definition(tmp_path / "src", GOOD.replace(
        "data/transactions.csv')", "data/transactions.csv') LEFT JOIN enable_profiling(format='json', "
        f"save_location='{outside}/victim.json') ON true"))
    msg = refusal(sql)
    assert "line 1" in msg and "enable_profiling" in msg
    assert (outside / "victim.json").read_text() == "precious\n"


def test_enable_logging_to_a_file_is_refused_by_name(tmp_path, outside):
    sql = definition(tmp_path / "src", "CREATE VIEW transactions AS\nSELECT t.* FROM read_csv('data/transactions.csv') t"
                     f", enable_logging(storage='file', storage_path='{outside}/log');\n")
    msg = refusal(sql)
    assert "line 2" in msg and "enable_logging" in msg
    assert not (outside / "log").exists()


@pytest.mark.parametrize("function", ["read_text", "read_blob"])
def test_proc_self_environ_is_refused_by_function_name(tmp_path, function, monkeypatch):
    monkeypatch.setenv("KANTA_PSEUDONYM_KEY", "secret-key-never-shown")
    sql = definition(tmp_path / "src", "CREATE VIEW transactions AS SELECT content AS customer_id, "
                     f"DATE '2024-01-01' AS timestamp, 1 AS amount FROM {function}('/proc/self/environ');\n")
    msg = refusal(sql)
    assert function in msg and "secret-key-never-shown" not in msg


@pytest.mark.parametrize("reader", ["read_csv('{p}', header=false, sep='|')", "read_csv_auto('{p}')", "'{p}'",
                                    "read_json('{p}')", "read_parquet('{p}')"])
@pytest.mark.parametrize("target", ["/etc/passwd", "/proc/self/environ"])
def test_files_outside_the_folder_are_refused_with_the_line(tmp_path, reader, target):
    sql = definition(tmp_path / "src", GOOD, "\nCREATE VIEW customers AS SELECT * FROM "
                     + reader.format(p=target) + ";\n")
    msg = refusal(sql)
    assert "line 3" in msg and "outside the folders" in msg and "root:" not in msg


def test_absolute_path_into_a_sibling_folder_is_refused(tmp_path, outside):
    sql = definition(tmp_path / "src", f"CREATE VIEW transactions AS SELECT * FROM read_csv('{outside}/transactions.csv');")
    assert "outside the folders" in refusal(sql)


@pytest.mark.parametrize("escape", ["../outside/transactions.csv", "data/../../outside/transactions.csv",
                                    "./../outside/*.csv", "../**/transactions.csv"])
def test_dot_dot_escapes_are_refused(tmp_path, outside, escape):
    sql = definition(tmp_path / "src", f"CREATE VIEW transactions AS SELECT * FROM read_csv('{escape}');")
    assert "outside the folders" in refusal(sql)


def test_symlink_out_of_the_folder_is_refused(tmp_path, outside):
    sql = definition(tmp_path / "src", "CREATE VIEW transactions AS SELECT * FROM read_csv('data/link.csv');")
    (tmp_path / "src" / "data" / "link.csv").symlink_to(outside / "transactions.csv")
    assert "outside the folders" in refusal(sql)


def test_symlink_inside_a_glob_is_refused(tmp_path, outside):
    sql = definition(tmp_path / "src", "CREATE VIEW transactions AS SELECT * FROM read_csv('data/*.csv');")
    (tmp_path / "src" / "data" / "zz.csv").symlink_to("/etc/passwd")
    assert "outside the folders" in refusal(sql)


def test_glob_function_and_other_table_functions_are_refused_by_name(tmp_path):
    for i, fn in enumerate(["glob('/etc/*')", "duckdb_settings()", "query('SELECT 1')", "sniff_csv('/etc/passwd')",
                            "pragma_version()", "duckdb_secrets()", "read_xlsx('x.xlsx')"]):
        sql = definition(tmp_path / f"s{i}", f"CREATE VIEW transactions AS SELECT * FROM {fn};")
        name = fn.split("(")[0]
        msg = refusal(sql)
        assert f"table function {name}" in msg and "line 1" in msg, msg


@pytest.mark.parametrize("call", ["getenv('HOME')", "current_setting('allowed_directories')"])
def test_scalar_functions_reading_the_process_are_refused(tmp_path, call):
    sql = definition(tmp_path / "src", f"CREATE VIEW transactions AS SELECT {call} AS customer_id, * "
                     "FROM read_csv('data/transactions.csv');")
    assert call.split("(")[0] in refusal(sql)


def test_file_name_built_from_expressions_is_refused(tmp_path):
    sql = definition(tmp_path / "src", "CREATE VIEW transactions AS SELECT * FROM read_csv('/etc' || '/passwd');")
    assert "not a plain string literal" in refusal(sql)


def test_remote_locations_are_refused(tmp_path):
    sql = definition(tmp_path / "src", "CREATE VIEW transactions AS SELECT * FROM read_csv('https://example.com/x.csv');")
    assert "remote location" in refusal(sql)


@pytest.mark.parametrize("statement", [
    "COPY (SELECT 1) TO '{tmp}/copied.csv'", "ATTACH '{tmp}/x.duckdb' AS x", "INSTALL httpfs", "LOAD httpfs",
    "SET enable_external_access = true", "PRAGMA enable_profiling", "SET profiling_output = '{tmp}/p.txt'",
    "CREATE MACRO m(x) AS x", "CREATE TABLE t AS SELECT 1", "EXPORT DATABASE '{tmp}/dump'",
    "CALL enable_logging(storage='file')", "RESET lock_configuration", "DETACH memory", "CHECKPOINT",
    "CREATE SECRET s (TYPE s3)", "USE memory", "BEGIN TRANSACTION",
])
def test_only_view_definitions_run(tmp_path, statement):
    sql = definition(tmp_path / "src", GOOD, "/* the second statement */ " + statement.format(tmp=tmp_path) + ";\n")
    before = files_in(tmp_path)
    msg = refusal(sql)
    assert "line 2" in msg and "only defines views" in msg
    assert files_in(tmp_path) == before


def test_comments_hiding_statements_do_not_hide_them(tmp_path):
    sql = definition(tmp_path / "src", "CREATE VIEW transactions AS SELECT * FROM read_csv('data/transactions.csv')"
                     " -- ; COPY x TO 'y'\n; /* ; */ COPY (SELECT 1) TO '" + str(tmp_path / "c.csv") + "';\n")
    assert "not allowed" in refusal(sql) and not (tmp_path / "c.csv").exists()


def test_quoted_identifiers_do_not_hide_a_table_function(tmp_path):
    sql = definition(tmp_path / "src", "CREATE VIEW \"transactions\" AS SELECT * FROM \"read_text\"('/etc/passwd');")
    assert "table function read_text" in refusal(sql)
    sql = definition(tmp_path / "s2", "CREATE VIEW transactions AS SELECT * FROM system.main.read_text('/etc/passwd');")
    assert "table function read_text" in refusal(sql)


def test_table_function_in_a_cte_or_subquery_is_found(tmp_path):
    sql = definition(tmp_path / "src", "CREATE VIEW transactions AS WITH x AS (SELECT * FROM read_text('/etc/passwd'))"
                     "\nSELECT * FROM read_csv('data/transactions.csv') WHERE customer_id IN (SELECT content FROM x);")
    assert "read_text" in refusal(sql)


def test_recursive_cte_bomb_is_stopped_by_the_time_budget_naming_the_view(tmp_path, monkeypatch):
    monkeypatch.setenv(TIME_LIMIT_VARIABLE, "1")
    sql = definition(tmp_path / "src", "CREATE VIEW transactions AS WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL "
                     "SELECT n + 1 FROM r) SELECT 'c' || n AS customer_id, DATE '2024-01-01' AS timestamp, "
                     "1.0 AS amount FROM r;")
    msg = refusal(sql)
    assert "view transactions did not finish within the time budget of 1 s" in msg and TIME_LIMIT_VARIABLE in msg


def test_cross_join_explosion_is_stopped_by_the_time_budget_naming_the_view(tmp_path, monkeypatch):
    monkeypatch.setenv(TIME_LIMIT_VARIABLE, "1")
    sql = definition(tmp_path / "src", GOOD, "CREATE VIEW customers AS SELECT 'c' || a.range AS customer_id, "
                     "DATE '2023-01-01' AS signup_date FROM range(1000000) a, range(1000000) b;\n")
    assert "view customers did not finish within the time budget" in refusal(sql)


def test_memory_bomb_is_stopped_by_the_memory_limit_naming_the_view(tmp_path):
    sql = definition(tmp_path / "src", "CREATE VIEW transactions AS SELECT 'c' || (range % 3) AS customer_id, "
                     "DATE '2024-01-01' AS timestamp, length(string_agg(repeat('x', 1000), ',') OVER ()) AS amount "
                     "FROM range(2000000);")
    with pytest.raises(DataError) as exc:
        load_source(sql, memory_limit="64MB")
    msg = str(exc.value)
    assert "view transactions" in msg and ("memory limit" in msg or "could not be read" in msg), msg


def test_relative_paths_still_resolve_against_the_definitions_folder(tmp_path, monkeypatch):
    sql = definition(tmp_path / "src", "CREATE VIEW transactions AS SELECT * FROM 'data/transactions.csv';")
    monkeypatch.chdir(tmp_path)
    assert load_source(sql).quality["transactions"] == 2


def test_allowed_paths_variable_opens_a_named_folder(tmp_path, outside, monkeypatch):
    sql = definition(tmp_path / "src", f"CREATE VIEW transactions AS SELECT * FROM read_csv('{outside}/transactions.csv');")
    assert "outside the folders" in refusal(sql)
    monkeypatch.setenv(ALLOWED_PATHS_VARIABLE, str(outside))
    assert load_source(sql).quality["transactions"] == 2


def test_allow_path_option_opens_a_named_folder_for_every_command(tmp_path, outside, monkeypatch, capsys):
    monkeypatch.delenv(ALLOWED_PATHS_VARIABLE, raising=False)
    sql = definition(tmp_path / "src", f"CREATE VIEW transactions AS SELECT * FROM read_csv('{outside}/transactions.csv');")
    assert main(["validate", str(sql)]) == 2
    assert "--allow-path" in capsys.readouterr().err
    assert main(["validate", str(sql), "--allow-path", str(outside)]) == 0
    assert str(outside) in os.environ[ALLOWED_PATHS_VARIABLE]


def test_allow_path_that_is_not_a_folder_is_one_sentence(tmp_path, capsys):
    sql = definition(tmp_path / "src", GOOD)
    assert main(["validate", str(sql), "--allow-path", str(tmp_path / "nowhere")]) == 2
    assert "--allow-path" in capsys.readouterr().err


def test_configuration_is_locked_after_the_load(tmp_path):
    src = load_source(definition(tmp_path / "src", GOOD))
    assert src.sandboxed
    for setting in ("SET enable_external_access = true", "SET allowed_directories = ['/']",
                    "SET memory_limit = '100GB'", "SET lock_configuration = false"):
        with pytest.raises(duckdb.Error):
            src.con.execute(setting)
    with pytest.raises(duckdb.Error):
        src.con.execute("SELECT * FROM read_text('/etc/passwd')").fetchall()
    assert src.con.execute("SELECT current_setting('max_execution_time')").fetchone()[0] == 0


def test_customers_out_is_written_from_a_sandboxed_source(tmp_path):
    sql = definition(tmp_path / "src", GOOD)
    out = tmp_path / "elsewhere" / "customers.csv"
    out.parent.mkdir()
    assert main(["customers", str(sql), "--as-of", "2024-01-31", "--out", str(out)]) == 0
    assert out.read_text().splitlines()[0].startswith("customer_id")
    assert main(["customers", str(sql), "--as-of", "2024-01-31", "--out", str(out.with_suffix(".parquet"))]) == 0
