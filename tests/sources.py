"""Tiny CSV sources written by tests: the contract's tables as text, one file each."""
from __future__ import annotations

from pathlib import Path


def write_source(folder: Path, transactions: str | None, customers: str | None = None,
                 assignments: str | None = None, encoding: str = "utf-8") -> Path:
    """Write the given tables as CSV files into ``folder`` (created when missing) and return it."""
    folder.mkdir(parents=True, exist_ok=True)
    if transactions is not None:
        (folder / "transactions.csv").write_bytes(transactions.encode(encoding))
    if customers is not None:
        (folder / "customers.csv").write_text(customers, encoding="utf-8")
    if assignments is not None:
        (folder / "assignments.csv").write_text(assignments, encoding="utf-8")
    return folder
