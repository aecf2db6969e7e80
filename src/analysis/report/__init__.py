"""The monthly report: the month's customer base, the analysis notebooks rendered as HTML, the landing page.

``render_month`` validates the data, computes the month's :class:`~analysis.base.state.CustomerBase`
once, runs every registered notebook with papermill (each reads that state), converts each to
self-contained HTML without code, adds a landing page with typed key numbers and a glossary, a run
manifest and an index of all months. Bad data publishes nothing; an analysis that cannot be
estimated on valid data publishes its page degraded (exit code 3).

Layer 7: may import every layer below (base and the analyses, data); only ``cli`` imports it.
Modules: ``run`` (periods, inputs, run metadata), ``monthly`` (the month's run and publishing),
``notebooks`` (registry, parameters, papermill), ``site`` (HTML of pages, landing page, index),
``numbers`` (typed key numbers and findings), ``pii`` (privacy gate), ``publishing`` (atomic folders),
``text`` (strings and number formats), ``display`` (notebook output), and ``pages/``: one presentation
module per page (``customer_base``, ``clv``, ``churn``, ``segments``, ``contacts``, ``experiments`` with
``campaign``).
"""
from analysis.lazy import lazy_exports

# The names below load their module on first use (PEP 562), so importing one submodule (e.g. the churn rule the
# month's state uses) does not import them all (lifelines, papermill and the month's run take seconds in a kernel).
_HOMES = {
    "MonthReport": "analysis.report.monthly",
    "build_experiment_report": "analysis.report.monthly",
    "build_report": "analysis.report.monthly",
    "experiments_ended": "analysis.report.monthly",
    "render_month": "analysis.report.monthly",
    "ensure_demo_data": "analysis.report.run",
    "last_complete_period": "analysis.report.run",
    "month_end": "analysis.report.run",
    "package_version": "analysis.report.run",
    "parse_period": "analysis.report.run",
    "EXPERIMENT": "analysis.report.notebooks",
    "NOTEBOOKS": "analysis.report.notebooks",
    "NotebookFailed": "analysis.report.notebooks",
    "NotebookSpec": "analysis.report.notebooks",
    "check_parameters": "analysis.report.notebooks",
    "default_jobs": "analysis.report.notebooks",
    "execute_notebook": "analysis.report.notebooks",
    "notebook_parameters": "analysis.report.notebooks",
    "parse_overrides": "analysis.report.notebooks",
    "month_label": "analysis.report.site",
    "write_index": "analysis.report.site",
    "PrivacyError": "analysis.report.pii",
    "find_pii": "analysis.report.pii",
    "pii_values": "analysis.report.pii",
}


__getattr__, __dir__ = lazy_exports(__name__, _HOMES)


__all__ = ["EXPERIMENT", "MonthReport", "NOTEBOOKS", "NotebookFailed", "NotebookSpec", "PrivacyError",
           "build_experiment_report", "build_report", "check_parameters", "default_jobs", "ensure_demo_data",
           "execute_notebook", "experiments_ended", "find_pii", "last_complete_period", "month_end", "month_label",
           "notebook_parameters", "package_version", "parse_overrides", "parse_period", "pii_values",
           "render_month", "write_index"]
