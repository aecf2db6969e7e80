"""Arguments several commands share, said once: the source, the analysis date, an output table."""
from __future__ import annotations

import argparse


def add_source(p: argparse.ArgumentParser, help: str | None = None) -> None:
    p.add_argument("source", help=help or "data source: a folder of CSV/Parquet files, a DuckDB file, a .sql source "
                                          "definition or a postgresql:// URL")
    add_timezone(p)


def add_timezone(p: argparse.ArgumentParser) -> None:
    p.add_argument("--timezone", default=None, metavar="ZONE",
                   help="business time zone that timestamps with an offset are converted to (default Europe/Helsinki)")
    p.add_argument("--allow-path", action="append", default=None, metavar="FOLDER",
                   help="a folder a .sql source definition may read besides its own (repeatable; also "
                        "KANTA_ALLOWED_PATHS, folders separated by ':')")


def apply_allowed_paths(args) -> None:
    """Add ``--allow-path`` folders to the run's KANTA_ALLOWED_PATHS (notebook kernels inherit it)."""
    import os

    from analysis.data.sandbox import ALLOWED_PATHS_VARIABLE
    from analysis.errors import ParameterError

    folders = getattr(args, "allow_path", None) or []
    for f in folders:
        if not os.path.isdir(f):
            raise ParameterError(f"--allow-path: {f!r} is not a folder; expected a folder a source definition may "
                                 "read.")
    if folders:
        before = [p for p in os.environ.get(ALLOWED_PATHS_VARIABLE, "").split(os.pathsep) if p]
        os.environ[ALLOWED_PATHS_VARIABLE] = os.pathsep.join(
            dict.fromkeys([*before, *(os.path.abspath(f) for f in folders)]))


def apply_timezone(args) -> None:
    """Make ``--timezone`` the run's business time zone (notebook kernels inherit it); a clear error for a bad name."""
    import os
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from analysis.data import TIMEZONE_VARIABLE
    from analysis.errors import ParameterError

    zone = getattr(args, "timezone", None)
    if zone is None:
        return
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ParameterError(f"--timezone: got {zone!r}, expected a time zone name like Europe/Helsinki.") from None
    os.environ[TIMEZONE_VARIABLE] = zone


def add_as_of(p: argparse.ArgumentParser) -> None:
    p.add_argument("--as-of", required=True, help="analysis date YYYY-MM-DD (transactions on that day count)")


def add_engine(p: argparse.ArgumentParser) -> None:
    """``--engine duckdb|spark`` and ``--spark-master``: where the customer state is computed."""
    p.add_argument("--engine", choices=["duckdb", "spark"], default="duckdb",
                   help="where to compute: duckdb on this machine (default) or spark (the spark extra; Parquet, "
                        "Delta or metastore:DATABASE sources)")
    p.add_argument("--spark-master", default=None, metavar="MASTER",
                   help="Spark master for --engine spark, e.g. local[*] (default), spark://host:7077, yarn; "
                        "under spark-submit its --master")
