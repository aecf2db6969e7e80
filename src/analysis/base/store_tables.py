"""The tables of a saved customer state: one Arrow IPC (Feather v2) file per DataFrame, read memory-mapped.

Numbers and dates are read as views of the file (copy-on-write, so a page may change its copy); text
is stored as codes of its distinct values, so each distinct text is one object again when read back.
"""
from __future__ import annotations

import mmap
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc

#: Text columns with at least this many distinct values (ids, pseudonyms) are codes into the state's
#: one pool of texts (``texts.arrow``), so every table of the state shares the same id objects.
POOL_MIN_DISTINCT = 1000
#: How a missing text was written, in the order of :data:`_MISSING_CODES` (None, NaN, NA, NaT).
_MISSING = (None, float("nan"), pd.NA, pd.NaT)


def _missing_codes(values: np.ndarray) -> np.ndarray:
    """Which of :data:`_MISSING` each missing value of an object array is (int8)."""
    codes = np.zeros(len(values), dtype=np.int8)
    for i, v in enumerate(values):
        if v is None:
            continue
        codes[i] = 2 if v is pd.NA else 3 if v is pd.NaT else 1
    return codes


class TextPool:
    """The distinct texts of many-valued text columns, stored once for every table of a state."""

    def __init__(self):
        self.texts = pd.Index([], dtype=object)

    def codes(self, distinct: pd.Index) -> np.ndarray:
        """Positions of ``distinct`` in the pool, adding the texts it does not hold yet."""
        at = self.texts.get_indexer(distinct)
        new = at < 0
        if new.any():
            at[new] = np.arange(len(self.texts), len(self.texts) + int(new.sum()))
            self.texts = self.texts.append(distinct[new])
        return at

    def write(self, path: Path) -> None:
        write_arrow(pa.table({"text": pa.array(self.texts.to_numpy(), type=pa.string())}), path)


def write_arrow(table: pa.Table, path: Path) -> None:
    """``table`` as an uncompressed Arrow IPC file (uncompressed: its buffers can be mapped as they lie)."""
    with pa.OSFile(str(path), "wb") as sink, ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


def _text_column(values: np.ndarray, pool: TextPool) -> tuple[pa.Array, dict, np.ndarray | None]:
    """A text column as codes: ``(arrow array, description, missing-kind codes or None)``."""
    missing = pd.isna(values)
    codes, distinct = pd.factorize(values[~missing])
    entry: dict = {"kind": "pooled" if len(distinct) >= POOL_MIN_DISTINCT else "text"}
    if entry["kind"] == "pooled":
        codes = pool.codes(pd.Index(distinct, dtype=object))[codes]
    full = np.zeros(len(values), dtype=np.int32)
    full[~missing] = codes
    kinds = _missing_codes(values[missing]) if missing.any() else None
    extra = None
    if kinds is not None:
        if (kinds == kinds[0]).all():
            entry["missing"] = int(kinds[0])
        else:  # None beside NaN in the same column: which is which, in a column of its own
            extra = np.zeros(len(values), dtype=np.int8)
            extra[missing] = kinds
    mask = missing if missing.any() else None
    if entry["kind"] == "text":
        array = pa.DictionaryArray.from_arrays(pa.array(full, mask=mask), pa.array(np.asarray(distinct, dtype=object),
                                                                                   type=pa.string()))
    else:
        array = pa.array(full, mask=mask)
    return array, entry, extra


def columns_to_arrow(columns: list[tuple[str, pd.Series | pd.Index]], pool: TextPool) -> tuple[pa.Table, list[dict]]:
    """Named columns as an Arrow table and one description per column (how to read it back exactly)."""
    arrays, names, described = [], [], []
    for name, column in columns:
        dtype = column.dtype
        entry: dict = {"name": name}
        extra = None
        if isinstance(dtype, np.dtype) and dtype.kind in "biufmM":
            values = column.to_numpy()
            entry["kind"], entry["dtype"] = "numpy", dtype.str
            array = pa.array(values, from_pandas=dtype.kind in "mM")  # NaN stays a value; NaT is a null
        elif isinstance(dtype, np.dtype) and dtype.kind == "O":
            values = column.to_numpy()
            inferred = pd.api.types.infer_dtype(values, skipna=True)
            if inferred not in ("string", "empty"):
                raise TypeError(f"customer state: column {name!r} holds {inferred} values, expected text; "
                                "a saved state stores text, numbers, dates and pandas' nullable types.")
            array, text, extra = _text_column(values, pool)
            entry.update(text)
        else:  # pandas' own types: nullable integers and booleans, categories, dates with a time zone
            entry["kind"], entry["dtype"] = "pandas", str(dtype)
            array = pa.array(column, from_pandas=True)
        arrays.append(array)
        names.append(name)
        if extra is not None:
            entry["missing_column"] = f"{name}.missing"
            arrays.append(pa.array(extra))
            names.append(entry["missing_column"])
        described.append(entry)
    if len(set(names)) != len(names):
        raise TypeError(f"customer state: a table has repeated column names ({names}); expected unique names.")
    return pa.Table.from_arrays(arrays, names=names), described


class MappedFile:
    """An Arrow IPC file mapped copy-on-write: arrays read from it are views a page may change privately."""

    def __init__(self, path: Path):
        with open(path, "rb") as fh:
            size = fh.seek(0, 2)
            self._map = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_COPY) if size else None
        buffer = pa.py_buffer(self._map) if self._map is not None else pa.py_buffer(b"")
        self._base = buffer.address
        self.table = ipc.open_file(pa.BufferReader(buffer)).read_all()

    def view(self, array: pa.Array, dtype: np.dtype) -> np.ndarray:
        """The values of a fixed-width array without nulls, as a writable view of the mapped file."""
        data = array.buffers()[1]
        offset = data.address - self._base + array.offset * dtype.itemsize
        return np.frombuffer(self._map, dtype=dtype, count=len(array), offset=offset)


def _one_chunk(column: pa.ChunkedArray) -> pa.Array:
    # a table of no rows has no chunk: combine_chunks gives the empty array of the column's type
    return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()


def _numpy_column(mapped: MappedFile, column: pa.ChunkedArray, dtype: np.dtype) -> np.ndarray:
    array = _one_chunk(column)
    if dtype.kind == "b":  # Arrow packs booleans in bits: unpacked (a byte a row)
        return array.to_numpy(zero_copy_only=False).astype(bool, copy=False)
    if len(array) == 0:
        return np.empty(0, dtype=dtype)
    if dtype.kind in "mM":
        values = mapped.view(array, np.dtype(np.int64)).view(dtype)
        if array.null_count:
            values[np.asarray(array.is_null(), dtype=bool)] = np.datetime64("NaT") if dtype.kind == "M" \
                else np.timedelta64("NaT")
        return values
    return mapped.view(array, dtype)


def _text_values(column: pa.ChunkedArray, entry: dict, missing_kinds, texts) -> np.ndarray:
    array = _one_chunk(column)
    if entry["kind"] == "text":
        codes, distinct = array.indices, array.dictionary.to_numpy(zero_copy_only=False)
    else:
        codes, distinct = array, texts()
    valid = np.asarray(array.is_valid(), dtype=bool)
    codes = np.asarray(pc.fill_null(codes, 0), dtype=np.int64)
    out = np.empty(len(array), dtype=object)
    out[valid] = distinct[codes[valid]]
    if not valid.all():
        if missing_kinds is not None:
            kinds = missing_kinds[~valid]
            out[~valid] = np.array(_MISSING, dtype=object)[kinds]
        else:
            out[~valid] = _MISSING[entry.get("missing", 0)]
    return out


def read_columns(mapped: MappedFile, described: list[dict], texts) -> dict[str, object]:
    """The columns of a table written by :func:`columns_to_arrow`, by name, each as it was written.

    ``texts``: a function returning the state's pool of texts (an object array), read when first needed.
    """
    t = mapped.table
    out = {}
    for entry in described:
        column = t.column(entry["name"])
        kind = entry["kind"]
        if kind == "numpy":
            out[entry["name"]] = _numpy_column(mapped, column, np.dtype(entry["dtype"]))
        elif kind == "pandas":
            dtype = pd.api.types.pandas_dtype(entry["dtype"])
            if isinstance(dtype, pd.CategoricalDtype) or not hasattr(dtype, "__from_arrow__"):
                out[entry["name"]] = column.to_pandas().astype(dtype)
            else:
                out[entry["name"]] = dtype.__from_arrow__(column)
        else:
            kinds = None
            if "missing_column" in entry:
                kinds = np.asarray(t.column(entry["missing_column"]).to_numpy(), dtype=np.int64)
            out[entry["name"]] = _text_values(column, entry, kinds, texts)
    return out
