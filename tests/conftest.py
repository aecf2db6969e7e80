"""Shared fixtures: the committed sample, lifetimes' CDNOW log as a Kanta source, and CLI runs."""
from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import pandas as pd
import pytest

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
SAMPLE_AS_OF = "2026-10-31"


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    return SAMPLE


@pytest.fixture(scope="session")
def sample_source():
    from analysis.data import load_source

    return load_source(SAMPLE, as_of=SAMPLE_AS_OF)


def cdnow_transactions(which: str = "sample") -> pd.DataFrame:
    """lifetimes' bundled CDNOW log (``sample`` = the 2,357-customer cohort) as contract columns."""
    import lifetimes

    path = Path(lifetimes.__file__).parent / "datasets" / f"CDNOW_{which}.txt"
    raw = pd.read_csv(path, sep=r"\s+", header=None, names=["master_id", "id", "date", "quantity", "amount"],
                      dtype={"date": str})
    return pd.DataFrame({
        "customer_id": raw["id"].astype(str),
        "timestamp": pd.to_datetime(raw["date"], format="%Y%m%d").dt.strftime("%Y-%m-%d"),
        "amount": raw["amount"],
    })


@pytest.fixture(scope="session")
def cdnow_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("cdnow")
    cdnow_transactions("sample").to_csv(d / "transactions.csv", index=False)
    return d


@pytest.fixture
def run_cli(capsys):
    """Run ``kanta ...`` in-process; returns (exit code, stdout, stderr)."""
    from analysis.cli import main

    def run(*args):
        code = main([str(a) for a in args])
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


@pytest.fixture(autouse=True)
def _no_pseudonym_key_leak(monkeypatch):
    monkeypatch.delenv("KANTA_PSEUDONYM_KEY", raising=False)
    os.environ.setdefault("MPLBACKEND", "Agg")
