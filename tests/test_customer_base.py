"""The month's saved customer state: what :meth:`CustomerBase.save` writes, :meth:`CustomerBase.load` reads back."""
from __future__ import annotations

import copy
import dataclasses
import pickle

import numpy as np
import pandas as pd
import pytest

from analysis.base import STORED_PARTS, BaseSettings, CustomerBase
from analysis.base.store import _text_reduction, share_text
from analysis.errors import ParameterError

from conftest import SAMPLE, SAMPLE_AS_OF


@pytest.fixture(scope="module")
def base():
    return CustomerBase.build(SAMPLE, SAMPLE_AS_OF, BaseSettings(n_clusters=3))


@pytest.fixture(scope="module")
def saved(base, tmp_path_factory):
    return base.save(tmp_path_factory.mktemp("state") / "customer_base.pkl")


def tables(base) -> dict[str, pd.DataFrame]:
    """Every per-customer table a state holds, by where it lies."""
    return {"customers": base.customers, "previous": base.previous, "flows": base.flows,
            "clv.values": base.clv.values, "segmentation.table": base.segmentation.table,
            "previous_segmentation.table": base.previous_segmentation.table,
            "clusters.labels_": base.segmentation.clusters.labels_.to_frame()}


def test_every_table_reads_back_with_the_same_columns_dtypes_and_values(base, saved):
    again = CustomerBase.load(saved)
    for where, table in tables(base).items():
        loaded = tables(again)[where]
        assert list(loaded.columns) == list(table.columns), where
        assert loaded.dtypes.to_dict() == table.dtypes.to_dict(), where
        pd.testing.assert_frame_equal(loaded, table, check_exact=True, obj=where)
    for c in base.customers.columns[(base.customers.dtypes == object).to_numpy()]:  # noqa: E721 (the same missing values too)
        assert [type(v) for v in again.customers[c]] == [type(v) for v in base.customers[c]], c


def test_the_rest_of_the_state_reads_back_equal(base, saved):
    again = CustomerBase.load(saved)
    assert again.numbers() == base.numbers() and again.previous_numbers() == base.previous_numbers()
    assert (again.as_of, again.settings, again.findings, again.source_path, again.contact_numbers) == \
        (base.as_of, base.settings, base.findings, base.source_path, base.contact_numbers)
    assert again.glossary() == base.glossary()
    assert again.segment_settings == base.segmentation.settings
    pd.testing.assert_frame_equal(again.contact_list(), base.contact_list())
    assert again.clv.model.purchase_.params == base.clv.model.purchase_.params
    assert again.source.as_of == base.as_of  # the source is loaded again from its path when asked for


def test_parts_are_read_only_when_first_used(saved):
    again = CustomerBase.load(saved)
    assert not set(STORED_PARTS) & set(vars(again))
    again.numbers()
    again.glossary()
    assert set(STORED_PARTS) & set(vars(again)) == {"customers", "flows"}  # the fits stay on file
    assert again.estimated("clv") and again.estimated("segmentation") and again.segment_settings.new_days == 30
    assert set(STORED_PARTS) & set(vars(again)) == {"customers", "flows"}
    assert again.segmentation.clusters is not None
    assert "segmentation" in vars(again) and "previous_segmentation" not in vars(again)


def test_loaded_tables_can_be_changed_without_changing_the_file(base, saved):
    again = CustomerBase.load(saved)
    again.customers.loc[0, "clv"] = -1.0
    again.customers["total_spend"] *= 2
    fresh = CustomerBase.load(saved)
    assert fresh.customers.loc[0, "clv"] == base.customers.loc[0, "clv"]
    pd.testing.assert_series_equal(fresh.customers["total_spend"], base.customers["total_spend"])


def test_a_loaded_state_pickles_and_copies_whole(base, saved):
    for again in (pickle.loads(pickle.dumps(CustomerBase.load(saved))), copy.deepcopy(CustomerBase.load(saved))):
        assert "_stored" not in vars(again)
        pd.testing.assert_frame_equal(again.previous_segmentation.table, base.previous_segmentation.table)
        assert again.numbers() == base.numbers()


def test_a_loaded_state_saves_again(base, saved, tmp_path):
    again = CustomerBase.load(CustomerBase.load(saved).save(tmp_path / "again.pkl"))
    pd.testing.assert_frame_equal(again.segmentation.table, base.segmentation.table)


def test_parts_that_could_not_be_estimated_read_back_as_none(base, tmp_path):
    without = dataclasses.replace(base, clv=None, segmentation=None, previous_segmentation=None)
    again = CustomerBase.load(without.save(tmp_path / "without.pkl"))
    assert again.clv is None and again.segmentation is None and again.segment_settings is None
    assert not again.estimated("clv")
    assert CustomerBase.load(tmp_path / "without.pkl").estimated("clv") is False


def test_a_file_that_is_not_a_saved_state_is_refused(tmp_path):
    path = tmp_path / "customer_base.pkl"
    path.write_bytes(pickle.dumps({"customers": 1}))
    with pytest.raises(ParameterError, match="customer_base.pkl is not a saved customer base"):
        CustomerBase.load(path)


def test_text_is_stored_as_codes_and_keeps_every_missing_value():
    values = np.array(["north", None, "south", np.nan, "north", pd.NA, "", "south"] * 200, dtype=object)
    func, args = _text_reduction(values)
    codes, distinct = args[2], args[3]
    assert distinct == ["north", "south", ""] and codes[:4].tolist() == [0, 1, 0, 2]
    out = func(*args)
    assert out.dtype == object and out.shape == values.shape
    assert [repr(v) for v in out] == [repr(v) for v in values]  # None stays None, NaN NaN, NA NA
    assert out[0] is out[4]  # one object per distinct text


def test_arrays_that_are_not_text_are_pickled_as_they_are():
    assert _text_reduction(np.array(["a", 1, 2.5] * 400, dtype=object)) is None
    assert _text_reduction(np.array([pd.Timestamp("2026-01-01")] * 1200, dtype=object)) is None
    mixed = pd.DataFrame({"x": np.array(["a", 1] * 600, dtype=object)})
    assert share_text(mixed.copy())["x"].tolist() == mixed["x"].tolist()


def test_the_state_holds_each_repeated_text_once(base):
    regions = base.customers["acquisition_channel"]
    assert len({id(v) for v in regions.dropna()}) == regions.nunique()
    assert base.customers["customer_id"].is_unique  # ids are left as they are


def test_ids_are_read_once_for_every_part(saved):
    again = CustomerBase.load(saved)
    ids = again.customers["customer_id"]
    same = dict(zip(ids, ids))
    for table in (again.previous, again.clv.values, again.previous_segmentation.table):
        assert all(same[c] is c for c in table["customer_id"])  # the same string objects, not copies
