"""How churn results show themselves outside the report: plain JSON values and a short HTML table.

Every result object of :mod:`analysis.churn` uses these for ``to_dict`` and JupyterLab's ``_repr_html_``.
"""
from __future__ import annotations

import math

import pandas as pd


def summary_html(frame: pd.DataFrame, title: str) -> str:
    """A short HTML view of a result for JupyterLab: its class name and its summary table."""
    return f"<p><strong>{title}</strong></p>" + frame.to_html(max_rows=20)


def json_value(x):
    """numpy scalars, timestamps and non-finite floats as plain JSON values."""
    if x is None:
        return None
    if isinstance(x, pd.Timestamp):
        return None if pd.isna(x) else x.date().isoformat()
    if hasattr(x, "item"):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x
