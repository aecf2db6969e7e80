"""The monthly report: the month's customer base, the analysis notebooks rendered as HTML, the landing page.

``render_month`` validates the data, computes the month's :class:`~analysis.base.state.CustomerBase`
once, runs every registered notebook with papermill (each reads that state), converts each to
self-contained HTML without code, adds a landing page with typed key numbers and a glossary, a run
manifest and an index of all months. Bad data publishes nothing; an analysis that cannot be
estimated on valid data publishes its page degraded (exit code 3).

Modules: ``monthly`` (the run), ``notebooks`` (registry, parameters, papermill), ``pages`` (HTML),
``numbers`` (typed key numbers and findings), ``pii`` (privacy check), and one presentation module per
page (``customer_base``, ``clv``, ``churn``, ``segments``, ``experiments``).
"""
from analysis.report.monthly import (MonthReport, build_experiment_report, build_report, ensure_demo_data,
                                     experiments_ended, last_complete_period, month_end, package_version,
                                     parse_period, render_month)
from analysis.report.notebooks import (EXPERIMENT, NOTEBOOKS, NotebookFailed, NotebookSpec, check_parameters,
                                       default_jobs, execute_notebook, notebook_parameters, parse_overrides)
from analysis.report.site import month_label, write_index
from analysis.report.pii import PrivacyError, find_pii, pii_values

__all__ = ["EXPERIMENT", "MonthReport", "NOTEBOOKS", "NotebookFailed", "NotebookSpec", "PrivacyError",
           "build_experiment_report", "build_report", "check_parameters", "default_jobs", "ensure_demo_data",
           "execute_notebook", "experiments_ended", "find_pii", "last_complete_period", "month_end", "month_label",
           "notebook_parameters", "package_version", "parse_overrides", "parse_period", "pii_values",
           "render_month", "write_index"]
