"""Harrell's concordance (analysis.churn.concordance) counts exactly what lifelines counts, ties and strata included."""
from __future__ import annotations

import numpy as np
import pytest
from lifelines import CoxPHFitter
from lifelines.datasets import load_rossi
from lifelines.utils.concordance import _concordance_summary_statistics, _naive_concordance_summary_statistics

from analysis.churn.concordance import concordance_counts, concordance_index, cox_concordance


def test_counts_equal_lifelines_on_random_data_with_tied_times_and_predictions():
    rng = np.random.default_rng(7)
    for trial in range(300):
        n = int(rng.integers(1, 80))
        t = rng.integers(0, int(rng.integers(1, 25)), n).astype(float)
        p = rng.integers(0, int(rng.integers(1, 12)), n).astype(float) if trial % 2 else rng.normal(size=n)
        e = rng.random(n) < rng.random()
        assert concordance_counts(t, p, e) == tuple(int(x) for x in _concordance_summary_statistics(t, p, e)), trial


def test_the_pair_rule_is_the_plain_definition_when_no_times_are_tied():
    """Independently of lifelines' tree: every pair by the textbook rule (lifelines' naive pair loop), on distinct
    times with tied predictions (the naive loop treats tied times differently from both implementations)."""
    rng = np.random.default_rng(3)
    t = rng.permutation(200).astype(float)
    p = rng.integers(0, 6, 200).astype(float)
    e = rng.random(200) < 0.6
    assert concordance_counts(t, p, e) == tuple(int(x) for x in _naive_concordance_summary_statistics(t, p, e))


@pytest.mark.parametrize("strata", [None, ["wexp"], ["wexp", "mar"]])
def test_cox_concordance_equals_lifelines_on_rossi(strata):
    cph = CoxPHFitter(strata=strata).fit(load_rossi(), "week", "arrest")
    assert cox_concordance(cph) == cph.concordance_index_


def test_no_pairs_is_refused_as_lifelines_refuses_it():
    with pytest.raises(ZeroDivisionError):
        concordance_index([1.0, 2.0], [0.5, 0.7], [0, 0])
