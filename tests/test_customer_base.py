"""The month's saved customer state: what :meth:`CustomerBase.save` writes (a folder of Arrow tables and
``state.json``), :meth:`CustomerBase.load` reads back."""
from __future__ import annotations

import copy
import dataclasses
import json
import math
import pickle

import numpy as np
import pandas as pd
import pyarrow.feather as feather
import pytest

from analysis.base import STATE_FORMAT, STORED_PARTS, BaseSettings, CustomerBase
from analysis.base.store import _text_reduction, share_text
from analysis.errors import ParameterError

from conftest import SAMPLE, SAMPLE_AS_OF


@pytest.fixture(scope="module")
def base():
    return CustomerBase.build(SAMPLE, SAMPLE_AS_OF, BaseSettings(n_clusters=3))


@pytest.fixture(scope="module")
def saved(base, tmp_path_factory):
    return base.save(tmp_path_factory.mktemp("state") / "customer_base")


def tables(base) -> dict[str, pd.DataFrame]:
    """Every per-customer table a state holds, by where it lies."""
    return {"customers": base.customers, "previous": base.previous, "flows": base.flows,
            "clv.values": base.clv.values, "segmentation.table": base.segmentation.table,
            "previous_segmentation.table": base.previous_segmentation.table,
            "clusters.labels_": base.segmentation.clusters.labels_.to_frame()}


def assert_same(a, b, where: str) -> None:
    """``a`` and ``b`` are the same value of the same type, all the way down (tables exactly, NaN equal to NaN)."""
    assert type(a) is type(b), f"{where}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b, check_exact=True, check_index_type=True, check_column_type=True, obj=where)
        assert a.attrs == b.attrs, where
        for c in a.columns[(a.dtypes == object).to_numpy()]:  # noqa: E721 (the same missing values too)
            assert [type(v) for v in a[c]] == [type(v) for v in b[c]], f"{where}.{c}"
    elif isinstance(a, pd.Series):
        pd.testing.assert_series_equal(a, b, check_exact=True, check_index_type=True, obj=where)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, where
        assert np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"), where
    elif isinstance(a, dict):
        assert list(a) == list(b), where
        for k in a:
            assert_same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b), where
    elif hasattr(a, "__dict__") and not isinstance(a, (pd.Timestamp, type)):
        assert_same(vars(a), vars(b), where)
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def test_every_field_of_the_state_reads_back_exactly(base, saved):
    again = CustomerBase.load(saved)
    for f in dataclasses.fields(CustomerBase):  # a field added later is covered without changing this test
        if f.name != "_source":
            assert_same(getattr(again, f.name), getattr(base, f.name), f.name)
    assert_same(again.segment_settings, base.segment_settings, "segment_settings")


def test_the_fitted_models_are_rebuilt_from_their_parameters(base, saved):
    again = CustomerBase.load(saved)
    fitted, model = base.clv, again.clv.model
    table = fitted.values[["customer_id", "frequency", "recency", "T", "monetary_value"]]
    scores = model.predict(table, fitted.horizon_months, fitted.discount_rate, fitted.days_per_month)
    pd.testing.assert_series_equal(scores["clv"], fitted.values["clv"], check_exact=True, check_names=False)
    assert again.clv.parameters() == fitted.parameters()
    # the clusters: the rebuilt scaler and KMeans give every buyer the cluster of the original fit
    buyers = base.segmentation.table[base.segmentation.table["is_buyer"]]
    pd.testing.assert_series_equal(again.segmentation.clusters.predict(buyers),
                                   base.segmentation.clusters.predict(buyers))


def test_the_folder_holds_arrow_tables_and_a_versioned_json(base, saved):
    doc = json.loads((saved / "state.json").read_text(encoding="utf-8"))
    assert doc["format"] == STATE_FORMAT == "kanta-customer-base/1"
    assert doc["fields"]["settings"]["attributes"]["inactivity_days"] == base.settings.inactivity_days
    purchase = doc["parts"]["clv"]["attributes"]["model"]["attributes"]["purchase_"]["attributes"]
    assert purchase["params"] == base.clv.model.purchase_.params  # the fit is its parameters, readable as such
    flows = feather.read_table(saved / "flows.arrow").to_pandas()  # any Arrow reader opens a table
    assert flows["active"].tolist() == base.flows["active"].tolist()
    assert flows["month"].tolist() == base.flows["month"].tolist()


def test_a_state_saved_again_at_the_same_place_replaces_the_old_one(base, tmp_path):
    path = base.save(tmp_path / "month")
    small = dataclasses.replace(base, customers=base.customers.head(3))
    CustomerBase.load(small.save(path))
    assert len(CustomerBase.load(path).customers) == 3
    assert [p.name for p in tmp_path.iterdir()] == ["month"]  # no temporary folder left


def test_text_with_every_kind_of_missing_value_reads_back_as_it_was(base, tmp_path):
    odd = base.customers.head(1200).copy()
    odd["region"] = np.array(["north", None, np.nan, pd.NA, "", "south"] * 200, dtype=object)
    odd["note"] = np.array([None] * 1200, dtype=object)
    odd["ids"] = np.array([f"id{i}" if i % 7 else np.nan for i in range(1200)], dtype=object)
    again = CustomerBase.load(dataclasses.replace(base, customers=odd).save(tmp_path / "odd"))
    for c in ("region", "note", "ids"):
        assert [repr(v) for v in again.customers[c]] == [repr(v) for v in odd[c]], c


def test_a_table_of_no_rows_reads_back_empty_with_its_columns_and_dtypes(base, tmp_path):
    """A base with one month of history has empty tables (no month before it): they save and load."""
    empty = base.customers.head(0).copy()
    again = CustomerBase.load(dataclasses.replace(base, customers=empty).save(tmp_path / "empty"))
    assert again.customers.empty and list(again.customers.columns) == list(empty.columns)
    assert again.customers.dtypes.to_dict() == empty.dtypes.to_dict()


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
    again = CustomerBase.load(CustomerBase.load(saved).save(tmp_path / "again"))
    pd.testing.assert_frame_equal(again.segmentation.table, base.segmentation.table)


def test_parts_that_could_not_be_estimated_read_back_as_none(base, tmp_path):
    without = dataclasses.replace(base, clv=None, segmentation=None, previous_segmentation=None)
    again = CustomerBase.load(without.save(tmp_path / "without"))
    assert again.clv is None and again.segmentation is None and again.segment_settings is None
    assert not again.estimated("clv")
    assert CustomerBase.load(tmp_path / "without").estimated("clv") is False


def test_a_file_that_is_not_a_saved_state_is_refused(tmp_path):
    path = tmp_path / "customer_base.pkl"
    path.write_bytes(pickle.dumps({"customers": 1}))  # e.g. the pickle an earlier version wrote
    with pytest.raises(ParameterError, match=r"customer_base.pkl is not a saved customer base \(expected a folder"):
        CustomerBase.load(path)


def test_a_state_in_an_unknown_format_is_refused_with_one_sentence(saved, tmp_path):
    import shutil

    other = tmp_path / "future"
    shutil.copytree(saved, other)
    doc = json.loads((other / "state.json").read_text(encoding="utf-8"))
    (other / "state.json").write_text(json.dumps({**doc, "format": "kanta-customer-base/2"}), encoding="utf-8")
    with pytest.raises(ParameterError, match=r"^customer_base: future is in format 'kanta-customer-base/2'; "
                                             r"this version of Kanta reads 'kanta-customer-base/1'"):
        CustomerBase.load(other)


def test_a_state_naming_a_class_from_elsewhere_is_refused(saved, tmp_path):
    import shutil

    other = tmp_path / "tampered"
    shutil.copytree(saved, other)
    text = (other / "state.json").read_text(encoding="utf-8")
    (other / "state.json").write_text(text.replace("analysis.base.settings:BaseSettings", "os:system"), encoding="utf-8")
    with pytest.raises(ParameterError, match="names 'os:system', which a saved state may not hold"):
        CustomerBase.load(other)


def test_a_value_the_format_cannot_hold_stops_the_save_and_writes_nothing(base, tmp_path):
    odd = dataclasses.replace(base, contact_numbers={"rule": lambda x: x})
    with pytest.raises(TypeError, match=r"contact_numbers.rule is a builtins:function"):
        odd.save(tmp_path / "odd")
    assert list(tmp_path.iterdir()) == []


def test_text_is_stored_as_codes_and_keeps_every_missing_value():
    values = np.array(["north", None, "south", np.nan, "north", pd.NA, "", "south"] * 200, dtype=object)
    func, args = _text_reduction(values)
    codes, distinct = args[2], args[3]
    assert distinct == ["north", "south", ""] and codes[:4].tolist() == [0, 1, 0, 2]
    out = func(*args)
    assert out.dtype == object and out.shape == values.shape
    assert [repr(v) for v in out] == [repr(v) for v in values]  # None stays None, NaN NaN, NA NA
    assert out[0] is out[4]  # one object per distinct text


def test_arrays_that_are_not_text_are_left_as_they_are():
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


def test_the_churn_rule_is_kept_with_how_it_was_decided(base, tmp_path):
    from analysis.churn.rule import define_churn

    assert base.churn_rule == define_churn(SAMPLE, SAMPLE_AS_OF, None, method="inactivity")
    assert base.churn_rule.data_driven and base.churn_rule.inactivity_days == base.settings.inactivity_days
    given = CustomerBase.build(SAMPLE, SAMPLE_AS_OF, BaseSettings(inactivity_days=120, n_clusters=3))
    assert not given.churn_rule.data_driven and given.churn_rule.inactivity_days == 120
    assert CustomerBase.load(given.save(tmp_path / "given")).churn_rule == given.churn_rule


def test_numbers_are_computed_once_per_state(base, monkeypatch):
    expected = base.numbers()
    calls = []
    compute = CustomerBase._numbers
    monkeypatch.setattr(CustomerBase, "_numbers", lambda self: calls.append(1) or compute(self))
    state = dataclasses.replace(base)
    first = state.numbers()
    first["customers_active"] = -1  # a caller's change never reaches the cache
    assert state.numbers() == expected and len(calls) == 1
    state.customers = base.customers.head(10)  # a replaced table is counted afresh
    assert state.numbers()["customers_buyers"] == int(base.customers.head(10)["is_buyer"].sum()) and len(calls) == 2
