"""``kanta experiment``: the command line of :mod:`analysis.experiments` (moving here from that module)."""
from __future__ import annotations


def add_cli(subparsers) -> None:
    from analysis.experiments import add_cli as register

    register(subparsers)
