"""The monthly report: run the analysis notebooks for one month and publish them as HTML.

``kanta report`` validates the data, renders every registered notebook with papermill,
converts each to self-contained HTML without code, adds a landing page with the key
numbers, a run manifest and an index of all months, and publishes only when all succeeded.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import html
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib import metadata, resources
from pathlib import Path
from typing import Callable, Iterable, Mapping

import pandas as pd

from analysis.errors import KantaError, ParameterError
from analysis.i18n import Text, check_language

#: Parameters every report notebook must declare in its ``parameters`` cell.
REQUIRED_PARAMETERS = ("source", "as_of", "language")
#: Libraries whose versions go into the run manifest.
KEY_LIBRARIES = ("pandas", "numpy", "scipy", "duckdb", "lifetimes", "lifelines", "scikit-learn",
                 "statsmodels", "matplotlib", "papermill", "nbconvert")
#: Cell tags that never reach a stakeholder page.
HIDDEN_TAGS = frozenset({"parameters", "injected-parameters", "remove-cell", "report-hide"})
PERIOD_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


class NotebookFailed(KantaError):
    """A report notebook raised an error; the message names the notebook, cell and error."""

    exit_code = 1


class PrivacyError(KantaError):
    """A rendered page contains personal data from the input (names, e-mails, phones, raw IDs)."""

    exit_code = 1


@dataclass(frozen=True)
class NotebookSpec:
    """One report notebook: its file stem in ``notebooks/``, headline function and parameters.

    ``headline`` is ``"module:function"``; the function takes ``(source, as_of, **params)``
    and returns ``{key: number}``. ``landing_keys`` are the numbers shown on the month's
    landing page (all of them go into the manifest). ``params`` are passed to the notebook
    besides ``source``, ``as_of`` and ``language`` (and to the headline function).
    """

    name: str
    headline: str | None = None
    params: Mapping[str, object] = field(default_factory=dict)
    landing_keys: tuple[str, ...] = ()

    def headline_function(self) -> Callable | None:
        """The headline function, or None when its module is not there (yet)."""
        if not self.headline:
            return None
        module_name, func_name = self.headline.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError:
            return None
        return getattr(module, func_name, None)


#: The month's notebooks, in page order. A notebook is rendered when its file exists.
NOTEBOOKS: tuple[NotebookSpec, ...] = (
    NotebookSpec("customer_base", "analysis.report:base_headline", {"inactivity_days": 180},
                 ("active", "new", "lost", "returned", "revenue", "avg_purchase", "purchase_frequency")),
    NotebookSpec("clv", "analysis.clv:headline", {}, ("customer_equity", "value_at_risk", "n_at_risk")),
    NotebookSpec("churn", "analysis.survival:headline", {}, ("retention_rate", "monthly_churn_rate")),
    NotebookSpec("segments", "analysis.segments:headline", {},
                 ("biggest_movement", "won_back_customers", "active_to_lapsing_customers", "a_revenue_share")),
)
#: The experiment notebook, rendered one experiment at a time (``--experiment ID``).
EXPERIMENT = NotebookSpec("experiment", "analysis.experiments:headline", {}, ("experiments_concluded",))
EXPERIMENT_PARAMETER = "experiment_id"

#: How the landing page formats headline numbers: key -> "money" | "count" | "share" | "number".
KEY_FORMATS = {
    "registered": "count", "active": "count", "new": "count", "lost": "count", "returned": "count",
    "revenue": "money", "avg_purchase": "money2", "purchase_frequency": "number",
    "customer_equity": "money", "value_at_risk": "money", "n_at_risk": "count",
    "retention_rate": "share", "monthly_churn_rate": "share", "won_back_customers": "count",
    "active_to_lapsing_customers": "count", "a_revenue_share": "share", "experiments_concluded": "count",
}


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


def project_root() -> Path:
    """The checkout holding ``notebooks/`` (the package is installed editable from ``src/``)."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "notebooks").is_dir() and (parent / "pyproject.toml").is_file():
            return parent
    return Path.cwd()


def notebooks_dir() -> Path:
    return project_root() / "notebooks"


def available_notebooks(folder: Path | None = None, specs: Iterable[NotebookSpec] = NOTEBOOKS) -> list[NotebookSpec]:
    """Registered notebooks whose ``.ipynb`` file exists, in page order."""
    folder = Path(folder) if folder else notebooks_dir()
    return [s for s in specs if (folder / f"{s.name}.ipynb").is_file()]


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


def _utc_now() -> _dt.datetime:
    # Wall-clock time is run metadata only (manifest, "Run details"); no analysis reads it.
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)


# --- notebook parameters and execution ---------------------------------------
def notebook_parameters(path: Path) -> dict[str, dict]:
    """The parameters declared in a notebook's ``parameters`` cell (papermill's inspection)."""
    import papermill as pm

    params = pm.inspect_notebook(str(path))
    if not params:
        raise ParameterError(f"{Path(path).name}: no cell tagged 'parameters' (expected one with {', '.join(REQUIRED_PARAMETERS)}).")
    return params


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


def execute_notebook(path: Path, output: Path, parameters: Mapping[str, object], *,
                     progress: bool = True, position: int = 1, failed_dir: Path | None = None) -> None:
    """Run one notebook with papermill; a failing cell becomes :class:`NotebookFailed`.

    The executed notebook is written to ``output``; on failure it is copied to ``failed_dir``
    so the operator can open it and see the traceback.
    """
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    check_parameters(path, parameters)
    bar = {"desc": f"  {path.stem}", "position": position, "leave": False, "unit": "cell"} if progress else False
    # The kernel inherits the environment: no GUI backend on servers (set for the process, since
    # notebooks may run in parallel threads and restoring it per run would race).
    os.environ["MPLBACKEND"] = "Agg"
    try:
        # No ``cwd``: papermill would os.chdir the whole process, which breaks notebooks running in
        # parallel threads; report notebooks get absolute paths instead.
        pm.execute_notebook(str(path), str(output), parameters=dict(parameters), progress_bar=bar,
                            log_output=False, report_mode=False,
                            # the kernel's start-up warnings are noise in a scheduler's mail
                            extra_arguments=["--IPKernelApp.log_level=ERROR"])
    except PapermillExecutionError as exc:
        kept = _keep_failed(output, failed_dir)
        where = f" (executed notebook kept in {kept})" if kept else ""
        raise NotebookFailed(f"notebook {path.name} failed in cell In [{exc.exec_count}]: "
                             f"{exc.ename}: {_one_line(exc.evalue)}{where}.") from None
    except Exception as exc:  # kernel died, timeout, bad notebook JSON
        if isinstance(exc, KantaError):
            raise
        kept = _keep_failed(output, failed_dir)
        where = f" (executed notebook kept in {kept})" if kept else ""
        raise NotebookFailed(f"notebook {path.name} could not be run: {type(exc).__name__}: "
                             f"{_one_line(str(exc))}{where}.") from None


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _keep_failed(output: Path, failed_dir: Path | None) -> Path | None:
    if failed_dir is None or not Path(output).exists():
        return None
    failed_dir.mkdir(parents=True, exist_ok=True)
    target = failed_dir / Path(output).name
    shutil.copyfile(output, target)
    return target


# --- HTML --------------------------------------------------------------------
def _template_file(name: str) -> Path:
    return Path(str(resources.files("analysis") / "templates" / name))


def page_css() -> str:
    return _template_file("kanta_page.css").read_text(encoding="utf-8")


def stakeholder_cells(nb):
    """Only what a stakeholder reads: rich outputs of code cells, never code or raw prints.

    Dropped: markdown/raw cells (notebooks show every visible thing as an output, in the
    report's language), parameters cells, ``# NBVAL_CHECK_OUTPUT`` cells (rounded numbers
    for CI), stream output (prints, warnings) and bare ``text/plain`` reprs.
    """
    import nbformat

    nb = nbformat.from_dict(json.loads(json.dumps(nb)))  # a deep copy
    kept = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        tags = set(cell.get("metadata", {}).get("tags", []))
        if tags & HIDDEN_TAGS or cell.source.lstrip().startswith("# NBVAL_CHECK_OUTPUT"):
            continue
        outputs = [o for o in cell.get("outputs", [])
                   if o.output_type in ("display_data", "execute_result")
                   and set(o.get("data", {})) - {"text/plain"}]
        if outputs:
            cell.outputs = outputs
            kept.append(cell)
    nb.cells = kept
    return nb


def notebook_html(nb, title: str, language: str, run_details_html: str = "", nav_html: str = "") -> str:
    """A stakeholder page from an executed notebook: no code, no prompts, no CDN scripts."""
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab", template_file=str(_template_file("kanta_page.html.j2")),
                            exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True,
                            exclude_markdown=True, exclude_raw=True, embed_images=True)
    nb = stakeholder_cells(nb)
    nb.metadata["title"] = title
    body, _ = exporter.from_notebook_node(nb, resources={
        "language_code": language,
        "kanta": {"css": page_css(), "run_details_html": run_details_html, "nav_html": nav_html},
    })
    return body


def simple_page(title: str, body_html: str, language: str, subtitle: str = "",
                nav_html: str = "", run_details_html: str = "") -> str:
    """The landing and index pages: same style sheet as the notebook pages, no scripts."""
    import jinja2

    template = jinja2.Template(_template_file("page.html.j2").read_text(encoding="utf-8"), autoescape=False)
    return template.render(lang=language, title=html.escape(title), subtitle=html.escape(subtitle),
                           css=page_css(), body=body_html, nav_html=nav_html, run_details_html=run_details_html)


def run_details_html(tx: Text, rows: Mapping[str, object]) -> str:
    """The visible "Run details" section: a small two-column table."""
    def cell(value) -> str:
        if isinstance(value, Mapping):
            return "<br>".join(f"{html.escape(str(k))}: {html.escape(str(v))}" for k, v in value.items())
        return html.escape(str(value))

    body = "".join(f"<tr><th scope='row'>{html.escape(k)}</th><td>{cell(v)}</td></tr>" for k, v in rows.items())
    return (f"<section class='kanta-run-details' id='run-details'><h2>{html.escape(tx('run_details'))}</h2>"
            f"<p class='kanta-muted'>{html.escape(tx('rd_intro'))}</p>"
            f"<div class='kanta-table-wrap'><table class='kanta-run-details'>{body}</table></div></section>")


def _write_text(path: Path, text: str) -> None:
    """Write a file so that a reader never sees it half-written."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def month_name(period: pd.Period, tx: Text) -> str:
    return f"{tx('months')[period.month - 1]} {period.year}"


# --- headline numbers --------------------------------------------------------
def base_headline(source, as_of, inactivity_days: int = 180) -> dict:
    """Key numbers of the customer base for the month ending on ``as_of``.

    Returns registered, active, new, lost and returned customers, revenue, average
    purchase and purchases per active customer, as plain numbers (JSON-serialisable).

    Example
    -------
    >>> base_headline("data/sample", "2026-10-31")["active"] > 0  # doctest: +SKIP
    True
    """
    from analysis import customers

    as_of = pd.Timestamp(as_of)
    monthly = customers.monthly_activity(source, as_of, months=1, inactivity_days=inactivity_days)
    row = monthly.iloc[-1]
    out = {}
    for key in ("registered", "active", "new", "lost", "returned"):
        if key in row.index:
            out[key] = int(row[key])
    for key in ("revenue", "avg_purchase", "purchase_frequency"):
        if key in row.index:
            out[key] = None if pd.isna(row[key]) else round(float(row[key]), 6)
    return out


def format_headline(key: str, value, tx: Text) -> str:
    kind = KEY_FORMATS.get(key) or _guess_format(key)
    if value is None:
        return "–"
    if not isinstance(value, (int, float)):
        return str(value)
    if kind == "money2":
        return tx.money(value, 2)
    if kind == "money":
        return tx.money(value)
    if kind == "share":
        return tx.pct(value)
    if kind == "count":
        return tx.number(value)
    return tx.number(value, 2)


def format_change(key: str, value, previous, tx: Text) -> str:
    """``"+5.2% vs previous month"``; shares change in percentage points."""
    if previous is None or value is None:
        return tx("no_previous")
    if not isinstance(value, (int, float)) or not isinstance(previous, (int, float)):
        return tx("no_change") if value == previous else ""
    kind = KEY_FORMATS.get(key) or _guess_format(key)
    if kind == "share":
        diff = value - previous
        if round(diff * 100, 1) == 0:
            return tx("no_change")
        return tx("change_vs_prev", change=f"{tx.number(100 * diff, 1, ) if diff < 0 else '+' + tx.number(100 * diff, 1)} {tx('pp')}")
    if value == previous:
        return tx("no_change")
    if previous == 0:
        diff = value - previous
        text = tx.money(diff) if kind.startswith("money") else tx.number(diff, 0 if kind == "count" else 2)
        return tx("change_vs_prev", change=("+" if diff > 0 else "") + text)
    return tx("change_vs_prev", change=tx.pct(value / previous - 1, 1, signed=True))


def biggest_movement(current: Mapping, previous: Mapping, spec: NotebookSpec, tx: Text) -> tuple[str, str] | None:
    """The segment count (``<segment>_customers``) that changed most since the previous month."""
    changes = {k: current[k] - previous[k] for k in current
               if k.endswith("_customers") and k not in spec.landing_keys
               and isinstance(current[k], (int, float)) and isinstance(previous.get(k), (int, float))}
    if not changes:
        return None
    key = max(changes, key=lambda k: (abs(changes[k]), k))
    diff = changes[key]
    label = headline_label(key, spec, tx)
    return (f"{'+' if diff > 0 else ''}{tx.number(diff)}", tx("movement_of", segment=label, n=tx.number(current[key])))


def _guess_format(key: str) -> str:
    k = key.lower()
    if any(w in k for w in ("share", "rate", "probability", "pct")):
        return "share"
    if any(w in k for w in ("revenue", "equity", "value", "spend", "eur", "clv", "margin")):
        return "money"
    if k.startswith(("n_", "count")) or k.endswith(("customers", "_count")):
        return "count"
    return "number"


def headline_label(key: str, spec: NotebookSpec, tx: Text) -> str:
    """The label of a headline key: report.json ``kn_<key>``, else the module's own strings."""
    if tx.has(f"kn_{key}"):
        return tx(f"kn_{key}")
    domain = spec.headline.split(":")[0].rsplit(".", 1)[-1] if spec.headline else spec.name
    for d in (domain, spec.name):
        try:
            other = Text(d, tx.language)
        except KantaError:
            continue
        for k in (f"headline_{key}", f"kn_{key}", key):
            if other.has(k) and isinstance(other(k), str):
                return other(k)
    return key.replace("_", " ").capitalize()


def collect_headlines(source, as_of, previous_as_of, specs: Iterable[NotebookSpec],
                      params: Mapping[str, Mapping] | None = None) -> dict:
    """``{notebook: {"current": {...}, "previous": {...}}}`` for notebooks with a headline.

    ``params[notebook]`` are the notebook's parameters; those the headline function names in
    its signature are passed to it, so the landing page counts the way the page does.
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
        for which, day in (("current", as_of), ("previous", previous_as_of)):
            try:
                pair[which] = _jsonable(func(source, day, **kwargs))
            except Exception as exc:  # name the module and the month; a KantaError keeps its sentence
                raise NotebookFailed(f"key numbers of {spec.name} ({spec.headline}) failed for "
                                     f"{pd.Timestamp(day).date()}: {type(exc).__name__}: {_one_line(exc)}.") from None
        out[spec.name] = pair
    return out


def parse_overrides(items: Iterable[str]) -> dict[str, object]:
    """``["horizon_months=24", "clv.discount_rate=0.02"]`` -> ``{name: value}`` (Python literals, else text).

    Example
    -------
    >>> parse_overrides(["clv.horizon_months=24", "group_by=region"])
    {'clv.horizon_months': 24, 'group_by': 'region'}
    """
    import ast

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


def notebook_params(specs: list[NotebookSpec], folder: Path, base: Mapping, overrides: Mapping[str, object]) -> dict:
    """Parameters of every notebook: the required ones, the registry's, then the operator's overrides.

    A plain override goes to every notebook that declares it; ``notebook.name`` to that notebook
    only. A name no notebook declares is an error (papermill would only warn and run on).
    """
    declared = {s.name: notebook_parameters(folder / f"{s.name}.ipynb") for s in specs}
    out = {s.name: {**base, **dict(s.params)} for s in specs}
    for key, value in overrides.items():
        nb, _, name = key.rpartition(".")
        if nb:
            if nb not in out:
                raise ParameterError(f"--param {key}: no report notebook {nb!r} (rendering {', '.join(out)}).")
            out[nb][name] = value
            continue
        targets = [n for n in out if name in declared[n]]
        if not targets:
            raise ParameterError(f"--param {key}: unknown parameter; no report notebook declares it "
                                 f"({'; '.join(f'{n}: ' + ', '.join(sorted(set(d) - set(REQUIRED_PARAMETERS))) for n, d in declared.items())}).")
        for n in targets:
            out[n][name] = value
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


# --- privacy -----------------------------------------------------------------
PII_COLUMNS = ("name", "first_name", "last_name", "full_name", "email", "e_mail", "phone", "phone_number", "mobile",
               "address", "street_address")
_TAG_RE = re.compile(r"<[^>]*>")
_DATA_URI_RE = re.compile(r"data:[\w/+.-]+;base64,[A-Za-z0-9+/=]+")
_TOKEN_RE = re.compile(r"[\w@.+'-]+", re.UNICODE)


def visible_text(html_text: str) -> str:
    """Text of an HTML page without tags, styles, scripts or embedded images."""
    text = re.sub(r"<(style|script)\b.*?</\1>", " ", html_text, flags=re.S | re.I)
    text = _DATA_URI_RE.sub(" ", text)
    text = _TAG_RE.sub(" ", text)
    return html.unescape(text)


def pii_values(source) -> dict[str, set[str]]:
    """Raw customer IDs and personal data of the input, by kind, for :func:`find_pii`."""
    values: dict[str, set[str]] = {"customer_id": set(), "name": set(), "email": set(), "phone": set(), "other": set()}
    ids = source.sql("select distinct cast(customer_id as varchar) as id from transactions")["id"]
    values["customer_id"].update(ids.dropna().astype(str))
    if source.has("customers"):
        cust = source.customers()
        values["customer_id"].update(cust["customer_id"].dropna().astype(str))
        for col in cust.columns:
            c = col.lower()
            if c not in PII_COLUMNS:
                continue
            kind = "email" if "mail" in c else "phone" if c in ("phone", "phone_number", "mobile") else \
                "name" if "name" in c else "other"
            values[kind].update(v.strip() for v in cust[col].dropna().astype(str) if v.strip())
    return values


def _digits(s: str) -> str:
    return re.sub(r"\D", "", s)


def find_pii(html_text: str, source) -> list[str]:
    """Personal data from the input that appears in a rendered page (empty list = clean).

    Looks for raw customer IDs, names, e-mail addresses and phone numbers of the input's
    customers in the page's visible text (tags, style sheets and embedded images removed).
    IDs are matched as whole words, so ``C000123`` does not match inside a pseudonym.

    Example
    -------
    >>> find_pii("<p>K-3fa9c02d1e</p>", src)  # doctest: +SKIP
    []
    """
    values = pii_values(source) if not isinstance(source, Mapping) else source
    text = visible_text(html_text)
    tokens = {t.strip(".'-+") for t in _TOKEN_RE.findall(text)}
    lowered = {t.lower() for t in tokens}
    found = []
    # IDs of one or two characters are everyday numbers ("12"): only longer IDs are evidence.
    found += [f"customer_id {v}" for v in sorted(values["customer_id"]) if len(v) >= 3 and v in tokens]
    found += [f"email {v}" for v in sorted(values["email"]) if v.lower() in lowered]
    phone_digits = {_digits(v) for v in values["phone"] if len(_digits(v)) >= 7}
    if phone_digits:
        text_digits = {_digits(m) for m in re.findall(r"\+?\d[\d \u00a0()-]{5,}\d", text)}
        found += [f"phone {p}" for p in sorted(phone_digits & text_digits)]
    lowered_text = " ".join(text.lower().split())
    for name in sorted(values["name"] | values["other"]):
        parts = name.lower().split()
        # cheap pre-check on words, then the exact phrase
        if parts and all(p in lowered for p in parts) and " ".join(parts) in lowered_text:
            found.append(f"name {name}")
    return found


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
    data_path = Path(data) if data is not None else default_data_path()
    if data is None:
        ensure_demo_data(data_path, quiet)
    # absolute from here on: notebooks may run in threads, and nothing may depend on the working folder
    return tx, Path(out), data_path.resolve(), (Path(notebooks) if notebooks else notebooks_dir()).resolve()


def _manifest_common(ctx: "_Context") -> dict:
    return {"data": {"source": ctx.source_display, "fingerprint": ctx.fingerprint, "fingerprint_algorithm": "sha256"},
            "package": {"name": "kanta", "version": package_version()},
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


@dataclass
class _Context:
    """Everything shared by the pages of one run."""

    tx: Text
    language: str
    source_display: str
    fingerprint: str
    commit: str
    versions: dict
    started: _dt.datetime


def _common_rows(ctx: _Context, parameters: Mapping, started_at: str, duration_s: float, label: str) -> dict:
    tx = ctx.tx
    return {
        tx("rd_parameters"): {**parameters, "source": ctx.source_display} if "source" in parameters else dict(parameters),
        tx("rd_fingerprint"): ctx.fingerprint,
        tx("rd_package"): package_version(),
        tx("rd_git"): ctx.commit,
        tx("rd_libraries"): ctx.versions,
        tx("rd_started"): started_at,
        tx("rd_duration"): tx("rd_seconds", s=tx.number(duration_s, 1)),
    }


def _run_jobs(tasks: list[tuple[str, Callable[[int], object]]], n_jobs: int, overall) -> list:
    """Run ``(label, task(position))`` pairs on ``n_jobs`` threads, in order of the list.

    Each notebook runs in its own kernel process, so threads are enough to use both cores.
    The first failure stops jobs not yet started, waits for the running ones, and is raised.
    """
    import queue
    from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait

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
        futures = [pool.submit(run, label, task) for label, task in tasks]
        done, pending = wait(futures, return_when=FIRST_EXCEPTION)
        for f in pending:
            f.cancel()
        wait([f for f in pending if not f.cancelled()])
        for f in futures:  # the first failure in list order, so the message is stable
            if f.done() and not f.cancelled() and f.exception() is not None:
                raise f.exception()
        return [f.result() for f in futures]


def _timed(func: Callable[[], object]) -> tuple[object, str, float]:
    started = _utc_now()
    t0 = time.perf_counter()
    result = func()
    return result, started.isoformat(), time.perf_counter() - t0


def default_jobs() -> int:
    return max(1, min(2, os.cpu_count() or 1))


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


def _check_privacy(pages: Mapping[str, str], pii: dict, failed_dir: Path) -> None:
    for name, text in pages.items():
        leaked = find_pii(text, pii)
        if leaked:
            failed_dir.mkdir(parents=True, exist_ok=True)
            (failed_dir / name).write_text(text, encoding="utf-8")
            raise PrivacyError(f"{name} would show personal data from the input ({len(leaked)} value(s), "
                               f"e.g. {leaked[0].split()[0]}); nothing was published and the page is kept in "
                               f"{failed_dir / name} for checking.")


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
    if last < as_of:
        raise ParameterError(f"--period {month}: the data ends on {last.date()}, so the month is not complete "
                             f"(expected data up to {as_of.date()}).")

    specs = list(specs) if specs is not None else available_notebooks(folder)
    if not specs:
        raise ParameterError(f"no report notebooks found in {folder} (expected e.g. customer_base.ipynb).")
    base = {"source": str(data_path), "as_of": str(as_of.date()), "language": language}
    all_params = notebook_params(specs, folder, base, parse_overrides(params) if not isinstance(params, Mapping)
                                 else dict(params))
    params_of = lambda s: all_params[s.name]  # noqa: E731
    for spec in specs:  # every name checked before the first notebook runs
        check_parameters(folder / f"{spec.name}.ipynb", params_of(spec))

    ctx = _Context(tx, language, _display_path(data_path), source.fingerprint, git_commit(), library_versions(),
                   _utc_now())
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

        def notebook_task(spec: NotebookSpec):
            out_nb = work / f"{spec.name}.ipynb"
            return lambda pos: (spec, params_of(spec)) + _timed(lambda: execute_notebook(
                folder / f"{spec.name}.ipynb", out_nb, params_of(spec), progress=not quiet, position=pos,
                failed_dir=failed_dir))[1:] + (out_nb,)

        def experiment_task(e: dict):
            return lambda pos: _timed(lambda: _experiment_page(e["id"], exp_nb, data_path, as_of, ctx, scratch,
                                                               failed_dir, quiet, pos))

        tasks = [(s.name, notebook_task(s)) for s in specs]
        tasks += [(f"experiment {e['id']}", experiment_task(e)) for e in exp_todo]
        tasks.append(("key numbers", lambda pos: _timed(
            lambda: collect_headlines(source, as_of, previous_as_of, [*specs, EXPERIMENT], all_params))))
        overall = tqdm(total=len(tasks), desc=f"kanta report {month}", unit="step", position=0,
                       disable=quiet, leave=not quiet)
        try:
            results = _run_jobs(tasks, jobs, overall)
        finally:
            overall.close()
        runs = results[:len(specs)]
        staged_experiments, experiment_records = [], []
        for e, ((folder_e, manifest_e), started_e, seconds_e) in zip(exp_todo, results[len(specs):-1]):
            staged_experiments.append(folder_e)
            e["report"] = f"../experiments/{folder_e.name}/index.html"
            experiment_records.append({"experiment_id": e["id"], "html": e["report"], "started_at": started_e,
                                       "duration_s": round(seconds_e, 3)})
        headlines, started_h, headline_s = results[-1]

        import nbformat

        month_label = month_name(month, tx)
        nav = (f"<a href='../index.html'>{html.escape(tx('all_months'))}</a> · "
               f"<a href='index.html'>{html.escape(tx('back_to_month', month=month_label))}</a>")
        pages, notebook_records = {}, []
        for spec, params, started_at, duration, executed in runs:
            title = f"{_nb_title(spec, tx)} – {month_label}"
            details = run_details_html(tx, {tx("rd_notebook"): f"{spec.name}.ipynb",
                                            **_common_rows(ctx, params, started_at, duration, spec.name)})
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
            "parameters": {"period": str(month), "source": ctx.source_display, "language": language},
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
        _check_privacy({**pages, **exp_pages}, pii_values(source), failed_dir)
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


def _nb_title(spec: NotebookSpec, tx: Text) -> str:
    return tx(f"nb_{spec.name}") if tx.has(f"nb_{spec.name}") else spec.name.replace("_", " ").capitalize()


def landing_html(manifest: Mapping, specs: list[NotebookSpec], tx: Text, ctx: _Context, out: Path) -> str:
    """The month's landing page: key numbers with change first, then links and experiments."""
    from analysis.display import key_numbers_html

    month = pd.Period(manifest["period"], freq="M")
    parts = [f"<p>{html.escape(tx('situation', date=tx.date(manifest['as_of']), previous=tx.date(manifest['previous_as_of'])))}</p>"]
    cards = {}
    by_name = {s.name: s for s in [*specs, EXPERIMENT]}
    for name, pair in manifest["headlines"].items():
        spec = by_name[name]
        for key in spec.landing_keys or tuple(pair["current"]):
            if key == "biggest_movement":
                card = biggest_movement(pair["current"], pair["previous"], spec, tx)
                if card:
                    cards[tx("kn_biggest_movement")] = card
                continue
            if key not in pair["current"]:
                continue
            value, prev = pair["current"][key], pair["previous"].get(key)
            cards[headline_label(key, spec, tx)] = (format_headline(key, value, tx), format_change(key, value, prev, tx))
    ended = manifest["experiments_ended"]
    verdicts = {e.get("experiment_id"): e.get("verdict")
                for e in manifest["headlines"].get(EXPERIMENT.name, {}).get("current", {}).get("experiments", [])}
    parts.append(f"<h2>{html.escape(tx('key_numbers'))}</h2>")
    parts.append(key_numbers_html(cards))

    parts.append(f"<h2>{html.escape(tx('detail_pages'))}</h2><ul class='kanta-links'>")
    for rec in manifest["notebooks"]:
        spec = by_name[rec["name"]]
        about = tx(f"nb_{spec.name}_about") if tx.has(f"nb_{spec.name}_about") else ""
        parts.append(f"<li><a href='{html.escape(rec['html'])}'>{html.escape(_nb_title(spec, tx))}</a>"
                     + (f" – {html.escape(about)}" if about else "") + "</li>")
    parts.append("</ul>")

    parts.append(f"<h2>{html.escape(tx('experiments_ended'))}</h2>")
    if ended:
        parts.append("<ul class='kanta-links'>")
        for e in ended:
            label = html.escape(_experiment_label(e["id"], verdicts.get(e["id"]), tx))
            link = e.get("report") or (f"../experiments/{_safe_id(e['id'])}/index.html"
                                       if (out / "experiments" / _safe_id(e["id"]) / "index.html").exists() else None)
            if link:
                parts.append(f"<li><a href='{html.escape(link)}'>{label}</a></li>")
            else:
                parts.append(f"<li>{label} ({html.escape(tx('no_report_yet', id=e['id']))})</li>")
        parts.append("</ul>")
    else:
        parts.append(f"<p>{html.escape(tx('no_experiments_ended'))}</p>")

    rows = {tx("rd_period"): manifest["period"],
            **_common_rows(ctx, {"period": manifest["period"], "source": ctx.source_display, "language": ctx.language},
                           manifest["started_at"], manifest["duration_s"], "report")}
    timing = lambda r: f"{r['started_at']}, {tx('rd_seconds', s=tx.number(r['duration_s'], 1))}"  # noqa: E731
    rows[tx("rd_notebooks")] = {**{r["name"]: timing(r) for r in manifest["notebooks"]},
                                **{f"experiment {r['experiment_id']}": timing(r)
                                   for r in manifest.get("experiment_reports", [])}}
    nav = f"<a href='../index.html'>{html.escape(tx('all_months'))}</a>"
    return simple_page(tx("report_title", month=month_name(month, tx)), "\n".join(parts), ctx.language,
                       nav_html=nav, run_details_html=run_details_html(tx, rows))


def _experiment_label(experiment_id: str, verdict: str | None, tx: Text) -> str:
    """``"newsletter-2026-09: no clear effect"`` with the experiments module's own words."""
    if verdict:
        try:
            words = Text("experiments", tx.language)
            if words.has(f"verdict_short_{verdict}"):
                return f"{experiment_id}: {words(f'verdict_short_{verdict}')}"
        except KantaError:
            pass
    return str(experiment_id)


def _safe_id(experiment_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(experiment_id)).strip("._") or "experiment"


def write_index(out: Path, language: str = "en") -> Path:
    """``out/index.html``: every published month, newest first, and the experiment reports."""
    tx = Text("report", language)
    months = sorted((p for p in out.iterdir() if p.is_dir() and PERIOD_RE.match(p.name) and (p / "index.html").exists()),
                    key=lambda p: p.name, reverse=True)
    parts = [f"<p>{html.escape(tx('index_intro'))}</p>", f"<h2>{html.escape(tx('index_months'))}</h2>"]
    parts.append("<ul class='kanta-links'>")
    for p in months:
        label = month_name(pd.Period(p.name, freq="M"), tx)
        parts.append(f"<li><a href='{p.name}/index.html'>{html.escape(label)}</a> <span class='kanta-muted'>({p.name})</span></li>")
    parts.append("</ul>")
    exp_root = out / "experiments"
    exps = sorted(p for p in exp_root.iterdir() if (p / "index.html").exists()) if exp_root.is_dir() else []
    if exps:
        parts.append(f"<h2>{html.escape(tx('index_experiments'))}</h2><ul class='kanta-links'>")
        parts += [f"<li><a href='experiments/{p.name}/index.html'>{html.escape(tx('experiment_link', id=p.name))}</a></li>"
                  for p in exps]
        parts.append("</ul>")
    page = simple_page(tx("index_title"), "\n".join(parts), language)
    target = out / "index.html"
    _write_text(target, page)
    return target


# --- the customer-base page ----------------------------------------------------
# The notebook notebooks/customer_base.ipynb only calls these: numbers come from
# analysis.customers.monthly_activity, words from strings/customer_base.json.
def month_label(month, language: str, inessive: bool = False) -> str:
    """``"October 2026"`` / ``"lokakuu 2026"``; ``inessive`` gives ``"in October 2026"`` / ``"lokakuussa 2026"``."""
    p = pd.Period(month, freq="M")
    tx = Text("report", language)
    return f"{tx('months_in' if inessive else 'months')[p.month - 1]} {p.year}"


def _count_change(value, previous, tx: Text) -> str:
    if previous is None or pd.isna(previous):
        return tx("change_none")
    diff = value - previous
    pct = tx.pct(diff / previous, 1, signed=True) if previous else "–"
    return tx("change_count", diff=tx.number(diff, 0, ) if diff < 0 else "+" + tx.number(diff, 0), pct=pct)


def _rel_change(value, previous, tx: Text) -> str:
    if previous is None or pd.isna(previous) or not previous or pd.isna(value):
        return tx("change_none")
    return tx("change_rel", pct=tx.pct(value / previous - 1, 1, signed=True))


def base_key_numbers(monthly: pd.DataFrame, tx: Text) -> dict:
    """Cards for :func:`analysis.display.show_key_numbers` from ``monthly_activity`` rows.

    The last row is this month; the one before it the comparison month.
    """
    cur = monthly.iloc[-1]
    prev = monthly.iloc[-2] if len(monthly) > 1 else None
    p = (lambda k: None if prev is None else prev[k])  # noqa: E731
    cards = {}
    for key in ("active", "new", "lost", "returned", "registered"):
        cards[tx(f"kn_{key}")] = (tx.number(cur[key]), _count_change(cur[key], p(key), tx))
    cards[tx("kn_revenue")] = (tx.money(cur["revenue"]), _rel_change(cur["revenue"], p("revenue"), tx))
    cards[tx("kn_avg_purchase")] = (tx.money(cur["avg_purchase"], 2), _rel_change(cur["avg_purchase"], p("avg_purchase"), tx))
    cards[tx("kn_purchase_frequency")] = (tx.number(cur["purchase_frequency"], 2),
                                          _rel_change(cur["purchase_frequency"], p("purchase_frequency"), tx))
    return cards


def base_story(monthly: pd.DataFrame, tx: Text) -> list[str]:
    """The month in plain sentences for a marketing manager."""
    cur = monthly.iloc[-1]
    prev = monthly.iloc[-2] if len(monthly) > 1 else None
    days = int(cur["inactivity_days"])
    sentences = []
    if prev is not None:
        diff = int(cur["active"] - prev["active"])
        change = (tx("story_more", n=tx.number(diff)) if diff > 0 else
                  tx("story_fewer", n=tx.number(-diff)) if diff < 0 else tx("story_same"))
        sentences.append(tx("story_active", active=tx.number(cur["active"]), days=days, change=change))
    sentences.append(tx("story_flows", new=tx.number(cur["new"]), returned=tx.number(cur["returned"]),
                        lost=tx.number(cur["lost"]), days=days))
    if prev is not None:
        if prev["revenue"]:
            rel = tx.pct(cur["revenue"] / prev["revenue"] - 1, 1, signed=True)
            sentences.append(tx("story_revenue", revenue=tx.money(cur["revenue"]), change=rel))
    sentences.append(tx("story_purchase", avg=tx.money(cur["avg_purchase"], 2), freq=tx.number(cur["purchase_frequency"], 2)))
    net = cur["new"] + cur["returned"] - cur["lost"]
    if net != 0:
        sentences.append(tx("story_net_growth") if net > 0 else tx("story_net_shrink"))
    return sentences


def base_table(monthly: pd.DataFrame, tx: Text) -> pd.DataFrame:
    """The monthly figures formatted in the report's language, newest month first."""
    lang = tx.language
    rows = monthly.iloc[::-1]
    return pd.DataFrame({
        tx("col_month"): [month_label(m, lang) for m in rows["month"]],
        tx("col_active"): [tx.number(v) for v in rows["active"]],
        tx("col_new"): [tx.number(v) for v in rows["new"]],
        tx("col_returned"): [tx.number(v) for v in rows["returned"]],
        tx("col_lost"): [tx.number(v) for v in rows["lost"]],
        tx("col_revenue"): [tx.money(v) for v in rows["revenue"]],
        tx("col_avg_purchase"): [tx.money(v, 2) for v in rows["avg_purchase"]],
        tx("col_frequency"): [tx.number(v, 2) for v in rows["purchase_frequency"]],
    })


def base_quality(source, tx: Text) -> pd.DataFrame:
    """Data-quality checks of the source as a table (check, count, what it means); only non-zero rows
    besides the number of transactions used."""
    q = source.quality
    date = tx.date(source.as_of)
    rows = [(tx("q_transactions"), tx.number(q.get("transactions", 0)), tx("q_transactions_m", date=date))]
    checks = [("future_rows_excluded", "q_future", {"date": date}),
              ("refund_rows", "q_refunds", {"amount": tx.money(abs(q.get("refund_amount", 0)), 2)}),
              ("possible_duplicate_rows", "q_duplicates", {}),
              ("missing_marketing_permission", "q_permission", {}),
              ("buyers_not_in_customers", "q_unknown_buyers", {})]
    for key, label, values in checks:
        if q.get(key):
            rows.append((tx(label), tx.number(q[key]), tx(f"{label}_m", **values)))
    return pd.DataFrame(rows, columns=[tx("q_check"), tx("q_count"), tx("q_meaning")])


def _month_ticks(ax, monthly: pd.DataFrame, language: str) -> None:
    labels = [month_label(m, language)[:3] + " " + m[2:4] if language == "en" else f"{int(m[5:])}/{m[2:4]}"
              for m in monthly["month"]]
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")


def plot_active(monthly: pd.DataFrame, tx: Text, ax=None):
    """Active customers at each month end (line)."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(8, 3.2))[1]
    ax.plot(range(len(monthly)), monthly["active"], marker="o", color="#1f5f99")
    ax.set_ylabel(tx("axis_customers"))
    ax.set_ylim(bottom=0)
    ax.grid(axis="y", alpha=0.3)
    _month_ticks(ax, monthly, tx.language)
    return ax


def plot_flows(monthly: pd.DataFrame, tx: Text, ax=None):
    """New and returned customers above zero, lost customers below, per month."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(8, 3.2))[1]
    x = range(len(monthly))
    ax.bar(x, monthly["new"], color="#2e8b57", label=tx("series_new"))
    ax.bar(x, monthly["returned"], bottom=monthly["new"], color="#8fbc8f", label=tx("series_returned"))
    ax.bar(x, -monthly["lost"], color="#c0504d", label=tx("series_lost"))
    ax.axhline(0, color="#333", linewidth=0.8)
    ax.set_ylabel(tx("axis_customers"))
    ax.legend(loc="upper left", ncols=3, frameon=False, fontsize="small")
    ax.grid(axis="y", alpha=0.3)
    _month_ticks(ax, monthly, tx.language)
    return ax


def plot_revenue(monthly: pd.DataFrame, tx: Text, ax=None):
    """Revenue per month (bars)."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    ax = ax or plt.subplots(figsize=(8, 3.2))[1]
    ax.bar(range(len(monthly)), monthly["revenue"], color="#1f5f99")
    ax.set_ylabel(tx("axis_revenue"))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: tx.number(v)))
    ax.grid(axis="y", alpha=0.3)
    _month_ticks(ax, monthly, tx.language)
    return ax


# --- experiment reports ------------------------------------------------------
def _experiment_page(experiment_id: str, nb_path: Path, data_path: Path, as_of: pd.Timestamp, ctx: "_Context",
                     scratch: Path, failed_dir: Path, quiet: bool, position: int = 0) -> tuple[Path, dict]:
    """Run the experiment notebook for one experiment into ``scratch/<slug>/`` (page + manifest)."""
    import nbformat

    tx = ctx.tx
    params = {"source": str(data_path.resolve()), "as_of": str(as_of.date()), "language": ctx.language,
              EXPERIMENT_PARAMETER: str(experiment_id), **dict(EXPERIMENT.params)}
    check_parameters(nb_path, params)
    slug = _safe_id(experiment_id)
    staged = scratch / "experiments" / slug
    staged.mkdir(parents=True)
    executed = scratch / "executed" / f"{EXPERIMENT.name}-{slug}.ipynb"
    executed.parent.mkdir(exist_ok=True)
    started = _utc_now()
    t0 = time.perf_counter()
    execute_notebook(nb_path, executed, params, progress=not quiet, position=position, failed_dir=failed_dir)
    duration = time.perf_counter() - t0
    shown = {**params, "source": ctx.source_display}
    rows = {tx("rd_notebook"): nb_path.name, **_common_rows(ctx, params, started.isoformat(), duration, "experiment")}
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
    ctx = _Context(tx, language, _display_path(data_path), source.fingerprint, git_commit(), library_versions(),
                   _utc_now())
    slug = _safe_id(experiment_id)
    failed_dir = out.resolve().parent / ".kanta-failed" / "experiments" / slug
    out.resolve().parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".kanta-render-", dir=out.resolve().parent))
    try:
        staged, _ = _experiment_page(str(experiment_id), nb_path, data_path, source.as_of, ctx, scratch, failed_dir,
                                     quiet)
        _check_privacy({f"experiments/{slug}/index.html": (staged / "index.html").read_text(encoding="utf-8")},
                       pii_values(source), failed_dir)
        _publish(staged, out / "experiments" / slug, scratch)
        write_index(out, language)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return out / "experiments" / slug / "index.html"


# --- command line ------------------------------------------------------------
def _cmd_report(args) -> int:
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
