"""The statistics library: frequentist tests, the planner, CUPED, the Bayesian view, sequential monitoring, retention.

Layer 3: imports only the root modules (``errors``) and the scientific libraries (numpy, pandas,
scipy, statsmodels, lifelines); never ``data``, ``customers``, ``clv`` or anything above. Every test
returns a small frozen result (estimate, interval, p-value, ``summary()``, ``to_dict()``) in no language.
"""
from analysis.stats.bayes import BayesResult, bayes_proportions
from analysis.stats.power import (mde_means, mde_proportions, power_proportions, sample_size_means,
                                  sample_size_proportions)
from analysis.stats.results import Result, check_alpha, check_counts, check_margin, plain, summary_table
from analysis.stats.retention import RetentionComparison, compare_retention
from analysis.stats.sequential import SequentialResult, msprt, simulate_peeking
from analysis.stats.tests import (SRM_THRESHOLD, BootstrapResult, CupedResult, MeanTest, ProportionTest, SrmResult,
                                  adjust_p_values, bootstrap_difference, cuped_test, srm_test, two_proportion_test,
                                  ratio_interval, welch_test, wilson_interval)

__all__ = [
    "ProportionTest", "MeanTest", "BootstrapResult", "SrmResult", "CupedResult", "BayesResult", "SequentialResult",
    "RetentionComparison", "Result",
    "wilson_interval", "ratio_interval", "two_proportion_test", "welch_test", "bootstrap_difference", "srm_test", "adjust_p_values",
    "cuped_test", "sample_size_proportions", "mde_proportions", "power_proportions", "sample_size_means", "mde_means",
    "bayes_proportions", "msprt", "simulate_peeking", "compare_retention",
    "check_alpha", "check_counts", "check_margin", "plain", "summary_table", "SRM_THRESHOLD",
]
