"""``kanta retention``: cohorts by signup period, survivors and the sBG fit per cohort and for the base (:mod:`analysis.clv.retention`)."""
from __future__ import annotations

from analysis.cli.arguments import add_as_of, add_source


def _cmd_retention(args) -> int:
    from pathlib import Path

    from analysis.clv import retention
    from analysis.data import write_json
    from analysis.errors import ParameterError

    if not args.out.endswith(".json") or not Path(args.out).resolve().parent.is_dir():
        raise ParameterError(f"--out: got {args.out!r}, expected a .json file in an existing folder.")
    if args.discount_rate is not None and not 0 < args.discount_rate < 1:
        raise ParameterError(f"--discount-rate: got {args.discount_rate}, expected a rate per period in (0, 1).")
    result = retention.analyse_retention(args.source, args.as_of, args.period, args.projected_periods,
                                         args.discount_rate, cohort_by=args.cohort_by)
    write_json(result.to_dict(), args.out)
    fit = result.base.fit
    fitted = sum(c.fit is not None for c in result.cohorts)
    head = (f"sBG alpha {fit.alpha:.3g}, beta {fit.beta:.3g}" if fit is not None
            else f"no sBG fit for the base ({result.base.finding.reason})")
    print(f"{result.base.customers} subscribers in {len(result.cohorts)} {args.cohort_by or args.period} cohorts ({fitted} fitted), "
          f"{head} -> {args.out}")
    return 0


def add_cli(subparsers) -> None:
    """Register ``kanta retention SOURCE --as-of DATE --period year|month --out FILE.json``."""
    p = subparsers.add_parser("retention", help="contractual retention: survivors by signup cohort, sBG fit, "
                                                "projected survival and residual lifetime")
    add_source(p)
    add_as_of(p)
    p.add_argument("--period", choices=["year", "month"], default="year",
                   help="length of one period of the contract (cohorts by signup period; default year)")
    p.add_argument("--cohort-by", choices=["year", "month"], default=None,
                   help="length of the signup cohorts (default: the period; year groups monthly contracts by "
                        "signup year, as the report's retention page)")
    p.add_argument("--out", required=True, help="output file (.json)")
    p.add_argument("--projected-periods", type=int, default=5,
                   help="periods projected after the last one observed (at least 5; default 5)")
    p.add_argument("--discount-rate", type=float, default=None,
                   help="discount rate per period for the residual lifetime (default 10%% a year)")
    p.set_defaults(func=_cmd_retention)
