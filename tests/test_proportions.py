"""The closed-form Wilson interval (analysis.stats.proportions) against statsmodels, which it replaces on the pages."""
from __future__ import annotations

import math
import subprocess
import sys

import pytest
from statsmodels.stats.proportion import proportion_confint

from analysis.stats import wilson_interval


@pytest.mark.parametrize("alpha", [0.2, 0.1, 0.05, 0.01])
def test_wilson_interval_is_statsmodels_to_the_last_bit(alpha):
    cases = [(k, n) for n in [*range(1, 60), 100, 999, 12_345, 1_000_000]
             for k in sorted({0, 1, n // 3, n // 2, n - 1, n})]
    for k, n in cases:
        assert wilson_interval(k, n, alpha) == tuple(map(float, proportion_confint(k, n, alpha=alpha, method="wilson")))
    assert all(math.isnan(v) for v in wilson_interval(0, 0))  # statsmodels: nan, nan (with a warning)


def test_loading_the_month_state_and_the_landing_parts_does_not_import_the_test_library():
    """A page kernel that reads the month's state pays no second of scipy.stats/statsmodels imports for it."""
    code = ("import sys; import analysis.base.state, analysis.report.site, analysis.contacts.satisfaction; "
            "print(sorted(m for m in ('scipy.stats', 'statsmodels') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
