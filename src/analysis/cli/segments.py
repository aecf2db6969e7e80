"""``kanta segments``: every customer's segments as a file for a campaign tool."""
from __future__ import annotations

import sys

from pathlib import Path

from analysis.errors import ParameterError
from analysis.cli.arguments import add_as_of, add_source


def add_cli(subparsers) -> None:
    """Register ``kanta segments SOURCE --as-of DATE --out FILE``."""
    p = subparsers.add_parser("segments", help="write every customer's segments (pyramid, strategy group, "
                                               "lifecycle stage, RFM segment, cluster) for a campaign tool")
    add_source(p)
    add_as_of(p)
    p.add_argument("--out", required=True, help="output file (.csv or .parquet)")
    p.add_argument("--value-basis", choices=["spend", "clv"], default="spend",
                   help="value that ranks the pyramid (default spend)")
    p.add_argument("--n-clusters", default="auto", help="number of behavioural clusters or 'auto' (default)")
    p.add_argument("--inactivity-days", "--passive-days", dest="inactivity_days", type=int, default=None,
                   help="churn threshold in days without purchase (default: data-driven, as the churn report)")
    p.add_argument("--lang", "--language", dest="lang", choices=["en", "fi"], default="en",
                   help="language of cluster names (default en)")
    p.add_argument("--previous-centroids", default=None,
                   help="last month's centroid file (from --centroids-out): keeps cluster numbers; "
                        "default: match to clusters fitted at the previous month end")
    p.add_argument("--centroids-out", default=None, help="also write this month's cluster centroids (.csv)")
    p.set_defaults(func=_cmd_segments)


def _check_files(args) -> None:
    """Output names and folders are checked before the work, not after it."""
    from analysis.data import check_output_path

    check_output_path(args.out)
    for flag, path, kinds in (("--centroids-out", args.centroids_out, (".csv",)),
                              ("--previous-centroids", args.previous_centroids, (".csv",))):
        if path is not None and Path(path).suffix.lower() not in kinds:
            raise ParameterError(f"{flag}: got {Path(path).name!r}, expected a file name ending in "
                                 f"{' or '.join(kinds)}.")
        if path is not None and flag != "--previous-centroids" and not Path(path).parent.is_dir():
            raise ParameterError(f"{flag}: folder {Path(path).parent} does not exist.")


def _cmd_segments(args) -> int:
    from analysis import segments
    from analysis.base import BaseSettings, CustomerBase
    from analysis.data import write_table
    from analysis.report.pages.segments import cluster_names

    _check_files(args)
    if args.inactivity_days is not None and args.inactivity_days < 1:
        raise ParameterError(f"--inactivity-days: got {args.inactivity_days}, expected a whole number of days >= 1.")
    segments.SegmentSettings.from_params(value_basis=args.value_basis, n_clusters=args.n_clusters)  # fail early
    if args.previous_centroids and not Path(args.previous_centroids).is_file():
        raise ParameterError(f"--previous-centroids: file {Path(args.previous_centroids).name!r} does not exist.")
    # the month's one customer state: the same labels as the month's report, numbered against last
    # month (its published centroids when given, else a fit at the previous month end)
    settings = BaseSettings(inactivity_days=args.inactivity_days, value_basis=args.value_basis,
                            n_clusters=args.n_clusters)
    base = CustomerBase.build(args.source, args.as_of, settings, previous_centroids=args.previous_centroids)
    damaged = base.finding("segments.previous_centroids")
    if damaged is not None:  # last month's numbering is lost, the month is not
        print(f"kanta: note: {damaged.detail} This month's clusters are numbered afresh.", file=sys.stderr)
    seg = base.segmentation
    if seg is None:
        f = base.finding("segments")
        raise ParameterError(f"segments: the customers could not be segmented on this data: {f.detail if f else ''}")
    df = segments.export_table(seg, cluster_names(seg.clusters, seg.table, args.lang))
    out = write_table(df, args.out)  # atomic: a failed run leaves no file
    if args.centroids_out:
        segments.write_centroids(seg, args.centroids_out)
    counts = seg.counts("lifecycle_stage")
    print(f"{len(df)} customers -> {out} (" + ", ".join(f"{k} {v}" for k, v in counts.items()) + ")")
    return 0
