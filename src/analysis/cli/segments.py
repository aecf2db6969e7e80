"""``kanta segments``: the command line of :mod:`analysis.segments` (moving here from that module)."""
from __future__ import annotations


def add_cli(subparsers) -> None:
    from analysis.segments import add_cli as register

    register(subparsers)
