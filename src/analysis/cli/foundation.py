"""``kanta demo-data``, ``kanta validate`` and ``kanta customers``: the data and the customer table."""
from __future__ import annotations


from analysis.cli.arguments import add_as_of, add_engine, add_source


def _cmd_demo_data(args) -> int:
    from analysis.data import demo

    out = demo.write_demo_data(args.out, n_customers=args.customers, seed=args.seed, fmt=args.format,
                               subscriptions=args.subscriptions)
    print(out)
    return 0


def _cmd_validate(args) -> int:
    from analysis import data

    src = data.load_source(args.source, as_of=args.as_of)
    print(src.summary())
    return 0


def _cmd_customers(args) -> int:
    from analysis.customers import table as customers
    from analysis import data
    from analysis.errors import ParameterError

    data.check_output_path(args.out)  # before the work, not after it
    if args.engine == "spark":
        if args.memory_limit:
            raise ParameterError("--memory-limit: sets DuckDB's memory and does nothing with --engine spark; give "
                                 "Spark its memory in its own configuration (spark.driver.memory, "
                                 "spark.executor.memory).")
        from analysis.customers import spark

        n = spark.write_customer_table(args.source, args.as_of, args.out, freq=args.freq,
                                       include_prospects=args.include_prospects, master=args.spark_master)
        print(f"{n} customers -> {args.out} (Spark)")
        return 0
    if args.spark_master:
        raise ParameterError("--spark-master: only used with --engine spark.")
    src = data.load_source(args.source, as_of=args.as_of, memory_limit=args.memory_limit)
    n = customers.write_customer_table(src, args.as_of, args.out, freq=args.freq,
                                       include_prospects=args.include_prospects)
    print(f"{n} customers -> {args.out}")
    for note in src.notes_so_far():  # spills, passes, excluded rows (not the deferred duplicate count: a 100M-row grouping)
        print(f"note: {note}")
    return 0


def add_cli(sub) -> None:
    p = sub.add_parser("demo-data", help="write the synthetic demo customer base (with truth.json)")
    p.add_argument("--out", required=True, help="directory to write")
    p.add_argument("--customers", type=int, default=20_000, help="number of registered customers (default 20000)")
    p.add_argument("--seed", type=int, default=2026, help="random seed (same seed, same bytes)")
    p.add_argument("--format", choices=["parquet", "csv"], default="parquet", help="file format (default parquet)")
    p.add_argument("--subscriptions", action="store_true",
                   help="the lottery-subscription company instead: contract ends (customers.churn_date), channel "
                        "effects on buying and leaving, weekly draws (draws table); truth in truth.json")
    p.set_defaults(func=_cmd_demo_data)

    p = sub.add_parser("validate", help="check a data source against the data contract")
    add_source(p)
    p.add_argument("--as-of", default=None, help="analysis date YYYY-MM-DD (default: last transaction date)")
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser("customers", help="write the customer table (one row per customer)")
    add_source(p)
    add_as_of(p)
    p.add_argument("--out", required=True, help="output file (.csv or .parquet)")
    p.add_argument("--freq", choices=["D", "W"], default="D", help="time unit of frequency/recency/T (default D)")
    p.add_argument("--include-prospects", action="store_true", help="also list registered customers who never bought")
    p.add_argument("--memory-limit", default=None, help="DuckDB memory limit, e.g. 6GB (default: an eighth of the machine's memory, at most 3 GiB; beyond it DuckDB spills to disk and the output says so)")
    add_engine(p)
    p.set_defaults(func=_cmd_customers)
