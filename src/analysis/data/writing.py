"""Writing outputs atomically: tables (CSV or Parquet), bytes, text and JSON.

A failed run leaves no half-written file behind; the output path is checked before the work starts. CSV is
written for people, who open it in a spreadsheet: a text cell that a spreadsheet would run as a formula is
neutralised (OWASP "CSV injection": a leading apostrophe).
"""
from __future__ import annotations

import csv
import errno
import json
import os
from pathlib import Path

import duckdb
import pandas as pd

from analysis.data.engine import quote_ident
from analysis.errors import OutputError, ParameterError


def shown_name(path) -> str:
    """A path as a message can print it: a name that is not UTF-8 gets its odd bytes as ``\\x..``."""
    return os.fsencode(str(path)).decode("utf-8", errors="backslashreplace")


def check_output_path(out) -> Path:
    """An output file name ending in .csv or .parquet, in a folder that exists, not itself a folder, UTF-8."""
    out = Path(out)
    try:
        str(out).encode("utf-8")
    except UnicodeEncodeError:
        raise ParameterError(f"--out: the name '{shown_name(out)}' is not UTF-8 text; expected a file name in "
                             "UTF-8.") from None
    if out.suffix.lower() not in (".csv", ".parquet"):
        raise ParameterError(f"--out: got {out.name!r}, expected a file name ending in .csv or .parquet.")
    try:
        is_dir, folder = out.is_dir(), out.parent.exists()
    except OSError as exc:  # a name too long for the file system, a folder that cannot be searched
        raise output_error(out, exc) from None
    if is_dir:
        raise ParameterError(f"--out: {out.name!r} is a folder; expected a file name ending in .csv or .parquet.")
    if not folder:
        raise ParameterError(f"--out: folder {out.parent} does not exist.")
    return out


#: Why a file could not be written, by errno: one phrase each for the sentence.
_WHY = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is used up", errno.EROFS:
        "the file system is read-only", errno.EACCES: "there is no permission to write there", errno.EPERM:
        "there is no permission to write there", errno.ENAMETOOLONG: "the name is too long for the file system",
        errno.EISDIR: "a folder has that name", errno.ENOENT: "its folder does not exist", errno.EFBIG:
        "the file would be too large for the file system"}


def output_error(out, exc: OSError) -> OutputError:
    """An OSError while writing ``out`` as one sentence (what, why, that nothing was written)."""
    why = _WHY.get(exc.errno, (exc.strerror or type(exc).__name__).lower())
    name = shown_name(Path(out).name)
    name = name if len(name) <= 80 else name[:60] + "…" + name[-12:]
    return OutputError(f"output: {name!r} in {shown_name(Path(out).parent)[-120:]} could not be written ({why}); "
                       "nothing was written; expected a writable folder with free space and a shorter name.")


def atomic_write(out, write) -> Path:
    """The one atomic writer: ``write(tmp)`` fills a temp file beside ``out``, then it is renamed into place.

    A failed run leaves no half-written file and no temp file behind; a disk that is full or read-only, a
    missing permission or a name too long is one sentence (:class:`~analysis.errors.OutputError`).
    """
    out = Path(out)
    tmp = out.with_name(f".{out.name[:200]}.tmp-{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, out)
    except OSError as exc:
        raise output_error(out, exc) from None
    except (duckdb.IOException, duckdb.PermissionException) as exc:  # DuckDB's COPY on a full or read-only disk
        code = next((c for c, word in ((errno.ENOSPC, "space"), (errno.EROFS, "read-only"), (errno.EACCES, "ermission"),
                                       (errno.ENAMETOOLONG, "too long")) if word in str(exc)), None)
        raise output_error(out, OSError(code, str(exc).splitlines()[0][:80])) from None
    finally:
        try:
            if tmp.exists():
                tmp.unlink()
        except OSError:
            pass
    return out


#: First characters that make a spreadsheet read a cell as a formula (OWASP, CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with every text cell that starts with one of :data:`FORMULA_STARTS` prefixed by a single ``'``.

    Only text is touched: a negative amount stays a number, an ID is the cell without its ``'``.
    """
    out = df.copy()
    for c in out.columns:
        col = out[c]
        if not (pd.api.types.is_object_dtype(col) or pd.api.types.is_string_dtype(col)
                or isinstance(col.dtype, pd.CategoricalDtype)):
            continue
        col = col.astype(object)
        text = _text_cells(col, lambda t: t.startswith(FORMULA_STARTS))
        if text.any():
            out[c] = col.where(~text, "'" + col[text].astype(str))
    return out


def _text_cells(col: pd.Series, test) -> pd.Series:
    """``test(col.str)`` for the text cells of an object column, False elsewhere (vectorised: no loop per row)."""
    try:
        return test(col.str).eq(True)  # a cell that is not text gives NaN, which is not True
    except AttributeError:  # no text in the column at all (only numbers, Decimals, dates)
        return pd.Series(False, index=col.index)


def spreadsheet_safe_sql(con, sql: str) -> str:
    """The DuckDB counterpart of :func:`spreadsheet_safe` for a query written by ``COPY ... (FORMAT CSV)``."""
    kinds = con.execute(f"DESCRIBE {sql}").fetchall()
    starts = ", ".join(f"chr({ord(c)})" for c in FORMULA_STARTS)
    swaps = [f"CASE WHEN left({quote_ident(name)}, 1) IN ({starts}) THEN chr(39) || {quote_ident(name)} ELSE {quote_ident(name)} "
             f"END AS {quote_ident(name)}" for name, kind, *_ in kinds if kind == "VARCHAR"]
    return f"SELECT * REPLACE ({', '.join(swaps)}) FROM ({sql})" if swaps else sql


def _has_carriage_return(df: pd.DataFrame) -> bool:
    text = [c for c in df.columns if df[c].dtype == object]
    return any(_text_cells(df[c], lambda t: t.contains("\r", regex=False)).any() for c in text)


def write_table(df: pd.DataFrame, out) -> Path:
    """Write a table to ``.csv`` or ``.parquet`` atomically.

    CSV is for people: formula-like text cells are neutralised (:func:`spreadsheet_safe`); Parquet is written as
    it is. Parquet timestamps are stored in microseconds so that Spark can read them.
    """
    out = check_output_path(out)
    if out.suffix.lower() == ".csv":
        safe = spreadsheet_safe(df)
        # Python's csv module quotes a field with "\n" but not one with a lone "\r": quote every text cell then
        quoting = csv.QUOTE_NONNUMERIC if _has_carriage_return(safe) else csv.QUOTE_MINIMAL
        return atomic_write(out, lambda tmp: safe.to_csv(tmp, index=False, quoting=quoting))

    return atomic_write(out, lambda tmp: df.to_parquet(tmp, index=False, coerce_timestamps="us",
                                                       allow_truncated_timestamps=True))


def write_bytes(content: bytes, out) -> Path:
    """Write bytes atomically (:func:`atomic_write`)."""
    return atomic_write(out, lambda tmp: tmp.write_bytes(content))


def write_text(text: str, out) -> Path:
    """Write UTF-8 text atomically (:func:`write_bytes`)."""
    return write_bytes(text.encode("utf-8"), out)


def write_json(obj, out) -> Path:
    """Write JSON atomically (:func:`write_bytes`)."""
    return write_text(json.dumps(obj, indent=2, ensure_ascii=False, default=float) + "\n", out)
