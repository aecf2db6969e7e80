"""The monthly report: the analysis notebooks rendered as HTML for stakeholders (``kanta report``).

``build_report`` validates the data, runs every registered notebook with papermill, converts
each to self-contained HTML without code, adds a landing page with the key numbers, a run
manifest and an index of all months, and publishes only when everything succeeded.

Modules: ``monthly`` (the run and the CLI), ``notebooks`` (registry, parameters, papermill),
``pages`` (HTML), ``pii`` (privacy check), ``customer_base`` (the customer-base page).
"""
from analysis.report.customer_base import headline as base_headline
from analysis.report.monthly import (add_cli, build_experiment_report, build_report, ensure_demo_data,
                                     experiments_ended, last_complete_period, month_end, package_version,
                                     parse_period)
from analysis.report.notebooks import (EXPERIMENT, NOTEBOOKS, NotebookFailed, NotebookSpec, check_parameters,
                                       default_jobs, execute_notebook, notebook_parameters, parse_overrides)
from analysis.report.pages import month_label, write_index
from analysis.report.pii import PrivacyError, find_pii, pii_values

__all__ = ["EXPERIMENT", "NOTEBOOKS", "NotebookFailed", "NotebookSpec", "PrivacyError", "add_cli", "base_headline",
           "build_experiment_report", "build_report", "check_parameters", "default_jobs", "ensure_demo_data",
           "execute_notebook", "experiments_ended", "find_pii", "last_complete_period", "month_end", "month_label",
           "notebook_parameters", "package_version", "parse_overrides", "parse_period", "pii_values", "write_index"]
