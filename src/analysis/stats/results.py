"""What every statistical result shares: the input checks, the tidy summary table and plain JSON values.

The checks raise :class:`~analysis.errors.ParameterError` with one sentence; :class:`Result` gives each
frozen result ``to_dict()`` of plain values and a table in JupyterLab.
"""
from __future__ import annotations

from dataclasses import fields

import numpy as np
import pandas as pd

from analysis.errors import ParameterError

__all__ = ["Result", "check_alpha", "check_counts", "check_margin", "plain", "summary_table"]


def check_alpha(alpha: float) -> float:
    if not 0 < alpha < 1:
        raise ParameterError(f"alpha: got {alpha!r}, expected a number between 0 and 1 (e.g. 0.05).")
    return float(alpha)


def check_counts(conversions: int, n: int, arm: str) -> None:
    if n <= 0 or conversions < 0 or conversions > n:
        raise ParameterError(
            f"{arm}: got {conversions} conversions out of {n} customers, expected 0 <= conversions <= customers and customers > 0."
        )


def check_margin(margin: float | None) -> None:
    if margin is not None and margin < 0:
        raise ParameterError(f"margin: got {margin!r}, expected a non-negative number (how much worse is acceptable).")


def summary_table(rows: dict) -> pd.DataFrame:
    """Tidy summary: one row per quantity, columns estimate / ci_low / ci_high / p_value."""
    return pd.DataFrame.from_dict(rows, orient="index", columns=["estimate", "ci_low", "ci_high", "p_value"])


def plain(value):
    """JSON-able plain value: numpy scalars to Python, NaN to None, frames to records, results to dicts."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if hasattr(value, "to_dict") and not isinstance(value, (pd.DataFrame, pd.Series)):
        return value.to_dict()
    if isinstance(value, pd.DataFrame):
        return [{str(k): plain(v) for k, v in row.items()} for row in value.reset_index().to_dict(orient="records")]
    if isinstance(value, pd.Series):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (pd.Timestamp, np.datetime64)):
        return str(pd.Timestamp(value))
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if not np.isfinite(value) else float(value)
    if value is pd.NA:
        return None
    return value


class Result:
    """What every result shares: ``to_dict()`` of plain values and a table in JupyterLab (each result
    defines its own tidy ``summary()``)."""

    def to_dict(self) -> dict:
        return {f.name: plain(getattr(self, f.name)) for f in fields(self)}

    def _repr_html_(self) -> str:
        return f"<p><strong>{type(self).__name__}</strong></p>" + self.summary().to_html(float_format=lambda x: f"{x:.4g}")
