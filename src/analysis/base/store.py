"""Saving and loading a month's customer state: a folder of Arrow tables and one JSON file, read by every notebook.

``state.json`` holds the settings, findings, numbers and fitted models as their parameters; each table is an
Arrow IPC (Feather v2) file beside it (:mod:`analysis.base.store_tables`), mapped when a page first uses it.
"""
from __future__ import annotations

import dataclasses
import datetime
import importlib
import json
import math
import re
import shutil
from pathlib import Path, PurePath

import numpy as np
import pandas as pd

from analysis.base.store_tables import MappedFile, TextPool, columns_to_arrow, read_columns, write_arrow
from analysis.data import atomic_write
from analysis.errors import ParameterError

#: The version of the folder's layout, written as ``format`` in ``state.json``; another version is refused.
STATE_FORMAT = "kanta-customer-base/1"
STATE_FILE = "state.json"
TEXTS_FILE = "texts.arrow"
#: The fields of a saved state that are read from the folder when first used.
STORED_PARTS = ("customers", "previous", "flows", "clv", "segmentation", "previous_segmentation")
#: Fitted objects from outside the package that a state holds (the segmentation's scaler and cluster model): class
#: name -> the module that exports it. Imported when a state holding one is written or read (scikit-learn takes a
#: second to import, which a page that never reads the segmentation does not pay).
FOREIGN_CLASSES = {"StandardScaler": "sklearn.preprocessing", "KMeans": "sklearn.cluster",
                   "GaussianMixture": "sklearn.mixture"}
#: Arrays with at least this many values are a table file; smaller ones are lists in the JSON.
ARRAY_TABLE_MIN = 1000
#: Text columns of at least this many rows are held as shared objects by :func:`share_text`.
_TEXT_MIN_SIZE = 1000


def save_state(base, path) -> Path:
    """Write the state ``base`` (:class:`analysis.base.state.CustomerBase`) as a folder at ``path`` (see its ``save``).

    Every DataFrame (and every large array) becomes an Arrow file in ``path``; everything else (settings,
    findings, the fitted models' parameters, the source's validation record) goes into ``state.json`` as
    tagged JSON, which :func:`load_state` rebuilds exactly. An existing saved state at ``path`` is replaced.
    """
    path = Path(path)
    if path.exists() and not (path / STATE_FILE).is_file():
        raise ParameterError(f"customer_base: {path.name} exists and is not a saved customer base; expected a new "
                             "folder or one written by CustomerBase.save.")
    small = {f.name: getattr(base, f.name) for f in dataclasses.fields(base)
             if f.name not in STORED_PARTS and f.name != "_source"}
    small["_segment_settings"] = base.segment_settings
    # what validating the source found, so the notebooks reopen it without the checks (plain values)
    small["source_record"] = base._source.record() if hasattr(base._source, "record") \
        else base.__dict__.get("source_record")

    def dump(tmp: Path) -> None:
        tmp.mkdir()
        try:
            writer = _Writer(tmp)
            parts = {name: writer.encode(getattr(base, name), name) for name in STORED_PARTS}
            fields = {name: writer.encode(value, name) for name, value in small.items()}
            writer.pool.write(tmp / TEXTS_FILE)
            text = json.dumps({"format": STATE_FORMAT, "fields": fields, "parts": parts}, allow_nan=False,
                              ensure_ascii=False)
            (tmp / STATE_FILE).write_text(text, encoding="utf-8")
            if path.exists():  # a state saved before at the same place: replaced whole
                shutil.rmtree(path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    return atomic_write(path, dump)


def load_state(cls, path, source=None):
    """A state of class ``cls`` read from a folder written by :func:`save_state`; each stored part is read on first use.

    ``source``: the validated source of the same data, or None (see ``CustomerBase.load``).
    """
    path = Path(path)
    try:
        doc = json.loads((path / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise ParameterError(f"customer_base: {path.name} is not a saved customer base (expected a folder with "
                             f"{STATE_FILE}, written by CustomerBase.save).") from None
    found = doc.get("format") if isinstance(doc, dict) else None
    if found != STATE_FORMAT:
        raise ParameterError(f"customer_base: {path.name} is in format {found!r}; this version of Kanta reads "
                             f"{STATE_FORMAT!r} (save the state again with this version).")
    reader = _Reader(path)
    base = cls.__new__(cls)
    base.__dict__.update({name: reader.decode(value) for name, value in doc["fields"].items()})
    stored = {name: value for name, value in doc["parts"].items() if value is not None}
    base.__dict__.update({name: None for name in doc["parts"] if name not in stored},
                         _source=source, _stored=_StoredParts(reader, stored))
    return base


def _class_name(cls) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _allowed(cls) -> bool:
    """Classes a state may hold: the package's own, and the few fitted models of :data:`FOREIGN_CLASSES`."""
    if cls.__module__.split(".")[0] == "analysis":
        return True
    home = FOREIGN_CLASSES.get(cls.__qualname__)
    return home is not None and cls.__module__.split(".")[0] == home.split(".")[0] \
        and getattr(importlib.import_module(home), cls.__qualname__, None) is cls


class _Writer:
    """Turns a state's values into JSON, writing each table it meets as an Arrow file in ``folder``."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.pool = TextPool()
        self.files: set[str] = set()

    def _file(self, where: str) -> str:
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", where).strip("._")[:100] or "table"
        name, n = f"{stem}.arrow", 1
        while name in self.files or name == TEXTS_FILE:
            n += 1
            name = f"{stem}_{n}.arrow"
        self.files.add(name)
        return name

    def encode(self, obj, where: str):  # noqa: C901 (one branch per kind of value, in one place)
        """``obj`` as a JSON value; ``where`` names it in file names and error messages."""
        if obj is None or type(obj) in (bool, str):
            return obj
        if isinstance(obj, np.generic):
            if obj.dtype.kind not in "biufU":
                raise TypeError(f"customer state: {where} is a numpy {obj.dtype} value, which a saved state cannot hold.")
            return {"$scalar": obj.dtype.str, "value": self.encode(obj.item(), where)}
        if type(obj) is int:
            return obj
        if type(obj) is float:
            return obj if math.isfinite(obj) else {"$float": repr(obj)}
        if obj is pd.NaT:
            return {"$nat": None}
        if obj is pd.NA:
            return {"$na": None}
        if isinstance(obj, pd.Timestamp):
            return {"$timestamp": obj.isoformat(), "unit": obj.unit, "tz": None if obj.tz is None else str(obj.tz)}
        if type(obj) in (datetime.date, datetime.datetime):
            return {"$" + type(obj).__name__: obj.isoformat()}
        if isinstance(obj, PurePath):
            return {"$path": str(obj)}
        if type(obj) is tuple:
            return {"$tuple": [self.encode(v, f"{where}[{i}]") for i, v in enumerate(obj)]}
        if type(obj) is list:
            return [self.encode(v, f"{where}[{i}]") for i, v in enumerate(obj)]
        if type(obj) is dict:
            if all(type(k) is str and not k.startswith("$") for k in obj):
                return {k: self.encode(v, f"{where}.{k}") for k, v in obj.items()}
            return {"$dict": [[self.encode(k, where), self.encode(v, f"{where}[{k!r}]")] for k, v in obj.items()]}
        if isinstance(obj, pd.DataFrame):
            return self.table(obj, where)
        if isinstance(obj, pd.Series):
            return {"$series": self.table(obj.to_frame("values"), where), "name": self.encode(obj.name, where)}
        if isinstance(obj, np.ndarray):
            return self.array(obj, where)
        if _allowed(type(obj)) and hasattr(obj, "__dict__"):
            return {"$object": _class_name(type(obj)),
                    "attributes": {k: self.encode(v, f"{where}.{k}") for k, v in vars(obj).items()}}
        raise TypeError(f"customer state: {where} is a {_class_name(type(obj))}, which a saved state cannot hold "
                        "(expected tables, numbers, text, dates and the package's result objects).")

    def array(self, obj: np.ndarray, where: str) -> dict:
        dtype = obj.dtype
        if dtype.kind in "biufmM" and (obj.size >= ARRAY_TABLE_MIN or dtype.kind in "mM"):
            flat = pd.Series(obj.reshape(-1))
            return {"$array": dtype.str, "shape": list(obj.shape), "table": self.table(flat.to_frame("values"), where)}
        if dtype.kind not in "biufOU":
            raise TypeError(f"customer state: {where} is an array of {dtype}, which a saved state cannot hold.")
        values = [self.encode(v, f"{where}[{i}]") for i, v in enumerate(obj.reshape(-1).tolist())]
        return {"$array": dtype.str, "shape": list(obj.shape), "values": values}

    def table(self, frame: pd.DataFrame, where: str) -> dict:
        """``frame`` written as an Arrow file; the JSON says how to rebuild its index, labels and column types."""
        labels = list(frame.columns)
        names = [c if type(c) is str and not c.startswith("__index_") else f"c{i}" for i, c in enumerate(labels)]
        columns = [(f"__index_{i}__", frame.index.get_level_values(i)) for i in range(frame.index.nlevels)] \
            if not isinstance(frame.index, pd.RangeIndex) else []
        columns += [(name, frame.iloc[:, i]) for i, name in enumerate(names)]
        table, described = columns_to_arrow(columns, self.pool)
        file = self._file(where)
        write_arrow(table, self.folder / file)
        n_index = len(columns) - len(names)
        entry = {"$table": file, "rows": len(frame), "columns": described[n_index:],
                 "labels": [self.encode(c, where) for c in labels], "labels_name": self.encode(frame.columns.name, where)}
        if isinstance(frame.columns, pd.RangeIndex):
            entry["labels_range"] = [frame.columns.start, frame.columns.stop, frame.columns.step]
        if isinstance(frame.index, pd.RangeIndex):
            entry["index"] = {"range": [frame.index.start, frame.index.stop, frame.index.step]}
        else:
            entry["index"] = {"columns": described[:n_index]}
        entry["index"]["names"] = [self.encode(n, where) for n in frame.index.names]
        if frame.attrs:
            entry["attrs"] = self.encode(dict(frame.attrs), f"{where}.attrs")
        return entry


class _Reader:
    """Rebuilds values written by :class:`_Writer` from the folder's JSON and Arrow files."""

    def __init__(self, folder: Path):
        self.folder = folder
        self._texts: np.ndarray | None = None

    def texts(self) -> np.ndarray:
        """The state's pool of texts (read once, shared by every table that holds them)."""
        if self._texts is None:
            column = MappedFile(self.folder / TEXTS_FILE).table.column("text")
            self._texts = column.to_numpy()
        return self._texts

    def decode(self, value):  # noqa: C901 (one branch per tag, in one place)
        if isinstance(value, list):
            return [self.decode(v) for v in value]
        if not isinstance(value, dict):
            return value
        tag = next((k for k in value if k.startswith("$")), None)
        if tag is None:
            return {k: self.decode(v) for k, v in value.items()}
        body = value[tag]
        if tag == "$scalar":
            return np.dtype(body).type(self.decode(value["value"]))
        if tag == "$float":
            return float(body)
        if tag == "$nat":
            return pd.NaT
        if tag == "$na":
            return pd.NA
        if tag == "$timestamp":
            ts = pd.Timestamp(body).as_unit(value["unit"])
            return ts.tz_convert(value["tz"]) if value["tz"] is not None else ts
        if tag == "$date":
            return datetime.date.fromisoformat(body)
        if tag == "$datetime":
            return datetime.datetime.fromisoformat(body)
        if tag == "$path":
            return Path(body)
        if tag == "$tuple":
            return tuple(self.decode(v) for v in body)
        if tag == "$dict":
            return {self.decode(k): self.decode(v) for k, v in body}
        if tag == "$table":
            return self.table(value)
        if tag == "$series":
            series = self.table(body).iloc[:, 0]
            series.name = self.decode(value["name"])
            return series
        if tag == "$array":
            return self.array(value)
        if tag == "$object":
            obj = _resolve(body).__new__(_resolve(body))
            obj.__dict__.update({k: self.decode(v) for k, v in value["attributes"].items()})
            return obj
        raise ParameterError(f"customer_base: {self.folder.name}/{STATE_FILE} holds an unknown value {tag!r}; "
                             f"expected a state written by CustomerBase.save in format {STATE_FORMAT!r}.")

    def array(self, value: dict) -> np.ndarray:
        dtype, shape = np.dtype(value["$array"]), tuple(value["shape"])
        if "table" in value:
            return self.table(value["table"])["values"].to_numpy().reshape(shape)
        values = [self.decode(v) for v in value["values"]]
        if dtype.kind == "O":
            out = np.empty(len(values), dtype=object)
            out[:] = values
            return out.reshape(shape)
        return np.array(values, dtype=dtype).reshape(shape)

    def table(self, entry: dict) -> pd.DataFrame:
        mapped = MappedFile(self.folder / entry["$table"])
        index_entry = entry["index"]
        names = [self.decode(n) for n in index_entry["names"]]
        if "range" in index_entry:
            index = pd.RangeIndex(*index_entry["range"], name=names[0])
        else:
            levels = read_columns(mapped, index_entry["columns"], self.texts)
            arrays = [pd.Index(v, name=n, copy=False) for v, n in zip(levels.values(), names)]
            index = arrays[0] if len(arrays) == 1 else pd.MultiIndex.from_arrays(arrays, names=names)
        values = read_columns(mapped, entry["columns"], self.texts)
        labels = [self.decode(c) for c in entry["labels"]]
        frame = pd.DataFrame(dict(zip(range(len(labels)), values.values())), index=index, copy=False)
        frame.columns = pd.RangeIndex(*entry["labels_range"]) if "labels_range" in entry else pd.Index(labels)
        frame.columns.name = self.decode(entry["labels_name"])
        if "attrs" in entry:
            frame.attrs.update(self.decode(entry["attrs"]))
        return frame


def _resolve(name: str):
    """The class ``module:qualname`` when a state may hold it; a saved state names no other."""
    module, _, qualname = name.partition(":")
    if module.split(".")[0] in ("analysis", "sklearn"):
        cls = importlib.import_module(module)
        for part in qualname.split("."):
            cls = getattr(cls, part, None)
        if isinstance(cls, type) and _allowed(cls):
            return cls
    raise ParameterError(f"customer_base: the saved state names {name!r}, which a saved state may not hold "
                         f"(expected the package's result objects or {', '.join(FOREIGN_CLASSES)}).")


class StoredPart:
    """A field of :class:`~analysis.base.state.CustomerBase` that a loaded state reads from its folder on first use
    (:func:`load_state`)."""

    def __init__(self, name: str):
        self.name = name

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        try:
            return obj.__dict__[self.name]
        except KeyError:
            stored = obj.__dict__.get("_stored")
            if stored is None or self.name not in stored.parts:
                raise AttributeError(f"{type(obj).__name__!r} object has no attribute {self.name!r}") from None
            value = obj.__dict__[self.name] = stored.read(self.name)
            return value

    def __set__(self, obj, value) -> None:
        obj.__dict__[self.name] = value


class _StoredParts:
    """The parts of a saved state not read yet, as their JSON (their tables stay on disk until read)."""

    def __init__(self, reader: _Reader, parts: dict):
        self.reader = reader
        self.parts = dict(parts)

    def read(self, name: str):
        """Part ``name`` rebuilt, its tables mapped copy-on-write from their files (pages load when touched)."""
        return self.reader.decode(self.parts.pop(name))


def _text_reduction(values: np.ndarray):
    """``(function, arguments)`` that rebuild an object array of text from codes of its distinct values.

    A text column read from DuckDB holds one string object per row even where the text repeats (a
    region, a stage), so pickling it as such writes and reads back every copy. As codes, each
    distinct text is one object again, shared by its rows; missing values are kept as they were
    (None, NaN or NA). Returns None for arrays holding anything but text and missing values.
    """
    flat = values.reshape(-1)
    if pd.api.types.infer_dtype(flat, skipna=True) not in ("string", "empty"):
        return None
    missing = pd.isna(flat)
    codes, distinct = pd.factorize(flat[~missing])
    return _text_array, (values.shape, missing, codes.astype(np.int32 if len(distinct) < 2**31 else np.int64),
                         distinct.tolist(), flat[missing].tolist())


def share_text(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with each repeated text of its object columns held once, shared by its rows (values unchanged).

    DuckDB hands over one string object per row, so a column such as region or acquisition channel
    would otherwise hold a million copies of a few words.
    """
    for column in table.columns[(table.dtypes == object).to_numpy()]:  # noqa: E721 (elementwise, pandas dtypes)
        values = table[column].to_numpy()
        reduced = _text_reduction(values) if values.size >= _TEXT_MIN_SIZE else None
        if reduced is not None and len(reduced[1][3]) < values.size // 2:  # distinct texts: not an id column
            table[column] = reduced[0](*reduced[1])
    return table


def _text_array(shape: tuple, missing: np.ndarray, codes: np.ndarray, distinct, nulls: list) -> np.ndarray:
    """The object array :func:`_text_reduction` describes (``distinct``: a list, or the state's pool as an array)."""
    out = np.empty(len(missing), dtype=object)
    if not isinstance(distinct, np.ndarray):
        distinct = np.fromiter(distinct, dtype=object, count=len(distinct))
    out[~missing] = distinct[codes]
    out[missing] = np.fromiter(nulls, dtype=object, count=len(nulls))
    return out.reshape(shape)


