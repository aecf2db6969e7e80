"""The monthly run: validate the data, render every notebook, write pages and manifest, publish.

Everything is rendered into a staging folder next to the report folder and moved into place
only when every notebook, the key numbers and the privacy check succeeded.
"""
from __future__ import annotations

import dataclasses
import functools
import gc
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

import pandas as pd

from analysis.base.actions import trends
from analysis.base.plan import HOLDOUT_SHARE, check_share, contact_plan
from analysis.base.plan_uplift import expected_gain, measured_priority
from analysis.base import BaseSettings, CustomerBase
from analysis import data as data_mod
from analysis.data import location
from analysis.data.privacy import pseudonym_key_kind
from analysis.data import write_json
from analysis.errors import ParameterError
from analysis.experiments import ended_experiments
from analysis.findings import Finding
from analysis.report import publishing
from analysis.report.notebooks import (
    EXPERIMENT,
    EXPERIMENT_PARAMETER,
    NOTEBOOKS,
    NotebookFailed,
    NotebookSpec,
    available_notebooks,
    check_parameters,
    default_jobs,
    execute_notebook,
    notebook_parameters,
    notebook_params,
    parse_overrides,
    run_jobs,
    timed,
    utc_now,
)
from analysis.report.numbers import KeyNumber, collect_details, collect_verdict, degrades, finding_text
from analysis.report.numbers import collect as collect_numbers
from analysis.report.markup import macros
from analysis.report.pii import check_privacy, pii_values
from analysis.report.series import month_threshold, series_threshold
from analysis.report.plan_lists import action_uplift, measure_previous, with_published_previous, write_lists
from analysis.report.run import (display_path, git_commit, last_complete_period,
                                 last_data_date, library_versions, manifest_common, month_end, package_version,
                                 parse_period, resolve_inputs)
from analysis.report.site import (
    RunInfo,
    common_rows,
    degraded_page_html,
    experiment_nav_html,
    landing_html,
    month_label,
    month_nav_html,
    notebook_html,
    notebook_title,
    run_details_html,
    safe_id,
    write_index,
)

#: The contacts page (issue 15): rendered only for a source with a contacts table.
CONTACTS = NotebookSpec("contacts", cost=9)

# --- experiments -------------------------------------------------------------
def experiments_ended(source, period: pd.Period) -> list[dict]:
    """Experiments whose outcome window closed in the month: ``[{"id": ...}]`` (:func:`analysis.experiments.month.ended_experiments`)."""

    return [{"id": str(e)} for e in ended_experiments(source, month_end(period))]


def _publish(staged: Path, target: Path, scratch: Path) -> None:
    """Mark ``staged`` as Kanta's and swap it into ``target`` whole (:func:`analysis.report.publishing.publish`)."""
    publishing.publish(staged, target, scratch)


#: Notebook parameters that are settings of the month's customer base (one value for every page).
BASE_PARAMETERS = ("inactivity_days", "horizon_months", "discount_rate", "p_alive_threshold", "value_basis",
                   "n_clusters")


def _base_settings(overrides: Mapping[str, object]):
    """The customer-base settings from the operator's overrides (plain or ``notebook.name``)."""

    given = {}
    for key, value in overrides.items():
        name = key.rpartition(".")[2]
        if name in BASE_PARAMETERS:
            if name in given and given[name] != value:
                raise ParameterError(f"--param {key}: {name} is a setting of the whole month (one value for every "
                                     f"page), got {given[name]!r} and {value!r}.")
            given[name] = value
    return BaseSettings.from_params(given)


@dataclass(frozen=True)
class MonthReport:
    """The outcome of one monthly run: the landing page, the manifest and what was degraded.

    ``exit_code`` is 0 when every page is whole and 3 when a page was published degraded
    (bad data never gets here: it raises before anything is written).
    """

    landing: Path
    manifest: dict

    @property
    def degraded(self) -> list[dict]:
        return self.manifest.get("degraded", [])

    @property
    def exit_code(self) -> int:
        return 3 if self.degraded else 0


def build_report(period: str | None = None, data: str | Path | None = None, out: str | Path = "reports",
                 language: str = "en", notebooks: str | Path | None = None, quiet: bool = False,
                 specs: Iterable[NotebookSpec] | None = None, jobs: int | None = None,
                 params: Mapping[str, object] | Iterable[str] | None = None) -> Path:
    """Render the monthly report and publish it to ``out/<YYYY-MM>/``; return the landing page.

    Same parameters as :func:`render_month`, which also returns the manifest and the exit code.

    Example
    -------
    >>> build_report("2026-10", data="data/sample", out="reports")  # doctest: +SKIP
    PosixPath('reports/2026-10/index.html')
    """
    return render_month(period, data, out, language, notebooks, quiet, specs, jobs, params).landing


def render_month(period: str | None = None, data: str | Path | None = None, out: str | Path = "reports",
                 language: str = "en", notebooks: str | Path | None = None, quiet: bool = False,
                 specs: Iterable[NotebookSpec] | None = None, jobs: int | None = None,
                 params: Mapping[str, object] | Iterable[str] | None = None) -> MonthReport:
    """Render the monthly report: one customer base for the month, every notebook reading it, then publish.

    Parameters
    ----------
    period : str, optional
        Month ``YYYY-MM``; default the last complete month of the data.
    data : path, optional
        Data source; default ``./data/demo`` (built when missing).
    out : path
        Report folder holding ``<YYYY-MM>/`` folders and ``index.html``.
    language : {"en", "fi"}
        Language of every heading, sentence and number format.
    notebooks : path, optional
        Folder of the report notebooks (default: the notebooks shipped in the package).
    quiet : bool
        No progress bars (for schedulers).
    specs : iterable of NotebookSpec, optional
        Notebooks to render (default :data:`NOTEBOOKS` whose files exist).
    jobs : int, optional
        Notebooks run at the same time (default: 2, or 1 on a one-core machine).
    params : mapping or list of "NAME=VALUE", optional
        Parameter overrides: ``name`` for every notebook declaring it, ``notebook.name`` for one.
        Settings of the customer base (``inactivity_days``, ``horizon_months``, ...) hold for the whole month.

    Returns
    -------
    MonthReport
        ``landing`` page, ``manifest`` and ``exit_code`` (0 whole, 3 a page degraded). Bad data raises
        :class:`~analysis.errors.DataError` before anything is written.
    """
    from tqdm.auto import tqdm  # local: heavy import, kept off the start-up path

    # papermill and nbformat (2-3 s of imports) load on the other core while the data is validated (DuckDB lets go
    # of the interpreter while it works); the parameter check below then finds them loaded
    threading.Thread(target=_load_notebook_libraries, name="kanta-imports", daemon=True).start()
    tx, out, data_path, folder = resolve_inputs(data, out, notebooks, language, quiet)

    # Validate first: bad data gets the loader's one-line message, not a papermill traceback.
    if period is None:
        month = last_complete_period(data_mod.data_end(data_path))  # the month's own load below checks every row
    else:
        month = parse_period(period)
    as_of = month_end(month)
    publishing.check_out(out, [str(month)])  # a folder holding what Kanta did not write is refused before any work
    previous_as_of = month_end(month - 1)
    source = data_mod.load_source(data_path, as_of=as_of)
    key_kind = pseudonym_key_kind(data_path)  # real data needs a secret pseudonym key, before any work
    last = last_data_date(source)
    if last < as_of and not source.quality.get("future_rows_excluded"):  # nothing after the month: it may be cut
        raise ParameterError(f"--period {month}: the data ends on {last.date()}, so the month is not complete "
                             f"(expected data up to {as_of.date()}).")

    specs = list(specs) if specs is not None else available_notebooks(folder, (*NOTEBOOKS, CONTACTS))
    specs = [s for s in specs if s.name != CONTACTS.name or source.has("contacts")]  # no contacts table: no page
    specs = [s for s in specs if s.applies(source)]  # e.g. no contract ends: no retention page
    if not specs:
        raise ParameterError(f"no report notebooks found in {folder} (expected e.g. customer_base.ipynb).")
    base_params = {"source": str(data_path), "as_of": str(as_of.date()), "language": language}
    overrides = parse_overrides(params) if not isinstance(params, Mapping) else dict(params)
    holdout_share = check_share(overrides.pop("holdout_share", HOLDOUT_SHARE))  # the contact plan's, no notebook's
    settings = _base_settings(overrides)
    # One churn threshold per report series: the published months' one unless the operator sets another.
    series = series_threshold(out, month, settings.inactivity_days)
    settings = dataclasses.replace(settings, inactivity_days=series.inactivity_days)
    all_params = notebook_params(specs, folder, base_params, overrides)
    for spec in specs:  # every name checked before the first notebook runs
        check_parameters(folder / f"{spec.name}.ipynb", all_params[spec.name])

    ctx = RunInfo(tx, language, display_path(data_path), source.fingerprint, git_commit(), library_versions(),
                  utc_now(), package_version())
    failed_dir = out.resolve().parent / ".kanta-failed" / str(month)
    report_folder = publishing.ReportFolder(out, [str(month)], quiet).open()  # locked until the run ends
    scratch = report_folder.scratch
    t_start = time.perf_counter()
    jobs = max(1, int(jobs or default_jobs()))
    try:
        staged = scratch / str(month)
        staged.mkdir()
        work = scratch / "executed"
        work.mkdir()

        # The month's one customer state: computed once, saved for the notebooks of this run.
        previous_centroids = out / str(month - 1) / "segments_centroids.csv"
        base, started_b, base_s = timed(lambda: CustomerBase.build(
            source, as_of, settings, previous_centroids=previous_centroids if previous_centroids.is_file() else None))
        series = month_threshold(series, source, as_of, base.settings.inactivity_days)
        base.series_threshold = series.to_dict()
        base_file = base.save(scratch / "customer_base")
        shared = {"customer_base": str(base_file), "inactivity_days": base.settings.inactivity_days}
        shown_shared = {"customer_base": "customer_base", "inactivity_days": base.settings.inactivity_days}
        # The notebook kernels read the saved state: this process lets go of its copy while they run
        # and reads the parts the landing page needs back after them.
        base = None

        ended = experiments_ended(source, month)
        gc.collect()  # the state's tables are free now; the kernels reading the saved state get the memory
        exp_nb = folder / f"{EXPERIMENT.name}.ipynb"
        exp_todo = [e for e in ended if exp_nb.is_file()]
        for e in ended:  # replaced by the page's own verdict code when its page is rendered
            e["verdict"] = "not_rendered"

        month_text = month_label(month, tx.language)
        month_pages = [(f"{s.name}.html", notebook_title(s, tx)) for s in specs]
        month_pages += [(f"../experiments/{safe_id(e['id'])}/index.html", tx("experiment_link", id=e["id"]))
                        for e in exp_todo]

        def run_notebook(spec: NotebookSpec, position: int):
            """Run one page's notebook and make its HTML page here, in the worker, while the others still run."""
            import nbformat  # local: heavy import, kept off the start-up path

            executed = work / f"{spec.name}.ipynb"
            declared = notebook_parameters(folder / f"{spec.name}.ipynb")
            carried, shown = spec.carry_params(staged, out / str(month - 1))
            run = {**all_params[spec.name], **{k: v for k, v in {**shared, **carried}.items() if k in declared}}
            shown = {**all_params[spec.name], **{k: v for k, v in {**shown_shared, **shown}.items() if k in declared}}
            failure = None
            started = utc_now().isoformat()
            t0 = time.perf_counter()
            try:
                execute_notebook(folder / f"{spec.name}.ipynb", executed, run, progress=not quiet,
                                 position=position, failed_dir=failed_dir)
            except NotebookFailed as exc:
                if exc.error_name != "ModelError":  # a bug or a broken notebook: the month fails
                    raise
                failure = exc  # valid data the model cannot estimate: the page is published degraded
            duration = time.perf_counter() - t0
            page = f"{spec.name}.html"
            nav = month_nav_html(tx, month_text, month_pages, current=page)
            title = f"{notebook_title(spec, tx)} – {month_text}"
            details = run_details_html(tx, {tx("rd_notebook"): f"{spec.name}.ipynb",
                                            **common_rows(ctx, shown, started, duration)})
            if failure is None:
                nb = nbformat.read(executed, as_version=4)
                html = notebook_html(nb, title, language, details, nav)
                page_numbers, page_findings = collect_numbers(nb)
            else:
                page_findings = [Finding(spec.name, "page_failed", {"detail": failure.error_value},
                                         failure.error_value).to_dict()]
                html = degraded_page_html(title, page_findings, tx, details, nav)
                page_numbers = []
            return spec, shown, started, duration, html, page_numbers, page_findings

        def run_experiment(experiment_id: str, position: int):
            return timed(lambda: _experiment_page(experiment_id, exp_nb, data_path, as_of, ctx, scratch, failed_dir,
                                                  quiet, position, base_file, month_pages))

        tasks = [(s.name, functools.partial(run_notebook, s)) for s in specs]
        tasks += [(f"experiment {e['id']}", functools.partial(run_experiment, e["id"])) for e in exp_todo]
        overall = tqdm(total=len(tasks), desc=f"kanta report {month}", unit="step", position=0,
                       disable=True if quiet else None, leave=not quiet)  # None: no bar in a log file
        try:
            results = run_jobs(tasks, jobs, overall, costs=[s.cost for s in specs] + [EXPERIMENT.cost] * len(exp_todo))
        finally:
            overall.close()
        runs = results[:len(specs)]
        staged_experiments, experiment_records, degraded_experiments = [], [], []
        for e, ((folder_e, manifest_e), started_e, seconds_e) in zip(exp_todo, results[len(specs):]):
            staged_experiments.append(folder_e)
            e["report"] = f"../experiments/{folder_e.name}/index.html"
            e["verdict"] = manifest_e["verdict"]
            degraded_experiments += [{**d, "page": f"../experiments/{folder_e.name}/{d['page']}"}
                                    for d in manifest_e["degraded"]]
            experiment_records.append({"experiment_id": e["id"], "html": e["report"], "started_at": started_e,
                                       "duration_s": round(seconds_e, 3)})

        pages, notebook_records, numbers, degraded, left_out = {}, [], [], list(degraded_experiments), []
        for spec, shown, started_at, duration, html, page_numbers, page_findings in runs:
            page = f"{spec.name}.html"
            pages[page] = html
            numbers += [{**n, "page": page} for n in page_numbers]
            said = [{"page": page, "reason": finding_text(f, tx), "analysis": f["analysis"], "code": f["reason"]}
                    for f in page_findings]
            degraded += [d for d, f in zip(said, page_findings) if degrades(f)]
            left_out += [d for d, f in zip(said, page_findings) if not degrades(f)]  # optional data absent
            notebook_records.append({"name": spec.name, "notebook": f"notebooks/{spec.name}.ipynb", "html": page,
                                     "parameters": {**shown, "source": ctx.source_display},
                                     "started_at": started_at, "duration_s": round(duration, 3),
                                     "degraded": any(degrades(f) for f in page_findings)})

        base = CustomerBase.load(base_file, source=source)
        # last month's plan measured over this month, then this month's plan (each customer once, with holdouts)
        results, previous_rows = measure_previous(source, out, month, as_of)
        uplift = action_uplift(out, month, results)  # each action's results pooled over the last months' plans
        plan = contact_plan(base, holdout_share, previous_rows,
                            measured=tuple(r.action for r in results if r.difference is not None),
                            priority=measured_priority(uplift))
        actions = plan.actions
        measured = {u.action: u for u in uplift}
        write_lists(plan, staged / "lists")
        landing_numbers = with_published_previous(landing_key_numbers(base, numbers, len(ended)), out, month)
        numbers = [{**n.to_dict(), "page": "index.html"} for n in landing_numbers] + numbers
        degraded += [{"page": "index.html", "reason": finding_text(f, tx), "analysis": f.analysis, "code": f.reason}
                     for f in base.findings if any(n.concept in f.affects for n in landing_numbers)]
        total_s = time.perf_counter() - t_start
        manifest = {
            "period": str(month), "as_of": str(as_of.date()), "previous_as_of": str(previous_as_of.date()),
            "language": language,
            "inactivity_days": int(base.settings.inactivity_days),  # the series' churn threshold (contract)
            "series_threshold": series.to_dict(),
            "parameters": {"period": str(month), "source": ctx.source_display, "language": language,
                           **base.settings.values()},
            **manifest_common(ctx),
            "started_at": ctx.started.isoformat(),
            "duration_s": round(total_s, 3),
            "customer_base": {"started_at": started_b, "duration_s": round(base_s, 3),
                              "findings": [f.to_dict() for f in base.findings]},
            "notebooks": notebook_records,
            "numbers": numbers,
            "glossary": base.glossary(),
            "degraded": degraded,
            "left_out": left_out,  # sections left out because the source lacks optional data (the page is whole)
            "actions": [{**a, "list": f"lists/{a['name']}.csv",
                         "expected_gain": expected_gain(measured.get(a["name"]), a["contact"])}
                        for a in plan.to_dict()["actions"]],
            "plan": {k: v for k, v in plan.to_dict().items() if k != "actions"},
            "contact_threshold": plan.contact_threshold,
            "action_results": [{k: r.to_dict()[k] for k in ACTION_RESULT_KEYS} | r.to_dict() for r in results],
            "action_uplift": [u.to_dict() for u in uplift],
            "pseudonym_key": key_kind,
            "experiment_reports": experiment_records,
            "experiments_ended": ended,
            "contacts_page": any(s.name == CONTACTS.name for s in specs),  # False: the source has no contacts table
        }
        pages["index.html"] = landing_html(manifest, landing_numbers, base, specs, tx, ctx, out, actions, trends(base))
        exp_pages = {f"experiments/{f.name}/index.html": (f / "index.html").read_text(encoding="utf-8")
                     for f in staged_experiments}
        check_privacy({**pages, **exp_pages}, pii_values(source), failed_dir)
        for name, text in pages.items():
            (staged / name).write_text(text, encoding="utf-8")
        data_mod.write_json(manifest, staged / "manifest.json")
        _publish(staged, out / str(month), scratch)
        for f in staged_experiments:
            _publish(f, out / "experiments" / f.name, scratch)
        write_index(out, language)
    except OSError as exc:
        if exc.errno not in publishing.WRITE_ERRORS:
            raise
        raise publishing.write_error(out, exc) from None
    finally:
        report_folder.close()
    if failed_dir.exists():  # a later success clears the debugging copy of an earlier failure
        shutil.rmtree(failed_dir, ignore_errors=True)
        _remove_if_empty(failed_dir.parent)
    return MonthReport(out / str(month) / "index.html", manifest)


#: The contract's fields of ``manifest.json`` ``action_results`` (more follow them).
ACTION_RESULT_KEYS = ("action", "month", "contact", "holdout", "purchase_rate_contact", "purchase_rate_holdout",
                      "difference", "ci_low", "ci_high")


#: The landing page's key numbers, in order: the month's customer flows and value, then retention.
LANDING_CONCEPTS = ("customers_active", "customers_new", "customers_lost", "customers_returned", "customers_churned",
                    "revenue", "avg_purchase", "purchase_frequency", "customer_equity", "value_at_risk",
                    "customers_at_risk", "retention_rate", "monthly_churn_rate", "a_revenue_share",
                    "experiments_concluded",
                    # from the contacts page, when the source has contacts
                    "complaints_month", "complaints_first_contact_share", "customers_over_contact_threshold")


def landing_key_numbers(base, page_numbers: list[dict], n_experiments: int) -> list:
    """Typed key numbers of the landing page: from the customer base, else as a page stated them."""

    from_pages = {}
    for n in page_numbers:
        from_pages.setdefault(n["concept"], n)
    defined = base.numbers()
    out = []
    for concept_id in LANDING_CONCEPTS:
        if concept_id == "experiments_concluded":
            out.append(KeyNumber(concept_id, n_experiments))
        elif concept_id in defined:
            out.append(base.key_number(concept_id))
        elif concept_id in from_pages:
            n = from_pages[concept_id]
            out.append(KeyNumber(concept_id, n.get("value"), previous=n.get("previous"), reason=n.get("reason")))
    return out


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass


# --- experiment reports ------------------------------------------------------
def _load_notebook_libraries() -> None:
    """Import what running and reading notebooks needs (a warm-up: a failure here is met again where it is used)."""
    try:
        import nbformat  # noqa: F401  # local: heavy import, kept off the start-up path
        import papermill  # noqa: F401  # local: heavy import, kept off the start-up path
    except ImportError:
        pass


def _experiment_page(experiment_id: str, nb_path: Path, data_path: Path, as_of: pd.Timestamp, ctx: "RunInfo",
                     scratch: Path, failed_dir: Path, quiet: bool, position: int = 0,
                     base_file: Path | None = None, month_pages: list | None = None) -> tuple[Path, dict]:
    """Run the experiment notebook for one experiment into ``scratch/<slug>/`` (page + manifest).

    In the monthly run ``base_file`` is the month's saved customer base, so the experiment's
    value comparison uses the month's one CLV fit.
    """
    import nbformat  # local: heavy import, kept off the start-up path

    tx = ctx.tx
    params = {"source": str(location(data_path)), "as_of": str(as_of.date()), "language": ctx.language,
              EXPERIMENT_PARAMETER: str(experiment_id), **dict(EXPERIMENT.params)}
    if base_file is not None and "customer_base" in notebook_parameters(nb_path):
        params["customer_base"] = str(base_file)
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
    if "customer_base" in shown:
        shown["customer_base"] = "customer_base"  # the month's saved state, as on the month's own pages
    rows = {tx("rd_notebook"): nb_path.name, **common_rows(ctx, shown, started.isoformat(), duration)}
    nav = str(macros("landing.html.j2").nav(tx("all_months"), "../../index.html"))
    if base_file is not None:  # in the monthly run: the month's landing page and its other pages, as on them
        nav = experiment_nav_html(tx, pd.Timestamp(as_of).strftime("%Y-%m"), list(month_pages or []), experiment_id)
    nb = nbformat.read(executed, as_version=4)
    page = notebook_html(nb, tx("experiment_title", id=experiment_id), ctx.language, run_details_html(tx, rows), nav)
    (staged / "index.html").write_text(page, encoding="utf-8")
    numbers, findings = collect_numbers(nb)
    verdict = collect_verdict(nb) or "not_recorded"  # a notebook of one's own without the verdict section
    manifest = {"experiment_id": str(experiment_id), "as_of": str(as_of.date()), "language": ctx.language,
                "verdict": verdict,
                "parameters": shown, **manifest_common(ctx), "started_at": started.isoformat(),
                "duration_s": round(duration, 3),
                "numbers": [{**n, "page": "index.html"} for n in numbers],
                "details": collect_details(nb),  # the numbers behind the page's sentences and tables
                "degraded": [{"page": "index.html", "reason": finding_text(f, tx), "analysis": f["analysis"],
                              "code": f["reason"]} for f in findings],
                "notebooks": [{"name": EXPERIMENT.name, "notebook": f"notebooks/{nb_path.name}", "html": "index.html",
                               "parameters": shown, "started_at": started.isoformat(),
                               "duration_s": round(duration, 3)}]}
    write_json(manifest, staged / "manifest.json")
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

    tx, out, data_path, folder = resolve_inputs(data, out, notebooks, language, quiet)
    nb_path = folder / f"{EXPERIMENT.name}.ipynb"
    if not nb_path.is_file():
        raise ParameterError(f"--experiment: there is no experiment notebook {nb_path.name} in {folder}.")
    source = data_mod.load_source(data_path, as_of=month_end(parse_period(period)) if period else None)
    pseudonym_key_kind(data_path)  # real data needs a secret pseudonym key
    known = experiment_ids(source)
    if str(experiment_id) not in known:
        raise ParameterError(f"--experiment: no experiment {experiment_id!r} in assignments "
                             f"(found {', '.join(known) if known else 'none'}).")
    ctx = RunInfo(tx, language, display_path(data_path), source.fingerprint, git_commit(), library_versions(),
                  utc_now(), package_version())
    slug = safe_id(experiment_id)
    failed_dir = out.resolve().parent / ".kanta-failed" / "experiments" / slug
    report_folder = publishing.ReportFolder(out, [f"experiments/{slug}"], quiet).open()  # checked, locked
    scratch = report_folder.scratch
    try:
        staged, _ = _experiment_page(str(experiment_id), nb_path, data_path, source.as_of, ctx, scratch, failed_dir,
                                     quiet)
        check_privacy({f"experiments/{slug}/index.html": (staged / "index.html").read_text(encoding="utf-8")},
                       pii_values(source), failed_dir)
        _publish(staged, out / "experiments" / slug, scratch)
        write_index(out, language)
    except OSError as exc:
        if exc.errno not in publishing.WRITE_ERRORS:
            raise
        raise publishing.write_error(out, exc) from None
    finally:
        report_folder.close()
    return out / "experiments" / slug / "index.html"
