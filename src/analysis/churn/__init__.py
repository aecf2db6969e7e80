"""Churn and retention: how long customers stay, who is leaving, and what predicts it.

Layer 4 (beside ``clv`` and ``segments``): may import ``data``, ``customers``, ``stats``, ``clv``,
``segments`` and the root modules (errors, units, findings); never ``base``, ``report`` or ``cli``.

Modules, bottom to top:

- :mod:`~analysis.churn.kaplan_meier`: Kaplan-Meier curves, alone and per group, with log-rank tests (lifelines).
- :mod:`~analysis.churn.cox`: Cox proportional hazards with a proportional-hazards check.
- :mod:`~analysis.churn.rule`: the churn rule (the one the month's customer base uses) and the duration /
  event table with explicit censoring at ``as_of``.
- :mod:`~analysis.churn.drivers`: early behaviour and attributes in a landmark Cox model of churn.
- :mod:`~analysis.churn.retention`: retention KPIs and cohorts.
- :mod:`~analysis.churn.risk`: the "due next month" list and the tables ``kanta churn`` writes.
- :mod:`~analysis.churn.analysis`: :func:`analyse`, everything the churn page shows in one call.

Results carry no language: their words, tables and figures are in :mod:`analysis.report.pages.churn`, the
command line in :mod:`analysis.cli.churn`. Degrade, don't collapse: a group or a model that cannot be
estimated on valid data raises :class:`~analysis.errors.ModelError` with a ``reason``
(``groups_not_comparable``, ``cox_not_estimable``); :func:`analyse` records it as a
:class:`~analysis.findings.Finding` and computes the rest of the page. Levels too small to estimate are
pooled first (:data:`OTHER`).
"""
from analysis.churn.analysis import ChurnAnalysis, analyse
from analysis.churn.cox import CoxResult, PHCheck, fit_cox, one_hot, ph_check, scaled_schoenfeld_residuals
from analysis.churn.drivers import (COX_CUSTOMERS, MIN_COX_EVENTS, MIN_LEVEL_CUSTOMERS, MIN_LEVEL_EVENTS, ChurnCox,
                                    cox_dataset, early_behaviour, early_categories, fit_churn_cox)
from analysis.churn.kaplan_meier import (MIN_GROUP_CUSTOMERS, OTHER, SURVIVAL_MONTHS, GroupSurvival,
                                         KaplanMeierResult, kaplan_meier, kaplan_meier_by_group, pool_small_groups)
from analysis.churn.retention import RetentionKPIs, annualise_churn, cohort_retention, retention_kpis
from analysis.churn.risk import churn_risk, export_table, gap_survival
from analysis.churn.rule import (ATTRIBUTES, ChurnDefinition, churn_table, churn_threshold, default_inactivity_days,
                                 define_churn, gap_table, interpurchase_gaps, purchase_days)

__all__ = [
    # the churn rule and the duration / event table
    "ATTRIBUTES", "ChurnDefinition", "churn_table", "churn_threshold", "default_inactivity_days", "define_churn",
    "gap_table", "interpurchase_gaps", "purchase_days",
    # Kaplan-Meier
    "MIN_GROUP_CUSTOMERS", "OTHER", "SURVIVAL_MONTHS", "GroupSurvival", "KaplanMeierResult", "kaplan_meier",
    "kaplan_meier_by_group", "pool_small_groups",
    # Cox proportional hazards
    "CoxResult", "PHCheck", "fit_cox", "one_hot", "ph_check", "scaled_schoenfeld_residuals",
    # what predicts churn
    "COX_CUSTOMERS", "MIN_COX_EVENTS", "MIN_LEVEL_CUSTOMERS", "MIN_LEVEL_EVENTS", "ChurnCox", "cox_dataset",
    "early_behaviour", "early_categories", "fit_churn_cox",
    # retention and cohorts
    "RetentionKPIs", "annualise_churn", "cohort_retention", "retention_kpis",
    # the "due next month" list and the command line's tables
    "churn_risk", "export_table", "gap_survival",
    # one call for the notebook
    "ChurnAnalysis", "analyse",
]
