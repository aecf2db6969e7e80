"""``kanta report``: the command line of :mod:`analysis.report` (moving here from that module)."""
from __future__ import annotations


def add_cli(subparsers) -> None:
    from analysis.report import add_cli as register

    register(subparsers)
