"""``kanta report``: render the monthly report, or one experiment's report (thin: parse, call, print)."""
from __future__ import annotations

import argparse
import sys

from analysis.cli.arguments import add_timezone
from analysis.errors import ParameterError


def _cmd_report(args) -> int:
    if not args.quiet:  # before the libraries load (seconds on a busy machine): the operator sees it started
        what = f"experiment {args.experiment}" if args.experiment else (args.period or "the last complete month")
        print(f"kanta report: {what}: loading the data ...", file=sys.stderr, flush=True)
    from analysis import report

    if args.jobs is not None and args.jobs < 1:
        raise ParameterError(f"--jobs: got {args.jobs}, expected a number of notebooks >= 1.")
    if args.experiment:
        path = report.build_experiment_report(args.experiment, data=args.data, out=args.out, language=args.lang,
                                       period=args.period, notebooks=args.notebooks, quiet=args.quiet)
    else:
        month = report.render_month(args.period, data=args.data, out=args.out, language=args.lang,
                             notebooks=args.notebooks, quiet=args.quiet, jobs=args.jobs, params=args.param)
        print(month.landing)
        for d in month.degraded:
            print(f"kanta: degraded: {d['page']}: {d['reason']}", file=sys.stderr)
        return month.exit_code
    print(path)
    return 0


def _cmd_notebooks(args) -> int:
    from pathlib import Path

    from analysis.report.run import default_data_path, ensure_demo_data
    from analysis.report.workspace import copy_notebooks

    data = args.data if args.data is not None else default_data_path()
    if args.data is None:
        ensure_demo_data(Path(data))
    written = copy_notebooks(args.folder, data)
    print(f"{len(written)} notebooks -> {args.folder} (open them with: jupyter lab {args.folder})")
    return 0


def add_cli(subparsers) -> None:
    """Register ``kanta report`` and ``kanta notebooks``."""
    n = subparsers.add_parser("notebooks", help="copy the report notebooks into a working folder for JupyterLab")
    n.add_argument("folder", help="working folder (created; notebooks already there are never overwritten)")
    n.add_argument("--data", default=None, help="the source the notebooks read (default: data/demo, built when missing)")
    n.set_defaults(func=_cmd_notebooks)

    p = subparsers.add_parser(
        "report", help="render the monthly report (HTML without code) into OUT/<YYYY-MM>/",
        description="Render every report notebook for one month with papermill, convert them to HTML without "
                    "code, write a landing page, manifest.json and OUT/index.html. Publishes only when every "
                    "notebook succeeded.")
    p.add_argument("--period", default=None, help="month YYYY-MM (default: last complete month of the data)")
    p.add_argument("--data", default=None, help="data source (default: data/demo, built when missing)")
    p.add_argument("--out", default="reports", help="report folder (default: reports)")
    p.add_argument("--lang", choices=["en", "fi"], default="en", help="language of the report (default en)")
    add_timezone(p)
    p.add_argument("--experiment", default=None, metavar="ID",
                   help="render the experiment notebook for experiment ID into OUT/experiments/ID/")
    p.add_argument("--param", "-p", action="append", default=[], metavar="[NOTEBOOK.]NAME=VALUE",
                   help="override a notebook parameter (repeatable); unknown names are an error")
    p.add_argument("--jobs", type=int, default=None, help="notebooks rendered at the same time (default 2)")
    p.add_argument("--notebooks", default=None, help=argparse.SUPPRESS)
    p.add_argument("--quiet", action="store_true", help="no progress bars (for schedulers); prints only the path")
    p.set_defaults(func=_cmd_report)

