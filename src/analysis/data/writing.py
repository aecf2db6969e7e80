"""Writing outputs atomically: tables (CSV or Parquet), bytes, text and JSON.

A failed run leaves no half-written file behind; the output path is checked before the work starts.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from analysis.errors import ParameterError


def check_output_path(out) -> Path:
    """An output file name ending in .csv or .parquet, in a folder that exists."""
    out = Path(out)
    if out.suffix.lower() not in (".csv", ".parquet"):
        raise ParameterError(f"--out: got {out.name!r}, expected a file name ending in .csv or .parquet.")
    if not out.parent.exists():
        raise ParameterError(f"--out: folder {out.parent} does not exist.")
    return out


def atomic_write(out, write) -> Path:
    """The one atomic writer: ``write(tmp)`` fills a temp file beside ``out``, then it is renamed into place.

    A failed run leaves no half-written file and no temp file behind.
    """
    out = Path(out)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
    return out


def write_table(df: pd.DataFrame, out) -> Path:
    """Write a table to ``.csv`` or ``.parquet`` atomically.

    Parquet timestamps are stored in microseconds so that Spark can read them.
    """
    out = check_output_path(out)
    if out.suffix.lower() == ".csv":
        return atomic_write(out, lambda tmp: df.to_csv(tmp, index=False))
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
