"""A/B tests and campaign experiments: outcomes, guards, one experiment's verdict, the campaign report, the month.

Layer 5: may import the root modules, ``data``, ``customers``, ``stats`` and ``clv`` (lower layers); never
``base``, ``report`` or ``cli``. The statistics themselves are in :mod:`analysis.stats`; results are
language-free, their words are made in :mod:`analysis.report.pages.campaign`.
"""
from analysis.experiments.brief import CampaignBrief, campaign_brief
from analysis.experiments.campaign import PLANNER_RELATIVE_MDE, CampaignReport, campaign_report
from analysis.experiments.guards import (MIN_CUSTOMERS_TO_ESTIMATE, SRM_WARNING, Guard, check_guards,
                                         control_and_treatments)
from analysis.experiments.month import ended_experiments, headline
from analysis.experiments.outcomes import SOURCE_TABLES, experiment_ids, experiment_outcomes
from analysis.experiments.result import (AUTO_CONVERSION_BELOW, VERDICTS, ExperimentResult, analyse_experiment,
                                         arm_table, sequential_looks)

__all__ = [
    "SOURCE_TABLES", "CampaignBrief", "CampaignReport", "ExperimentResult", "Guard",
    "experiment_ids", "experiment_outcomes", "check_guards", "control_and_treatments", "arm_table",
    "sequential_looks", "analyse_experiment", "campaign_brief", "campaign_report", "ended_experiments", "headline",
    "VERDICTS", "AUTO_CONVERSION_BELOW", "PLANNER_RELATIVE_MDE", "MIN_CUSTOMERS_TO_ESTIMATE", "SRM_WARNING",
]
