"""``kanta churn``: the command line of :mod:`analysis.survival` (moving here from that module)."""
from __future__ import annotations


def add_cli(subparsers) -> None:
    from analysis.survival import add_cli as register

    register(subparsers)
