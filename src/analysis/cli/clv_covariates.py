"""``kanta clv --covariates COLS``: Pareto/NBD or BG/NBD with customer attributes on buying and leaving.

Writes the same per-customer file as ``kanta clv`` (each customer scored with their own covariate-scaled
parameters) and adds ``covariates`` to the params JSON (:func:`analysis.clv.covariates.covariates_json`).
"""
from __future__ import annotations

from pathlib import Path

OUTPUT_COLUMNS = ["customer_id", "p_alive", "expected_purchases", "expected_avg_value", "clv", "clv_if_alive",
                  "frequency", "recency", "T", "monetary_value"]
COVARIATE_MODELS = {"pareto-nbd": "pareto_nbd", "pareto_nbd": "pareto_nbd", "bgnbd": "bgnbd"}


def _check(args) -> str:
    from analysis.errors import ParameterError

    model = COVARIATE_MODELS.get(args.model)
    if model is None:
        raise ParameterError(f"--model: got {args.model!r} with --covariates, expected pareto-nbd or bgnbd "
                             "(the models with covariates).")
    path = args.params_out
    if path is not None and not path.endswith(".json"):
        raise ParameterError(f"--params-out: got {path!r}, expected a file name ending in .json.")
    if path is not None and not Path(path).resolve().parent.is_dir():
        raise ParameterError(f"--params-out: folder {Path(path).parent} does not exist.")
    return model


def _gamma_gamma(table):
    import numpy as np

    from analysis.clv import likelihoods as pm
    from analysis.clv.fitting import MIN_REPEAT_CUSTOMERS
    from analysis.errors import ModelError

    spend = table[(table["frequency"] > 0) & (table["monetary_value"] > 0)]
    if len(spend) < MIN_REPEAT_CUSTOMERS:
        raise ModelError(f"customer table: {len(spend)} repeat customers with positive spend; the spend model needs "
                         f"at least {MIN_REPEAT_CUSTOMERS}.", reason="too_few_repeat_customers",
                         facts={"n": len(spend), "minimum": MIN_REPEAT_CUSTOMERS})
    rows = spend.groupby(["frequency", "monetary_value"]).size().reset_index(name="weight")
    est = pm.fit("gamma_gamma", rows, weights=rows["weight"].to_numpy(float))
    if not np.all(np.isfinite(list(est.params.values()))):
        raise ModelError("the spend model has no finite maximum on this data.", reason="no_convergence")
    return est


def run_covariates(args) -> int:
    """Fit the covariate model named by ``args`` and write the per-customer file and the params JSON."""
    import sys

    import pandas as pd

    from analysis import clv, data
    from analysis.clv.covariate_design import MIN_LEVEL_CUSTOMERS, OTHER, build_design, parse_columns
    from analysis.clv.covariate_value import customer_value
    from analysis.clv.covariates import covariates_json, effects, fit_covariates
    from analysis.customers.table import customer_columns
    from analysis.errors import ModelError, ParameterError

    model = _check(args)
    columns = parse_columns(args.covariates)
    l2 = float(getattr(args, "l2", 0.0) or 0.0)
    data.check_output_path(args.out)
    clv.check_horizon(args.horizon_months, args.discount_rate, args.days_per_month)
    src = data.load_source(args.source, as_of=args.as_of, tables=("transactions", "customers"))
    attributes = customer_columns(src)
    unknown = [c for c in columns if c not in attributes]
    if unknown:
        raise ParameterError(f"--covariates: customers has no usable column {', '.join(map(repr, unknown))}; "
                             f"expected one of {', '.join(attributes) or '(no attribute columns)'}.")
    table = clv.as_table(src, src.as_of, args.freq)
    clv.check_rfm(table)
    design = build_design(table, columns)
    try:
        fit = fit_covariates(model, table, design, design, l2=l2)
        spend = _gamma_gamma(table)
    except ModelError as exc:
        out = table.reindex(columns=OUTPUT_COLUMNS)
        for c in ("p_alive", "expected_purchases", "expected_avg_value", "clv", "clv_if_alive"):
            out[c] = float("nan")
        data.write_table(out, args.out)
        if args.params_out:
            data.write_json({"time_unit": args.freq, "model": None, "finding": {
                "reason": exc.reason, "facts": dict(exc.facts or {}), "detail": str(exc)}}, args.params_out)
        print(f"kanta: no P(alive) or CLV ({exc.reason}): {exc}", file=sys.stderr)
        return 0
    values = customer_value(fit, table, spend.params, args.freq, args.horizon_months, args.discount_rate,
                            args.days_per_month)
    values = pd.concat([values, table[["frequency", "recency", "T", "monetary_value"]].reset_index(drop=True)],
                       axis=1)[OUTPUT_COLUMNS]
    data.write_table(values, args.out)
    if args.params_out:
        data.write_json({
            model: fit.params, "gamma_gamma": spend.params, "time_unit": args.freq, "model": model,
            "as_of": str(pd.Timestamp(src.as_of).date()), "horizon_months": args.horizon_months,
            "discount_rate": args.discount_rate, "days_per_month": args.days_per_month,
            "standard_errors": {model: fit.standard_errors["params"], "gamma_gamma": spend.standard_errors()},
            "log_likelihood": fit.log_likelihood, "n_customers": fit.n_customers,
            "covariates": covariates_json(fit)}, args.params_out)
    eff = effects(fit)
    clear = int(((eff["ci_low"] > 1) | (eff["ci_high"] < 1)).sum())
    pooled = "".join(f"; {c}: {len(v)} levels under {MIN_LEVEL_CUSTOMERS} customers pooled into {OTHER!r}"
                     for c, v in design.pooled.items())
    print(f"{len(values)} customers, customer equity {values['clv'].sum():,.0f} over {args.horizon_months} months, "
          f"model {model} with covariates {', '.join(columns)} ({len(eff)} effects, {clear} with a 95 % interval "
          f"away from 1{pooled}) -> {args.out}")
    return 0
