"""A PostgreSQL source gives the numbers of the same data as CSV files.

A real server (Debian's ``postgresql`` package, installed by ``make test`` when missing) runs as
an unprivileged user in a temporary folder on a free port; the sample is loaded with COPY.
"""
from __future__ import annotations

import json
import os
import pickle
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from analysis.cli import main as kanta
from analysis.data import DatabaseURL, load_database
from analysis.errors import DataError, ParameterError
from report_month import PERIOD, SAMPLE, rendered_month

SECRET = "Sekret-pw-4711"
COLUMNS = {
    "transactions": "transaction_id text, customer_id text, timestamp timestamp, amount numeric(12,2), "
                    "channel text, category text, margin numeric(12,2)",
    "customers": "customer_id text, signup_date date, name text, email text, phone text, region text, "
                 "age_band text, acquisition_channel text, marketing_permission boolean",
    "assignments": "experiment_id text, customer_id text, variant text, assigned_at timestamp, is_control boolean, "
                   "planned_share double precision, pre_period_spend numeric",
    "contacts": "contact_id text, customer_id text, timestamp timestamp, direction text, channel text, type text, "
                "resolved_at timestamp, outcome text, satisfaction double precision, satisfaction_scale text, note text",
}


def _server_binaries() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    return found[-1].parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def postgres():
    """A running server holding the sample in schema ``crm``; yields its URL (no password: trust on localhost).

    Role ``analyst`` (password :data:`SECRET`, read-only on ``crm``) must give its password: scram-sha-256.
    """
    bin_dir = _server_binaries()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries not found in /usr/lib/postgresql/*/bin "
                    "(`make test` installs Debian's postgresql package when run as root)")
    folder = Path(tempfile.mkdtemp(prefix="kanta-pg-"))  # not under pytest's 0700 folders: the server user reads it
    run_as = {}
    if os.geteuid() == 0:  # initdb refuses root: the server runs as nobody
        nobody = pwd.getpwnam("nobody")
        os.chown(folder, nobody.pw_uid, nobody.pw_gid)
        run_as = {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}
    port = _free_port()
    data = folder / "data"

    def server(*args):
        subprocess.run([str(bin_dir / args[0]), *args[1:]], check=True, capture_output=True, cwd=folder, **run_as)

    server("initdb", "-D", str(data), "-A", "trust", "-U", "kanta", "-E", "UTF8", "--no-sync")
    hba = data / "pg_hba.conf"  # first matching line wins: analyst needs its password, everyone else is trusted
    hba.write_text(f"host all analyst 127.0.0.1/32 scram-sha-256\n{hba.read_text()}")
    server("pg_ctl", "-D", str(data), "-l", str(folder / "server.log"), "-w", "start",
           "-o", f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off")
    try:
        script = ["CREATE DATABASE crm;", r"\connect crm", "CREATE SCHEMA crm;"]
        for table, columns in COLUMNS.items():
            script += [f"CREATE TABLE crm.{table} ({columns});",
                       rf"\copy crm.{table} FROM '{SAMPLE / (table + '.csv')}' WITH (FORMAT csv, HEADER true)"]
        script += [f"CREATE ROLE analyst LOGIN PASSWORD '{SECRET}';", "GRANT USAGE ON SCHEMA crm TO analyst;",
                   "GRANT SELECT ON ALL TABLES IN SCHEMA crm TO analyst;"]
        subprocess.run([str(bin_dir / "psql"), "-h", "127.0.0.1", "-p", str(port), "-U", "kanta", "-d", "postgres",
                        "-v", "ON_ERROR_STOP=1", "-q"], input="\n".join(script), text=True, check=True,
                       capture_output=True)
        yield f"postgresql://kanta@127.0.0.1:{port}/crm?schema=crm"
    finally:
        server("pg_ctl", "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(folder, ignore_errors=True)


def _validate(run_cli, source) -> str:
    code, out, err = run_cli("validate", source, "--as-of", "2026-10-31")
    assert code == 0, err
    return out.split("\n", 1)[1]  # the first line names the source


def test_validate_from_postgresql_reads_the_same_rows_as_the_csv_sample(postgres, run_cli):
    assert _validate(run_cli, postgres) == _validate(run_cli, SAMPLE)


def test_report_from_postgresql_gives_the_numbers_of_the_csv_sample(postgres, tmp_path, tmp_path_factory, capsys,
                                                                    monkeypatch):
    monkeypatch.setenv("KANTA_PSEUDONYM_KEY", "a-long-random-test-secret")  # a database is never the demo data
    code = kanta(["report", "--period", PERIOD, "--data", postgres, "--out", str(tmp_path / "reports"), "--quiet"])
    assert code == 0, capsys.readouterr().err
    from_db = json.loads((tmp_path / "reports" / PERIOD / "manifest.json").read_text(encoding="utf-8"))
    monkeypatch.delenv("KANTA_PSEUDONYM_KEY")
    from_csv = json.loads((rendered_month(tmp_path_factory)["month_dir"] / "manifest.json").read_text(encoding="utf-8"))
    assert _numbers(from_db) == _numbers(from_csv)
    assert from_db["data"]["source"] == postgres and from_db["pseudonym_key"] == "secret"


def _numbers(manifest: dict) -> list[dict]:
    """The manifest's numbers, values to 9 significant digits: rows arrive in another order, so sums differ in the last bits."""
    return [{k: float(f"{v:.9g}") if isinstance(v, float) else v for k, v in n.items()} for n in manifest["numbers"]]


def test_password_never_appears_in_messages_summaries_or_pickles(postgres, run_cli):
    with_password = postgres.replace("kanta@", f"kanta:{SECRET}@")
    code, out, err = run_cli("validate", with_password, "--as-of", "2026-10-31")
    assert code == 0 and SECRET not in out + err
    src = load_database(with_password, as_of="2026-10-31")
    assert SECRET not in str(src.path) + repr(src.path) + src.summary()
    assert SECRET.encode() not in pickle.dumps(src.path)
    closed = with_password.replace(postgres.split(":")[2].split("/")[0], str(_free_port()))
    code, out, err = run_cli("validate", closed)
    assert code == 2 and "could not connect" in err and SECRET not in err and len(err.strip().splitlines()) == 1


def test_database_without_the_transactions_table_is_refused(postgres):
    with pytest.raises(DataError, match=r"has no table 'transactions' in schema 'public' \(found: none\)"):
        load_database(postgres.replace("?schema=crm", ""))


def test_fingerprint_follows_the_rows(postgres):
    a = load_database(postgres, as_of="2026-10-31")
    b = load_database(postgres, as_of="2026-09-30")
    assert a.fingerprint == b.fingerprint and len(a.fingerprint) == 64


def test_missing_driver_names_the_extra_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "adbc_driver_postgresql", None)
    monkeypatch.setitem(sys.modules, "adbc_driver_postgresql.dbapi", None)
    with pytest.raises(ParameterError, match=r"pip install 'kanta\[postgres\]'"):
        load_database("postgresql://kanta@localhost/crm")


def test_url_shown_without_its_password():
    url = DatabaseURL(f"postgres://ops:{SECRET}@db.example.com:5433/crm?sslmode=require&schema=sales")
    assert str(url) == "postgres://ops@db.example.com:5433/crm?sslmode=require&schema=sales"
    assert url.schema == "sales" and url.mask(f"bad password {SECRET}") == "bad password ***"
    assert SECRET not in str(DatabaseURL(f"postgresql:///crm?host=/run/pg&password={SECRET}"))


def _as_analyst(url: str, password: str | None = SECRET) -> str:
    return url.replace("kanta@", f"analyst:{password}@" if password else "analyst@")


def test_password_reaches_report_notebooks_only_through_their_environment(postgres, tmp_path, capsys, monkeypatch):
    """A month from a URL with a password: the notebook reads the database again, the password is nowhere.

    The CLV notebook alone (it reloads the source for its holdout check), to keep the test short.
    """
    from analysis.report import NOTEBOOKS, render_month

    monkeypatch.setenv("KANTA_PSEUDONYM_KEY", "a-long-random-test-secret")
    monkeypatch.delenv("PGPASSWORD", raising=False)
    with pytest.raises(DataError, match="could not connect"):  # the password is needed, so the notebook got it
        load_database(_as_analyst(postgres, password=None))
    out = tmp_path / "reports"
    month = render_month(PERIOD, data=_as_analyst(postgres), out=out, quiet=True,
                         specs=[s for s in NOTEBOOKS if s.name == "clv"])
    printed = capsys.readouterr()
    assert month.exit_code == 0, printed.err
    manifest = json.loads((out / PERIOD / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["data"]["source"] == _as_analyst(postgres, password=None)
    assert not [p for p in manifest.get("pages", []) if isinstance(p, dict) and p.get("status") == "degraded"]
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".html" for p in written)
    assert [p.name for p in written if SECRET.encode() in p.read_bytes()] == []
    assert SECRET not in printed.out + printed.err and "PGPASSWORD" not in os.environ


def test_notebook_kernel_gets_the_password_in_its_environment_not_its_parameters(postgres, tmp_path, monkeypatch):
    from analysis.data import child_environment
    from analysis.report.notebooks import execute_notebook

    monkeypatch.delenv("PGPASSWORD", raising=False)
    url = DatabaseURL(_as_analyst(postgres))
    nb = tmp_path / "read.ipynb"
    nb.write_text(json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {"kernelspec": {
        "name": "python3", "display_name": "Python 3", "language": "python"}}, "cells": [
        {"cell_type": "code", "id": "p", "metadata": {"tags": ["parameters"]}, "execution_count": None, "outputs": [],
         "source": "source = None\nas_of = None\nlanguage = 'en'"},
        {"cell_type": "code", "id": "r", "metadata": {}, "execution_count": None, "outputs": [],
         "source": "from analysis.data.databases import load_database\n"
                   "print(load_database(source, as_of=as_of).quality['customers'])"}]}), encoding="utf-8")
    assert child_environment(str(url)) == {"PGPASSWORD": SECRET}
    execute_notebook(nb, tmp_path / "out.ipynb", {"source": str(url), "as_of": "2026-10-31", "language": "en"},
                     progress=False)
    executed = (tmp_path / "out.ipynb").read_text(encoding="utf-8")
    assert SECRET not in executed and "2000" in executed.replace(",", "")
