"""Customer attributes as model covariates: categorical levels as dummies, numeric columns standardised.
One design per fit, checked once at the boundary; :mod:`analysis.clv.covariates` fits on it.

A categorical column gets one dummy per level against its reference level (the most frequent);
levels with fewer than ``min_customers`` customers are pooled into ``other`` first (the small-group
rule), and the pooling is recorded so the reader is told. A numeric column is standardised, so its
effect is per standard deviation; a numeric column with two values (a 0/1 flag) is a categorical one. Missing text values form their own level ``(missing)``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.errors import DataError, ParameterError

#: Levels with fewer customers than this are pooled into :data:`OTHER` (the small-group rule).
MIN_LEVEL_CUSTOMERS = 30
OTHER = "other"
MISSING = "(missing)"


@dataclass(frozen=True)
class Term:
    """One column of the design matrix: a level of a categorical column, or a standardised numeric column."""

    column: str
    level: str | None  # None for a numeric column
    customers: int  # customers at this level (numeric: customers with a value)

    @property
    def key(self) -> str:
        """``COL=LEVEL`` for a level, ``COL`` for a numeric column (the keys of the params JSON)."""
        return self.column if self.level is None else f"{self.column}={self.level}"


@dataclass(frozen=True)
class Design:
    """The covariate design: terms, reference levels, pooled levels and numeric scales.

    ``matrix(table)`` encodes any table with the same columns the same way (a holdout, new customers).
    """

    columns: tuple
    terms: tuple
    reference: dict = field(default_factory=dict)  # column -> reference level (categorical columns)
    pooled: dict = field(default_factory=dict)  # column -> levels pooled into OTHER
    scale: dict = field(default_factory=dict)  # column -> (mean, standard deviation) (numeric columns)

    def matrix(self, table: pd.DataFrame) -> np.ndarray:
        """The design matrix (customers x terms) of ``table``: dummies 0/1, numeric columns standardised."""
        out = np.zeros((len(table), len(self.terms)))
        levels = {}
        for j, t in enumerate(self.terms):
            if t.level is None:
                mean, sd = self.scale[t.column]
                out[:, j] = (pd.to_numeric(table[t.column]).to_numpy(float) - mean) / sd
            else:
                if t.column not in levels:
                    levels[t.column] = _levels(table[t.column], self.pooled.get(t.column, ())).to_numpy(object)
                out[:, j] = levels[t.column] == t.level
        return out

    def to_dict(self) -> dict:
        return {"columns": list(self.columns), "reference": dict(self.reference),
                "pooled": {c: list(v) for c, v in self.pooled.items()},
                "scale": {c: {"mean": m, "sd": s} for c, (m, s) in self.scale.items()},
                "terms": [{"key": t.key, "column": t.column, "level": t.level, "customers": t.customers}
                          for t in self.terms]}


def _levels(col: pd.Series, pooled=()) -> pd.Series:
    """Each row's level name; the names are made once per distinct value (a million rows hold a few levels)."""
    codes, uniques = pd.factorize(col)  # missing values: code -1
    names = _level_names(pd.Series(uniques, dtype=col.dtype if _is_numeric(col) else object), pooled)
    return pd.Series(np.where(codes < 0, MISSING, names[np.maximum(codes, 0)] if len(names) else MISSING),
                     index=col.index, dtype="string")


def _level_names(values: pd.Series, pooled=()) -> np.ndarray:
    if _is_numeric(values):  # a two-valued numeric column (0/1): levels "0" and "1", not "0.0"
        v = pd.to_numeric(values)
        values = v.map(lambda u: MISSING if pd.isna(u) else (str(int(u)) if float(u).is_integer() else repr(float(u))))
    s = values.astype("string").fillna(MISSING).str.strip().replace("", MISSING)
    s = s.where(~s.isin(list(pooled)), OTHER) if len(pooled) else s
    return s.to_numpy(object)


def _is_numeric(col: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)


def parse_columns(spec) -> tuple:
    """``"a,b"`` or a sequence -> a tuple of distinct names, in order; a clear error for an empty list."""
    names = [c.strip() for c in (spec.split(",") if isinstance(spec, str) else spec)]
    names = list(dict.fromkeys(c for c in names if c))
    if not names:
        raise ParameterError(f"--covariates: got {spec!r}, expected column names of customers, e.g. region,age_band.")
    return tuple(names)


def build_design(table: pd.DataFrame, columns, min_customers: int = MIN_LEVEL_CUSTOMERS,
                 table_name: str = "customers") -> Design:
    """Encode ``columns`` of ``table`` (one row per customer) as covariates.

    Raises :class:`ParameterError` for a column the table does not have and :class:`DataError`
    for a column with one level only (after pooling rare levels), or a numeric column without
    spread or with missing values: one sentence each.

    Example
    -------
    >>> t = pd.DataFrame({"channel": ["web"] * 50 + ["shop"] * 40 + ["phone"] * 5})
    >>> d = build_design(t, ["channel"])
    >>> d.reference, [x.key for x in d.terms], d.pooled
    ({'channel': 'web'}, ['channel=shop', 'channel=other'], {'channel': ('phone',)})
    """
    columns = parse_columns(columns)
    available = [c for c in table.columns]
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ParameterError(f"--covariates: {table_name} has no column {', '.join(map(repr, missing))}; "
                             f"expected one of {', '.join(available)}.")
    terms, reference, pooled, scale = [], {}, {}, {}
    n = len(table)
    for c in columns:
        col = table[c]
        if _is_numeric(col) and col.nunique(dropna=False) > 2:
            v = pd.to_numeric(col).to_numpy(float)
            bad = ~np.isfinite(v)
            if bad.any():
                raise DataError(f"{table_name}.{c}: {int(bad.sum())} of {n} customers have no value, e.g. row "
                                f"{int(np.flatnonzero(bad)[0])}; a numeric covariate needs a value for every customer.")
            sd = float(v.std())
            if not sd > 0:
                raise DataError(f"{table_name}.{c}: every customer has the value {v[0]:g}; a covariate needs at "
                                "least two different values.")
            scale[c] = (float(v.mean()), sd)
            terms.append(Term(c, None, n))
            continue
        counts = _levels(col).value_counts()
        rare = tuple(sorted(str(k) for k, m in counts.items() if m < min_customers))
        if rare and len(rare) < len(counts):
            pooled[c] = rare
            counts = _levels(col, rare).value_counts()
        if len(counts) < 2:
            only = counts.index[0] if len(counts) else MISSING
            raise DataError(f"{table_name}.{c}: all {n} customers have the level {only!r}"
                            + (f" (after pooling levels under {min_customers} customers)" if rare else "")
                            + "; a covariate needs at least two levels.")
        # reference: the most frequent level (ties: alphabetical), never the pooled group
        order = sorted(counts.items(), key=lambda kv: (kv[0] == OTHER, -kv[1], str(kv[0])))
        reference[c] = str(order[0][0])
        terms += [Term(c, str(k), int(m)) for k, m in sorted(order[1:], key=lambda kv: (kv[0] == OTHER, str(kv[0])))]
    return Design(columns, tuple(terms), reference, pooled, scale)


__all__ = ["MIN_LEVEL_CUSTOMERS", "OTHER", "MISSING", "Term", "Design", "build_design", "parse_columns"]


#: Above this many customers the report's covariate fit runs on a seeded random subsample of this many: the
#: multipliers stay unbiased, their intervals are the subsample's (honest, a little wider), the page says so,
#: and the fit time stops growing with the base (as the churn page's Cox model).
COVARIATE_CUSTOMERS = 200_000


def fit_sample(table: pd.DataFrame, max_customers: int = COVARIATE_CUSTOMERS, seed: int = 0) -> pd.DataFrame:
    """The customers a covariate fit runs on: all of ``table``, or a seeded random subsample of ``max_customers``.

    Example
    -------
    >>> t = pd.DataFrame({"frequency": range(10)})
    >>> len(fit_sample(t, 20)), len(fit_sample(t, 4)), fit_sample(t, 4).equals(fit_sample(t, 4))
    (10, 4, True)
    """
    if len(table) <= max_customers:
        return table
    return table.sample(n=max_customers, random_state=seed).reset_index(drop=True)
