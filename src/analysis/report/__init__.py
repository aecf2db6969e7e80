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
from analysis.report.monthly import MonthReport, build_experiment_report, build_report, experiments_ended, render_month
from analysis.report.run import ensure_demo_data, last_complete_period, month_end, package_version, parse_period
from analysis.report.notebooks import (EXPERIMENT, NOTEBOOKS, NotebookFailed, NotebookSpec, check_parameters,
                                       default_jobs, execute_notebook, notebook_parameters, parse_overrides)
from analysis.report.site import month_label, write_index
from analysis.report.pii import PrivacyError, find_pii, pii_values

__all__ = ["EXPERIMENT", "MonthReport", "NOTEBOOKS", "NotebookFailed", "NotebookSpec", "PrivacyError",
           "build_experiment_report", "build_report", "check_parameters", "default_jobs", "ensure_demo_data",
           "execute_notebook", "experiments_ended", "find_pii", "last_complete_period", "month_end", "month_label",
           "notebook_parameters", "package_version", "parse_overrides", "parse_period", "pii_values",
           "render_month", "write_index"]
