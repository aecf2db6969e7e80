"""The monthly run: validate the data, render every notebook, write pages and manifest, publish.

Everything is rendered into a staging folder next to the report folder and moved into place
only when every notebook, the key numbers and the privacy check succeeded.
"""
from __future__ import annotations

import argparse
import functools
import html
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Iterable, Mapping

import pandas as pd

from analysis.errors import KantaError, ParameterError
from analysis.i18n import Text, check_language
from analysis.report.notebooks import (EXPERIMENT, EXPERIMENT_PARAMETER, REQUIRED_PARAMETERS, NotebookFailed,
                                       NotebookSpec, one_line, run_jobs, timed, available_notebooks,
                                       check_parameters, default_jobs, execute_notebook, notebook_params,
                                       notebook_parameters,
                                       notebooks_dir, parse_overrides, project_root, utc_now)
from analysis.report.pages import (PERIOD_RE, RunInfo, notebook_title, safe_id, common_rows, landing_html, month_label,
                                   notebook_html, run_details_html, write_index)
from analysis.report.pii import check_privacy, pii_values


#: Libraries whose versions go into the run manifest.
KEY_LIBRARIES = ("pandas", "numpy", "scipy", "duckdb", "lifetimes", "lifelines", "scikit-learn",
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
    """Last day of the month (a date, as ``as_of`` expects)."""
    p = parse_period(period) if isinstance(period, str) else period
    return pd.Timestamp(p.end_time.date())


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
    """The checkout's commit hash, or ``"unknown"`` outside git."""
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
    from analysis import __version__

    return __version__


def collect_headlines(source, previous_source, specs: Iterable[NotebookSpec],
                      params: Mapping[str, Mapping] | None = None) -> dict:
    """``{notebook: {"current": {...}, "previous": {...}}}`` for notebooks with a headline.

    Each month gets a Source loaded at its own month end, so every module sees a source whose
    ``as_of`` is the date asked for. ``params[notebook]`` are the notebook's parameters; those
    the headline function names in its signature are passed to it, so the landing page counts
    the way the page does.
    """
    import inspect

    out = {}
    for spec in specs:
        func = spec.headline_function()
        if func is None:
            continue
        accepted = inspect.signature(func).parameters
        given = {**dict(spec.params), **dict((params or {}).get(spec.name, {}))}
        kwargs = {k: v for k, v in given.items() if k in accepted and k not in REQUIRED_PARAMETERS}
        pair = {}
        for which, src in (("current", source), ("previous", previous_source)):
            day = src.as_of
            try:
                pair[which] = _jsonable(func(src, day, **kwargs))
            except KantaError:
                if which == "previous":  # e.g. the first month of data: nothing to compare with
                    pair[which] = {}
                    continue
                raise
            except Exception as exc:  # a bug: name the module and the month
                raise NotebookFailed(f"key numbers of {spec.name} ({spec.headline}) failed for "
                                     f"{pd.Timestamp(day).date()}: {type(exc).__name__}: {one_line(exc)}.") from None
        out[spec.name] = pair
    return out


def _jsonable(value):
    """Headline values as plain JSON (numpy scalars to Python, NaN to None, nested lists/dicts kept)."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


# --- experiments -------------------------------------------------------------
def experiments_ended(source, period: pd.Period) -> list[dict]:
    """Experiments whose outcome window closed in the month: ``[{"id": ...}]``.

    The definition is ``analysis.experiments.ended_experiments`` (none without that module).
    """
    try:
        from analysis.experiments import ended_experiments
    except ImportError:
        return []
    return [{"id": str(e)} for e in ended_experiments(source, month_end(period))]


# --- the month ---------------------------------------------------------------
def default_data_path() -> Path:
    return project_root() / "data" / "demo"


def ensure_demo_data(path: Path, quiet: bool = False) -> None:
    """Build the demo customer base when the default data folder is missing."""
    if path.exists():
        return
    from analysis import demo

    if not quiet:
        print(f"kanta: building the demo data in {path} (first run) ...", file=sys.stderr)
    demo.write_demo_data(path)


def _resolve_inputs(data, out, notebooks, language: str, quiet: bool) -> tuple[Text, Path, Path, Path]:
    """Strings, report folder, data path (demo data built when defaulted) and notebooks folder."""
    tx = Text("report", check_language(language))
    if Path(out).exists() and not Path(out).is_dir():  # found now, not after every notebook has run
        raise ParameterError(f"--out: {out} is a file; expected the report folder (e.g. reports).")
    data_path = Path(data) if data is not None else default_data_path()
    if data is None:
        ensure_demo_data(data_path, quiet)
    # absolute from here on: notebooks may run in threads, and nothing may depend on the working folder
    return tx, Path(out), data_path.resolve(), (Path(notebooks) if notebooks else notebooks_dir()).resolve()


def _manifest_common(ctx: "RunInfo") -> dict:
    return {"data": {"source": ctx.source_display, "fingerprint": ctx.fingerprint, "fingerprint_algorithm": "sha256"},
            "package": {"name": "kanta", "version": ctx.version},
            "git_commit": ctx.commit,
            "libraries": ctx.versions}


def _display_path(path: Path) -> str:
    """A path as a reader should see it: relative to the project when inside it."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(project_root()))
    except ValueError:
        return str(path)


def last_data_date(source) -> pd.Timestamp:
    value = source.sql("select max(cast(timestamp as date)) as d from transactions")["d"].iloc[0]
    return pd.Timestamp(value)


def _publish(staged: Path, target: Path, scratch: Path) -> None:
    """Swap ``staged`` into ``target``: readers see the old folder or the new one, never half."""
    target.parent.mkdir(parents=True, exist_ok=True)
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix="previous-", dir=scratch))
        old.rmdir()
        os.replace(target, old)
    os.replace(staged, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _shared_params(source, as_of, overrides: Mapping[str, object]) -> dict:
    """Settings every page must share: one churn threshold for the month (data-driven unless given)."""
    from analysis.survival import churn_threshold

    given = overrides.get("inactivity_days")
    return {"inactivity_days": churn_threshold(source, as_of, given)}


def build_report(period: str | None = None, data: str | Path | None = None, out: str | Path = "reports",
                 language: str = "en", notebooks: str | Path | None = None, quiet: bool = False,
                 specs: Iterable[NotebookSpec] | None = None, jobs: int | None = None,
                 params: Mapping[str, object] | Iterable[str] | None = None) -> Path:
    """Render the monthly report and publish it to ``out/<YYYY-MM>/``; return the landing page.

    Parameters
    ----------
    period : str, optional
        Month ``YYYY-MM``; default the last complete month of the data.
    data : path, optional
        Data source; default the demo data (built when missing).
    out : path
        Report folder holding ``<YYYY-MM>/`` folders and ``index.html``.
    language : {"en", "fi"}
        Language of every heading, sentence and number format.
    notebooks : path, optional
        Folder of the report notebooks (default the project's ``notebooks/``).
    quiet : bool
        No progress bars (for schedulers).
    specs : iterable of NotebookSpec, optional
        Notebooks to render (default :data:`NOTEBOOKS` whose files exist).
    jobs : int, optional
        Notebooks run at the same time (default: 2, or 1 on a one-core machine).
    params : mapping or list of "NAME=VALUE", optional
        Parameter overrides: ``name`` for every notebook declaring it, ``notebook.name`` for one.

    Example
    -------
    >>> build_report("2026-10", data="data/sample", out="reports")  # doctest: +SKIP
    PosixPath('reports/2026-10/index.html')
    """
    from tqdm.auto import tqdm

    from analysis import data as data_mod

    tx, out, data_path, folder = _resolve_inputs(data, out, notebooks, language, quiet)

    # Validate first: bad data gets the loader's one-line message, not a papermill traceback.
    if period is None:
        probe = data_mod.load_source(data_path)
        month = last_complete_period(last_data_date(probe))
    else:
        month = parse_period(period)
    as_of = month_end(month)
    previous_as_of = month_end(month - 1)
    source = data_mod.load_source(data_path, as_of=as_of)
    last = last_data_date(source)
    if last < as_of and not source.quality.get("future_rows_excluded"):  # nothing after the month: it may be cut
        raise ParameterError(f"--period {month}: the data ends on {last.date()}, so the month is not complete "
                             f"(expected data up to {as_of.date()}).")

    specs = list(specs) if specs is not None else available_notebooks(folder)
    if not specs:
        raise ParameterError(f"no report notebooks found in {folder} (expected e.g. customer_base.ipynb).")
    base = {"source": str(data_path), "as_of": str(as_of.date()), "language": language}
    overrides = parse_overrides(params) if not isinstance(params, Mapping) else dict(params)
    shared = _shared_params(source, as_of, overrides)
    all_params = notebook_params(specs, folder, base, overrides, shared=shared)
    params_of = lambda s: all_params[s.name]  # noqa: E731
    for spec in specs:  # every name checked before the first notebook runs
        check_parameters(folder / f"{spec.name}.ipynb", params_of(spec))

    ctx = RunInfo(tx, language, _display_path(data_path), source.fingerprint, git_commit(), library_versions(),
                  utc_now(), package_version())
    failed_dir = out.resolve().parent / ".kanta-failed" / str(month)
    out.resolve().parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".kanta-render-", dir=out.resolve().parent))
    t_start = time.perf_counter()
    jobs = max(1, int(jobs or default_jobs()))
    try:
        staged = scratch / str(month)
        staged.mkdir()
        work = scratch / "executed"
        work.mkdir()
        ended = experiments_ended(source, month)
        exp_nb = folder / f"{EXPERIMENT.name}.ipynb"
        exp_todo = [e for e in ended if exp_nb.is_file()]

        def run_notebook(spec: NotebookSpec, position: int):
            executed = work / f"{spec.name}.ipynb"
            carried, shown = spec.carry_params(staged, out / str(month - 1))
            declared = notebook_parameters(folder / f"{spec.name}.ipynb")  # older notebooks carry nothing
            carried = {k: v for k, v in carried.items() if k in declared}
            shown = {k: v for k, v in shown.items() if k in declared}
            _, started, seconds = timed(lambda: execute_notebook(
                folder / f"{spec.name}.ipynb", executed, {**params_of(spec), **carried}, progress=not quiet,
                position=position, failed_dir=failed_dir))
            return spec, {**params_of(spec), **shown}, started, seconds, executed

        def run_experiment(experiment_id: str, position: int):
            return timed(lambda: _experiment_page(experiment_id, exp_nb, data_path, as_of, ctx, scratch, failed_dir,
                                                  quiet, position))

        def key_numbers(position: int):
            previous = data_mod.load_source(data_path, as_of=previous_as_of)
            return timed(lambda: collect_headlines(source, previous, [*specs, EXPERIMENT], all_params))

        tasks = [(s.name, functools.partial(run_notebook, s)) for s in specs]
        tasks += [(f"experiment {e['id']}", functools.partial(run_experiment, e["id"])) for e in exp_todo]
        tasks.append(("key numbers", key_numbers))
        overall = tqdm(total=len(tasks), desc=f"kanta report {month}", unit="step", position=0,
                       disable=True if quiet else None, leave=not quiet)  # None: no bar in a log file
        try:
            results = run_jobs(tasks, jobs, overall)
        finally:
            overall.close()
        runs = results[:len(specs)]
        staged_experiments, experiment_records = [], []
        for e, ((folder_e, _), started_e, seconds_e) in zip(exp_todo, results[len(specs):-1]):
            staged_experiments.append(folder_e)
            e["report"] = f"../experiments/{folder_e.name}/index.html"
            experiment_records.append({"experiment_id": e["id"], "html": e["report"], "started_at": started_e,
                                       "duration_s": round(seconds_e, 3)})
        headlines, started_h, headline_s = results[-1]

        import nbformat

        month_text = month_label(month, tx.language)
        nav = (f"<a href='../index.html'>{html.escape(tx('all_months'))}</a> · "
               f"<a href='index.html'>{html.escape(tx('back_to_month', month=month_text))}</a>")
        pages, notebook_records = {}, []
        for spec, params, started_at, duration, executed in runs:
            title = f"{notebook_title(spec, tx)} – {month_text}"
            details = run_details_html(tx, {tx("rd_notebook"): f"{spec.name}.ipynb",
                                            **common_rows(ctx, params, started_at, duration)})
            nb = nbformat.read(executed, as_version=4)
            pages[f"{spec.name}.html"] = notebook_html(nb, title, language, details, nav)
            notebook_records.append({"name": spec.name, "notebook": f"notebooks/{spec.name}.ipynb",
                                     "html": f"{spec.name}.html",
                                     "parameters": {**params, "source": ctx.source_display},
                                     "started_at": started_at, "duration_s": round(duration, 3)})

        total_s = time.perf_counter() - t_start
        manifest = {
            "period": str(month), "as_of": str(as_of.date()), "previous_as_of": str(previous_as_of.date()),
            "language": language,
            "parameters": {"period": str(month), "source": ctx.source_display, "language": language, **shared},
            **_manifest_common(ctx),
            "started_at": ctx.started.isoformat(),
            "duration_s": round(total_s, 3),
            "notebooks": notebook_records,
            "headlines": headlines,
            "headlines_timing": {"started_at": started_h, "duration_s": round(headline_s, 3)},
            "experiment_reports": experiment_records,
            "experiments_ended": ended,
        }
        pages["index.html"] = landing_html(manifest, specs, tx, ctx, out)
        exp_pages = {f"experiments/{f.name}/index.html": (f / "index.html").read_text(encoding="utf-8")
                     for f in staged_experiments}
        check_privacy({**pages, **exp_pages}, pii_values(source), failed_dir)
        for name, text in pages.items():
            (staged / name).write_text(text, encoding="utf-8")
        (staged / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n",
                                              encoding="utf-8")
        _publish(staged, out / str(month), scratch)
        for f in staged_experiments:
            _publish(f, out / "experiments" / f.name, scratch)
        write_index(out, language)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if failed_dir.exists():  # a later success clears the debugging copy of an earlier failure
        shutil.rmtree(failed_dir, ignore_errors=True)
        _remove_if_empty(failed_dir.parent)
    return out / str(month) / "index.html"


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass


# --- experiment reports ------------------------------------------------------
def _experiment_page(experiment_id: str, nb_path: Path, data_path: Path, as_of: pd.Timestamp, ctx: "RunInfo",
                     scratch: Path, failed_dir: Path, quiet: bool, position: int = 0) -> tuple[Path, dict]:
    """Run the experiment notebook for one experiment into ``scratch/<slug>/`` (page + manifest)."""
    import nbformat

    tx = ctx.tx
    params = {"source": str(data_path.resolve()), "as_of": str(as_of.date()), "language": ctx.language,
              EXPERIMENT_PARAMETER: str(experiment_id), **dict(EXPERIMENT.params)}
    check_parameters(nb_path, params)
    slug = safe_id(experiment_id)
    staged = scratch / "experiments" / slug
    staged.mkdir(parents=True)
    executed = scratch / "executed" / f"{EXPERIMENT.name}-{slug}.ipynb"
    executed.parent.mkdir(exist_ok=True)
    started = utc_now()
    t0 = time.perf_counter()
    execute_notebook(nb_path, executed, params, progress=not quiet, position=position, failed_dir=failed_dir)
    duration = time.perf_counter() - t0
    shown = {**params, "source": ctx.source_display}
    rows = {tx("rd_notebook"): nb_path.name, **common_rows(ctx, params, started.isoformat(), duration)}
    nav = f"<a href='../../index.html'>{html.escape(tx('all_months'))}</a>"
    page = notebook_html(nbformat.read(executed, as_version=4), tx("experiment_title", id=experiment_id),
                         ctx.language, run_details_html(tx, rows), nav)
    (staged / "index.html").write_text(page, encoding="utf-8")
    manifest = {"experiment_id": str(experiment_id), "as_of": str(as_of.date()), "language": ctx.language,
                "parameters": shown, **_manifest_common(ctx), "started_at": started.isoformat(),
                "duration_s": round(duration, 3),
                "notebooks": [{"name": EXPERIMENT.name, "notebook": f"notebooks/{nb_path.name}", "html": "index.html",
                               "parameters": shown, "started_at": started.isoformat(),
                               "duration_s": round(duration, 3)}]}
    (staged / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return staged, manifest


def experiment_ids(source) -> list[str]:
    if not source.has("assignments"):
        return []
    return sorted(source.sql("select distinct cast(experiment_id as varchar) as e from assignments")["e"])


def build_experiment_report(experiment_id: str, data: str | Path | None = None, out: str | Path = "reports",
                            language: str = "en", period: str | None = None, notebooks: str | Path | None = None,
                            quiet: bool = False) -> Path:
    """Render ``notebooks/experiment.ipynb`` for one experiment into ``out/experiments/<ID>/``.

    ``as_of`` is the end of ``period`` when given, else the last day of the data. The monthly
    run renders the experiments that ended in its month the same way.

    Example
    -------
    >>> build_experiment_report("reactivation-2026-03", data="data/sample")  # doctest: +SKIP
    PosixPath('reports/experiments/reactivation-2026-03/index.html')
    """
    from analysis import data as data_mod

    tx, out, data_path, folder = _resolve_inputs(data, out, notebooks, language, quiet)
    nb_path = folder / f"{EXPERIMENT.name}.ipynb"
    if not nb_path.is_file():
        raise ParameterError(f"--experiment: there is no experiment notebook {nb_path.name} in {folder}.")
    source = data_mod.load_source(data_path, as_of=month_end(parse_period(period)) if period else None)
    known = experiment_ids(source)
    if str(experiment_id) not in known:
        raise ParameterError(f"--experiment: no experiment {experiment_id!r} in assignments "
                             f"(found {', '.join(known) if known else 'none'}).")
    ctx = RunInfo(tx, language, _display_path(data_path), source.fingerprint, git_commit(), library_versions(),
                  utc_now(), package_version())
    slug = safe_id(experiment_id)
    failed_dir = out.resolve().parent / ".kanta-failed" / "experiments" / slug
    out.resolve().parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".kanta-render-", dir=out.resolve().parent))
    try:
        staged, _ = _experiment_page(str(experiment_id), nb_path, data_path, source.as_of, ctx, scratch, failed_dir,
                                     quiet)
        check_privacy({f"experiments/{slug}/index.html": (staged / "index.html").read_text(encoding="utf-8")},
                       pii_values(source), failed_dir)
        _publish(staged, out / "experiments" / slug, scratch)
        write_index(out, language)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return out / "experiments" / slug / "index.html"


# --- command line ------------------------------------------------------------
def _cmd_report(args) -> int:
    if args.jobs is not None and args.jobs < 1:
        raise ParameterError(f"--jobs: got {args.jobs}, expected a number of notebooks >= 1.")
    if args.experiment:
        path = build_experiment_report(args.experiment, data=args.data, out=args.out, language=args.lang,
                                       period=args.period, notebooks=args.notebooks, quiet=args.quiet)
    else:
        path = build_report(args.period, data=args.data, out=args.out, language=args.lang,
                            notebooks=args.notebooks, quiet=args.quiet, jobs=args.jobs, params=args.param)
    print(path)
    return 0


def add_cli(subparsers) -> None:
    """Register ``kanta report``."""
    p = subparsers.add_parser(
        "report", help="render the monthly report (HTML without code) into OUT/<YYYY-MM>/",
        description="Render every report notebook for one month with papermill, convert them to HTML without "
                    "code, write a landing page, manifest.json and OUT/index.html. Publishes only when every "
                    "notebook succeeded.")
    p.add_argument("--period", default=None, help="month YYYY-MM (default: last complete month of the data)")
    p.add_argument("--data", default=None, help="data source (default: data/demo, built when missing)")
    p.add_argument("--out", default="reports", help="report folder (default: reports)")
    p.add_argument("--lang", choices=["en", "fi"], default="en", help="language of the report (default en)")
    p.add_argument("--experiment", default=None, metavar="ID",
                   help="render the experiment notebook for experiment ID into OUT/experiments/ID/")
    p.add_argument("--param", "-p", action="append", default=[], metavar="[NOTEBOOK.]NAME=VALUE",
                   help="override a notebook parameter (repeatable); unknown names are an error")
    p.add_argument("--jobs", type=int, default=None, help="notebooks rendered at the same time (default 2)")
    p.add_argument("--notebooks", default=None, help=argparse.SUPPRESS)
    p.add_argument("--quiet", action="store_true", help="no progress bars (for schedulers); prints only the path")
    p.set_defaults(func=_cmd_report)

