"""The kanta command: exit 0 on good input, 2 with one line and no output on bad input."""
from __future__ import annotations

import subprocess
import sys

import pandas as pd


def test_validate_good_source_exits_0(run_cli, sample_dir):
    code, out, err = run_cli("validate", sample_dir, "--as-of", "2026-10-31")
    assert code == 0 and "valid" in out and err == ""


def test_validate_bad_source_exits_2_with_one_line(run_cli, tmp_path):
    (tmp_path / "transactions.csv").write_text("customer_id,timestamp,amount\nc1,2024-01-01,abc\n")
    code, out, err = run_cli("validate", tmp_path)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("kanta: transactions.amount:")


def test_bad_input_from_a_real_process_has_no_traceback(tmp_path):
    (tmp_path / "transactions.csv").write_text("customer_id;timestamp;amount\nc1;2024-01-01;1\n")
    out = tmp_path / "customers.csv"
    p = subprocess.run([sys.executable, "-m", "analysis.cli", "customers", str(tmp_path), "--as-of", "2024-01-31",
                        "--out", str(out)], capture_output=True, text=True)
    assert p.returncode == 2 and "Traceback" not in p.stderr and "semicolon-separated" in p.stderr
    assert not out.exists()


def test_customers_command_writes_lifetimes_columns(run_cli, sample_dir, tmp_path):
    out = tmp_path / "table.parquet"
    code, stdout, _ = run_cli("customers", sample_dir, "--as-of", "2026-10-31", "--out", out)
    assert code == 0 and out.exists()
    table = pd.read_parquet(out)
    assert {"customer_id", "frequency", "recency", "T", "monetary_value"} <= set(table.columns)
    assert table["customer_id"].is_unique and not {"name", "email", "phone"} & set(table.columns)


def test_customers_command_bad_date_writes_nothing(run_cli, sample_dir, tmp_path):
    out = tmp_path / "table.csv"
    code, _, err = run_cli("customers", sample_dir, "--as-of", "31.10.2026x", "--out", out)
    assert code == 2 and "as_of" in err and not out.exists()


def test_customers_command_bad_out_extension(run_cli, sample_dir, tmp_path):
    code, _, err = run_cli("customers", sample_dir, "--as-of", "2026-10-31", "--out", tmp_path / "t.xlsx")
    assert code == 2 and ".csv or .parquet" in err and not (tmp_path / "t.xlsx").exists()
