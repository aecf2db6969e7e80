"""The stakeholder pages: notebook HTML without code, the month's landing page and the index.

Pages are self-contained (figures embedded, one inline style sheet, no scripts or CDN), end
with a "Run details" section, and take every word and number format from ``strings/report.json``.
Their markup is in ``templates/`` (``page.html.j2``, the macros of ``site.html.j2`` and, for the landing page,
``landing.html.j2`` and ``plan.html.j2``; autoescape on).
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import posixpath
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import pandas as pd

from analysis.base.actions import ACTIONS, FALLING_BELOW
from analysis.base.concepts import label_key
from analysis.data import write_text
from analysis.errors import KantaError
from analysis.report.markup import TOC_MIN_SECTIONS, Markup, macros, render, template_file, with_toc  # noqa: F401 (re-exported)
from analysis.report.notebooks import EXPERIMENT, NotebookSpec
from analysis.report.numbers import RECORD_MIMES, cards_html, finding_text
from analysis.report.plan_page import keep_together, plan_html, results_html, summary_html
from analysis.report.publishing import check_out
from analysis.report.text import Text

#: Cell tags that never reach a stakeholder page.
HIDDEN_TAGS = frozenset({"parameters", "injected-parameters", "remove-cell", "report-hide"})
PERIOD_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def page_css() -> str:
    return template_file("kanta_page.css").read_text(encoding="utf-8")


def stakeholder_cells(nb):
    """Only what a stakeholder reads: rich outputs of code cells, never code or raw prints.

    Dropped: markdown/raw cells (notebooks show every visible thing as an output, in the
    report's language), parameters cells, ``# NBVAL_CHECK_OUTPUT`` cells (rounded numbers
    for CI), stream output (prints, warnings) and bare ``text/plain`` reprs.
    """
    import nbformat  # local: heavy import, kept off the start-up path

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
                   and set(o.get("data", {})) - {"text/plain", *RECORD_MIMES}]  # records are for the manifest
        if outputs:
            for o in outputs:
                if "text/html" in o.get("data", {}):
                    o.data["text/html"] = wrap_tables(_joined(o.data["text/html"]))
            cell.outputs = outputs
            kept.append(cell)
    nb.cells = kept
    return nb


def _joined(text) -> str:
    return "".join(text) if isinstance(text, list) else str(text)


def wrap_tables(fragment: str) -> str:
    """An HTML output whose tables are not all in a sideways-scrolling box, wrapped in one.

    ``display.table_html`` already wraps its tables; a pandas or ``_repr_html_`` table would
    otherwise widen the page on a phone and hide its last columns.

    >>> wrap_tables("<table><tr><td>1</td></tr></table>")
    "<div class='kanta-table-wrap'><table><tr><td>1</td></tr></table></div>"
    >>> wrap_tables("<p>no table</p>")
    '<p>no table</p>'
    """
    if fragment.count("<table") > fragment.count("kanta-table-wrap"):
        return f"<div class='kanta-table-wrap'>{fragment}</div>"
    return fragment


def month_nav_html(tx: Text, month_text: str, pages: list[tuple[str, str]], current: str | None = None,
                   root: str = "../index.html", landing: str = "index.html", prefix: str = "") -> str:
    """The navigation line of a month's page: all reports, the month's landing page and its other pages.

    ``pages`` are ``(href, title)`` pairs in reading order, relative to the month's folder;
    ``current`` (an href of ``pages``) is shown as text; ``prefix`` leads from the page's own
    folder to the month's (``"../../2026-10/"`` on an experiment page).

    >>> tx = Text("report", "en")
    >>> nav = month_nav_html(tx, "October 2026", [("churn.html", "Churn"), ("clv.html", "CLV")], current="clv.html")
    >>> "<a href='churn.html'>Churn</a>" in nav, "<span aria-current='page'>CLV</span>" in nav
    (True, True)
    """
    others = [(_joined_href(prefix, href), title, href == current) for href, title in pages]
    return str(macros("site.html.j2").nav(root, tx("all_months"), landing, tx("back_to_month", month=month_text),
                                          others))


def _joined_href(prefix: str, href: str) -> str:
    """``prefix + href`` without ``dir/..`` detours (``"../../2026-10/" + "../experiments/x/index.html"``)."""

    return posixpath.normpath(prefix + href) if prefix else href


def experiment_nav_html(tx: Text, period: str, month_pages: list[tuple[str, str]], experiment_id: str) -> str:
    """The navigation line of an experiment page published with a month: all reports, the month's landing
    page and every page of the month (its notebook pages and the other experiment pages), as on the month's
    own pages.

    ``month_pages`` are the month's ``(href, title)`` pairs relative to the month's folder, the list the
    month's pages get (experiment pages as ``../experiments/<id>/index.html``).

    >>> tx = Text("report", "en")
    >>> pages = [("clv.html", "CLV"), ("../experiments/a/index.html", "Experiment a"),
    ...          ("../experiments/b/index.html", "Experiment b")]
    >>> nav = experiment_nav_html(tx, "2026-10", pages, "a")
    >>> "href='../../2026-10/clv.html'" in nav, "href='../../experiments/b/index.html'" in nav
    (True, True)
    >>> "<span aria-current='page'>Experiment a</span>" in nav, "href='../../2026-10/index.html'" in nav
    (True, True)
    """
    month = pd.Period(period, freq="M")
    return month_nav_html(tx, month_label(month, tx.language), month_pages,
                          current=f"../experiments/{safe_id(experiment_id)}/index.html", root="../../index.html",
                          landing=f"../../{month}/index.html", prefix=f"../../{month}/")


def notebook_html(nb, title: str, language: str, run_details_html: str = "", nav_html: str = "") -> str:
    """A stakeholder page from an executed notebook: no code, no prompts, no CDN scripts."""
    from nbconvert import HTMLExporter  # local: heavy import, kept off the start-up path

    exporter = HTMLExporter(template_name="lab", template_file=str(template_file("kanta_page.html.j2")),
                            exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True,
                            exclude_markdown=True, exclude_raw=True, embed_images=True)
    nb = stakeholder_cells(nb)
    nb.metadata["title"] = title
    body, _ = exporter.from_notebook_node(nb, resources={
        "language_code": language,
        "kanta": {"css": page_css(), "run_details_html": run_details_html, "nav_html": nav_html},
    })
    return with_toc(body, Text("report", language)("toc_title"))


def simple_page(title: str, body_html: str, language: str, subtitle: str = "",
                nav_html: str = "", run_details_html: str = "") -> str:
    """The landing and index pages: same style sheet as the notebook pages, no scripts."""
    # the body, navigation and run details are this module's own markup; the title is text
    page = render("page.html.j2", lang=language, title=title, subtitle=subtitle, css=Markup(page_css()),
                  body=Markup(body_html), nav_html=Markup(nav_html), run_details_html=Markup(run_details_html))
    return with_toc(str(page), Text("report", language)("toc_title"))


def run_details_html(tx: Text, rows: Mapping[str, object]) -> str:
    """The visible "Run details" section: a small two-column table."""
    shown = {str(k): ({str(a): str(b) for a, b in v.items()} if isinstance(v, Mapping) else str(v))
             for k, v in rows.items()}
    return str(macros("site.html.j2").run_details(tx("run_details"), tx("rd_intro"), shown))


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


def notebook_title(spec: NotebookSpec, tx: Text) -> str:
    return tx(f"nb_{spec.name}") if tx.has(f"nb_{spec.name}") else spec.name.replace("_", " ").capitalize()


def glossary_html(base, tx: Text) -> str:
    """The month's glossary: every concept's one definition, with this month's threshold and settings filled in."""
    words = Text("concepts", tx.language)

    def shown(name, value):
        if isinstance(value, float) and name in ("discount_rate", "p_alive_threshold", "a_share", "b_share",
                                                 "contact_p_alive_floor"):
            return tx.pct(value, 1 if name == "discount_rate" else 0)
        return tx.number(value, 1) if isinstance(value, float) and not value.is_integer() else str(value)

    rows = []
    for entry in base.glossary():
        key = f"define_{entry['concept']}"
        if not words.has(key):
            continue
        text = words(key, **{k: shown(k, v) for k, v in entry["settings"].items()})
        label = words(label_key(entry["concept"], base.money_basis))
        rows.append((label, text))
    seg = base.segment_settings
    rule_values = {"thr": tx.pct(base.settings.p_alive_threshold, 0), "days": 90, "n": base.settings.inactivity_days,
                   "floor": tx.pct(base.settings.contact_p_alive_floor, 0),
                   "line": tx.pct(FALLING_BELOW, 0), "line_gen": tx.pct(FALLING_BELOW, 0, case="genitive"),
                   "new_days": seg.new_days if seg is not None else 30}
    for name in ACTIONS:
        rows.append((tx("action_name_" + name), tx("action_rule_" + name, **rule_values)))
    intro = words("glossary_intro", date=tx.date(base.as_of))
    if base.money_basis == "margin":
        intro += " " + words("glossary_margin")
    return str(macros("site.html.j2").glossary(words("glossary_title"), intro, rows))


def degraded_page_html(title: str, findings: list, tx: Text, run_details_html: str = "", nav_html: str = "") -> str:
    """A page whose analysis could not be estimated this month: what is missing and why, nothing else."""

    words = Text("findings", tx.language)
    body = str(macros("site.html.j2").findings(words("not_computed"), [finding_text(f, tx) for f in findings]))
    return simple_page(title, body, tx.language, nav_html=nav_html, run_details_html=run_details_html)


#: Action values that are margin when the data has margin (all of them: values are in the data's basis).
MARGIN_VALUE_KINDS = ("value_at_stake", "clv", "potential_value", "past_yearly_value")


def actions_html(actions: list, base, tx: Text) -> str:
    """This month's actions as plain sentences: size, value and where the list is (no raw ids, no links to lists)."""
    items = []
    thr = tx.pct(base.settings.p_alive_threshold, 0)
    seg = base.segment_settings
    for a in actions:
        name = tx(f"action_name_{a.name}")
        if not a.size:
            items.append(tx("action_nobody", name=name))
            continue
        perm = tx("action_permission") if a.permission_filtered else tx("action_no_permission_data")
        value = "–" if a.value is None else tx.money(a.value)
        if a.value is not None and base.money_basis == "margin" and a.value_kind in MARGIN_VALUE_KINDS:
            value += " " + tx("value_in_margin")
        values = {"n": tx.number(a.size), "value": value, "perm": perm, "thr": thr, "days": 90,
                  "floor": tx.pct(base.settings.contact_p_alive_floor, 0),
                  "line": tx.pct(FALLING_BELOW, 0), "line_gen": tx.pct(FALLING_BELOW, 0, case="genitive"),
                  "valuetext": "" if a.value is None else tx("action_value_clv", value=value)}
        if a.name == "second_purchase":
            values["days"] = seg.new_days if seg is not None else 30
        items.append(tx(f"action_{a.name}", **values))
    return str(macros("landing.html.j2").actions(tx("actions_heading"), tx("actions_intro"), items))


def landing_html(manifest: Mapping, numbers: list, base, specs: list[NotebookSpec], tx: Text, ctx: RunInfo,
                 out: Path, actions: list = (), trends: Mapping | None = None) -> str:
    """The month's landing page: what to do, typed key numbers with change and trend, degraded pages, links,
    experiments, glossary."""

    month = pd.Period(manifest["period"], freq="M")
    has_plan = "plan" in manifest
    by_name = {s.name: s for s in [*specs, EXPERIMENT]}
    pages = []
    for rec in manifest["notebooks"]:
        spec = by_name[rec["name"]]
        about = tx(f"nb_{spec.name}_about") if tx.has(f"nb_{spec.name}_about") else ""
        pages.append((rec["html"], notebook_title(spec, tx), about))
    ended = []
    for e in manifest["experiments_ended"]:
        link = e.get("report") or (f"../experiments/{safe_id(e['id'])}/index.html"
                                   if (out / "experiments" / safe_id(e["id"]) / "index.html").exists() else None)
        ended.append((_experiment_label(e["id"], e.get("verdict"), tx), link, tx("no_report_yet", id=e["id"])))
    # the parts the functions above made are markup from their own templates: placed as they are
    plan, results = ((Markup(plan_html(manifest, tx)), Markup(results_html(manifest, tx))) if has_plan else ("", ""))
    body = macros("landing.html.j2").body(
        summary=Markup(summary_html(manifest, numbers, tx)) if has_plan else "",
        situation=tx("situation", date=tx.date(manifest["as_of"]), previous=tx.date(manifest["previous_as_of"])),
        threshold=tx("threshold", n=tx.number(base.settings.inactivity_days)), see_glossary=tx("see_glossary"),
        actions=Markup(actions_html(list(actions), base, tx)) if actions else "", plan=plan, results=results,
        key_numbers=tx("key_numbers"), cards=Markup(cards_html(numbers, tx, trends)),
        degraded_heading=tx("degraded_heading"),
        degraded=[(d["page"], d["reason"]) for d in manifest.get("degraded") or []],
        detail_pages=tx("detail_pages"), pages=pages,
        no_contacts_page=tx("no_contacts_page") if manifest.get("contacts_page") is False else "",
        experiments_heading=tx("experiments_ended"), ended=ended, no_experiments=tx("no_experiments_ended"),
        glossary=Markup(glossary_html(base, tx)))

    rows = {tx("rd_period"): manifest["period"],
            **common_rows(ctx, {"period": manifest["period"], "source": ctx.source_display, "language": ctx.language},
                          manifest["started_at"], manifest["duration_s"])}
    timing = lambda r: f"{r['started_at']}, {tx('rd_seconds', s=tx.number(r['duration_s'], 1))}"  # noqa: E731
    rows[tx("rd_notebooks")] = {"customer base": timing(manifest["customer_base"]),
                                **{r["name"]: timing(r) for r in manifest["notebooks"]},
                                **{f"experiment {r['experiment_id']}": timing(r)
                                   for r in manifest.get("experiment_reports", [])}}
    nav = str(macros("landing.html.j2").nav(tx("all_months")))
    return simple_page(tx("report_title", month=month_label(month, tx.language)), keep_together(str(body)),
                       ctx.language,
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
    """An experiment's folder name: the ID when it is a short plain name, else its plain part and a short hash.

    Two IDs never share a folder (``a/b`` and ``a_b``), and a 300-character ID fits the file system's 255 bytes.
    """
    text = str(experiment_id)
    plain = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "experiment"
    if plain == text and len(plain) <= 80:
        return plain
    return f"{plain[:80].rstrip('._-')}-{hashlib.sha256(text.encode('utf-8', 'surrogatepass')).hexdigest()[:10]}"


def write_index(out: Path, language: str = "en") -> Path:
    """``out/index.html``: every published month, newest first, and the experiment reports.

    An ``index.html`` in a folder that is not Kanta's is never overwritten (ParameterError).
    """

    if (out / "index.html").exists():
        check_out(out)
    tx = Text("report", language)
    months = sorted((p for p in out.iterdir() if p.is_dir() and PERIOD_RE.match(p.name) and (p / "index.html").exists()),
                    key=lambda p: p.name, reverse=True)
    exp_root = out / "experiments"
    exps = sorted(p for p in exp_root.iterdir() if (p / "index.html").exists()) if exp_root.is_dir() else []
    body = macros("site.html.j2").index(
        tx("index_intro"), tx("index_months"),
        [(p.name, month_label(pd.Period(p.name, freq="M"), tx.language)) for p in months],
        tx("index_experiments"), [(p.name, tx("experiment_link", id=p.name)) for p in exps])
    page = simple_page(tx("index_title"), str(body), language)
    target = out / "index.html"
    write_text(page, target)
    return target


