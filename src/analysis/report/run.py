"""What every report run needs before its work: the month asked for, the inputs, and the run's metadata.

Periods and month ends, the default data folder (built when missing), the report folder and notebooks
folder, and what the manifest records of the run (package, git commit, library versions).
"""
from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Iterable

import pandas as pd

from analysis import __version__
from analysis.data import DatabaseURL, demo, is_database_url, location
from analysis.data import month_end as last_day
from analysis.errors import ParameterError
from analysis.report.notebooks import notebooks_dir, project_root
from analysis.report.site import PERIOD_RE, RunInfo
from analysis.report.text import Text, check_language


#: Libraries whose versions go into the run manifest.
KEY_LIBRARIES = ("pandas", "numpy", "scipy", "duckdb", "lifelines", "scikit-learn",
                 "statsmodels", "matplotlib", "papermill", "nbconvert")


# --- periods and paths -------------------------------------------------------
def parse_period(period: str) -> pd.Period:
    """``"2026-10"`` -> monthly Period; a clear error for anything else.

    Example
    -------
    >>> str(parse_period("2026-10").end_time.date())
    '2026-10-31'
    """
    if not isinstance(period, str) or not PERIOD_RE.match(period):
        raise ParameterError(f"--period: got {period!r}, expected a month as YYYY-MM (e.g. 2026-10).")
    return pd.Period(period, freq="M")


def month_end(period: str | pd.Period) -> pd.Timestamp:
    """Last day of the month (a date, as ``as_of`` expects): :func:`analysis.data.month_end` of the period."""

    p = parse_period(period) if isinstance(period, str) else period
    return last_day(p.start_time)


def last_complete_period(last_date) -> pd.Period:
    """The last month fully covered by data that ends on ``last_date``.

    Example
    -------
    >>> str(last_complete_period("2026-10-31")), str(last_complete_period("2026-11-15"))
    ('2026-10', '2026-10')
    """
    d = pd.Timestamp(last_date).normalize()
    p = d.to_period("M")
    return p if d == pd.Timestamp(p.end_time.date()) else p - 1


# --- run metadata ------------------------------------------------------------
def git_commit(folder: Path | None = None) -> str:
    """The commit of the git checkout ``kanta`` runs in (the working folder), or ``"unknown"`` outside git."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder or project_root(),
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else "unknown"


def library_versions(names: Iterable[str] = KEY_LIBRARIES) -> dict[str, str]:
    versions = {"python": sys.version.split()[0]}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def package_version() -> str:

    return __version__



# --- the month ---------------------------------------------------------------
def default_data_path() -> Path:
    return project_root() / "data" / "demo"


def ensure_demo_data(path: Path, quiet: bool = False) -> None:
    """Build the demo customer base when the default data folder is missing."""
    if path.exists():
        return

    if not quiet:
        print(f"kanta: building the demo data in {path} (first run) ...", file=sys.stderr)
    demo.write_demo_data(path)


def resolve_inputs(data, out, notebooks, language: str, quiet: bool) -> tuple[Text, Path, Path, Path]:
    """Strings, report folder, data path (demo data built when defaulted) and notebooks folder."""
    tx = Text("report", check_language(language))
    if Path(out).exists() and not Path(out).is_dir():  # found now, not after every notebook has run
        raise ParameterError(f"--out: {out} is a file; expected the report folder (e.g. reports).")
    data_path = data if data is not None else default_data_path()
    if data is None:
        ensure_demo_data(data_path, quiet)
    # absolute from here on: notebooks may run in threads, and nothing may depend on the working folder
    return tx, Path(out), location(data_path), (Path(notebooks) if notebooks else notebooks_dir()).resolve()


def manifest_common(ctx: "RunInfo") -> dict:
    return {"data": {"source": ctx.source_display, "fingerprint": ctx.fingerprint, "fingerprint_algorithm": "sha256"},
            "package": {"name": "kanta", "version": ctx.version},
            "git_commit": ctx.commit,
            "libraries": ctx.versions}


def display_path(path: Path) -> str:
    """A path as a reader should see it: relative to the working folder when inside it."""
    if is_database_url(path):
        return str(DatabaseURL(path))
    path = Path(path).resolve()
    try:
        return str(path.relative_to(project_root()))
    except ValueError:
        return str(path)


def last_data_date(source) -> pd.Timestamp:
    value = source.sql("select max(cast(timestamp as date)) as d from transactions")["d"].iloc[0]
    return pd.Timestamp(value)
