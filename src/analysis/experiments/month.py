"""The month's experiments: which ended in the month, and each one's verdict code for the landing page.

An experiment that cannot be compared is listed as not estimable with its reason; it never stops the month.
"""
from __future__ import annotations

import pandas as pd

from analysis.errors import ModelError
from analysis.experiments.outcomes import load
from analysis.experiments.result import VERDICTS, analyse_experiment
from analysis.stats import plain

__all__ = ["ended_experiments", "headline"]


# --- the month's experiments ---------------------------------------------------
def ended_experiments(source_or_path, as_of, conversion_window_days: int = 30) -> list[str]:
    """Experiments whose outcome window ended in the month that ends at ``as_of``.

    Example
    -------
    >>> ended_experiments("data/sample", "2026-10-31")
    ['newsletter-2026-09']
    """
    src = load(source_or_path, as_of)
    if not src.has("assignments"):
        return []
    end = src.as_of + pd.Timedelta(days=1)
    start = end - pd.DateOffset(months=1)
    q = src.sql(f"""SELECT experiment_id, max(assigned_at) + INTERVAL {int(conversion_window_days)} DAY AS ends
                    FROM assignments GROUP BY 1 ORDER BY 2, 1""")
    return q.loc[(q["ends"] > start) & (q["ends"] <= end), "experiment_id"].tolist()


def headline(source_or_path, as_of, conversion_window_days: int = 30, retention_window_days: int = 90,
             alpha: float = 0.05, **params) -> dict:
    """Experiments that ended in the month ending at ``as_of``, each with its verdict code.

    An experiment that cannot be compared (one arm, a group of one) is listed with verdict
    ``not_estimable`` and its ``reason``; it does not stop the month.

    Returns
    -------
    dict
        ``n_ended``, ``n_<verdict>`` for every verdict and ``n_not_estimable``,
        ``experiments_concluded`` (ended with a verdict other than withheld: the landing page's
        key number) and ``experiments``: a list of ``{experiment_id, verdict, reason,
        primary_metric, estimate, ci_low, ci_high, p_value, customers}`` (plain JSON types).

    Example
    -------
    >>> h = headline("data/sample", "2026-10-31", n_boot=200)
    >>> h["experiments_concluded"], h["experiments"][0]["verdict"]
    (1, 'no_difference')
    """
    src = load(source_or_path, as_of)
    rows = []
    for exp_id in ended_experiments(src, src.as_of, conversion_window_days):
        try:
            r = analyse_experiment(src, exp_id, conversion_window_days=conversion_window_days,
                                   retention_window_days=retention_window_days, alpha=alpha, **params)
        except ModelError as exc:
            rows.append({"experiment_id": exp_id, "verdict": "not_estimable", "reason": exc.reason,
                         "primary_metric": None, "estimate": None, "ci_low": None, "ci_high": None,
                         "p_value": None, "customers": exc.facts.get("customers")})
            continue
        rows.append({"experiment_id": exp_id, "verdict": r.verdict, "reason": None, "primary_metric": r.primary,
                     "estimate": plain(r.estimate), "ci_low": plain(r.ci_low), "ci_high": plain(r.ci_high),
                     "p_value": plain(r.p_value), "customers": int(r.arms["customers"].sum())})
    out = {"as_of": str(src.as_of.date()), "n_ended": len(rows)}
    for v in (*VERDICTS, "not_estimable"):
        out[f"n_{v}"] = sum(r["verdict"] == v for r in rows)
    out["experiments_concluded"] = len(rows) - out["n_withheld"] - out["n_not_estimable"]
    out["experiments"] = rows
    return out
