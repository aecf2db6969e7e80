"""``kanta clv``: the command line of :mod:`analysis.clv` (moving here from that module)."""
from __future__ import annotations


def add_cli(subparsers) -> None:
    from analysis.clv import add_cli as register

    register(subparsers)
