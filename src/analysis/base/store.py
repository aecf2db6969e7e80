"""Saving and loading a month's customer state: one file per run that every notebook of the run reads.

Each stored part is its own pickle stream with its arrays mapped from the file, read when first used.
"""
from __future__ import annotations

import dataclasses
import io
import mmap
import pickle
from pathlib import Path

import cloudpickle
import numpy as np
import pandas as pd

from analysis.data import atomic_write
from analysis.errors import ParameterError

#: First bytes of a state written by :func:`save_state` (the format's version is the last byte).
_STATE_MAGIC = b"KANTA-CUSTOMER-BASE\x01"
#: The fields of a saved state that are read from the file when first used.
STORED_PARTS = ("customers", "previous", "flows", "clv", "segmentation", "previous_segmentation")


def save_state(base, path) -> Path:
    """Write the state ``base`` (:class:`analysis.base.state.CustomerBase`) to ``path`` (see its ``save``).

    Each of :data:`STORED_PARTS` is its own pickle stream (cloudpickle, so that results holding
    local functions still pickle) whose array data (numbers, dates, masks) lies page-aligned
    after it in the same file, outside the stream (pickle protocol 5). :func:`load_state` reads a part
    only when a page first uses it, and maps its arrays from the file instead of copying them:
    a column nobody reads never takes memory, and the notebooks of a run share the pages they read.
    """
    small = {f.name: getattr(base, f.name) for f in dataclasses.fields(base)
             if f.name not in STORED_PARTS and f.name != "_source"}
    small["_segment_settings"] = base.segment_settings
    # what validating the source found, so the notebooks reopen it without the checks (plain values)
    small["source_record"] = base._source.record() if hasattr(base._source, "record") else None

    def dump(tmp: Path) -> None:  # streamed to the file: no second copy of the state as bytes in memory
        parts = {}
        texts = _TextPool()
        with open(tmp, "wb") as fh:
            fh.write(_STATE_MAGIC)
            for name in STORED_PARTS:
                value = getattr(base, name)
                if value is None:
                    small[name] = None
                    continue
                buffers: list[pickle.PickleBuffer] = []
                start = fh.tell()
                _state_pickler(fh, buffers, texts).dump(value)
                stream = (start, fh.tell() - start)
                spans = []
                for buffer in buffers:
                    with buffer.raw() as raw:
                        fh.write(bytes(-fh.tell() % mmap.PAGESIZE))
                        spans.append((fh.tell(), raw.nbytes))
                        fh.write(raw)
                parts[name] = (stream, spans)
                del buffers
            start = fh.tell()
            pickle.dump(texts.texts.tolist(), fh, protocol=5)
            texts_span = (start, fh.tell() - start)
            index_at = fh.tell()
            _state_pickler(fh, None).dump({"fields": small, "parts": parts, "texts": texts_span})
            fh.write(index_at.to_bytes(8, "little"))

    return atomic_write(path, dump)


def load_state(cls, path, source=None):
    """A state of class ``cls`` read from a file written by :func:`save_state`; each stored part is read on first use.

    ``source``: the validated source of the same data, or None (see ``CustomerBase.load``).
    """
    path = Path(path)
    with open(path, "rb") as fh:
        if fh.read(len(_STATE_MAGIC)) != _STATE_MAGIC:
            raise ParameterError(f"customer_base: {path.name} is not a saved customer base "
                                 "(expected a file written by CustomerBase.save in the same run).")
        fh.seek(-8, 2)
        fh.seek(int.from_bytes(fh.read(8), "little"))
        index = pickle.load(fh)
    base = cls.__new__(cls)
    base.__dict__.update(index["fields"], _source=source,
                         _stored=_StoredParts(path, index["parts"], index["texts"]))
    return base


#: Object arrays of at least this many values are written as codes of their distinct values (:func:`_text_reduction`).
_TEXT_MIN_SIZE = 1000


#: Stands for the state's :class:`_TextPool` in a part's pickle stream (as the persistent id "texts": stored once).
_TEXTS = type("TextPoolReference", (), {"__repr__": lambda self: "<the state's texts>"})()


class _TextPool:
    """Texts with many distinct values (customer ids, pseudonyms), stored once for every part of a state."""

    def __init__(self):
        self.texts = pd.Index([], dtype=object)

    def codes(self, distinct: list) -> np.ndarray:
        """Positions of ``distinct`` in the pool, adding the texts it does not hold yet."""
        values = pd.Index(distinct, dtype=object)
        at = self.texts.get_indexer(values)
        new = at < 0
        if new.any():
            at[new] = np.arange(len(self.texts), len(self.texts) + int(new.sum()))
            self.texts = self.texts.append(values[new])
        return at


def _state_pickler(fh, buffers: list | None, texts: _TextPool | None = None):
    """cloudpickle's pickler, protocol 5 (array data out of band into ``buffers`` when given); text columns as
    codes, into the state's pool of ``texts`` when they have many distinct values."""
    class StatePickler(cloudpickle.Pickler):
        def reducer_override(self, obj):
            if type(obj) is np.ndarray and obj.dtype == object and obj.size >= _TEXT_MIN_SIZE:
                reduced = _text_reduction(obj)
                if reduced is not None:
                    rebuild, (shape, missing, codes, distinct, nulls) = reduced
                    if texts is not None and len(distinct) >= _TEXT_MIN_SIZE:
                        codes, distinct = texts.codes(distinct)[codes], _TEXTS
                    return rebuild, (shape, missing, codes.astype(np.int32 if codes.max(initial=0) < 2**31 else np.int64),
                                     distinct, nulls)
            return super().reducer_override(obj)

        def persistent_id(self, obj):
            return "texts" if obj is _TEXTS else None

    return StatePickler(fh, protocol=5, buffer_callback=None if buffers is None else buffers.append)


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


class StoredPart:
    """A field of :class:`~analysis.base.state.CustomerBase` that a loaded state reads from its file on first use
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
    """The parts of a saved state not read yet: where each part's pickle stream and arrays lie in the file."""

    def __init__(self, path: Path, parts: dict, texts: tuple[int, int]):
        self.path = path
        self.parts = dict(parts)
        self._texts_span = texts
        self._texts: np.ndarray | None = None
        self._view: memoryview | None = None

    def read(self, name: str):
        """Unpickle part ``name`` with its arrays mapped copy-on-write from the file (pages load when touched)."""
        if self._view is None:
            with open(self.path, "rb") as fh:
                self._view = memoryview(mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_COPY))
        (start, length), spans = self.parts.pop(name)
        buffers = [self._view[offset:offset + size] for offset, size in spans]
        stored = self

        class Unpickler(pickle.Unpickler):
            def persistent_load(self, pid):
                if pid != "texts":
                    raise pickle.UnpicklingError(f"customer_base: unknown reference {pid!r} in {stored.path.name}")
                return stored.texts()

        return Unpickler(io.BytesIO(self._view[start:start + length]), buffers=buffers).load()

    def texts(self) -> np.ndarray:
        """The state's pool of texts (read once, shared by every part that holds them)."""
        if self._texts is None:
            start, length = self._texts_span
            texts = pickle.loads(self._view[start:start + length])
            self._texts = np.fromiter(texts, dtype=object, count=len(texts))
        return self._texts
