"""``kanta churn``: the "due next month" list or the duration / event table (:mod:`analysis.churn`)."""
from __future__ import annotations

import argparse

from analysis.cli.arguments import add_as_of, add_source


def _cmd_churn(args) -> int:
    from analysis import churn
    from analysis.data import check_output_path, write_table
    from analysis.errors import ParameterError

    check_output_path(args.out)  # before the work, not after it
    if args.top is not None and args.top < 1:
        raise ParameterError(f"--top: got {args.top}, expected a whole number of customers >= 1.")
    out = churn.export_table(args.source, args.as_of, args.table, inactivity_days=args.inactivity_days,
                             top=args.top, use_clv=args.value_basis == "clv")
    n, as_of = out.attrs["inactivity_days"], out.attrs["as_of"]
    if args.table == "durations":
        msg = f"{len(out)} customers, {int(out['churned'].sum())} churned"
    else:
        msg = f"{len(out)} customers due to churn next month (silent for {n - 30}-{n - 1} days)"
    out.attrs = {}
    write_table(out, args.out)
    rule = f"no purchase for {n} days" if n else "contract end date"  # n is None for contractual data
    print(f"{msg} (churn = {rule}, as of {as_of.date()}) -> {args.out}")
    return 0


def add_cli(subparsers) -> None:
    """Register ``kanta churn SOURCE --as-of DATE --out FILE [--inactivity-days N]``."""
    p = subparsers.add_parser("churn", help="churn risk list (default) or duration/event table of every customer")
    add_source(p)
    add_as_of(p)
    p.add_argument("--out", required=True, help="output file (.csv or .parquet)")
    p.add_argument("--inactivity-days", type=int, default=None,
                   help="churned after this many days without a purchase (default: 95th percentile of "
                        "gaps between purchases, rounded up to 30 days)")
    p.add_argument("--table", choices=["risk", "durations"], default="risk",
                   help="risk: customers likely to churn next month by expected value lost; durations: "
                        "one row per customer with duration_days and churned (censored at as-of)")
    p.add_argument("--top", type=int, default=None, help="keep only the first N rows of the risk list")
    p.add_argument("--value-basis", choices=["clv", "spend"], default="clv",
                   help="value of a customer on the risk list: clv (the month's CLV, margin when the data has it; "
                        "default) or spend (last 365 days)")
    p.add_argument("--no-clv", dest="value_basis", action="store_const", const="spend",
                   help=argparse.SUPPRESS)  # the 0.2 spelling of --value-basis spend
    p.set_defaults(func=_cmd_churn)
