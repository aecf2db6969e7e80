"""The README's promises that code can check: the data contract's tables and the commands' flags.

The README is what operators and analysts read first; these tests keep it from drifting from the code.
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path

from analysis.cli import build_parser
from analysis.data.contract import REQUIRED, TABLES

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def _table_rows(header: str) -> list[list[str]]:
    """The rows of the markdown table that follows the line ``header``."""
    lines = README[README.index(header):].splitlines()[2:]
    rows = []
    for line in lines:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip("|").split(" | ")])
    return rows


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def test_data_contract_table_names_exactly_the_required_columns():
    rows = {re.sub(r"`", "", r[0]): r for r in _table_rows("| table | required columns | optional columns |")}
    assert set(rows) == set(TABLES)
    for table, row in rows.items():
        named = re.findall(r"`([a-z_]+)`", re.sub(r"\([^)]*\)", "", row[1]))
        assert tuple(named) == REQUIRED[table], table


def test_every_command_and_flag_in_the_readme_exists():
    commands = _subcommands()
    rows = _table_rows("| command | what it does |")
    assert rows, "the README's command table"
    seen = set()
    for row in rows:
        usage = row[0].strip("`")
        words = usage.split()
        assert words[0] == "kanta", usage
        if words[1].startswith("--"):  # kanta --version
            assert words[1] in build_parser()._option_string_actions, usage
            continue
        name = words[1]
        assert name in commands, f"README names `kanta {name}`, which does not exist"
        seen.add(name)
        known = commands[name]._option_string_actions
        for flag in re.findall(r"(--[a-z][a-z0-9-]*)", usage):
            assert flag in known, f"README: `kanta {name} {flag}` is not a flag of the command"
    assert seen == set(commands), f"commands missing from the README table: {sorted(set(commands) - seen)}"
