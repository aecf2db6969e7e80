"""The report notebooks: which exist, what parameters they take, and running them with papermill.

Every report notebook declares ``source``, ``as_of`` and ``language`` in a ``parameters`` cell;
a parameter the notebook does not declare is an error here (papermill only warns and runs on).
"""
from __future__ import annotations

import ast
import datetime as _dt
import numbers
import os
import queue
import re
import shutil
import time
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Callable, Iterable, Mapping

from analysis.churn import ATTRIBUTES
from analysis.clv import check_horizon
from analysis.clv.retention import has_contracts
from analysis.data import child_environment
from analysis.errors import KantaError, ParameterError
from analysis.segments import SegmentSettings

#: Parameters every report notebook must declare in its ``parameters`` cell.
REQUIRED_PARAMETERS = ("source", "as_of", "language")
#: A cell running longer than this is stuck (a scheduled run must end, not hang).
CELL_TIMEOUT_S = 1800


class NotebookFailed(KantaError):
    """A report notebook raised an error; the message names the notebook, cell and error.

    ``error_name`` is the exception's class name: a :class:`~analysis.errors.ModelError` (an
    analysis that cannot be estimated on valid data) degrades the page instead of failing the month.
    """

    exit_code = 1

    def __init__(self, message: str, error_name: str = "", error_value: str = ""):
        super().__init__(message)
        self.error_name = error_name
        self.error_value = error_value


@dataclass(frozen=True)
class NotebookSpec:
    """One report notebook: its file stem in ``notebooks/`` and the parameters the run gives it.

    ``params`` are passed besides ``source``, ``as_of``, ``language`` and the month's shared
    values (``customer_base``, ``inactivity_days``) that every notebook declaring them receives.
    """

    name: str
    params: Mapping[str, object] = field(default_factory=dict)
    #: ``(file, previous_param, out_param)``: a file the notebook writes into its month's folder
    #: (``out_param``) and reads back from the previous month's (``previous_param``), e.g. cluster
    #: centroids, so that what it learned carries over from one monthly report to the next.
    carry: tuple[str, str, str] | None = None
    #: ``when(source) -> bool``: the notebook is rendered only for a source it applies to (None: always).
    when: Callable[[object], bool] | None = None
    #: Its running time relative to the others (seconds on the 200,000-customer demo, quiet 2-core machine): the
    #: month starts the costliest notebooks first, so the ones running side by side end close together.
    cost: float = 10.0

    def applies(self, source) -> bool:
        """Whether this notebook is rendered for ``source`` (see :attr:`when`)."""
        return self.when is None or bool(self.when(source))

    def carry_params(self, staged_month: Path, previous_month: Path) -> tuple[dict, dict]:
        """The carry-over parameters to run with, and how to show them (paths relative to the month)."""
        if self.carry is None:
            return {}, {}
        file, previous_param, out_param = self.carry
        before = previous_month / file
        run = {out_param: str(staged_month / file), previous_param: str(before) if before.is_file() else None}
        shown = {out_param: file, previous_param: f"../{previous_month.name}/{file}" if before.is_file() else None}
        return run, shown


#: The month's notebooks, in page order. A notebook is rendered when its file exists.
NOTEBOOKS: tuple[NotebookSpec, ...] = (
    NotebookSpec("customer_base", cost=6),
    NotebookSpec("clv", cost=27),
    NotebookSpec("churn", cost=28),
    NotebookSpec("segments", carry=("segments_centroids.csv", "previous_centroids", "centroids_out"), cost=10),
    NotebookSpec("retention", when=has_contracts, cost=10),  # only a source with contract ends (customers.churn_date)
)


#: The experiment notebook, rendered one experiment at a time (``--experiment ID``).
EXPERIMENT = NotebookSpec("experiment", cost=13)
EXPERIMENT_PARAMETER = "experiment_id"


def utc_now() -> _dt.datetime:
    """Start times for the run details: wall-clock time is run metadata only, never an analysis input."""
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)


def project_root() -> Path:
    """The folder the operator runs ``kanta`` in: the current working folder.

    The package may be installed anywhere (a checkout, site-packages), so the default data
    (``./data/demo``), the paths shown in the run details and the git commit are looked up
    from here, never from where the code lies.
    """
    return Path.cwd()


def notebooks_dir() -> Path:
    """The report notebooks shipped inside the package (``analysis/notebooks``), wherever it is installed."""

    return Path(str(resources.files("analysis") / "notebooks"))


def available_notebooks(folder: Path | None = None, specs: Iterable[NotebookSpec] = NOTEBOOKS) -> list[NotebookSpec]:
    """Registered notebooks whose ``.ipynb`` file exists, in page order."""
    folder = Path(folder) if folder else notebooks_dir()
    return [s for s in specs if (folder / f"{s.name}.ipynb").is_file()]


def notebook_parameters(path: Path) -> dict[str, dict]:
    """The parameters declared in a notebook's ``parameters`` cell (papermill's inspection).

    Each is ``{"name", "inferred_type_name", "default", "help"}``: papermill reads ``name: type = value  # help``
    (``inferred_type_name`` is ``"None"`` for a line without a type). A line papermill cannot read (a type it
    does not parse, such as ``str | None``) is refused here, since papermill would drop the parameter silently.
    """
    import papermill as pm  # local: heavy import, kept off the start-up path

    params = pm.inspect_notebook(str(path))
    if not params:
        raise ParameterError(f"{Path(path).name}: no cell tagged 'parameters' "
                             f"(expected one with {', '.join(REQUIRED_PARAMETERS)}).")
    unread = [line for name, line in _assigned_names(path) if name not in params]
    if unread:
        raise ParameterError(f"{Path(path).name}: papermill cannot read the parameters line {unread[0]!r}; expected "
                             "'name: type = value  # comment' with a type such as int, float, str, bool or "
                             "Optional[str].")
    return params


def _assigned_names(path: Path) -> list[tuple[str, str]]:
    """``(name, line)`` of every top-level assignment in the notebook's parameters cell (Python's own parser)."""
    import nbformat  # local: heavy import, kept off the start-up path

    nb = nbformat.read(str(path), as_version=4)
    cell = next((c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])), None)
    try:
        tree = ast.parse(cell.source) if cell is not None else None
    except SyntaxError:
        return []  # papermill's error, with its line, is clearer than ours
    lines = cell.source.splitlines() if cell is not None else []
    found = []
    for node in tree.body if tree is not None else ():
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) \
            else []
        found += [(t.id, lines[node.lineno - 1].strip()) for t in targets if isinstance(t, ast.Name)]
    return found


def check_parameters(path: Path, parameters: Mapping[str, object]) -> None:
    """Raise :class:`ParameterError` for a parameter the notebook does not declare.

    papermill only logs a warning for unknown names and runs on with the default, which would
    publish a report computed with other settings than the operator asked for.
    """
    declared = notebook_parameters(path)
    missing = [p for p in REQUIRED_PARAMETERS if p not in declared]
    if missing:
        raise ParameterError(f"{Path(path).name}: the parameters cell lacks {', '.join(missing)} "
                             f"(every report notebook declares {', '.join(REQUIRED_PARAMETERS)}).")
    unknown = sorted(set(parameters) - set(declared))
    if unknown:
        raise ParameterError(f"{Path(path).name}: unknown parameter {', '.join(map(repr, unknown))}; "
                             f"the notebook declares {', '.join(sorted(declared))}.")
    for name, value in parameters.items():
        check_type(name, value, declared[name].get("inferred_type_name"), declared[name].get("default"),
                   Path(path).name)
        if name not in REQUIRED_PARAMETERS:
            check_value(name, value, declared[name].get("default"))


#: What a value must be for a type papermill reads from a parameters cell, and how a sentence says it.
_TYPES: dict[str, tuple[Callable[[object], bool], str]] = {
    "int": (lambda v: isinstance(v, numbers.Integral) and not isinstance(v, bool), "a whole number"),
    "float": (lambda v: isinstance(v, numbers.Real) and not isinstance(v, bool), "a number"),
    "str": (lambda v: isinstance(v, str), "text"),
    "bool": (lambda v: isinstance(v, bool), "True or False"),
    "list": (lambda v: isinstance(v, (list, tuple)), "a list"),
    "tuple": (lambda v: isinstance(v, (list, tuple)), "a list"),
    "dict": (lambda v: isinstance(v, Mapping), "a dict"),
    "None": (lambda v: v is None, "None"),
}


def _type_options(type_name: str) -> list[str] | None:
    """The plain types a declared type allows (``"Optional[int]"`` -> ``["int", "None"]``); None: not checked.

    >>> _type_options("Optional[int]"), _type_options("list[str]"), _type_options("Union[int, str]"), _type_options("Path")
    (['int', 'None'], ['list'], ['int', 'str'], None)
    """
    text = type_name.replace("typing.", "").replace(" ", "")
    outer, _, inner = text.partition("[")
    if outer == "Optional" and inner.endswith("]"):
        rest = _type_options(inner[:-1])
        return None if rest is None else [*rest, "None"]
    if outer == "Union" and inner.endswith("]"):
        parts = [_type_options(p) for p in inner[:-1].split(",")]  # nested brackets: not checked
        return None if any(p is None for p in parts) or "[" in inner[:-1] else [t for p in parts for t in p]
    name = {"List": "list", "Tuple": "tuple", "Dict": "dict", "Sequence": "list", "Mapping": "dict",
            "NoneType": "None"}.get(outer, outer)
    return [name] if name in _TYPES else None


def check_type(name: str, value, type_name: str | None, default: str | None = None, notebook: str = "the notebook") -> None:
    """Raise :class:`ParameterError` when ``value`` is not of the type the parameters cell declares
    (``name: type = value``, papermill's ``inferred_type_name``); a cell without types is not checked here.

    A parameter whose default is ``None`` also takes ``None``; an int is a float; a type papermill reads but
    this check does not know (``Path``) passes.

    Example
    -------
    >>> check_type("horizon_months", 12.5, "int", "12", "clv.ipynb")
    Traceback (most recent call last):
    ...
    analysis.errors.ParameterError: --param horizon_months: got 12.5, expected a whole number (clv.ipynb declares horizon_months: int).
    >>> check_type("group_by", None, "Optional[str]"), check_type("discount_rate", 1, "float"), check_type("x", 3, "None")
    (None, None, None)
    """
    if not type_name or type_name == "None":
        return
    options = _type_options(type_name)
    if options is None:
        return
    if default is not None and default.strip() == "None" and "None" not in options:
        options = [*options, "None"]
    if not any(_TYPES[t][0](value) for t in options):
        expected = " or ".join(dict.fromkeys(_TYPES[t][1] for t in options))
        raise ParameterError(f"--param {name}: got {value!r}, expected {expected} ({notebook} declares "
                             f"{name}: {type_name}).")


def check_value(name: str, value, default: str | None = None) -> None:
    """Raise :class:`ParameterError` for a value the analysis would reject, before any notebook runs.

    A number where the notebook's default is a number (a cell without types), then the owning module's
    own range check (a bad value would otherwise fail inside the notebook: exit 1, not bad input).

    Example
    -------
    >>> check_value("horizon_months", 0)
    Traceback (most recent call last):
    ...
    analysis.errors.ParameterError: horizon_months: got 0, expected a whole number of months >= 1.
    """

    try:
        default_value = ast.literal_eval(default) if default is not None else None
    except (ValueError, SyntaxError):
        default_value = None
    if isinstance(default_value, (int, float)) and not isinstance(default_value, bool) and \
            (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise ParameterError(f"--param {name}: got {value!r}, expected a number (the notebook's default is {default}).")
    if name in ("horizon_months", "discount_rate"):

        check_horizon(value if name == "horizon_months" else 12, value if name == "discount_rate" else 0.01)
    elif name in ("n_clusters", "value_basis"):

        SegmentSettings.from_params(**{name: value})
    elif name == "p_alive_threshold" and not (isinstance(value, (int, float)) and 0 < value < 1):
        raise ParameterError(f"p_alive_threshold: got {value!r}, expected a probability between 0 and 1 (e.g. 0.5).")
    elif name == "group_by":

        if value and value not in ATTRIBUTES:
            raise ParameterError(f"group_by: got {value!r}, expected one of {', '.join(ATTRIBUTES)} (or None).")


#: Starts of a kernel that dies before running a cell (a port taken by a kernel starting at the same time).
KERNEL_START_ATTEMPTS = 3


def execute_notebook(path: Path, output: Path, parameters: Mapping[str, object], *,
                     progress: bool = True, position: int = 1, failed_dir: Path | None = None) -> None:
    """Run one notebook with papermill; a failing cell becomes :class:`NotebookFailed`.

    The executed notebook is written to ``output``; on failure it is copied to ``failed_dir``
    so the operator can open it and see the traceback.
    """
    import papermill as pm  # local: heavy import, kept off the start-up path
    from papermill.exceptions import PapermillExecutionError  # local: heavy import, kept off the start-up path

    check_parameters(path, parameters)
    bar = ({"desc": f"  {path.stem}", "position": position, "leave": False, "unit": "cell", "disable": None}
           if progress else False)  # disable=None: tqdm draws only on a terminal
    # The kernel inherits the environment: no GUI backend on servers (set for the process, since
    # notebooks may run in parallel threads and restoring it per run would race).
    os.environ["MPLBACKEND"] = "Agg"
    # A database password reaches the kernel in its environment only, never in a parameter or output.
    kernel = _kernel_manager_class(child_environment(parameters.get("source")))
    try:
        for attempt in range(KERNEL_START_ATTEMPTS):
            try:
                # No ``cwd``: papermill would os.chdir the whole process, which breaks notebooks running in
                # parallel threads; report notebooks get absolute paths instead.
                pm.execute_notebook(str(path), str(output), parameters=dict(parameters), progress_bar=bar,
                                    log_output=False, report_mode=False, execution_timeout=CELL_TIMEOUT_S,
                                    # the kernel's start-up warnings are noise in a scheduler's mail
                                    extra_arguments=["--IPKernelApp.log_level=CRITICAL"], **kernel)
                break
            except RuntimeError as exc:
                # Two kernels starting at once can be handed the same free TCP port (jupyter_client picks ports
                # by binding and releasing them); the kernel then dies before any cell ran, so starting again is safe.
                if "before replying to kernel_info" not in str(exc) or attempt == KERNEL_START_ATTEMPTS - 1:
                    raise
    except PapermillExecutionError as exc:
        kept = _keep_failed(output, failed_dir)
        where = f" (executed notebook kept in {kept})" if kept else ""
        raise NotebookFailed(f"notebook {path.name} failed in cell In [{exc.exec_count}]: "
                             f"{exc.ename}: {one_line(exc.evalue)}{where}.", exc.ename, one_line(exc.evalue)) from None
    except Exception as exc:  # kernel died, timeout, bad notebook JSON
        if isinstance(exc, KantaError):
            raise
        kept = _keep_failed(output, failed_dir)
        where = f" (executed notebook kept in {kept})" if kept else ""
        raise NotebookFailed(f"notebook {path.name} could not be run: {type(exc).__name__}: "
                             f"{one_line(str(exc))}{where}.") from None


def _kernel_manager_class(env: Mapping[str, str]) -> dict:
    """papermill arguments that start the kernel with ``env`` added to this process's environment, and shut
    it down without an interrupt.

    Per run, not ``os.environ``: notebooks run in parallel threads, and a password set for the
    whole process would outlive the run. jupyter_client interrupts a kernel (SIGINT) before asking it to
    shut down; after the last cell the kernel is idle, and a signal that lands while it is still finishing a
    message is logged as an "ERROR ... KeyboardInterrupt" on a successful run. A shutdown request is enough
    (jupyter_client still kills a kernel that does not stop); interrupts while cells run (a cell's timeout)
    are sent as before.
    """
    from jupyter_client.manager import AsyncKernelManager  # local: heavy import, kept off the start-up path

    class KernelManager(AsyncKernelManager):
        async def start_kernel(self, **kw):
            if env:
                kw["env"] = {**os.environ, **kw.get("env", {}), **env}
            return await super().start_kernel(**kw)

        async def _async_interrupt_kernel(self) -> None:
            if self.shutting_down:
                return
            await super()._async_interrupt_kernel()

        interrupt_kernel = _async_interrupt_kernel

    return {"kernel_manager_class": KernelManager}


def one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _keep_failed(output: Path, failed_dir: Path | None) -> Path | None:
    if failed_dir is None or not Path(output).exists():
        return None
    failed_dir.mkdir(parents=True, exist_ok=True)
    target = failed_dir / Path(output).name
    shutil.copyfile(output, target)
    return target


def parse_overrides(items: Iterable[str]) -> dict[str, object]:
    """``["horizon_months=24", "clv.discount_rate=0.02"]`` -> ``{name: value}`` (Python literals, else text).

    Example
    -------
    >>> parse_overrides(["clv.horizon_months=24", "group_by=region"])
    {'clv.horizon_months': 24, 'group_by': 'region'}
    """

    out = {}
    for item in items or ():
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not re.fullmatch(r"([A-Za-z_]\w*\.)?[A-Za-z_]\w*", name):
            raise ParameterError(f"--param: got {item!r}, expected NAME=VALUE or NOTEBOOK.NAME=VALUE.")
        if name.split(".")[-1] in REQUIRED_PARAMETERS:
            raise ParameterError(f"--param {name}: set it with --data, --period or --lang instead.")
        try:
            out[name] = ast.literal_eval(text.strip())
        except (ValueError, SyntaxError):
            out[name] = text.strip()
    return out


def notebook_params(specs: list[NotebookSpec], folder: Path, base: Mapping, overrides: Mapping[str, object],
                    shared: Mapping[str, object] | None = None) -> dict:
    """Parameters of every notebook: the required ones, the registry's, then the operator's overrides.

    ``shared`` values (the run's churn threshold) go to every notebook that declares them, so
    all pages count "active" and "lost" alike. A plain override goes to every notebook that
    declares it; ``notebook.name`` to that notebook only. A name no notebook declares is an
    error (papermill would only warn and run on).
    """
    declared = {s.name: notebook_parameters(folder / f"{s.name}.ipynb") for s in specs}
    out = {s.name: {**base, **dict(s.params)} for s in specs}
    for name, value in (shared or {}).items():
        for n in out:
            if name in declared[n]:
                out[n][name] = value
    for key, value in overrides.items():
        nb, _, name = key.rpartition(".")
        if nb:
            if nb not in out:
                raise ParameterError(f"--param {key}: no report notebook {nb!r} (rendering {', '.join(out)}).")
            out[nb][name] = value
            continue
        targets = [n for n in out if name in declared[n]]
        if not targets:
            known = "; ".join(f"{n}: " + ", ".join(sorted(set(d) - set(REQUIRED_PARAMETERS))) for n, d in declared.items())
            raise ParameterError(f"--param {key}: unknown parameter; no report notebook declares it ({known}).")
        for n in targets:
            out[n][name] = value
    return out


def run_jobs(tasks: list[tuple[str, Callable[[int], object]]], n_jobs: int, overall,
             costs: list[float] | None = None) -> list:
    """Run ``(label, task(position))`` pairs on ``n_jobs`` threads; the results in the order of the list.

    Jobs start in order of the list, or the costliest first when ``costs`` are given (longest processing time
    first: jobs side by side end close together). Each notebook runs in its own kernel process, so threads are
    enough to use both cores. The first failure stops jobs not yet started, waits for the running ones, and is
    raised (the first in list order, so the message is stable).
    """
    order = sorted(range(len(tasks)), key=lambda i: -costs[i]) if costs is not None else list(range(len(tasks)))

    slots: queue.Queue[int] = queue.Queue()
    for k in range(max(1, n_jobs)):
        slots.put(k + 1)  # progress-bar rows under the overall bar

    def run(label: str, task: Callable[[int], object]):
        position = slots.get()
        try:
            if overall is not None:
                overall.set_postfix_str(label)
            result = task(position)
        finally:
            slots.put(position)
        if overall is not None:
            overall.update(1)
        return result

    with ThreadPoolExecutor(max_workers=max(1, n_jobs), thread_name_prefix="kanta-report") as pool:
        started = {i: pool.submit(run, *tasks[i]) for i in order}
        futures = [started[i] for i in range(len(tasks))]
        done, pending = wait(futures, return_when=FIRST_EXCEPTION)
        for f in pending:
            f.cancel()
        wait([f for f in pending if not f.cancelled()])
        for f in futures:  # the first failure in list order, so the message is stable
            if f.done() and not f.cancelled() and f.exception() is not None:
                raise f.exception()
        return [f.result() for f in futures]


def timed(func: Callable[[], object]) -> tuple[object, str, float]:
    started = utc_now()
    t0 = time.perf_counter()
    result = func()
    return result, started.isoformat(), time.perf_counter() - t0


def default_jobs() -> int:
    return max(1, min(2, os.cpu_count() or 1))


