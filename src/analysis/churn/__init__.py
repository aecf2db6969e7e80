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
from analysis.lazy import lazy_exports

# The names below load their module on first use (PEP 562), so importing one submodule (e.g. the churn rule the
# month's state uses) does not import them all (lifelines, papermill and the month's run take seconds in a kernel).
_HOMES = {
    "ChurnAnalysis": "analysis.churn.analysis",
    "analyse": "analysis.churn.analysis",
    "CoxResult": "analysis.churn.cox",
    "PHCheck": "analysis.churn.cox",
    "fit_cox": "analysis.churn.cox",
    "one_hot": "analysis.churn.cox",
    "ph_check": "analysis.churn.cox",
    "scaled_schoenfeld_residuals": "analysis.churn.cox",
    "COX_CUSTOMERS": "analysis.churn.drivers",
    "MIN_COX_EVENTS": "analysis.churn.drivers",
    "MIN_LEVEL_CUSTOMERS": "analysis.churn.drivers",
    "MIN_LEVEL_EVENTS": "analysis.churn.drivers",
    "ChurnCox": "analysis.churn.drivers",
    "cox_dataset": "analysis.churn.drivers",
    "early_behaviour": "analysis.churn.drivers",
    "early_categories": "analysis.churn.drivers",
    "fit_churn_cox": "analysis.churn.drivers",
    "MIN_GROUP_CUSTOMERS": "analysis.churn.kaplan_meier",
    "OTHER": "analysis.churn.kaplan_meier",
    "SURVIVAL_MONTHS": "analysis.churn.kaplan_meier",
    "GroupSurvival": "analysis.churn.kaplan_meier",
    "KaplanMeierResult": "analysis.churn.kaplan_meier",
    "kaplan_meier": "analysis.churn.kaplan_meier",
    "kaplan_meier_by_group": "analysis.churn.kaplan_meier",
    "pool_small_groups": "analysis.churn.kaplan_meier",
    "RetentionKPIs": "analysis.churn.retention",
    "annualise_churn": "analysis.churn.retention",
    "cohort_retention": "analysis.churn.retention",
    "retention_kpis": "analysis.churn.retention",
    "churn_risk": "analysis.churn.risk",
    "export_table": "analysis.churn.risk",
    "gap_survival": "analysis.churn.risk",
    "ATTRIBUTES": "analysis.churn.rule",
    "ChurnDefinition": "analysis.churn.rule",
    "churn_table": "analysis.churn.rule",
    "churn_threshold": "analysis.churn.rule",
    "default_inactivity_days": "analysis.churn.rule",
    "define_churn": "analysis.churn.rule",
    "gap_table": "analysis.churn.rule",
    "interpurchase_gaps": "analysis.churn.rule",
    "purchase_days": "analysis.churn.rule",
}


__getattr__, __dir__ = lazy_exports(__name__, _HOMES)


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
