"""``kanta clv``: fit a purchase model + Gamma-Gamma and write P(alive) and CLV per customer (:mod:`analysis.clv`)."""
from __future__ import annotations

from pathlib import Path

from analysis.cli.arguments import add_as_of, add_source

#: Columns of the per-customer output file, in order.
OUTPUT_COLUMNS = ["customer_id", "p_alive", "expected_purchases", "expected_avg_value", "clv", "clv_if_alive",
                  "frequency", "recency", "T", "monetary_value"]
MODEL_FLAGS = ("bgnbd", "mbgnbd", "pareto-nbd", "auto")


def _check_params_out(path: str | None) -> None:
    from analysis.errors import ParameterError

    if path is None:
        return
    if not path.endswith(".json"):
        raise ParameterError(f"--params-out: got {path!r}, expected a file name ending in .json.")
    if not Path(path).resolve().parent.is_dir():
        raise ParameterError(f"--params-out: folder {Path(path).parent} does not exist.")


def _cmd_clv(args) -> int:
    if getattr(args, "covariates", None):
        from analysis.cli.clv_covariates import run_covariates  # local: the covariate path, loaded only when asked

        return run_covariates(args)
    import sys

    from analysis import clv
    from analysis import data
    from analysis.errors import ModelError

    data.check_output_path(args.out)  # every check before the work, so bad input writes nothing
    _check_params_out(args.params_out)
    clv.check_horizon(args.horizon_months, args.discount_rate, args.days_per_month)
    src = data.load_source(args.source, as_of=args.as_of)
    table = clv.as_table(src, src.as_of, args.freq)
    try:
        result = clv.analyse(table, src.as_of, args.horizon_months, args.discount_rate, args.days_per_month,
                             args.freq, model=args.model.replace("-", "_"), holdout=src)
    except ModelError as exc:  # valid data, no model: the file says so with empty values, never a silent 1
        out = table.reindex(columns=OUTPUT_COLUMNS)
        for c in ("p_alive", "expected_purchases", "expected_avg_value", "clv", "clv_if_alive"):
            out[c] = float("nan")
        data.write_table(out, args.out)
        if args.params_out:
            data.write_json({"time_unit": args.freq, "model": None,
                             "finding": {"reason": exc.reason, "facts": dict(exc.facts or {}), "detail": str(exc)}},
                            args.params_out)
        print(f"kanta: no P(alive) or CLV ({exc.reason}): {exc}", file=sys.stderr)
        print(f"{len(out)} customers, P(alive) and CLV left empty -> {args.out}")
        return 0
    data.write_table(result.values[OUTPUT_COLUMNS], args.out)
    if args.params_out:
        data.write_json(result.parameters(), args.params_out)
    choice = result.model.choice_
    print(f"{len(result.values)} customers, customer equity {result.values['clv'].sum():,.0f} "
          f"over {args.horizon_months} months, model {choice['model']} ({choice['criterion']}) -> {args.out}")
    return 0


def add_cli(subparsers) -> None:
    """Register ``kanta clv``."""
    from analysis.units import DAYS_PER_MONTH, UNIT_DAYS

    p = subparsers.add_parser("clv", help="fit a purchase model + Gamma-Gamma and write P(alive) and CLV per customer")
    add_source(p)
    add_as_of(p)
    p.add_argument("--model", choices=MODEL_FLAGS, default="auto",
                   help="purchase model; auto fits all and picks by holdout error, else BIC (default auto)")
    p.add_argument("--horizon-months", type=int, default=12, help="CLV horizon in months (default 12)")
    p.add_argument("--discount-rate", type=float, default=0.01, help="monthly discount rate (default 0.01)")
    p.add_argument("--days-per-month", type=float, default=DAYS_PER_MONTH,
                   help=f"days in one month of the horizon (default {DAYS_PER_MONTH})")
    p.add_argument("--freq", choices=list(UNIT_DAYS), default="D", help="time unit of the model fit (default D)")
    p.add_argument("--out", required=True, help="output file (.csv or .parquet)")
    p.add_argument("--params-out", default=None, help="write fitted parameters to this JSON file")
    p.add_argument("--covariates", default=None, metavar="COLS",
                   help="customers columns (comma-separated) on the purchase and drop-out rates; needs --model "
                        "pareto-nbd or bgnbd; the params JSON gets their effects as rate multipliers")
    p.add_argument("--l2", type=float, default=0.0,
                   help="L2 penalty on the covariate coefficients (as CLVTools' reg.lambdas; default 0 = none)")
    p.set_defaults(func=_cmd_clv)
