"""Jobs in a child interpreter (analysis.detached): the month's CLV and contact fits on the second core give the
same numbers as fits in this process; a child's model error is the same error; a child that dies is replaced."""
from __future__ import annotations

import os

import pandas as pd
import pytest

from analysis import detached
from analysis.base import BaseSettings, CustomerBase
from analysis.clv import pipeline
from analysis.errors import ModelError
from conftest import SAMPLE, SAMPLE_AS_OF


def _square(x):
    return x * x


def _refuse(n):
    raise ModelError(f"only {n} customers", "too_few_repeat_customers", {"n": n})


def _die(x):
    if os.environ.get("KANTA_TEST_PARENT") != str(os.getpid()):  # the child dies without an answer
        os._exit(1)
    return x + 1


def test_a_job_returns_its_result_and_reraises_its_model_error():
    assert detached.start(_square, 7)() == 49
    with pytest.raises(ModelError) as err:
        detached.start(_refuse, 3)()
    assert (err.value.reason, err.value.facts) == ("too_few_repeat_customers", {"n": 3})


def test_a_child_that_dies_is_replaced_by_the_job_here(monkeypatch):
    monkeypatch.setenv("KANTA_TEST_PARENT", str(os.getpid()))
    assert detached.start(_die, 1)() == 2


def test_the_clv_fit_in_a_child_is_the_fit_here_to_the_last_bit():
    here = pipeline.start_analyse(SAMPLE, SAMPLE_AS_OF, detach=False)()
    child = pipeline.start_analyse(SAMPLE, SAMPLE_AS_OF, detach=True)()
    pd.testing.assert_frame_equal(child.values, here.values, check_exact=True)
    assert child.model.purchase_model_ == here.model.purchase_model_
    assert child.model.purchase_.params == here.model.purchase_.params
    assert child.model.gamma_gamma_.params == here.model.gamma_gamma_.params
    assert child.model.comparison_.equals(here.model.comparison_)


def test_a_month_built_with_its_fits_in_child_processes_is_the_month_built_here(monkeypatch):
    here = CustomerBase.build(SAMPLE, SAMPLE_AS_OF, BaseSettings())
    monkeypatch.setattr(pipeline, "DETACH_CUSTOMERS", 0)
    from analysis.contacts import dropout

    monkeypatch.setattr(dropout, "DETACH_ROWS", 0)
    child = CustomerBase.build(SAMPLE, SAMPLE_AS_OF, BaseSettings())
    pd.testing.assert_frame_equal(child.customers, here.customers, check_exact=True)
    pd.testing.assert_frame_equal(child.previous, here.previous, check_exact=True)
    assert child.numbers() == here.numbers()
    assert child.contact_models.threshold == here.contact_models.threshold
    assert [f.to_dict() for f in child.findings] == [f.to_dict() for f in here.findings]
