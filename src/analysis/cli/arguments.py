"""Arguments several commands share, said once: the source, the analysis date, an output table."""
from __future__ import annotations

import argparse


def add_source(p: argparse.ArgumentParser, help: str | None = None) -> None:
    p.add_argument("source", help=help or "data source: a directory of CSV/Parquet files or a DuckDB database file")


def add_as_of(p: argparse.ArgumentParser) -> None:
    p.add_argument("--as-of", required=True, help="analysis date YYYY-MM-DD (transactions on that day count)")
