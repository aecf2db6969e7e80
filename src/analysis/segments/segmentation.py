"""Segments and lifecycle: group customers by value, behaviour and stage, and follow their moves.
A/B/C pyramid, keep/develop/change, lifecycle stages, RFM, month-stable clusters, transitions, export.

Every rule works on the customer table (one row per customer, see
:func:`analysis.customers.table.customer_table`) at an explicit ``as_of`` and returns labels, counts and
tables in no language; :mod:`analysis.report.pages.segments` says them in the report's language (the
rule tables, cluster names, advice, figures) and ``kanta segments`` lives in :mod:`analysis.cli.segments`.

The churn rule is the report's one rule: a buyer is passive when the days since their last
purchase are at least ``passive_days`` (the customer base's ``inactivity_days``), so stage
"passive" counts the customers the monthly flows count as churned.

Example
-------
>>> seg = segment_customers("data/sample", "2026-10-31")          # doctest: +SKIP
>>> seg.table[["customer_id", "abc_class", "lifecycle_stage"]].head()  # doctest: +SKIP
"""
from __future__ import annotations

import dataclasses
import functools
import os
from pathlib import Path
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np
import pandas as pd

from analysis.errors import DataError, ModelError, NotFittedError, ParameterError
from analysis.findings import Estimation

# --- vocabularies -------------------------------------------------------------
ABC_CLASSES = ("A", "B", "C")
#: The textbook pyramid (000 p.21): share of customers, share of revenue.
TEXTBOOK_PYRAMID = {"A": (0.05, 0.65), "B": (0.15, 0.15), "C": (0.80, 0.20)}
STRATEGY_GROUPS = ("keep", "develop", "change")
#: Display order of the lifecycle (rules are evaluated in RULE_ORDER).
STAGES = ("prospect", "new", "active", "returned", "lapsing", "passive")
STAGE_RULE_ORDER = ("prospect", "passive", "new", "returned", "lapsing", "active")
#: Concept id (:mod:`analysis.base.concepts`) of each stage's count. The stage "returned" (came back
#: within ``returned_days``) is not the month flow "returned" (``customers_returned``).
STAGE_CONCEPTS = {"prospect": "stage_prospect", "new": "stage_new", "active": "stage_active",
                  "returned": "stage_recently_returned", "lapsing": "stage_lapsing", "passive": "stage_passive"}
#: Concept id of each pyramid class's count.
CLASS_CONCEPTS = {"A": "customers_class_a", "B": "customers_class_b", "C": "customers_class_c"}
RFM_SEGMENTS = (
    "champions", "loyal", "potential_loyalists", "new_customers", "promising", "need_attention",
    "about_to_sleep", "at_risk", "cant_lose_them", "hibernating", "lost",
)
#: R score (rows, 5 = most recent) x FM score (columns, 5 = most frequent/valuable).
_RFM_GRID = {
    5: ("new_customers", "potential_loyalists", "potential_loyalists", "champions", "champions"),
    4: ("promising", "potential_loyalists", "potential_loyalists", "loyal", "loyal"),
    3: ("about_to_sleep", "about_to_sleep", "need_attention", "loyal", "loyal"),
    2: ("hibernating", "hibernating", "at_risk", "at_risk", "cant_lose_them"),
    1: ("lost", "lost", "at_risk", "at_risk", "cant_lose_them"),
}
NO_PURCHASE = "prospect"  # RFM segment of registered customers who never bought
NOT_REGISTERED = "not_registered"  # transition row for customers who were not in last month's base

#: Behavioural clustering features, in model order (see :func:`cluster_features`).
CLUSTER_FEATURES = (
    "log_frequency", "recency_days", "log_spend", "tenure_days", "n_categories", "online_share", "spend_trend",
)
_REQUIRED = ("customer_id", "n_purchases", "total_spend", "days_since_last_purchase", "first_purchase")
_EXPORT_COLUMNS = (
    "customer_id", "pseudonym", "abc_class", "strategy_group", "lifecycle_stage", "rfm_segment",
    "r_score", "f_score", "m_score", "cluster",
)


# --- settings -----------------------------------------------------------------
@dataclass(frozen=True)
class SegmentSettings:
    """All thresholds of the segment rules, validated once.

    Parameters
    ----------
    a_share, b_share : float
        Share of buying customers in pyramid class A (top) and B (next); C is the rest.
    value_basis : {"spend", "clv"}
        Value that ranks the pyramid: historic spend, or predicted CLV
        (:func:`analysis.clv.model.customer_value`, which also gives P(alive) for the lapsing rule).
        The potential value of the strategy groups is the CLV whenever one is available,
        else the run-rate fallback (:func:`run_rate_value`).
    keep_share : float
        Share of buyers with the highest current value (historic spend) that is "high current value".
    potential_share : float
        Share of buyers with the highest potential value that is "high potential value".
    new_days : int
        A first purchase at most this many days before ``as_of`` makes a customer "new".
    passive_days : int
        Churn threshold (the report's ``inactivity_days``): no purchase for this many days or
        more makes a buyer "passive" (churned).
    lapsing_factor, lapsing_min_days : float, int
        "Lapsing" when days since the last purchase exceed ``max(lapsing_factor x own mean
        days between purchases, lapsing_min_days)``.
    returned_days : int
        A first purchase after a passive gap at most this many days ago makes a customer "returned".
    p_alive_threshold : float
        With CLV available, P(alive) below this also makes a customer "lapsing".
    n_clusters : "auto" or int
        Number of behavioural clusters, or "auto" to choose it over ``k_range``.
    k_range : tuple of int
        Smallest and largest number of clusters tried.
    cluster_method : {"kmeans", "gmm"}
        KMeans (k by silhouette) or a Gaussian mixture (k by BIC).
    random_state : int
        Seed of clustering and subsampling (same seed, same segments).
    horizon_months : int
        Horizon of the potential value: of the CLV, and of the run-rate fallback.
    """

    a_share: float = 0.05
    b_share: float = 0.15
    value_basis: str = "spend"
    keep_share: float = 0.20
    potential_share: float = 0.50
    new_days: int = 30
    passive_days: int = 180
    lapsing_factor: float = 2.0
    lapsing_min_days: int = 30
    returned_days: int = 30
    p_alive_threshold: float = 0.5
    n_clusters: object = "auto"
    k_range: tuple = (3, 8)
    cluster_method: str = "kmeans"
    random_state: int = 0
    horizon_months: int = 12

    def __post_init__(self):
        def share(name, v, upper=1.0):
            if not isinstance(v, (int, float)) or not (0 < v < upper):
                raise ParameterError(f"{name}: got {v!r}, expected a share between 0 and {upper:g}.")

        share("a_share", self.a_share)
        share("b_share", self.b_share)
        if self.a_share + self.b_share >= 1:
            raise ParameterError(
                f"a_share + b_share: got {self.a_share + self.b_share:g}, expected less than 1 so class C is not empty."
            )
        share("keep_share", self.keep_share)
        share("potential_share", self.potential_share)
        share("p_alive_threshold", self.p_alive_threshold)
        if self.value_basis not in ("spend", "clv"):
            raise ParameterError(f"value_basis: got {self.value_basis!r}, expected 'spend' or 'clv'.")
        if self.cluster_method not in ("kmeans", "gmm"):
            raise ParameterError(f"cluster_method: got {self.cluster_method!r}, expected 'kmeans' or 'gmm'.")
        for name in ("new_days", "passive_days", "lapsing_min_days", "returned_days", "horizon_months"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ParameterError(f"{name}: got {v!r}, expected a whole number of at least 1.")
        if not self.new_days < self.passive_days:
            raise ParameterError(
                f"new_days: got {self.new_days}, expected fewer days than passive_days ({self.passive_days})."
            )
        if not self.returned_days < self.passive_days:
            raise ParameterError(
                f"returned_days: got {self.returned_days}, expected fewer days than passive_days ({self.passive_days})."
            )
        if not self.lapsing_min_days < self.passive_days:
            raise ParameterError(
                f"lapsing_min_days: got {self.lapsing_min_days}, expected fewer days than passive_days "
                f"({self.passive_days})."
            )
        if not isinstance(self.lapsing_factor, (int, float)) or self.lapsing_factor <= 1:
            raise ParameterError(f"lapsing_factor: got {self.lapsing_factor!r}, expected a number above 1.")
        k = self.k_range
        if (not isinstance(k, (tuple, list)) or len(k) != 2 or not all(isinstance(x, (int, np.integer)) for x in k)
                or not 2 <= k[0] <= k[1]):
            raise ParameterError(f"k_range: got {k!r}, expected two whole numbers (min, max) with 2 <= min <= max.")
        object.__setattr__(self, "k_range", (int(k[0]), int(k[1])))
        object.__setattr__(self, "n_clusters", _parse_n_clusters(self.n_clusters))

    @classmethod
    def from_params(cls, **params) -> "SegmentSettings":
        """Settings from keyword parameters; unknown names are a :class:`ParameterError`."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(params) - names)
        if unknown:
            raise ParameterError(
                f"segments: unknown parameter {unknown[0]!r}, expected one of {', '.join(sorted(names))}."
            )
        return cls(**params)


def _parse_n_clusters(v):
    if isinstance(v, str) and v.strip().lower() == "auto":
        return "auto"
    try:
        k = int(v)
        ok = not isinstance(v, bool) and float(v) == k and k >= 2
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ParameterError(f"n_clusters: got {v!r}, expected 'auto' or a whole number of at least 2.")
    return k


# --- input checks ---------------------------------------------------------------
def _check_table(table: pd.DataFrame, columns=_REQUIRED) -> None:
    if not isinstance(table, pd.DataFrame):
        raise DataError(f"customer table: got {type(table).__name__}, expected a pandas DataFrame.")
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise DataError(f"customer table: column {missing[0]!r} is missing, expected {', '.join(columns)}.")
    if table["customer_id"].duplicated().any():
        first = table.loc[table["customer_id"].duplicated(), "customer_id"].iloc[0]
        raise DataError(f"customer table: customer_id {first!r} appears more than once, expected one row per customer.")


def _as_date(as_of) -> pd.Timestamp:
    from analysis.data.sources import parse_date

    return parse_date(as_of).normalize()


def _buyers(table: pd.DataFrame) -> pd.Series:
    """True for customers with at least one purchase day (prospects have none)."""
    return table["n_purchases"].fillna(0).astype(float) > 0


def _top_mask(values: pd.Series, ids: pd.Series, share: float) -> pd.Series:
    """True for the top ``round(share x n)`` values; ties broken by customer_id so the cut is reproducible."""
    n = len(values)
    k = int(round(share * n))
    v = values.astype(float).fillna(-np.inf).to_numpy()
    top = np.zeros(n, dtype=bool)
    if k >= n:
        top[:] = True
    elif k > 0:  # everything above the k-th largest value, then the tied values at the cut by customer_id
        cut = np.partition(v, n - k)[n - k]
        top = v > cut
        tied = np.flatnonzero(v == cut)
        tied_ids = ids.astype(str).to_numpy()[tied]
        top[tied[np.argsort(tied_ids, kind="stable")[:k - int(top.sum())]]] = True
    return pd.Series(top, index=values.index)


# --- 1. pyramid -----------------------------------------------------------------
def abc_classes(table: pd.DataFrame, value: pd.Series | None = None, a_share: float = 0.05,
                b_share: float = 0.15) -> pd.Series:
    """Customer pyramid: A = top ``a_share`` of buying customers by value, B = next ``b_share``, C = the rest.

    Customers are ranked by ``value`` (default: historic ``total_spend``), ties by
    customer_id. Prospects (no purchase) are outside the pyramid and get no class (None),
    so every count of a class (the pyramid table, the class moves) counts the same buyers.

    Parameters
    ----------
    table : DataFrame
        Customer table (needs customer_id, n_purchases, total_spend).
    value : Series, optional
        Value per row of ``table`` (e.g. CLV); default ``table.total_spend``.
    a_share, b_share : float
        Cut points as shares of buying customers.

    Returns
    -------
    Series of "A"/"B"/"C" (None for prospects) aligned with ``table``.

    Example
    -------
    >>> t = pd.DataFrame({"customer_id": list("abcdefghijklmnopqrst"), "n_purchases": 1,
    ...                   "total_spend": range(20, 0, -1)})
    >>> abc_classes(t).value_counts().to_dict()
    {'C': 16, 'B': 3, 'A': 1}
    """
    SegmentSettings(a_share=a_share, b_share=b_share)  # validates the cut points
    value = table["total_spend"] if value is None else pd.Series(value, index=table.index)
    out = pd.Series(None, index=table.index, dtype=object, name="abc_class")
    buyers = _buyers(table)
    out.loc[buyers] = "C"
    if buyers.any():
        v, ids = value[buyers], table.loc[buyers, "customer_id"]
        top_a = _top_mask(v, ids, a_share)
        top_ab = _top_mask(v, ids, a_share + b_share)
        out.loc[top_ab[top_ab].index] = "B"
        out.loc[top_a[top_a].index] = "A"
    return out


def pyramid_table(table: pd.DataFrame, classes: pd.Series, value: pd.Series | None = None) -> pd.DataFrame:
    """Real shares of customers and revenue per pyramid class, next to the textbook 5/15/80 vs 65/15/20.

    Only buying customers count (prospects have no revenue). ``value`` (e.g. CLV)
    adds a ``value_share`` column; revenue is always historic ``total_spend``.

    Returns
    -------
    DataFrame with abc_class, customers, customer_share, revenue, revenue_share,
    [value, value_share,] textbook_customer_share, textbook_revenue_share.
    """
    buyers = _buyers(table)
    df = pd.DataFrame({"abc_class": classes[buyers], "revenue": table.loc[buyers, "total_spend"].astype(float)})
    if value is not None:
        df["value"] = pd.Series(value, index=table.index)[buyers].astype(float)
    g = df.groupby("abc_class").agg(customers=("revenue", "size"), **{c: (c, "sum") for c in df.columns[1:]})
    g = g.reindex(list(ABC_CLASSES), fill_value=0)
    g.insert(1, "customer_share", g["customers"] / max(g["customers"].sum(), 1))
    total = g["revenue"].sum()
    g.insert(3, "revenue_share", g["revenue"] / total if total else np.nan)
    if "value" in g:
        vt = g["value"].sum()
        g["value_share"] = g["value"] / vt if vt else np.nan
    g["textbook_customer_share"] = [TEXTBOOK_PYRAMID[c][0] for c in ABC_CLASSES]
    g["textbook_revenue_share"] = [TEXTBOOK_PYRAMID[c][1] for c in ABC_CLASSES]
    g["customers"] = g["customers"].astype(int)
    return g.reset_index()


# --- 2. strategy groups ------------------------------------------------------------
def run_rate_value(table: pd.DataFrame, as_of, passive_days: int = 180, horizon_days: int = 365) -> pd.Series:
    """Potential value without a CLV model: the customer's own purchase rate x average purchase over the horizon.

    Rate = purchase days / max(days since first purchase + 1, 30) (so one purchase
    yesterday is not read as a daily habit); customers already passive
    (no purchase for ``passive_days`` or more, the one churn rule) get 0. The documented
    fallback when no CLV is available; with a CLV model the potential value is the CLV.
    It is a rough outlook, not a forecast: it does not sum to the customer equity.

    Example
    -------
    >>> t = pd.DataFrame({"customer_id": ["a", "b"], "n_purchases": [4, 4], "total_spend": [400.0, 400.0],
    ...                   "days_since_last_purchase": [5, 180], "first_purchase": ["2026-07-24", "2025-01-01"]})
    >>> run_rate_value(t, "2026-10-31", passive_days=180).round(1).tolist()
    [1460.0, 0.0]
    """
    as_of = _as_date(as_of)
    first = pd.to_datetime(table["first_purchase"])
    age_days = ((as_of - first).dt.days + 1).clip(lower=30)
    n = table["n_purchases"].fillna(0).astype(float)
    spend = table["total_spend"].fillna(0).astype(float).clip(lower=0)
    avg = np.where(n > 0, spend / n.where(n > 0, 1), 0.0)
    rate = (n / age_days).fillna(0.0)
    alive = table["days_since_last_purchase"].astype(float) < passive_days
    return pd.Series(np.where(alive, rate * horizon_days * avg, 0.0), index=table.index, name="potential_value")


def strategy_groups(table: pd.DataFrame, potential_value: pd.Series, keep_share: float = 0.20,
                    potential_share: float = 0.50) -> pd.Series:
    """Keep / develop / change from current value (historic spend) x potential value.

    Rules (shown by :func:`analysis.report.pages.segments.strategy_rules`), among buying customers:
    keep = current value in the top ``keep_share`` (most profitable today, whatever
    the outlook); develop = not keep, but potential value in the top
    ``potential_share`` and above 0 (untapped potential); change = the rest (low
    today and low outlook: change the offer or let go). Prospects are "develop":
    registered, not yet buying, all potential.

    Example
    -------
    >>> t = pd.DataFrame({"customer_id": ["a", "b", "c", "d"], "n_purchases": [3, 1, 1, 0],
    ...                   "total_spend": [900.0, 10.0, 5.0, 0.0]})
    >>> strategy_groups(t, pd.Series([100.0, 50.0, 0.0, 0.0]), keep_share=0.34).tolist()
    ['keep', 'develop', 'change', 'develop']
    """
    out = pd.Series("develop", index=table.index, dtype=object)
    buyers = _buyers(table)
    if buyers.any():
        ids = table.loc[buyers, "customer_id"]
        pot = pd.Series(potential_value, index=table.index)[buyers].astype(float).fillna(0.0)
        high_current = _top_mask(table.loc[buyers, "total_spend"], ids, keep_share)
        high_potential = _top_mask(pot, ids, potential_share) & (pot > 0)
        out.loc[buyers] = np.where(high_current, "keep", np.where(high_potential, "develop", "change"))
    return out


# --- 3. lifecycle stages -------------------------------------------------------------
def return_dates(source, as_of, gap_days: int) -> pd.DataFrame:
    """Per customer, the last purchase day that came after a gap of more than ``gap_days`` without purchases.

    A gap of more than ``gap_days`` days between two purchase days means the customer was passive
    (``gap_days`` or more days silent) on the day before coming back: the one churn rule.

    Computed in SQL on the source's DuckDB connection, with the customer table's
    purchase-day rule (:data:`analysis.customers.table.PURCHASE_DAY_RULE`), up to and including ``as_of``.

    Returns
    -------
    DataFrame[customer_id, return_date] (only customers who ever came back).
    """
    from analysis.customers.table import purchase_days_sql

    as_of = _as_date(as_of)
    query = f"""
        WITH days AS (
            SELECT customer_id, day AS d FROM ({purchase_days_sql('duckdb')}) p
            WHERE is_purchase = 1 AND day <= DATE '{as_of.date().isoformat()}'
        ), gaps AS (
            SELECT customer_id, d,
                   date_diff('day', LAG(d) OVER (PARTITION BY customer_id ORDER BY d), d) AS gap_days
            FROM days
        )
        SELECT customer_id, MAX(d) AS return_date FROM gaps WHERE gap_days > {int(gap_days)} GROUP BY customer_id
    """
    out = source.sql(query)
    out["customer_id"] = out["customer_id"].astype(str)
    out["return_date"] = pd.to_datetime(out["return_date"])
    return out


def lifecycle_stages(table: pd.DataFrame, as_of, settings: SegmentSettings | None = None,
                     p_alive: pd.Series | None = None) -> pd.Series:
    """Exactly one lifecycle stage per customer, by rules evaluated in a fixed order (first match wins).

    1. prospect: registered, no purchase day.
    2. passive: no purchase for ``passive_days`` days or more (the one churn rule: days since
       the last purchase >= ``passive_days``), or contract ended (churn_date <= as_of).
    3. new: first purchase at most ``new_days`` before ``as_of``.
    4. returned (recently returned, concept ``stage_recently_returned``): came back after a passive
       gap (column ``return_date``) at most ``returned_days`` ago. Not the month flow "returned".
    5. lapsing: overdue against the own rhythm: days since last purchase >
       max(``lapsing_factor`` x own mean days between purchases, ``lapsing_min_days``);
       one-time buyers use the median rhythm of repeat buyers; or P(alive) < ``p_alive_threshold``.
    6. active: everyone else.

    Because the rules are tried in order and the last one catches all, the stages
    cannot overlap and nobody is left without one. :func:`analysis.report.pages.segments.stage_rules` shows them.

    Parameters
    ----------
    table : DataFrame
        Customer table; ``return_date`` (see :func:`return_dates`) and ``churn_date`` are optional.
    as_of : date
    settings : SegmentSettings
    p_alive : Series, optional
        P(alive) per row of ``table`` (BG/NBD); NaN is ignored.

    Returns
    -------
    Series of stage names aligned with ``table``.

    Example
    -------
    >>> t = pd.DataFrame({"customer_id": ["a", "b"], "n_purchases": [0, 5], "total_spend": [0.0, 50.0],
    ...                   "days_since_last_purchase": [np.nan, 200], "first_purchase": [pd.NaT, "2025-01-01"]})
    >>> lifecycle_stages(t, "2026-10-31").tolist()
    ['prospect', 'passive']
    """
    s = settings or SegmentSettings()
    as_of = _as_date(as_of)
    _check_table(table, ("customer_id", "n_purchases", "days_since_last_purchase", "first_purchase"))
    n = len(table)
    buyer = _buyers(table).to_numpy()
    since_last = table["days_since_last_purchase"].astype(float).to_numpy()
    since_first = (as_of - pd.to_datetime(table["first_purchase"])).dt.days.astype(float).to_numpy()
    # a buyer without dates (should not happen) is treated as long gone, not silently "active"
    since_last = np.where(buyer & np.isnan(since_last), np.inf, since_last)
    since_first = np.where(buyer & np.isnan(since_first), np.inf, since_first)

    passive = buyer & (since_last >= s.passive_days)
    if "churn_date" in table:
        ended = pd.to_datetime(table["churn_date"]).le(as_of).to_numpy()
        passive |= buyer & ended
    new = buyer & (since_first <= s.new_days)
    if "return_date" in table:
        since_return = (as_of - pd.to_datetime(table["return_date"])).dt.days.astype(float).to_numpy()
        returned = buyer & (since_return <= s.returned_days)
    else:
        returned = np.zeros(n, dtype=bool)
    rhythm = _own_rhythm_days(table)
    overdue = since_last > np.maximum(s.lapsing_factor * rhythm, s.lapsing_min_days)
    if p_alive is not None:
        pa = pd.Series(p_alive, index=table.index).astype(float).to_numpy()
        overdue |= ~np.isnan(pa) & (pa < s.p_alive_threshold)
    lapsing = buyer & overdue

    conditions = {"prospect": ~buyer, "passive": passive, "new": new, "returned": returned, "lapsing": lapsing,
                  "active": np.ones(n, dtype=bool)}
    stage = np.select([conditions[k] for k in STAGE_RULE_ORDER], list(STAGE_RULE_ORDER), default="active")
    return pd.Series(stage, index=table.index, name="lifecycle_stage", dtype=object)


def _own_rhythm_days(table: pd.DataFrame) -> np.ndarray:
    """Mean days between purchases per customer; one-time buyers get the median of repeat buyers (30 if none)."""
    if "mean_interpurchase_days" in table:
        own = table["mean_interpurchase_days"].astype(float)
    elif "last_purchase" in table:  # derive it: span of purchase days / gaps
        span = (pd.to_datetime(table["last_purchase"]) - pd.to_datetime(table["first_purchase"])).dt.days
        gaps = table["n_purchases"].astype(float) - 1
        own = (span / gaps.where(gaps > 0)).astype(float)
    else:
        own = pd.Series(np.nan, index=table.index)
    own = own.where(own > 0)
    typical = float(own.median()) if own.notna().any() else 30.0
    return own.fillna(typical).to_numpy()


# --- 4. RFM ----------------------------------------------------------------------------
def _quintile(values: pd.Series) -> pd.Series:
    """Score 1..5 from the rank percentile; equal values share the (lower) score."""
    pct = values.astype(float).rank(method="min", pct=True)
    return np.ceil(pct * 5).clip(1, 5).astype(int)


def rfm_scores(table: pd.DataFrame) -> pd.DataFrame:
    """RFM quintile scores (1..5, 5 best) among buying customers and the named RFM segment.

    R ranks days since the last purchase (fewer is better), F the number of purchase
    days, M total spend. FM = mean of F and M rounded half up. The segment is read
    from the R x FM grid :func:`rfm_grid`. Prospects get scores 0 and segment "prospect".

    Returns
    -------
    DataFrame[r_score, f_score, m_score, fm_score, rfm_segment] aligned with ``table``.

    Example
    -------
    >>> t = pd.DataFrame({"customer_id": list("abcde"), "n_purchases": [9, 7, 5, 3, 1],
    ...                   "total_spend": [900.0, 700, 500, 300, 100], "days_since_last_purchase": [1, 5, 30, 90, 300]})
    >>> rfm_scores(t)["rfm_segment"].tolist()
    ['champions', 'loyal', 'need_attention', 'hibernating', 'lost']
    """
    buyers = _buyers(table)
    out = pd.DataFrame(0, index=table.index, columns=["r_score", "f_score", "m_score", "fm_score"])
    out["rfm_segment"] = NO_PURCHASE
    b = table[buyers]
    if len(b):
        r = _quintile(-b["days_since_last_purchase"].astype(float))
        f = _quintile(b["n_purchases"])
        m = _quintile(b["total_spend"])
        fm = np.floor((f + m) / 2 + 0.5).astype(int)
        out.loc[buyers, "r_score"], out.loc[buyers, "f_score"], out.loc[buyers, "m_score"] = r, f, m
        out.loc[buyers, "fm_score"] = fm
        out.loc[buyers, "rfm_segment"] = [_RFM_GRID[ri][fi - 1] for ri, fi in zip(r, fm)]
    return out


def rfm_grid() -> pd.DataFrame:
    """The documented R x FM mapping (segment ids): rows R = 5..1 (5 = most recent), columns FM = 1..5.

    Example
    -------
    >>> rfm_grid().loc["R 5", "FM 5"]
    'champions'
    """
    grid = pd.DataFrame(_RFM_GRID).T.sort_index(ascending=False)
    grid.columns = ["FM 1", "FM 2", "FM 3", "FM 4", "FM 5"]
    grid.index = [f"R {r}" for r in grid.index]
    return grid


# --- 5. behavioural clusters ---------------------------------------------------------------
def cluster_features(table: pd.DataFrame) -> pd.DataFrame:
    """Behavioural features of buying customers (index = customer_id), before scaling.

    log_frequency = log1p(repeat purchases), recency_days, log_spend = log1p(spend >= 0),
    tenure_days, n_categories (breadth), online_share (channel mix), spend_trend
    (last 90 days vs the 90 before, clipped to [-1, 2]; missing = 0). Rows are sorted
    by customer_id so that the clustering does not depend on the input's row order.
    """
    b = table[_buyers(table)]
    freq = b["frequency"] if "frequency" in b else b["n_purchases"] - 1
    f = pd.DataFrame({
        "log_frequency": np.log1p(freq.astype(float).clip(lower=0)),
        "recency_days": b["days_since_last_purchase"].astype(float),
        "log_spend": np.log1p(b["total_spend"].astype(float).clip(lower=0)),
        "tenure_days": b["tenure_days"].astype(float) if "tenure_days" in b else 0.0,
        "n_categories": b["n_categories"].astype(float) if "n_categories" in b else 1.0,
        "online_share": b["online_share"].astype(float) if "online_share" in b else 0.0,
        "spend_trend": b["spend_trend"].astype(float).clip(-1, 2) if "spend_trend" in b else 0.0,
    }, index=b.index)
    f = f[list(CLUSTER_FEATURES)].replace([np.inf, -np.inf], np.nan)
    f = f.fillna(f.median()).fillna(0.0)
    f.index = b["customer_id"].astype(str).to_numpy()
    f.index.name = "customer_id"
    return f.sort_index(kind="mergesort")  # row order of the input must not change the clusters


def match_clusters(new_centroids, previous_centroids) -> dict[int, int]:
    """Map each new cluster to last month's closest cluster (Hungarian assignment on centroid distance).

    Parameters
    ----------
    new_centroids, previous_centroids : array-like or DataFrame (k x features)
        Centroids in the same (scaled) feature space. With DataFrames the index holds
        the cluster labels; with arrays the labels are the row positions.

    Returns
    -------
    dict new label -> previous label. If there are more new clusters than previous
    ones, the unmatched ones get fresh labels after the largest previous label.

    Example
    -------
    >>> prev = np.array([[0.0, 0.0], [5.0, 5.0], [0.0, 5.0]])
    >>> match_clusters(prev[[2, 0, 1]] + 0.1, prev)
    {0: 2, 1: 0, 2: 1}
    """
    from scipy.optimize import linear_sum_assignment
    from scipy.spatial.distance import cdist

    new_ids = list(new_centroids.index) if isinstance(new_centroids, pd.DataFrame) else None
    prev_ids = list(previous_centroids.index) if isinstance(previous_centroids, pd.DataFrame) else None
    new = np.asarray(new_centroids, dtype=float)
    prev = np.asarray(previous_centroids, dtype=float)
    if new.ndim != 2 or prev.ndim != 2 or new.shape[1] != prev.shape[1]:
        raise ParameterError(
            f"match_clusters: got centroids of shapes {new.shape} and {prev.shape}, expected the same feature columns."
        )
    new_ids = new_ids or list(range(len(new)))
    prev_ids = prev_ids or list(range(len(prev)))
    rows, cols = linear_sum_assignment(cdist(new, prev))
    mapping = {int(new_ids[r]): int(prev_ids[c]) for r, c in zip(rows, cols)}
    fresh = max(prev_ids, default=-1) + 1
    for r in range(len(new)):
        if int(new_ids[r]) not in mapping:
            mapping[int(new_ids[r])] = fresh
            fresh += 1
    return mapping


class BehaviourClusters:
    """Behavioural clustering of buying customers with month-stable labels.

    Features (:func:`cluster_features`) are standardised; KMeans (k by the best
    silhouette on a fixed-seed subsample) or a Gaussian mixture (k by the lowest BIC).
    Without ``previous``, clusters are numbered 1..k from the highest mean spend down;
    with ``previous`` (last month's fitted model), each cluster takes the number of
    last month's nearest cluster (:func:`match_clusters`), so "segment 3" keeps its meaning,
    and ``n_clusters="auto"`` keeps last month's k (the curve is still computed and shown).

    Parameters
    ----------
    n_clusters : "auto" or int
    k_range : (int, int)
    method : {"kmeans", "gmm"}
    random_state : int
    selection_sample : int
        Customers used to choose k (silhouette and BIC); the final model uses everyone.

    Attributes
    ----------
    k_ : int
    selection_ : DataFrame[k, silhouette, bic, chosen]
    scaler_ : StandardScaler
    model_ : KMeans or GaussianMixture
    centroids_ : DataFrame (cluster x feature), in the original units
    centroids_scaled_ : DataFrame (cluster x feature), in standard deviations from the overall mean
    labels_ : Series of cluster numbers indexed by customer_id
    overall_mean_ : Series of feature means

    Example
    -------
    >>> model = BehaviourClusters(n_clusters="auto").fit(table)  # doctest: +SKIP
    >>> model.profile(table)                                     # doctest: +SKIP
    """

    def __init__(self, n_clusters="auto", k_range=(3, 8), method="kmeans", random_state=0,
                 selection_sample=2000):
        self.n_clusters = n_clusters
        self.k_range = k_range
        self.method = method
        self.random_state = random_state
        self.selection_sample = selection_sample

    def _new_model(self, k):
        from sklearn.cluster import KMeans
        from sklearn.mixture import GaussianMixture

        if self.method == "gmm":
            return GaussianMixture(n_components=k, covariance_type="full", random_state=self.random_state,
                                   reg_covar=1e-4)
        return KMeans(n_clusters=k, n_init=4, random_state=self.random_state)

    def fit(self, table: pd.DataFrame, previous: "BehaviourClusters | pd.DataFrame | None" = None
            ) -> "BehaviourClusters":
        """Choose k, fit on all buying customers, and number the clusters (stable against ``previous``).

        ``previous`` is last month's fitted model, or its ``centroids_`` table (e.g. read
        back from the file ``kanta segments --centroids-out`` wrote last month).
        """
        from threadpoolctl import threadpool_limits

        # a few thousand rows x 7 features: thread start-up costs more than it saves (20x on a busy
        # 2-core machine), and one thread gives the same numbers on every machine
        with threadpool_limits(1):
            return self._fit(table, previous)

    def _fit(self, table: pd.DataFrame, previous) -> "BehaviourClusters":
        from sklearn.preprocessing import StandardScaler

        SegmentSettings(n_clusters=self.n_clusters, k_range=tuple(self.k_range), cluster_method=self.method)
        feats = cluster_features(table)
        k_min, k_max = self.k_range
        fixed = _parse_n_clusters(self.n_clusters)
        need = fixed if fixed != "auto" else k_min
        if len(feats) < max(need + 1, 10):
            raise ModelError(
                f"clustering: got {len(feats)} buying customers, expected at least {max(need + 1, 10)}.",
                reason="too_few_buyers_to_cluster", facts={"buyers": len(feats), "needed": max(need + 1, 10)},
            )
        self.scaler_ = StandardScaler().fit(feats)
        z = self.scaler_.transform(feats)
        # "auto" chooses k from the data once; later months keep last month's k so the numbers persist
        prev_centroids = _previous_centroids(previous)
        keep_k = len(prev_centroids) if prev_centroids is not None and fixed == "auto" else None
        self.selection_ = self._select_k(z, fixed, keep_k)
        self.k_ = int(self.selection_.loc[self.selection_["chosen"], "k"].iloc[0])
        self.model_ = self._new_model(self.k_).fit(z)
        raw = np.asarray(self.model_.predict(z))
        centers = self.model_.cluster_centers_ if self.method == "kmeans" else self.model_.means_
        cz = pd.DataFrame(centers, columns=feats.columns)
        # order by value first (1 = highest mean spend), then align to last month when given
        order = cz["log_spend"].sort_values(ascending=False, kind="mergesort").index
        mapping = {int(old): i + 1 for i, old in enumerate(order)}
        if previous is not None:
            prev_z = pd.DataFrame(self.scaler_.transform(prev_centroids[feats.columns]),
                                  index=prev_centroids.index, columns=feats.columns)
            mapping = match_clusters(cz, prev_z)
        self.mapping_ = mapping
        self.labels_ = pd.Series([mapping[int(c)] for c in raw], index=feats.index, name="cluster")
        cz.index = [mapping[int(i)] for i in cz.index]
        self.centroids_scaled_ = cz.sort_index()
        self.centroids_ = pd.DataFrame(self.scaler_.inverse_transform(self.centroids_scaled_),
                                       index=self.centroids_scaled_.index, columns=feats.columns)
        self.centroids_.index.name = self.centroids_scaled_.index.name = "cluster"
        self.overall_mean_ = feats.mean()
        self.feature_names_ = list(feats.columns)
        return self

    def _select_k(self, z: np.ndarray, fixed, keep_k: int | None = None) -> pd.DataFrame:
        from sklearn.metrics import silhouette_score

        rng = np.random.default_rng(self.random_state)
        sub = z if len(z) <= self.selection_sample else z[np.sort(rng.choice(len(z), self.selection_sample, False))]
        k_min, k_max = self.k_range
        ks = [fixed] if fixed != "auto" else sorted(set(range(k_min, k_max + 1)) | ({keep_k} - {None}))
        ks = [k for k in ks if k < len(sub)]
        rows = []
        for k in ks:
            model = self._new_model(k).fit(sub)
            labels = model.predict(sub)
            sil = silhouette_score(sub, labels, random_state=self.random_state) if len(set(labels)) > 1 else np.nan
            gmm = model if self.method == "gmm" else self._gmm(k).fit(sub)
            rows.append((k, float(sil), float(gmm.bic(sub))))
        sel = pd.DataFrame(rows, columns=["k", "silhouette", "bic"])
        if fixed != "auto":
            best = fixed
        elif keep_k is not None:
            best = keep_k
        elif self.method == "gmm":
            best = int(sel.loc[sel["bic"].idxmin(), "k"])
        else:
            best = int(sel.loc[sel["silhouette"].idxmax(), "k"])
        sel["chosen"] = sel["k"] == best
        return sel

    def _gmm(self, k):
        from sklearn.mixture import GaussianMixture

        return GaussianMixture(n_components=k, covariance_type="full", random_state=self.random_state, reg_covar=1e-4)

    def predict(self, table: pd.DataFrame) -> pd.Series:
        """Cluster numbers of the buying customers of ``table`` (index customer_id)."""
        from threadpoolctl import threadpool_limits

        self._check_fitted()
        feats = cluster_features(table)
        with threadpool_limits(1):
            raw = np.asarray(self.model_.predict(self.scaler_.transform(feats)))
        return pd.Series([self.mapping_[int(c)] for c in raw], index=feats.index, name="cluster")

    def _check_fitted(self) -> None:
        if not hasattr(self, "labels_"):
            raise NotFittedError("BehaviourClusters: not fitted yet, call fit(table) first.")

    def traits(self, table: pd.DataFrame | None = None) -> pd.DataFrame:
        """What sets each cluster apart, as codes (the report turns them into a name).

        Up to two behaviour traits further than half a standard deviation from the mean
        (``trait_1``, ``trait_2``, e.g. ``"recency_days_high"``), the category the cluster
        over-buys (``category``, when ``table`` has ``share_<category>`` columns), the value level
        (``value_level``: high / mid / low spend) and the advice kind (:func:`cluster_advice_kind`).
        """
        self._check_fitted()
        cats = _category_leaning(table, self.labels_) if table is not None else {}
        rows = []
        for c, row in self.centroids_scaled_.iterrows():
            traits = row.drop("log_spend")
            traits = traits[traits.abs() > 0.5].sort_values(key=np.abs, ascending=False).head(2)
            codes = [f"{f}_{'high' if v > 0 else 'low'}" for f, v in traits.items()] + [None, None]
            level = "high" if row["log_spend"] > 0.5 else ("low" if row["log_spend"] < -0.5 else "mid")
            rows.append((int(c), codes[0], codes[1], cats.get(c), level, cluster_advice_kind(row)))
        return pd.DataFrame(rows, columns=["cluster", "trait_1", "trait_2", "category", "value_level", "advice"])

    def profile(self, table: pd.DataFrame) -> pd.DataFrame:
        """Per cluster: customers, customer share, value (spend) share and the feature means in plain units."""
        self._check_fitted()
        b = table[_buyers(table)].set_index(table.loc[_buyers(table), "customer_id"].astype(str))
        spend = b["total_spend"].astype(float).reindex(self.labels_.index)
        g = pd.DataFrame({"cluster": self.labels_, "spend": spend})
        agg = g.groupby("cluster").agg(customers=("spend", "size"), spend=("spend", "sum"))
        agg["customer_share"] = agg["customers"] / agg["customers"].sum()
        agg["value_share"] = agg["spend"] / agg["spend"].sum() if agg["spend"].sum() else np.nan
        means = self.centroids_.copy()
        plain = pd.DataFrame({
            "purchase_days": np.expm1(means["log_frequency"]) + 1,
            "recency_days": means["recency_days"],
            "spend": np.expm1(means["log_spend"]),
            "tenure_days": means["tenure_days"],
            "n_categories": means["n_categories"],
            "online_share": means["online_share"],
            "spend_trend": means["spend_trend"],
        }, index=means.index)
        out = agg[["customers", "customer_share", "value_share"]].join(plain)
        out.index.name = "cluster"
        return out.reset_index()

    def summary(self) -> pd.DataFrame:
        """Per cluster: customers, customer share and the centroid in the original feature units."""
        self._check_fitted()
        sizes = self.labels_.value_counts().reindex(self.centroids_.index, fill_value=0)
        out = self.centroids_.copy()
        out.insert(0, "customer_share", sizes / max(int(sizes.sum()), 1))
        out.insert(0, "customers", sizes.astype(int))
        return out.reset_index()

    def to_dict(self) -> dict:
        """k, the method, the k-selection curve and the centroids (JSON-able)."""
        self._check_fitted()
        return {"k": int(self.k_), "method": self.method, "random_state": self.random_state,
                "selection": _records(self.selection_), "clusters": _records(self.summary())}

    def _repr_html_(self) -> str:
        if not hasattr(self, "labels_"):
            return f"<p>BehaviourClusters(n_clusters={self.n_clusters!r}, method={self.method!r}): not fitted</p>"
        return f"<p>BehaviourClusters: k = {self.k_} ({self.method})</p>" + self.summary().to_html(index=False)


def _records(df: pd.DataFrame) -> list[dict]:
    """DataFrame rows as JSON-able dicts (numpy scalars to Python, NaN to None)."""
    import json

    return json.loads(df.to_json(orient="records", date_format="iso"))


def _previous_centroids(previous) -> pd.DataFrame | None:
    """Last month's centroids (cluster x feature, original units) from a model or a table; checked."""
    if previous is None:
        return None
    c = previous.centroids_ if isinstance(previous, BehaviourClusters) else previous
    if not isinstance(c, pd.DataFrame):
        raise ParameterError(f"previous clusters: got {type(c).__name__}, expected a fitted model or a centroid table.")
    if "cluster" in c.columns:
        c = c.set_index("cluster")
    missing = [f for f in CLUSTER_FEATURES if f not in c.columns]
    if missing or c.empty:
        raise DataError(f"previous centroids: column {missing[0] if missing else 'cluster'!r} is missing or the "
                        f"table is empty, expected cluster and {', '.join(CLUSTER_FEATURES)}.")
    bad = c[list(CLUSTER_FEATURES)].apply(pd.to_numeric, errors="coerce")
    if bad.isna().any().any() or not pd.api.types.is_integer_dtype(pd.Series(c.index)):
        raise DataError("previous centroids: expected whole-number cluster labels and numeric feature values.")
    return bad.set_axis(c.index.astype(int))


def _category_leaning(table: pd.DataFrame, labels: pd.Series) -> dict:
    """Cluster -> the category whose mean spend share in the cluster most exceeds the overall mean (by >= 0.10)."""
    share_cols = [c for c in table.columns if c.startswith("share_")]
    if not share_cols:
        return {}
    # rows of the labelled customers, by position (indexing the whole wide table by id copies every column)
    rows = pd.Index(table["customer_id"].astype(str)).get_indexer(labels.index)
    shares = table[share_cols].to_numpy(dtype=float)[np.maximum(rows, 0)]
    shares[rows < 0] = np.nan
    b = pd.DataFrame(shares, columns=share_cols).fillna(0)
    over = b.groupby(labels.to_numpy()).mean() - b.mean()
    out = {}
    for c, row in over.iterrows():
        if row.max() >= 0.10:
            out[c] = row.idxmax()[len("share_"):]
    return out


# --- the whole segmentation of one month -----------------------------------------------------
@dataclass(frozen=True)
class Segmentation:
    """All segment labels of one month.

    Attributes
    ----------
    as_of : Timestamp
    settings : SegmentSettings
    table : DataFrame, one row per customer: customer_id, value, current_value, potential_value,
        p_alive, abc_class (None for prospects), strategy_group, lifecycle_stage, r/f/m/fm scores,
        rfm_segment, cluster (Int64, missing for prospects) and the customer-table columns used.
    clusters : BehaviourClusters or None (None when skipped or when they could not be estimated)
    findings : tuple of analysis.findings.Finding
        What could not be estimated (e.g. too few buyers to cluster); the rest of the labels stand.
    potential_basis : {"clv", "run_rate"}
        What ``potential_value`` is: each customer's CLV over ``settings.horizon_months`` (sums to
        the customer equity), or the run-rate fallback (:func:`run_rate_value`) when no CLV was given.
    """

    as_of: pd.Timestamp
    settings: SegmentSettings
    table: pd.DataFrame
    clusters: BehaviourClusters | None = field(default=None, compare=False)
    potential_basis: str = "run_rate"
    findings: tuple = ()

    def pyramid(self) -> pd.DataFrame:
        value = self.table["value"] if self.settings.value_basis == "clv" else None
        return pyramid_table(self.table, self.table["abc_class"], value)

    def counts(self, column: str) -> pd.Series:
        """Customers per label (prospects have no pyramid class, so ``abc_class`` counts buyers)."""
        order = {"lifecycle_stage": STAGES, "abc_class": ABC_CLASSES, "strategy_group": STRATEGY_GROUPS,
                 "rfm_segment": RFM_SEGMENTS + (NO_PURCHASE,)}.get(column)
        c = self.table[column].value_counts()
        return c.reindex(list(order), fill_value=0) if order else c.sort_index()

    def strategy_table(self) -> pd.DataFrame:
        """Per strategy group: customers, share, current value (spend) and potential value, with shares."""
        t = self.table
        g = t.groupby("strategy_group").agg(customers=("customer_id", "size"), current_value=("current_value", "sum"),
                                            potential_value=("potential_value", "sum"))
        g = g.reindex(list(STRATEGY_GROUPS), fill_value=0)
        g.insert(1, "customer_share", g["customers"] / max(len(t), 1))
        for col in ("current_value", "potential_value"):
            tot = g[col].sum()
            g[col.replace("_value", "_share")] = g[col] / tot if tot else np.nan
        return g.reset_index()

    def key_numbers(self) -> dict[str, float | int | None]:
        """The page's numbers by concept id (:mod:`analysis.base.concepts`): stage counts, classes, A's revenue share."""
        stages = self.counts("lifecycle_stage")
        classes = self.counts("abc_class")
        out: dict[str, float | int | None] = {STAGE_CONCEPTS[k]: int(stages[k]) for k in STAGES}
        out.update({CLASS_CONCEPTS[k]: int(classes[k]) for k in ABC_CLASSES})
        share = float(self.pyramid().set_index("abc_class").loc["A", "revenue_share"])
        out["a_revenue_share"] = share if np.isfinite(share) else None
        return out

    def summary(self) -> pd.DataFrame:
        """Customers per lifecycle stage, pyramid class and strategy group (long format)."""
        rows = []
        for col in ("lifecycle_stage", "abc_class", "strategy_group", "rfm_segment"):
            for k, v in self.counts(col).items():
                rows.append((col, k, int(v)))
        return pd.DataFrame(rows, columns=["segmentation", "segment", "customers"])

    def to_dict(self) -> dict:
        """as_of, settings, potential basis, the counts and the key numbers (JSON-able)."""
        return {"as_of": self.as_of.date().isoformat(), "settings": dataclasses.asdict(self.settings),
                "potential_basis": self.potential_basis, "customers": int(len(self.table)),
                "k": None if self.clusters is None else int(self.clusters.k_),
                "counts": _records(self.summary()), "key_numbers": self.key_numbers(),
                "findings": [f.to_dict() for f in self.findings]}

    def _repr_html_(self) -> str:
        return (f"<p>Segmentation on {self.as_of.date()}: {len(self.table)} customers</p>"
                + self.summary().pivot_table(index="segment", columns="segmentation", values="customers",
                                             sort=False).to_html(na_rep=""))

    @classmethod
    def from_states(cls, customers: pd.DataFrame, as_of, settings: SegmentSettings | None = None,
                    clusters: "BehaviourClusters | None" = None,
                    potential_basis: str | None = None) -> "Segmentation":
        """A segmentation from states computed elsewhere (the month's customer base), without recomputing them.

        ``customers`` has one row per customer with the customer-table columns and
        ``abc_class``, ``strategy_group``, ``lifecycle_stage``, ``rfm_segment`` (``cluster``,
        ``potential_value`` and ``clv`` optional). With ``potential_basis`` the ``potential_value``
        column is the one the strategy groups were formed on; without it the potential value is the
        ``clv`` column where one is given, else the run-rate fallback, as in :func:`assign_segments`.
        """
        s = settings or SegmentSettings()
        as_of = _as_date(as_of)
        _check_table(customers, ("customer_id", "n_purchases", "total_spend", "abc_class", "strategy_group",
                                 "lifecycle_stage", "rfm_segment"))
        t = customers.copy()
        t["customer_id"] = t["customer_id"].astype(str)
        t["current_value"] = t["total_spend"].astype(float).fillna(0.0)
        if potential_basis is not None and "potential_value" in t:
            basis = potential_basis
            t["potential_value"] = t["potential_value"].astype(float).fillna(0.0)
        else:
            basis = "clv" if "clv" in t and t["clv"].notna().any() else "run_rate"
            t["potential_value"] = (t["clv"].astype(float).fillna(0.0) if basis == "clv"
                                    else run_rate_value(t, as_of, s.passive_days, _horizon_days(s.horizon_months)))
        t["value"] = t["potential_value"] if s.value_basis == "clv" else t["current_value"]
        if "p_alive" not in t:
            t["p_alive"] = np.nan
        t["abc_class"] = t["abc_class"].astype(object).where(t["abc_class"].notna(), None)
        t["cluster"] = (t["cluster"] if "cluster" in t else pd.Series(pd.NA, index=t.index)).astype("Int64")
        return cls(as_of=as_of, settings=s, table=t, clusters=clusters, potential_basis=basis)


def _horizon_days(horizon_months: int) -> int:
    """The potential-value horizon in days (12 months = 365 days)."""
    return int(round(horizon_months * 365.25 / 12))


def assign_segments(table: pd.DataFrame, as_of, settings: SegmentSettings | None = None,
                    clv: pd.DataFrame | None = None, previous_clusters=None,
                    with_clusters: bool = True) -> Segmentation:
    """Label every customer of a customer table (pure: no data access).

    Parameters
    ----------
    table : DataFrame
        Customer table, prospects included where known (``return_date`` optional).
    as_of : date
    settings : SegmentSettings
    clv : DataFrame[customer_id, p_alive, clv], optional
        Each customer's CLV over ``settings.horizon_months`` (the customer equity's horizon).
        When given it is the potential value of the strategy groups; without it the potential
        value is the run-rate fallback (:func:`run_rate_value`). Needed when
        ``settings.value_basis == "clv"`` (the pyramid then ranks by it, and P(alive) feeds
        the lapsing rule).
    previous_clusters : BehaviourClusters or DataFrame, optional
        Last month's model or centroid table, so cluster numbers keep their meaning.
    with_clusters : bool
        False skips the clustering (``cluster`` stays empty) where only the other labels are needed.
    """
    s = settings or SegmentSettings()
    as_of = _as_date(as_of)
    _check_table(table)
    t = table.copy()
    t["customer_id"] = t["customer_id"].astype(str)
    t["current_value"] = t["total_spend"].astype(float).fillna(0.0)
    if s.value_basis == "clv" and clv is None:
        raise ParameterError("value_basis: got 'clv' without CLV values, expected a CLV table or value_basis='spend'.")
    p_alive = None
    if clv is not None:
        c = clv.assign(customer_id=clv["customer_id"].astype(str)).set_index("customer_id")
        t["p_alive"] = t["customer_id"].map(c["p_alive"]).astype(float) if "p_alive" in c else np.nan
        t["potential_value"] = t["customer_id"].map(c["clv"]).astype(float).fillna(0.0)
        basis = "clv"
        if s.value_basis == "clv":
            p_alive = t["p_alive"]
    else:
        t["p_alive"] = np.nan
        t["potential_value"] = run_rate_value(t, as_of, s.passive_days, _horizon_days(s.horizon_months))
        basis = "run_rate"
    t["value"] = t["potential_value"] if s.value_basis == "clv" else t["current_value"]
    t["abc_class"] = abc_classes(t, t["value"], s.a_share, s.b_share)
    t["strategy_group"] = strategy_groups(t, t["potential_value"], s.keep_share, s.potential_share)
    t["lifecycle_stage"] = lifecycle_stages(t, as_of, s, p_alive)
    t = t.join(rfm_scores(t))
    clusters = None
    t["cluster"] = pd.array([pd.NA] * len(t), dtype="Int64")
    estimation = Estimation()
    if with_clusters:  # too few buyers to cluster is a finding: the other labels stand
        model = BehaviourClusters(s.n_clusters, s.k_range, s.cluster_method, s.random_state)
        clusters = estimation.attempt("segments.clusters", lambda: model.fit(t, previous=previous_clusters))
        if clusters is not None:
            t["cluster"] = t["customer_id"].map(clusters.labels_).astype("Int64")
    return Segmentation(as_of=as_of, settings=s, table=t, clusters=clusters, potential_basis=basis,
                        findings=tuple(estimation.findings))


def _load(source_or_path, as_of):
    from analysis.data import sources as data

    if isinstance(source_or_path, (str, os.PathLike)):
        return data.load_source(source_or_path, as_of=as_of)
    return source_or_path


def segment_customers(source, as_of, previous_clusters=None, with_clusters: bool = True,
                      **params) -> Segmentation:
    """Load the customer table at ``as_of`` (prospects included) and label every customer.

    Parameters
    ----------
    source : path or analysis.data.sources.Source
    as_of : date
    previous_clusters : BehaviourClusters or DataFrame, optional
        Last month's model or centroid table (cluster numbers keep their meaning).
    **params : SegmentSettings fields (a_share, value_basis, passive_days, n_clusters, ...)

    Example
    -------
    >>> seg = segment_customers("data/sample", "2026-10-31", n_clusters=4)  # doctest: +SKIP
    """
    from analysis.customers import table as customers

    s = SegmentSettings.from_params(**params)
    as_of = _as_date(as_of)
    src = _load(source, as_of)
    table = customers.customer_table(src, as_of, include_prospects=True)
    table = table.assign(customer_id=table["customer_id"].astype(str))
    back = return_dates(src, as_of, s.passive_days)
    table = table.merge(back, on="customer_id", how="left")
    clv = _customer_value(src, as_of, s) if s.value_basis == "clv" else None
    return assign_segments(table, as_of, s, clv=clv, previous_clusters=previous_clusters,
                           with_clusters=with_clusters)


def _customer_value(src, as_of, s: SegmentSettings) -> pd.DataFrame:
    from analysis.clv import model as clv

    return clv.customer_value(src, as_of, horizon_months=s.horizon_months)


# --- 6. transitions -------------------------------------------------------------------------
def transition_matrix(before: pd.Series, after: pd.Series, order=None, normalize: bool = False) -> pd.DataFrame:
    """Customers moving from one label (rows, last month) to another (columns, this month).

    Parameters
    ----------
    before, after : Series indexed by customer_id
        Labels at the two dates; customers only in ``after`` come from the row "not_registered",
        customers in ``before`` without a label (a prospect has no pyramid class) from the row
        "prospect"; customers without a label in ``after`` are left out (so the matrix counts the
        customers that have a label now, as the month's counts do).
    order : sequence, optional
        Label order for rows and columns.
    normalize : bool
        Shares of each row (where did last month's "active" go) instead of counts.

    Example
    -------
    >>> b = pd.Series({"x": "active", "y": "active"}); a = pd.Series({"x": "active", "y": "lapsing", "z": "new"})
    >>> int(transition_matrix(b, a, ["new", "active", "lapsing"]).loc["active", "lapsing"])
    1
    """
    after = after.dropna()
    return _transitions(before.reindex(after.index).to_numpy(object), after.index.isin(before.index),
                        after.to_numpy(), order, normalize)


def _transitions(before: np.ndarray, known: np.ndarray, after: np.ndarray, order=None,
                 normalize: bool = False) -> pd.DataFrame:
    """:func:`transition_matrix` on aligned arrays: last month's label of each customer labelled now (``known``:
    registered last month), and this month's label."""
    start = np.where(~known, NOT_REGISTERED, np.where(pd.isna(before), NO_PURCHASE, before)).astype(object)
    m = pd.crosstab(start, after)
    if order is not None:
        extra = [k for k in (NO_PURCHASE, NOT_REGISTERED) if k in m.index and k not in order]
        rows = list(order) + extra
        m = m.reindex(index=rows, columns=list(order), fill_value=0)
    m.index.name, m.columns.name = "from", "to"
    if normalize:
        m = m.div(m.sum(axis=1).replace(0, np.nan), axis=0)
    return m


@dataclass(frozen=True)
class MonthlySegments:
    """This month's and last month's segmentation, with the transitions between them."""

    current: Segmentation
    previous: Segmentation

    @classmethod
    def from_base(cls, base) -> "MonthlySegments":
        """The month's segments read from its customer base (:class:`analysis.base.state.CustomerBase`).

        Nothing is recomputed: this month's labels are the base's ``customers`` states (with the
        potential value the strategy groups were formed on: the CLV when the base segmented with
        one), last month's the base's previous-month segmentation, and the clusters the model the
        base fitted (with its carry-over).
        """
        seg = base.segmentation
        if seg is None or base.previous_segmentation is None:
            finding = next((f for f in base.findings if f.analysis == "segments"), None)
            raise ModelError(finding.detail if finding else "segments: the customer base has no segmentation.",
                             reason=finding.reason if finding else "not_estimable",
                             facts=dict(finding.facts) if finding else {})
        current = Segmentation.from_states(base.customers, base.as_of, seg.settings, clusters=seg.clusters,
                                           potential_basis=seg.potential_basis)
        current = dataclasses.replace(current, findings=tuple(seg.findings))
        return cls(current=current, previous=base.previous_segmentation)

    def won_back(self) -> int:
        """Customers passive at the previous month end who are in any other stage now.

        Under the one churn rule this is the month flow ``customers_returned`` of
        :func:`analysis.customers.table.monthly_activity` (bought this month after being lost at the
        previous month end), not the stage "returned" (came back within ``returned_days``).
        """
        m = self.transitions("lifecycle_stage")
        return int(m.loc["passive"].drop("passive").sum()) if "passive" in m.index else 0

    def key_numbers(self) -> dict[str, dict[str, float | int | None]]:
        """Concept id -> {"value": now, "previous": at the previous month end} (``customers_returned`` has no previous)."""
        now, before = self.current.key_numbers(), self.previous.key_numbers()
        out = {k: {"value": v, "previous": before.get(k)} for k, v in now.items()}
        out["customers_returned"] = {"value": self.won_back(), "previous": None}
        return out

    def summary(self) -> pd.DataFrame:
        """Customers per lifecycle stage now, at the previous month end, and the change."""
        now, before = self.current.counts("lifecycle_stage"), self.previous.counts("lifecycle_stage")
        return pd.DataFrame({"lifecycle_stage": list(STAGES), "customers": now.to_numpy(),
                             "previous": before.to_numpy(), "change": (now - before).to_numpy()})

    def to_dict(self) -> dict:
        return {"as_of": self.current.as_of.date().isoformat(), "previous_as_of": self.previous.as_of.date().isoformat(),
                "stages": _records(self.summary()), "won_back": self.won_back(),
                "key_numbers": self.key_numbers()}

    def _repr_html_(self) -> str:
        return (f"<p>Segments on {self.current.as_of.date()} against {self.previous.as_of.date()}</p>"
                + self.summary().to_html(index=False))

    @functools.cached_property
    def _previous_rows(self) -> np.ndarray:
        """Each current customer's row in last month's table (-1: not registered then); matched once per month."""
        return pd.Index(self.previous.table["customer_id"]).get_indexer(self.current.table["customer_id"])

    def transitions(self, column: str = "lifecycle_stage", normalize: bool = False) -> pd.DataFrame:
        """:func:`transition_matrix` of ``column`` between last month and this month."""
        order = {"lifecycle_stage": STAGES, "abc_class": ABC_CLASSES, "strategy_group": STRATEGY_GROUPS}[column]
        after = self.current.table[column].to_numpy(object)
        labelled = ~pd.isna(after)
        rows = self._previous_rows[labelled]
        # a row of -1 (not registered last month) reads a placeholder, masked by ``rows >= 0``; last month may be empty
        before = np.append(self.previous.table[column].to_numpy(object), None)[rows]
        return _transitions(before, rows >= 0, after[labelled], order, normalize)

    def biggest_movement(self, column: str = "lifecycle_stage") -> tuple[str, str, int]:
        """The largest flow between two different labels (from, to, customers), new registrations excluded."""
        m = self.transitions(column).drop(index=NOT_REGISTERED, errors="ignore")
        long = m.stack()
        long = long[[a != b for a, b in long.index]]
        if long.empty or long.max() == 0:
            return ("", "", 0)
        (a, b) = long.sort_values(ascending=False, kind="mergesort").index[0]
        return (str(a), str(b), int(long[(a, b)]))


def monthly_segments(source, as_of, with_clusters: bool = True, previous_centroids=None, **params) -> MonthlySegments:
    """Segment the base at ``as_of`` and at the previous month end; this month's clusters keep last month's numbers.

    ``previous_centroids`` are the centroids published with last month's report (see
    :func:`read_centroids`): last month's customers are numbered against them, so a cluster keeps
    its number from report to report, not only between the two months of one report.
    """
    from analysis.data.sources import previous_month_end

    as_of = _as_date(as_of)
    src = _load(source, as_of)
    prev = segment_customers(src, previous_month_end(as_of), with_clusters=with_clusters,
                             previous_clusters=previous_centroids, **params)
    cur = segment_customers(src, as_of, previous_clusters=prev.clusters, with_clusters=with_clusters, **params)
    return MonthlySegments(current=cur, previous=prev)


def read_centroids(path) -> pd.DataFrame | None:
    """Centroids written by a previous run (``centroids_out`` / ``--centroids-out``); None when no path is given."""
    if path is None:
        return None
    path = Path(path)
    if not path.is_file():
        raise ParameterError(f"previous centroids: file {path.name!r} does not exist.")
    return _previous_centroids(pd.read_csv(path))


def write_centroids(seg: "Segmentation", path) -> None:
    """Write this month's cluster centroids (cluster x feature) for next month's run to number against."""
    from analysis.data.sources import write_table

    if seg.clusters is not None:
        write_table(seg.clusters.centroids_.reset_index(), path)


# --- 7. export ---------------------------------------------------------------------------------
def export_table(seg: Segmentation, cluster_names: Mapping[int, str] | pd.Series | None = None) -> pd.DataFrame:
    """The campaign-tool list: customer_id (to address them), pseudonym (for anything a stakeholder sees) and labels.

    Columns: customer_id, pseudonym, abc_class (empty for prospects), strategy_group,
    lifecycle_stage, rfm_segment, r_score, f_score, m_score, cluster (empty for prospects),
    cluster_name (from ``cluster_names``, e.g. :func:`analysis.report.pages.segments.cluster_names`),
    and marketing_permission when the source has it (a campaign may only contact those).
    """
    from analysis.data.privacy import pseudonymize

    t = seg.table
    out = t[[c for c in _EXPORT_COLUMNS if c in t.columns]].copy()
    if "pseudonym" not in out:
        out.insert(1, "pseudonym", pseudonymize(t["customer_id"]).to_numpy())
    names = pd.Series(cluster_names if cluster_names is not None else {}, dtype=object)
    out["cluster_name"] = t["cluster"].map(names).astype(object).where(t["cluster"].notna(), None)
    if "marketing_permission" in t.columns:
        out["marketing_permission"] = t["marketing_permission"]
    return out.sort_values("customer_id", kind="mergesort").reset_index(drop=True)


def cluster_advice_kind(centroid_scaled: pd.Series) -> str:
    """What to do with a cluster, from its centroid in standard deviations from the mean.

    "win_back" when it is long inactive, else "care" when its spend is high, else
    "onboard" when it joined recently, else "grow" (cross-sell, raise frequency).

    Example
    -------
    >>> cluster_advice_kind(pd.Series({"recency_days": 1.2, "log_spend": 0.9, "tenure_days": 0.0}))
    'win_back'
    """
    if centroid_scaled.get("recency_days", 0) > 0.5:
        return "win_back"
    if centroid_scaled.get("log_spend", 0) > 0.5:
        return "care"
    if centroid_scaled.get("tenure_days", 0) < -0.5:
        return "onboard"
    return "grow"
