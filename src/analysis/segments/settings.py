"""The segments' vocabularies (pyramid classes, strategy groups, stages, RFM segments) and their settings.
Also the input checks every segment rule shares, so each rule trusts the customer table it is given.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.data import parse_date
from analysis.errors import DataError, ParameterError

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
NO_PURCHASE = "prospect"  # RFM segment of registered customers who never bought
NOT_REGISTERED = "not_registered"  # transition row for customers who were not in last month's base

#: Behavioural clustering features, in model order (see :func:`cluster_features`).
CLUSTER_FEATURES = (
    "log_frequency", "recency_days", "log_spend", "tenure_days", "n_categories", "online_share", "spend_trend",
)
_REQUIRED = ("customer_id", "n_purchases", "total_spend", "days_since_last_purchase", "first_purchase")


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
        (:func:`analysis.clv.customer_value`, which also gives P(alive) for the lapsing rule).
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
        object.__setattr__(self, "n_clusters", parse_n_clusters(self.n_clusters))

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


def parse_n_clusters(v):
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
def check_table(table: pd.DataFrame, columns=_REQUIRED) -> None:
    if not isinstance(table, pd.DataFrame):
        raise DataError(f"customer table: got {type(table).__name__}, expected a pandas DataFrame.")
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise DataError(f"customer table: column {missing[0]!r} is missing, expected {', '.join(columns)}.")
    if table["customer_id"].duplicated().any():
        first = table.loc[table["customer_id"].duplicated(), "customer_id"].iloc[0]
        raise DataError(f"customer table: customer_id {first!r} appears more than once, expected one row per customer.")


def as_date(as_of) -> pd.Timestamp:
    return parse_date(as_of).normalize()


def buyer_mask(table: pd.DataFrame) -> pd.Series:
    """True for customers with at least one purchase day (prospects have none)."""
    return table["n_purchases"].fillna(0).astype(float) > 0


def json_records(df: pd.DataFrame) -> list[dict]:
    """DataFrame rows as JSON-able dicts (numpy scalars to Python, NaN to None)."""
    return json.loads(df.to_json(orient="records", date_format="iso"))
