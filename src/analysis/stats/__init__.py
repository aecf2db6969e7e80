"""The statistics library: frequentist tests, the planner, CUPED, the Bayesian view, sequential monitoring, retention.

Layer 3: imports only the root modules (``errors``) and the scientific libraries (numpy, pandas,
scipy, statsmodels, lifelines); never ``data``, ``customers``, ``clv`` or anything above. Every test
returns a small frozen result (estimate, interval, p-value, ``summary()``, ``to_dict()``) in no language.
"""
from analysis.lazy import lazy_exports

# The names below load their module on first use (PEP 562): importing one test does not import lifelines (the
# retention comparison's) into every page that uses the package.
_HOMES = {
    "BayesResult": "analysis.stats.bayes",
    "bayes_proportions": "analysis.stats.bayes",
    "mde_means": "analysis.stats.power",
    "mde_proportions": "analysis.stats.power",
    "power_proportions": "analysis.stats.power",
    "sample_size_means": "analysis.stats.power",
    "sample_size_proportions": "analysis.stats.power",
    "Result": "analysis.stats.results",
    "check_alpha": "analysis.stats.results",
    "check_counts": "analysis.stats.results",
    "check_margin": "analysis.stats.results",
    "plain": "analysis.stats.results",
    "summary_table": "analysis.stats.results",
    "RetentionComparison": "analysis.stats.retention",
    "compare_retention": "analysis.stats.retention",
    "SequentialResult": "analysis.stats.sequential",
    "msprt": "analysis.stats.sequential",
    "simulate_peeking": "analysis.stats.sequential",
    "SRM_THRESHOLD": "analysis.stats.tests",
    "BootstrapResult": "analysis.stats.tests",
    "CupedResult": "analysis.stats.tests",
    "MeanTest": "analysis.stats.tests",
    "ProportionTest": "analysis.stats.tests",
    "SrmResult": "analysis.stats.tests",
    "adjust_p_values": "analysis.stats.tests",
    "bootstrap_difference": "analysis.stats.tests",
    "cuped_test": "analysis.stats.tests",
    "srm_test": "analysis.stats.tests",
    "two_proportion_test": "analysis.stats.tests",
    "ratio_interval": "analysis.stats.tests",
    "welch_test": "analysis.stats.tests",
    "wilson_interval": "analysis.stats.proportions",
}


__getattr__, __dir__ = lazy_exports(__name__, _HOMES)


__all__ = [
    "ProportionTest", "MeanTest", "BootstrapResult", "SrmResult", "CupedResult", "BayesResult", "SequentialResult",
    "RetentionComparison", "Result",
    "wilson_interval", "ratio_interval", "two_proportion_test", "welch_test", "bootstrap_difference", "srm_test", "adjust_p_values",
    "cuped_test", "sample_size_proportions", "mde_proportions", "power_proportions", "sample_size_means", "mde_means",
    "bayes_proportions", "msprt", "simulate_peeking", "compare_retention",
    "check_alpha", "check_counts", "check_margin", "plain", "summary_table", "SRM_THRESHOLD",
]
