"""The ``kanta`` command: thin argument parsing over the package's functions.

Every subcommand lives in its own module of this package and only parses, calls and prints one
line. A :class:`~analysis.errors.KantaError` becomes one line on stderr and its exit code (2 for
bad input), so operators and schedulers never see a traceback for bad input. Heavy libraries are
imported inside the handlers to keep start-up fast.
"""
from __future__ import annotations

import argparse
import sys

from analysis import __version__
from analysis.cli import churn, clv, contacts, experiments, foundation, report, retention, segments
from analysis.cli.arguments import apply_allowed_paths, apply_timezone
from analysis.errors import KantaError

#: Command modules in the order their commands appear in ``kanta --help``.
COMMANDS = (foundation, clv, retention, churn, segments, experiments, contacts, report)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kanta", description="Kanta: customer-base analytics for CRM teams.")
    parser.add_argument("--version", action="version", version=f"kanta {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        module.add_cli(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        apply_timezone(args)
        apply_allowed_paths(args)
        return int(args.func(args) or 0)
    except KantaError as exc:
        print(f"kanta: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
