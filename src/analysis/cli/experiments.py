"""``kanta experiment``: one experiment's campaign final report on the command line (or the list of experiments)."""
from __future__ import annotations

from pathlib import Path

from analysis.errors import ParameterError
from analysis.cli.arguments import add_as_of, add_source


def _check_out(path: str | None) -> Path | None:
    """The ``--out`` file, checked before the work (and before anything is printed)."""
    if not path:
        return None
    out = Path(path)
    if out.suffix.lower() != ".json":
        raise ParameterError(f"--out: got {out.name!r}, expected a file name ending in .json.")
    if not out.parent.is_dir():
        raise ParameterError(f"--out: folder {out.parent} does not exist.")
    return out


def _cmd_experiment(args) -> int:
    import pandas as pd

    from analysis import experiments
    from analysis.data import load_source, write_json
    from analysis.report.pages.campaign import campaign_text

    out = _check_out(args.out)
    src = load_source(args.source, as_of=args.as_of, tables=experiments.SOURCE_TABLES)
    if not args.id:
        ids = experiments.experiment_ids(src)
        print("\n".join(ids) if ids else "no experiments (no assignments table)")
        return 0
    rep = experiments.campaign_report(src, args.id, campaign_cost=args.campaign_cost, include_clv=args.clv,
                                      conversion_window_days=args.conversion_window_days,
                                      retention_window_days=args.retention_window_days, alpha=args.alpha,
                                      control=args.control, primary=args.primary, margin=args.margin)
    text = campaign_text(rep, args.lang)
    print(f"{args.id} (as of {src.as_of.date()}): {rep.verdict}")
    print(text["verdict"])
    for guard, message in zip(rep.result.guards, text["guards"]):
        print(f"  [{ {'passed': 'ok', 'warning': 'WARNING', 'failed': 'FAILED'}[guard.status]}] {message}")
    if "money" in text:
        print(text["money"])
    with pd.option_context("display.width", 120, "display.max_columns", 10):
        print(rep.summary().round(4).to_string())
    if out is not None:
        write_json({**rep.to_dict(), "text": text}, out)
        print(f"-> {out}")
    return 0


def add_cli(subparsers) -> None:
    """Register ``kanta experiment SOURCE --id ID --as-of DATE [--out FILE.json]``."""
    p = subparsers.add_parser("experiment", help="analyse an A/B experiment and write its campaign final report")
    add_source(p, "data source with an assignments table")
    p.add_argument("--id", default=None, help="experiment_id to analyse (omit to list the experiments)")
    add_as_of(p)
    p.add_argument("--out", default=None, help="write the full result as JSON to this file")
    p.add_argument("--conversion-window-days", type=int, default=30, help="days after assignment counted (default 30)")
    p.add_argument("--retention-window-days", type=int, default=90,
                   help="retention = buying between the conversion window and this many days (default 90)")
    p.add_argument("--alpha", type=float, default=0.05, help="significance level (default 0.05)")
    p.add_argument("--campaign-cost", type=float, default=None,
                   help="campaign cost in euros (for ROI, cost per order; default: the data's campaigns table)")
    p.add_argument("--control", default=None, help="control variant (default: assignments.is_control)")
    p.add_argument("--primary", choices=["auto", "conversion", "revenue"], default="auto",
                   help="metric of the verdict when the data's campaigns table declares none (a declared one wins)")
    p.add_argument("--margin", type=float, default=None, help="non-inferiority margin on the primary metric")
    p.add_argument("--no-clv", dest="clv", action="store_false", help="skip the incremental CLV comparison")
    p.add_argument("--lang", "--language", dest="lang", choices=["en", "fi"], default="en",
                   help="language of the sentences (default en)")
    p.set_defaults(func=_cmd_experiment)
