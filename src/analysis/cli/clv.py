"""``kanta clv``: fit a purchase model + Gamma-Gamma and write P(alive) and CLV per customer (:mod:`analysis.clv`).

The fit and the margin basis are the monthly report's own step (:mod:`analysis.base.value`), with the
report's defaults (:class:`analysis.base.BaseSettings`), so the file's sum of ``clv`` is the report's
customer equity for the same source and date.
"""
from __future__ import annotations

from pathlib import Path

from analysis.cli.arguments import add_as_of, add_source

#: Columns of the per-customer output file, in order (``clv_sales`` follows when the values are margin).
OUTPUT_COLUMNS = ["customer_id", "pseudonym", "p_alive", "expected_purchases", "expected_avg_value", "clv",
                  "clv_if_alive", "frequency", "recency", "T", "monetary_value"]
#: The tables customer value reads (the contacts, experiments and campaigns are neither loaded nor checked).
VALUE_TABLES = ("transactions", "customers")
MODEL_FLAGS = ("bgnbd", "mbgnbd", "pareto-nbd", "nbd", "auto", "bgbb")


def _check_params_out(path: str | None) -> None:
    from analysis.errors import ParameterError

    if path is None:
        return
    if not path.endswith(".json"):
        raise ParameterError(f"--params-out: got {path!r}, expected a file name ending in .json.")
    if not Path(path).resolve().parent.is_dir():
        raise ParameterError(f"--params-out: folder {Path(path).parent} does not exist.")


def _json_candidates(records) -> list:
    keys = ("model", "n_params", "log_likelihood", "bic", "aic", "holdout_mae", "holdout_aggregate_error", "boundary",
            "boundary_detail", "lr_statistic", "lr_p_value", "eligible", "reason", "params")
    return [{k: r.get(k) for k in keys} for r in records]


def _cmd_clv(args) -> int:
    if getattr(args, "covariates", None):
        from analysis.cli.clv_covariates import run_covariates  # local: the covariate path, loaded only when asked

        return run_covariates(args)
    import sys
    import warnings

    from analysis import base, clv, customers, data
    from analysis.clv.intervals import INTERVAL_COLUMNS, check_interval, with_intervals
    from analysis.data.privacy import pseudonymize
    from analysis.errors import ModelError

    if args.model == "bgbb":  # discrete opportunities: its own path (analysis.cli.clv_discrete)
        from analysis.cli.clv_discrete import run_bgbb

        return run_bgbb(args)
    data.check_output_path(args.out)  # every check before the work, so bad input writes nothing
    _check_params_out(args.params_out)
    clv.check_horizon(args.horizon_months, args.discount_rate, args.days_per_month)
    if args.interval is not None:
        check_interval(args.interval, args.resamples)
    model = args.model.replace("-", "_")
    settings = base.BaseSettings(horizon_months=args.horizon_months, discount_rate=args.discount_rate, clv_model=model)
    src = data.load_source(args.source, as_of=args.as_of, tables=VALUE_TABLES)
    table = customers.customer_table(src, src.as_of, freq=args.freq)
    buyers = table[table["n_purchases"].fillna(0).astype(int) > 0] if "n_purchases" in table else table
    basis = base.value_basis(table)
    finding = None
    with warnings.catch_warnings():  # the summary line is all that reaches stderr on success
        warnings.simplefilter("ignore")
        try:
            fitted = base.fit_customer_value(src, buyers, src.as_of, settings, args.freq, args.days_per_month)
        except ModelError as exc:  # valid data, no model: the file says so with empty values, never a silent 1
            fitted, finding = None, exc
    out = base.attach_value(table.copy(), fitted)
    out.insert(1, "pseudonym", pseudonymize(out["customer_id"]).to_numpy())
    columns = OUTPUT_COLUMNS + (["clv_sales"] if "clv_sales" in out else [])
    interval = {}
    if args.interval is not None:
        columns += list(INTERVAL_COLUMNS)
        for c in INTERVAL_COLUMNS:
            out[c] = float("nan")
        if fitted is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ci, interval = with_intervals(fitted, args.interval, args.resamples, columns=["customer_id"])
            out[list(INTERVAL_COLUMNS)] = base.attach_intervals(out, ci)[list(INTERVAL_COLUMNS)]  # the file's basis
            eq = interval.get("customer_equity", {})
            if "clv_sales" in out and eq.get("low") is not None:  # the sales interval scaled to the margin equity
                scale = float(out["clv"].sum()) / float(out["clv_sales"].sum())
                eq["low"], eq["high"] = eq["low"] * scale, eq["high"] * scale
    data.write_table(out[columns], args.out)
    if finding is not None:
        if args.params_out:
            data.write_json({"time_unit": args.freq, "model": None, "value_basis": basis,
                             "finding": {"reason": finding.reason, "facts": dict(finding.facts or {}),
                                         "detail": str(finding)}}, args.params_out)
        print(f"kanta: no P(alive) or CLV ({finding.reason}): {finding}", file=sys.stderr)
        print(f"{len(out)} customers, P(alive) and CLV left empty -> {args.out}")
        return 0
    equity = float(out["clv"].sum())
    choice = fitted.model.choice_
    if args.params_out:
        params = fitted.parameters()
        params.update({
            "choice_rule": choice["choice_rule"], "choice_reason": choice.get("choice_reason"),
            "tie_tolerance": choice.get("tie_tolerance"), "tie_break": choice.get("tie_break"),
            "holdout": choice.get("holdout"), "candidates": _json_candidates(fitted.model.candidates_),
            "value_basis": basis, "customer_equity": {"value": equity}, "currency": "EUR",
            "p_alive_estimable": choice["model"] != "nbd"})
        if interval:
            params["interval"] = interval["interval"]
            params["customer_equity"] = {**interval["customer_equity"], "value": equity}
        data.write_json(params, args.params_out)
    valued = int(out["clv"].notna().sum())
    print(f"{len(out)} customers ({valued} valued), customer equity EUR {equity:,.0f} ({basis}) over "
          f"{args.horizon_months} months, discounted {args.discount_rate:g}/month, model {choice['model']} "
          f"({choice['choice_rule']}) -> {args.out}")
    return 0


def add_cli(subparsers) -> None:
    """Register ``kanta clv``."""
    from analysis.base.settings import BaseSettings
    from analysis.units import DAYS_PER_MONTH, UNIT_DAYS

    d = BaseSettings()  # the monthly report's defaults: one account of customer value
    p = subparsers.add_parser("clv", help="fit a purchase model + Gamma-Gamma and write P(alive) and CLV per customer")
    add_source(p)
    add_as_of(p)
    p.add_argument("--model", choices=MODEL_FLAGS, default=d.clv_model.replace("_", "-"),
                   help="purchase model; nbd has no drop-out (P(alive) not estimable); auto tests drop-out against "
                        "nbd and picks the lowest holdout error among the eligible, else BIC "
                        f"(default {d.clv_model})")
    p.add_argument("--horizon-months", type=int, default=d.horizon_months,
                   help=f"CLV horizon in months (default {d.horizon_months}, as the monthly report)")
    p.add_argument("--discount-rate", type=float, default=d.discount_rate,
                   help=f"monthly discount rate (default {d.discount_rate}, as the monthly report)")
    p.add_argument("--days-per-month", type=float, default=DAYS_PER_MONTH,
                   help=f"days in one month of the horizon (default {DAYS_PER_MONTH})")
    p.add_argument("--freq", choices=list(UNIT_DAYS), default="D", help="time unit of the model fit (default D)")
    p.add_argument("--out", required=True, help="output file (.csv or .parquet)")
    p.add_argument("--params-out", default=None, help="write fitted parameters to this JSON file")
    p.add_argument("--opportunity", choices=["year", "month", "week"], default=None,
                   help="with --model bgbb: the calendar period a customer can buy at most once in")
    p.add_argument("--interval", type=float, default=None, metavar="LEVEL",
                   help="add clv_low, clv_high, p_alive_low, p_alive_high at this level (e.g. 0.9) from a "
                        "customer-level bootstrap, and customer_equity {value, low, high} to the params JSON")
    p.add_argument("--resamples", type=int, default=200, help="bootstrap resamples for --interval (default 200)")
    p.add_argument("--covariates", default=None, metavar="COLS",
                   help="customers columns (comma-separated) on the purchase and drop-out rates; needs --model "
                        "pareto-nbd or bgnbd; the params JSON gets their effects as rate multipliers")
    p.add_argument("--l2", type=float, default=0.0,
                   help="L2 penalty on the covariate coefficients (as CLVTools' reg.lambdas; default 0 = none)")
    p.set_defaults(func=_cmd_clv)
