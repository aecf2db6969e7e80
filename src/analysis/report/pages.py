"""The stakeholder pages: notebook HTML without code, the month's landing page and the index.

Pages are self-contained (figures embedded, one inline style sheet, no scripts or CDN), end
with a "Run details" section, and take every word and number format from ``strings/report.json``.
"""
from __future__ import annotations

import datetime as _dt
import html
import json
import os
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Mapping

import pandas as pd

from analysis.errors import KantaError
from analysis.i18n import Text, fmt_money, fmt_number
from analysis.report.notebooks import EXPERIMENT, NotebookSpec


#: Cell tags that never reach a stakeholder page.
HIDDEN_TAGS = frozenset({"parameters", "injected-parameters", "remove-cell", "report-hide"})
PERIOD_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


#: How the landing page formats headline numbers: key -> "money" (whole euros) | "money_cents" |
#: "count" | "share" (0..1, changes in percentage points) | "number" (two decimals).
KEY_FORMATS = {
    "registered": "count", "active": "count", "new": "count", "lost": "count", "returned": "count",
    "revenue": "money", "avg_purchase": "money_cents", "purchase_frequency": "number",
    "customer_equity": "money", "value_at_risk": "money", "n_at_risk": "count",
    "retention_rate": "share", "monthly_churn_rate": "share", "won_back_customers": "count",
    "active_to_lapsing_customers": "count", "a_revenue_share": "share", "experiments_concluded": "count",
}


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
            f"<div class='kanta-table-wrap'><table class='kanta-details'>{body}</table></div></section>")


def _write_text(path: Path, text: str) -> None:
    """Write a file so that a reader never sees it half-written."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def month_label(month, language: str, inessive: bool = False) -> str:
    """``"October 2026"`` / ``"lokakuu 2026"``; ``inessive`` gives ``"in October 2026"`` / ``"lokakuussa 2026"``."""
    p = pd.Period(month, freq="M")
    tx = Text("report", language)
    return f"{tx('months_in' if inessive else 'months')[p.month - 1]} {p.year}"


@dataclass
class RunInfo:
    """What every page of one run shows in its "Run details" (and the manifest records)."""

    tx: Text
    language: str
    source_display: str
    fingerprint: str
    commit: str
    versions: dict
    started: _dt.datetime
    version: str


def common_rows(ctx: RunInfo, parameters: Mapping, started_at: str, duration_s: float) -> dict:
    tx = ctx.tx
    return {
        tx("rd_parameters"): {**parameters, "source": ctx.source_display} if "source" in parameters
        else dict(parameters),
        tx("rd_fingerprint"): ctx.fingerprint,
        tx("rd_package"): ctx.version,
        tx("rd_git"): ctx.commit,
        tx("rd_libraries"): ctx.versions,
        tx("rd_started"): started_at,
        tx("rd_duration"): tx("rd_seconds", s=tx.number(duration_s, 1)),
    }


def format_headline(key: str, value, tx: Text) -> str:
    kind = KEY_FORMATS.get(key) or _guess_format(key)
    if value is None:
        return "–"
    if not isinstance(value, (int, float)):
        return str(value)
    if kind == "money_cents":
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
        return tx("change_vs_prev", change=f"{fmt_number(100 * diff, tx.language, 1, signed=True)} {tx('pp')}")
    if value == previous:
        return tx("no_change")
    if previous == 0:
        diff = value - previous
        text = (fmt_money(diff, tx.language, signed=True) if kind.startswith("money")
                else fmt_number(diff, tx.language, 0 if kind == "count" else 2, signed=True))
        return tx("change_vs_prev", change=text)
    relative = tx.pct(value / previous - 1, 1, signed=True)
    if kind == "count":  # "+33 (+3.0%)": the number of customers and the rate both matter
        relative = f"{fmt_number(value - previous, tx.language, 0, signed=True)} ({relative})"
    return tx("change_vs_prev", change=relative)


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


def notebook_title(spec: NotebookSpec, tx: Text) -> str:
    return tx(f"nb_{spec.name}") if tx.has(f"nb_{spec.name}") else spec.name.replace("_", " ").capitalize()


def landing_html(manifest: Mapping, specs: list[NotebookSpec], tx: Text, ctx: RunInfo, out: Path) -> str:
    """The month's landing page: key numbers with change first, then links and experiments."""
    from analysis.display import key_numbers_html

    month = pd.Period(manifest["period"], freq="M")
    situation = tx("situation", date=tx.date(manifest["as_of"]), previous=tx.date(manifest["previous_as_of"]))
    parts = [f"<p>{html.escape(situation)}</p>"]
    days = manifest.get("parameters", {}).get("inactivity_days")
    if days:
        parts.append(f"<p>{html.escape(tx('threshold', n=tx.number(days)))}</p>")
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
        parts.append(f"<li><a href='{html.escape(rec['html'])}'>{html.escape(notebook_title(spec, tx))}</a>"
                     + (f" – {html.escape(about)}" if about else "") + "</li>")
    parts.append("</ul>")

    parts.append(f"<h2>{html.escape(tx('experiments_ended'))}</h2>")
    if ended:
        parts.append("<ul class='kanta-links'>")
        for e in ended:
            label = html.escape(_experiment_label(e["id"], verdicts.get(e["id"]), tx))
            link = e.get("report") or (f"../experiments/{safe_id(e['id'])}/index.html"
                                       if (out / "experiments" / safe_id(e["id"]) / "index.html").exists() else None)
            if link:
                parts.append(f"<li><a href='{html.escape(link)}'>{label}</a></li>")
            else:
                parts.append(f"<li>{label} ({html.escape(tx('no_report_yet', id=e['id']))})</li>")
        parts.append("</ul>")
    else:
        parts.append(f"<p>{html.escape(tx('no_experiments_ended'))}</p>")

    rows = {tx("rd_period"): manifest["period"],
            **common_rows(ctx, {"period": manifest["period"], "source": ctx.source_display, "language": ctx.language},
                          manifest["started_at"], manifest["duration_s"])}
    timing = lambda r: f"{r['started_at']}, {tx('rd_seconds', s=tx.number(r['duration_s'], 1))}"  # noqa: E731
    rows[tx("rd_notebooks")] = {**{r["name"]: timing(r) for r in manifest["notebooks"]},
                                **{f"experiment {r['experiment_id']}": timing(r)
                                   for r in manifest.get("experiment_reports", [])}}
    nav = f"<a href='../index.html'>{html.escape(tx('all_months'))}</a>"
    return simple_page(tx("report_title", month=month_label(month, tx.language)), "\n".join(parts), ctx.language,
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


def safe_id(experiment_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(experiment_id)).strip("._") or "experiment"


def write_index(out: Path, language: str = "en") -> Path:
    """``out/index.html``: every published month, newest first, and the experiment reports."""
    tx = Text("report", language)
    months = sorted((p for p in out.iterdir() if p.is_dir() and PERIOD_RE.match(p.name) and (p / "index.html").exists()),
                    key=lambda p: p.name, reverse=True)
    parts = [f"<p>{html.escape(tx('index_intro'))}</p>", f"<h2>{html.escape(tx('index_months'))}</h2>"]
    parts.append("<ul class='kanta-links'>")
    for p in months:
        label = month_label(pd.Period(p.name, freq="M"), tx.language)
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


