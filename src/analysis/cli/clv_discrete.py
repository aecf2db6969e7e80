"""``kanta clv --model bgbb``: BG/BB at discrete opportunities (:mod:`analysis.clv.discrete`), the file as for the other models."""
from __future__ import annotations

#: Columns of the per-customer output file, in order (those of ``kanta clv``).
OUTPUT_COLUMNS = ["customer_id", "p_alive", "expected_purchases", "expected_avg_value", "clv", "clv_if_alive",
                  "frequency", "recency", "T", "monetary_value"]


def run_bgbb(args) -> int:
    """Fit BG/BB on ``args.opportunity`` periods, write per-customer values to ``args.out`` and parameters to ``args.params_out``."""
    import sys
    from pathlib import Path

    from analysis import data
    from analysis.clv import discrete
    from analysis.errors import ModelError, ParameterError

    data.check_output_path(args.out)  # every check before the work, so bad input writes nothing
    if args.params_out is not None and (not args.params_out.endswith(".json")
                                        or not Path(args.params_out).resolve().parent.is_dir()):
        raise ParameterError(f"--params-out: got {args.params_out!r}, expected a .json file in an existing folder.")
    opportunity = getattr(args, "opportunity", None)
    if opportunity is None:
        raise ParameterError("--model bgbb: give --opportunity year, month or week (the period a customer can buy once in).")
    discrete.check_opportunity(opportunity)
    try:
        result = discrete.analyse_bgbb(args.source, args.as_of, opportunity, args.horizon_months, args.discount_rate)
    except ModelError as exc:  # valid data, no model: the file says so with empty values
        table = discrete.opportunity_table(args.source, args.as_of, opportunity)
        out = table.rename(columns={"x": "frequency", "t_x": "recency", "n": "T"}).reindex(columns=OUTPUT_COLUMNS)
        data.write_table(out, args.out)
        if args.params_out:
            data.write_json({"time_unit": opportunity, "model": None, "opportunity": opportunity,
                             "finding": {"reason": exc.reason, "facts": dict(exc.facts or {}), "detail": str(exc)}},
                            args.params_out)
        print(f"kanta: no P(alive) or CLV ({exc.reason}): {exc}", file=sys.stderr)
        print(f"{len(out)} customers, P(alive) and CLV left empty -> {args.out}")
        return 0
    data.write_table(result.values[OUTPUT_COLUMNS], args.out)
    if args.params_out:
        data.write_json(result.parameters(), args.params_out)
    p = result.fit.params
    print(f"{len(result.values)} customers, customer equity {result.values['clv'].sum():,.0f} over "
          f"{args.horizon_months} months, model bgbb per {opportunity} (alpha {p['alpha']:.3g}, beta {p['beta']:.3g}, "
          f"gamma {p['gamma']:.3g}, delta {p['delta']:.3g}) -> {args.out}")
    return 0
